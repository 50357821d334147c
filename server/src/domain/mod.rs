//! What a request *means*, checked and executed against the store,
//! whatever wire it arrived on.
//!
//! [`Node`] is one running Strata server as every adapter sees it: the
//! store plus the live state requests share (the committed head as a
//! `watch`, the shutdown signal, the subscription slots, the live ring).
//! Its methods take and return domain types — `strata_storage` types and
//! the small request types defined beside them ([`read::ReadPlan`],
//! [`subscribe::SubscribePlan`]) — and fail with [`Error`], never with a
//! protobuf message or a `tonic::Status`. The operations, one file each:
//!
//! - [`append`]: transactions handed to the writer, the durable result
//!   awaited, back-pressure as asynchronous waiting;
//! - [`read`]: stream and `$all` read cursors, timestamps resolved to a start;
//! - [`subscribe`]: the subscription engine (catch-up and live, one cursor),
//!   fed by the shared live ring in [`live`];
//! - [`snapshots`]: saving and fetching snapshots;
//! - [`catalog`]: listing streams, and the facts `ServerInfo` reports;
//! - [`lifecycle`]: stream metadata, soft deletes and tombstones;
//! - [`admin`]: starting, following and stopping a scavenge;
//! - [`backup`]: streaming a consistent copy of the store's files (online
//!   backups), pinned against appends and scavenges;
//! - [`groups`]: persistent subscriptions (consumer groups), their
//!   checkpoints and parked events as records in system streams;
//! - [`security`]: authentication, users, tokens and grants as records in
//!   `$security`, the permission checks ([`security::Caller::check`]) every
//!   adapter makes before calling, and the `$audit` trail;
//! - [`health`]: readiness (shutting down, poisoned, disk full);
//! - [`paging`]: how many events to read at a time and how they are cut
//!   into messages (the unit every adapter sends).
//!
//! Not here: any wire format. The strata.v1 gRPC adapter (`api::strata`)
//! converts protobuf to these types and back, and `api::status` maps
//! [`Error`] to gRPC statuses. Room is left for what comes next, each
//! arriving as a new file here with its rules, called by every adapter, such
//! as further admin operations beside [`admin`]. A
//! KurrentDB-protocol gRPC adapter and an HTTP side (metrics, health, UI)
//! live under `api/` and call the same [`Node`].

pub mod admin;
pub mod append;
pub mod backup;
pub mod catalog;
mod error;
pub mod groups;
pub mod health;
pub mod lifecycle;
mod live;
pub mod paging;
pub mod read;
pub mod security;
pub mod snapshots;
pub mod subscribe;

pub use error::Error;

use crate::telemetry::Metrics;
use std::sync::Arc;
use strata_storage::Store;
use tokio::sync::{watch, Semaphore};

/// Default most concurrent subscriptions (`--max-subscriptions`).
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 1024;

/// One running server over one store: what every request handler shares.
/// Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Node {
    store: Store,
    /// Latest committed head, fed by one `on_commit` listener.
    head: watch::Receiver<u64>,
    /// Becomes `true` when the server begins shutting down.
    shutdown: watch::Receiver<bool>,
    /// One permit per live subscription.
    subscriptions: Arc<Semaphore>,
    max_subscriptions: usize,
    /// Recent events read once and shared by caught-up subscriptions.
    live: Arc<live::LiveFeed>,
    /// One permit per append queued for or committing in the writer.
    appends: Arc<Semaphore>,
    /// The consumer groups (persistent subscriptions).
    groups: groups::Groups,
    /// One permit per backup being streamed.
    backups: Arc<Semaphore>,
    /// Live instruments (counters, gauges, histograms) for `/metrics`.
    metrics: Arc<Metrics>,
    /// Users, tokens, grants; authentication.
    security: security::Security,
}

impl Node {
    /// Wraps `store`, registering the single commit listener that feeds
    /// every subscription, and starts the live ring's feeder (so this must
    /// run inside the tokio runtime). `shutdown` turning `true` ends live
    /// subscriptions and long reads.
    pub fn new(
        store: Store,
        shutdown: watch::Receiver<bool>,
        max_subscriptions: usize,
        metrics: Arc<Metrics>,
    ) -> Node {
        let (head_tx, head_rx) = watch::channel(store.head());
        // Runs on the writer thread: `send_replace` never blocks and works
        // even with no receiver left.
        store.on_commit(move |head| {
            head_tx.send_replace(head);
        });
        let max_subscriptions = max_subscriptions.max(1);
        let live = live::LiveFeed::start(store.clone(), head_rx.clone(), shutdown.clone());
        Node {
            store,
            head: head_rx,
            live,
            shutdown,
            subscriptions: Arc::new(Semaphore::new(max_subscriptions)),
            max_subscriptions,
            appends: Arc::new(Semaphore::new(append::MAX_IN_FLIGHT_APPEND_REQUESTS)),
            groups: groups::Groups::default(),
            backups: Arc::new(Semaphore::new(backup::MAX_CONCURRENT_BACKUPS)),
            metrics,
            security: security::Security::default(),
        }
    }

    /// The store (for the figures `/metrics` and readiness read).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Turns `true` when the server begins shutting down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// The live instruments.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// Runs a blocking storage call on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> strata_storage::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Error::Storage),
        Err(e) => Err(Error::Internal(format!("storage task failed: {e}"))),
    }
}
