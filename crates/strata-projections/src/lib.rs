//! **strata-projections**: read models built from a Strata server over the
//! wire (only through `strata-client`), checkpointed, rebuildable.
//!
//! - [`Projection`]: a name, a [`Source`] (a stream, `$all` with a filter,
//!   or a category = stream-name prefix) and an async handler. Checkpointed
//!   in a [`FileCheckpointStore`] after the handled events were flushed:
//!   **at-least-once** (after a crash, events since the checkpoint are
//!   handled again; none is skipped).
//! - [`KvProjection`]: a handler writing a [`SledReadModel`] through a
//!   [`KvTxn`]; a batch of events' writes and the checkpoint commit in **one
//!   sled transaction**, so each event is reflected **exactly once**, across
//!   crashes. "Durable" means flushed: the runner flushes per
//!   [`Durability`]; a crash between flushes rolls model *and* checkpoint
//!   back together, and the runner replays from there.
//! - [`Runner`]: several projections, each with its own subscription and
//!   checkpoint; resumes from the checkpoint with backoff after connection
//!   losses and server restarts (no gap: it resubscribes *after* the last
//!   committed checkpoint, and events at or before it are skipped).
//!   Filtered sources also store the server's `Checkpoint`s and `CaughtUp`
//!   positions, so a rarely matching filter still advances.
//! - [`ErrorPolicy`]: retry with backoff, then stop (default) or skip into a
//!   dead-letter list ([`DeadLetter`]); never a silent drop.
//! - [`rebuild_kv`]: reset and replay, or replay into a new generation while
//!   the old one serves and swap the `CURRENT` pointer ([`ModelDir`]).
//! - [`ProjectionStatus`]: checkpoint, log end, lag (events, seconds),
//!   events/s, last error.
//!
//! The `strata-project` binary runs the [`demo`] projections, generates demo
//! events, prints status, rebuilds, and benchmarks.
#![warn(missing_docs)]

mod checkpoint;
pub mod demo;
mod driver;
mod error;
mod kv;
mod projection;
mod rebuild;
mod runner;
mod source;
mod status;
mod task;

pub use checkpoint::{sync_dir, write_atomic, FileCheckpointStore};
pub use error::{Error, HandlerError, Result};
pub use kv::{KvTxn, ModelDir, SledReadModel};
pub use projection::{DeadLetter, ErrorPolicy, KvProjection, OnFailure, Projection};
pub use rebuild::{rebuild_kv, RebuildMode, RebuildReport};
pub use runner::{Durability, Runner, RunnerConfig, RunningRunner};
pub use source::Source;
pub use status::{read_status_file, LocalStatus, ProjectionStatus};
