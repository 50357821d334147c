//! The subscription engine: catch-up subscriptions to one stream or `$all`.
//!
//! Design: every subscription is one tokio task that *always reads from
//! the log* (through the page cache), page after page, and writes messages
//! into a bounded channel of [`SUBSCRIPTION_BUFFER_MESSAGES`] that the
//! adapter turns into its response stream. When a read reaches the end it
//! waits on a `watch<u64>` of the head (fed by the single `on_commit`
//! listener [`Node`] registers) until the head moves past what it read,
//! then reads again. Consequences:
//!
//! - no gap, duplicate or reordering at the catch-up → live switch, because
//!   there is no switch: live events are read exactly like history, from a
//!   cursor (`pos` = last examined position for `$all`, next revision for a
//!   stream) that only moves forwards;
//! - a slow consumer pauses only its own task (the bounded channel applies
//!   back-pressure) and never drops events;
//! - memory per subscription is bounded by `SUBSCRIPTION_BUFFER_MESSAGES`
//!   (4) × the largest message (about `paging::TARGET_MESSAGE_BYTES`, 1 MiB;
//!   at most about 2 MiB with one maximal event), plus the page in hand.
//!
//! Caught-up subscriptions take new events from the shared live ring
//! (`live.rs`) instead of each reading them from storage; one that is
//! behind the ring reads from storage. Both paths serve the same log from
//! the same cursor, so which one runs never changes what is delivered.
//!
//! Messages ([`SubscriptionMessage`]): `Events` for every non-empty page,
//! cut by `paging`; `CaughtUp` **once**, the first time a read reaches the
//! end of the log (its position is the last position examined, which is
//! the log head at that moment); for filtered `$all` subscriptions, a
//! `Checkpoint` whenever at least `checkpoint_interval` events were scanned
//! since the last one, even if none matched. Checkpoints are sent between
//! storage pages, and one page may scan up to `MAX_SCAN_EVENTS_PER_READ`
//! records, so a checkpoint can cover more than the interval (its position
//! is the furthest examined).
//!
//! A subscription ends when the client goes away (a send fails or the
//! channel closes), on a storage error (sent as the final item), or when
//! the server shuts down (final item [`Error::ShuttingDown`]).
//! Concurrent subscriptions are capped by a semaphore
//! (`--max-subscriptions`); beyond it, [`Error::TooManySubscriptions`].
//!
//! Not here: checking a request's shape against its wire format (the
//! adapters build a [`SubscribePlan`]).

use super::live::LiveFeed;
use super::paging::{into_messages, PageSizer, MAX_EVENTS_PER_MESSAGE};
use super::{blocking, Error, Node};
use crate::telemetry::PhaseGauge;
use std::sync::Arc;
use std::time::Duration;
use strata_storage::{
    AllFrom, CurrentRevision, Direction, Filter, RecordedEvent, Store, StreamFrom,
};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

/// Where a subscription starts, before resolving `End` against the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeStart {
    /// From the first event.
    Start,
    /// After whatever is committed when the subscription starts.
    End,
    /// After this revision (streams) or position (`$all`).
    After(u64),
}

/// What a subscription targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeTarget {
    /// The global log, with a filter and a checkpoint interval (events scanned).
    All {
        /// Which events to deliver.
        filter: Filter,
        /// Checkpoint at least every this many scanned events (filtered only).
        checkpoint_interval_events: u64,
    },
    /// One stream.
    Stream(String),
}

/// A subscribe request, its shape checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribePlan {
    /// What to follow.
    pub target: SubscribeTarget,
    /// Where to start.
    pub start: SubscribeStart,
}

/// One message of a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionMessage {
    /// Events, in log order (at most one message's worth, see `paging`).
    Events(Vec<RecordedEvent>),
    /// Sent once: everything committed up to `position` was delivered.
    CaughtUp {
        /// The last position examined (the log head at that moment).
        position: u64,
    },
    /// A filtered `$all` subscription examined everything up to `position`.
    Checkpoint {
        /// The furthest position examined.
        position: u64,
    },
}

