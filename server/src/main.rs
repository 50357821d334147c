//! `strata`: the Strata event-store daemon and its admin commands.
//!
//! This file owns the command line (clap), logging setup (the only place a
//! `tracing` subscriber is installed; logs go to stderr) and exit codes.
//! Subcommands: `serve` (see `serve`), `verify`, `stats`, `health` (see
//! `admin`), `scavenge` (see `remote`), and the client commands (`ls`,
//! `read`, `tail`, `append`, `meta`, `delete`, `groups`, `backup`,
//! `restore`, `export`, `import`: see `cli`). Exit codes: 0 success; 1
//! failure (including corruption found by `verify`, NOT_SERVING from
//! `health`, and a scavenge that did not complete); 2 bad usage (clap);
//! the client commands add 3 (not found) and 4 (conflict), `cli::exit`.

/// mimalloc instead of glibc malloc: reads and subscriptions allocate and
/// free a few buffers per event, and glibc's malloc/free took ~15% of the
/// server's CPU on catch-up reads (perf, docs/BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc commits its arenas eagerly by default, so memory freed after a
/// burst stays resident: at 64 clients the server peaked at 158–168 MiB
/// with it and 116–117 MiB without, at the same throughput (BENCHMARKS.md,
/// "Where the memory goes"). mimalloc reads the option when it reserves
/// its first arena, before `main`, so `serve` runs itself again with
/// `MIMALLOC_ARENA_EAGER_COMMIT=0` unless the variable is already set (an
/// operator's own value wins). `exec` keeps the process id; if it fails the
/// server carries on with eager arenas.
#[cfg(feature = "mimalloc")]
fn exec_with_lazy_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
        .exec();
    eprintln!("strata: could not re-run with lazy allocator arenas ({err}); continuing");
}

mod admin;
mod api;
mod certs;
mod cli;
mod config;
mod domain;
mod net;
mod remote;
mod serve;
mod telemetry;
mod tls;

use clap::{Args, Parser, Subcommand};
use config::{FileConfig, ServeSettings};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// Strata: an event-store database server (gRPC).
#[derive(Debug, Parser)]
#[command(name = "strata", version, about)]
struct Cli {
    /// Log filter (`tracing` syntax, e.g. `info` or `warn,strata_storage=debug`).
    /// Beats RUST_LOG; default `info`.
    #[arg(long, global = true, env = "STRATA_LOG_LEVEL")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server.
    Serve(ServeArgs),
    /// Check every record of a data directory offline (no lock needed).
    Verify(DataDirArgs),
    /// Print statistics of a data directory (needs exclusive access).
    Stats(StatsArgs),
    /// Ask a running server whether it is serving (for health checks).
    Health(HealthArgs),
    /// Scavenge a running server: give back the disk space of deleted and
    /// expired events, with a progress bar until it ends.
    Scavenge(ScavengeArgs),
    /// Make certificates for development (a local CA, a localhost server
    /// certificate, client certificates).
    #[command(subcommand)]
    Certs(CertsCommand),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// A local CA and a server certificate for localhost / 127.0.0.1 / ::1.
    Dev {
        /// Directory for ca.pem, ca.key, server.pem, server.key (an existing
        /// CA there is reused).
        #[arg(long)]
        out: PathBuf,
        /// Also a client certificate for this user (repeatable), for mTLS.
        #[arg(long)]
        client: Vec<String>,
    },
}

/// `strata serve`: where the settings file is, and the settings themselves
/// (declared once, in `config`).
#[derive(Debug, Args)]
struct ServeArgs {
    /// TOML config file (flags and STRATA_* variables override it).
    #[arg(long, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: ServeSettings,
}

#[derive(Debug, Args)]
struct DataDirArgs {
    /// Data directory.
    #[arg(long, env = "STRATA_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
struct StatsArgs {
    #[command(flatten)]
    dir: DataDirArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct HealthArgs {
    /// Server address, `host:port` or a URL.
    #[arg(
        long,
        env = "STRATA_HEALTH_ADDR",
        default_value = "http://127.0.0.1:2113"
    )]
    addr: String,
    /// CA certificate (PEM) of a server that uses TLS.
    #[arg(long, env = "STRATA_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// Service to ask about; empty means the whole server.
    #[arg(long, default_value = "")]
    service: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    timeout_secs: u64,
}

