//! The client's domain types: what callers hand in and get back.
//!
//! These are plain data. Conversions to and from the generated protobuf
//! messages live in `convert.rs` only.

use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

use crate::error::Result;
use crate::filter::Filter;

/// The content type [`EventData::json`] sets.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// The content type [`EventData::binary`] sets.
pub const CONTENT_TYPE_BINARY: &str = "application/octet-stream";

/// The optimistic-concurrency condition of an append.
///
/// ```
/// use strata_client::ExpectedRevision;
/// assert_eq!(ExpectedRevision::default(), ExpectedRevision::Any);
/// assert_eq!(ExpectedRevision::Exact(3).to_string(), "3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExpectedRevision {
    /// No check: append whatever the stream's state.
    #[default]
    Any,
    /// The stream must not exist yet (it has no event).
    NoStream,
    /// The stream must exist (it has at least one event).
    StreamExists,
    /// The stream's last revision must be exactly this one.
    Exact(u64),
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

/// A stream's actual state, as reported by a failed concurrency check.
///
/// ```
/// use strata_client::CurrentRevision;
/// assert_eq!(CurrentRevision::Current(7).revision(), Some(7));
/// assert_eq!(CurrentRevision::NoStream.revision(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CurrentRevision {
    /// The stream has no event.
    NoStream,
    /// The stream's last revision.
    Current(u64),
}

impl CurrentRevision {
    /// The last revision, if the stream exists.
    pub fn revision(self) -> Option<u64> {
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

/// An event to append. The server assigns its revision, position and
/// timestamp.
///
/// Every `EventData` gets a fresh random (v4) id when built; keep the same
/// value (or set the id with [`EventData::with_id`]) when retrying an append
/// yourself, so that the server recognises the retry and does not write the
/// events twice.
///
/// ```
/// use strata_client::EventData;
///
/// #[derive(serde::Serialize)]
/// struct OrderPlaced { order: u32 }
///
/// let e = EventData::json("OrderPlaced", &OrderPlaced { order: 7 })
///     .unwrap()
///     .with_metadata(br#"{"user":"ann"}"#.to_vec());
/// assert_eq!(e.content_type, "application/json");
/// assert_eq!(e.data, br#"{"order":7}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventData {
    /// The event id, unique across the store.
    pub id: Uuid,
    /// The event type, 1..255 bytes, e.g. `OrderPlaced`.
    pub event_type: String,
    /// The content type of `data`.
    pub content_type: String,
    /// The payload.
    pub data: Vec<u8>,
    /// Free-form metadata.
    pub metadata: Vec<u8>,
}

impl EventData {
    /// An event whose payload is `value` serialized as JSON, with content
    /// type `application/json` and a new random id.
    pub fn json<T: Serialize + ?Sized>(event_type: impl Into<String>, value: &T) -> Result<Self> {
        Ok(Self {
            id: Uuid::new_v4(),
            event_type: event_type.into(),
            content_type: CONTENT_TYPE_JSON.to_owned(),
            data: serde_json::to_vec(value)?,
            metadata: Vec::new(),
        })
    }

    /// An event with an opaque payload, content type
    /// `application/octet-stream` and a new random id.
    ///
    /// ```
    /// let e = strata_client::EventData::binary("Blob", vec![1, 2, 3]);
    /// assert_eq!(e.data, [1, 2, 3]);
    /// ```
    pub fn binary(event_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self {
            id: Uuid::new_v4(),
            event_type: event_type.into(),
            content_type: CONTENT_TYPE_BINARY.to_owned(),
            data: data.into(),
            metadata: Vec::new(),
        }
    }

    /// Replaces the id (e.g. with one derived from a command id, so that the
    /// same command always produces the same event).
    ///
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let e = strata_client::EventData::binary("Blob", vec![]).with_id(id);
    /// assert_eq!(e.id, id);
    /// ```
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: impl Into<Vec<u8>>) -> Self {
        self.metadata = metadata.into();
        self
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }
}

/// One stream's part of a multi-stream transaction
/// ([`Client::append_multi`](crate::Client::append_multi)).
///
/// ```
/// use strata_client::{EventData, ExpectedRevision, StreamAppend};
/// let part = StreamAppend::new("order-1", ExpectedRevision::NoStream,
///     vec![EventData::binary("Placed", vec![])]);
/// assert_eq!(part.stream, "order-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppend {
    /// The stream to append to.
    pub stream: String,
    /// The concurrency condition for that stream.
    pub expected: ExpectedRevision,
    /// The events, in order; at least one.
    pub events: Vec<EventData>,
}

