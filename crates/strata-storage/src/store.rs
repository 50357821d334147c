//! The façade: [`Store`] opens a data directory, runs the writer and indexer
//! threads, and serves reads. It is cheap to clone and safe to share.
//!
//! Data directory layout:
//! ```text
//! <data-dir>/LOCK        exclusive lock held while open
//! <data-dir>/log/*.seg   the log (source of truth)
//! <data-dir>/index/      sled stream index (derived; may be deleted)
//! ```

use crate::codec::RecordView;
use crate::error::{Error, Result};
use crate::index::{Index, IndexEntry};
use crate::limits::*;
use crate::notify::{CommitListener, Committed, Notifier};
use crate::reader::{LogReader, PointReader};
use crate::recovery::recover;
use crate::segment::{fsync_dir, Segment, Segments, LOG_DIR};
use crate::snapshot::{Snapshot, SnapshotStore, MAX_SNAPSHOT_BYTES};
use crate::tail::{Loc, Tail};
use crate::types::*;
use crate::validate::{validate_stream_name, validate_transaction};
use crate::writer::{DedupeWindow, Request, Writer};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// Most `$all` records one read call examines before returning a page, so a
/// filter that rarely matches cannot hold a reader for the whole log.
pub const MAX_SCAN_EVENTS_PER_READ: usize = 65_536;
/// Requests that may queue for the writer before `submit` blocks and
/// `try_submit` refuses.
pub const WRITER_QUEUE_REQUESTS: usize = 16_384;

/// How to open a store.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest segment file, in bytes, between [`MIN_SEGMENT_MAX_BYTES`] and
    /// [`MAX_SEGMENT_MAX_BYTES`]. Default [`DEFAULT_SEGMENT_MAX_BYTES`].
    pub segment_max_bytes: u64,
    /// Events remembered by id for idempotent retries with `Any`.
    pub dedupe_window_events: usize,
    /// Snapshots kept per stream; older ones are dropped on save.
    pub snapshots_per_stream: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_max_bytes: DEFAULT_SEGMENT_MAX_BYTES,
            dedupe_window_events: DEFAULT_DEDUPE_WINDOW_EVENTS,
            snapshots_per_stream: crate::snapshot::DEFAULT_SNAPSHOTS_PER_STREAM,
        }
    }
}

/// Facts about an open store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// Last committed global position = number of events.
    pub head: Position,
    /// Highest position in the sled index.
    pub indexed_through: Position,
    /// Number of streams.
    pub streams: u64,
    /// Number of segment files.
    pub segments: u64,
    /// Bytes of all segment files.
    pub log_bytes: u64,
    /// Bytes the index uses on disk.
    pub index_bytes: u64,
    /// Snapshots stored.
    pub snapshots: u64,
    /// Bytes of stored snapshots.
    pub snapshot_bytes: u64,
}

/// What opening found, for the startup log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenReport {
    /// Last committed position after recovery.
    pub head: Position,
    /// Bytes cut off a torn tail.
    pub truncated_bytes: u64,
    /// Position the index had reached before catching up.
    pub index_was_at: Position,
}

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
    pub index_signal: Mutex<IndexSignal>,
    pub index_cv: Condvar,
    pub indexed: AtomicU64,
    pub counters: WriterCounters,
}

/// Cumulative counters of the writer, for benchmarks and monitoring.
#[derive(Debug, Default)]
pub(crate) struct WriterCounters {
    pub groups: AtomicU64,
    pub transactions: AtomicU64,
    pub events: AtomicU64,
    pub sync_nanos: AtomicU64,
}

/// A snapshot of the writer's counters since open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Group commits (one write + one fdatasync each).
    pub groups: u64,
    /// Transactions written.
    pub transactions: u64,
    /// Events written.
    pub events: u64,
    /// Total time spent in write + fdatasync, in nanoseconds.
    pub sync_nanos: u64,
}

