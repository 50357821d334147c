//! The single writer: encodes and group-commits transactions.
//!
//! One thread owns the active segment. It takes every request waiting in its
//! queue, has each transaction planned (`plan`: checks and retries), encodes
//! the accepted ones into one buffer, writes it with one `pwrite` and makes
//! it durable with one `fdatasync`. Only then does it publish the new head,
//! feed the tail and the planner, and reply. A failed fsync poisons the
//! store: nothing after it is acknowledged until a restart re-establishes
//! the truth from the file — and the writer first records the durable end
//! it knows (`durable_end`), so that the restart cuts what a failed fsync
//! left only in the page cache. A full disk is undone by truncation and
//! refused without poisoning, since nothing was lost; so is a full disk at
//! a segment roll-over (`roll`), which is tried again at the next commit.
//!
//! Not here: the checks (`plan`), the record bytes (`codec`), segment file
//! creation (`segment`), a roll-over's files (`roll`).

use crate::codec::{encode_record, RecordFields};
use crate::durable_end::{write_marker, DurableEnd};
use crate::error::{Error, Result};
use crate::lifecycle::Lifecycle;
use crate::limits::{
    MAX_GROUP_COMMIT_BYTES, MAX_UNINDEXED_EVENTS, RESERVE_AHEAD_BYTES, WRITER_INDEX_ROOM_WAIT,
};
use crate::notify::Committed;
use crate::plan::{GroupState, Plan, Planner};
use crate::posmap::PosMap;
use crate::request::{CommitTiming, Op, Reply, Request, Write};
use crate::roll;
use crate::segment::{release, reserve, segment_path, FIRST_RECORD_OFFSET};
use crate::segments::Segment;
use crate::shared::Shared;
use crate::tail::TailEntry;
use crate::types::*;
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Instant;

/// Where the log ends when the writer starts.
pub(crate) struct LogEnd {
    /// The active segment, open for writing.
    pub file: File,
    pub seg_base: Position,
    pub seg_len: u64,
    pub head: Position,
    pub last_created_micros: i64,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    planner: Planner,
    file: File,
    seg_base: Position,
    seg_len: u64,
    segment_max_bytes: u64,
    /// Blocks of the active segment are reserved up to this offset.
    reserved_to: u64,
    head: Position,
    last_ts: i64,
    buf: Vec<u8>,
}

