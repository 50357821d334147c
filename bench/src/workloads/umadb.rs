//! The same append and catch-up workloads against UmaDB (`../shared/peers/umadb`),
//! through its own Rust client (`umadb-client`), so the comparison runs the
//! same load generator, client counts and event sizes. Built only with the
//! `umadb` feature (its client pulls in a TLS stack the rest does not need).
//!
//! UmaDB has no streams: an "append" is a list of events (type, tags, data)
//! appended at the end, durable before the answer. A Strata stream is a tag
//! here. Appends with no condition correspond to Strata's expected revision
//! `any`; `--condition exact` is the optimistic-concurrency append, UmaDB's
//! way (a DCB condition): fail if any event with the stream's tag exists
//! after the position this client last appended to it (none at all for a
//! new stream) — what Strata's exact expected revision checks.

use super::finish;
use crate::report::{new_hist, Latency, Report};
use crate::server::Probe;
use anyhow::{anyhow, Result};
use clap::Args;
use futures::StreamExt;
use std::time::{Duration, Instant};
use umadb_client::UmaDbClient;
use umadb_dcb::{DcbAppendCondition, DcbEvent, DcbEventStoreAsync, DcbQuery, DcbQueryItem};

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct UmaAppendArgs {
    /// UmaDB address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub uma_addr: String,
    /// Concurrent clients (one connection each).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Events per append.
    #[arg(long, default_value_t = 1)]
    pub events_per_append: usize,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 1024)]
    pub event_size: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Streams (tags) per client, as Strata's `--streams-per-client`.
    #[arg(long, default_value_t = 16)]
    pub streams_per_client: usize,
    /// `none` (no condition) or `exact` (the DCB equivalent of an exact
    /// expected revision: see the module's doc).
    #[arg(long, default_value = "none")]
    pub condition: String,
    /// The UmaDB server's pid: sample its CPU and peak RSS while running.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// The condition that makes an append to `tag` an exact-revision append:
/// no event with the tag after `last` (the position of this client's last
/// append to it), or none at all when it has never been appended to.
fn exact(tag: &str, last: Option<u64>) -> DcbAppendCondition {
    DcbAppendCondition::new(DcbQuery::new().item(DcbQueryItem::new().tags([tag]))).after(last)
}

fn event(size: usize, tag: &str) -> DcbEvent {
    DcbEvent {
        event_type: "BenchEvent".into(),
        tags: vec![tag.to_owned()],
        data: vec![7; size],
        uuid: Some(uuid::Uuid::new_v4()),
        metadata: Vec::new(),
    }
}

pub async fn run_append(a: UmaAppendArgs) -> Result<Report> {
    anyhow::ensure!(
        a.condition == "none" || a.condition == "exact",
        "--condition is none or exact"
    );
    anyhow::ensure!(
        a.streams_per_client > 0,
        "--streams-per-client must be at least 1"
    );
    let probe = a.server_pid.map(Probe::start);
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let client = UmaDbClient::new(a.uma_addr.clone())
            .connect_async()
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = new_hist();
            let (mut events, mut reqs, mut errors) = (0u64, 0u64, 0u64);
            let tags: Vec<String> = (0..a.streams_per_client)
                .map(|k| format!("bench-{c}-{k}"))
                .collect();
            let mut last: Vec<Option<u64>> = vec![None; a.streams_per_client];
            let mut i = 0usize;
            while Instant::now() < deadline {
                let k = i % a.streams_per_client;
                i += 1;
                let batch = (0..a.events_per_append)
                    .map(|_| event(a.event_size, &tags[k]))
                    .collect();
                let condition = (a.condition == "exact").then(|| exact(&tags[k], last[k]));
                let t = Instant::now();
                match client.append(batch, condition, None).await {
                    Ok(position) => {
                        last[k] = Some(position);
                        let _ = h.record(t.elapsed().as_micros() as u64);
                        events += a.events_per_append as u64;
                        reqs += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
            (events, reqs, errors, h)
        }));
    }
    let mut r = Report {
        workload: "umadb-append".into(),
        params: serde_json::to_value(&a)?,
        ..Default::default()
    };
    let mut hist = new_hist();
    for t in tasks {
        let (e, q, x, h) = t.await?;
        r.events += e;
        r.requests += q;
        r.errors += x;
        hist.add(&h).ok();
    }
    r.seconds = start.elapsed().as_secs_f64();
    r.latency = Some(Latency::from_hist(&hist));
    r.server = probe.map(Probe::finish);
    Ok(finish(r, a.event_size))
}

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct UmaCatchupArgs {
    /// UmaDB address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub uma_addr: String,
    /// Events to pre-fill (in appends of 100).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Bytes per event.
    #[arg(long, default_value_t = 1024)]
    pub event_size: usize,
    /// The UmaDB server's pid: sample its CPU and peak RSS during the read.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

pub async fn run_catchup(a: UmaCatchupArgs) -> Result<Report> {
    // From the fill on, as for Strata's spawned server.
    let probe = a.server_pid.map(Probe::start);
    let t = Instant::now();
    let writers = 8u64;
    let per = a.events.div_ceil(writers);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let client = UmaDbClient::new(a.uma_addr.clone())
            .connect_async()
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        let size = a.event_size;
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < per {
                let n = (per - done).min(100);
                let batch = (0..n).map(|_| event(size, &format!("fill-{w}"))).collect();
                client
                    .append(batch, None, None)
                    .await
                    .map_err(|e| anyhow!("{e:?}"))?;
                done += n;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let fill_secs = t.elapsed().as_secs_f64();
    let client = UmaDbClient::new(a.uma_addr.clone())
        .connect_async()
        .await
        .map_err(|e| anyhow!("{e:?}"))?;
    let start = Instant::now();
    let mut resp = client
        .read(None, None, false, None)
        .await
        .map_err(|e| anyhow!("{e:?}"))?;
    let mut got = 0u64;
    while let Some(e) = resp.next().await {
        e.map_err(|e| anyhow!("{e:?}"))?;
        got += 1;
    }
    let mut r = Report {
        workload: "umadb-catchup".into(),
        params: serde_json::to_value(&a)?,
        ..Default::default()
    };
    r.seconds = start.elapsed().as_secs_f64();
    r.server = probe.map(Probe::finish);
    r.events = got;
    r.requests = 1;
    r.notes.push(format!(
        "pre-fill of {} events took {fill_secs:.1} s",
        a.events
    ));
    Ok(finish(r, a.event_size))
}
