//! Stream lifecycle: metadata (retention, custom data), soft deletes and
//! tombstones — as records in the log, and the visibility rules every read
//! path and the scavenger apply.
//!
//! Every lifecycle change of stream `s` is one record in its metadata
//! stream `$$s`, committed through the writer like any event. Each record
//! holds the stream's whole lifecycle state ([`StreamState`]), so the last
//! record of `$$s` is the truth and earlier ones are history (dropped by a
//! scavenge). The in-memory [`Lifecycles`] map is derived from those
//! records: loaded at open, updated by the writer after each fsync.
//!
//! ```text
//! Record data (type "$metadata", "$deleted" or "$tombstone"; integers LE)
//! offset size field
//!      0    1 version           1
//!      1    1 flags             bit 0 max_count, 1 max_age, 2 truncate_before,
//!                               3 deleted (deleted_before is set), 4 tombstoned
//!      2    2 reserved          0
//!      4    8 max_count         u64 (if bit 0)
//!     12    8 max_age_seconds   u64 (if bit 1)
//!     20    8 truncate_before   u64 revision (if bit 2)
//!     28    8 deleted_before    u64 revision (if bit 3): revisions below it are deleted
//!     36    4 custom_len        u32
//!     40    . custom            bytes, as the application gave them
//! ```
//!
//! Visibility: an event of revision `r` is visible iff `r` is at or after
//! `truncate_before` and `deleted_before`, among the last `max_count`
//! revisions, and no older than `max_age_seconds`. Every rule hides a
//! prefix of the stream (timestamps are non-decreasing), so the visible
//! events are always a suffix: [`first_visible`] and an age cutoff describe
//! them completely.
//!
//! Not here: deciding or writing these records (`plan`, `writer`), reading
//! streams (`query`).

use crate::error::{Error, Result};
use crate::limits::MAX_METADATA_CUSTOM_BYTES;
use crate::types::{Revision, StreamMetadata};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Prefix of a stream's metadata stream: `$$order-1` belongs to `order-1`.
pub const METADATA_STREAM_PREFIX: &str = "$$";
/// Record type of a metadata change.
pub const METADATA_EVENT_TYPE: &str = "$metadata";
/// Record type of a soft delete.
pub const DELETED_EVENT_TYPE: &str = "$deleted";
/// Record type of a tombstone.
pub const TOMBSTONE_EVENT_TYPE: &str = "$tombstone";
/// Content type of lifecycle records (the binary layout above).
pub const LIFECYCLE_CONTENT_TYPE: &str = "application/vnd.strata.lifecycle.v1";
/// The stream holding the history of scavenges.
pub const SCAVENGES_STREAM: &str = "$scavenges";

const VERSION: u8 = 1;
const HEADER_BYTES: usize = 40;

/// The metadata stream of `stream`.
pub fn metadata_stream(stream: &str) -> String {
    format!("{METADATA_STREAM_PREFIX}{stream}")
}

/// The stream a metadata stream belongs to, if `name` is one.
pub fn stream_of_metadata(name: &str) -> Option<&str> {
    name.strip_prefix(METADATA_STREAM_PREFIX)
        .filter(|s| !s.is_empty())
}

/// System streams kept by the server for its own features, readable by
/// clients (the server decides which: `$security` and `$audit` only by
/// admins): consumer groups' definitions (`$groups`), checkpoints
/// (`$checkpoint-<group>`) and parked events (`$parked-<group>`); users,
/// tokens and grants (`$security`); the audit trail (`$audit`).
pub const READABLE_SYSTEM_STREAMS: [&str; 6] = [
    SCAVENGES_STREAM,
    "$groups",
    "$checkpoint-",
    "$parked-",
    "$security",
    "$audit",
];

/// Whether `name` is a system stream clients may read: a metadata stream,
/// the store's scavenge history, or one of the server's feature streams
/// ([`READABLE_SYSTEM_STREAMS`]; `$checkpoint-` and `$parked-` as prefixes
/// of a group name).
/// Other `$` names are reserved.
pub fn is_readable_system_stream(name: &str) -> bool {
    if let Some(owner) = stream_of_metadata(name) {
        return !owner.starts_with('$') || is_readable_system_stream(owner);
    }
    let [scavenges, groups, checkpoint, parked, security, audit] = READABLE_SYSTEM_STREAMS;
    name == scavenges
        || name == groups
        || name == security
        || name == audit
        || name.strip_prefix(checkpoint).is_some_and(|g| !g.is_empty())
        || name.strip_prefix(parked).is_some_and(|g| !g.is_empty())
}

