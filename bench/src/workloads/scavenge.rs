//! The scavenge workload: fill a log, delete a share of its streams, then
//! measure how fast a scavenge gives the space back and what it does to
//! append latency (single-event appends before and during the scavenge).

use super::Channel;
use super::{client, event};
use crate::report::{new_hist, Latency, Report};
use anyhow::{bail, Result};
use clap::Args;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_proto::v1::admin_client::AdminClient;
use strata_proto::v1::{
    AppendRequest, DeleteStreamRequest, GetScavengeRequest, ScavengeState, StartScavengeRequest,
};

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct ScavengeArgs {
    /// Size of the log to build before scavenging, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub log_mib: u64,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 1024)]
    pub event_size: usize,
    /// Streams the log is spread over.
    #[arg(long, default_value_t = 1000)]
    pub streams: usize,
    /// Share of the streams deleted before the scavenge.
    #[arg(long, default_value_t = 0.5)]
    pub delete_fraction: f64,
    /// Concurrent single-event appenders measuring latency.
    #[arg(long, default_value_t = 16)]
    pub appenders: usize,
    /// Seconds of appends measured before the scavenge (the baseline).
    #[arg(long, default_value_t = 10.0)]
    pub baseline_seconds: f64,
    /// The scavenge's rate limit (none by default).
    #[arg(long)]
    pub max_bytes_per_second: Option<u64>,
}

/// Appends 100-event batches round-robin over the streams until the log
/// holds `log_mib`.
async fn fill(a: &ScavengeArgs, channels: &[Channel]) -> Result<()> {
    let per_append = 100;
    let total_events = a.log_mib * 1024 * 1024 / (a.event_size as u64 + 130);
    let appends = total_events / per_append;
    let tasks = 8u64;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let mut cl = client(channels, t as usize);
        let (streams, size) = (a.streams as u64, a.event_size);
        handles.push(tokio::spawn(async move {
            let mut i = t;
            while i < appends {
                let req = AppendRequest {
                    stream: format!("s-{}", i % streams),
                    expected_revision: None,
                    events: (0..per_append).map(|_| event(size, i as u8)).collect(),
                };
                cl.append(req).await?;
                i += tasks;
            }
            anyhow::Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(())
}

/// Single-event appends from `n` tasks until `stop`; their latencies.
async fn appenders(
    n: usize,
    channels: Vec<Channel>,
    size: usize,
    stop: Arc<AtomicBool>,
) -> Result<(Histogram<u64>, u64)> {
    let mut handles = Vec::new();
    for t in 0..n {
        let mut cl = client(&channels, t);
        let stop = stop.clone();
        handles.push(tokio::spawn(async move {
            let mut h = new_hist();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let req = AppendRequest {
                    stream: format!("latency-{t}"),
                    expected_revision: None,
                    events: vec![event(size, 1)],
                };
                let t0 = Instant::now();
                cl.append(req).await?;
                h.record(t0.elapsed().as_micros() as u64).ok();
                n += 1;
            }
            anyhow::Ok((h, n))
        }));
    }
    let mut all = new_hist();
    let mut count = 0;
    for h in handles {
        let (h, n) = h.await??;
        all.add(h).ok();
        count += n;
    }
    Ok((all, count))
}

fn describe(l: &Latency) -> String {
    format!(
        "p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs (n={})",
        l.p50_us, l.p99_us, l.p999_us, l.max_us, l.samples
    )
}

pub async fn run(a: ScavengeArgs, channels: &[Channel]) -> Result<Report> {
    let t0 = Instant::now();
    fill(&a, channels).await?;
    let fill_s = t0.elapsed().as_secs_f64();
    let mut cl = client(channels, 0);
    let deleted = (a.streams as f64 * a.delete_fraction) as usize;
    for s in 0..deleted {
        cl.delete_stream(DeleteStreamRequest {
            stream: format!("s-{s}"),
            ..Default::default()
        })
        .await?;
    }
    // Baseline: the same appenders, no scavenge.
    let stop = Arc::new(AtomicBool::new(false));
    let base = tokio::spawn(appenders(
        a.appenders,
        channels.to_vec(),
        a.event_size,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs_f64(a.baseline_seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (base_hist, _) = base.await??;
    // During the scavenge.
    let mut admin = AdminClient::new(channels[0].clone());
    let stop = Arc::new(AtomicBool::new(false));
    let during = tokio::spawn(appenders(
        a.appenders,
        channels.to_vec(),
        a.event_size,
        stop.clone(),
    ));
    let started = Instant::now();
    admin
        .start_scavenge(StartScavengeRequest {
            max_bytes_per_second: a.max_bytes_per_second,
        })
        .await?;
    let status = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = admin
            .get_scavenge(GetScavengeRequest {})
            .await?
            .into_inner();
        if s.state != ScavengeState::Running as i32 {
            break s;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (during_hist, appended) = during.await??;
    if status.state != ScavengeState::Completed as i32 {
        bail!("the scavenge did not complete: {status:?}");
    }
    let base = Latency::from_hist(&base_hist);
    let during = Latency::from_hist(&during_hist);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok(Report {
        workload: "scavenge".into(),
        params: serde_json::to_value(&a)?,
        seconds: secs,
        events: appended,
        requests: appended,
        events_per_s: appended as f64 / secs,
        requests_per_s: appended as f64 / secs,
        latency: Some(during.clone()),
        notes: vec![
            format!("filled {:.0} MiB in {fill_s:.1} s; deleted {deleted} of {} streams", a.log_mib as f64, a.streams),
            format!(
                "scavenge: {secs:.1} s, {:.0} MiB read ({:.0} MB/s), {:.0} MiB reclaimed, {} records dropped, {} segments",
                mib(status.bytes_processed),
                status.bytes_processed as f64 / 1e6 / secs,
                mib(status.bytes_reclaimed),
                status.records_dropped,
                status.segments_done
            ),
            format!("appends without a scavenge: {}", describe(&base)),
            format!("appends during the scavenge: {}", describe(&during)),
            format!(
                "append p99 during / without: {:.2}x",
                during.p99_us as f64 / base.p99_us.max(1) as f64
            ),
        ],
        ..Default::default()
    })
}
