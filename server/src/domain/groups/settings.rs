//! What a consumer group is: its source (a stream or `$all` with a filter,
//! and where it starts), its settings with their defaults and limits, and
//! the checks a definition must pass.
//!
//! Not here: how groups run (`actor`, `state`), their records (`records`).

use super::super::Error;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use strata_storage::Filter;

/// Retries before an event is parked, when the group does not say.
pub const DEFAULT_MAX_RETRY_COUNT: u32 = 10;
/// Redelivery timeout, when the group does not say (30 s).
pub const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 30_000;
/// Events in flight per consumer, when the group does not say.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 64;
/// Longest a checkpoint waits after acks, when the group does not say (1 s).
pub const DEFAULT_CHECKPOINT_AFTER_MS: u64 = 1_000;
/// Acks after which a checkpoint is written at once, by default.
pub const DEFAULT_CHECKPOINT_MAX_COUNT: u32 = 1_000;
/// Consumers per group, when the group does not say.
pub const DEFAULT_MAX_SUBSCRIBERS: u32 = 64;
/// Largest `max_in_flight` a group may set (events per consumer).
pub const MAX_IN_FLIGHT_LIMIT: u32 = 10_000;
/// Largest `max_subscribers` a group may set.
pub const MAX_SUBSCRIBERS_LIMIT: u32 = 1_000;
/// Longest a group name may be, in bytes.
pub const MAX_GROUP_NAME_BYTES: usize = 100;
/// Most groups one server keeps.
pub const MAX_GROUPS: usize = 1_000;
/// Shortest `message_timeout_ms` and `checkpoint_after_ms` a group may set.
pub const MIN_INTERVAL_MS: u64 = 10;

/// How a group hands out events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Each event to the next consumer with room, in turn.
    RoundRobin,
    /// Everything to the first consumer with room.
    DispatchToSingle,
    /// Events of one stream to the same consumer while it is connected.
    Pinned,
    /// One event in flight per partition; partitions in parallel.
    OrderedByStream,
}

/// A group's settings, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSettings {
    pub strategy: Strategy,
    pub max_retry_count: u32,
    pub message_timeout_ms: u64,
    pub max_in_flight: u32,
    pub checkpoint_after_ms: u64,
    pub checkpoint_max_count: u32,
    pub max_subscribers: u32,
    /// `ordered_by_stream`: partition by this metadata key (empty: by stream).
    #[serde(default)]
    pub partition_key: String,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            strategy: Strategy::RoundRobin,
            max_retry_count: DEFAULT_MAX_RETRY_COUNT,
            message_timeout_ms: DEFAULT_MESSAGE_TIMEOUT_MS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            checkpoint_after_ms: DEFAULT_CHECKPOINT_AFTER_MS,
            checkpoint_max_count: DEFAULT_CHECKPOINT_MAX_COUNT,
            max_subscribers: DEFAULT_MAX_SUBSCRIBERS,
            partition_key: String::new(),
        }
    }
}

impl GroupSettings {
    /// Checks the limits.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidRequest(m.to_owned()));
        if self.max_in_flight == 0 || self.max_in_flight > MAX_IN_FLIGHT_LIMIT {
            return bad("max_in_flight must be 1..=10000");
        }
        if self.max_subscribers == 0 || self.max_subscribers > MAX_SUBSCRIBERS_LIMIT {
            return bad("max_subscribers must be 1..=1000");
        }
        if self.message_timeout_ms < MIN_INTERVAL_MS || self.checkpoint_after_ms < MIN_INTERVAL_MS {
            return bad("message_timeout_ms and checkpoint_after_ms must be at least 10");
        }
        if self.checkpoint_max_count == 0 {
            return bad("checkpoint_max_count must be at least 1");
        }
        if !self.partition_key.is_empty() && self.strategy != Strategy::OrderedByStream {
            return bad("partition_key is for the ordered_by_stream strategy");
        }
        if self.partition_key.len() > 255 {
            return bad("partition_key is longer than 255 bytes");
        }
        Ok(())
    }

    pub fn message_timeout(&self) -> Duration {
        Duration::from_millis(self.message_timeout_ms)
    }

    pub fn checkpoint_after(&self) -> Duration {
        Duration::from_millis(self.checkpoint_after_ms)
    }
}

/// The filter of an `$all` group (stored in its definition).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFilter {
    pub event_types: Vec<String>,
    pub stream_prefixes: Vec<String>,
}

impl GroupFilter {
    pub fn to_filter(&self) -> Filter {
        Filter {
            event_types: self.event_types.clone(),
            stream_prefixes: self.stream_prefixes.clone(),
            include_system: false,
        }
    }
}

/// What a group follows and where it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// A stream name, or `$all`.
    pub stream: String,
    pub filter: GroupFilter,
    /// The checkpoint the group starts with: everything at or before it
    /// counts as done. Positions for `$all`; revision + 1 for a stream.
    pub start: u64,
}

impl GroupSpec {
    pub fn is_all(&self) -> bool {
        self.stream == ALL
    }
}

/// The name of the global log.
pub const ALL: &str = "$all";

/// Where a new group starts, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    Start,
    End,
    /// `$all`: after this position.
    AfterPosition(u64),
    /// A stream: after this revision.
    AfterRevision(u64),
}

/// Checks a group name: 1..=100 bytes of letters, digits, `-`, `_`, `.`.
pub fn validate_group_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_GROUP_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "group name {name:?} must be 1..=100 bytes of letters, digits, '-', '_' and '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_limits() {
        assert!(validate_group_name("billing.emails-v2").is_ok());
        for bad in ["", "a b", "x/y", &"n".repeat(101)] {
            assert!(validate_group_name(bad).is_err(), "{bad:?}");
        }
        assert!(GroupSettings::default().validate().is_ok());
        let s = GroupSettings {
            partition_key: "correlationId".into(),
            ..Default::default()
        };
        assert!(
            s.validate().is_err(),
            "partition_key needs ordered_by_stream"
        );
        let s = GroupSettings {
            max_in_flight: 0,
            ..Default::default()
        };
        assert!(s.validate().is_err());
    }
}
