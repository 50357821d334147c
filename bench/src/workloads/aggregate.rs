//! Aggregate loading: full replay of a long stream versus the newest
//! snapshot plus the events after it.
//!
//! Builds one stream of `--events` JSON events (~`--event-size` bytes each,
//! appended in batches of `--batch`) and saves a snapshot of the folded state
//! (a counter and a sum) every `--snapshot-every` events, then appends
//! `--tail-events` more without a snapshot (the events a loader has to
//! replay on top of the snapshot; half a snapshot interval is the average
//! case). Then, `--repetitions` times each, alternating:
//!
//! - full replay: read the whole stream and fold every event;
//! - snapshot load: `GetSnapshot` (newest), read the events after it, fold.
//!
//! Both must end in the same state (checked). Reports median wall times and
//! their ratio. Client-side JSON decoding is included in both, as a real
//! loader pays it.

use super::Channel;
use super::{client, next_id};
use crate::report::Report;
use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use strata_proto::v1::append_request::ExpectedRevision;
use strata_proto::v1::snapshots_client::SnapshotsClient;
use strata_proto::v1::streams_client::StreamsClient;
use strata_proto::v1::{
    read_request, AppendRequest, Direction, Empty, GetSnapshotRequest, ProposedEvent, ReadRequest,
    SaveSnapshotRequest,
};

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct AggregateArgs {
    /// Events in the stream before the tail.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Events appended after the newest snapshot (replayed by snapshot loads).
    #[arg(long, default_value_t = 500)]
    pub tail_events: u64,
    /// Approximate bytes per JSON event.
    #[arg(long, default_value_t = 200)]
    pub event_size: usize,
    /// Events per append.
    #[arg(long, default_value_t = 1000)]
    pub batch: u64,
    /// Save a snapshot every this many events.
    #[arg(long, default_value_t = 1000)]
    pub snapshot_every: u64,
    /// Measurements of each kind of load (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub repetitions: usize,
}

/// One event's payload.
#[derive(Serialize, Deserialize)]
struct Deposited {
    seq: u64,
    amount: u64,
    note: String,
}

/// The folded state, which is also the snapshot.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Totals {
    count: u64,
    sum: u64,
}

impl Totals {
    fn apply(&mut self, e: &Deposited) {
        self.count += 1;
        self.sum += e.amount;
    }
}

const SNAPSHOT_TYPE: &str = "BenchTotals";

fn deposit(seq: u64, size: usize) -> Result<(ProposedEvent, Deposited)> {
    let mut d = Deposited {
        seq,
        amount: seq % 997,
        note: String::new(),
    };
    let bare = serde_json::to_vec(&d)?.len();
    d.note = "x".repeat(size.saturating_sub(bare));
    let e = ProposedEvent {
        id: next_id(),
        r#type: "Deposited".into(),
        content_type: "application/json".into(),
        data: serde_json::to_vec(&d)?,
        metadata: Vec::new(),
    };
    Ok((e, d))
}

/// Appends the stream and its snapshots; returns the final folded state.
async fn build(
    a: &AggregateArgs,
    stream: &str,
    streams: &mut StreamsClient<Channel>,
    snapshots: &mut SnapshotsClient<Channel>,
) -> Result<(Totals, u64)> {
    let mut state = Totals::default();
    let mut saved = 0u64;
    let total = a.events + a.tail_events;
    let mut done = 0u64;
    while done < total {
        // Stop each batch at the next snapshot point and at the tail start.
        let next_snapshot = (done / a.snapshot_every + 1) * a.snapshot_every;
        let mut end = (done + a.batch).min(total);
        if done < a.events {
            end = end.min(next_snapshot).min(a.events);
        }
        let mut events = Vec::with_capacity((end - done) as usize);
        for seq in done..end {
            let (e, d) = deposit(seq, a.event_size)?;
            state.apply(&d);
            events.push(e);
        }
        let expected = if done == 0 {
            ExpectedRevision::NoStream(Empty {})
        } else {
            ExpectedRevision::Exact(done - 1)
        };
        streams
            .append(AppendRequest {
                stream: stream.to_owned(),
                expected_revision: Some(expected),
                events,
            })
            .await
            .context("appending")?;
        done = end;
        if done <= a.events && done.is_multiple_of(a.snapshot_every) {
            snapshots
                .save_snapshot(SaveSnapshotRequest {
                    stream: stream.to_owned(),
                    revision: done - 1,
                    r#type: SNAPSHOT_TYPE.into(),
                    schema_version: 1,
                    data: serde_json::to_vec(&state)?,
                    metadata: Vec::new(),
                })
                .await
                .context("saving a snapshot")?;
            saved += 1;
        }
    }
    Ok((state, saved))
}

