//! The types of persistent subscriptions (consumer groups): what callers
//! hand to [`Client::create_group`](crate::Client::create_group) and
//! [`Client::update_group`](crate::Client::update_group) — a
//! [`GroupSource`], a [`GroupStart`] and [`GroupSettings`] — and what they
//! get back: [`GroupInfo`] with its [`GroupConsumerInfo`]s. Also
//! [`NackAction`], what a consumer does with an event it cannot handle.
//!
//! Plain data, like `types.rs`. Not here: the management calls
//! (`manage_groups.rs`), consuming a group (`persistent.rs`), or the
//! protobuf conversions (`convert/groups.rs`).

use std::time::Duration;

use crate::filter::Filter;

/// What a group follows: one stream, or the global log (`$all`) through a
/// [`Filter`]. A group cannot follow system records (`$` streams): a filter
/// with [`Filter::include_system`] is refused by the server.
///
/// ```
/// use strata_client::{Filter, GroupSource};
/// let orders = GroupSource::stream("order-1");
/// let placed = GroupSource::all(Filter::new().event_type("OrderPlaced"));
/// assert_ne!(orders, placed);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSource {
    /// The events of one stream.
    Stream(String),
    /// The events of `$all` that pass the filter (an empty filter: every
    /// application event).
    All(Filter),
}

impl GroupSource {
    /// The events of `stream`.
    pub fn stream(stream: impl Into<String>) -> Self {
        GroupSource::Stream(stream.into())
    }

    /// The events of `$all` that pass `filter`.
    pub fn all(filter: Filter) -> Self {
        GroupSource::All(filter)
    }
}

/// Where a new group starts in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupStart {
    /// From the first event (the default).
    #[default]
    Start,
    /// With the events committed after the group is created.
    End,
    /// `$all` only: the events at global positions after this one.
    AfterPosition(u64),
    /// A stream only: the events at revisions after this one.
    AfterRevision(u64),
}

/// How a group hands its events to its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Each event to the next consumer with room, in turn (the default).
    #[default]
    RoundRobin,
    /// Everything to the first consumer that has room; the others take over
    /// when it is full or gone.
    DispatchToSingle,
    /// Events of one stream always to the same consumer while it is
    /// connected.
    Pinned,
    /// The events of one partition (the stream, or
    /// [`GroupSettings::partition_key`]) in order, the next only after the
    /// previous is acked, skipped or parked — also across retries and
    /// consumer failures; partitions flow in parallel.
    OrderedByStream,
}

/// A group's settings. Every field left unset takes the server's default
/// (shown on each builder method); [`GroupInfo::settings`] has them all set,
/// as the server applies them.
///
/// [`Client::update_group`](crate::Client::update_group) replaces the
/// settings whole: what it leaves unset goes back to the default.
///
/// ```
/// use std::time::Duration;
/// use strata_client::{GroupSettings, Strategy};
///
/// let s = GroupSettings::new()
///     .strategy(Strategy::OrderedByStream)
///     .partition_key("correlationId")
///     .max_retry_count(3)
///     .message_timeout(Duration::from_secs(5));
/// assert_eq!(s.max_retry_count, Some(3));
/// assert_eq!(s.max_in_flight, None); // the server's default, 64
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GroupSettings {
    /// How events are handed out.
    pub strategy: Strategy,
    /// Retries before an event is parked (server default 10).
    pub max_retry_count: Option<u32>,
    /// An event not acked within this long is redelivered (server default
    /// 30 s). Sent in whole milliseconds.
    pub message_timeout: Option<Duration>,
    /// Events in flight per consumer, also capped by the consumer's buffer
    /// size (server default 64).
    pub max_in_flight: Option<u32>,
    /// The checkpoint is written at most this long after acks (server
    /// default 1 s). Sent in whole milliseconds.
    pub checkpoint_after: Option<Duration>,
    /// ... or after this many acks, whichever comes first (server default
    /// 1,000).
    pub checkpoint_max_count: Option<u32>,
    /// Most consumers at once (server default 64).
    pub max_subscribers: Option<u32>,
    /// [`Strategy::OrderedByStream`] only: partition by this key of the
    /// event's metadata (a JSON object) instead of by stream; events without
    /// it are partitioned by stream.
    pub partition_key: Option<String>,
}

impl GroupSettings {
    /// Every setting at the server's default.
    pub fn new() -> Self {
        Self::default()
    }

    /// How events are handed out (default [`Strategy::RoundRobin`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Retries before an event is parked in `$parked-<group>` (default 10).
    pub fn max_retry_count(mut self, n: u32) -> Self {
        self.max_retry_count = Some(n);
        self
    }

    /// Redeliver an event not acked within `d` (default 30 s).
    pub fn message_timeout(mut self, d: Duration) -> Self {
        self.message_timeout = Some(d);
        self
    }

    /// Events in flight per consumer (default 64).
    pub fn max_in_flight(mut self, n: u32) -> Self {
        self.max_in_flight = Some(n);
        self
    }