impl StreamAppend {
    /// Builds one part of a transaction.
    pub fn new(
        stream: impl Into<String>,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Self {
        Self {
            stream: stream.into(),
            expected,
            events,
        }
    }
}

/// The outcome of an append to one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppendResult {
    /// Revision of the first event written.
    pub first_revision: u64,
    /// Revision of the last event written (the stream's new revision).
    pub last_revision: u64,
    /// Global position of the first event written.
    pub first_position: u64,
    /// Global position of the last event written.
    pub last_position: u64,
    /// True when nothing was written because this was a retry of an append
    /// the server had already committed; the figures are the original ones.
    pub deduplicated: bool,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedEvent {
    /// The stream it belongs to.
    pub stream: String,
    /// Its 0-based revision in that stream.
    pub revision: u64,
    /// Its 1-based global position.
    pub position: u64,
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

impl RecordedEvent {
    /// Deserializes the payload as JSON.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use futures::TryStreamExt;
    /// use strata_client::ReadOptions;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct OrderPlaced { order: u32 }
    ///
    /// let events: Vec<_> = client.read_stream("orders", ReadOptions::forwards()).try_collect().await?;
    /// for e in events {
    ///     let placed: OrderPlaced = e.json()?;
    ///     println!("order {}", placed.order);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.data)?)
    }
}

/// Which way a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forwards,
    /// Newest first.
    Backwards,
}

/// Where a stream read starts (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamFrom {
    /// The first event.
    Start,
    /// The last event.
    End,
    /// This revision, inclusive.
    Revision(u64),
    /// The first event committed at or after this time (forwards), or the
    /// last one committed at or before it (backwards); unix microseconds.
    Timestamp(i64),
}

/// Where a `$all` read starts (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllFrom {
    /// Position 1.
    Start,
    /// The head (the last committed position).
    End,
    /// This global position, inclusive.
    Position(u64),
    /// The first event committed at or after this time (forwards), or the
    /// last one committed at or before it (backwards); unix microseconds.
    Timestamp(i64),
}

/// Options of [`Client::read_stream`](crate::Client::read_stream).
///
/// ```
/// use strata_client::{ReadOptions, StreamFrom};
/// let last_ten = ReadOptions::backwards().max_count(10);
/// let from_rev_5 = ReadOptions::forwards().from(StreamFrom::Revision(5));
/// # let _ = (last_ten, from_rev_5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReadOptions {
    /// Which way to read.
    pub direction: Direction,
    /// Where to start; `None` means the start (forwards) or end (backwards).
    pub from: Option<StreamFrom>,
    /// Most events to return; 0 means no limit.
    pub max_count: u64,
}

impl ReadOptions {
    /// Forwards from the first event, no limit.
    pub fn forwards() -> Self {
        Self::default()
    }

    /// Backwards from the last event, no limit.
    pub fn backwards() -> Self {
        Self {
            direction: Direction::Backwards,
            ..Self::default()
        }
    }

    /// Sets where to start (inclusive).
    pub fn from(mut self, from: StreamFrom) -> Self {
        self.from = Some(from);
        self
    }

    /// Sets the most events to return (0: no limit).
    pub fn max_count(mut self, max_count: u64) -> Self {
        self.max_count = max_count;
        self
    }
}

/// Options of [`Client::read_all`](crate::Client::read_all).
///
/// ```
/// use strata_client::{AllFrom, Filter, ReadAllOptions};
/// let opts = ReadAllOptions::forwards()
///     .from(AllFrom::Position(100))
///     .max_count(50)
///     .filter(Filter::new().stream_prefix("order-"));
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReadAllOptions {
    /// Which way to read.
    pub direction: Direction,
    /// Where to start; `None` means the start (forwards) or end (backwards).
    pub from: Option<AllFrom>,
    /// Most events to return; 0 means no limit.
    pub max_count: u64,
    /// Which events to return.
    pub filter: Filter,
}

impl ReadAllOptions {
    /// Forwards from position 1, no limit, no filter.
    pub fn forwards() -> Self {
        Self::default()
    }

    /// Backwards from the head, no limit, no filter.
    pub fn backwards() -> Self {
        Self {
            direction: Direction::Backwards,
            ..Self::default()
        }
    }

