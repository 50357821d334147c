//! What is in the store, as listings and counts: event types, categories,
//! streams, and the store's statistics. Thin entry points over `names`,
//! `query` and the engine's parts; not the reads of events (`store.rs`).

use super::Store;
use crate::error::Result;
use crate::query;
use crate::stats::StoreStats;
use crate::types::*;

impl Store {
    /// Event types of application events (system records have none here)
    /// starting with `prefix` (`""`: all), in name order after `after`
    /// (exclusive), at most `limit` (cut to
    /// [`MAX_LISTED_NAMES`](crate::limits::MAX_LISTED_NAMES)), each with
    /// its events in the log that no scavenge has dropped, visible or not.
    pub fn list_event_types(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<NameCount>> {
        let kind = crate::secondary::Kind::EventType;
        crate::names::list(&self.inner.shared, kind, prefix, after, limit)
    }

    /// Categories (a stream name up to its first
    /// [`Options::category_separator`](crate::Options::category_separator)), as [`Store::list_event_types`].
    pub fn list_categories(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<NameCount>> {
        let kind = crate::secondary::Kind::Category;
        crate::names::list(&self.inner.shared, kind, prefix, after, limit)
    }

    /// The category separator the index uses: the one
    /// [`Options::category_separator`](crate::Options::category_separator) gave, or the one the index was
    /// built with when it gave none.
    pub fn category_separator(&self) -> char {
        self.inner.shared.index.secondary().separator()
    }

    /// Streams whose names start with `prefix`, in name order, after `after`
    /// (exclusive), at most `limit`.
    pub fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        query::list_streams(&self.inner.shared, prefix, after, limit)
    }

    /// Counts and sizes.
    pub fn stats(&self) -> Result<StoreStats> {
        let sh = &self.inner.shared;
        let mut log_bytes = 0;
        for s in sh.segments.current().all() {
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
}
