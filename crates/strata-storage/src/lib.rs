//! `strata-storage`: the storage engine of Strata.
//!
//! It owns the data directory: an append-only, segmented, CRC-checked log
//! (the source of truth) and a sled index of streams derived from it. It
//! offers transactions over streams with optimistic concurrency, group
//! commit with fdatasync before acknowledgement, reads of streams and of the
//! global log, change notification, crash recovery and offline verification.
//!
//! It is *not* a server: it knows nothing of tokio, tonic or prost. Its API
//! is blocking (or callback-based for appends) and thread-safe; callers in
//! async code use the callback form or a blocking pool.
//!
//! Code map: [`codec`] (record bytes), `segment` (files), `recovery`
//! (open-time scan), `writer` (group commit), `index` (sled), `tail`
//! (committed-but-unindexed events), `reader` (reads), `notify` (head watch),
//! [`verify`] (offline check), [`store`] (the façade).

pub mod codec;
pub mod error;
mod index;
pub mod limits;
mod notify;
mod reader;
mod recovery;
mod segment;
pub mod snapshot;
pub mod store;
mod tail;
pub mod types;
pub mod validate;
pub mod verify;
mod writer;

pub use error::{Error, Result};
pub use snapshot::Snapshot;
pub use store::{
    OpenReport, Options, Store, StoreStats, WriterStats, MAX_SCAN_EVENTS_PER_READ,
    WRITER_QUEUE_REQUESTS,
};
pub use types::*;
pub use validate::validate_stream_name;
pub use verify::{verify, VerifyReport};