/// One group commit in the making.
#[derive(Default)]
struct Group {
    state: GroupState,
    entries: Vec<(Position, TailEntry)>,
    /// Byte offset of each new record, in position order.
    offsets: Vec<u32>,
    /// Each request's callback, outcome and queueing time.
    replies: Vec<(Reply, Result<Vec<AppendResult>>, Instant)>,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        planner: Planner,
        end: LogEnd,
        segment_max_bytes: u64,
    ) -> Writer {
        Writer {
            shared,
            planner,
            file: end.file,
            seg_base: end.seg_base,
            seg_len: end.seg_len,
            segment_max_bytes,
            reserved_to: 0,
            head: end.head,
            last_ts: end.last_created_micros,
            buf: Vec::with_capacity(1 << 20),
        }
    }

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
            self.shared
                .queue_depth
                .fetch_sub(queue.len() as u64, Ordering::Relaxed);
            while !queue.is_empty() {
                self.commit_some(&mut queue);
            }
        }
        let _ = self.file.sync_all();
    }

    /// Refuses every later write until a restart, after an I/O failure.
    /// First records where the durable log ends (best effort), so that the
    /// next open cuts what a failed fsync may have left only in the page
    /// cache (`durable_end`).
    fn poison(&self, why: String) {
        let end = DurableEnd {
            segment_base: self.seg_base,
            segment_len: self.seg_len,
            head: self.head,
        };
        if let Err(e) = write_marker(&self.shared.log_dir, &end) {
            tracing::error!(
                error = %e,
                "could not record the durable end of the log; the next open rewrites its last group instead"
            );
        }
        tracing::error!(error = %why, "store poisoned: refusing further writes until restart");
        *self.shared.poison.lock().unwrap() = Some(why);
    }

    /// Waits while the indexer is too far behind (bounds tail memory).
    fn wait_for_index_room(&self) {
        while self.shared.tail.read().unwrap().len() >= MAX_UNINDEXED_EVENTS {
            let g = self.shared.index_signal.lock().unwrap();
            let _ = self
                .shared
                .index_cv
                .wait_timeout(g, WRITER_INDEX_ROOM_WAIT)
                .unwrap();
        }
    }

    /// Plans and commits requests from the front of the queue, as many as fit
    /// the active segment, with one write and one fdatasync.
    fn commit_some(&mut self, queue: &mut VecDeque<Request>) {
        if let Some(why) = self.shared.poisoned() {
            for r in queue.drain(..) {
                (r.reply)(Err(Error::Poisoned(why.clone())), None);
            }
            return;
        }
        self.wait_for_index_room();
        let started = Instant::now();
        let ts = crate::clock::now_micros().max(self.last_ts);
        let mut g = Group::default();
        let mut next_pos = self.head + 1;
        self.buf.clear();
        let mut need_roll = false;
        // The front request waits for the next segment (it does not fit).
        let mut front_waits = false;
        let mut seal_replies: Vec<Reply> = Vec::new();
        while let Some(req) = queue.front() {
            let used = self.seg_len + self.buf.len() as u64;
            if used + req.bytes as u64 > self.segment_max_bytes && used > FIRST_RECORD_OFFSET {
                need_roll = true;
                front_waits = true;
                break;
            }
            let req = queue.pop_front().expect("front exists");
            if let Op::Seal = req.op {
                // Seal after this group; a segment with nothing in it is
                // already as sealed as it needs to be.
                need_roll = self.seg_len + (self.buf.len() as u64) > FIRST_RECORD_OFFSET;
                seal_replies.push(req.reply);
                break;
            }
            let result = self.apply(req.op, &mut next_pos, ts, &mut g);
            g.replies.push((req.reply, result, req.enqueued));
        }
        let mut timing = None;
        if !self.buf.is_empty() {
            let t0 = Instant::now();
            let written = match self.write_and_sync() {
                Ok(w) => w,
                Err(e) => {
                    let replies = g.replies.into_iter().map(|(r, _, _)| r);
                    for reply in replies.chain(seal_replies) {
                        let e = match &e {
                            Error::DiskFull(m) => Error::DiskFull(m.clone()),
                            Error::Poisoned(m) => Error::Poisoned(m.clone()),
                            other => Error::Poisoned(other.to_string()),
                        };
                        reply(Err(e), None);
                    }
                    return;
                }
            };
            timing = Some((written, Instant::now()));
            let written = g
                .replies
                .iter()
                .filter(|(_, r, _)| r.as_ref().is_ok_and(|v| v.iter().all(|a| !a.deduplicated)))
                .count() as u64;
            self.shared.counters.group(
                written,
                next_pos - 1 - self.head,
                self.buf.len() as u64,
                t0.elapsed().as_nanos() as u64,
            );
            self.shared.disk_full.store(false, Ordering::Relaxed);
            self.head = next_pos - 1;
            self.last_ts = ts;
            self.seg_len += self.buf.len() as u64;
            self.publish(&mut g);
        }
        for (reply, result, enqueued) in g.replies {
            let timing = timing.map(|(written, synced)| CommitTiming {
                enqueued,
                started,
                written,
                synced,
            });
            reply(result, timing);
        }
        let mut no_room = None;
        if need_roll {
            match self.roll() {
                Ok(()) => self.shared.disk_full.store(false, Ordering::Relaxed),
                Err(Error::DiskFull(why)) => {
                    // Nothing changed: refuse what needed the next segment
                    // (so the writer does not spin on it) and roll again at
                    // the next commit that needs it.
                    tracing::warn!(error = %why, "disk full at a segment roll-over: append rejected, nothing written");
                    self.shared.disk_full.store(true, Ordering::Relaxed);
                    if front_waits {
                        if let Some(req) = queue.pop_front() {
                            (req.reply)(Err(Error::DiskFull(why.clone())), None);
                        }
                    }
                    no_room = Some(why);
                }
                Err(e) => self.poison(format!("could not create a new segment: {e}")),
            }
        }
        for reply in seal_replies {
            let r = match (self.shared.poisoned(), &no_room) {
                (Some(why), _) => Err(Error::Poisoned(why)),
                (None, Some(why)) => Err(Error::DiskFull(why.clone())),
                (None, None) => Ok(Vec::new()),
            };
            reply(r, None);
        }
    }

    /// Plans one request and, if accepted, encodes it into the group.
    fn apply(
        &mut self,
        op: Op,
        next_pos: &mut Position,
        ts: i64,
        g: &mut Group,
    ) -> Result<Vec<AppendResult>> {
        let (appends, lifecycle) = match op {
            Op::Write(Write::Append(a)) | Op::System(Write::Append(a)) => (a, None),
            Op::Write(w) | Op::System(w) => {
                let (append, stream, state) = self.planner.plan_lifecycle(w, &g.state)?;
                (vec![append], Some((stream, state)))
            }
            Op::Seal => unreachable!("seals are handled by commit_some"),
        };
        let results = match self.planner.plan(&appends, &g.state)? {
            Plan::Dedupe(results) => results,
            Plan::Write(first_revs) => self.encode(&appends, &first_revs, next_pos, ts, g),
        };
        if let (Some((stream, state)), Some(r)) = (lifecycle, results.first()) {
            g.state.lifecycle.insert(
                stream,
                Lifecycle {
                    metadata_revision: r.first_revision,
                    state: Arc::new(state),
                },
            );
        }
        Ok(results)
    }

    /// Makes a durable group visible. Order matters: the committed end first
    /// (so nothing in the tail or sled is ever past it), then the tail, then
    /// wake-ups (so a woken subscriber finds the events in the tail).
    fn publish(&mut self, g: &mut Group) {
        if let Some(active) = self.shared.segments.last() {
            active.map.extend(&g.offsets);
        }
        self.shared.notifier.set(Committed {
            head: self.head,
            seg_base: self.seg_base,
            seg_len: self.seg_len,
        });
        {
            let mut tail = self.shared.tail.write().unwrap();
            for (pos, e) in g.entries.drain(..) {
                tail.push(pos, e);
            }
        }
        let mut state = std::mem::take(&mut g.state);
        self.shared
            .lifecycles
            .set_all(std::mem::take(&mut state.lifecycle));
        self.planner.committed(state);
        self.shared.notifier.notify();
        self.shared.wake_indexer();
    }

    /// Writes the group and fdatasyncs it; returns when the write ended.
    fn write_and_sync(&mut self) -> Result<Instant> {
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
            // Out of space or quota: put the file back as it was; if that
            // works, nothing was lost and the store stays usable (space may
            // return).
            let full = matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT));
            let restored = self
                .file
                .set_len(self.seg_len)
                .and_then(|_| self.file.sync_all())
                .is_ok();
            if full && restored {
                tracing::warn!(error = %e, "disk full: append rejected, nothing written");
                self.shared.disk_full.store(true, Ordering::Relaxed);
                return Err(Error::DiskFull(e.to_string()));
            }
            let why = format!("write failed: {e}");
            self.poison(why.clone());
            return Err(Error::Poisoned(why));
        }
        let written = Instant::now();
        if let Err(e) = self.file.sync_data() {
            let why = format!("fdatasync failed: {e}");
            self.poison(why.clone());
            return Err(Error::Poisoned(why));
        }
        Ok(written)
    }

    /// Seals the active segment (its map written) and moves to the next
    /// one. The new state is swapped in only once both files exist; on
    /// `DiskFull` the writer stays on the old segment, unchanged.
    fn roll(&mut self) -> Result<()> {
        // The sealed segment keeps no reserved blocks past its end.
        if self.reserved_to > self.seg_len {
            let _ = release(&self.file, self.seg_len, self.reserved_to - self.seg_len);
            let _ = self.file.sync_all();
        }
        self.reserved_to = 0;
        let dir = self.shared.log_dir.clone();
        // Seal: its map goes to disk before the next segment exists, so a
        // sealed segment without a map is only ever the result of a crash
        // here (and recovery rebuilds it).
        let sealed = self.shared.segments.last().expect("an active segment");
        let offsets = sealed.map.active_offsets().unwrap_or_default();
        let base = self.head + 1;
        let next = roll::prepare(&dir, self.seg_base, self.seg_len, &offsets, base)?;
        let sealed = Segment::open(self.seg_base, 0, sealed.path.clone(), next.map)?;
        let active = Segment::open(
            base,
            0,
            segment_path(&dir, base),
            PosMap::Active(Default::default()),
        )?;
        self.shared.segments.replace(sealed);
        self.shared.segments.push(active);
        self.file = next.file;
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

    /// Encodes one accepted transaction into the group buffer.
    fn encode(
        &mut self,
        appends: &[StreamAppend],
        first_revs: &[(Revision, Option<Position>)],
        next_pos: &mut Position,
        ts: i64,
        g: &mut Group,
    ) -> Vec<AppendResult> {
        let count: usize = appends.iter().map(|a| a.events.len()).sum();
        let mut index = 0u32;
        let mut results = Vec::with_capacity(appends.len());
        let commit_first = self.head + 1;
        for (a, &(first_rev, prev_pos)) in appends.iter().zip(first_revs) {
            let stream: Arc<str> = Arc::from(a.stream.as_str());
            let first_pos = *next_pos;
            let mut prev = prev_pos;
            // One allocation per run of events of the same type.
            let mut event_type: Option<Arc<str>> = None;
            for (i, e) in a.events.iter().enumerate() {
                let pos = *next_pos;
                let rev = first_rev + i as u64;
                g.offsets
                    .push((self.seg_len + self.buf.len() as u64) as u32);
                encode_record(
                    &RecordFields {
                        batch_index: index,
                        batch_count: count as u32,
                        position: pos,
                        revision: rev,
                        created_micros: ts,
                        id: e.id,
                        commit_first,
                        prev,
                        stream: &a.stream,
                        event_type: &e.event_type,
                        content_type: &e.content_type,
                        data: &e.data,
                        metadata: &e.metadata,
                    },
                    &mut self.buf,
                );
                let ty = match &event_type {
                    Some(t) if **t == *e.event_type => t.clone(),
                    _ => Arc::from(e.event_type.as_str()),
                };
                event_type = Some(ty.clone());
                g.entries.push((
                    pos,
                    TailEntry {
                        stream: stream.clone(),
                        event_type: ty,
                        revision: rev,
                    },
                ));
                prev = Some(pos);
                g.state.ids.insert(e.id, pos);
                index += 1;
                *next_pos += 1;
            }
            let last_rev = first_rev + a.events.len() as u64 - 1;
            let head = (last_rev, *next_pos - 1);
            g.state.heads.insert(a.stream.clone(), head);
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
