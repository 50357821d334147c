//! Typed errors of the storage engine. Each bad-input case is its own
//! variant so the server can map it to a distinct gRPC status.

use crate::types::{CurrentRevision, ExpectedRevision, Position};
use std::path::PathBuf;

/// Everything that can go wrong in the store.
///
/// Deliberately not `#[non_exhaustive]`: the server's mapping to gRPC
/// statuses is an exhaustive `match`, so a new variant does not compile
/// until someone decides its status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The expected revision did not hold.
    #[error("wrong expected revision for stream '{stream}': expected {expected}, actual {actual}")]
    WrongExpectedRevision {
        /// The stream whose check failed.
        stream: String,
        /// What the caller expected.
        expected: ExpectedRevision,
        /// What the stream really is at.
        actual: CurrentRevision,
    },
    /// Some but not all event ids of an append were already committed: a
    /// retry that does not match the original append.
    #[error("append to stream '{stream}' partially overlaps an earlier append (event {event_id} already committed)")]
    PartialDuplicate {
        /// The stream.
        stream: String,
        /// One of the event ids found.
        event_id: uuid::Uuid,
    },
    /// A stream name is empty, too long, or has a forbidden character.
    #[error("invalid stream name {name:?}: {reason}")]
    InvalidStreamName {
        /// The name as given.
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A stream name starts with `$`, which is reserved for the system.
    #[error("stream name {0:?} is reserved: names starting with '$' belong to the system")]
    ReservedStreamName(String),
    /// An event field is invalid (empty type, too-long content type, ...).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// The same stream twice in one transaction, no streams, no events...
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// One event's data + metadata is over [`crate::limits::MAX_EVENT_BYTES`].
    #[error("event {id} is {size_bytes} bytes of data+metadata, over the limit of {limit_bytes}")]
    EventTooLarge {
        /// The event's id.
        id: uuid::Uuid,
        /// Its size.
        size_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// Too many events in one append.
    #[error("append has {count} events, over the limit of {limit}")]
    TooManyEvents {
        /// How many were sent.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The whole transaction is too large.
    #[error("append is {size_bytes} bytes, over the limit of {limit_bytes}")]
    AppendTooLarge {
        /// Its encoded size.
        size_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// A snapshot names a revision the stream does not have (yet).
    #[error("cannot save a snapshot of stream '{stream}' at revision {revision}: the stream is at {actual}")]
    SnapshotAheadOfStream {
        /// The stream.
        stream: String,
        /// The snapshot's revision.
        revision: crate::types::Revision,
        /// The stream's actual state.
        actual: CurrentRevision,
    },
    /// A snapshot's data + metadata is over [`crate::snapshot::MAX_SNAPSHOT_BYTES`].
    #[error("snapshot is {size_bytes} bytes, over the limit of {limit_bytes}")]
    SnapshotTooLarge {
        /// Its size.
        size_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// A read named a stream that has no event.
    #[error("stream '{0}' not found")]
    StreamNotFound(String),
    /// The stream was soft-deleted and nothing was appended since.
    #[error("stream '{0}' is deleted")]
    StreamDeleted(String),
    /// The stream was tombstoned: it can never be read or written again.
    /// `write` says whether a write (append, metadata, delete) was refused.
    #[error("stream '{stream}' is tombstoned (deleted for good)")]
    StreamTombstoned {
        /// The stream.
        stream: String,
        /// A write was refused (else a read).
        write: bool,
    },
    /// Stream metadata that cannot be set (a zero limit, ...).
    #[error("invalid stream metadata: {0}")]
    InvalidMetadata(String),
    /// Custom stream metadata over the size limit.
    #[error("custom stream metadata is {size_bytes} bytes, over the limit of {limit_bytes}")]
    MetadataTooLarge {
        /// Its size.
        size_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// A read asked for a position beyond the log's head.
    #[error("position {requested} is beyond the log head {head}")]
    PositionBeyondHead {
        /// The position asked for.
        requested: Position,
        /// The current head.
        head: Position,
    },
    /// A write or fsync failed earlier; the store refuses writes until it is
    /// reopened, because the state of the file after a failed fsync is unknown.
    #[error("store is poisoned after an I/O failure ({0}); restart the server to recover")]
    Poisoned(String),
    /// The disk is full. Nothing of this append was written.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// The writer's queue is full (see [`Store::try_submit`](crate::Store::try_submit)).
    /// Nothing was written; retry later.
    #[error("the writer's queue is full ({0} requests waiting); retry later")]
    Overloaded(usize),
    /// The store is shutting down or has shut down.
    #[error("store is closed")]
    Closed,
    /// Another process holds the data directory.
    #[error("data directory {0} is locked by another process (is another strata running on it?)")]
    Locked(PathBuf),
    /// A record failed its checksum or framing where it must be intact.
    #[error("corruption in {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The index database failed (its engine is private to `index.rs`).
    #[error("index error: {0}")]
    Index(IndexError),
    /// Any other I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A failure of the index or snapshot database, opaque so that which
/// embedded database the store uses stays its own business.
#[derive(Debug)]
pub struct IndexError(pub(crate) Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
