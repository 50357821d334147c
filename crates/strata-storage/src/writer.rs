//! The single writer: checks, encodes and group-commits transactions.
//!
//! One thread owns the active segment. It takes every request waiting in its
//! queue, checks each transaction against current stream revisions (its own
//! cache, the tail, then sled), encodes the accepted ones into one buffer,
//! writes it with one `pwrite` and makes it durable with one `fdatasync`.
//! Only then does it publish the new head, feed the tail and the dedupe
//! window, and reply. A failed fsync poisons the store: nothing after it is
//! acknowledged until a restart re-establishes the truth from the file.

use crate::codec::{encode_record, RecordFields};
use crate::error::{Error, Result};
use crate::limits::{MAX_GROUP_COMMIT_BYTES, MAX_UNINDEXED_EVENTS, RESERVE_AHEAD_BYTES};
use crate::notify::Committed;
use crate::reader::{LogReader, PointReader};
use crate::segment::{
    create_segment, release, reserve, segment_path, Segment, FIRST_RECORD_OFFSET,
};
use crate::store::Shared;
use crate::tail::{Loc, TailEntry};
use crate::types::*;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Called once with the outcome of a transaction, on the writer thread.
pub(crate) type Reply = Box<dyn FnOnce(Result<Vec<AppendResult>>) + Send>;

/// A transaction waiting for the writer.
pub(crate) struct Request {
    pub appends: Vec<StreamAppend>,
    /// Encoded size, from validation.
    pub bytes: usize,
    pub reply: Reply,
}

/// Streams whose heads the writer caches; past this the cache is cleared.
const HEAD_CACHE_STREAMS: usize = 200_000;

/// Event ids of the most recent events, for idempotent `Any` retries.
#[derive(Debug, Default)]
pub(crate) struct DedupeWindow {
    by_id: HashMap<Uuid, Position>,
    order: VecDeque<Uuid>,
    capacity: usize,
}

impl DedupeWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        DedupeWindow {
            by_id: HashMap::with_capacity(capacity.min(1 << 20)),
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

enum Plan {
    /// Write these; first revision per append.
    Write(Vec<(Revision, Option<Loc>)>),
    /// Already committed: the original results.
    Dedupe(Vec<AppendResult>),
}

pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub file: File,
    pub seg_base: Position,
    pub seg_len: u64,
    pub segment_max_bytes: u64,
    /// Blocks of the active segment are reserved up to this offset.
    pub reserved_to: u64,
    pub head: Position,
    pub last_ts: i64,
    pub heads: HashMap<String, (Revision, Position, Loc)>,
    pub dedupe: DedupeWindow,
    pub buf: Vec<u8>,
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Group-local state: what the requests planned so far in this group change.
#[derive(Default)]
struct Pending {
    heads: HashMap<String, (Revision, Position, Loc)>,
    ids: HashMap<Uuid, Position>,
    entries: Vec<(Position, TailEntry)>,
    replies: Vec<(Reply, Result<Vec<AppendResult>>)>,
}

impl Writer {
    /// The writer loop; returns when every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        let mut queue: VecDeque<Request> = VecDeque::new();
        while let Ok(first) = rx.recv() {
            queue.push_back(first);
            let mut bytes = 0usize;
            while bytes < MAX_GROUP_COMMIT_BYTES {
                match rx.try_recv() {
                    Ok(r) => {
                        bytes += r.bytes;
                        queue.push_back(r);
                    }
                    Err(_) => break,
                }
            }
            while !queue.is_empty() {
                self.commit_some(&mut queue);
            }
        }
        let _ = self.file.sync_all();
    }

    fn poisoned(&self) -> Option<String> {
        self.shared.poison.lock().unwrap().clone()
    }

    fn poison(&self, why: String) {
        tracing::error!(error = %why, "store poisoned: refusing further writes until restart");
        *self.shared.poison.lock().unwrap() = Some(why);
    }

    /// Waits while the indexer is too far behind (bounds tail memory).
    fn wait_for_index_room(&self) {
        loop {
            if self.shared.tail.read().unwrap().len() < MAX_UNINDEXED_EVENTS {
                return;
            }
            let g = self.shared.index_signal.lock().unwrap();
            let _ = self
                .shared
                .index_cv
                .wait_timeout(g, Duration::from_millis(10))
                .unwrap();
        }
    }

