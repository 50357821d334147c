//! Planning one transaction on the writer thread: the optimistic
//! concurrency checks and idempotent-retry detection, against the current
//! stream heads (this group's, then the writer's cache, the tail, sled).
//!
//! A transaction is either written whole (each stream's first revision and
//! previous-event link decided here), recognised as a retry of one already
//! committed (the original results, nothing written), or refused; a
//! transaction that is partly new and partly a retry is refused as a
//! [`Error::PartialDuplicate`], never written in part.
//!
//! Not here: encoding and writing (`writer`).

use crate::error::{Error, Result};
use crate::lifecycle::{
    encode_state, metadata_stream, Lifecycle, StreamState, DELETED_EVENT_TYPE,
    LIFECYCLE_CONTENT_TYPE, METADATA_EVENT_TYPE, TOMBSTONE_EVENT_TYPE,
};
use crate::limits::HEAD_CACHE_STREAMS;
use crate::reader::PointReader;
use crate::request::Write;
use crate::shared::{Head, Shared};
use crate::types::*;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use uuid::Uuid;

/// Event ids of the most recent events, for idempotent `Any` retries.
#[derive(Debug, Default)]
pub(crate) struct DedupeWindow {
    by_id: HashMap<Uuid, Position>,
    order: VecDeque<Uuid>,
    capacity: usize,
}

