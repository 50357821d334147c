//! The consumer-group workload: a pre-filled log drained through one
//! persistent subscription by several consumers that ack every event
//! (events/s), then a live phase measuring append → delivery latency.

use super::Channel;
use super::{client, event};
use crate::report::{new_hist, Latency, Report};
use anyhow::{bail, Result};
use clap::Args;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_proto::v1::group_read_request::Content as In;
use strata_proto::v1::group_read_response::Content as Out;
use strata_proto::v1::persistent_subscriptions_client::PersistentSubscriptionsClient;
use strata_proto::v1::{
    group_read_request, AppendRequest, CreateGroupRequest, GroupReadRequest, GroupSettings,
    GroupStrategy,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct GroupArgs {
    /// Events in the log before the group starts.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Streams they are spread over.
    #[arg(long, default_value_t = 1000)]
    pub streams: u64,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 256)]
    pub event_size: usize,
    /// Consumers in the group.
    #[arg(long, default_value_t = 4)]
    pub consumers: usize,
    /// `round_robin`, `dispatch_to_single`, `pinned` or `ordered_by_stream`.
    #[arg(long, default_value = "round_robin")]
    pub strategy: String,
    /// Events in flight per consumer.
    #[arg(long, default_value_t = 256)]
    pub max_in_flight: u32,
    /// Seconds of the live phase (appends at `live_rate`).
    #[arg(long, default_value_t = 5.0)]
    pub live_seconds: f64,
    /// Events per second appended in the live phase.
    #[arg(long, default_value_t = 2000)]
    pub live_rate: u64,
}

fn strategy(s: &str) -> Result<GroupStrategy> {
    Ok(match s {
        "round_robin" => GroupStrategy::RoundRobin,
        "dispatch_to_single" => GroupStrategy::DispatchToSingle,
        "pinned" => GroupStrategy::Pinned,
        "ordered_by_stream" => GroupStrategy::OrderedByStream,
        other => bail!("unknown strategy {other}"),
    })
}

/// Appends of 10 events, round robin over the streams: the log
/// interleaves many streams, as a busy system's does.
async fn fill(a: &GroupArgs, channels: &[Channel]) -> Result<()> {
    let per_append = 10u64;
    let appends = a.events / per_append;
    let tasks = 4u64;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let mut cl = client(channels, t as usize);
        let (streams, size) = (a.streams, a.event_size);
        handles.push(tokio::spawn(async move {
            let mut i = t;
            while i < appends {
                cl.append(AppendRequest {
                    stream: format!("g-{}", i % streams),
                    expected_revision: None,
                    events: (0..per_append).map(|_| event(size, 7)).collect(),
                })
                .await?;
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

/// A consumer acking everything it gets (one ack message per delivered
/// message) until `stop`; counts acks and records
/// append → delivery latency for events newer than `live_from_micros`.
async fn consume(
    channel: Channel,
    group: String,
    buffer: u32,
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    live_from_micros: Arc<AtomicU64>,
) -> Result<hdrhistogram::Histogram<u64>> {
    let mut g = PersistentSubscriptionsClient::new(channel)
        .max_decoding_message_size(strata_proto::wire::MAX_GRPC_MESSAGE_BYTES);
    let (tx, rx) = mpsc::channel(256);
    tx.send(GroupReadRequest {
        content: Some(In::Options(group_read_request::Options {
            group,
            buffer_size: buffer,
            consumer_name: "bench".into(),
        })),
    })
    .await?;
    let mut events = g.read(ReceiverStream::new(rx)).await?.into_inner();
    let mut hist = new_hist();
    let mut pending = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let msg = match tokio::time::timeout(Duration::from_millis(200), events.message()).await {
            Ok(m) => m?,
            Err(_) => continue,
        };
        let Some(msg) = msg else { break };
        if let Some(Out::Events(batch)) = msg.content {
            let now = now_micros();
            let live_from = live_from_micros.load(Ordering::Relaxed);
            for e in batch.events {
                let ev = e.event.unwrap_or_default();
                if live_from > 0 && ev.created_micros >= live_from as i64 {
                    hist.record((now - ev.created_micros).max(1) as u64).ok();
                }
                pending.push(ev.id);
            }
            // One ack message per delivered message: as many ids as it held.
            if !pending.is_empty() {
                let n = pending.len() as u64;
                tx.send(GroupReadRequest {
                    content: Some(In::Ack(group_read_request::Ack {
                        ids: std::mem::take(&mut pending),
                    })),
                })
                .await?;
                acked.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
    Ok(hist)
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

pub async fn run(a: GroupArgs, channels: &[Channel]) -> Result<Report> {
    let strat = strategy(&a.strategy)?;
    fill(&a, channels).await?;
    let mut admin = PersistentSubscriptionsClient::new(channels[0].clone());
    admin
        .create(CreateGroupRequest {
            group: "bench".into(),
            stream: "$all".into(),
            settings: Some(GroupSettings {
                strategy: strat as i32,
                max_in_flight: Some(a.max_in_flight),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let live_from = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut consumers = Vec::new();
    for i in 0..a.consumers {
        consumers.push(tokio::spawn(consume(
            channels[i % channels.len()].clone(),
            "bench".into(),
            a.max_in_flight,
            acked.clone(),
            stop.clone(),
            live_from.clone(),
        )));
    }
    while acked.load(Ordering::Relaxed) < a.events {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the group did not drain in 10 minutes");
        }
    }
    let drain = started.elapsed().as_secs_f64();
    // Live: appends at a fixed rate, one event each, to many streams.
    live_from.store(now_micros() as u64, Ordering::Relaxed);
    let mut cl = client(channels, 1);
    let total = (a.live_rate as f64 * a.live_seconds) as u64;
    let live_start = Instant::now();
    for i in 0..total {
        let due = live_start + Duration::from_secs_f64(i as f64 / a.live_rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        cl.append(AppendRequest {
            stream: format!("g-{}", i % a.streams),
            expected_revision: None,
            events: vec![event(a.event_size, 1)],
        })
        .await?;
    }
    let target = a.events + total;
    let settle = Instant::now();
    while acked.load(Ordering::Relaxed) < target && settle.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut hist = new_hist();
    for c in consumers {
        hist.add(c.await??).ok();
    }
    let info = admin
        .get_info(strata_proto::v1::GetGroupInfoRequest {
            group: "bench".into(),
        })
        .await?
        .into_inner();
    if info.acked < target {
        bail!(
            "the server counted {} acks of {target}: {info:?}",
            info.acked
        );
    }
    let lat = Latency::from_hist(&hist);
    Ok(Report {
        workload: format!("group ({})", a.strategy),
        params: serde_json::to_value(&a)?,
        seconds: drain,
        events: a.events,
        requests: a.events,
        events_per_s: a.events as f64 / drain,
        requests_per_s: a.events as f64 / drain,
        mb_per_s: a.events as f64 * a.event_size as f64 / drain / 1e6,
        latency: Some(lat.clone()),
        notes: vec![
            format!(
                "drained {} events through one group with {} consumers in {drain:.2} s: {:.0} events/s",
                a.events,
                a.consumers,
                a.events as f64 / drain
            ),
            format!(
                "live at {} appends/s: append → delivery p50 {} µs, p99 {} µs (n={})",
                a.live_rate, lat.p50_us, lat.p99_us, lat.samples
            ),
        ],
        ..Default::default()
    })
}