/// Reads `stream` from `from` and folds into `state`; returns events read.
async fn fold_from(
    streams: &mut StreamsClient<Channel>,
    stream: &str,
    from: u64,
    state: &mut Totals,
) -> Result<u64> {
    let mut read = streams
        .read(ReadRequest {
            stream: stream.to_owned(),
            direction: Direction::Forwards as i32,
            from: Some(read_request::From::Revision(from)),
            max_count: 0,
            filter: None,
        })
        .await?
        .into_inner();
    let mut n = 0;
    while let Some(page) = read.message().await? {
        for e in &page.events {
            let d: Deposited = serde_json::from_slice(&e.data)?;
            state.apply(&d);
            n += 1;
        }
    }
    Ok(n)
}

async fn full_replay(streams: &mut StreamsClient<Channel>, stream: &str) -> Result<(Totals, u64)> {
    let mut state = Totals::default();
    let n = fold_from(streams, stream, 0, &mut state).await?;
    Ok((state, n))
}

async fn snapshot_load(
    streams: &mut StreamsClient<Channel>,
    snapshots: &mut SnapshotsClient<Channel>,
    stream: &str,
) -> Result<(Totals, u64)> {
    let snap = snapshots
        .get_snapshot(GetSnapshotRequest {
            stream: stream.to_owned(),
            at_or_before_revision: None,
        })
        .await?
        .into_inner()
        .snapshot
        .context("GetSnapshot returned no snapshot")?;
    ensure!(snap.r#type == SNAPSHOT_TYPE, "unexpected snapshot type");
    let mut state: Totals = serde_json::from_slice(&snap.data)?;
    let n = fold_from(streams, stream, snap.revision + 1, &mut state).await?;
    Ok((state, n))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub async fn run(a: AggregateArgs, channels: &[Channel]) -> Result<Report> {
    if a.events == 0 || a.batch == 0 || a.snapshot_every == 0 || a.repetitions == 0 {
        bail!("--events, --batch, --snapshot-every and --repetitions must be at least 1");
    }
    if a.snapshot_every > a.events {
        bail!("--snapshot-every must not exceed --events (no snapshot would be saved)");
    }
    let stream = format!("aggregate-{}", next_id());
    let mut streams = client(channels, 0);
    let mut snapshots = SnapshotsClient::new(channels[0].clone())
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);

    let t = Instant::now();
    let (expected, saved) = build(&a, &stream, &mut streams, &mut snapshots).await?;
    let build_time = t.elapsed();

    let (mut replays, mut loads) = (Vec::new(), Vec::new());
    let (mut replayed_events, mut tail_read) = (0, 0);
    for i in 0..a.repetitions * 2 {
        // Alternate, so page-cache and CPU-frequency effects hit both.
        let t = Instant::now();
        let (state, n) = if i % 2 == 0 {
            full_replay(&mut streams, &stream).await?
        } else {
            snapshot_load(&mut streams, &mut snapshots, &stream).await?
        };
        let took = t.elapsed();
        ensure!(
            state == expected,
            "load {i} gave {state:?}, expected {expected:?}"
        );
        if i % 2 == 0 {
            replayed_events = n;
            replays.push(took);
        } else {
            tail_read = n;
            loads.push(took);
        }
    }
    let (replay, load) = (median(replays.clone()), median(loads.clone()));
    let total = a.events + a.tail_events;
    let ratio = replay.as_secs_f64() / load.as_secs_f64();
    let mut r = Report {
        workload: "aggregate".into(),
        params: serde_json::to_value(&a)?,
        seconds: replays
            .iter()
            .chain(&loads)
            .map(Duration::as_secs_f64)
            .sum(),
        events: total,
        requests: (a.repetitions * 2) as u64,
        ..Default::default()
    };
    r.events_per_s = replayed_events as f64 / replay.as_secs_f64();
    r.requests_per_s = r.requests as f64 / r.seconds;
    r.mb_per_s = r.events_per_s * a.event_size as f64 / 1e6;
    r.notes = vec![
        format!(
            "setup: {total} events, {saved} snapshots in {:.1} s",
            build_time.as_secs_f64()
        ),
        format!(
            "full replay:   median {:.1} ms  ({replayed_events} events read and folded; min {:.1}, max {:.1})",
            ms(replay),
            ms(*replays.iter().min().expect("non-empty")),
            ms(*replays.iter().max().expect("non-empty")),
        ),
        format!(
            "snapshot load: median {:.2} ms  (GetSnapshot + {tail_read} events; min {:.2}, max {:.2})",
            ms(load),
            ms(*loads.iter().min().expect("non-empty")),
            ms(*loads.iter().max().expect("non-empty")),
        ),
        format!("ratio:         snapshot load is {ratio:.0}x faster (median / median); events/s above = full replay rate"),
    ];
    Ok(r)
}