impl DedupeWindow {
    /// A window of up to `capacity` ids. Nothing is reserved up front: a
    /// full window of the default 262,144 ids takes ~13 MiB, which a small
    /// or new store should not pay before it holds that many events.
    pub(crate) fn new(capacity: usize) -> Self {
        DedupeWindow {
            by_id: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn insert(&mut self, id: Uuid, pos: Position) {
        if self.capacity == 0 {
            return;
        }
        if self.by_id.insert(id, pos).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    fn get(&self, id: &Uuid) -> Option<Position> {
        self.by_id.get(id).copied()
    }
}

/// What the group planned so far changes: heads, event ids and stream
/// lifecycles not yet durable.
#[derive(Default)]
pub(crate) struct GroupState {
    pub heads: HashMap<String, Head>,
    pub ids: HashMap<Uuid, Position>,
    pub lifecycle: HashMap<String, Lifecycle>,
}

/// The decision for one transaction.
pub(crate) enum Plan {
    /// Write it; per append, the first revision and the position of the
    /// stream's previous event.
    Write(Vec<(Revision, Option<Position>)>),
    /// Already committed: the original results.
    Dedupe(Vec<AppendResult>),
}

/// The writer's view of stream heads and recent ids.
pub(crate) struct Planner {
    shared: Arc<Shared>,
    heads: HashMap<String, Head>,
    dedupe: DedupeWindow,
}

impl Planner {
    pub(crate) fn new(shared: Arc<Shared>, dedupe: DedupeWindow) -> Planner {
        Planner {
            shared,
            heads: HashMap::new(),
            dedupe,
        }
    }

    /// Makes a durable group's heads and ids the planner's own.
    pub(crate) fn committed(&mut self, g: GroupState) {
        for (id, pos) in g.ids {
            self.dedupe.insert(id, pos);
        }
        if self.heads.len() + g.heads.len() > HEAD_CACHE_STREAMS {
            self.heads.clear();
        }
        self.heads.extend(g.heads);
    }

    /// Current head of a stream, as of this group so far.
    fn current(&mut self, stream: &str, g: &GroupState) -> Result<Option<Head>> {
        if let Some(h) = g.heads.get(stream).or_else(|| self.heads.get(stream)) {
            return Ok(Some(*h));
        }
        let h = self.shared.stream_head(stream)?;
        if let Some(h) = h {
            if self.heads.len() >= HEAD_CACHE_STREAMS {
                self.heads.clear();
            }
            self.heads.insert(stream.to_owned(), h);
        }
        Ok(h)
    }

    /// A stream's lifecycle state as of this group so far.
    fn lifecycle(&self, stream: &str, g: &GroupState) -> Option<Arc<StreamState>> {
        match g.lifecycle.get(stream) {
            Some(l) => Some(l.state.clone()),
            None => self.shared.lifecycles.get(stream).map(|l| l.state),
        }
    }

    /// Checks a transaction against the heads as of `g`.
    ///
    /// A deleted stream (soft delete, nothing appended since) counts as
    /// absent for the checks, and its next revision continues after the
    /// last one ever written; a tombstoned one refuses every write.
    pub(crate) fn plan(&mut self, appends: &[StreamAppend], g: &GroupState) -> Result<Plan> {
        let mut first_revs = Vec::with_capacity(appends.len());
        let mut dedupes = Vec::new();
        for a in appends {
            let life = self.lifecycle(&a.stream, g);
            if life.as_ref().is_some_and(|l| l.tombstoned) {
                return Err(Error::StreamTombstoned {
                    stream: a.stream.clone(),
                    write: true,
                });
            }
            let cur = self.current(&a.stream, g)?;
            let last = cur.map(|c| c.0);
            let visible = match &life {
                Some(l) if l.is_deleted(last) => None,
                _ => last,
            };
            let actual = match visible {
                Some(r) => CurrentRevision::Current(r),
                None => CurrentRevision::NoStream,
            };
            let ok = match a.expected {
                ExpectedRevision::Any => true,
                ExpectedRevision::NoStream => visible.is_none(),
                ExpectedRevision::StreamExists => visible.is_some(),
                ExpectedRevision::Exact(r) => visible == Some(r),
            };
            // Idempotency: is this a retry of something already committed?
            // (A stream recreated after a delete starts at `deleted_before`.)
            let recreated_at = life.as_ref().and_then(|l| l.deleted_before).unwrap_or(0);
            let retry = match a.expected {
                ExpectedRevision::Exact(r) if !ok => self.committed_at(a, r + 1)?,
                ExpectedRevision::NoStream if !ok => self.committed_at(a, recreated_at)?,
                ExpectedRevision::Any | ExpectedRevision::StreamExists => {
                    self.committed_by_id(a, g)?
                }
                _ => None,
            };
            let next = match &life {
                Some(l) => l.next_revision(last),
                None => last.map_or(0, |l| l + 1),
            };
            match retry {
                Some(res) => dedupes.push(res),
                None if ok => first_revs.push((next, cur.map(|c| c.1))),
                None => {
                    return Err(Error::WrongExpectedRevision {
                        stream: a.stream.clone(),
                        expected: a.expected,
                        actual,
                    })
                }
            }
        }
        match (first_revs.is_empty(), dedupes.is_empty()) {
            (true, false) => Ok(Plan::Dedupe(dedupes)),
            (false, true) => Ok(Plan::Write(first_revs)),
            _ => Err(Error::PartialDuplicate {
                stream: appends[0].stream.clone(),
                event_id: appends[0].events[0].id,
            }),
        }
    }

    /// Turns a metadata change or a delete into the record that states the
    /// stream's new lifecycle, appended to `$$stream`: the append to plan
    /// and write, the stream, and its new state.
    pub(crate) fn plan_lifecycle(
        &mut self,
        write: Write,
        g: &GroupState,
    ) -> Result<(StreamAppend, String, StreamState)> {
        let stream = match &write {
            Write::SetMetadata { stream, .. } | Write::Delete { stream, .. } => stream.clone(),
            Write::Append(_) => return Err(Error::InvalidAppend("not a lifecycle change".into())),
        };
        let old = self.lifecycle(&stream, g).unwrap_or_default();
        if old.tombstoned {
            return Err(Error::StreamTombstoned {
                stream,
                write: true,
            });
        }
        let (meta_expected, event_type, new) = match write {
            Write::SetMetadata {
                expected, metadata, ..
            } => {
                let new = StreamState {
                    metadata,
                    ..StreamState::clone(&old)
                };
                (expected, METADATA_EVENT_TYPE, new)
            }
            Write::Delete {
                expected,
                tombstone,
                ..
            } => {
                let last = self.current(&stream, g)?.map(|c| c.0);
                let visible = if old.is_deleted(last) { None } else { last };
                let ok = match (expected, visible) {
                    (ExpectedRevision::Any, _) => true,
                    (_, None) => return Err(Error::StreamNotFound(stream)),
                    (ExpectedRevision::NoStream, Some(_)) => false,
                    (ExpectedRevision::StreamExists, Some(_)) => true,
                    (ExpectedRevision::Exact(r), Some(v)) => r == v,
                };
                if !ok {
                    return Err(Error::WrongExpectedRevision {
                        stream,
                        expected,
                        actual: visible.map_or(CurrentRevision::NoStream, CurrentRevision::Current),
                    });
                }
                let new = StreamState {
                    metadata: old.metadata.clone(),
                    deleted_before: Some(old.next_revision(last)),
                    tombstoned: tombstone,
                };
                let ty = if tombstone {
                    TOMBSTONE_EVENT_TYPE
                } else {
                    DELETED_EVENT_TYPE
                };
                (ExpectedRevision::Any, ty, new)
            }
            Write::Append(_) => unreachable!("refused above"),
        };
        let append = StreamAppend {
            stream: metadata_stream(&stream),
            expected: meta_expected,
            events: vec![NewEvent {
                id: Uuid::new_v4(),
                event_type: event_type.to_owned(),
                content_type: LIFECYCLE_CONTENT_TYPE.to_owned(),
                data: encode_state(&new),
                metadata: Vec::new(),
            }],
        };
        Ok((append, stream, new))
    }

    /// If the events of `a` are already the stream's events from revision
    /// `first` on (ids equal, in order), the original result.
    fn committed_at(&self, a: &StreamAppend, first: Revision) -> Result<Option<AppendResult>> {
        let last = first + a.events.len() as u64 - 1;
        let log = self.shared.reader();
        let locs = self.shared.stream_locs(&log, &a.stream, first, last)?;
        let mut pr = PointReader::new(&log);
        let mut matching = 0;
        for ((_, _, loc), e) in locs.iter().zip(&a.events) {
            if pr.with_record(*loc, |v| v.id == e.id)? {
                matching += 1;
            }
        }
        if matching == 0 {
            return Ok(None);
        }
        if matching < a.events.len() {
            // Some of these events are there, not all: not a clean retry.
            return Err(Error::PartialDuplicate {
                stream: a.stream.clone(),
                event_id: a.events[0].id,
            });
        }
        Ok(Some(AppendResult {
            first_revision: first,
            last_revision: last,
            first_position: locs[0].1,
            last_position: locs[locs.len() - 1].1,
            deduplicated: true,
        }))
    }

    /// Dedupe by id within the window: all ids found, consecutive in this
    /// stream → the original result; some found → a partial duplicate.
    fn committed_by_id(&self, a: &StreamAppend, g: &GroupState) -> Result<Option<AppendResult>> {
        let mut found = Vec::new();
        for e in &a.events {
            if g.ids.contains_key(&e.id) {
                return Err(Error::PartialDuplicate {
                    stream: a.stream.clone(),
                    event_id: e.id,
                });
            }
            if let Some(pos) = self.dedupe.get(&e.id) {
                found.push((e.id, pos));
            }
        }
        if found.is_empty() {
            return Ok(None);
        }
        let partial = || Error::PartialDuplicate {
            stream: a.stream.clone(),
            event_id: found[0].0,
        };
        if found.len() != a.events.len() {
            return Err(partial());
        }
        let log = self.shared.reader();
        let mut pr = PointReader::new(&log);
        let mut revs = Vec::new();
        for (i, (id, pos)) in found.iter().enumerate() {
            let Some(loc) = log.locate(*pos)? else {
                return Err(partial());
            };
            let (same, rev) =
                pr.with_record(loc, |v| (v.stream == a.stream && v.id == *id, v.revision))?;
            if !same || (i > 0 && rev != revs[i - 1] + 1) || (i > 0 && *pos != found[i - 1].1 + 1) {
                return Err(partial());
            }
            revs.push(rev);
        }
        Ok(Some(AppendResult {
            first_revision: revs[0],
            last_revision: revs[revs.len() - 1],
            first_position: found[0].1,
            last_position: found[found.len() - 1].1,
            deduplicated: true,
        }))
    }
}
