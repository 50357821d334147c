//! The types of a stream's lifecycle (its metadata, deletes) and of the
//! store's upkeep (scavenges): what callers hand in and get back from
//! [`Client::set_stream_metadata`](crate::Client::set_stream_metadata),
//! [`Client::get_stream_metadata`](crate::Client::get_stream_metadata) and
//! the scavenge calls.
//!
//! Plain data, like `types.rs`. Not here: the calls (`manage.rs`) or the
//! protobuf conversions (`convert/lifecycle.rs`).

use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

use crate::error::Result;

/// The prefix of a stream's metadata stream: the lifecycle records of
/// `order-1` (metadata changes, deletes) are events of `$$order-1`.
pub(crate) const METADATA_STREAM_PREFIX: &str = "$$";

/// The name of `stream`'s metadata stream (`$$<stream>`), which the server
/// names in a failed metadata concurrency check.
pub(crate) fn metadata_stream(stream: &str) -> String {
    format!("{METADATA_STREAM_PREFIX}{stream}")
}

/// A stream's metadata: its retention rules and the application's own
/// bytes. Unset rules mean "no limit". An event stays visible only if its
/// revision is at or after `truncate_before`, it is among the last
/// `max_count` revisions, and it is no older than `max_age_seconds`;
/// hidden events are gone from every read at once and their disk space is
/// given back by the next scavenge.
///
/// Setting metadata replaces the previous metadata whole (see
/// [`Client::set_stream_metadata`](crate::Client::set_stream_metadata)).
///
/// ```
/// use strata_client::StreamMetadata;
///
/// let m = StreamMetadata::new()
///     .max_count(1000)
///     .max_age_seconds(30 * 24 * 3600)
///     .custom_json(&serde_json::json!({"owner": "billing"}))?;
/// assert_eq!(m.max_count, Some(1000));
/// assert_eq!(m.truncate_before, None);
/// let custom: serde_json::Value = m.custom_from_json()?;
/// assert_eq!(custom["owner"], "billing");
/// # Ok::<(), strata_client::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StreamMetadata {
    /// Keep only the last this many revisions visible; at least 1.
    pub max_count: Option<u64>,
    /// Keep only events at most this old visible (by their commit time), in
    /// seconds; at least 1.
    pub max_age_seconds: Option<u64>,
    /// Hide every revision before this one.
    pub truncate_before: Option<u64>,
    /// The application's own bytes (e.g. JSON), returned as given; at most
    /// 64 KiB.
    pub custom: Vec<u8>,
}

impl StreamMetadata {
    /// No rules, no custom bytes: setting it lifts every limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps only the last `count` revisions visible (0 is refused by the
    /// server).
    pub fn max_count(mut self, count: u64) -> Self {
        self.max_count = Some(count);
        self
    }

    /// Keeps only events at most `seconds` old visible (0 is refused by the
    /// server).
    pub fn max_age_seconds(mut self, seconds: u64) -> Self {
        self.max_age_seconds = Some(seconds);
        self
    }

    /// Hides every revision before `revision`.
    pub fn truncate_before(mut self, revision: u64) -> Self {
        self.truncate_before = Some(revision);
        self
    }

    /// Sets the custom bytes.
    pub fn custom(mut self, custom: impl Into<Vec<u8>>) -> Self {
        self.custom = custom.into();
        self
    }

    /// Sets the custom bytes to `value` serialized as JSON.
    pub fn custom_json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self> {
        self.custom = serde_json::to_vec(value)?;
        Ok(self)
    }

    /// Deserializes the custom bytes as JSON.
    pub fn custom_from_json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.custom)?)
    }
}

/// What [`Client::set_stream_metadata`](crate::Client::set_stream_metadata)
/// wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataWritten {
    /// The metadata's new revision (0 for the first change): pass it as
    /// `ExpectedRevision::Exact` to make the next change conditional on
    /// this one.
    pub metadata_revision: u64,
    /// Global position of the metadata record (in `$$<stream>`).
    pub position: u64,
}

/// A stream's metadata and lifecycle state, from
/// [`Client::get_stream_metadata`](crate::Client::get_stream_metadata).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StreamMetadataInfo {
    /// The current metadata (no rules and no custom bytes if never set).
    pub metadata: StreamMetadata,
    /// The metadata's revision; `None` when no lifecycle change (metadata,
    /// delete, tombstone) was ever written for the stream. Every such change
    /// moves it.
    pub metadata_revision: Option<u64>,
    /// Soft-deleted, and nothing appended since.
    pub deleted: bool,
    /// Tombstoned: deleted for good, the name can never be used again.
    pub tombstoned: bool,
}

/// Where a scavenge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScavengeState {
    /// Still going.
    Running,
    /// Went through every sealed segment.
    Completed,
    /// Stopped on request; the segments it finished stay rewritten.
    Stopped,
    /// Gave up on an error ([`ScavengeStatus::error`]).
    Failed,
}

/// A scavenge's progress or outcome: the running one, or the last one since
/// the server started.
///
/// A scavenge gives back the disk space of records that are invisible for
/// good (deleted streams, events hidden by retention rules, superseded
/// metadata) by rewriting sealed segments while the server keeps serving.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScavengeStatus {
    /// Its id, also in its records in the `$scavenges` stream.
    pub id: Uuid,
    /// Running, or how it ended.
    pub state: ScavengeState,
    /// First position of the segment being processed (while running).
    pub current_segment: Option<u64>,
    /// Segments processed so far.
    pub segments_done: u64,
    /// Segments to process in all.
    pub segments_total: u64,
    /// Bytes of segments read so far.
    pub bytes_processed: u64,
    /// Bytes of disk given back so far.
    pub bytes_reclaimed: u64,
    /// Records dropped so far.
    pub records_dropped: u64,
    /// When it started, unix microseconds.
    pub started_micros: i64,
    /// When it ended, unix microseconds; `None` while running.
    pub finished_micros: Option<i64>,
    /// Why it failed; `None` unless [`ScavengeState::Failed`].
    pub error: Option<String>,
    /// Its read rate limit, if it has one.
    pub max_bytes_per_second: Option<u64>,
}

impl ScavengeStatus {
    /// True while the scavenge is still going.
    pub fn is_running(&self) -> bool {
        self.state == ScavengeState::Running
    }
}
