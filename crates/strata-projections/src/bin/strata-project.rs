//! `strata-project`: runs the demo order projections against a Strata
//! server, generates demo events, prints status, rebuilds read models and
//! benchmarks projection throughput. A thin CLI over `strata_projections`.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use strata_client::{Client, ExpectedRevision, RetryPolicy, StreamAppend};
use strata_projections::demo::{self, CustomerTotals, OpenOrders, OrderLog};
use strata_projections::{
    read_status_file, rebuild_kv, Durability, ErrorPolicy, FileCheckpointStore, LocalStatus,
    ModelDir, ProjectionStatus, RebuildMode, Runner, RunnerConfig,
};

#[derive(Parser, Debug)]
#[command(
    name = "strata-project",
    about = "Projection runner for Strata (demo: orders)"
)]
struct Cli {
    /// Server URL.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:2113",
        env = "STRATA_URL"
    )]
    server: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the demo projections (customer-totals, open-orders, order-log)
    /// until SIGTERM / Ctrl-C.
    Run {
        /// Read models, checkpoints, order log and status file live here.
        #[arg(long, default_value = "read-models")]
        dir: PathBuf,
        /// Flush sled read models at most this often (0: every commit).
        #[arg(long, default_value_t = 200)]
        flush_ms: u64,
        /// Events per commit.
        #[arg(long, default_value_t = 2048)]
        batch: usize,
        /// Print the status every N seconds (0: never).
        #[arg(long, default_value_t = 0)]
        print_every: u64,
    },
    /// Append demo order events.
    DemoEvents {
        /// Number of orders to place.
        #[arg(long, default_value_t = 1000)]
        orders: u64,
        /// First order id (use distinct ranges for repeated runs).
        #[arg(long, default_value_t = 1)]
        first_order: u64,
        /// Number of customers.
        #[arg(long, default_value_t = 50)]
        customers: u64,
        /// Orders per second (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// RNG seed (printed).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Print each projection's checkpoint, log end, lag, events/s, last error.
    Status {
        #[arg(long, default_value = "read-models")]
        dir: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a demo read model (customer-totals or open-orders) from the
    /// start. Without --swap the model is dropped and replayed in place (stop
    /// the runner first); with --swap a new generation is built while the old
    /// one serves, then `CURRENT` is switched (restart the runner afterwards).
    Rebuild {
        #[arg(long, default_value = "read-models")]
        dir: PathBuf,
        #[arg(long)]
        projection: String,
        #[arg(long)]
        swap: bool,
    },
    /// Benchmark: prefill N events, rebuild customer-totals from them, then
    /// measure live lag under a steady append load.
    Bench {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Seconds of live load.
        #[arg(long, default_value_t = 10)]
        live_seconds: u64,
        /// Appended events per second during the live phase.
        #[arg(long, default_value_t = 5000)]
        live_rate: u64,
        /// Scratch directory for the read model (a temp dir if unset).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

async fn connect(url: &str) -> Result<Client> {
    Client::builder(url)
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(20)
                .initial_backoff(Duration::from_millis(50))
                .max_backoff(Duration::from_millis(500)),
        )
        .connect_lazy()
        .with_context(|| format!("client for {url}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let client = connect(&cli.server).await?;
    match cli.cmd {
        Cmd::Run {
            dir,
            flush_ms,
            batch,
            print_every,
        } => run(client, &dir, flush_ms, batch, print_every).await,
        Cmd::DemoEvents {
            orders,
            first_order,
            customers,
            rate,
            seed,
        } => {
            let seed = seed.unwrap_or_else(rand::random);
            println!("seed {seed}");
            let n = demo_events(&client, first_order, orders, customers, rate, seed).await?;
            println!("appended {n} events for {orders} orders");
            Ok(())
        }
        Cmd::Status { dir, json } => status(&client, &dir, json).await,
        Cmd::Rebuild {
            dir,
            projection,
            swap,
        } => {
            let mode = if swap {
                RebuildMode::Swap
            } else {
                RebuildMode::Reset
            };
            let cfg = RunnerConfig::default();
            let r = match projection.as_str() {
                "customer-totals" => {
                    rebuild_kv(&client, &dir, CustomerTotals, mode, cfg, true).await?
                }
                "open-orders" => rebuild_kv(&client, &dir, OpenOrders, mode, cfg, true).await?,
                other => bail!("unknown projection {other:?} (customer-totals, open-orders)"),
            };
            println!(
                "rebuilt {projection}: generation {}, {} events in {:.2?} ({:.0} events/s), checkpoint {:?}",
                r.generation,
                r.events,
                r.elapsed,
                r.events_per_sec(),
                r.checkpoint
            );
            Ok(())
        }
        Cmd::Bench {
            events,
            live_seconds,
            live_rate,
            dir,
        } => bench(&client, events, live_seconds, live_rate, dir).await,
    }
}

fn runner_config(dir: &Path, flush_ms: u64, batch: usize) -> RunnerConfig {
    RunnerConfig {
        batch_size: batch,
        durability: if flush_ms == 0 {
            Durability::EveryCommit
        } else {
            Durability::Interval(Duration::from_millis(flush_ms))
        },
        status_file: Some(dir.join("status.json")),
        ..RunnerConfig::default()
    }
}

async fn run(
    client: Client,
    dir: &Path,
    flush_ms: u64,
    batch: usize,
    print_every: u64,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let mut runner = Runner::new(client, runner_config(dir, flush_ms, batch));
    let (_, totals) = ModelDir::new(dir, "customer-totals")?.open_current()?;
    runner.add_kv(CustomerTotals, totals, ErrorPolicy::default())?;
    let (_, open) = ModelDir::new(dir, "open-orders")?.open_current()?;
    runner.add_kv(OpenOrders, open, ErrorPolicy::default())?;
    let log = OrderLog::open(&dir.join("order-log.txt"))?;
    runner.add(
        log,
        FileCheckpointStore::new(dir.join("checkpoints"), "order-log")?,
        ErrorPolicy::default(),
    )?;
    let running = runner.start();
    println!("runner started");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(print_every.max(1)));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick(), if print_every > 0 => {
                for s in running.status().await? {
                    println!("{}", s.line());
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if running.is_finished() { break; }
            }
        }
    }
    running.shutdown().await?;
    println!("runner stopped");
    Ok(())
}

async fn demo_events(
    client: &Client,
    first: u64,
    orders: u64,
    customers: u64,
    rate: u64,
    seed: u64,
) -> Result<u64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut appended = 0;
    // At most 100 streams per multi-stream append (the server limit).
    let chunk = if rate == 0 {
        100
    } else {
        (rate / 20).clamp(1, 100)
    };
    let mut order = first;
    let end = first + orders;
    while order < end {
        let mut batch = Vec::new();
        while order < end && (batch.len() as u64) < chunk {
            let customer = format!("cust-{}", rng.random_range(0..customers.max(1)));
            let amount = rng.random_range(100..10_000);
            let mut evs = vec![demo::placed(order, &customer, amount)];
            match rng.random_range(0..10) {
                0..=2 => evs.push(demo::cancelled(order, &customer, amount)),
                3..=6 => evs.push(demo::shipped(order)),
                _ => {}
            }
            appended += evs.len() as u64;
            batch.push(StreamAppend::new(
                demo::stream_of(order),
                ExpectedRevision::Any,
                evs,
            ));
            order += 1;
        }
        client.append_multi(batch).await?;
        if rate > 0 {
            let due = Duration::from_secs_f64((order - first) as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    Ok(appended)
}

async fn status(client: &Client, dir: &Path, json: bool) -> Result<()> {
    let file = dir.join("status.json");
    let locals: Vec<LocalStatus> = if file.exists() {
        read_status_file(&file)?
    } else {
        bail!(
            "{} not found: start `strata-project run --dir {}` first",
            file.display(),
            dir.display()
        )
    };
    let mut all = Vec::new();
    for l in locals {
        all.push(ProjectionStatus::compute(client, l).await?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for s in &all {
            println!("{}", s.line());
        }
    }
    Ok(())
}

async fn bench(
    client: &Client,
    events: u64,
    live_seconds: u64,
    live_rate: u64,
    dir: Option<PathBuf>,
) -> Result<()> {
    let scratch = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("strata-project-bench-{}", std::process::id()))
    });
    let base = client.server_info().await?.head_position;
    // Prefill: 1,000-event appends of OrderPlaced, 4 in flight.
    let started = Instant::now();
    let per_append = 1000u64;
    let appends = events.div_ceil(per_append);
    let mut handles = Vec::new();
    for w in 0..4u64 {
        let client = client.clone();
        handles.push(tokio::spawn(async move {
            let mut k = w;
            while k < appends {
                let n = per_append.min(events - k * per_append);
                let evs = (0..n)
                    .map(|i| {
                        let order = 1_000_000_000 + base + k * per_append + i;
                        demo::placed(
                            order,
                            &format!("cust-{}", order % 1000),
                            (order % 997) as i64,
                        )
                    })
                    .collect();
                client
                    .append(format!("order-bench-{k}"), ExpectedRevision::Any, evs)
                    .await?;
                k += 4;
            }
            Ok::<_, strata_client::Error>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let head = client.server_info().await?.head_position;
    println!(
        "prefill: {events} events in {:.2?} ({:.0} events/s); log head {head}",
        started.elapsed(),
        events as f64 / started.elapsed().as_secs_f64()
    );
    let cfg = RunnerConfig {
        batch_size: 4096,
        durability: Durability::Interval(Duration::from_millis(500)),
        ..RunnerConfig::default()
    };
    let r = rebuild_kv(
        client,
        &dir,
        CustomerTotals,
        RebuildMode::Reset,
        cfg.clone(),
        false,
    )
    .await?;
    println!(
        "rebuild customer-totals: {} events in {:.2?} = {:.0} events/s (checkpoint {:?})",
        r.events,
        r.elapsed,
        r.events_per_sec(),
        r.checkpoint
    );

    // Live lag: the runner follows while an appender writes at live_rate.
    let mut runner = Runner::new(client.clone(), cfg);
    runner.add_kv(CustomerTotals, r.model.clone(), ErrorPolicy::default())?;
    let running = runner.start();
    let appender = {
        let client = client.clone();
        tokio::spawn(async move {
            let seed = rand::random();
            demo_events(
                &client,
                2_000_000_000 + head,
                live_rate * live_seconds / 2,
                1000,
                live_rate / 2,
                seed,
            )
            .await
        })
    };
    let mut lags = Vec::new();
    let mut lag_secs = Vec::new();
    while !appender.is_finished() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(s) = running.status().await?.pop() {
            lags.push(s.lag_events);
            lag_secs.push(s.lag_seconds);
        }
    }
    let appended = appender.await??;
    let end = client.server_info().await?.head_position;
    let t = Instant::now();
    loop {
        let st = running.local_status().remove(0);
        if st.checkpoint >= Some(end) || t.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = t.elapsed();
    running.shutdown().await?;
    lags.sort_unstable();
    lag_secs.sort_by(f64::total_cmp);
    let pct = |v: &[u64], p: f64| {
        v.get(((v.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    let pctf = |v: &[f64], p: f64| {
        v.get(((v.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "live: {appended} events at ~{live_rate}/s over {live_seconds}s; lag (events) p50 {} p99 {} max {}; lag (s) p50 {:.3} p99 {:.3} max {:.3}; drained {:.2?} after the last append ({} samples)",
        pct(&lags, 0.5),
        pct(&lags, 0.99),
        lags.last().copied().unwrap_or(0),
        pctf(&lag_secs, 0.5),
        pctf(&lag_secs, 0.99),
        lag_secs.last().copied().unwrap_or(0.0),
        drain,
        lags.len()
    );
    if scratch {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
