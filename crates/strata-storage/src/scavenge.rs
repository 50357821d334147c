//! Scavenging: giving back the disk space of records that are invisible for
//! good, while the store keeps serving.
//!
//! One scavenge at a time, on its own thread. It records its start in the
//! `$scavenges` stream, seals the active segment (so everything written
//! before the start can be reclaimed), waits for the index to cover it,
//! rewrites every sealed segment that holds droppable records (`compact`),
//! drops snapshots that are no longer visible, and records how it ended.
//! A store that opens with a started-but-unfinished scavenge in its history
//! (a crash, or a shutdown, interrupted it) starts it again: every step is
//! idempotent. Progress is readable at any time; a stop is honoured between
//! chunks of reading.
//!
//! ```text
//! $scavenges records (JSON data, content type application/json), each with
//! every field (counters 0 and error null in the start record):
//!   $scavengeStarted / $scavengeCompleted / $scavengeStopped / $scavengeFailed
//!     {"id": "<uuid>", "max_bytes_per_second": <u64 or null>, "segments_done",
//!      "segments_total", "records_dropped", "bytes_reclaimed", "bytes_processed",
//!      "error": <string or null>}
//! ```
//!
//! Not here: the per-segment rewrite (`compact`), visibility (`lifecycle`).

use crate::compact::{compact, Interrupted, Throttle};
use crate::error::{Error, Result};
use crate::lifecycle::SCAVENGES_STREAM;
use crate::limits::SCAVENGE_INDEX_WAIT;
use crate::request::{Op, Request, Write};
use crate::shared::Shared;
use crate::snapshot::SnapshotStore;
use crate::types::{ExpectedRevision, NewEvent, Position, StreamAppend};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use uuid::Uuid;

/// Record type of a scavenge's start.
pub const SCAVENGE_STARTED: &str = "$scavengeStarted";
/// Record type of a scavenge that finished.
pub const SCAVENGE_COMPLETED: &str = "$scavengeCompleted";
/// Record type of a scavenge stopped on request.
pub const SCAVENGE_STOPPED: &str = "$scavengeStopped";
/// Record type of a scavenge that failed.
pub const SCAVENGE_FAILED: &str = "$scavengeFailed";

/// How to scavenge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScavengeOptions {
    /// Read at most this many bytes of segments per second (`None`: as fast
    /// as the disk allows).
    pub max_bytes_per_second: Option<u64>,
}

/// Where a scavenge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScavengeState {
    /// Working.
    Running,
    /// Finished every segment.
    Completed,
    /// Stopped on request; what it rewrote stays rewritten.
    Stopped,
    /// Gave up on an error (see `error`).
    Failed,
}

/// A scavenge's progress and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScavengeStatus {
    /// Its id (also in its `$scavenges` records).
    pub id: Uuid,
    /// Where it is.
    pub state: ScavengeState,
    /// First position of the segment being processed.
    pub current_segment: Option<Position>,
    /// Segments processed.
    pub segments_done: u64,
    /// Segments to process.
    pub segments_total: u64,
    /// Bytes of segments read so far.
    pub bytes_processed: u64,
    /// Bytes given back so far.
    pub bytes_reclaimed: u64,
    /// Records dropped so far.
    pub records_dropped: u64,
    /// When it started, unix µs.
    pub started_micros: i64,
    /// When it ended, unix µs.
    pub finished_micros: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its rate limit.
    pub max_bytes_per_second: Option<u64>,
}

struct Running {
    status: Arc<Mutex<ScavengeStatus>>,
    stop: Arc<AtomicBool>,
    /// Stopped by the store closing: leave no end record, so the next
    /// open restarts it.
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What a scavenge needs from the store.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub tx: SyncSender<Request>,
    pub snapshots: SnapshotStore,
}

/// The store's scavenger: at most one run at a time, and the last one's status.
#[derive(Default)]
pub(crate) struct Scavenger {
    run: Mutex<Option<Running>>,
}

