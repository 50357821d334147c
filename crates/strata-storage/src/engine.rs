//! The running engine behind a `Store`: opening a data directory (lock,
//! recovery, index catch-up, idempotency window, writer and indexer
//! threads) and closing it (drain the writer, stop the indexer, flush).
//!
//! Data directory layout:
//! ```text
//! <data-dir>/LOCK        exclusive lock held while open
//! <data-dir>/log/*.seg   the log (source of truth)
//! <data-dir>/index/      sled stream index (derived; may be deleted)
//! <data-dir>/snapshots/  snapshot files (not derived)
//! ```
//!
//! Not here: the public API (`store`), what the threads do (`writer`,
//! `indexer`).

use crate::error::{Error, Result};
use crate::index::Index;
use crate::lifecycle::{decode_state, Lifecycle, Lifecycles, METADATA_STREAM_PREFIX};
use crate::limits::*;
use crate::notify::{Committed, Notifier};
use crate::plan::{DedupeWindow, Planner};
use crate::recovery::recover;
use crate::request::Request;
use crate::scavenge::{Ctx, ScavengeOptions, ScavengeStatus, Scavenger};
use crate::segment::{fsync_dir, LOG_DIR};
use crate::segments::Segments;
use crate::shared::{IndexSignal, Shared};
use crate::snapshot::SnapshotStore;
use crate::stats::{OpenReport, WriterCounters};
use crate::tail::Tail;
use crate::writer::{LogEnd, Writer};
use std::fs::{File, OpenOptions};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

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
    /// Start again a scavenge the log shows interrupted (default `true`).
    /// Off for tools that open a store only to prepare it (`strata
    /// restore`), which must not add records to it; the next open with it
    /// on resumes the scavenge.
    pub resume_interrupted_scavenge: bool,
    /// Told how far opening has got while it brings the index up to the
    /// log (for progress bars; the index of a restored store is rebuilt
    /// from nothing).
    pub open_progress: Option<OpenProgress>,
    /// Where a stream name's category ends: the category index files
    /// `order-42` under `order` with `'-'` (a name without it is its own
    /// category). The index records the separator it was built with:
    /// `None` (the default) keeps that one (and uses
    /// [`DEFAULT_CATEGORY_SEPARATOR`] for a new index), so a tool that opens
    /// the store never rebuilds it by accident; `Some` of another separator
    /// rebuilds the index from the log.
    pub category_separator: Option<char>,
    /// sled's page cache for the index, in bytes: at least
    /// [`MIN_INDEX_CACHE_BYTES`] (less is refused with `Error::Config`, not
    /// raised). Default [`DEFAULT_INDEX_CACHE_BYTES`]; index pages beyond
    /// it are read again from the OS page cache.
    pub index_cache_bytes: u64,
}

/// A callback for [`Options::open_progress`]: `(indexed, head)`, the
/// position the index has reached and the one it is catching up to.
#[derive(Clone)]
pub struct OpenProgress(pub Arc<dyn Fn(u64, u64) + Send + Sync>);

impl std::fmt::Debug for OpenProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenProgress(..)")
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_max_bytes: DEFAULT_SEGMENT_MAX_BYTES,
            dedupe_window_events: DEFAULT_DEDUPE_WINDOW_EVENTS,
            snapshots_per_stream: DEFAULT_SNAPSHOTS_PER_STREAM,
            resume_interrupted_scavenge: true,
            open_progress: None,
            category_separator: None,
            index_cache_bytes: DEFAULT_INDEX_CACHE_BYTES,
        }
    }
}

/// An open engine: shared state, the writer's queue, the threads.
pub(crate) struct Inner {
    pub shared: Arc<Shared>,
    pub tx: RwLock<Option<SyncSender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    indexer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    pub snapshots: SnapshotStore,
    pub scavenger: Scavenger,
    pub report: OpenReport,
    resume_interrupted_scavenge: bool,
    _lock: File,
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

/// Creates `dir` (durably) if needed.
fn create_dir_durably(dir: &Path) -> Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsync_dir(parent)?;
        }
    }
    Ok(())
}

