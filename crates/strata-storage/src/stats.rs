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

/// The writer's cumulative counters, updated on the writer thread.
#[derive(Debug, Default)]
pub(crate) struct WriterCounters {
    pub groups: AtomicU64,
    pub transactions: AtomicU64,
    pub events: AtomicU64,
    pub sync_nanos: AtomicU64,
}

impl WriterCounters {
    /// Counts one durable group commit.
    pub(crate) fn group(&self, transactions: u64, events: u64, sync_nanos: u64) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.transactions.fetch_add(transactions, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
        self.sync_nanos.fetch_add(sync_nanos, Ordering::Relaxed);
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