impl Shared {
    pub(crate) fn reader(&self) -> LogReader<'_> {
        LogReader {
            segments: &self.segments,
            index: &self.index,
            tail: &self.tail,
            notifier: &self.notifier,
            committed: self.notifier.committed(),
        }
    }

    /// Last revision, position and location of a stream (tail first, then
    /// sled: the indexer writes sled before pruning the tail, so this never
    /// misses a committed event).
    pub(crate) fn stream_head(&self, stream: &str) -> Result<Option<(Revision, Position, Loc)>> {
        if let Some(h) = self.tail.read().unwrap().stream_head(stream, Position::MAX) {
            return Ok(Some(h));
        }
        Ok(self.index.stream_head(stream)?)
    }

    /// Locations of revisions `from..=to` of a stream, ascending; revisions
    /// past the stream's end are left out.
    ///
    /// Recent revisions come from the tail. Older ones: start at the nearest
    /// point at or above `to` that is known exactly — a sparse revision in
    /// sled (every [`STREAM_SPARSE_INTERVAL_REVISIONS`]th) or the stream's
    /// head — and follow each record's link to the stream's previous event.
    pub(crate) fn stream_locs(
        &self,
        log: &LogReader<'_>,
        stream: &str,
        from: Revision,
        to: Revision,
    ) -> Result<Vec<(Revision, Position, Loc)>> {
        let mut out = Vec::new();
        self.walk_stream(log, stream, from, to, false, |rev, pos, loc, _| {
            out.push((rev, pos, loc))
        })?;
        Ok(out)
    }

    /// Calls `f` for revisions `from..=to` of a stream in ascending order
    /// with (revision, position, location, the event if the walk read it).
    pub(crate) fn walk_stream(
        &self,
        log: &LogReader<'_>,
        stream: &str,
        from: Revision,
        to: Revision,
        copy_events: bool,
        mut f: impl FnMut(Revision, Position, Loc, Option<RecordedEvent>),
    ) -> Result<()> {
        let Some((last, last_pos, last_loc)) = self.stream_head(stream)? else {
            return Ok(());
        };
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
                        Some((p, l)) => v.push((rev, p, l)),
                        None => break,
                    }
                }
            }
            (first, v)
        };
        let upper = match tail_first {
            Some(fr) if fr <= from => {
                for (r, p, l) in from_tail {
                    f(r, p, l, None);
                }
                return Ok(());
            }
            Some(fr) => (fr - 1).min(to),
            None => to,
        };
        // The nearest exactly known revision at or above `upper`.
        let sparse =
            upper.div_ceil(STREAM_SPARSE_INTERVAL_REVISIONS) * STREAM_SPARSE_INTERVAL_REVISIONS;
        let mut start = (last, last_pos, last_loc);
        if sparse < last {
            let hit = match self.tail.read().unwrap().stream_rev(stream, sparse) {
                Some((p, l)) => Some((p, l)),
                None => self.index.stream_sparse_rev(stream, sparse)?,
            };
            if let Some((p, l)) = hit {
                start = (sparse, p, l);
            }
        }
        // Walk back from `start` to `from`, keeping what is in range.
        // Events are copied out only when the caller wants them (reads), not
        // when it only needs locations (idempotency checks, temporal lookups).
        let mut found: Vec<(Revision, Position, Loc, Option<RecordedEvent>)> = Vec::new();
        let mut pr = PointReader::new(log);
        let mut loc = start.2;
        let mut rev = start.0;
        loop {
            let prev =
                pr.with_record_backwards(loc, |v| -> Result<Option<(Position, u32)>> {
                    check_record(v, stream, rev, v.position)?;
                    if rev <= upper {
                        found.push((rev, v.position, loc, copy_events.then(|| v.to_event())));
                    }
                    Ok(v.prev)
                })??;
            if rev <= from {
                break;
            }
            let Some((seg, offset)) = prev else {
                return Err(missing(rev - 1));
            };
            loc = Loc { seg, offset };
            rev -= 1;
        }
        for (r, p, l, e) in found.into_iter().rev() {
            f(r, p, l, e);
        }
        for (r, p, l) in from_tail {
            f(r, p, l, None);
        }
        Ok(())
    }
}

