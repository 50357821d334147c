//! The operator's command-line client: `strata ls`, `types`,
//! `categories`, `read`, `tail`,
//! `append`, `meta`, `delete`, `groups` (a running server, over gRPC
//! through `strata-client`), `backup` (over gRPC, the `Admin.Backup`
//! stream), `restore` (offline, into a new data directory), `export` and
//! `import` (JSON lines over gRPC); `whoami`, `user`, `token`, `grant`
//! (the `Security` service).
//!
//! This file owns the commands' shape (clap), connecting (`--addr`,
//! `STRATA_ADDR` or a connection string; TLS and credentials), running one command on a small tokio runtime, and turning
//! its outcome into an exit code ([`exit`]). One concern per file below:
//! [`streams`] (ls, read, tail), [`catalog`] (types, categories),
//! [`write`] (append, meta, delete), [`groups`], [`backup`] with its directory format in [`manifest`],
//! [`restore`], [`export`], [`import`], [`security`], the event line format both use
//! ([`jsonl`]), how things are printed ([`output`]) and progress bars
//! ([`progress`]).
//!
//! Not here: the server (`serve`), the offline `verify`/`stats`/`health`
//! (`admin`) and `scavenge` (`remote`).

pub mod backup;
pub mod catalog;
pub mod exit;
pub mod export;
pub mod groups;
pub mod import;
pub mod jsonl;
pub mod manifest;
pub mod output;
pub mod progress;
pub mod restore;
pub mod security;
pub mod streams;
pub mod write;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use exit::Failure;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use strata_client::{Client, ClientBuilder, RetryPolicy};

/// Where the client commands connect when neither `--addr` nor
/// `STRATA_ADDR` says otherwise.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:2113";
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The client commands (flattened into `strata`'s own).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// List streams by name (those starting with PREFIX).
    Ls(streams::LsArgs),
    /// List event types (those starting with PREFIX), with event counts.
    Types(catalog::NamesArgs),
    /// List stream categories (the part of a stream name before the
    /// server's category separator) starting with PREFIX, with event counts.
    Categories(catalog::NamesArgs),
    /// Read a stream's events, or the global log's (`$all`).
    Read(streams::ReadArgs),
    /// Follow a stream or `$all` as events are appended (Ctrl-C stops).
    Tail(streams::TailArgs),
    /// Append one event to a stream.
    Append(write::AppendArgs),
    /// Show a stream's metadata, or change it (--set, --unset).
    Meta(write::MetaArgs),
    /// Delete a stream (soft: appending recreates it; --tombstone: for good).
    Delete(write::DeleteArgs),
    /// Manage consumer groups (persistent subscriptions).
    Groups(groups::GroupsArgs),
    /// Back up a running server into a directory, while it serves; only
    /// what changed since the directory's last backup is copied.
    Backup(backup::BackupArgs),
    /// Restore a backup directory into a new data directory (offline), then
    /// rebuild its index and verify it.
    Restore(restore::RestoreArgs),
    /// Write events to stdout as JSON lines (one event per line).
    Export(export::ExportArgs),
    /// Append events from JSON lines on stdin (as `export` writes them),
    /// idempotently: running it again creates no duplicates.
    Import(import::ImportArgs),
    /// Who the server takes you for, and whether it requires credentials.
    Whoami(security::WhoAmIArgs),
    /// Manage users (add, passwd, disable, enable, roles, list).
    User(security::UserArgs),
    /// Manage bearer tokens (create, revoke, list).
    Token(security::TokenArgs),
    /// Manage per-stream grants (add, revoke, list).
    Grant(security::GrantArgs),
}

