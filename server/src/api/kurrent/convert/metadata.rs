//! Stream metadata as KurrentDB clients see it: a `$metadata` event in the
//! stream `$$<stream>` whose JSON body holds `$maxCount`, `$maxAge`
//! (seconds), `$tb` (truncate before), `$cacheControl`, `$acl` and any
//! custom keys — converted to and from Strata's lifecycle
//! (`StreamMetadata`, `StreamState`).
//!
//! `$maxCount`, `$maxAge` and `$tb` become Strata's retention rules; every
//! other key (`$acl` and `$cacheControl` included, which Strata keeps but
//! does not enforce) is kept as one JSON object in the metadata's custom
//! bytes and merged back into the body on reads. A soft delete shows as
//! `$tb` (the revision the stream continues from), as KurrentDB writes it.
//!
//! Not here: writing or reading (`append`, `read`), permission checks.

use crate::api::kurrent::errors;
use serde_json::{Map, Value};
use strata_storage::lifecycle::StreamState;
use strata_storage::StreamMetadata;
use tonic::Status;

/// The event type of a metadata event.
pub const METADATA_EVENT_TYPE: &str = "$metadata";
/// The content type of metadata events as clients read them.
pub const JSON_CONTENT_TYPE: &str = "application/json";

const MAX_COUNT: &str = "$maxCount";
const MAX_AGE: &str = "$maxAge";
const TRUNCATE_BEFORE: &str = "$tb";

/// A non-negative integer field, `null` or absent = unset.
fn number(body: &mut Map<String, Value>, key: &str) -> Result<Option<u64>, Status> {
    match body.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            errors::bad_request(format!(
                "stream metadata {key} must be a non-negative integer, not {v}"
            ))
        }),
    }
}

/// A metadata event's JSON body to Strata's metadata.
pub fn from_json(data: &[u8]) -> Result<StreamMetadata, Status> {
    let body: Value = serde_json::from_slice(data)
        .map_err(|e| errors::bad_request(format!("stream metadata is not JSON: {e}")))?;
    let Value::Object(mut body) = body else {
        return Err(errors::bad_request("stream metadata must be a JSON object"));
    };
    let max_count = number(&mut body, MAX_COUNT)?;
    let max_age_seconds = number(&mut body, MAX_AGE)?;
    let truncate_before = number(&mut body, TRUNCATE_BEFORE)?;
    let custom = if body.is_empty() {
        Vec::new()
    } else {
        serde_json::to_vec(&Value::Object(body))
            .map_err(|e| errors::bad_request(format!("stream metadata: {e}")))?
    };
    Ok(StreamMetadata {
        max_count,
        max_age_seconds,
        truncate_before,
        custom,
    })
}

/// A lifecycle record's state as the JSON body of a `$metadata` event.
/// Custom bytes that are not a JSON object (set through strata.v1) are
/// left out: KurrentDB metadata is one object.
pub fn to_json(s: &StreamState) -> Vec<u8> {
    let m = &s.metadata;
    let mut body = match serde_json::from_slice::<Value>(&m.custom) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    if let Some(n) = m.max_count {
        body.insert(MAX_COUNT.into(), n.into());
    }
    if let Some(n) = m.max_age_seconds {
        body.insert(MAX_AGE.into(), n.into());
    }
    let tb = match (m.truncate_before, s.deleted_before) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    if let Some(n) = tb {
        body.insert(TRUNCATE_BEFORE.into(), n.into());
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kurrentdb_keys_map_to_rules_and_the_rest_round_trips() {
        let m = from_json(
            br#"{"$maxCount":5,"$maxAge":60,"$tb":2,"$cacheControl":10,"$acl":{"$r":"ops"},"owner":"ann"}"#,
        )
        .unwrap();
        assert_eq!(
            (m.max_count, m.max_age_seconds, m.truncate_before),
            (Some(5), Some(60), Some(2))
        );
        let back: Value = serde_json::from_slice(&to_json(&StreamState {
            metadata: m,
            deleted_before: None,
            tombstoned: false,
        }))
        .unwrap();
        assert_eq!(back["$maxCount"], 5);
        assert_eq!(back["$tb"], 2);
        assert_eq!(back["$cacheControl"], 10);
        assert_eq!(back["$acl"]["$r"], "ops");
        assert_eq!(back["owner"], "ann");
    }

    #[test]
    fn a_soft_delete_reads_as_truncate_before() {
        let back: Value = serde_json::from_slice(&to_json(&StreamState {
            metadata: StreamMetadata::default(),
            deleted_before: Some(7),
            tombstoned: false,
        }))
        .unwrap();
        assert_eq!(back["$tb"], 7);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert!(from_json(b"[]").is_err());
        assert!(from_json(b"not json").is_err());
        assert!(from_json(br#"{"$maxCount":-1}"#).is_err());
        assert!(from_json(br#"{"$maxAge":null}"#)
            .unwrap()
            .max_age_seconds
            .is_none());
    }
}
