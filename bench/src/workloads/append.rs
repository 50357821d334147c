//! Append workloads: concurrent clients appending, optionally with exact
//! expected revisions (each client owns its streams, so there are no
//! conflicts), and a mixed append + read load. With `--via client` the
//! appends go through `strata-client` instead of the generated stubs
//! (`client_append`).

use super::Channel;
use super::{client, event, finish};
use crate::report::{new_hist, Latency, Report};
use anyhow::Result;
use clap::Args;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_proto::v1::append_request::ExpectedRevision;
use strata_proto::v1::{read_request, AppendRequest, Direction, Empty, ReadRequest};
use tokio::sync::Mutex;

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct AppendArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Events per append request.
    #[arg(long, default_value_t = 1)]
    pub events_per_append: usize,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 1024)]
    pub event_size: usize,
    /// Streams per client.
    #[arg(long, default_value_t = 16)]
    pub streams_per_client: usize,
    /// `any` or `exact`.
    #[arg(long, default_value = "any")]
    pub expected: String,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Also run this many deliberately slow `$all` subscribers from the
    /// start (each pauses 50 ms per message), to show they do not slow
    /// writers or grow the server's memory.
    #[arg(long, default_value_t = 0)]
    pub slow_subscribers: usize,
    /// `raw`: unary `Append` calls on the generated stubs, one
    /// `--connections` channel per client in turn; `client`: `strata-client`'s
    /// `Client::append` (its default path: append sessions), one `Client` per
    /// connection; `kurrent`: the KurrentDB protocol's `Append` calls, as
    /// its clients send them, over the same channels as `raw`.
    #[arg(long, default_value = "raw")]
    pub via: String,
    /// With `--via client`: turn the client's append sessions off (unary
    /// `Append` calls, for comparison).
    #[arg(long)]
    pub unary: bool,
    /// With `--via client`: appends each client keeps in flight at once
    /// (each on its own streams, so exact expected revisions still hold).
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// With `--via client`: append sessions per `Client` (default: the
    /// client's own default).
    #[arg(long)]
    pub sessions: Option<usize>,
}