/// How to reach the server, and who to be there.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// Server address: `host:port`, `http://host:port`, `https://host:port`
    /// (TLS, trusting the system's roots unless --tls-ca), or a connection
    /// string `strata://[user[:password]@]host[:port][?tls=true&ca=PATH…]`.
    #[arg(long, global = true, env = "STRATA_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// CA certificate (PEM) that signed the server's certificate; implies
    /// TLS.
    #[arg(long, global = true, env = "STRATA_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for servers that require one (mutual TLS);
    /// with --tls-client-key.
    #[arg(long, global = true, env = "STRATA_TLS_CLIENT_CERT")]
    pub tls_client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "STRATA_TLS_CLIENT_KEY")]
    pub tls_client_key: Option<PathBuf>,
    /// The name to check the server's certificate against (default: the
    /// address's host).
    #[arg(long, global = true, env = "STRATA_TLS_DOMAIN")]
    pub tls_domain: Option<String>,
    /// User name (HTTP basic credentials, with STRATA_PASSWORD).
    #[arg(long, global = true, env = "STRATA_USER")]
    pub user: Option<String>,
    /// Password for --user. Prefer the STRATA_PASSWORD variable: arguments
    /// are visible to other users of the machine.
    #[arg(long, global = true, env = "STRATA_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// A bearer token (from `strata token create`) instead of a password.
    #[arg(long, global = true, env = "STRATA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl Conn {
    /// A builder with the address, TLS settings and credentials given.
    pub fn builder(&self) -> anyhow::Result<ClientBuilder> {
        let addr = self.addr.trim();
        let mut b = if addr.starts_with("strata://") {
            ClientBuilder::from_connection_string(addr)
                .with_context(|| format!("bad connection string {addr:?}"))?
        } else {
            Client::builder(url_of(addr)?)
        };
        if let Some(ca) = &self.tls_ca {
            b = b.tls_ca_file(&ca.to_string_lossy())?;
        }
        match (&self.tls_client_cert, &self.tls_client_key) {
            (Some(cert), Some(key)) => {
                let read = |p: &PathBuf| {
                    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
                };
                b = b.tls_client_identity(read(cert)?, read(key)?);
            }
            (None, None) => {}
            _ => bail!("--tls-client-cert and --tls-client-key go together"),
        }
        if let Some(d) = &self.tls_domain {
            b = b.tls_domain(d.clone());
        }
        match (&self.token, &self.user) {
            (Some(_), Some(_)) => bail!("give --user or --token, not both"),
            (Some(t), None) => b = b.bearer_token(t),
            (None, Some(u)) => b = b.basic_auth(u, self.password.as_deref().unwrap_or("")),
            (None, None) if self.password.is_some() => {
                bail!("a password without --user (STRATA_USER)")
            }
            (None, None) => {}
        }
        Ok(b.connect_timeout(CONNECT_TIMEOUT))
    }

    /// A client that gives up quickly when the server is not there (an
    /// operator is waiting), for short commands.
    pub async fn client(&self) -> anyhow::Result<Client> {
        self.client_with(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(100)),
        )
        .await
    }

    /// A client with `retry` (long-running commands ride out restarts).
    pub async fn client_with(&self, retry: RetryPolicy) -> anyhow::Result<Client> {
        self.connect(self.builder()?.retry_policy(retry)).await
    }

    /// Connects `builder` (made by [`Conn::builder`], then adjusted).
    pub async fn connect(&self, builder: ClientBuilder) -> anyhow::Result<Client> {
        builder
            .connect()
            .await
            .with_context(|| format!("connecting to {}", self.display_addr()))
    }

    /// The address without credentials or options, for messages and
    /// manifests.
    pub fn display_addr(&self) -> String {
        let a = self.addr.trim();
        match a.strip_prefix("strata://") {
            Some(rest) => {
                let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("strata://{}", rest.split(['?', '/']).next().unwrap_or(rest))
            }
            None => a.to_owned(),
        }
    }
}

/// `host:port`, `http://…` or `https://…` to a URL tonic can dial.
pub fn url_of(addr: &str) -> anyhow::Result<String> {
    let addr = addr.trim();
    if addr.starts_with("http://") || addr.starts_with("https://") {
        return Ok(addr.trim_end_matches('/').to_owned());
    }
    if addr.contains("://") {
        bail!("unknown address scheme in {addr:?} (use host:port, http://, https:// or strata://)");
    }
    Ok(format!("http://{addr}"))
}

/// Runs a client command to its exit code, printing a failure on stderr.
pub fn run(cmd: ClientCommand) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strata: error: starting the runtime: {e}");
            return ExitCode::from(exit::OTHER);
        }
    };
    let outcome = rt.block_on(async move {
        match cmd {
            ClientCommand::Ls(a) => streams::ls(a).await,
            ClientCommand::Types(a) => catalog::types(a).await,
            ClientCommand::Categories(a) => catalog::categories(a).await,
            ClientCommand::Read(a) => streams::read(a).await,
            ClientCommand::Tail(a) => streams::tail(a).await,
            ClientCommand::Append(a) => write::append(a).await,
            ClientCommand::Meta(a) => write::meta(a).await,
            ClientCommand::Delete(a) => write::delete(a).await,
            ClientCommand::Groups(a) => groups::run(a).await,
            ClientCommand::Backup(a) => backup::run(a).await,
            ClientCommand::Restore(a) => restore::run(a).await,
            ClientCommand::Export(a) => export::run(a).await,
            ClientCommand::Import(a) => import::run(a).await,
            ClientCommand::Whoami(a) => security::whoami(a).await,
            ClientCommand::User(a) => security::user(a).await,
            ClientCommand::Token(a) => security::token(a).await,
            ClientCommand::Grant(a) => security::grant(a).await,
        }
    });
    // A follow or a hung server must not keep the process alive.
    rt.shutdown_timeout(Duration::from_millis(200));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}

/// The result of a command: success, or a failure with its exit code.
pub type Outcome = Result<(), Failure>;

#[cfg(test)]
mod tests {
    use super::url_of;

    #[test]
    fn addresses_become_urls() {
        assert_eq!(url_of("127.0.0.1:2113").unwrap(), "http://127.0.0.1:2113");
        assert_eq!(url_of("http://h:1").unwrap(), "http://h:1");
        assert_eq!(url_of("https://h:1/").unwrap(), "https://h:1");
        assert!(url_of("ftp://h:1").is_err());
    }

    #[test]
    fn connection_strings_are_shown_without_credentials() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            conn: super::Conn,
        }
        let t = T::parse_from([
            "t",
            "--addr",
            "strata://ann:s3cret@db:2113?tls=true&token=x",
        ]);
        assert_eq!(t.conn.display_addr(), "strata://db:2113");
    }
}
