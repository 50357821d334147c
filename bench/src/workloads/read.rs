//! Read workloads: `$all` scans (whole log, streamed in pages) and repeated
//! reads of whole streams by concurrent clients. The log is pre-filled by
//! the workload itself with batched appends.

use super::Channel;
use super::{client, event, finish};
use crate::report::{new_hist, Latency, Report};
use anyhow::{bail, Result};
use clap::Args;
use std::time::{Duration, Instant};
use strata_proto::v1::append_request::ExpectedRevision;
use strata_proto::v1::{read_request, AppendRequest, Direction, Empty, ReadRequest};

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct ReadArgs {
    /// `all` (scan `$all` from the start) or `stream` (read whole streams).
    #[arg(long, default_value = "all")]
    pub kind: String,
    /// Events to pre-fill before reading (0: read what is there).
    #[arg(long, default_value_t = 200_000)]
    pub prefill: u64,
    /// Bytes per event when pre-filling.
    #[arg(long, default_value_t = 1024)]
    pub event_size: usize,
    /// Events per stream when pre-filling (stream reads read whole streams).
    #[arg(long, default_value_t = 100)]
    pub stream_len: u64,
    /// Concurrent readers.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
}

/// Appends `total` events in batches of up to 100 into streams of `stream_len`.
pub async fn prefill(channels: &[Channel], total: u64, size: usize, stream_len: u64) -> Result<()> {
    let writers = channels.len().max(4) as u64;
    let per = total.div_ceil(writers);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mut cl = client(channels, w as usize);
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while done < per {
                let stream = format!("fill-{w}-{}", done / stream_len);
                let n = (per - done).min(100).min(stream_len - done % stream_len);
                let req = AppendRequest {
                    stream,
                    expected_revision: Some(ExpectedRevision::Any(Empty {})),
                    events: (0..n).map(|_| event(size, 7)).collect(),
                };
                cl.append(req).await?;
                done += n;
            }
            Ok::<_, tonic::Status>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

pub async fn run(a: ReadArgs, channels: &[Channel]) -> Result<Report> {
    if a.prefill > 0 {
        prefill(channels, a.prefill, a.event_size, a.stream_len).await?;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    let start = Instant::now();
    let mut tasks = Vec::new();
    let kind = a.kind.clone();
    if kind != "all" && kind != "stream" {
        bail!("--kind must be all or stream");
    }
    let streams = (
        channels.len().max(4) as u64,
        a.prefill
            .div_ceil(channels.len().max(4) as u64)
            .div_ceil(a.stream_len)
            .max(1),
    );
    for c in 0..a.clients {
        let mut cl = client(channels, c);
        let kind = kind.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = new_hist();
            let (mut events, mut reqs) = (0u64, 0u64);
            let mut i = c as u64;
            while Instant::now() < deadline {
                let req = if kind == "all" {
                    ReadRequest {
                        stream: "$all".into(),
                        direction: Direction::Forwards as i32,
                        from: Some(read_request::From::Start(Empty {})),
                        max_count: 0,
                        filter: None,
                    }
                } else {
                    i += 1;
                    ReadRequest {
                        stream: format!("fill-{}-{}", i % streams.0, (i / streams.0) % streams.1),
                        direction: Direction::Forwards as i32,
                        from: Some(read_request::From::Start(Empty {})),
                        max_count: 0,
                        filter: None,
                    }
                };
                let t = Instant::now();
                let mut s = cl.read(req).await?.into_inner();
                while let Some(page) = s.message().await? {
                    events += page.events.len() as u64;
                    if Instant::now() > deadline && kind == "all" {
                        break;
                    }
                }
                let _ = h.record(t.elapsed().as_micros() as u64);
                reqs += 1;
            }
            Ok::<_, tonic::Status>((events, reqs, h))
        }));
    }
    let mut r = Report {
        workload: format!("read-{kind}"),
        params: serde_json::to_value(&a)?,
        ..Default::default()
    };
    let mut hist = new_hist();
    for t in tasks {
        let (e, q, h) = t.await??;
        r.events += e;
        r.requests += q;
        hist.add(&h).ok();
    }
    r.seconds = start.elapsed().as_secs_f64();
    r.latency = Some(Latency::from_hist(&hist));
    Ok(finish(r, a.event_size))
}
