//! Counters and reports the store gives about itself: what opening found,
//! sizes on disk, and the writer's cumulative counters.
//!
//! Plain data plus the writer's atomic counters; computing the sizes is
//! the façade's job (`Store::stats`), not this file's.

use crate::types::Position;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// What an operator watches, read at one moment (`Store::telemetry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreTelemetry {
    /// Last committed position.
    pub head: Position,
    /// Highest indexed position.
    pub indexed: Position,
    /// Requests waiting for the writer.
    pub writer_queue_depth: u64,
    /// Group commits, events and bytes written since open.
    pub writer: WriterStats,
    /// Bytes appended since open.
    pub appended_bytes: u64,
    /// Write + fdatasync time per group commit, µs.
    pub fsync_micros: HistogramSnapshot,
    /// Events per group commit.
    pub group_events: HistogramSnapshot,
    /// Bytes per group commit.
    pub group_bytes: HistogramSnapshot,
    /// Segment files and their bytes.
    pub segments: u64,
    /// Bytes of all segment files.
    pub log_bytes: u64,
    /// Free bytes on the data directory's filesystem (for unprivileged use).
    pub disk_free_bytes: u64,
    /// The last write failed for want of space, and none succeeded since.
    pub disk_full: bool,
    /// Why writes are refused, if the store is poisoned.
    pub poisoned: Option<String>,
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

/// A histogram with fixed bucket bounds, updated with relaxed atomics (no
/// lock on the writer's path), read whole at scrape time.
#[derive(Debug)]
pub(crate) struct AtomicHistogram {
    bounds: &'static [u64],
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl AtomicHistogram {
    pub(crate) fn new(bounds: &'static [u64]) -> AtomicHistogram {
        AtomicHistogram {
            bounds,
            buckets: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, v: u64) {
        let i = self.bounds.partition_point(|b| *b < v);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            counts: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// A histogram read at one moment: per-bucket counts (not cumulative) for
/// values at most each bound; values above the last bound count only in
/// `count` and `sum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Upper bounds of the buckets, ascending, in the histogram's unit.
    pub bounds: &'static [u64],
    /// Observations per bucket.
    pub counts: Vec<u64>,
    /// Sum of all observations.
    pub sum: u64,
    /// Number of observations.
    pub count: u64,
}

/// Bucket bounds of the fsync histogram, in microseconds.
pub const FSYNC_MICROS_BOUNDS: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];
/// Bucket bounds of events per group commit.
pub const GROUP_EVENTS_BOUNDS: &[u64] = &[1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 5_000, 10_000];
/// Bucket bounds of bytes per group commit.
pub const GROUP_BYTES_BOUNDS: &[u64] = &[
    1 << 10,
    4 << 10,
    16 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    4 << 20,
    16 << 20,
    64 << 20,
];

/// The writer's cumulative counters, updated on the writer thread.
#[derive(Debug)]
pub(crate) struct WriterCounters {
    pub groups: AtomicU64,
    pub transactions: AtomicU64,
    pub events: AtomicU64,
    pub sync_nanos: AtomicU64,
    /// Appended bytes (records).
    pub bytes: AtomicU64,
    /// Write + fdatasync time per group, µs.
    pub fsync_micros: AtomicHistogram,
    pub group_events: AtomicHistogram,
    pub group_bytes: AtomicHistogram,
}

impl Default for WriterCounters {
    fn default() -> Self {
        WriterCounters {
            groups: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            events: AtomicU64::new(0),
            sync_nanos: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            fsync_micros: AtomicHistogram::new(FSYNC_MICROS_BOUNDS),
            group_events: AtomicHistogram::new(GROUP_EVENTS_BOUNDS),
            group_bytes: AtomicHistogram::new(GROUP_BYTES_BOUNDS),
        }
    }
}

impl WriterCounters {
    /// Counts one durable group commit.
    pub(crate) fn group(&self, transactions: u64, events: u64, bytes: u64, sync_nanos: u64) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.transactions.fetch_add(transactions, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.sync_nanos.fetch_add(sync_nanos, Ordering::Relaxed);
        self.fsync_micros.record(sync_nanos / 1_000);
        self.group_events.record(events);
        self.group_bytes.record(bytes);
    }

    pub(crate) fn snapshot(&self) -> WriterStats {
        WriterStats {
            groups: self.groups.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            sync_nanos: self.sync_nanos.load(Ordering::Relaxed),
        }
    }
}
