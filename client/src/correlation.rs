//! Correlation and causation ids in event metadata, under the keys
//! KurrentDB's clients and projections use (`$correlationId`,
//! `$causationId`), so that a process spanning many events and services
//! can be followed through the store.
//!
//! Only when the application asks: each setter adds one key to the event's
//! metadata, which must then be a JSON object (empty metadata becomes
//! `{}` first). Strata stores metadata as opaque bytes; nothing on the
//! server reads these keys.
//!
//! Not here: trace propagation on the wire (`trace`).

use crate::error::{Error, Result};
use crate::types::{EventData, RecordedEvent};
use serde_json::{Map, Value};

/// Metadata key of the id shared by every event of one business process.
pub const CORRELATION_ID_KEY: &str = "$correlationId";
/// Metadata key of the id of the event (or command) that caused this one.
pub const CAUSATION_ID_KEY: &str = "$causationId";

fn not_an_object() -> Error {
    Error::Json(serde::de::Error::custom(
        "event metadata must be a JSON object to hold correlation ids",
    ))
}

/// Metadata as a JSON object; empty metadata is an empty object.
fn object(metadata: &[u8]) -> Result<Map<String, Value>> {
    if metadata.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(metadata)? {
        Value::Object(m) => Ok(m),
        _ => Err(not_an_object()),
    }
}

fn get(metadata: &[u8], key: &str) -> Option<String> {
    match object(metadata).ok()?.remove(key)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

impl EventData {
    fn with_key(mut self, key: &str, value: &str) -> Result<Self> {
        let mut m = object(&self.metadata)?;
        m.insert(key.to_owned(), Value::String(value.to_owned()));
        self.metadata = serde_json::to_vec(&m)?;
        Ok(self)
    }

    /// Sets `$correlationId` in the metadata (a JSON object).
    ///
    /// ```
    /// let e = strata_client::EventData::binary("Shipped", vec![])
    ///     .with_correlation_id("order-7")?;
    /// assert_eq!(e.metadata, br#"{"$correlationId":"order-7"}"#);
    /// # Ok::<(), strata_client::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if the metadata is neither empty nor a JSON object.
    pub fn with_correlation_id(self, id: &str) -> Result<Self> {
        self.with_key(CORRELATION_ID_KEY, id)
    }

    /// Sets `$causationId` in the metadata (a JSON object).
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if the metadata is neither empty nor a JSON object.
    pub fn with_causation_id(self, id: &str) -> Result<Self> {
        self.with_key(CAUSATION_ID_KEY, id)
    }

    /// Marks this event as caused by `cause`: `$causationId` is the cause's
    /// id, and `$correlationId` the cause's correlation id (or, if it has
    /// none, its id: the cause started the process).
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if this event's metadata is neither empty nor a JSON
    /// object.
    pub fn caused_by(self, cause: &RecordedEvent) -> Result<Self> {
        let cause_id = cause.id.to_string();
        let correlation = cause.correlation_id().unwrap_or_else(|| cause_id.clone());
        self.with_causation_id(&cause_id)?
            .with_correlation_id(&correlation)
    }
}

impl RecordedEvent {
    /// The `$correlationId` of its metadata, if it is a JSON object with one.
    pub fn correlation_id(&self) -> Option<String> {
        get(&self.metadata, CORRELATION_ID_KEY)
    }

    /// The `$causationId` of its metadata, if it is a JSON object with one.
    pub fn causation_id(&self) -> Option<String> {
        get(&self.metadata, CAUSATION_ID_KEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_join_existing_metadata_and_refuse_non_objects() {
        let e = EventData::binary("T", vec![])
            .with_metadata(br#"{"user":"ann"}"#.to_vec())
            .with_causation_id("c-1")
            .unwrap();
        let m: Value = serde_json::from_slice(&e.metadata).unwrap();
        assert_eq!(m["user"], "ann");
        assert_eq!(m["$causationId"], "c-1");
        let bad = EventData::binary("T", vec![]).with_metadata(b"[1]".to_vec());
        assert!(matches!(bad.with_correlation_id("x"), Err(Error::Json(_))));
    }
}