    /// Sets where to start (inclusive).
    pub fn from(mut self, from: AllFrom) -> Self {
        self.from = Some(from);
        self
    }

    /// Sets the most events to return (0: no limit).
    pub fn max_count(mut self, max_count: u64) -> Self {
        self.max_count = max_count;
        self
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }
}

/// A stream name with its last revision, as listed by
/// [`Client::list_streams`](crate::Client::list_streams).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSummary {
    /// Stream name.
    pub name: String,
    /// Last revision.
    pub revision: u64,
    /// Global position of the stream's last event.
    pub last_position: u64,
}

/// One page of [`Client::list_streams_page`](crate::Client::list_streams_page).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamsPage {
    /// The streams of this page, by name.
    pub streams: Vec<StreamSummary>,
    /// Token for the next page; `None` when there are no more streams.
    pub next_page_token: Option<String>,
}

/// Facts about the server, from
/// [`Client::server_info`](crate::Client::server_info).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The last committed global position (0 when the log is empty).
    pub head_position: u64,
    /// Highest position in the stream index (may lag the head; reads never do).
    pub indexed_position: u64,
    /// The server's version.
    pub version: String,
    /// Largest data + metadata of one event, in bytes.
    pub max_event_bytes: u64,
    /// Most events in one append.
    pub max_events_per_append: u64,
    /// Largest encoded append, in bytes.
    pub max_append_bytes: u64,
}

/// Where a subscription starts.
///
/// For stream subscriptions `After` takes a revision; for `$all`
/// subscriptions a global position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SubscribeFrom {
    /// Everything from the first event.
    #[default]
    Start,
    /// Only events committed after the subscription starts.
    End,
    /// Events after this revision (streams) or position (`$all`), exclusive.
    After(u64),
}

/// What a subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionItem {
    /// The next event, in log order.
    Event(RecordedEvent),
    /// Everything committed when the subscription caught up has been
    /// delivered; the value is the log head (a global position) at that
    /// moment. Sent once per (re)subscription, so it can repeat after the
    /// client reconnected.
    CaughtUp(u64),
    /// Filtered `$all` subscriptions: every event up to this global
    /// position was examined (and the matching ones delivered).
    Checkpoint(u64),
}

/// A snapshot to save: an application's serialized state of a stream as of
/// one revision (see [`Client::save_snapshot`](crate::Client::save_snapshot)).
///
/// ```
/// let s = strata_client::SnapshotData::new("OrderAggregate", 1, br#"{"total":12}"#.to_vec());
/// assert_eq!(s.schema_version, 1);
/// assert!(s.metadata.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotData {
    /// What kind of state this is, e.g. `OrderAggregate`; at most 255 bytes.
    pub snapshot_type: String,
    /// The application's schema version of `data`, so that a loader can
    /// ignore snapshots written by an older (or newer) version of its code.
    pub schema_version: u32,
    /// The serialized state. `data` + `metadata` at most 16 MiB.
    pub data: Vec<u8>,
    /// Free-form metadata.
    pub metadata: Vec<u8>,
}

impl SnapshotData {
    /// A snapshot with no metadata.
    pub fn new(snapshot_type: impl Into<String>, schema_version: u32, data: Vec<u8>) -> Self {
        Self {
            snapshot_type: snapshot_type.into(),
            schema_version,
            data,
            metadata: Vec::new(),
        }
    }

    /// Sets the metadata.
    ///
    /// ```
    /// let s = strata_client::SnapshotData::new("T", 1, vec![]).with_metadata(b"m".to_vec());
    /// assert_eq!(s.metadata, b"m");
    /// ```
    pub fn with_metadata(mut self, metadata: impl Into<Vec<u8>>) -> Self {
        self.metadata = metadata.into();
        self
    }
}

/// A stored snapshot, as returned by
/// [`Client::get_snapshot`](crate::Client::get_snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream.
    pub stream: String,
    /// The revision whose state this is (events `0..=revision` applied).
    pub revision: u64,
    /// What kind of state this is.
    pub snapshot_type: String,
    /// The application's schema version of `data`.
    pub schema_version: u32,
    /// The serialized state.
    pub data: Vec<u8>,
    /// Free-form metadata.
    pub metadata: Vec<u8>,
    /// When the server stored it, unix microseconds.
    pub created_micros: i64,
}
