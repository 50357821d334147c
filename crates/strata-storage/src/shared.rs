//! The state shared by the façade, the writer and the indexer, and the one
//! piece of logic all of them need: finding a stream's events.
//!
//! A stream's events are found through its head (tail first, then sled),
//! the sparse revisions in sled, and each record's link to the stream's
//! previous event. Every record reached that way is checked to be the one
//! the index promised ([`check_record`]), so a damaged index is reported as
//! corruption instead of serving the wrong event.
//!
//! Not here: reads as callers see them (`query`), writes (`writer`),
//! indexing (`indexer`).

use crate::codec::RecordView;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::lifecycle::Lifecycles;
use crate::limits::STREAM_SPARSE_INTERVAL_REVISIONS;
use crate::notify::Notifier;
use crate::reader::{Found, Loc, LogReader, PointReader};
use crate::segments::Segments;
use crate::stats::WriterCounters;
use crate::tail::Tail;
use crate::types::{Position, RecordedEvent, Revision};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Condvar, Mutex, RwLock};

/// A stream's last event: revision and position.
pub(crate) type Head = (Revision, Position);

/// What the indexer is told by the rest of the store.
#[derive(Debug, Default)]
pub(crate) struct IndexSignal {
    pub shutdown: bool,
}

/// State shared by the façade, the writer and the indexer.
pub(crate) struct Shared {
    pub log_dir: PathBuf,
    pub segments: Segments,
    pub index: Index,
    pub tail: RwLock<Tail>,
    pub notifier: Notifier,
    pub poison: Mutex<Option<String>>,
    /// Streams' lifecycle states (derived from their `$$` records).
    pub lifecycles: Lifecycles,
    /// Guards the indexer's wake-ups (new events, shutdown, room freed).
    pub index_signal: Mutex<IndexSignal>,
    pub index_cv: Condvar,
    /// Highest position written to sled.
    pub indexed: AtomicU64,
    /// Requests in the writer's queue (not yet taken by the writer).
    pub queue_depth: AtomicU64,
    /// The last write failed for want of space, and none succeeded since.
    pub disk_full: std::sync::atomic::AtomicBool,
    pub counters: WriterCounters,
}