    /// Plans and commits requests from the front of the queue, as many as fit
    /// the active segment, with one write and one fdatasync.
    fn commit_some(&mut self, queue: &mut VecDeque<Request>) {
        if let Some(why) = self.poisoned() {
            for r in queue.drain(..) {
                (r.reply)(Err(Error::Poisoned(why.clone())));
            }
            return;
        }
        self.wait_for_index_room();
        let ts = now_micros().max(self.last_ts);
        let mut p = Pending::default();
        let mut next_pos = self.head + 1;
        self.buf.clear();
        let mut need_roll = false;
        while let Some(req) = queue.front() {
            let used = self.seg_len + self.buf.len() as u64;
            if used + req.bytes as u64 > self.segment_max_bytes && used > FIRST_RECORD_OFFSET {
                need_roll = true;
                break;
            }
            let req = queue.pop_front().expect("front exists");
            match self.plan(&req.appends, &p) {
                Err(e) => p.replies.push((req.reply, Err(e))),
                Ok(Plan::Dedupe(results)) => p.replies.push((req.reply, Ok(results))),
                Ok(Plan::Write(first_revs)) => {
                    let results = self.encode(&req.appends, &first_revs, &mut next_pos, ts, &mut p);
                    p.replies.push((req.reply, Ok(results)));
                }
            }
        }
        if !self.buf.is_empty() {
            let t0 = std::time::Instant::now();
            let synced = self.write_and_sync();
            let c = &self.shared.counters;
            c.sync_nanos.fetch_add(
                t0.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            if let Err(e) = synced {
                for (reply, _) in p.replies {
                    reply(Err(match &e {
                        Error::DiskFull(m) => Error::DiskFull(m.clone()),
                        Error::Poisoned(m) => Error::Poisoned(m.clone()),
                        other => Error::Poisoned(other.to_string()),
                    }));
                }
                return;
            }
            c.groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            c.events.fetch_add(
                next_pos - 1 - self.head,
                std::sync::atomic::Ordering::Relaxed,
            );
            c.transactions.fetch_add(
                p.replies
                    .iter()
                    .filter(|(_, r)| r.as_ref().is_ok_and(|v| v.iter().all(|a| !a.deduplicated)))
                    .count() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            self.head = next_pos - 1;
            self.last_ts = ts;
            self.seg_len += self.buf.len() as u64;
            // Order matters: the committed end first (so nothing in the tail
            // or sled is ever past it), then the tail, then wake-ups (so a
            // woken subscriber finds the events in the tail).
            self.shared.notifier.set(Committed {
                head: self.head,
                seg_base: self.seg_base,
                seg_len: self.seg_len,
            });
            {
                let mut tail = self.shared.tail.write().unwrap();
                for (pos, e) in p.entries {
                    tail.push(pos, e);
                }
            }
            for (id, pos) in p.ids {
                self.dedupe.insert(id, pos);
            }
            if self.heads.len() + p.heads.len() > HEAD_CACHE_STREAMS {
                self.heads.clear();
            }
            self.heads.extend(p.heads);
            self.shared.notifier.notify();
            {
                let _g = self.shared.index_signal.lock().unwrap();
                self.shared.index_cv.notify_all();
            }
        }
        for (reply, result) in p.replies {
            reply(result);
        }
        if need_roll {
            if let Err(e) = self.roll() {
                self.poison(format!("could not create a new segment: {e}"));
            }
        }
    }

    fn write_and_sync(&mut self) -> Result<()> {
        let end = self.seg_len + self.buf.len() as u64;
        if end > self.reserved_to {
            // Best effort: if it fails (no space, unsupported) the write
            // below is what decides, and we try again past `reserved_to`.
            let to = (end + RESERVE_AHEAD_BYTES)
                .min(self.segment_max_bytes)
                .max(end);
            let from = self.reserved_to.max(self.seg_len);
            let _ = reserve(&self.file, from, to - from);
            self.reserved_to = to;
        }
        if let Err(e) = self.file.write_all_at(&self.buf, self.seg_len) {
            // ENOSPC, EDQUOT: put the file back as it was; if that works,
            // nothing was lost and the store stays usable (space may return).
            let full = matches!(e.raw_os_error(), Some(28) | Some(122));
            let restored = self
                .file
                .set_len(self.seg_len)
                .and_then(|_| self.file.sync_all())
                .is_ok();
            if full && restored {
                tracing::warn!(error = %e, "disk full: append rejected, nothing written");
                return Err(Error::DiskFull(e.to_string()));
            }
            let why = format!("write failed: {e}");
            self.poison(why.clone());
            return Err(Error::Poisoned(why));
        }
        if let Err(e) = self.file.sync_data() {
            let why = format!("fdatasync failed: {e}");
            self.poison(why.clone());
            return Err(Error::Poisoned(why));
        }
        Ok(())
    }

    fn roll(&mut self) -> Result<()> {
        // The sealed segment keeps no reserved blocks past its end.
        if self.reserved_to > self.seg_len {
            let _ = release(&self.file, self.seg_len, self.reserved_to - self.seg_len);
            let _ = self.file.sync_all();
        }
        self.reserved_to = 0;
        let base = self.head + 1;
        let dir = self.shared.log_dir.clone();
        let file = create_segment(&dir, base)?;
        self.shared
            .segments
            .push(Segment::open(base, segment_path(&dir, base))?);
        self.file = file;
        self.seg_base = base;
        self.seg_len = FIRST_RECORD_OFFSET;
        self.shared.notifier.publish(Committed {
            head: self.head,
            seg_base: base,
            seg_len: self.seg_len,
        });
        tracing::info!(base, "rolled to a new segment");
        Ok(())
    }

    /// Current head of a stream, as of this group so far.
    fn current(&mut self, stream: &str, p: &Pending) -> Result<Option<(Revision, Position, Loc)>> {
        if let Some(h) = p.heads.get(stream) {
            return Ok(Some(*h));
        }
        if let Some(h) = self.heads.get(stream) {
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

    fn plan(&mut self, appends: &[StreamAppend], p: &Pending) -> Result<Plan> {
        let mut first_revs = Vec::with_capacity(appends.len());
        let mut dedupes = Vec::new();
        for a in appends {
            let cur = self.current(&a.stream, p)?;
            let actual = match cur {
                Some((r, _, _)) => CurrentRevision::Current(r),
                None => CurrentRevision::NoStream,
            };
            let ok = match a.expected {
                ExpectedRevision::Any => true,
                ExpectedRevision::NoStream => cur.is_none(),
                ExpectedRevision::StreamExists => cur.is_some(),
                ExpectedRevision::Exact(r) => cur.map(|c| c.0) == Some(r),
            };
            let conflict = || Error::WrongExpectedRevision {
                stream: a.stream.clone(),
                expected: a.expected,
                actual,
            };
            // Idempotency: is this a retry of something already committed?
            let retry = match a.expected {
                ExpectedRevision::Exact(r) if !ok => self.committed_at(a, r + 1)?,
                ExpectedRevision::NoStream if !ok => self.committed_at(a, 0)?,
                ExpectedRevision::Any | ExpectedRevision::StreamExists => {
                    self.committed_by_id(a, p)?
                }
                _ => None,
            };
            match retry {
                Some(res) => dedupes.push(res),
                None if ok => {
                    first_revs.push((cur.map(|c| c.0 + 1).unwrap_or(0), cur.map(|c| c.2)))
                }
                None => return Err(conflict()),
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

    fn reader(&self) -> LogReader<'_> {
        self.shared.reader()
    }

    /// If the events of `a` are already the stream's events from revision
    /// `first` on (ids equal, in order), the original result.
    fn committed_at(&self, a: &StreamAppend, first: Revision) -> Result<Option<AppendResult>> {
        let last = first + a.events.len() as u64 - 1;
        let log = self.reader();
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
    fn committed_by_id(&self, a: &StreamAppend, p: &Pending) -> Result<Option<AppendResult>> {
        let mut found = Vec::new();
        for e in &a.events {
            if p.ids.contains_key(&e.id) {
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
        let log = self.reader();
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

    /// Encodes one accepted transaction into the group buffer.
    fn encode(
        &mut self,
        appends: &[StreamAppend],
        first_revs: &[(Revision, Option<Loc>)],
        next_pos: &mut Position,
        ts: i64,
        p: &mut Pending,
    ) -> Vec<AppendResult> {
        let count: usize = appends.iter().map(|a| a.events.len()).sum();
        let mut index = 0u32;
        let mut results = Vec::with_capacity(appends.len());
        let commit_first = self.head + 1;
        for (a, &(first_rev, prev_loc)) in appends.iter().zip(first_revs) {
            let stream: Arc<str> = Arc::from(a.stream.as_str());
            let first_pos = *next_pos;
            let mut prev = prev_loc;
            for (i, e) in a.events.iter().enumerate() {
                let pos = *next_pos;
                let rev = first_rev + i as u64;
                let offset = self.seg_len + self.buf.len() as u64;
                let loc = Loc {
                    seg: self.seg_base,
                    offset: offset as u32,
                };
                encode_record(
                    &RecordFields {
                        batch_index: index,
                        batch_count: count as u32,
                        position: pos,
                        revision: rev,
                        created_micros: ts,
                        id: e.id,
                        commit_first,
                        prev: prev.map(|l| (l.seg, l.offset)),
                        stream: &a.stream,
                        event_type: &e.event_type,
                        content_type: &e.content_type,
                        data: &e.data,
                        metadata: &e.metadata,
                    },
                    &mut self.buf,
                );
                p.entries.push((
                    pos,
                    TailEntry {
                        stream: stream.clone(),
                        revision: rev,
                        loc,
                        created_micros: ts,
                    },
                ));
                prev = Some(loc);
                p.ids.insert(e.id, pos);
                index += 1;
                *next_pos += 1;
            }
            let last_rev = first_rev + a.events.len() as u64 - 1;
            p.heads.insert(
                a.stream.clone(),
                (last_rev, *next_pos - 1, prev.expect("at least one event")),
            );
            results.push(AppendResult {
                first_revision: first_rev,
                last_revision: last_rev,
                first_position: first_pos,
                last_position: *next_pos - 1,
                deduplicated: false,
            });
        }
        results
    }
}