/// A stream's whole lifecycle state, as one record of `$$stream` holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamState {
    /// What the application set.
    pub metadata: StreamMetadata,
    /// Revisions below this were deleted (soft delete or tombstone).
    pub deleted_before: Option<Revision>,
    /// The stream can never be written again.
    pub tombstoned: bool,
}

impl StreamState {
    /// Whether the stream counts as absent: deleted, and nothing appended
    /// since (`last` is its last revision ever, if it has events).
    pub fn is_deleted(&self, last: Option<Revision>) -> bool {
        match self.deleted_before {
            Some(d) => self.tombstoned || last.is_none_or(|l| l < d),
            None => false,
        }
    }

    /// The first revision of the next append: revisions are never reused.
    pub fn next_revision(&self, last: Option<Revision>) -> Revision {
        let after_last = last.map_or(0, |l| l + 1);
        after_last.max(self.deleted_before.unwrap_or(0))
    }
}

/// Checks metadata the application wants to set.
pub fn validate_metadata(m: &StreamMetadata) -> Result<()> {
    if m.max_count == Some(0) {
        return Err(Error::InvalidMetadata(
            "max_count must be at least 1".into(),
        ));
    }
    if m.max_age_seconds == Some(0) {
        return Err(Error::InvalidMetadata(
            "max_age_seconds must be at least 1".into(),
        ));
    }
    if m.max_age_seconds
        .is_some_and(|s| s > i64::MAX as u64 / 1_000_000)
    {
        return Err(Error::InvalidMetadata(
            "max_age_seconds is too large".into(),
        ));
    }
    if m.custom.len() > MAX_METADATA_CUSTOM_BYTES {
        return Err(Error::MetadataTooLarge {
            size_bytes: m.custom.len(),
            limit_bytes: MAX_METADATA_CUSTOM_BYTES,
        });
    }
    Ok(())
}

/// Encodes a state as record data (the layout above).
pub fn encode_state(s: &StreamState) -> Vec<u8> {
    let m = &s.metadata;
    let mut flags = 0u8;
    for (bit, set) in [
        (0, m.max_count.is_some()),
        (1, m.max_age_seconds.is_some()),
        (2, m.truncate_before.is_some()),
        (3, s.deleted_before.is_some()),
        (4, s.tombstoned),
    ] {
        if set {
            flags |= 1 << bit;
        }
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + m.custom.len());
    out.push(VERSION);
    out.push(flags);
    out.extend_from_slice(&[0, 0]);
    for v in [
        m.max_count,
        m.max_age_seconds,
        m.truncate_before,
        s.deleted_before,
    ] {
        out.extend_from_slice(&v.unwrap_or(0).to_le_bytes());
    }
    out.extend_from_slice(&(m.custom.len() as u32).to_le_bytes());
    out.extend_from_slice(&m.custom);
    out
}

/// Decodes record data; `None` if it is not a valid version-1 state.
pub fn decode_state(b: &[u8]) -> Option<StreamState> {
    if b.len() < HEADER_BYTES || b[0] != VERSION || b[1] >> 5 != 0 {
        return None;
    }
    let flags = b[1];
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let opt = |bit: u8, at: usize| (flags & (1 << bit) != 0).then(|| u64_at(at));
    let custom_len = u32::from_le_bytes(b[36..40].try_into().expect("4 bytes")) as usize;
    if b.len() != HEADER_BYTES + custom_len {
        return None;
    }
    Some(StreamState {
        metadata: StreamMetadata {
            max_count: opt(0, 4),
            max_age_seconds: opt(1, 12),
            truncate_before: opt(2, 20),
            custom: b[HEADER_BYTES..].to_vec(),
        },
        deleted_before: opt(3, 28),
        tombstoned: flags & (1 << 4) != 0,
    })
}

