//! Rust client for the **Strata** event store.
//!
//! Strata stores events in streams and in one global, gaplessly numbered
//! log (`$all`). This crate talks to a Strata server **only over gRPC** (the
//! `strata.v1` API in `proto/strata/v1/`): it does not embed the
//! storage engine, open data directories or run the offline admin commands
//! (`strata verify`, `strata stats`). It offers:
//!
//! - [`Client::append`] / [`Client::append_multi`]: optimistic-concurrency
//!   appends ([`ExpectedRevision`]); a failed check is the typed
//!   [`Error::WrongExpectedRevision`], carrying the stream's actual revision.
//!   Concurrent `append` calls share a few pipelined append sessions, so
//!   they share the server's group commits
//!   ([`ClientBuilder::append_sessions`]; `0` for unary calls).
//! - [`Client::read_stream`] / [`Client::read_all`]: reads as a
//!   [`futures::Stream`] of events (the server's pages are flattened).
//! - [`Client::list_streams`] and [`Client::server_info`];
//!   [`Client::list_event_types`] / [`Client::list_categories`]: which event
//!   types and stream categories exist, with their event counts.
//! - [`Client::save_snapshot`] / [`Client::get_snapshot`]: snapshots of a
//!   stream's state, stored beside the stream.
//! - [`Repository`] (module [`aggregate`]): event-sourced [`Aggregate`]s —
//!   load from the newest snapshot plus the events after it, save with an
//!   optimistic-concurrency check, snapshot by [`SnapshotPolicy`].
//! - [`Client::subscribe_to_stream`] / [`Client::subscribe_to_all`]:
//!   catch-up subscriptions that resubscribe by themselves after connection
//!   failures, without gaps or duplicates.
//! - [`now_micros`]: the current time in the unit of every Strata timestamp,
//!   for time-travel reads.
//! - Stream lifecycle: [`Client::set_stream_metadata`] /
//!   [`Client::get_stream_metadata`] (retention rules such as `max_count`,
//!   and custom bytes: [`StreamMetadata`]), [`Client::delete_stream`] (soft:
//!   appending recreates it) and [`Client::tombstone_stream`] (for good); and
//!   [`Client::start_scavenge`] / [`Client::scavenge_status`] /
//!   [`Client::stop_scavenge`] to give back the disk space of what they hid.
//! - Persistent subscriptions (consumer groups, at-least-once):
//!   [`Client::create_group`] and the other group calls manage them
//!   ([`GroupSettings`], [`GroupInfo`]); [`Client::persistent`] joins one as
//!   a consumer — a [`futures::Stream`] of [`GroupDelivery`]s to
//!   [`ack`](GroupDelivery::ack) or [`nack`](GroupDelivery::nack) (acks are
//!   batched), rejoining by itself after connection failures.
//!
//! Calls that fail because the server is unavailable are retried with
//! exponential backoff ([`RetryPolicy`]). Appends are retried too: each event
//! carries a client-chosen id, and the server recognises a re-sent append by
//! its ids and returns the original result instead of writing it twice.
//! Metadata changes and deletes have no such id, so they are retried only
//! when the request certainly did nothing (no connection, or the server was
//! overloaded).
//!
//! Connections are plain-text HTTP/2 (`http://`); TLS is not supported yet.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use strata_client::{Client, Error, EventData, ExpectedRevision, ReadOptions, StreamMetadata};
//!
//! # async fn demo() -> strata_client::Result<()> {
//! let client = Client::connect("http://127.0.0.1:2113").await?;
//!
//! let opened = EventData::json("AccountOpened", &serde_json::json!({"owner": "ann"}))?;
//! client.append("account-1", ExpectedRevision::NoStream, vec![opened]).await?;
//!
//! // A second "open" conflicts: the stream exists now.
//! let again = EventData::json("AccountOpened", &serde_json::json!({"owner": "bob"}))?;
//! match client.append("account-1", ExpectedRevision::NoStream, vec![again]).await {
//!     Err(Error::WrongExpectedRevision { actual, .. }) => println!("already at {actual}"),
//!     other => panic!("unexpected: {other:?}"),
//! }
//!
//! let history: Vec<_> = client
//!     .read_stream("account-1", ReadOptions::forwards())
//!     .try_collect()
//!     .await?;
//! assert_eq!(history.len(), 1);
//!
//! // Keep only the last 10 events visible, then delete the stream.
//! client
//!     .set_stream_metadata("account-1", ExpectedRevision::NoStream, StreamMetadata::new().max_count(10))
//!     .await?;
//! client.delete_stream("account-1", ExpectedRevision::Exact(0)).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod aggregate;
mod builder;
mod catalog;
mod client;
mod convert;
mod correlation;
mod error;
mod filter;
mod groups;
mod lifecycle;
mod manage;
mod manage_groups;
mod persistent;
mod read;
mod resumable;
mod retry;
mod security;
mod session;
mod subscription;
mod time;
mod trace;
mod transport;
mod types;

pub use aggregate::{Aggregate, Loaded, Repository, SnapshotPolicy};
pub use builder::{ClientBuilder, MAX_MESSAGE_BYTES};
pub use catalog::{NameCount, NamesPage, MAX_NAMES_PAGE_SIZE};
pub use client::Client;
pub use correlation::{CAUSATION_ID_KEY, CORRELATION_ID_KEY};
pub use error::{Error, Result, ACTUAL_REVISION_KEY, ERROR_KIND_KEY, STREAM_KEY};
pub use filter::Filter;
pub use groups::{
    parked_stream, GroupConsumerInfo, GroupInfo, GroupSettings, GroupSource, GroupStart,
    GroupState, NackAction, Strategy,
};
pub use lifecycle::{
    MetadataWritten, ScavengeState, ScavengeStatus, StreamMetadata, StreamMetadataInfo,
};
pub use persistent::{
    GroupDelivery, GroupSubscription, PersistentSubscription, ACK_BATCH_MAX_IDS, ACK_FLUSH_INTERVAL,
};
pub use retry::RetryPolicy;
pub use security::{Grant, NewToken, Permission, TokenInfo, UserInfo};
pub use session::DEFAULT_APPEND_SESSIONS;
pub use time::now_micros;
pub use transport::{Credentials, Transport};
pub use types::{
    AllFrom, AppendResult, CurrentRevision, Direction, EventData, ExpectedRevision, ReadAllOptions,
    ReadOptions, RecordedEvent, ServerInfo, Snapshot, SnapshotData, StreamAppend, StreamFrom,
    StreamSummary, StreamsPage, SubscribeFrom, SubscriptionItem, CONTENT_TYPE_BINARY,
    CONTENT_TYPE_JSON,
};
