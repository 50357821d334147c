//! `strata-bench`: a load generator that drives a Strata server over real
//! gRPC, the way users would, and reports throughput and latency.
//!
//! It is not a test: it asserts nothing about speed. It talks to the server
//! only through the generated `strata.v1` client (no storage crate), either
//! at `--addr` or on a server it starts itself (`--spawn-server`), in which
//! case it also samples the server's RSS and CPU from `/proc`.

mod otlp_sink;
mod report;
mod server;
mod workloads;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "strata-bench",
    version,
    about = "Load generator for the Strata event store"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Options every workload shares.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Server address (ignored with --spawn-server).
    #[arg(long, default_value = "http://127.0.0.1:2113", global = true)]
    pub addr: String,
    /// Start this `strata` binary on a fresh temp dir and measure it.
    #[arg(long, global = true)]
    pub spawn_server: Option<std::path::PathBuf>,
    /// One more argument for the spawned `strata serve` (repeatable, in
    /// order): `--server-arg=--otlp-endpoint --server-arg=http://127.0.0.1:4317`.
    #[arg(
        long = "server-arg",
        value_name = "ARG",
        allow_hyphen_values = true,
        global = true
    )]
    pub server_args: Vec<String>,
    /// Trust this CA (PEM) and connect with TLS (`https://`; the server's
    /// certificate must name localhost, as `strata certs dev`'s does).
    #[arg(long, global = true)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// User name for basic credentials on every call (with --password).
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Password for --user.
    #[arg(long, global = true)]
    pub password: Option<String>,
    /// A bearer token sent on every call (instead of --user).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// gRPC connections (HTTP/2) the clients are spread over.
    #[arg(long, default_value_t = 8, global = true)]
    pub connections: usize,
    /// Print the report as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Durable appends from concurrent clients.
    Append {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: workloads::AppendArgs,
    },
    /// Stream reads or `$all` scans.
    Read {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: workloads::ReadArgs,
    },
    /// Live subscribers: append→delivery latency while appending at a fixed rate.
    Subscribe {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: workloads::SubscribeArgs,
    },
    /// Catch-up speed: one subscriber from the start of a pre-filled log.
    Catchup {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: workloads::CatchupArgs,
    },
    /// An OTLP/gRPC trace receiver that counts and discards spans, printing
    /// spans received per second to stderr (for `--otlp-endpoint` runs).
    OtlpSink {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:4317")]
        listen: std::net::SocketAddr,
    },
    /// UmaDB: the append workload through its own client (feature `umadb`).
    #[cfg(feature = "umadb")]
    UmaAppend {
        #[command(flatten)]
        args: workloads::umadb::UmaAppendArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// UmaDB: catch-up read of a pre-filled log (feature `umadb`).
    #[cfg(feature = "umadb")]
    UmaCatchup {
        #[command(flatten)]
        args: workloads::umadb::UmaCatchupArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Appends and reads at the same time.
    Mixed {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: workloads::MixedArgs,
    },
    /// Aggregate loading: full replay of a long stream vs. newest snapshot + tail.
    Aggregate {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: workloads::AggregateArgs,
    },
    /// Scavenge speed and its effect on append latency, on a filled log
    /// with a share of its streams deleted.
    Scavenge {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: workloads::ScavengeArgs,
    },
    /// A persistent subscription drained by several acking consumers, then
    /// live append → delivery latency.
    Group {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: workloads::GroupArgs,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (common, run): (Common, workloads::Workload) = match cli.cmd {
            Cmd::Append { common, args } => (common, workloads::Workload::Append(args)),
            Cmd::Read { common, args } => (common, workloads::Workload::Read(args)),
            Cmd::Subscribe { common, args } => (common, workloads::Workload::Subscribe(args)),
            Cmd::Catchup { common, args } => (common, workloads::Workload::Catchup(args)),
            Cmd::Mixed { common, args } => (common, workloads::Workload::Mixed(args)),
            Cmd::Aggregate { common, args } => (common, workloads::Workload::Aggregate(args)),
            Cmd::Scavenge { common, args } => (common, workloads::Workload::Scavenge(args)),
            Cmd::Group { common, args } => (common, workloads::Workload::Group(args)),
            Cmd::OtlpSink { listen } => return otlp_sink::run(listen).await,
            #[cfg(feature = "umadb")]
            Cmd::UmaAppend { args, json } => {
                return print_report(&workloads::umadb::run_append(args).await?, json)
            }
            #[cfg(feature = "umadb")]
            Cmd::UmaCatchup { args, json } => {
                return print_report(&workloads::umadb::run_catchup(args).await?, json)
            }
        };
        let spawned = match &common.spawn_server {
            Some(bin) => Some(server::Spawned::start(bin, &common.server_args).await?),
            None => None,
        };
        let addr = spawned
            .as_ref()
            .map(|s| s.url.clone())
            .unwrap_or_else(|| common.addr.clone());
        let sec = workloads::Security::from_args(
            common.tls_ca.as_deref(),
            common.user.as_deref(),
            common.password.as_deref(),
            common.token.as_deref(),
        )?;
        let channels = workloads::connect(&addr, common.connections, &sec).await?;
        let probe = spawned.as_ref().map(|s| server::Probe::start(s.pid));
        let mut rep = workloads::run(run, &channels).await?;
        if let Some(p) = probe {
            rep.server = Some(p.finish());
        }
        print_report(&rep, common.json)?;
        if let Some(s) = spawned {
            s.stop().await?;
        }
        Ok(())
    })
}

fn print_report(rep: &report::Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(rep)?);
    } else {
        rep.print_table();
    }
    Ok(())
}