/// The first revision visible by every rule except age, for a stream whose
/// last revision is `last`.
pub fn first_visible(s: &StreamState, last: Revision) -> Revision {
    let by_count = s
        .metadata
        .max_count
        .map_or(0, |n| (last + 1).saturating_sub(n));
    by_count
        .max(s.metadata.truncate_before.unwrap_or(0))
        .max(s.deleted_before.unwrap_or(0))
}

/// Events committed before this time (unix µs) are expired, if the stream
/// has a maximum age.
pub fn age_cutoff_micros(s: &StreamState, now_micros: i64) -> Option<i64> {
    s.metadata
        .max_age_seconds
        .map(|a| now_micros.saturating_sub((a as i64).saturating_mul(1_000_000)))
}

/// Whether one event is visible.
pub fn is_visible(
    s: &StreamState,
    last: Revision,
    rev: Revision,
    created_micros: i64,
    now_micros: i64,
) -> bool {
    rev >= first_visible(s, last)
        && age_cutoff_micros(s, now_micros).is_none_or(|c| created_micros >= c)
}

/// One stream's current lifecycle: the revision of its last `$$` record
/// and the state it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    /// Revision of the last record of the metadata stream.
    pub metadata_revision: Revision,
    /// The state that record holds.
    pub state: Arc<StreamState>,
}

/// Every stream that has a lifecycle record, by stream name. Derived from
/// the log; readers take the read lock briefly per lookup.
#[derive(Debug, Default)]
pub(crate) struct Lifecycles {
    map: RwLock<HashMap<String, Lifecycle>>,
}

impl Lifecycles {
    pub(crate) fn get(&self, stream: &str) -> Option<Lifecycle> {
        let map = self.map.read().unwrap();
        if map.is_empty() {
            return None;
        }
        map.get(stream).cloned()
    }

    /// True when no stream has any lifecycle record (the common fast path).
    pub(crate) fn is_empty(&self) -> bool {
        self.map.read().unwrap().is_empty()
    }

    pub(crate) fn set(&self, stream: String, l: Lifecycle) {
        self.map.write().unwrap().insert(stream, l);
    }

    pub(crate) fn set_all(&self, changes: impl IntoIterator<Item = (String, Lifecycle)>) {
        let mut map = self.map.write().unwrap();
        for (k, v) in changes {
            map.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn state_roundtrips(mc in proptest::option::of(1u64..), ma in proptest::option::of(1u64..1_000_000),
                            tb in proptest::option::of(any::<u64>()), db in proptest::option::of(any::<u64>()),
                            tomb in any::<bool>(), custom in proptest::collection::vec(any::<u8>(), 0..100)) {
            let s = StreamState {
                metadata: StreamMetadata { max_count: mc, max_age_seconds: ma, truncate_before: tb, custom },
                deleted_before: db,
                tombstoned: tomb,
            };
            prop_assert_eq!(decode_state(&encode_state(&s)), Some(s));
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode_state(&b);
        }

        #[test]
        fn visible_events_are_a_suffix(last in 0u64..200, mc in proptest::option::of(1u64..50),
                                       tb in proptest::option::of(0u64..250), db in proptest::option::of(0u64..250)) {
            let s = StreamState {
                metadata: StreamMetadata { max_count: mc, truncate_before: tb, ..Default::default() },
                deleted_before: db,
                tombstoned: false,
            };
            let vis: Vec<bool> = (0..=last).map(|r| is_visible(&s, last, r, 0, 0)).collect();
            let first = vis.iter().position(|v| *v).unwrap_or(vis.len());
            prop_assert!(vis[first..].iter().all(|v| *v));
            prop_assert_eq!(first as u64, first_visible(&s, last).min(last + 1));
        }
    }

    #[test]
    fn deleted_means_nothing_appended_since() {
        let s = StreamState {
            deleted_before: Some(5),
            ..Default::default()
        };
        assert!(s.is_deleted(Some(4)));
        assert!(!s.is_deleted(Some(5)));
        assert!(s.is_deleted(None));
        assert_eq!(s.next_revision(Some(4)), 5);
        assert_eq!(s.next_revision(None), 5);
        assert_eq!(StreamState::default().next_revision(None), 0);
        let tomb = StreamState {
            tombstoned: true,
            ..s
        };
        assert!(tomb.is_deleted(Some(9)));
    }
}