/// Subscribers that read one message every 50 ms until `deadline`; returns
/// how many events they received in total.
fn spawn_slow_subscribers(
    n: usize,
    channels: &[Channel],
    deadline: Instant,
) -> Vec<tokio::task::JoinHandle<u64>> {
    use strata_proto::v1::{subscribe_request, SubscribeRequest};
    (0..n)
        .map(|i| {
            let mut cl = client(channels, i + 7);
            tokio::spawn(async move {
                let req = SubscribeRequest {
                    stream: "$all".into(),
                    from: Some(subscribe_request::From::Start(Empty {})),
                    filter: None,
                    checkpoint_interval: 0,
                };
                let Ok(resp) = cl.subscribe(req).await else {
                    return 0;
                };
                let mut s = resp.into_inner();
                let mut got = 0u64;
                while Instant::now() < deadline {
                    match s.message().await {
                        Ok(Some(m)) => {
                            if let Some(strata_proto::v1::subscribe_response::Content::Events(e)) =
                                m.content
                            {
                                got += e.events.len() as u64;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        _ => break,
                    }
                }
                got
            })
        })
        .collect()
}

pub async fn run(a: AppendArgs, channels: &[Channel]) -> Result<Report> {
    match a.via.as_str() {
        "client" => return super::client_append::run(a, channels.len()).await,
        "kurrent" => return super::kurrent::run_append(a, channels).await,
        "raw" => {}
        _ => anyhow::bail!("--via is raw, client or kurrent"),
    }
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    let slow = spawn_slow_subscribers(a.slow_subscribers, channels, deadline);
    let hist = Arc::new(Mutex::new(new_hist()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let mut cl = client(channels, c);
        let (a, hist) = (a.clone(), hist.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = new_hist();
            let mut revs: Vec<Option<u64>> = vec![None; a.streams_per_client];
            let (mut events, mut reqs, mut errors) = (0u64, 0u64, 0u64);
            let mut i = 0usize;
            while Instant::now() < deadline {
                let k = i % a.streams_per_client;
                i += 1;
                let expected = if a.expected == "exact" {
                    Some(match revs[k] {
                        None => ExpectedRevision::NoStream(Empty {}),
                        Some(r) => ExpectedRevision::Exact(r),
                    })
                } else {
                    Some(ExpectedRevision::Any(Empty {}))
                };
                let req = AppendRequest {
                    stream: format!("bench-{c}-{k}"),
                    expected_revision: expected,
                    events: (0..a.events_per_append)
                        .map(|_| event(a.event_size, c as u8))
                        .collect(),
                };
                let t = Instant::now();
                match cl.append(req).await {
                    Ok(r) => {
                        let _ = h.record(t.elapsed().as_micros() as u64);
                        revs[k] = Some(r.into_inner().last_revision);
                        events += a.events_per_append as u64;
                        reqs += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
            hist.lock().await.add(&h).ok();
            (events, reqs, errors)
        }));
    }
    let mut r = Report {
        workload: "append".into(),
        params: serde_json::to_value(&a)?,
        ..Default::default()
    };
    for t in tasks {
        let (e, q, x) = t.await?;
        r.events += e;
        r.requests += q;
        r.errors += x;
    }
    r.seconds = start.elapsed().as_secs_f64();
    r.latency = Some(Latency::from_hist(&*hist.lock().await));
    if !slow.is_empty() {
        let mut got = 0;
        for t in slow {
            got += t.await.unwrap_or(0);
        }
        r.notes.push(format!(
            "{} slow subscribers received {got} events in total while writers ran",
            a.slow_subscribers
        ));
    }
    Ok(finish(r, a.event_size))
}

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct MixedArgs {
    /// Appending clients.
    #[arg(long, default_value_t = 32)]
    pub writers: usize,
    /// Reading clients (each reads the last 100 events of a stream, backwards).
    #[arg(long, default_value_t = 32)]
    pub readers: usize,
    /// Bytes per event.
    #[arg(long, default_value_t = 1024)]
    pub event_size: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
}

pub async fn run_mixed(a: MixedArgs, channels: &[Channel]) -> Result<Report> {
    let wargs = AppendArgs {
        clients: a.writers,
        events_per_append: 1,
        event_size: a.event_size,
        streams_per_client: 4,
        expected: "any".into(),
        duration: a.duration,
        slow_subscribers: 0,
        via: "raw".into(),
        unary: false,
        in_flight: 1,
        sessions: None,
    };
    let chans = channels.to_vec();
    let writers = tokio::spawn(async move { run(wargs, &chans).await });
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    let mut readers = Vec::new();
    for c in 0..a.readers {
        let mut cl = client(channels, c + a.writers);
        let writers = a.writers;
        readers.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut i = 0usize;
            while Instant::now() < deadline {
                let req = ReadRequest {
                    stream: format!("bench-{}-{}", (c + i) % writers.max(1), i % 4),
                    direction: Direction::Backwards as i32,
                    from: Some(read_request::From::End(Empty {})),
                    max_count: 100,
                    filter: None,
                };
                i += 1;
                if let Ok(resp) = cl.read(req).await {
                    let mut s = resp.into_inner();
                    while let Ok(Some(page)) = s.message().await {
                        n += page.events.len() as u64;
                    }
                }
            }
            n
        }));
    }
    let mut r = writers.await??;
    let mut read_events = 0;
    for t in readers {
        read_events += t.await?;
    }
    r.workload = "mixed".into();
    r.params = serde_json::to_value(&a)?;
    r.notes.push(format!(
        "readers read {read_events} events ({:.0} events/s)",
        read_events as f64 / r.seconds
    ));
    Ok(r)
}
