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
//! Code map (docs/ARCHITECTURE.md has the invariants): [`store`] (the
//! façade), `engine` (open/close), `writer` (group commit) and `plan`
//! (checks, idempotency), `query` (reads) over `shared` (state and stream
//! walks), `reader` (bytes), `tail` and `indexer`/`index` (the derived
//! sled index), `secondary` (its event-type and category trees; `category`
//! says what a category is), `by_index` (`$all` reads through them),
//! `names` (listing types and categories), [`codec`] (record bytes), `segment` (files), `roll`
//! (a roll-over's files, undone on a full disk), `recovery` (open-time
//! scan), `durable_end` (the log's durable end after a failed fsync),
//! `notify` (head watch), [`snapshot`], [`verify`]
//! (offline check), [`backup`] (a pinned view for online backups),
//! `posmap` (position → offset), `scan` (whole-segment reads), [`limits`],
//! [`clock`], [`stats`].

pub mod backup;
mod by_index;
mod category;
pub mod clock;
pub mod codec;
mod compact;
mod durable_end;
mod engine;
pub mod error;
mod index;
mod indexer;
pub mod lifecycle;
pub mod limits;
mod names;
mod notify;
mod plan;
mod posmap;
mod query;
mod reader;
mod recovery;
mod request;
mod roll;
mod scan;
pub mod scavenge;
mod secondary;
#[cfg(test)]
mod secondary_tests;
mod segment;
mod segments;
mod shared;
pub mod snapshot;
pub mod stats;
pub mod store;
mod tail;
pub mod types;
pub mod validate;
pub mod verify;
mod visible;
pub use visible::Visibility;
mod writer;

pub use backup::{BackupFile, BackupFileKind, BackupView, RESTORING_MARKER};
pub use error::{Error, Result};
pub use limits::{MAX_LISTED_NAMES, MAX_SCAN_EVENTS_PER_READ, WRITER_QUEUE_REQUESTS};
pub use request::CommitTiming;
pub use scavenge::{ScavengeOptions, ScavengeState, ScavengeStatus};
pub use snapshot::Snapshot;
pub use stats::{HistogramSnapshot, OpenReport, StoreStats, StoreTelemetry, WriterStats};
pub use store::{OpenProgress, Options, Store, Write};
pub use types::*;
pub use validate::{validate_read_name, validate_stream_name};
pub use verify::{verify, VerifyReport};