/// Re-reads the most recent events' ids so retries after a restart are
/// still recognised.
fn rebuild_dedupe_window(shared: &Shared, head: u64, capacity: usize) -> Result<DedupeWindow> {
    let mut dedupe = DedupeWindow::new(capacity);
    if capacity > 0 && head > 0 {
        let from = head.saturating_sub(capacity as u64 - 1).max(1);
        let log = shared.reader();
        // At or after: a scavenge may have dropped the record at `from`
        // (with `locate`, the window then stayed empty and every retry
        // after a restart was written again).
        if let Some(loc) = log.locate_at_or_after(from)? {
            log.scan_forward(loc, |v, _| {
                dedupe.insert(v.id, v.position);
                ControlFlow::Continue(())
            })?;
        }
    }
    Ok(dedupe)
}

/// Reads the last record of every metadata stream (all indexed at open)
/// into the in-memory lifecycle map.
fn load_lifecycles(shared: &Shared) -> Result<()> {
    let log = shared.reader();
    let mut pr = crate::reader::PointReader::new(&log);
    let mut after: Option<String> = None;
    let mut loaded = 0usize;
    loop {
        let page = shared
            .index
            .list_streams(METADATA_STREAM_PREFIX, after.as_deref(), 1024)?;
        let Some((last_name, _, _)) = page.last() else {
            break;
        };
        after = Some(last_name.clone());
        for (name, rev, pos) in page {
            let Some(owner) = crate::lifecycle::stream_of_metadata(&name) else {
                continue;
            };
            let loc = log
                .locate(pos)?
                .ok_or_else(|| crate::shared::missing(pos))?;
            let state = pr.with_record(loc, |v| decode_state(v.data))?;
            let Some(state) = state else {
                return Err(Error::Corrupt {
                    file: name.clone().into(),
                    offset: pos,
                    reason: "a stream lifecycle record does not decode".into(),
                });
            };
            let l = Lifecycle {
                metadata_revision: rev,
                state: Arc::new(state),
            };
            shared.lifecycles.set(owner.to_owned(), l);
            loaded += 1;
        }
    }
    if loaded > 0 {
        tracing::info!(streams = loaded, "loaded stream lifecycles");
    }
    Ok(())
}

