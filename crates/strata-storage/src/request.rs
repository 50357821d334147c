//! What the writer's queue carries: a request (an operation, its encoded
//! size, and the callback that gets the outcome), and [`Write`], the public
//! form of the operations callers outside the store may ask for.
//!
//! Its own file so that the writer, the planner, the façade and the
//! scavenger can all name these types without importing each other.

use crate::error::Result;
use crate::types::{AppendResult, ExpectedRevision, StreamAppend, StreamMetadata};
use std::time::Instant;

/// Called once with the outcome of a transaction, on the writer thread,
/// with when it went through the writer if it reached the log.
pub(crate) type Reply = Box<dyn FnOnce(Result<Vec<AppendResult>>, Option<CommitTiming>) + Send>;

/// When a request went through the writer: for tracing a commit as queue
/// wait (`enqueued..started`), write (`started..written`) and fsync
/// (`written..synced`). The last three are shared by the whole group commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitTiming {
    /// The request entered the writer's queue.
    pub enqueued: Instant,
    /// The writer began the group commit that holds it.
    pub started: Instant,
    /// The group's bytes were written (before fdatasync).
    pub written: Instant,
    /// fdatasync returned: the request is durable.
    pub synced: Instant,
}

/// A change that goes through the writer: committed in the log, durable
/// before it is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A transaction over one or more streams.
    Append(Vec<StreamAppend>),
    /// Replace a stream's metadata; `expected` is checked against the
    /// metadata's revision.
    SetMetadata {
        /// The stream.
        stream: String,
        /// Expected metadata revision.
        expected: ExpectedRevision,
        /// The new metadata (replaces the old whole).
        metadata: StreamMetadata,
    },
    /// Soft-delete or tombstone a stream; `expected` is checked against the
    /// stream's revision (a missing stream is `StreamNotFound` unless `Any`).
    Delete {
        /// The stream.
        stream: String,
        /// Expected stream revision.
        expected: ExpectedRevision,
        /// Delete for good: the name can never be used again.
        tombstone: bool,
    },
}

/// What a request asks the writer to do.
pub(crate) enum Op {
    /// A change from outside the store (client appends: no `$` streams).
    Write(Write),
    /// A change to system streams (names starting with `$`), by the store
    /// itself or the server (consumer groups' checkpoints and parked events).
    System(Write),
    /// Seal the active segment so that everything written so far can be
    /// scavenged; the reply comes once the next segment exists.
    Seal,
}

/// A request waiting for the writer.
pub(crate) struct Request {
    pub op: Op,
    /// Encoded size, from validation (an estimate for lifecycle records).
    pub bytes: usize,
    pub reply: Reply,
    /// When it was queued.
    pub enqueued: Instant,
}
