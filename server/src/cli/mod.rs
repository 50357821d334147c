//! The operator's command-line client: `strata ls`, `read`, `tail`,
//! `append`, `meta`, `delete`, `groups` (a running server, over gRPC
//! through `strata-client`), `backup` (over gRPC, the `Admin.Backup`
//! stream), `restore` (offline, into a new data directory), `export` and
//! `import` (JSON lines over gRPC).
//!
//! This file owns the commands' shape (clap), connecting (`--addr`,
//! `STRATA_ADDR`), running one command on a small tokio runtime, and turning
//! its outcome into an exit code ([`exit`]). One concern per file below:
//! [`streams`] (ls, read, tail), [`write`] (append, meta, delete),
//! [`groups`], [`backup`] with its directory format in [`manifest`],
//! [`restore`], [`export`], [`import`], the event line format both use
//! ([`jsonl`]), how things are printed ([`output`]) and progress bars
//! ([`progress`]).
//!
//! Not here: the server (`serve`), the offline `verify`/`stats`/`health`
//! (`admin`) and `scavenge` (`remote`). TLS and credentials come with the
//! security work; `--addr` refuses `https://` until then.

pub mod backup;
pub mod exit;
pub mod export;
pub mod groups;
pub mod import;
pub mod jsonl;
pub mod manifest;
pub mod output;
pub mod progress;
pub mod restore;
pub mod streams;
pub mod write;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use exit::Failure;
use std::process::ExitCode;
use std::time::Duration;
use strata_client::{Client, RetryPolicy};

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
}

/// How to reach the server.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// Server address: `host:port`, `http://host:port`, or a connection
    /// string `strata://host:port`.
    #[arg(long, global = true, env = "STRATA_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,
}

impl Conn {
    /// The address as a URL tonic can dial.
    pub fn url(&self) -> anyhow::Result<String> {
        url_of(&self.addr)
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
        let url = self.url()?;
        Client::builder(url.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .retry_policy(retry)
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))
    }
}

/// `host:port`, `http://…` or `strata://…` to an `http://` URL.
pub fn url_of(addr: &str) -> anyhow::Result<String> {
    let addr = addr.trim();
    if let Some(rest) = addr.strip_prefix("strata://") {
        return Ok(format!("http://{}", rest.trim_end_matches('/')));
    }
    if addr.starts_with("https://") {
        bail!("TLS is not supported yet: use an http:// address ({addr})");
    }
    if addr.starts_with("http://") {
        return Ok(addr.to_owned());
    }
    if addr.contains("://") {
        bail!("unknown address scheme in {addr:?} (use host:port, http:// or strata://)");
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
        assert_eq!(url_of("strata://h:1/").unwrap(), "http://h:1");
        assert!(url_of("https://h:1").is_err());
        assert!(url_of("ftp://h:1").is_err());
    }
}
