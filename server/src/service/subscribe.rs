//! `Subscribe`: catch-up subscriptions to one stream or `$all`.
//!
//! Design: every subscription is one tokio task that *always reads from
//! the log* (through the page cache), page after page, and writes messages
//! into a bounded channel of [`SUBSCRIPTION_BUFFER_MESSAGES`] feeding the
//! response stream. When a read reaches the end it waits on a
//! `watch<u64>` of the head (fed by the single `on_commit` listener the
//! service registers) until the head moves past what it read, then reads
//! again. Consequences:
//!
//! - no gap, duplicate or reordering at the catch-up → live switch, because
//!   there is no switch: live events are read exactly like history, from a
//!   cursor (`pos` = last examined position for `$all`, next revision for a
//!   stream) that only moves forwards;
//! - a slow consumer pauses only its own task (the bounded channel applies
//!   back-pressure) and never drops events;
//! - memory per subscription is bounded by `SUBSCRIPTION_BUFFER_MESSAGES`
//!   × the largest message (about `paging::TARGET_MESSAGE_BYTES`, at most
//!   about 2 MiB with one maximal event), plus the page in hand.
//!
//! Messages: `Events` for every non-empty page; `CaughtUp` **once**, the
//! first time a read reaches the end of the log (its position is the last
//! position examined, which is the log head at that moment); for filtered
//! `$all` subscriptions, a `Checkpoint` whenever at least
//! `checkpoint_interval` events were scanned since the last one, even if
//! none matched. Checkpoints are sent between storage pages, and one page
//! may scan up to `MAX_SCAN_EVENTS_PER_READ` records, so a checkpoint can
//! cover more than the interval (its position is the furthest examined).
//!
//! A subscription ends when the client goes away (a send fails or the
//! channel closes), on a storage error (sent as the final status), or when
//! the server shuts down (final status `UNAVAILABLE` / `shutting-down`).
//! Concurrent subscriptions are capped by a semaphore
//! (`--max-subscriptions`); beyond it, `RESOURCE_EXHAUSTED`.

use super::paging::{into_messages, PageSizer};
use super::{blocking, Shared};
use crate::convert::{SubscribePlan, SubscribeStart, SubscribeTarget};
use crate::status;
use std::sync::Arc;
use std::time::Duration;
use strata_proto::v1 as pb;
use strata_proto::v1::subscribe_response::Content;
use strata_storage::{
    AllFrom, CurrentRevision, Direction, Error, Filter, RecordedEvent, Store, StreamFrom,
};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::Instrument;

/// Messages buffered per subscription before its task waits for the client.
pub const SUBSCRIPTION_BUFFER_MESSAGES: usize = 16;

/// How long a subscription ending at shutdown waits to queue its final status.
const FINAL_STATUS_WAIT: Duration = Duration::from_millis(200);

type Tx = mpsc::Sender<Result<pb::SubscribeResponse, Status>>;

/// Why a subscription task stops.
#[derive(Debug)]
enum Stop {
    ClientGone,
    Shutdown,
    Failed(Status),
}

/// Starts a subscription: validates and resolves the start now (so bad
/// requests get a plain status), then runs the task.
pub(super) async fn subscribe(
    shared: &Shared,
    plan: SubscribePlan,
) -> Result<ReceiverStream<Result<pb::SubscribeResponse, Status>>, Status> {
    let permit = shared
        .subscriptions
        .clone()
        .try_acquire_owned()
        .map_err(|_| status::too_many_subscriptions(shared.max_subscriptions))?;
    let store = shared.store.clone();
    let follow = match plan.target {
        SubscribeTarget::All {
            filter,
            checkpoint_interval_events,
        } => {
            let pos = match plan.start {
                SubscribeStart::Start => 0,
                SubscribeStart::End => store.head(),
                SubscribeStart::After(p) => p,
            };
            Follow::All {
                pos,
                filter: Arc::new(filter),
                checkpoint_interval_events,
            }
        }
        SubscribeTarget::Stream(name) => {
            strata_storage::validate_stream_name(&name).map_err(status::storage)?;
            let name: Arc<str> = name.into();
            let next = match plan.start {
                SubscribeStart::Start => 0,
                SubscribeStart::After(r) => r.saturating_add(1),
                SubscribeStart::End => {
                    let (s, n) = (store.clone(), name.clone());
                    match blocking(move || s.stream_revision(&n)).await? {
                        CurrentRevision::NoStream => 0,
                        CurrentRevision::Current(r) => r.saturating_add(1),
                    }
                }
            };
            Follow::Stream { name, next }
        }
    };
    let (tx, rx) = mpsc::channel(SUBSCRIPTION_BUFFER_MESSAGES);
    let task = Subscription {
        store,
        head: shared.head.clone(),
        shutdown: shared.shutdown.clone(),
        tx,
        sizer: PageSizer::default(),
        caught_up: false,
        _permit: permit,
    };
    tokio::spawn(task.run(follow).in_current_span());
    Ok(ReceiverStream::new(rx))
}