/// The messages of a live subscription, in order; an error ends it.
pub type SubscriptionMessages = ReceiverStream<Result<SubscriptionMessage, Error>>;

/// Messages buffered per subscription before its task waits for the client.
pub const SUBSCRIPTION_BUFFER_MESSAGES: usize = 4;

/// Most events a subscription takes from the live ring at a time.
const LIVE_TAKE_EVENTS: usize = MAX_EVENTS_PER_MESSAGE;

/// How long a subscription ending at shutdown waits to queue its final error.
const FINAL_STATUS_WAIT: Duration = Duration::from_millis(200);

type Tx = mpsc::Sender<Result<SubscriptionMessage, Error>>;

/// Why a subscription task stops.
#[derive(Debug)]
enum Stop {
    ClientGone,
    Shutdown,
    Failed(Error),
}

impl Node {
    /// Starts a subscription: takes a slot and resolves the start now (so
    /// bad requests get a plain error), then runs the task.
    pub async fn subscribe(&self, plan: SubscribePlan) -> Result<SubscriptionMessages, Error> {
        let permit = self
            .subscriptions
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::TooManySubscriptions {
                limit: self.max_subscriptions,
            })?;
        self.start_subscription(plan, Some(permit)).await
    }

    /// A subscription for the server's own use (a consumer group's
    /// source): the same engine, without taking a client's slot.
    pub async fn follow(&self, plan: SubscribePlan) -> Result<SubscriptionMessages, Error> {
        self.start_subscription(plan, None).await
    }

    async fn start_subscription(
        &self,
        plan: SubscribePlan,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<SubscriptionMessages, Error> {
        let follow = match plan.target {
            SubscribeTarget::All {
                filter,
                checkpoint_interval_events,
            } => {
                let pos = match plan.start {
                    SubscribeStart::Start => 0,
                    SubscribeStart::End => self.store.head(),
                    SubscribeStart::After(p) => p,
                };
                Follow::All {
                    pos,
                    filter: Arc::new(filter),
                    checkpoint_interval_events,
                }
            }
            SubscribeTarget::Stream(name) => {
                strata_storage::validate_read_name(&name)?;
                let name: Arc<str> = name.into();
                let next = match plan.start {
                    SubscribeStart::Start => 0,
                    SubscribeStart::After(r) => r.saturating_add(1),
                    SubscribeStart::End => {
                        let (s, n) = (self.store.clone(), name.clone());
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
            store: self.store.clone(),
            live: self.live.clone(),
            fed: self.live.fed(),
            head: self.head.clone(),
            shutdown: self.shutdown.clone(),
            tx,
            sizer: PageSizer::default(),
            caught_up: false,
            // Only clients' subscriptions count; a group's source is the group's.
            phase: permit
                .as_ref()
                .map(|_| PhaseGauge::new(self.metrics.clone())),
            _permit: permit,
        };
        tokio::spawn(task.run(follow).in_current_span());
        Ok(ReceiverStream::new(rx))
    }
}

/// What a subscription follows, and its cursor.
#[derive(Debug)]
enum Follow {
    /// `pos`: last position examined.
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
    live: Arc<LiveFeed>,
    /// How far the live ring is filled.
    fed: watch::Receiver<u64>,
    head: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    tx: Tx,
    sizer: PageSizer,
    caught_up: bool,
    /// This subscription in `strata_subscriptions{phase}` (clients' only).
    phase: Option<PhaseGauge>,
    /// Held for the task's life: frees a subscription slot when it ends.
    _permit: Option<OwnedSemaphorePermit>,
}

/// Where a subscription's last read came from, so what to wait on when it
/// found nothing new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadFrom {
    /// Storage: wait for the committed head to move.
    Storage,
    /// The live ring: wait for the ring to be fed further.
    Ring,
}

/// When a filtered `$all` subscription owes a `Checkpoint`: after at least
/// `interval` positions were examined since the last one.
#[derive(Debug)]
struct CheckpointDue {
    interval: u64,
    scanned: u64,
}

impl CheckpointDue {
    /// Counts the positions after `from` up to `to` as examined; `true`
    /// (and a fresh count) when a checkpoint at `to` is due.
    fn examined(&mut self, from: u64, to: u64) -> bool {
        self.scanned += to.saturating_sub(from);
        let due = self.scanned >= self.interval;
        if due {
            self.scanned = 0;
        }
        due
    }
}

/// A subscription loop never ends by itself: only a [`Stop`] ends it.
type Never = std::convert::Infallible;

impl Subscription {
    async fn run(mut self, follow: Follow) {
        tracing::debug!(?follow, "subscription started");
        let ended = match follow {
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
        let Err(stop) = ended;
        let last = match stop {
            Stop::ClientGone => {
                tracing::debug!("subscriber went away");
                return;
            }
            Stop::Shutdown => Error::ShuttingDown,
            Stop::Failed(e) => {
                tracing::warn!(error = %e, "subscription failed");
                e
            }
        };
        let _ = tokio::time::timeout(FINAL_STATUS_WAIT, self.tx.send(Err(last))).await;
    }

    async fn follow_all(
        &mut self,
        mut pos: u64,
        filter: Arc<Filter>,
        interval: u64,
    ) -> Result<Never, Stop> {
        // Unfiltered subscriptions deliver every position: no checkpoints.
        let mut checkpoints = (!filter.is_empty()).then_some(CheckpointDue {
            interval,
            scanned: 0,
        });
        loop {
            // Caught up or nearly: the shared live ring.
            if let Some(recent) = self.live.after(pos, LIVE_TAKE_EVENTS) {
                if recent.through <= pos {
                    self.caught_up_then_wait(pos, ReadFrom::Ring).await?;
                    continue;
                }
                let mut visibility = self.store.visibility();
                let mut mine = Vec::with_capacity(recent.events.len());
                for e in &recent.events {
                    if filter.matches(&e.stream, &e.event_type)
                        && visibility.allows(e).map_err(|e| Stop::Failed(e.into()))?
                    {
                        mine.push(RecordedEvent::clone(e));
                    }
                }
                self.send_events(mine).await?;
                self.examined(&mut pos, recent.through, &mut checkpoints)
                    .await?;
                continue;
            }
            // Behind the ring: read from storage.
            let (store, f, want) = (self.store.clone(), filter.clone(), self.sizer.next());
            let from = AllFrom::Position(pos.saturating_add(1));
            let page = blocking(move || store.read_all(from, Direction::Forwards, want, &f))
                .await
                .map_err(Stop::Failed)?;
            self.sizer.observe(&page.events);
            self.send_events(page.events).await?;
            self.examined(&mut pos, page.scanned_to, &mut checkpoints)
                .await?;
            if page.reached_end {
                self.caught_up_then_wait(pos, ReadFrom::Storage).await?;
            }
        }
    }

    /// Moves an `$all` cursor forwards to `to` (never back), sending a
    /// checkpoint at the new position if one is due.
    async fn examined(
        &mut self,
        pos: &mut u64,
        to: u64,
        checkpoints: &mut Option<CheckpointDue>,
    ) -> Result<(), Stop> {
        let from = *pos;
        *pos = from.max(to);
        if checkpoints.as_mut().is_some_and(|c| c.examined(from, *pos)) {
            self.send(SubscriptionMessage::Checkpoint { position: *pos })
                .await?;
        }
        Ok(())
    }

    async fn follow_stream(&mut self, name: Arc<str>, mut next: u64) -> Result<Never, Stop> {
        // Every position up to this one has been examined for this stream,
        // once a storage read has reached the stream's end.
        let mut examined: Option<u64> = None;
        loop {
            if let Some(recent) = examined.and_then(|ex| self.live.after(ex, LIVE_TAKE_EVENTS)) {
                let ex = examined.unwrap_or(0);
                if recent.through <= ex {
                    self.caught_up_then_wait(ex, ReadFrom::Ring).await?;
                    continue;
                }
                let mut visibility = self.store.visibility();
                let mut mine = Vec::new();
                for e in recent
                    .events
                    .iter()
                    .filter(|e| *e.stream == *name && e.revision >= next)
                {
                    if visibility.allows(e).map_err(|e| Stop::Failed(e.into()))? {
                        mine.push(RecordedEvent::clone(e));
                    }
                }
                // The ring must continue the stream exactly where we are;
                // if not (it cannot, but be safe), re-read from storage.
                if mine.first().is_some_and(|e| e.revision != next) {
                    examined = None;
                    continue;
                }
                if let Some(l) = mine.last() {
                    next = l.revision.saturating_add(1);
                }
                self.send_events(mine).await?;
                examined = Some(recent.through);
                continue;
            }
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
                // No stream yet, or a deleted one that may be recreated,
                // is just "nothing to deliver yet" (a tombstone ends it).
                Err(
                    strata_storage::Error::StreamNotFound(_)
                    | strata_storage::Error::StreamDeleted(_),
                ) => Ok(Vec::new()),
                r => r,
            };
            let events = blocking(read).await.map_err(Stop::Failed)?;
            let full = events.len() >= want;
            if let Some(last) = events.last() {
                next = last.revision.saturating_add(1);
            }
            self.sizer.observe(&events);
            self.send_events(events).await?;
            if !full {
                examined = Some(seen);
                self.caught_up_then_wait(seen, ReadFrom::Storage).await?;
            }
        }
    }

    /// Everything up to `read_through` was examined and nothing newer was
    /// found: sends `CaughtUp{read_through}` the first time, then waits
    /// until the head (or, reading from the ring, the ring) is beyond it.
    async fn caught_up_then_wait(&mut self, read_through: u64, from: ReadFrom) -> Result<(), Stop> {
        // From the ring, "caught up" also needs the ring to have reached the
        // head: the feeder may lag it for a moment, and `CaughtUp` promises
        // that everything committed so far was delivered.
        let at_head = from == ReadFrom::Storage || *self.head.borrow() <= read_through;
        if !self.caught_up && at_head {
            self.caught_up = true;
            if let Some(p) = &mut self.phase {
                p.live();
            }
            self.send(SubscriptionMessage::CaughtUp {
                position: read_through,
            })
            .await?;
            tracing::debug!(position = read_through, "subscription caught up");
        }
        let Subscription {
            head,
            fed,
            shutdown,
            tx,
            ..
        } = self;
        let moved = match from {
            ReadFrom::Storage => head,
            ReadFrom::Ring => fed,
        };
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => Err(Stop::Shutdown),
            r = moved.wait_for(|h| *h > read_through) => r.map(|_| ()).map_err(|_| Stop::Shutdown),
            () = tx.closed() => Err(Stop::ClientGone),
        }
    }

    async fn send_events(&mut self, events: Vec<RecordedEvent>) -> Result<(), Stop> {
        for msg in into_messages(events) {
            self.send(SubscriptionMessage::Events(msg)).await?;
        }
        Ok(())
    }

    /// Sends one message, waiting for room unless the server shuts down.
    async fn send(&mut self, msg: SubscriptionMessage) -> Result<(), Stop> {
        let Subscription { shutdown, tx, .. } = self;
        // Biased: a subscriber that keeps up must still stop at shutdown.
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => Err(Stop::Shutdown),
            r = tx.send(Ok(msg)) => r.map_err(|_| Stop::ClientGone),
        }
    }
}