    /// Write the checkpoint at most `d` after acks (default 1 s).
    pub fn checkpoint_after(mut self, d: Duration) -> Self {
        self.checkpoint_after = Some(d);
        self
    }

    /// ... or after `n` acks (default 1,000).
    pub fn checkpoint_max_count(mut self, n: u32) -> Self {
        self.checkpoint_max_count = Some(n);
        self
    }

    /// Most consumers at once (default 64).
    pub fn max_subscribers(mut self, n: u32) -> Self {
        self.max_subscribers = Some(n);
        self
    }

    /// Partition [`Strategy::OrderedByStream`] by this metadata key.
    pub fn partition_key(mut self, key: impl Into<String>) -> Self {
        self.partition_key = Some(key.into());
        self
    }
}

/// What a group is doing, as [`GroupInfo::state`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupState {
    /// Delivering live events.
    Live,
    /// Reading the source's history.
    CatchingUp,
    /// No consumer is connected.
    WaitingForConsumers,
    /// Every consumer has its maximum in flight.
    ConsumersFull,
    /// Ordered partitions wait for acks.
    PartitionsBlocked,
    /// The group cannot make progress (see [`GroupInfo::reason`]).
    Failing,
    /// The group is being deleted.
    Deleted,
    /// A state this client does not know, as the server named it.
    Other(String),
}

impl GroupState {
    /// The state named as on the wire (`live`, `catching-up`, ...).
    pub(crate) fn from_name(name: &str) -> Self {
        match name {
            "live" => GroupState::Live,
            "catching-up" => GroupState::CatchingUp,
            "waiting-for-consumers" => GroupState::WaitingForConsumers,
            "consumers-full" => GroupState::ConsumersFull,
            "partitions-blocked" => GroupState::PartitionsBlocked,
            "failing" => GroupState::Failing,
            "deleted" => GroupState::Deleted,
            other => GroupState::Other(other.to_owned()),
        }
    }
}

/// One connected consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupConsumerInfo {
    /// Assigned by the server; unique within the group while connected.
    pub id: String,
    /// As the consumer named itself.
    pub name: String,
    /// Events delivered to it and not yet acked or nacked.
    pub in_flight: u32,
    /// Most events it may have in flight.
    pub capacity: u32,
    /// Events delivered to it.
    pub delivered: u64,
    /// Events it acked.
    pub acked: u64,
    /// Events it nacked.
    pub nacked: u64,
    /// When it connected, unix microseconds.
    pub connected_micros: i64,
}

/// A group's definition, state and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupInfo {
    /// Its name.
    pub group: String,
    /// What it follows.
    pub source: GroupSource,
    /// Its settings, every one set (the server's defaults filled in).
    pub settings: GroupSettings,
    /// What it is doing.
    pub state: GroupState,
    /// Why it is not making progress, if it is not.
    pub reason: Option<String>,
    /// Its connected consumers.
    pub consumers: Vec<GroupConsumerInfo>,
    /// Everything at or before it is done (acked, skipped or parked):
    /// a global position for `$all`, a stream revision + 1 for a stream (0:
    /// nothing yet).
    pub checkpoint: u64,
    /// The log head (or the stream's last revision + 1) last seen.
    pub head: u64,
    /// `head - checkpoint`.
    pub lag: u64,
    /// Events delivered and not yet acked or nacked.
    pub in_flight: u64,
    /// Events in `$parked-<group>` now.
    pub parked: u64,
    /// Deliveries since the server started.
    pub delivered: u64,
    /// Acks since the server started.
    pub acked: u64,
    /// Nacks since the server started.
    pub nacked: u64,
    /// Events parked since the server started.
    pub parked_total: u64,
    /// Redeliveries since the server started.
    pub redelivered: u64,
}

/// What a consumer wants done with an event it nacks
/// ([`GroupDelivery::nack`](crate::GroupDelivery::nack)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackAction {
    /// Redeliver it (its retry count + 1; parked after the group's
    /// `max_retry_count`).
    Retry,
    /// Park it in `$parked-<group>` now.
    Park,
    /// Drop it: it counts as handled.
    Skip,
    /// Leave the group: this consumer's events in flight go to the others,
    /// and its subscription ends (`None`) once the server has let it go.
    Stop,
}

/// The stream where a group's parked events are kept: `$parked-<group>`.
///
/// ```
/// assert_eq!(strata_client::parked_stream("billing"), "$parked-billing");
/// ```
pub fn parked_stream(group: &str) -> String {
    format!("$parked-{group}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names() {
        for (name, state) in [
            ("live", GroupState::Live),
            ("catching-up", GroupState::CatchingUp),
            ("waiting-for-consumers", GroupState::WaitingForConsumers),
            ("consumers-full", GroupState::ConsumersFull),
            ("partitions-blocked", GroupState::PartitionsBlocked),
            ("failing", GroupState::Failing),
            ("deleted", GroupState::Deleted),
        ] {
            assert_eq!(GroupState::from_name(name), state);
        }
        assert_eq!(
            GroupState::from_name("resting"),
            GroupState::Other("resting".into())
        );
    }
}