#[derive(Debug, Args)]
struct ScavengeArgs {
    #[command(flatten)]
    conn: cli::Conn,
    /// Read at most this many bytes of segments per second [default: the
    /// server's, 64 MiB/s; 0: no limit].
    #[arg(long)]
    max_bytes_per_second: Option<u64>,
    /// Start it and return at once instead of following it.
    #[arg(long)]
    no_wait: bool,
    /// Stop the running scavenge instead.
    #[arg(long, conflicts_with_all = ["status", "no_wait", "max_bytes_per_second"])]
    stop: bool,
    /// Print the running or last scavenge instead.
    #[arg(long, conflicts_with_all = ["no_wait", "max_bytes_per_second"])]
    status: bool,
}

fn init_tracing(filter: &str, otel: Option<&telemetry::otel::Otel>) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!(
            "strata: invalid log level {filter:?} ({e}); using {:?}",
            config::DEFAULT_LOG_LEVEL
        );
        tracing_subscriber::EnvFilter::new(config::DEFAULT_LOG_LEVEL)
    });
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter);
    // Traces have their own filter (`telemetry::otel`): the log level
    // does not decide what is exported.
    let traces = otel.map(|o| o.layer());
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
}

fn rust_log() -> Option<String> {
    std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty())
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    let admin_log_level = || {
        cli.log_level
            .clone()
            .or_else(rust_log)
            .unwrap_or_else(|| config::DEFAULT_LOG_LEVEL.to_owned())
    };
    match cli.command {
        Command::Serve(ref a) => {
            let file = match &a.config {
                Some(p) => FileConfig::load(p)?,
                None => FileConfig::default(),
            };
            // The log level's flag is global (every subcommand logs), so it
            // joins the flags' layer here.
            let flags = ServeSettings {
                log_level: cli.log_level.clone(),
                ..a.settings.clone()
            };
            let cfg = config::merge(flags, file, rust_log())?;
            let otel = match &cfg.otlp_endpoint {
                Some(e) => Some(telemetry::otel::Otel::start(e, cfg.otlp_sample_ratio)?),
                None => None,
            };
            init_tracing(&cfg.log_level, otel.as_ref());
            let served = serve::run(cfg);
            if let Some(o) = otel {
                o.shutdown();
            }
            served?;
            Ok(true)
        }
        Command::Verify(ref a) => {
            init_tracing(&admin_log_level(), None);
            admin::verify(&a.data_dir)
        }
        Command::Stats(ref a) => {
            init_tracing(&admin_log_level(), None);
            admin::stats(&a.dir.data_dir, a.json)?;
            Ok(true)
        }
        Command::Scavenge(ref a) => {
            init_tracing(&admin_log_level(), None);
            let action = if a.stop {
                remote::ScavengeAction::Stop
            } else if a.status {
                remote::ScavengeAction::Status
            } else {
                remote::ScavengeAction::Start {
                    max_bytes_per_second: a.max_bytes_per_second,
                    wait: !a.no_wait,
                }
            };
            remote::scavenge(&a.conn, action)
        }
        Command::Certs(CertsCommand::Dev {
            ref out,
            ref client,
        }) => {
            init_tracing(&admin_log_level(), None);
            certs::dev(out, client)?;
            println!(
                "wrote ca.pem, server.pem and server.key{} to {}\n\
                 serve with: strata serve --tls-cert {1}/server.pem --tls-key {1}/server.key",
                if client.is_empty() {
                    ""
                } else {
                    " and client certificates"
                },
                out.display()
            );
            Ok(true)
        }
        Command::Client(_) => unreachable!("client commands run in run_client"),
        Command::Health(ref a) => {
            init_tracing(&admin_log_level(), None);
            admin::health(
                &a.addr,
                a.tls_ca.as_deref(),
                &a.service,
                Duration::from_secs(a.timeout_secs.max(1)),
            )
        }
    }
}

/// The client commands, with their own exit codes (`cli::exit`) and
/// quieter logs (warnings only, unless asked).
fn run_client(cli: Cli) -> ExitCode {
    let Command::Client(cmd) = cli.command else {
        unreachable!("only client commands come here")
    };
    let level = cli.log_level.or_else(rust_log);
    init_tracing(level.as_deref().unwrap_or("warn"), None);
    cli::run(cmd)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(feature = "mimalloc")]
    if matches!(cli.command, Command::Serve(_)) {
        exec_with_lazy_arenas();
    }
    if matches!(cli.command, Command::Client(_)) {
        return run_client(cli);
    }
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("strata: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