impl Inner {
    /// Opens (creating if needed) the store in `dir`: locks it, recovers the
    /// log, brings the index up to date, and starts the writer and indexer.
    pub(crate) fn open(dir: &Path, opts: Options) -> Result<Inner> {
        if !(MIN_SEGMENT_MAX_BYTES..=MAX_SEGMENT_MAX_BYTES).contains(&opts.segment_max_bytes) {
            return Err(Error::Config(format!(
                "segment size {} bytes is outside {MIN_SEGMENT_MAX_BYTES}..={MAX_SEGMENT_MAX_BYTES}",
                opts.segment_max_bytes
            )));
        }
        if opts.index_cache_bytes < MIN_INDEX_CACHE_BYTES {
            return Err(Error::Config(format!(
                "index cache of {} bytes is below the minimum of {MIN_INDEX_CACHE_BYTES}",
                opts.index_cache_bytes
            )));
        }
        create_dir_durably(dir)?;
        let lock = lock_dir(dir)?;
        if dir.join(crate::backup::RESTORING_MARKER).exists() {
            return Err(Error::Config(format!(
                "{} holds an unfinished restore (the file {} exists): restore it again",
                dir.display(),
                crate::backup::RESTORING_MARKER
            )));
        }
        let log_dir = dir.join(LOG_DIR);
        if !log_dir.exists() {
            std::fs::create_dir(&log_dir)?;
            fsync_dir(dir)?;
        }
        let rec = recover(&log_dir)?;
        let segments = Segments::default();
        let (active_base, active_path) = {
            let active = rec.segments.last().expect("recovery leaves a segment");
            (active.base, active.path.clone())
        };
        for seg in rec.segments {
            segments.push(seg);
        }

        let index = Index::open(
            &dir.join("index"),
            opts.category_separator,
            opts.index_cache_bytes,
        )?;
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
            log_dir,
            segments,
            index,
            tail: RwLock::new(Tail::new(rec.head + 1)),
            notifier: Notifier::new(Committed {
                head: rec.head,
                seg_base: active_base,
                seg_len: rec.active_len,
            }),
            poison: Mutex::new(None),
            lifecycles: Lifecycles::default(),
            index_signal: Mutex::new(IndexSignal::default()),
            index_cv: Condvar::new(),
            indexed: AtomicU64::new(indexed),
            queue_depth: AtomicU64::new(0),
            disk_full: AtomicBool::new(false),
            counters: WriterCounters::default(),
        });
        crate::indexer::catch_up(&shared, indexed, opts.open_progress.as_ref())?;
        shared.indexed.store(rec.head, Ordering::Release);
        load_lifecycles(&shared)?;

        let dedupe = rebuild_dedupe_window(&shared, rec.head, opts.dedupe_window_events)?;
        let snapshots = SnapshotStore::open(&dir.join("snapshots"), opts.snapshots_per_stream)?;
        let end = LogEnd {
            file: OpenOptions::new()
                .read(true)
                .write(true)
                .open(&active_path)?,
            seg_base: active_base,
            seg_len: rec.active_len,
            head: rec.head,
            last_created_micros: rec.last_created_micros,
        };
        let writer = Writer::new(
            shared.clone(),
            Planner::new(shared.clone(), dedupe),
            end,
            opts.segment_max_bytes,
        );
        let (tx, rx) = sync_channel(WRITER_QUEUE_REQUESTS);
        let writer = std::thread::Builder::new()
            .name("strata-writer".into())
            .spawn(move || writer.run(rx))?;
        let sh = shared.clone();
        let indexer = std::thread::Builder::new()
            .name("strata-indexer".into())
            .spawn(move || crate::indexer::run(&sh))?;
        Ok(Inner {
            shared,
            tx: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            indexer: Mutex::new(Some(indexer)),
            closed: AtomicBool::new(false),
            snapshots,
            scavenger: Scavenger::default(),
            report: OpenReport {
                head: rec.head,
                truncated_bytes: rec.truncated_bytes,
                index_was_at: indexed,
            },
            resume_interrupted_scavenge: opts.resume_interrupted_scavenge,
            _lock: lock,
        })
    }

    /// Starts a scavenge (or returns the one running).
    pub(crate) fn start_scavenge(&self, opts: ScavengeOptions) -> Result<ScavengeStatus> {
        let tx = self.tx.read().unwrap().clone().ok_or(Error::Closed)?;
        let ctx = Ctx {
            shared: self.shared.clone(),
            tx,
            snapshots: self.snapshots.clone(),
        };
        self.scavenger.start(ctx, opts)
    }

    /// A scavenge the log says started and never finished (a crash or a
    /// shutdown interrupted it): its options, to start it again.
    pub(crate) fn interrupted_scavenge(&self) -> Result<Option<ScavengeOptions>> {
        use crate::scavenge::{options_of_started, SCAVENGE_STARTED};
        if !self.resume_interrupted_scavenge {
            return Ok(None);
        }
        let sh = &self.shared;
        let Some((_, pos)) = sh.stream_head(crate::lifecycle::SCAVENGES_STREAM)? else {
            return Ok(None);
        };
        let log = sh.reader();
        let Some(loc) = log.locate(pos)? else {
            return Ok(None);
        };
        let started = crate::reader::PointReader::new(&log).with_record(loc, |v| {
            (v.event_type == SCAVENGE_STARTED).then(|| options_of_started(v.data))
        })?;
        Ok(started)
    }

    /// Stops accepting appends, finishes those queued, indexes everything
    /// and flushes the index. Idempotent.
    pub(crate) fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // The scavenger holds a sender to the writer: it goes first.
        self.scavenger.interrupt();
        self.tx.write().unwrap().take();
        if let Some(w) = self.writer.lock().unwrap().take() {
            let _ = w.join();
        }
        self.shared.index_signal.lock().unwrap().shutdown = true;
        self.shared.wake_indexer();
        if let Some(i) = self.indexer.lock().unwrap().take() {
            let _ = i.join();
        }
        self.shared.index.flush()?;
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the store failed");
        }
    }
}