impl Shared {
    pub(crate) fn reader(&self) -> LogReader<'_> {
        LogReader {
            segments: self.segments.current(),
            notifier: &self.notifier,
            committed: self.notifier.committed(),
        }
    }

    /// The reason writes are refused, if the store is poisoned.
    pub(crate) fn poisoned(&self) -> Option<String> {
        self.poison.lock().unwrap().clone()
    }

    /// Wakes the indexer (new events, shutdown, or room freed).
    pub(crate) fn wake_indexer(&self) {
        let _g = self.index_signal.lock().unwrap();
        self.index_cv.notify_all();
    }

    /// A stream's last event (tail first, then sled: the indexer writes
    /// sled before pruning the tail, so this never misses a committed event).
    pub(crate) fn stream_head(&self, stream: &str) -> Result<Option<Head>> {
        if let Some(h) = self.tail.read().unwrap().stream_head(stream) {
            return Ok(Some(h));
        }
        self.index.stream_head(stream)
    }

    /// Locations of revisions `from..=to` of a stream, ascending; revisions
    /// past the stream's end are left out.
    pub(crate) fn stream_locs(
        &self,
        log: &LogReader<'_>,
        stream: &str,
        from: Revision,
        to: Revision,
    ) -> Result<Vec<(Revision, Position, Loc)>> {
        let mut out = Vec::new();
        let Some(head) = self.stream_head(stream)? else {
            return Ok(out);
        };
        let mut pr = PointReader::new(log);
        self.walk_stream(
            &mut pr,
            stream,
            head,
            from,
            to,
            false,
            |rev, pos, loc, _| out.push((rev, pos, loc)),
        )?;
        Ok(out)
    }

    /// Calls `f` for revisions `from..=to` of a stream whose last event is
    /// `head`, in ascending order, with (revision, position, location, the
    /// event when `copy_events`).
    ///
    /// Recent revisions come from the tail. Older ones: start at the nearest
    /// point at or above `to` that is known exactly — a sparse revision in
    /// sled (every [`STREAM_SPARSE_INTERVAL_REVISIONS`]th) or the head — and
    /// follow each record's link to the stream's previous event. A link to a
    /// record a scavenge dropped ends the walk: it and everything before it
    /// are gone for good.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn walk_stream(
        &self,
        pr: &mut PointReader<'_, '_>,
        stream: &str,
        head: Head,
        from: Revision,
        to: Revision,
        copy_events: bool,
        mut f: impl FnMut(Revision, Position, Loc, Option<RecordedEvent>),
    ) -> Result<()> {
        let (last, _) = head;
        let to = to.min(last);
        if from > to {
            return Ok(());
        }
        // Tail first (see `stream_head`).
        let (tail_first, from_tail) = {
            let tail = self.tail.read().unwrap();
            let first = tail.stream_first_rev(stream);
            let mut v = Vec::new();
            if let Some(fr) = first {
                for rev in from.max(fr)..=to {
                    match tail.stream_rev(stream, rev) {
                        Some(p) => v.push((rev, p)),
                        None => break,
                    }
                }
            }
            (first, v)
        };
        // Tail events are read through the same reader as the walk's.
        let emit_tail = |pr: &mut PointReader<'_, '_>,
                         f: &mut dyn FnMut(Revision, Position, Loc, Option<RecordedEvent>)|
         -> Result<()> {
            for &(r, p) in &from_tail {
                let loc = pr.log().locate(p)?.ok_or_else(|| missing(p))?;
                let e = match copy_events {
                    true => Some(pr.with_record(loc, |v| {
                        check_record(v, stream, r, p).map(|_| v.to_event())
                    })??),
                    false => None,
                };
                f(r, p, loc, e);
            }
            Ok(())
        };
        let upper = match tail_first {
            Some(fr) if fr <= from => return emit_tail(pr, &mut f),
            Some(fr) => (fr - 1).min(to),
            None => to,
        };
        // The nearest exactly known revision at or above `upper`.
        let sparse =
            upper.div_ceil(STREAM_SPARSE_INTERVAL_REVISIONS) * STREAM_SPARSE_INTERVAL_REVISIONS;
        let mut start = head;
        if sparse < last {
            let hit = match self.tail.read().unwrap().stream_rev(stream, sparse) {
                Some(p) => Some(p),
                None => self.index.stream_sparse_rev(stream, sparse)?,
            };
            if let Some(p) = hit {
                start = (sparse, p);
            }
        }
        // Walk back from `start` to `from`, keeping what is in range. Events
        // are copied out only when the caller wants them (reads), not when
        // it only needs locations (idempotency checks, temporal lookups).
        let mut found: Vec<(Revision, Position, Loc, Option<RecordedEvent>)> = Vec::new();
        let (mut rev, mut pos) = start;
        loop {
            let loc = match pr.log().find(pos)? {
                Found::At(loc) => loc,
                Found::Dropped => break,
                Found::Missing => return Err(missing(pos)),
            };
            let prev = pr.with_record_backwards(loc, |v| -> Result<Option<Position>> {
                check_record(v, stream, rev, pos)?;
                if rev <= upper {
                    found.push((rev, pos, loc, copy_events.then(|| v.to_event())));
                }
                Ok(v.prev)
            })??;
            if rev <= from {
                break;
            }
            let Some(p) = prev else {
                return Err(missing(pos));
            };
            pos = p;
            rev -= 1;
        }
        for (r, p, l, e) in found.into_iter().rev() {
            f(r, p, l, e);
        }
        emit_tail(pr, &mut f)
    }
}

/// The index pointed at something the log does not have.
pub(crate) fn missing(pos: u64) -> Error {
    Error::Corrupt {
        file: PathBuf::from("(index)"),
        offset: pos,
        reason: format!("position/revision {pos} not found where the index says it is"),
    }
}

/// Checks that the record the index led to is the event it promised.
pub(crate) fn check_record(
    v: &RecordView<'_>,
    stream: &str,
    rev: Revision,
    pos: Position,
) -> Result<()> {
    if v.stream != stream || v.revision != rev || v.position != pos {
        return Err(Error::Corrupt {
            file: PathBuf::from("(index)"),
            offset: pos,
            reason: format!(
                "index says {stream}@{rev} is at position {pos}, the log has {}@{} there",
                v.stream, v.revision
            ),
        });
    }
    Ok(())
}
