//! The public façade: [`Store`] opens a data directory and offers appends,
//! reads, snapshots and statistics. It is cheap to clone and safe to share.
//!
//! Every method is a thin entry point: validation and the work itself live
//! in the modules that own them (`engine` for open/close, `writer`/`plan`
//! for appends, `query` for reads, `snapshot` for snapshots).

use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::lifecycle::validate_metadata;
use crate::limits::WRITER_QUEUE_REQUESTS;
use crate::notify::CommitListener;
use crate::query;
pub use crate::request::Write;
use crate::request::{CommitTiming, Op, Reply, Request};
use crate::scavenge::{ScavengeOptions, ScavengeStatus};
use crate::snapshot::Snapshot;
use crate::stats::{OpenReport, StoreTelemetry, WriterStats};
use crate::types::*;
use crate::validate::{validate_stream_name, validate_transaction};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, TrySendError};
use std::sync::Arc;
use std::time::Instant;

mod catalog;

pub use crate::engine::{OpenProgress, Options};

/// Checks a request before it reaches the writer; returns its encoded size
/// (an estimate for lifecycle records).
fn validate_op(op: &Op) -> Result<usize> {
    let lifecycle_bytes = |stream: &str, custom: usize| {
        crate::codec::encoded_len(stream.len() + 2, 10, 40, 40 + custom, 0)
    };
    let system_name = |stream: &str| match stream.starts_with('$') {
        true => Ok(()),
        false => Err(Error::InvalidAppend(format!(
            "'{stream}' is not a system stream (system writes need a '$' name)"
        ))),
    };
    match op {
        Op::Write(Write::Append(a)) => validate_transaction(a, false),
        Op::System(Write::Append(a)) => {
            a.iter().try_for_each(|a| system_name(&a.stream))?;
            validate_transaction(a, true)
        }
        Op::System(Write::SetMetadata {
            stream, metadata, ..
        }) => {
            system_name(stream)?;
            validate_metadata(metadata)?;
            Ok(lifecycle_bytes(stream, metadata.custom.len()))
        }
        Op::System(Write::Delete { stream, .. }) => {
            system_name(stream)?;
            Ok(lifecycle_bytes(
                stream,
                crate::limits::MAX_METADATA_CUSTOM_BYTES,
            ))
        }
        Op::Write(Write::SetMetadata {
            stream, metadata, ..
        }) => {
            validate_stream_name(stream)?;
            validate_metadata(metadata)?;
            Ok(lifecycle_bytes(stream, metadata.custom.len()))
        }
        Op::Write(Write::Delete { stream, .. }) => {
            validate_stream_name(stream)?;
            Ok(lifecycle_bytes(
                stream,
                crate::limits::MAX_METADATA_CUSTOM_BYTES,
            ))
        }
        Op::Seal => Ok(0),
    }
}