/// What a subscription follows, and its cursor.
#[derive(Debug)]
enum Follow {
    /// `pos`: last position examined; `scanned`: since the last checkpoint.
    All {
        pos: u64,
        filter: Arc<Filter>,
        checkpoint_interval_events: u64,
    },
    /// `next`: the next revision to deliver.
    Stream { name: Arc<str>, next: u64 },
}

#[derive(Debug)]
struct Subscription {
    store: Store,
    head: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    tx: Tx,
    sizer: PageSizer,
    caught_up: bool,
    /// Held for the task's life: frees a subscription slot when it ends.
    _permit: OwnedSemaphorePermit,
}

impl Subscription {
    async fn run(mut self, follow: Follow) {
        tracing::debug!(?follow, "subscription started");
        let stop = match follow {
            Follow::All {
                pos,
                filter,
                checkpoint_interval_events,
            } => {
                self.follow_all(pos, filter, checkpoint_interval_events)
                    .await
            }
            Follow::Stream { name, next } => self.follow_stream(name, next).await,
        };
        let last = match stop {
            Stop::ClientGone => {
                tracing::debug!("subscriber went away");
                return;
            }
            Stop::Shutdown => status::shutting_down(),
            Stop::Failed(s) => {
                tracing::warn!(code = ?s.code(), message = s.message(), "subscription failed");
                s
            }
        };
        let _ = tokio::time::timeout(FINAL_STATUS_WAIT, self.tx.send(Err(last))).await;
    }

    async fn follow_all(&mut self, mut pos: u64, filter: Arc<Filter>, interval: u64) -> Stop {
        let filtered = !filter.is_empty();
        let mut scanned_since_checkpoint = 0u64;
        loop {
            let (store, f, want) = (self.store.clone(), filter.clone(), self.sizer.next());
            let from = AllFrom::Position(pos.saturating_add(1));
            let page =
                match blocking(move || store.read_all(from, Direction::Forwards, want, &f)).await {
                    Ok(p) => p,
                    Err(s) => return Stop::Failed(s),
                };
            self.sizer.observe(&page.events);
            if let Err(stop) = self.send_events(page.events).await {
                return stop;
            }
            let scanned = page.scanned_to.saturating_sub(pos);
            pos = pos.max(page.scanned_to);
            if filtered {
                scanned_since_checkpoint += scanned;
                if scanned_since_checkpoint >= interval {
                    scanned_since_checkpoint = 0;
                    if let Err(stop) = self
                        .send(Content::Checkpoint(pb::Checkpoint { position: pos }))
                        .await
                    {
                        return stop;
                    }
                }
            }
            if page.reached_end {
                if let Err(stop) = self.caught_up_then_wait(pos, pos).await {
                    return stop;
                }
            }
        }
    }

    async fn follow_stream(&mut self, name: Arc<str>, mut next: u64) -> Stop {
        loop {
            // The head seen *before* reading: everything committed up to it
            // is visible to the read below.
            let seen = *self.head.borrow_and_update();
            let (store, n, want) = (self.store.clone(), name.clone(), self.sizer.next());
            let read = move || match store.read_stream(
                &n,
                StreamFrom::Revision(next),
                Direction::Forwards,
                want,
            ) {
                // No stream yet is just "nothing to deliver yet".
                Err(Error::StreamNotFound(_)) => Ok(Vec::new()),
                r => r,
            };
            let events = match blocking(read).await {
                Ok(e) => e,
                Err(s) => return Stop::Failed(s),
            };
            let full = events.len() >= want;
            if let Some(last) = events.last() {
                next = last.revision.saturating_add(1);
            }
            self.sizer.observe(&events);
            if let Err(stop) = self.send_events(events).await {
                return stop;
            }
            if !full {
                if let Err(stop) = self.caught_up_then_wait(seen, seen).await {
                    return stop;
                }
            }
        }
    }

    /// Sends `CaughtUp{position}` the first time, then waits until the head
    /// is beyond `read_through`.
    async fn caught_up_then_wait(&mut self, position: u64, read_through: u64) -> Result<(), Stop> {
        if !self.caught_up {
            self.caught_up = true;
            self.send(Content::CaughtUp(pb::CaughtUp { position }))
                .await?;
            tracing::debug!(position, "subscription caught up");
        }
        let Subscription {
            head, shutdown, tx, ..
        } = self;
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => Err(Stop::Shutdown),
            r = head.wait_for(|h| *h > read_through) => r.map(|_| ()).map_err(|_| Stop::Shutdown),
            () = tx.closed() => Err(Stop::ClientGone),
        }
    }

    async fn send_events(&mut self, events: Vec<RecordedEvent>) -> Result<(), Stop> {
        for msg in into_messages(events) {
            self.send(Content::Events(pb::Events { events: msg }))
                .await?;
        }
        Ok(())
    }

    /// Sends one message, waiting for room unless the server shuts down.
    async fn send(&mut self, content: Content) -> Result<(), Stop> {
        let msg = pb::SubscribeResponse {
            content: Some(content),
        };
        let Subscription { shutdown, tx, .. } = self;
        // Biased: a subscriber that keeps up must still stop at shutdown.
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => Err(Stop::Shutdown),
            r = tx.send(Ok(msg)) => r.map_err(|_| Stop::ClientGone),
        }
    }
}
