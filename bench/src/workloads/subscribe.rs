//! Subscription workloads: live append→delivery latency with N subscribers,
//! and catch-up speed of one subscriber from the start of a pre-filled log.

use super::Channel;
use super::{client, finish, next_id};
use crate::report::{new_hist, Latency, Report};
use anyhow::{anyhow, Result};
use clap::Args;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use strata_proto::v1::append_request::ExpectedRevision;
use strata_proto::v1::subscribe_response::Content;
use strata_proto::v1::{subscribe_request, AppendRequest, Empty, ProposedEvent, SubscribeRequest};

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct SubscribeArgs {
    /// Live subscribers to `$all`.
    #[arg(long, default_value_t = 10)]
    pub subscribers: usize,
    /// Single-event appends per second (spread over 8 appenders).
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Bytes per event (at least 8: the send time travels in the data).
    #[arg(long, default_value_t = 256)]
    pub event_size: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
}

fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

pub async fn run_live(a: SubscribeArgs, channels: &[Channel]) -> Result<Report> {
    let _ = epoch();
    let total_expected = (a.rate as f64 * a.duration) as u64;
    let mut subs = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(a.subscribers.max(1));
    for s in 0..a.subscribers {
        let mut cl = client(channels, s);
        let ready = ready_tx.clone();
        subs.push(tokio::spawn(async move {
            let req = SubscribeRequest {
                stream: "$all".into(),
                from: Some(subscribe_request::From::End(Empty {})),
                filter: None,
                checkpoint_interval: 0,
            };
            let mut stream = cl.subscribe(req).await?.into_inner();
            let mut h = new_hist();
            let mut got = 0u64;
            while let Some(msg) = stream.message().await? {
                match msg.content {
                    Some(Content::CaughtUp(_)) => {
                        let _ = ready.send(()).await;
                    }
                    Some(Content::Events(evs)) => {
                        let now = now_nanos();
                        for e in evs.events {
                            if e.data.len() >= 8 {
                                let sent =
                                    u64::from_le_bytes(e.data[..8].try_into().expect("8 bytes"));
                                let _ = h.record(now.saturating_sub(sent) / 1000);
                            }
                            got += 1;
                        }
                        if got >= total_expected {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            Ok::<_, anyhow::Error>((got, h))
        }));
    }
    drop(ready_tx);
    for _ in 0..a.subscribers {
        ready_rx
            .recv()
            .await
            .ok_or_else(|| anyhow!("a subscriber failed to start"))?;
    }
    // Appenders at a fixed total rate.
    let appenders = 8u64;
    let per = total_expected / appenders;
    let interval = Duration::from_secs_f64(appenders as f64 / a.rate as f64);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..appenders {
        let mut cl = client(channels, w as usize + 1000);
        let size = a.event_size.max(8);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut h = new_hist();
            for _ in 0..per {
                tick.tick().await;
                let mut data = vec![0u8; size];
                data[..8].copy_from_slice(&now_nanos().to_le_bytes());
                let t = Instant::now();
                cl.append(AppendRequest {
                    stream: format!("live-{w}"),
                    expected_revision: Some(ExpectedRevision::Any(Empty {})),
                    events: vec![ProposedEvent {
                        id: next_id(),
                        r#type: "Live".into(),
                        content_type: "application/octet-stream".into(),
                        data,
                        metadata: vec![],
                    }],
                })
                .await?;
                let _ = h.record(t.elapsed().as_micros() as u64);
            }
            Ok::<_, tonic::Status>(h)
        }));
    }
    let mut append_hist = new_hist();
    for t in tasks {
        append_hist.add(&t.await??).ok();
    }
    let appended = per * appenders;
    let mut hist = new_hist();
    let mut delivered = 0;
    for s in subs {
        match tokio::time::timeout(Duration::from_secs(30), s).await {
            Ok(r) => {
                let (got, h) = r??;
                delivered += got;
                hist.add(&h).ok();
            }
            Err(_) => {
                return Err(anyhow!(
                    "a subscriber did not receive every event within 30 s"
                ))
            }
        }
    }
    let mut r = Report {
        workload: "subscribe-live".into(),
        params: serde_json::to_value(&a)?,
        ..Default::default()
    };
    r.seconds = start.elapsed().as_secs_f64();
    r.events = delivered;
    r.requests = appended;
    r.latency = Some(Latency::from_hist(&hist));
    let al = Latency::from_hist(&append_hist);
    r.notes.push(format!(
        "latency is append→delivery; {appended} events appended, each delivered to {} subscribers",
        a.subscribers
    ));
    r.notes.push(format!(
        "append latency µs: p50 {} p99 {} max {}",
        al.p50_us, al.p99_us, al.max_us
    ));
    Ok(finish(r, a.event_size))
}

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct CatchupArgs {
    /// Events to pre-fill.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Bytes per event.
    #[arg(long, default_value_t = 1024)]
    pub event_size: usize,
    /// `native` (strata.v1 `Subscribe`) or `kurrent` (the KurrentDB
    /// protocol's `Read` subscription to `$all`).
    #[arg(long, default_value = "native")]
    pub via: String,
}

pub async fn run_catchup(a: CatchupArgs, channels: &[Channel]) -> Result<Report> {
    match a.via.as_str() {
        "kurrent" => return super::kurrent::run_catchup(a, channels).await,
        "native" => {}
        _ => anyhow::bail!("--via is native or kurrent"),
    }
    let t = Instant::now();
    super::read::prefill(channels, a.events, a.event_size, 1000).await?;
    let fill_secs = t.elapsed().as_secs_f64();
    let mut cl = client(channels, 0);
    let start = Instant::now();
    let req = SubscribeRequest {
        stream: "$all".into(),
        from: Some(subscribe_request::From::Start(Empty {})),
        filter: None,
        checkpoint_interval: 0,
    };
    let mut stream = cl.subscribe(req).await?.into_inner();
    let mut got = 0u64;
    while let Some(msg) = stream.message().await? {
        match msg.content {
            Some(Content::Events(e)) => got += e.events.len() as u64,
            Some(Content::CaughtUp(_)) => break,
            _ => {}
        }
    }
    let mut r = Report {
        workload: "catchup".into(),
        params: serde_json::to_value(&a)?,
        ..Default::default()
    };
    r.seconds = start.elapsed().as_secs_f64();
    r.events = got;
    r.requests = 1;
    r.notes.push(format!(
        "pre-fill of {} events took {fill_secs:.1} s ({:.0} events/s in batches of 100)",
        a.events,
        a.events as f64 / fill_secs
    ));
    Ok(finish(r, a.event_size))
}