/// The single result of a one-record write.
fn one(mut results: Vec<AppendResult>) -> Result<AppendResult> {
    results
        .pop()
        .ok_or_else(|| Error::InvalidAppend("the writer returned no result".into()))
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

impl Store {
    /// Opens (creating if needed) the store in `dir`: locks it, recovers the
    /// log, brings the index up to date, and starts the writer and indexer.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let store = Store {
            inner: Arc::new(Inner::open(dir.as_ref(), opts)?),
        };
        if let Some(o) = store.inner.interrupted_scavenge()? {
            tracing::info!("a scavenge was interrupted; starting it again");
            store.start_scavenge(o)?;
        }
        Ok(store)
    }

    /// Starts a scavenge in the background — rewriting sealed segments
    /// without the records that are invisible for good — or returns the one
    /// already running. The active segment is sealed first, so everything
    /// written before the call can be reclaimed.
    pub fn start_scavenge(&self, opts: ScavengeOptions) -> Result<ScavengeStatus> {
        self.inner.start_scavenge(opts)
    }

    /// The running scavenge, or the last one since open.
    pub fn scavenge_status(&self) -> Option<ScavengeStatus> {
        self.inner.scavenger.status()
    }

    /// Stops a running scavenge and waits until it has (segments it
    /// finished stay rewritten). `None` if none ran since open.
    pub fn stop_scavenge(&self) -> Option<ScavengeStatus> {
        self.inner.scavenger.stop()
    }

    /// What opening found (head, bytes truncated, index position before catch-up).
    pub fn open_report(&self) -> OpenReport {
        self.inner.report
    }

    /// The shared state, for the crate's own tests.
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<crate::shared::Shared> {
        &self.inner.shared
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
        self.submit_write(Write::Append(appends), done)
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
        self.try_submit_write(Write::Append(appends), done)
    }

    /// Submits any change (see [`Write`]); blocks while the queue is full.
    /// A metadata change or delete answers with the one result of its
    /// record in the stream's metadata stream.
    pub fn submit_write(
        &self,
        write: Write,
        done: impl FnOnce(Result<Vec<AppendResult>>) + Send + 'static,
    ) {
        self.enqueue(Op::Write(write), Box::new(move |r, _| done(r)), true)
    }

    /// Submits any change without ever blocking (see [`Store::try_submit`]).
    pub fn try_submit_write(
        &self,
        write: Write,
        done: impl FnOnce(Result<Vec<AppendResult>>) + Send + 'static,
    ) {
        self.enqueue(Op::Write(write), Box::new(move |r, _| done(r)), false)
    }

    /// [`Store::try_submit_write`], also telling `done` when the request
    /// went through the writer (`None` if it never reached the log), for
    /// tracing.
    pub fn try_submit_write_timed(
        &self,
        write: Write,
        done: impl FnOnce(Result<Vec<AppendResult>>, Option<CommitTiming>) + Send + 'static,
    ) {
        self.enqueue(Op::Write(write), Box::new(done), false)
    }

    fn enqueue(&self, op: Op, reply: Reply, block: bool) {
        let bytes = match validate_op(&op) {
            Ok(b) => b,
            Err(e) => return reply(Err(e), None),
        };
        if let Some(why) = self.inner.shared.poisoned() {
            return reply(Err(Error::Poisoned(why)), None);
        }
        let tx = self.inner.tx.read().unwrap().clone();
        let Some(tx) = tx else {
            return reply(Err(Error::Closed), None);
        };
        let req = Request {
            op,
            bytes,
            reply,
            enqueued: Instant::now(),
        };
        // Counted before the send: the writer subtracts what it takes.
        let depth = &self.inner.shared.queue_depth;
        depth.fetch_add(1, Ordering::Relaxed);
        let refused = if block {
            tx.send(req).err().map(|e| (e.0, Error::Closed))
        } else {
            match tx.try_send(req) {
                Ok(()) => None,
                Err(TrySendError::Full(r)) => Some((r, Error::Overloaded(WRITER_QUEUE_REQUESTS))),
                Err(TrySendError::Disconnected(r)) => Some((r, Error::Closed)),
            }
        };
        if let Some((r, e)) = refused {
            depth.fetch_sub(1, Ordering::Relaxed);
            (r.reply)(Err(e), None);
        }
    }

    /// Submits `op` and blocks until the writer answers.
    pub(crate) fn write_blocking(&self, op: Op) -> Result<Vec<AppendResult>> {
        let (tx, rx) = sync_channel(1);
        self.enqueue(
            op,
            Box::new(move |r, _| {
                let _ = tx.send(r);
            }),
            true,
        );
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// Replaces a stream's metadata (retention and custom data), checking
    /// `expected` against the metadata's revision; blocks until durable.
    /// Allowed for a stream with no events.
    pub fn set_stream_metadata(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        metadata: StreamMetadata,
    ) -> Result<AppendResult> {
        let op = Write::SetMetadata {
            stream: stream.to_owned(),
            expected,
            metadata,
        };
        one(self.write_blocking(Op::Write(op))?)
    }

    /// Soft-deletes (or, with `tombstone`, permanently deletes) a stream;
    /// blocks until durable. Returns the position of the delete record.
    pub fn delete_stream(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        tombstone: bool,
    ) -> Result<Position> {
        let op = Write::Delete {
            stream: stream.to_owned(),
            expected,
            tombstone,
        };
        Ok(one(self.write_blocking(Op::Write(op))?)?.last_position)
    }

    /// Like [`Store::try_submit_write`], for system streams (names starting
    /// with `$`, which clients cannot write): appends, metadata and deletes
    /// of the records a server keeps for its own features (consumer groups'
    /// definitions, checkpoints, parked events). Never blocks.
    pub fn try_submit_system(
        &self,
        write: Write,
        done: impl FnOnce(Result<Vec<AppendResult>>) + Send + 'static,
    ) {
        self.enqueue(Op::System(write), Box::new(move |r, _| done(r)), false)
    }

    /// [`Store::try_submit_system`], blocking until durable.
    pub fn write_system(&self, write: Write) -> Result<Vec<AppendResult>> {
        self.write_blocking(Op::System(write))
    }

    /// A stream's metadata, its revision, and whether it is deleted.
    pub fn get_stream_metadata(&self, stream: &str) -> Result<StreamMetadataInfo> {
        crate::validate::validate_read_name(stream)?;
        let sh = &self.inner.shared;
        let Some(l) = sh.lifecycles.get(stream) else {
            return Ok(StreamMetadataInfo::default());
        };
        let last = sh.stream_head(stream)?.map(|h| h.0);
        Ok(StreamMetadataInfo {
            metadata: l.state.metadata.clone(),
            metadata_revision: Some(l.metadata_revision),
            deleted: !l.state.tombstoned && l.state.is_deleted(last),
            tombstoned: l.state.tombstoned,
        })
    }

    /// Appends a transaction over one or more streams and blocks until it is
    /// durable. All checks pass and all events are written, or nothing is.
    pub fn append_multi(&self, appends: Vec<StreamAppend>) -> Result<Vec<AppendResult>> {
        self.write_blocking(Op::Write(Write::Append(appends)))
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

    /// Registers a callback run on the writer thread with the new head after
    /// every commit. It must be cheap and must not block.
    pub fn on_commit(&self, listener: impl Fn(Position) + Send + Sync + 'static) {
        let l: CommitListener = Arc::new(listener);
        self.inner.shared.notifier.add_listener(l);
    }

    /// The stream's state for concurrency checks: its last revision, or no
    /// stream (also when it is deleted and nothing was appended since).
    pub fn stream_revision(&self, stream: &str) -> Result<CurrentRevision> {
        let sh = &self.inner.shared;
        let last = sh.stream_head(stream)?.map(|h| h.0);
        let deleted = sh
            .lifecycles
            .get(stream)
            .is_some_and(|l| l.state.is_deleted(last));
        Ok(match last {
            Some(r) if !deleted => CurrentRevision::Current(r),
            _ => CurrentRevision::NoStream,
        })
    }

    /// The last revision ever written to `stream` (deleted or not), if any:
    /// where its next append continues, unless a delete moved it further.
    pub fn last_revision(&self, stream: &str) -> Result<Option<Revision>> {
        Ok(self.inner.shared.stream_head(stream)?.map(|h| h.0))
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
        query::read_stream(&self.inner.shared, stream, from, direction, max_count)
    }

    /// Reads `$all` from `from`, returning up to `max_count` events that
    /// pass `filter`, examining at most
    /// [`MAX_SCAN_EVENTS_PER_READ`](crate::limits::MAX_SCAN_EVENTS_PER_READ) records.
    /// A filter on event types (without system records) or on stream
    /// prefixes that each fix a category (`order-`: see
    /// [`Options::category_separator`]) is served by the event-type or
    /// category index, examining only the records it names: the same
    /// events, and `scanned_to` at the end when the index has no more.
    pub fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
        filter: &Filter,
    ) -> Result<AllPage> {
        query::read_all(
            &self.inner.shared,
            from,
            direction,
            max_count,
            Some(filter),
            true,
        )
    }

    /// [`Store::read_all`] by a scan of the log, never through the
    /// event-type or category index: the reference the index-backed reads
    /// are tested and measured against. Same result, slower.
    #[doc(hidden)]
    pub fn read_all_by_scan(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
        filter: &Filter,
    ) -> Result<AllPage> {
        let sh = &self.inner.shared;
        query::read_all(sh, from, direction, max_count, Some(filter), false)
    }

    /// Reads the log forwards from position `from` as stored: every record,
    /// system records and records hidden by lifecycle rules included (not
    /// those a scavenge dropped). For consumers that keep recent records
    /// and apply [`Store::visibility`] when they serve them.
    pub fn read_log(&self, from: Position, max_count: usize) -> Result<AllPage> {
        query::read_all(
            &self.inner.shared,
            AllFrom::Position(from),
            Direction::Forwards,
            max_count,
            None,
            false,
        )
    }

    /// A checker of the lifecycle rules for records from [`Store::read_log`].
    pub fn visibility(&self) -> crate::visible::Visibility {
        crate::visible::Visibility::new(self.inner.shared.clone())
    }

    /// The first global position committed at or after `micros` (unix µs),
    /// or `None` if every event is older.
    pub fn position_at_or_after(&self, micros: i64) -> Result<Option<Position>> {
        query::position_at_or_after(&self.inner.shared, micros)
    }

    /// The first revision of `stream` committed at or after `micros`, or
    /// `None` if all its events are older.
    pub fn stream_revision_at_or_after(
        &self,
        stream: &str,
        micros: i64,
    ) -> Result<Option<Revision>> {
        query::stream_revision_at_or_after(&self.inner.shared, stream, micros)
    }

    /// Saves a snapshot of `snapshot.stream` at `snapshot.revision`, durably
    /// (acknowledged after fsync). The stream must already have that revision.
    /// `created_micros` is set by the store.
    pub fn save_snapshot(&self, mut snapshot: Snapshot) -> Result<()> {
        crate::snapshot::check(&snapshot)?;
        let actual = self.stream_revision(&snapshot.stream)?;
        if actual.revision().is_none_or(|r| r < snapshot.revision) {
            return Err(Error::SnapshotAheadOfStream {
                stream: snapshot.stream,
                revision: snapshot.revision,
                actual,
            });
        }
        snapshot.created_micros = crate::clock::now_micros();
        self.inner.snapshots.save(&snapshot)
    }

    /// The newest snapshot of `stream` at or before `at_or_before` (the
    /// newest of all when `None`). A damaged one is [`Error::Corrupt`].
    /// Snapshots of a deleted stream, or of a revision its metadata now
    /// hides, are not returned.
    pub fn get_snapshot(
        &self,
        stream: &str,
        at_or_before: Option<Revision>,
    ) -> Result<Option<Snapshot>> {
        validate_stream_name(stream)?;
        let first = match crate::visible::visible_stream(&self.inner.shared, stream) {
            Ok(v) => v.first,
            Err(
                Error::StreamNotFound(_) | Error::StreamDeleted(_) | Error::StreamTombstoned { .. },
            ) => return Ok(None),
            Err(e) => return Err(e),
        };
        let snapshot = self.inner.snapshots.get(stream, at_or_before)?;
        Ok(snapshot.filter(|s| s.revision >= first))
    }

    /// Pins the store's files as of its committed end now, for an online
    /// backup: the segments (the active one up to its durable length) and
    /// the snapshots of revisions committed by then, readable unchanged for
    /// as long as the view is held, whatever appends and scavenges do
    /// meanwhile. See [`crate::backup`].
    pub fn backup_view(&self) -> Result<crate::backup::BackupView> {
        crate::backup::pin(&self.inner.shared, &self.inner.snapshots)
    }

    /// What an operator watches: head, index lag, writer queue, fsync and
    /// group-commit histograms, segments and bytes, free disk, disk-full and
    /// poisoned states. Cheap (atomics, a directory's sizes, one statvfs).
    pub fn telemetry(&self) -> StoreTelemetry {
        let sh = &self.inner.shared;
        let segments = sh.segments.current();
        let log_bytes = segments.all().iter().map(|s| s.len().unwrap_or(0)).sum();
        StoreTelemetry {
            head: self.head(),
            indexed: self.indexed_position(),
            writer_queue_depth: sh.queue_depth.load(Ordering::Relaxed),
            writer: sh.counters.snapshot(),
            appended_bytes: sh.counters.bytes.load(Ordering::Relaxed),
            fsync_micros: sh.counters.fsync_micros.snapshot(),
            group_events: sh.counters.group_events.snapshot(),
            group_bytes: sh.counters.group_bytes.snapshot(),
            segments: segments.all().len() as u64,
            log_bytes,
            disk_free_bytes: crate::segment::free_bytes(&sh.log_dir).unwrap_or(0),
            disk_full: sh.disk_full.load(Ordering::Relaxed),
            poisoned: sh.poisoned(),
        }
    }

    /// The writer's cumulative counters (group commits, events, sync time).
    pub fn writer_stats(&self) -> WriterStats {
        self.inner.shared.counters.snapshot()
    }

    /// The last write failed for want of disk space and none succeeded
    /// since (cheap: one atomic load).
    pub fn is_disk_full(&self) -> bool {
        self.inner.shared.disk_full.load(Ordering::Relaxed)
    }

    /// The reason the store refuses writes, if it is poisoned.
    pub fn poisoned(&self) -> Option<String> {
        self.inner.shared.poisoned()
    }

    /// Stops accepting appends, finishes those queued, indexes everything
    /// and flushes the index. Later appends fail with [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }
}
