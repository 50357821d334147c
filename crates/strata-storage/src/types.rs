//! Domain types of the storage engine: what callers hand in and get back.
//!
//! These are plain data; no I/O happens here. The server converts protobuf
//! messages into these types in exactly one place (`server/src/api/strata/convert.rs`).

use uuid::Uuid;

/// A global position: the gapless, 1-based sequence number of an event in
/// commit order. `0` means "before the first event".
pub type Position = u64;

/// A stream revision: the 0-based, contiguous index of an event in its stream.
pub type Revision = u64;

/// The optimistic-concurrency condition of one stream append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedRevision {
    /// No check: append whatever the stream's state.
    Any,
    /// The stream must not exist yet (it has no event).
    NoStream,
    /// The stream must exist (it has at least one event).
    StreamExists,
    /// The stream's last revision must be exactly this one.
    Exact(Revision),
}

/// The state of a stream as seen by a concurrency check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CurrentRevision {
    /// The stream has no event.
    NoStream,
    /// The stream's last revision.
    Current(Revision),
}

impl CurrentRevision {
    /// The last revision, if the stream exists.
    pub fn revision(self) -> Option<Revision> {
        match self {
            CurrentRevision::NoStream => None,
            CurrentRevision::Current(r) => Some(r),
        }
    }
}

impl std::fmt::Display for CurrentRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CurrentRevision::NoStream => f.write_str("no stream"),
            CurrentRevision::Current(r) => write!(f, "{r}"),
        }
    }
}

impl std::fmt::Display for ExpectedRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedRevision::Any => f.write_str("any"),
            ExpectedRevision::NoStream => f.write_str("no stream"),
            ExpectedRevision::StreamExists => f.write_str("stream exists"),
            ExpectedRevision::Exact(r) => write!(f, "{r}"),
        }
    }
}

/// An event to append. The store assigns revision, position and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Client-chosen id; re-sending the same ids makes a retry idempotent.
    pub id: Uuid,
    /// The event type, e.g. `OrderPlaced`.
    pub event_type: String,
    /// The content type of `data`, e.g. `application/json`.
    pub content_type: String,
    /// The payload.
    pub data: Vec<u8>,
    /// Free-form metadata.
    pub metadata: Vec<u8>,
}

/// One stream's part of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppend {
    /// The stream to append to.
    pub stream: String,
    /// The concurrency condition.
    pub expected: ExpectedRevision,
    /// The events, in order; at least one.
    pub events: Vec<NewEvent>,
}

/// The outcome of one stream append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Revision of the first event written.
    pub first_revision: Revision,
    /// Revision of the last event written (the stream's new revision).
    pub last_revision: Revision,
    /// Global position of the first event written.
    pub first_position: Position,
    /// Global position of the last event written.
    pub last_position: Position,
    /// True when nothing was written because this was a retry of an append
    /// that had already been committed; the figures are the original ones.
    pub deduplicated: bool,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The stream it belongs to.
    pub stream: String,
    /// Its revision in that stream.
    pub revision: Revision,
    /// Its global position.
    pub position: Position,
    /// Its id.
    pub id: Uuid,
    /// Its type.
    pub event_type: String,
    /// Content type of `data`.
    pub content_type: String,
    /// Commit timestamp, unix microseconds; non-decreasing along the log.
    pub created_micros: i64,
    /// Payload.
    pub data: Vec<u8>,
    /// Metadata.
    pub metadata: Vec<u8>,
}

/// Which way a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Oldest first.
    Forwards,
    /// Newest first.
    Backwards,
}

/// Where a stream read starts (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamFrom {
    /// Revision 0 (forwards) — meaningless backwards, where it yields revision 0 only.
    Start,
    /// The last revision (backwards) — forwards it yields nothing after it.
    End,
    /// This revision, inclusive.
    Revision(Revision),
}

/// Where a `$all` read starts (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllFrom {
    /// Position 1.
    Start,
    /// The head (last committed position).
    End,
    /// This global position, inclusive.
    Position(Position),
}

/// A filter for `$all` reads and subscriptions. An empty set matches all
/// application events; system records (streams starting with `$`: stream
/// metadata, deletes, the store's own history) only with `include_system`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Keep events whose type is one of these (exact match).
    pub event_types: Vec<String>,
    /// Keep events whose stream name starts with one of these.
    pub stream_prefixes: Vec<String>,
    /// Also deliver system records.
    pub include_system: bool,
}

impl Filter {
    /// True if the filter lets every application event through.
    pub fn is_empty(&self) -> bool {
        self.event_types.is_empty() && self.stream_prefixes.is_empty()
    }

    /// Whether an event of this stream and type passes.
    pub fn matches(&self, stream: &str, event_type: &str) -> bool {
        (self.include_system || !stream.starts_with('$'))
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
            && (self.stream_prefixes.is_empty()
                || self
                    .stream_prefixes
                    .iter()
                    .any(|p| stream.starts_with(p.as_str())))
    }
}

/// A page of a `$all` read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllPage {
    /// Matching events, in read order.
    pub events: Vec<RecordedEvent>,
    /// The last position examined (matching or not); forwards, a reader
    /// resumes after it, backwards before it. `0` when nothing was examined.
    pub scanned_to: Position,
    /// True when the read stopped at the end of the log (forwards: the head;
    /// backwards: position 1) rather than at `max_count`.
    pub reached_end: bool,
}

/// An event type or a category, as listed by `Store::list_event_types` and
/// `Store::list_categories`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCount {
    /// The event type or category.
    pub name: String,
    /// Its events in the log that no scavenge has dropped, visible or not
    /// (system records are in no count).
    pub events: u64,
}

/// A stream name and its last revision, as listed by `list_streams`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Stream name.
    pub name: String,
    /// Last revision.
    pub revision: Revision,
    /// Global position of the last event.
    pub last_position: Position,
}

/// A stream's retention settings and the application's own metadata.
/// Every field is optional; unset means "no limit".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamMetadata {
    /// Keep only the last this many revisions visible (at least 1).
    pub max_count: Option<u64>,
    /// Hide events older than this many seconds (at least 1).
    pub max_age_seconds: Option<u64>,
    /// Hide revisions below this one.
    pub truncate_before: Option<Revision>,
    /// Application bytes (e.g. JSON), returned as given.
    pub custom: Vec<u8>,
}

/// A stream's metadata as `get_stream_metadata` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamMetadataInfo {
    /// The metadata in force.
    pub metadata: StreamMetadata,
    /// Revision of the last record of the stream's metadata stream; `None`
    /// if none was ever written. Expected-revision checks on
    /// `set_stream_metadata` compare against it.
    pub metadata_revision: Option<Revision>,
    /// Soft-deleted, and nothing appended since.
    pub deleted: bool,
    /// Tombstoned: can never be written again.
    pub tombstoned: bool,
}
