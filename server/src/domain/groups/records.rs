//! The log records of consumer groups, and their system streams:
//!
//! - `$groups`: one record per definition change (`$groupCreated`,
//!   `$groupUpdated`, `$groupDeleted`), JSON holding the group's whole
//!   definition — the last record per group is its truth;
//! - `$checkpoint-<group>`: `$checkpoint` records, JSON `{"checkpoint": C}`
//!   (max_count 1: only the newest stays visible, a scavenge drops the rest);
//! - `$parked-<group>`: parked events, each the original event's type,
//!   content type and data, with the park's facts (reason, original stream,
//!   revision, position, id, retries, the original metadata) as JSON
//!   metadata. Replayed ones are removed by moving truncate_before.
//!
//! Not here: when these are written (`actor`), what they mean (`state`).

use super::settings::{GroupSettings, GroupSpec};
use serde::{Deserialize, Serialize};
use strata_storage::{NewEvent, RecordedEvent};

/// The stream of group definitions.
pub const GROUPS_STREAM: &str = "$groups";
/// Record types in `$groups`.
pub const GROUP_CREATED: &str = "$groupCreated";
/// A settings change.
pub const GROUP_UPDATED: &str = "$groupUpdated";
/// A deletion.
pub const GROUP_DELETED: &str = "$groupDeleted";
/// Record type in `$checkpoint-<group>`.
pub const CHECKPOINT: &str = "$checkpoint";

/// `$checkpoint-<group>`.
pub fn checkpoint_stream(group: &str) -> String {
    format!("$checkpoint-{group}")
}

/// `$parked-<group>`.
pub fn parked_stream(group: &str) -> String {
    format!("$parked-{group}")
}

/// The data of a `$groups` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub group: String,
    pub spec: GroupSpec,
    pub settings: GroupSettings,
}

/// A `$groups` record for `kind`.
pub fn group_event(kind: &str, r: &GroupRecord) -> NewEvent {
    json_event(kind, serde_json::to_vec(r).unwrap_or_default(), Vec::new())
}

#[derive(Serialize, Deserialize)]
struct CheckpointRecord {
    checkpoint: u64,
}

/// A `$checkpoint-<group>` record.
pub fn checkpoint_event(checkpoint: u64) -> NewEvent {
    let data = serde_json::to_vec(&CheckpointRecord { checkpoint }).unwrap_or_default();
    json_event(CHECKPOINT, data, Vec::new())
}

/// The checkpoint a `$checkpoint` record holds.
pub fn checkpoint_of(e: &RecordedEvent) -> Option<u64> {
    serde_json::from_slice::<CheckpointRecord>(&e.data)
        .ok()
        .map(|c| c.checkpoint)
}

/// The facts of a park, as the parked record's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkInfo {
    pub reason: String,
    pub original_stream: String,
    pub original_revision: u64,
    pub original_position: u64,
    pub original_event_id: String,
    pub original_created_micros: i64,
    pub retry_count: u32,
    pub parked_micros: i64,
    /// The original metadata when it is UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_metadata: Option<String>,
    /// The original metadata's bytes otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_metadata_bytes: Option<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct ParkedMetadata {
    #[serde(rename = "$parked")]
    parked: ParkInfo,
}

/// The record that parks `e` with `reason` after `retry_count` retries.
pub fn parked_event(e: &RecordedEvent, reason: &str, retry_count: u32) -> NewEvent {
    let (text, bytes) = match std::str::from_utf8(&e.metadata) {
        Ok(t) if !t.is_empty() => (Some(t.to_owned()), None),
        Ok(_) => (None, None),
        Err(_) => (None, Some(e.metadata.clone())),
    };
    let info = ParkInfo {
        reason: reason.to_owned(),
        original_stream: e.stream.clone(),
        original_revision: e.revision,
        original_position: e.position,
        original_event_id: e.id.hyphenated().to_string(),
        original_created_micros: e.created_micros,
        retry_count,
        parked_micros: strata_storage::clock::now_micros(),
        original_metadata: text,
        original_metadata_bytes: bytes,
    };
    let metadata = serde_json::to_vec(&ParkedMetadata { parked: info }).unwrap_or_default();
    NewEvent {
        id: uuid::Uuid::new_v4(),
        event_type: e.event_type.clone(),
        content_type: e.content_type.clone(),
        data: e.data.clone(),
        metadata,
    }
}

/// The original event a parked record holds, for a replay.
pub fn unparked(record: &RecordedEvent) -> Option<RecordedEvent> {
    let m: ParkedMetadata = serde_json::from_slice(&record.metadata).ok()?;
    let p = m.parked;
    let metadata = match (p.original_metadata, p.original_metadata_bytes) {
        (Some(t), _) => t.into_bytes(),
        (None, Some(b)) => b,
        (None, None) => Vec::new(),
    };
    Some(RecordedEvent {
        stream: p.original_stream,
        revision: p.original_revision,
        position: p.original_position,
        id: uuid::Uuid::try_parse(&p.original_event_id).ok()?,
        event_type: record.event_type.clone(),
        content_type: record.content_type.clone(),
        created_micros: p.original_created_micros,
        data: record.data.clone(),
        metadata,
    })
}

fn json_event(kind: &str, data: Vec<u8>, metadata: Vec<u8>) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::new_v4(),
        event_type: kind.to_owned(),
        content_type: "application/json".to_owned(),
        data,
        metadata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(metadata: Vec<u8>) -> RecordedEvent {
        RecordedEvent {
            stream: "order-1".into(),
            revision: 4,
            position: 99,
            id: uuid::Uuid::new_v4(),
            event_type: "Placed".into(),
            content_type: "application/json".into(),
            created_micros: 123,
            data: b"{\"total\":1}".to_vec(),
            metadata,
        }
    }

    #[test]
    fn a_parked_record_gives_back_the_original_event() {
        for metadata in [vec![], b"{\"c\":1}".to_vec(), vec![0xff, 0, 7]] {
            let e = event(metadata);
            let p = parked_event(&e, "boom", 3);
            let stored = RecordedEvent {
                stream: "$parked-g".into(),
                revision: 0,
                position: 200,
                id: p.id,
                event_type: p.event_type.clone(),
                content_type: p.content_type.clone(),
                created_micros: 500,
                data: p.data.clone(),
                metadata: p.metadata.clone(),
            };
            assert_eq!(unparked(&stored), Some(e));
            let text = String::from_utf8(p.metadata).unwrap();
            assert!(
                text.contains("\"reason\":\"boom\"") && text.contains("\"original_position\":99")
            );
        }
    }

    #[test]
    fn checkpoints_round_trip() {
        let e = checkpoint_event(42);
        let stored = RecordedEvent {
            stream: "$checkpoint-g".into(),
            revision: 0,
            position: 1,
            id: e.id,
            event_type: e.event_type,
            content_type: e.content_type,
            created_micros: 0,
            data: e.data,
            metadata: e.metadata,
        };
        assert_eq!(checkpoint_of(&stored), Some(42));
    }
}