impl Scavenger {
    /// Starts a scavenge, or returns the one already running.
    pub(crate) fn start(&self, ctx: Ctx, opts: ScavengeOptions) -> Result<ScavengeStatus> {
        let mut run = self.run.lock().unwrap();
        if let Some(r) = run.as_ref() {
            let s = r.status.lock().unwrap().clone();
            if s.state == ScavengeState::Running {
                return Ok(s);
            }
        }
        let status = Arc::new(Mutex::new(ScavengeStatus {
            id: Uuid::new_v4(),
            state: ScavengeState::Running,
            current_segment: None,
            segments_done: 0,
            segments_total: 0,
            bytes_processed: 0,
            bytes_reclaimed: 0,
            records_dropped: 0,
            started_micros: crate::clock::now_micros(),
            finished_micros: None,
            error: None,
            max_bytes_per_second: opts.max_bytes_per_second,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let closing = Arc::new(AtomicBool::new(false));
        let (st, sp, cl) = (status.clone(), stop.clone(), closing.clone());
        let thread = std::thread::Builder::new()
            .name("strata-scavenger".into())
            .spawn(move || scavenge(&ctx, opts, &st, &sp, &cl))?;
        let s = status.lock().unwrap().clone();
        *run = Some(Running {
            status,
            stop,
            closing,
            thread: Some(thread),
        });
        Ok(s)
    }

    /// The running or last scavenge since open.
    pub(crate) fn status(&self) -> Option<ScavengeStatus> {
        let run = self.run.lock().unwrap();
        run.as_ref().map(|r| r.status.lock().unwrap().clone())
    }

    /// Stops a running scavenge and waits for it to end (recorded as
    /// stopped).
    pub(crate) fn stop(&self) -> Option<ScavengeStatus> {
        self.halt(false)
    }

    /// Stops a running scavenge because the store closes: it records no
    /// end, so the next open starts it again.
    pub(crate) fn interrupt(&self) {
        self.halt(true);
    }

    fn halt(&self, closing: bool) -> Option<ScavengeStatus> {
        let mut run = self.run.lock().unwrap();
        let r = run.as_mut()?;
        r.closing.store(closing, Ordering::Relaxed);
        r.stop.store(true, Ordering::Relaxed);
        if let Some(t) = r.thread.take() {
            let _ = t.join();
        }
        let s = r.status.lock().unwrap().clone();
        Some(s)
    }
}

/// The JSON of a history record (the store has no JSON library: the values
/// are numbers, ids and one error message, escaped here).
fn json_record(s: &ScavengeStatus) -> String {
    let opt = |v: Option<u64>| v.map_or("null".to_owned(), |v| v.to_string());
    let error = s.error.as_ref().map_or("null".to_owned(), |e| {
        let mut out = String::from("\"");
        for c in e.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    });
    format!(
        "{{\"id\":\"{}\",\"max_bytes_per_second\":{},\"segments_done\":{},\"segments_total\":{},\
         \"records_dropped\":{},\"bytes_reclaimed\":{},\"bytes_processed\":{},\"error\":{}}}",
        s.id,
        opt(s.max_bytes_per_second),
        s.segments_done,
        s.segments_total,
        s.records_dropped,
        s.bytes_reclaimed,
        s.bytes_processed,
        error
    )
}

/// The rate limit a `$scavengeStarted` record asked for.
pub(crate) fn options_of_started(data: &[u8]) -> ScavengeOptions {
    let text = String::from_utf8_lossy(data);
    let value = text.split("\"max_bytes_per_second\":").nth(1).map(|rest| {
        rest.split([',', '}'])
            .next()
            .unwrap_or("")
            .trim()
            .to_owned()
    });
    ScavengeOptions {
        max_bytes_per_second: value.and_then(|v| v.parse().ok()),
    }
}

/// Submits `op` to the writer and waits for its answer.
fn write(ctx: &Ctx, op: Op) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let req = Request {
        op,
        bytes: 4096,
        reply: Box::new(move |r, _| {
            let _ = tx.send(r);
        }),
        enqueued: std::time::Instant::now(),
    };
    // Counted like every request: the writer subtracts what it takes.
    ctx.shared.queue_depth.fetch_add(1, Ordering::Relaxed);
    if ctx.tx.send(req).is_err() {
        ctx.shared.queue_depth.fetch_sub(1, Ordering::Relaxed);
        return Err(Error::Closed);
    }
    rx.recv().map_err(|_| Error::Closed)?.map(|_| ())
}

fn record(ctx: &Ctx, event_type: &str, s: &ScavengeStatus) -> Result<()> {
    write(
        ctx,
        Op::System(Write::Append(vec![StreamAppend {
            stream: SCAVENGES_STREAM.to_owned(),
            expected: ExpectedRevision::Any,
            events: vec![NewEvent {
                id: Uuid::new_v4(),
                event_type: event_type.to_owned(),
                content_type: "application/json".to_owned(),
                data: json_record(s).into_bytes(),
                metadata: Vec::new(),
            }],
        }])),
    )
}

/// The scavenger thread.
fn scavenge(
    ctx: &Ctx,
    opts: ScavengeOptions,
    status: &Mutex<ScavengeStatus>,
    stop: &AtomicBool,
    closing: &AtomicBool,
) {
    let snapshot = || status.lock().unwrap().clone();
    let outcome = match record(ctx, SCAVENGE_STARTED, &snapshot()) {
        Ok(()) => run(ctx, opts, status, stop),
        Err(e) => Err(Interrupted::Failed(e)),
    };
    let (state, kind, error) = match outcome {
        Ok(()) => (ScavengeState::Completed, SCAVENGE_COMPLETED, None),
        Err(Interrupted::Stopped) => (ScavengeState::Stopped, SCAVENGE_STOPPED, None),
        Err(Interrupted::Failed(e)) => {
            (ScavengeState::Failed, SCAVENGE_FAILED, Some(e.to_string()))
        }
    };
    // The end record goes to the log before the status says "ended", so a
    // caller who saw the end finds it in `$scavenges`.
    let mut s = snapshot();
    s.state = state;
    s.current_segment = None;
    s.error = error;
    s.finished_micros = Some(crate::clock::now_micros());
    match &s.error {
        Some(e) => tracing::error!(id = %s.id, error = %e, "scavenge failed"),
        None => tracing::info!(
            id = %s.id, state = ?s.state, segments = s.segments_done,
            records_dropped = s.records_dropped, bytes_reclaimed = s.bytes_reclaimed,
            "scavenge ended"
        ),
    }
    if s.state == ScavengeState::Stopped && closing.load(Ordering::Relaxed) {
        tracing::info!(id = %s.id, "scavenge interrupted by shutdown; the next start resumes it");
    } else if let Err(e) = record(ctx, kind, &s) {
        tracing::warn!(error = %e, "could not record the end of a scavenge");
    }
    *status.lock().unwrap() = s;
}

fn run(
    ctx: &Ctx,
    opts: ScavengeOptions,
    status: &Mutex<ScavengeStatus>,
    stop: &AtomicBool,
) -> std::result::Result<(), Interrupted> {
    let sh = &ctx.shared;
    write(ctx, Op::Seal)?;
    // Everything sealed must be indexed: the decisions read stream heads.
    let sealed_head = sh.notifier.head();
    while sh.indexed.load(Ordering::Acquire) < sealed_head {
        if stop.load(Ordering::Relaxed) {
            return Err(Interrupted::Stopped);
        }
        std::thread::sleep(SCAVENGE_INDEX_WAIT);
    }
    let set = sh.segments.current();
    let segs = set.all();
    let sealed = &segs[..segs.len().saturating_sub(1)];
    status.lock().unwrap().segments_total = sealed.len() as u64;
    let mut throttle = Throttle::new(opts.max_bytes_per_second);
    for (i, seg) in sealed.iter().enumerate() {
        status.lock().unwrap().current_segment = Some(seg.base);
        let next_base = segs[i + 1].base;
        let len = seg.len()?;
        let done = compact(sh, seg, next_base, &mut throttle, stop)?;
        let mut s = status.lock().unwrap();
        s.segments_done += 1;
        s.bytes_processed += len;
        if let Some(c) = done {
            s.records_dropped += c.records_dropped;
            s.bytes_reclaimed += c.bytes_reclaimed;
        }
    }
    if stop.load(Ordering::Relaxed) {
        return Err(Interrupted::Stopped);
    }
    let removed = drop_hidden_snapshots(ctx)?;
    if removed > 0 {
        tracing::info!(removed, "dropped snapshots of deleted or hidden revisions");
    }
    Ok(())
}

/// Removes snapshots of deleted streams and of revisions now hidden.
fn drop_hidden_snapshots(ctx: &Ctx) -> Result<u64> {
    let mut first_visible: std::collections::HashMap<String, Option<u64>> = Default::default();
    let mut failed = None;
    let removed = ctx.snapshots.retain(|stream, rev| {
        let first = first_visible.entry(stream.to_owned()).or_insert_with(|| {
            match crate::visible::visible_stream(&ctx.shared, stream) {
                Ok(v) => Some(v.first),
                Err(
                    Error::StreamNotFound(_)
                    | Error::StreamDeleted(_)
                    | Error::StreamTombstoned { .. },
                ) => None,
                Err(e) => {
                    failed = Some(e);
                    Some(0)
                }
            }
        });
        first.is_some_and(|f| rev >= f)
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// Closes the scavenger with the store: interrupts a running scavenge.
impl Drop for Scavenger {
    fn drop(&mut self) {
        self.interrupt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_records_carry_the_rate_back() {
        let mut s = ScavengeStatus {
            id: Uuid::nil(),
            state: ScavengeState::Running,
            current_segment: None,
            segments_done: 1,
            segments_total: 2,
            bytes_processed: 3,
            bytes_reclaimed: 4,
            records_dropped: 5,
            started_micros: 0,
            finished_micros: None,
            error: Some("disk \"x\"\n".into()),
            max_bytes_per_second: Some(1000),
        };
        let j = json_record(&s);
        assert!(j.contains(r#""error":"disk \"x\"\u000a""#), "{j}");
        assert_eq!(
            options_of_started(j.as_bytes()).max_bytes_per_second,
            Some(1000)
        );
        s.max_bytes_per_second = None;
        assert_eq!(
            options_of_started(json_record(&s).as_bytes()).max_bytes_per_second,
            None
        );
    }
}
