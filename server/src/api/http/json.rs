//! Domain types as the JSON API's bodies: the one place the JSON API
//! encodes what `Node` returns (events, stream listings, metadata,
//! snapshots, consumer groups, scavenges), the JSON twin of
//! `api::strata::convert` — same types, no model of its own.
//!
//! Conventions (docs/API.md, "JSON API"): names in snake_case; positions,
//! revisions and counters as JSON numbers (exact in JavaScript up to
//! 2^53); times as unix microseconds (`*_micros`); ids as hyphenated
//! UUIDs. Payloads (an event's or snapshot's data and metadata) are a
//! [`payload`] object: `{"bytes": n, "text": "..."}` when the bytes are
//! UTF-8 (JSON is sent as its original text, so the page can pretty-print
//! it without reordering keys or rounding numbers), else
//! `{"bytes": n, "hex": "..."}`, with `"truncated": true` when only the
//! first `limit` bytes are included.
//!
//! Not here: reading them (`Node`), the handlers, errors (`errors`).

use crate::domain::groups::{GroupInfo, Strategy};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use strata_storage::{
    RecordedEvent, ScavengeState, ScavengeStatus, Snapshot, StreamInfo, StreamMetadataInfo,
};

/// Most payload bytes an event carries in a page of events; the single
/// event endpoint sends them whole.
pub const PAGE_PAYLOAD_BYTES: usize = 64 * 1024;

/// A `200` answer with a JSON body.
pub fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// Bytes as text when they are UTF-8, else as hex; at most `limit` bytes.
pub fn payload(bytes: &[u8], limit: usize) -> Value {
    let cut = bytes.len().min(limit);
    let mut v = match std::str::from_utf8(bytes) {
        Ok(text) => {
            // A cut inside a character moves back to its start.
            let mut end = cut;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            json!({ "text": &text[..end] })
        }
        Err(_) => json!({ "hex": hex(&bytes[..cut]) }),
    };
    v["bytes"] = bytes.len().into();
    if cut < bytes.len() {
        v["truncated"] = true.into();
    }
    v
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// An event, its payloads cut at `limit` bytes each.
pub fn event(e: &RecordedEvent, limit: usize) -> Value {
    json!({
        "stream": e.stream,
        "revision": e.revision,
        "position": e.position,
        "id": e.id.hyphenated().to_string(),
        "type": e.event_type,
        "content_type": e.content_type,
        "created_micros": e.created_micros,
        "data": payload(&e.data, limit),
        "metadata": payload(&e.metadata, limit),
    })
}

/// A stream in a listing.
pub fn stream_info(s: &StreamInfo) -> Value {
    json!({
        "name": s.name,
        "revision": s.revision,
        "last_position": s.last_position,
    })
}

/// A stream's metadata and state.
pub fn metadata(m: &StreamMetadataInfo) -> Value {
    json!({
        "max_count": m.metadata.max_count,
        "max_age_seconds": m.metadata.max_age_seconds,
        "truncate_before": m.metadata.truncate_before,
        "custom": payload(&m.metadata.custom, usize::MAX),
        "metadata_revision": m.metadata_revision,
        "deleted": m.deleted,
        "tombstoned": m.tombstoned,
    })
}

/// A snapshot, its payloads cut at `limit` bytes each.
pub fn snapshot(s: &Snapshot, limit: usize) -> Value {
    json!({
        "stream": s.stream,
        "revision": s.revision,
        "snapshot_type": s.snapshot_type,
        "schema_version": s.schema_version,
        "created_micros": s.created_micros,
        "data": payload(&s.data, limit),
        "metadata": payload(&s.metadata, limit),
    })
}

fn strategy(s: Strategy) -> &'static str {
    match s {
        Strategy::RoundRobin => "round_robin",
        Strategy::DispatchToSingle => "dispatch_to_single",
        Strategy::Pinned => "pinned",
        Strategy::OrderedByStream => "ordered_by_stream",
    }
}

/// A consumer group: definition, state, consumers, progress, counters
/// (the fields of gRPC `GroupInfo`).
pub fn group(i: &GroupInfo) -> Value {
    let s = &i.settings;
    json!({
        "group": i.group,
        "stream": i.spec.stream,
        "filter": {
            "event_types": i.spec.filter.event_types,
            "stream_prefixes": i.spec.filter.stream_prefixes,
        },
        "settings": {
            "strategy": strategy(s.strategy),
            "max_retry_count": s.max_retry_count,
            "message_timeout_ms": s.message_timeout_ms,
            "max_in_flight": s.max_in_flight,
            "checkpoint_after_ms": s.checkpoint_after_ms,
            "checkpoint_max_count": s.checkpoint_max_count,
            "max_subscribers": s.max_subscribers,
            "partition_key": s.partition_key,
        },
        "state": i.status.as_str(),
        "reason": i.reason,
        "consumers": i.consumers.iter().map(|c| json!({
            "id": c.id.to_string(),
            "name": c.name,
            "capacity": c.capacity,
            "in_flight": c.in_flight,
            "delivered": c.delivered,
            "acked": c.acked,
            "nacked": c.nacked,
            "connected_micros": c.connected_micros,
        })).collect::<Vec<_>>(),
        "checkpoint": i.checkpoint,
        "head": i.head,
        "lag": i.head.saturating_sub(i.checkpoint),
        "in_flight": i.in_flight,
        "parked": i.parked,
        "parked_stream": format!("$parked-{}", i.group),
        "delivered": i.totals.delivered,
        "acked": i.totals.acked,
        "nacked": i.totals.nacked,
        "parked_total": i.totals.parked,
        "redelivered": i.totals.redelivered,
    })
}

fn scavenge_state(s: ScavengeState) -> &'static str {
    match s {
        ScavengeState::Running => "running",
        ScavengeState::Completed => "completed",
        ScavengeState::Stopped => "stopped",
        ScavengeState::Failed => "failed",
    }
}

/// A scavenge's progress and outcome.
pub fn scavenge(s: &ScavengeStatus) -> Value {
    json!({
        "id": s.id.hyphenated().to_string(),
        "state": scavenge_state(s.state),
        "current_segment": s.current_segment,
        "segments_done": s.segments_done,
        "segments_total": s.segments_total,
        "bytes_processed": s.bytes_processed,
        "bytes_reclaimed": s.bytes_reclaimed,
        "records_dropped": s.records_dropped,
        "started_micros": s.started_micros,
        "finished_micros": s.finished_micros,
        "error": s.error,
        "max_bytes_per_second": s.max_bytes_per_second,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        assert_eq!(
            payload(br#"{"a":1}"#, 100),
            json!({"text": "{\"a\":1}", "bytes": 7})
        );
        assert_eq!(
            payload(&[0, 0xff, 0x10], 100),
            json!({"hex": "00ff10", "bytes": 3})
        );
        assert_eq!(
            payload(&[0, 0xff, 0x10], 2),
            json!({"hex": "00ff", "bytes": 3, "truncated": true})
        );
        // "ü" is two bytes: a cut after its first byte keeps none of it.
        assert_eq!(
            payload("aü".as_bytes(), 2),
            json!({"text": "a", "bytes": 3, "truncated": true})
        );
        assert_eq!(payload(b"", 10), json!({"text": "", "bytes": 0}));
    }
}
