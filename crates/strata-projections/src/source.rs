//! What a projection subscribes to ([`Source`]) and how a checkpoint is
//! interpreted for it. Owns no subscription state (the runner does).

use futures::Stream;
use std::pin::Pin;
use strata_client::{Client, Filter, RecordedEvent, SubscribeFrom, SubscriptionItem};

/// The events a projection consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// One stream; the checkpoint is a stream **revision**.
    Stream(String),
    /// The global log, optionally filtered; the checkpoint is a global
    /// **position** (advanced by the server's checkpoints even when nothing
    /// matches).
    All(Filter),
    /// Every stream whose name starts with this prefix (e.g. `"order-"`):
    /// `$all` with a stream-prefix filter; the checkpoint is a global position.
    Category(String),
}

pub(crate) type Subscription =
    Pin<Box<dyn Stream<Item = strata_client::Result<SubscriptionItem>> + Send>>;

impl Source {
    /// Whether checkpoints are global positions (`$all`, category) rather
    /// than stream revisions.
    pub fn is_global(&self) -> bool {
        !matches!(self, Source::Stream(_))
    }

    /// The checkpoint value of an event for this source.
    pub fn key_of(&self, e: &RecordedEvent) -> u64 {
        match self {
            Source::Stream(_) => e.revision,
            _ => e.position,
        }
    }

    pub(crate) fn subscribe(
        &self,
        client: &Client,
        after: Option<u64>,
        checkpoint_interval: u32,
    ) -> Subscription {
        let from = after
            .map(SubscribeFrom::After)
            .unwrap_or(SubscribeFrom::Start);
        match self {
            Source::Stream(s) => Box::pin(client.subscribe_to_stream(s.clone(), from)),
            Source::All(f) => Box::pin(client.subscribe_to_all_with_checkpoints(
                from,
                f.clone(),
                checkpoint_interval,
            )),
            Source::Category(prefix) => Box::pin(client.subscribe_to_all_with_checkpoints(
                from,
                Filter::new().stream_prefix(prefix.clone()),
                checkpoint_interval,
            )),
        }
    }
}