struct Inner {
    shared: Arc<Shared>,
    tx: RwLock<Option<SyncSender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    indexer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    snapshots: SnapshotStore,
    report: OpenReport,
    _lock: File,
}

/// An open event store. Clones share one store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("log_dir", &self.inner.shared.log_dir)
            .field("head", &self.head())
            .finish()
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Io(e)),
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: locks it, recovers the
    /// log, brings the index up to date, and starts the writer and indexer.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let dir = dir.as_ref();
        if !(MIN_SEGMENT_MAX_BYTES..=MAX_SEGMENT_MAX_BYTES).contains(&opts.segment_max_bytes) {
            return Err(Error::Config(format!(
                "segment size {} bytes is outside {MIN_SEGMENT_MAX_BYTES}..={MAX_SEGMENT_MAX_BYTES}",
                opts.segment_max_bytes
            )));
        }
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
        }
        let lock = lock_dir(dir)?;
        let log_dir = dir.join(LOG_DIR);
        if !log_dir.exists() {
            std::fs::create_dir(&log_dir)?;
            fsync_dir(dir)?;
        }
        let rec = recover(&log_dir)?;
        let segments = Segments::default();
        for (base, path) in &rec.segments {
            segments.push(Segment::open(*base, path.clone())?);
        }
        let (active_base, active_path) = rec
            .segments
            .last()
            .cloned()
            .expect("recovery leaves a segment");
        let committed = Committed {
            head: rec.head,
            seg_base: active_base,
            seg_len: rec.active_len,
        };

        let index = Index::open(&dir.join("index"))?;
        let mut indexed = index.indexed_through()?;
        if indexed > rec.head {
            tracing::warn!(
                indexed,
                head = rec.head,
                "index is ahead of the log; rebuilding it"
            );
            index.clear()?;
            indexed = 0;
        }
        let shared = Arc::new(Shared {
            log_dir: log_dir.clone(),
            segments,
            index,
            tail: RwLock::new(Tail::new(rec.head + 1)),
            notifier: Notifier::new(committed),
            poison: Mutex::new(None),
            index_signal: Mutex::new(IndexSignal::default()),
            index_cv: Condvar::new(),
            indexed: AtomicU64::new(indexed),
            counters: WriterCounters::default(),
        });
        let index_was_at = indexed;
        catch_up_index(&shared, indexed)?;
        shared.indexed.store(rec.head, Ordering::Release);

        let mut dedupe = DedupeWindow::new(opts.dedupe_window_events);
        if opts.dedupe_window_events > 0 && rec.head > 0 {
            let from = rec
                .head
                .saturating_sub(opts.dedupe_window_events as u64 - 1)
                .max(1);
            let log = shared.reader();
            if let Some(loc) = log.locate(from)? {
                log.scan_forward(loc, |v, _| {
                    dedupe.insert(v.id, v.position);
                    ControlFlow::Continue(())
                })?;
            }
        }

        let snapshots = SnapshotStore::open(&dir.join("snapshots"), opts.snapshots_per_stream)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&active_path)?;
        let writer = Writer {
            shared: shared.clone(),
            file,
            seg_base: active_base,
            seg_len: rec.active_len,
            segment_max_bytes: opts.segment_max_bytes,
            reserved_to: 0,
            head: rec.head,
            last_ts: rec.last_created_micros,
            heads: HashMap::new(),
            dedupe,
            buf: Vec::with_capacity(1 << 20),
        };
        let (tx, rx) = sync_channel(WRITER_QUEUE_REQUESTS);
        let writer = std::thread::Builder::new()
            .name("strata-writer".into())
            .spawn(move || writer.run(rx))?;
        let sh = shared.clone();
        let indexer = std::thread::Builder::new()
            .name("strata-indexer".into())
            .spawn(move || run_indexer(&sh))?;
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
                tx: RwLock::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                indexer: Mutex::new(Some(indexer)),
                closed: AtomicBool::new(false),
                snapshots,
                report: OpenReport {
                    head: rec.head,
                    truncated_bytes: rec.truncated_bytes,
                    index_was_at,
                },
                _lock: lock,
            }),
        })
    }

    /// What opening found (head, bytes truncated, index position before catch-up).
    pub fn open_report(&self) -> OpenReport {
        self.inner.report
    }

    /// Submits a transaction; `done` runs on the writer thread once it is
    /// durable (or rejected). `done` must be cheap and must not block.
    /// Invalid input is rejected before queueing, and `done` gets the error.
    /// Blocks while the writer's queue ([`WRITER_QUEUE_REQUESTS`]) is full:
    /// for threads, not for async tasks (use [`Store::try_submit`]).
    pub fn submit(
        &self,
        appends: Vec<StreamAppend>,
        done: impl FnOnce(Result<Vec<AppendResult>>) + Send + 'static,
    ) {
        self.enqueue(appends, Box::new(done), true)
    }

    /// Like [`Store::submit`] but never blocks: when the writer's queue is
    /// full, `done` gets [`Error::Overloaded`] at once and nothing is
    /// written. Async callers bound their own in-flight submissions below
    /// [`WRITER_QUEUE_REQUESTS`] and wait asynchronously for room, so this
    /// error is the rare case of other submitters filling the queue.
    pub fn try_submit(
        &self,
        appends: Vec<StreamAppend>,
        done: impl FnOnce(Result<Vec<AppendResult>>) + Send + 'static,
    ) {
        self.enqueue(appends, Box::new(done), false)
    }

    fn enqueue(&self, appends: Vec<StreamAppend>, reply: crate::writer::Reply, block: bool) {
        let bytes = match validate_transaction(&appends) {
            Ok(b) => b,
            Err(e) => return reply(Err(e)),
        };
        if let Some(why) = self.inner.shared.poison.lock().unwrap().clone() {
            return reply(Err(Error::Poisoned(why)));
        }
        let tx = self.inner.tx.read().unwrap().clone();
        let Some(tx) = tx else {
            return reply(Err(Error::Closed));
        };
        let req = Request {
            appends,
            bytes,
            reply,
        };
        if block {
            if let Err(e) = tx.send(req) {
                (e.0.reply)(Err(Error::Closed));
            }
            return;
        }
        match tx.try_send(req) {
            Ok(()) => {}
            Err(TrySendError::Full(r)) => (r.reply)(Err(Error::Overloaded(WRITER_QUEUE_REQUESTS))),
            Err(TrySendError::Disconnected(r)) => (r.reply)(Err(Error::Closed)),
        }
    }

    /// Appends a transaction over one or more streams and blocks until it is
    /// durable. All checks pass and all events are written, or nothing is.
    pub fn append_multi(&self, appends: Vec<StreamAppend>) -> Result<Vec<AppendResult>> {
        let (tx, rx) = sync_channel(1);
        self.submit(appends, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// Appends events to one stream and blocks until they are durable.
    pub fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult> {
        let mut r = self.append_multi(vec![StreamAppend {
            stream: stream.to_owned(),
            expected,
            events,
        }])?;
        Ok(r.pop().expect("one result per stream"))
    }

    /// The last committed global position (0 when the log is empty).
    pub fn head(&self) -> Position {
        self.inner.shared.notifier.head()
    }

    /// Highest position the sled index holds (reads never lag; this may).
    pub fn indexed_position(&self) -> Position {
        self.inner.shared.indexed.load(Ordering::Acquire)
    }

    /// Blocks until the head is beyond `pos` or `timeout` passes; returns the head.
    pub fn wait_for_head_beyond(&self, pos: Position, timeout: Duration) -> Position {
        self.inner.shared.notifier.wait_beyond(pos, timeout)
    }

    /// Registers a callback run on the writer thread with the new head after
    /// every commit. It must be cheap and must not block.
    pub fn on_commit(&self, listener: impl Fn(Position) + Send + Sync + 'static) {
        let l: CommitListener = Arc::new(listener);
        self.inner.shared.notifier.add_listener(l);
    }

    /// The stream's state: its last revision, or no stream.
    pub fn stream_revision(&self, stream: &str) -> Result<CurrentRevision> {
        Ok(match self.inner.shared.stream_head(stream)? {
            Some((r, _, _)) => CurrentRevision::Current(r),
            None => CurrentRevision::NoStream,
        })
    }

    /// Reads up to `max_count` events of one stream. A stream with no
    /// events is [`Error::StreamNotFound`].
    pub fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        validate_stream_name(stream)?;
        let sh = &self.inner.shared;
        let Some((last, _, _)) = sh.stream_head(stream)? else {
            return Err(Error::StreamNotFound(stream.to_owned()));
        };
        if max_count == 0 {
            return Ok(Vec::new());
        }
        let span = max_count as u64 - 1;
        let (lo, hi) = match direction {
            Direction::Forwards => {
                let start = match from {
                    StreamFrom::Start => 0,
                    StreamFrom::End => return Ok(Vec::new()),
                    StreamFrom::Revision(r) => r,
                };
                if start > last {
                    return Ok(Vec::new());
                }
                (start, start.saturating_add(span).min(last))
            }
            Direction::Backwards => {
                let start = match from {
                    StreamFrom::Start => 0,
                    StreamFrom::End => last,
                    StreamFrom::Revision(r) => r.min(last),
                };
                (start.saturating_sub(span), start)
            }
        };
        let log = sh.reader();
        let mut pr = PointReader::new(&log);
        let mut out = Vec::with_capacity((hi - lo + 1).min(4096) as usize);
        let mut err = None;
        sh.walk_stream(&log, stream, lo, hi, true, |rev, pos, loc, ev| {
            if err.is_some() {
                return;
            }
            match ev {
                Some(e) => out.push(e),
                None => match pr.with_record(loc, |v| {
                    check_record(v, stream, rev, pos).map(|_| v.to_event())
                }) {
                    Ok(Ok(e)) => out.push(e),
                    Ok(Err(e)) | Err(e) => err = Some(e),
                },
            }
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        if direction == Direction::Backwards {
            out.reverse();
        }
        Ok(out)
    }

    /// Reads `$all` from `from`, returning up to `max_count` events that
    /// pass `filter`, examining at most [`MAX_SCAN_EVENTS_PER_READ`] records.
    pub fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
        filter: &Filter,
    ) -> Result<AllPage> {
        let sh = &self.inner.shared;
        let log = sh.reader();
        let head = log.committed.head;
        let mut page = AllPage::default();
        let start = match (from, direction) {
            (AllFrom::Start, Direction::Forwards) => 1,
            (AllFrom::Start, Direction::Backwards) => 1.min(head),
            (AllFrom::End, Direction::Forwards) => head + 1,
            (AllFrom::End, Direction::Backwards) => head,
            (AllFrom::Position(p), Direction::Forwards) => p.max(1),
            (AllFrom::Position(p), Direction::Backwards) => p.min(head),
        };
        let mut scanned = 0usize;
        let mut visit = |v: &RecordView<'_>, page: &mut AllPage| {
            scanned += 1;
            page.scanned_to = v.position;
            if filter.matches(v.stream, v.event_type) {
                page.events.push(v.to_event());
            }
            if page.events.len() >= max_count || scanned >= MAX_SCAN_EVENTS_PER_READ {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        match direction {
            Direction::Forwards => {
                page.scanned_to = start - 1;
                if start <= head && max_count > 0 {
                    let loc = log.locate(start)?.ok_or_else(|| missing(start))?;
                    log.scan_forward(loc, |v, _| {
                        if v.position < start {
                            ControlFlow::Continue(())
                        } else {
                            visit(v, &mut page)
                        }
                    })?;
                }
                page.reached_end = page.scanned_to >= head;
            }
            Direction::Backwards => {
                page.scanned_to = start + 1;
                if start >= 1 && max_count > 0 {
                    let loc = log.locate(start)?.ok_or_else(|| missing(start))?;
                    let end = PointReader::new(&log)
                        .with_record(loc, |v| loc.offset as u64 + v.len as u64)?;
                    log.scan_backward(loc.seg, end, |v, _| visit(v, &mut page))?;
                }
                page.reached_end = page.scanned_to <= 1;
            }
        }
        Ok(page)
    }

    /// The event at a global position, if committed.
    pub fn read_position(&self, pos: Position) -> Result<Option<RecordedEvent>> {
        let log = self.inner.shared.reader();
        let Some(loc) = log.locate(pos)? else {
            return Ok(None);
        };
        Ok(Some(
            PointReader::new(&log).with_record(loc, |v| v.to_event())?,
        ))
    }

    fn created_at(&self, log: &LogReader<'_>, pos: Position) -> Result<i64> {
        let loc = log.locate(pos)?.ok_or_else(|| missing(pos))?;
        PointReader::new(log).with_record(loc, |v| v.created_micros)
    }

    /// The first global position committed at or after `micros` (unix µs),
    /// or `None` if every event is older. Binary search: timestamps are
    /// non-decreasing along the log.
    pub fn position_at_or_after(&self, micros: i64) -> Result<Option<Position>> {
        let log = self.inner.shared.reader();
        let head = log.committed.head;
        if head == 0 || self.created_at(&log, head)? < micros {
            return Ok(None);
        }
        let (mut lo, mut hi) = (1u64, head);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.created_at(&log, mid)? < micros {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(Some(lo))
    }

    /// The first revision of `stream` committed at or after `micros`, or
    /// `None` if all its events are older.
    pub fn stream_revision_at_or_after(
        &self,
        stream: &str,
        micros: i64,
    ) -> Result<Option<Revision>> {
        validate_stream_name(stream)?;
        let sh = &self.inner.shared;
        let Some((last, _, _)) = sh.stream_head(stream)? else {
            return Err(Error::StreamNotFound(stream.to_owned()));
        };
        let log = sh.reader();
        let ts_of = |rev: Revision| -> Result<i64> {
            let l = sh.stream_locs(&log, stream, rev, rev)?;
            let (_, _, loc) = l.first().copied().ok_or_else(|| missing(rev))?;
            PointReader::new(&log).with_record(loc, |v| v.created_micros)
        };
        if ts_of(last)? < micros {
            return Ok(None);
        }
        let (mut lo, mut hi) = (0u64, last);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if ts_of(mid)? < micros {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(Some(lo))
    }

    /// Streams whose names start with `prefix`, in name order, after `after`
    /// (exclusive), at most `limit`.
    pub fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        let sh = &self.inner.shared;
        // Tail first (its heads are newer), then sled.
        let tail = sh.tail.read().unwrap().streams_with_prefix(prefix);
        let mut merged: std::collections::BTreeMap<String, (Revision, Position)> = sh
            .index
            .list_streams(prefix, after, limit)?
            .into_iter()
            .map(|(n, r, p)| (n, (r, p)))
            .collect();
        for (n, r, p) in tail {
            if after.is_none_or(|a| n.as_str() > a) {
                merged.insert(n, (r, p));
            }
        }
        Ok(merged
            .into_iter()
            .take(limit)
            .map(|(name, (revision, last_position))| StreamInfo {
                name,
                revision,
                last_position,
            })
            .collect())
    }

    /// Counts and sizes.
    pub fn stats(&self) -> Result<StoreStats> {
        let sh = &self.inner.shared;
        let mut log_bytes = 0;
        for s in sh.segments.all() {
            log_bytes += s.len()?;
        }
        let (snapshots, snapshot_bytes) = self.inner.snapshots.stats();
        let tail_new = {
            let tail = sh.tail.read().unwrap();
            tail.streams_with_prefix("")
                .into_iter()
                .filter(|(n, _, _)| sh.index.stream_head(n).ok().flatten().is_none())
                .count()
        };
        Ok(StoreStats {
            head: self.head(),
            indexed_through: self.indexed_position(),
            streams: (sh.index.stream_count() + tail_new) as u64,
            segments: sh.segments.count() as u64,
            log_bytes,
            index_bytes: sh.index.size_on_disk(),
            snapshots,
            snapshot_bytes,
        })
    }

    /// Saves a snapshot of `snapshot.stream` at `snapshot.revision`, durably
    /// (acknowledged after fsync). The stream must already have that revision.
    /// `created_micros` is set by the store.
    pub fn save_snapshot(&self, mut snapshot: Snapshot) -> Result<()> {
        validate_stream_name(&snapshot.stream)?;
        let size = snapshot.data.len() + snapshot.metadata.len();
        if size > MAX_SNAPSHOT_BYTES {
            return Err(Error::SnapshotTooLarge {
                size_bytes: size,
                limit_bytes: MAX_SNAPSHOT_BYTES,
            });
        }
        if snapshot.snapshot_type.len() > MAX_TYPE_NAME_BYTES {
            return Err(Error::InvalidEvent("snapshot type over 255 bytes".into()));
        }
        let actual = self.stream_revision(&snapshot.stream)?;
        if actual.revision().is_none_or(|r| r < snapshot.revision) {
            return Err(Error::SnapshotAheadOfStream {
                stream: snapshot.stream,
                revision: snapshot.revision,
                actual,
            });
        }
        snapshot.created_micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        self.inner.snapshots.save(&snapshot)
    }

    /// The newest snapshot of `stream` at or before `at_or_before` (the
    /// newest of all when `None`). A damaged one is [`Error::Corrupt`].
    pub fn get_snapshot(
        &self,
        stream: &str,
        at_or_before: Option<Revision>,
    ) -> Result<Option<Snapshot>> {
        validate_stream_name(stream)?;
        self.inner.snapshots.get(stream, at_or_before)
    }

    /// The writer's cumulative counters (group commits, events, sync time).
    pub fn writer_stats(&self) -> WriterStats {
        let c = &self.inner.shared.counters;
        WriterStats {
            groups: c.groups.load(Ordering::Relaxed),
            transactions: c.transactions.load(Ordering::Relaxed),
            events: c.events.load(Ordering::Relaxed),
            sync_nanos: c.sync_nanos.load(Ordering::Relaxed),
        }
    }

    /// The reason the store refuses writes, if it is poisoned.
    pub fn poisoned(&self) -> Option<String> {
        self.inner.shared.poison.lock().unwrap().clone()
    }

    /// Stops accepting appends, finishes those queued, indexes everything
    /// and flushes the index. Later appends fail with [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        close_inner(&self.inner)
    }
}

fn close_inner(inner: &Inner) -> Result<()> {
    if inner.closed.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    inner.tx.write().unwrap().take();
    if let Some(w) = inner.writer.lock().unwrap().take() {
        let _ = w.join();
    }
    {
        let mut s = inner.shared.index_signal.lock().unwrap();
        s.shutdown = true;
        inner.shared.index_cv.notify_all();
    }
    if let Some(i) = inner.indexer.lock().unwrap().take() {
        let _ = i.join();
    }
    inner.shared.notifier.wake_all();
    inner.shared.index.flush()?;
    inner.snapshots.flush()?;
    Ok(())
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = close_inner(self) {
            tracing::error!(error = %e, "closing the store failed");
        }
    }
}

fn missing(pos: u64) -> Error {
    Error::Corrupt {
        file: PathBuf::from("(index)"),
        offset: pos,
        reason: format!("position/revision {pos} not found where the index says it is"),
    }
}

fn check_record(v: &RecordView<'_>, stream: &str, rev: Revision, pos: Position) -> Result<()> {
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

/// Indexes the log from `indexed + 1` to the head, synchronously (at open).
fn catch_up_index(sh: &Shared, indexed: Position) -> Result<()> {
    let log = sh.reader();
    let head = log.committed.head;
    if indexed >= head {
        return Ok(());
    }
    tracing::info!(
        from = indexed + 1,
        to = head,
        "catching the index up with the log"
    );
    let Some(loc) = log.locate(indexed + 1)? else {
        return Ok(());
    };
    let mut batch: Vec<(String, Revision, Position, Loc, i64)> =
        Vec::with_capacity(INDEX_BATCH_EVENTS);
    let mut err = None;
    let flush = |batch: &mut Vec<(String, Revision, Position, Loc, i64)>| -> Result<()> {
        let entries: Vec<IndexEntry<'_>> = batch
            .iter()
            .map(|(s, r, p, l, t)| IndexEntry {
                stream: s,
                revision: *r,
                position: *p,
                loc: *l,
                created_micros: *t,
            })
            .collect();
        if let Some(last) = entries.last() {
            sh.index.apply(&entries, last.position)?;
        }
        batch.clear();
        Ok(())
    };
    log.scan_forward(loc, |v, l| {
        batch.push((
            v.stream.to_owned(),
            v.revision,
            v.position,
            l,
            v.created_micros,
        ));
        if batch.len() >= INDEX_BATCH_EVENTS {
            if let Err(e) = flush(&mut batch) {
                err = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    flush(&mut batch)?;
    sh.index.flush()?;
    Ok(())
}

/// The indexer loop: moves committed events from the tail into sled.
fn run_indexer(sh: &Shared) {
    loop {
        let from = sh.indexed.load(Ordering::Acquire) + 1;
        let mut batch = sh.tail.read().unwrap().slice(from, INDEX_BATCH_EVENTS);
        if !batch.is_empty()
            && batch.len() < INDEX_MIN_BATCH_EVENTS
            && !sh.index_signal.lock().unwrap().shutdown
        {
            // Let a batch build up: sled's per-batch cost dominates small batches.
            std::thread::sleep(INDEX_LINGER);
            batch = sh.tail.read().unwrap().slice(from, INDEX_BATCH_EVENTS);
        }
        if batch.is_empty() {
            let g = sh.index_signal.lock().unwrap();
            if g.shutdown {
                return;
            }
            let _ = sh
                .index_cv
                .wait_timeout(g, Duration::from_millis(100))
                .unwrap();
            continue;
        }
        let entries: Vec<IndexEntry<'_>> = batch
            .iter()
            .map(|(p, e)| IndexEntry {
                stream: &e.stream,
                revision: e.revision,
                position: *p,
                loc: e.loc,
                created_micros: e.created_micros,
            })
            .collect();
        let through = batch.last().map(|(p, _)| *p).expect("non-empty");
        if let Err(e) = sh.index.apply(&entries, through) {
            // The log is intact; reads are served from the tail meanwhile.
            tracing::error!(error = %e, "index write failed; retrying");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        sh.indexed.store(through, Ordering::Release);
        sh.tail.write().unwrap().prune_through(through);
        let _g = sh.index_signal.lock().unwrap();
        sh.index_cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u64) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::new_v4(),
            event_type: format!("T{}", i % 3),
            content_type: "application/json".into(),
            data: format!("{{\"i\":{i}}}").into_bytes(),
            metadata: vec![],
        }
    }

    fn dump(dir: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        Index::open(&dir.join("index")).unwrap().dump()
    }

    #[test]
    fn deleting_the_index_rebuilds_an_identical_one() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            segment_max_bytes: MIN_SEGMENT_MAX_BYTES,
            ..Options::default()
        };
        let s = Store::open(dir.path(), opts.clone()).unwrap();
        for i in 0..3000u64 {
            let n = 1 + (i % 4) as usize;
            let events: Vec<_> = (0..n as u64).map(ev).collect();
            s.append(&format!("stream-{}", i % 97), ExpectedRevision::Any, events)
                .unwrap();
        }
        for _ in 0..3 {
            s.append(
                "big",
                ExpectedRevision::Any,
                (0..15)
                    .map(|_| NewEvent {
                        data: vec![7; 1 << 20],
                        ..ev(0)
                    })
                    .collect(),
            )
            .unwrap();
        }
        s.append("after-roll", ExpectedRevision::Any, vec![ev(1)])
            .unwrap();
        assert!(s.stats().unwrap().segments >= 2);
        let head = s.head();
        s.close().unwrap();
        drop(s);
        let original = dump(dir.path());
        assert!(!original.is_empty());
        std::fs::remove_dir_all(dir.path().join("index")).unwrap();
        let s = Store::open(dir.path(), opts).unwrap();
        assert_eq!(s.open_report().index_was_at, 0);
        assert_eq!(s.indexed_position(), head);
        drop(s);
        assert_eq!(dump(dir.path()), original);
    }
}
