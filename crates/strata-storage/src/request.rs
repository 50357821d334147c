//! What the writer's queue carries: a request (an operation, its encoded
//! size, and the callback that gets the outcome).
//!
//! Its own file so that the writer, the planner, the façade and the
//! scavenger can all name these types without importing each other.

use crate::error::Result;
use crate::types::{AppendResult, ExpectedRevision, StreamAppend, StreamMetadata};

/// Called once with the outcome of a transaction, on the writer thread.
pub(crate) type Reply = Box<dyn FnOnce(Result<Vec<AppendResult>>) + Send>;

/// What a request asks the writer to do.
pub(crate) enum Op {
    /// A client's transaction (validated: no `$` streams).
    Append(Vec<StreamAppend>),
    /// The store's own appends to its system streams.
    System(Vec<StreamAppend>),
    /// Replace a stream's metadata (a record in `$$stream`).
    SetMetadata {
        stream: String,
        /// Checked against the metadata stream's revision.
        expected: ExpectedRevision,
        metadata: StreamMetadata,
    },
    /// Soft-delete or tombstone a stream (a record in `$$stream`).
    Delete {
        stream: String,
        /// Checked against the stream's own revision.
        expected: ExpectedRevision,
        tombstone: bool,
    },
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
}
