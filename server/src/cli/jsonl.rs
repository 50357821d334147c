//! The JSON line of one event: what `strata export` writes, `strata import`
//! reads, and `read`/`tail --json` print.
//!
//! ```text
//! {"stream":"order-1","revision":0,"position":1,"id":"5f0c…","type":"OrderPlaced",
//!  "content_type":"application/json","created_micros":1767225600123456,
//!  "data":{"total":42},"metadata":{"user":"ann"}}
//! ```
//!
//! `data` holds the payload's JSON text verbatim when the content type is
//! JSON (`application/json`, or `+json`) and the bytes are one JSON value
//! on one line without surrounding whitespace; otherwise `data_base64`
//! holds them (standard alphabet, padded). `metadata`/`metadata_base64`
//! the same, whatever the content type; both are left out when the
//! metadata is empty. Either way the bytes come back exactly: verbatim
//! JSON text is never re-serialised. `position` and `created_micros` are
//! the source's and are ignored by `import` (the target assigns its own).
//!
//! Not here: how lines are read and written in bulk (`export`, `import`).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use strata_client::{EventData, RecordedEvent};
use uuid::Uuid;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One event as a JSON line.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventLine {
    /// The stream.
    pub stream: String,
    /// Its revision in the stream.
    pub revision: u64,
    /// Its global position in the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// The event id.
    pub id: Uuid,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Content type of the data.
    pub content_type: String,
    /// When the source committed it, unix µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_micros: Option<i64>,
    /// The data as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
    /// The data in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
    /// The metadata as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<RawValue>>,
    /// The metadata in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_base64: Option<String>,
}

/// Whether a content type is JSON (`application/json`, `…+json`,
/// parameters ignored).
pub fn is_json_content_type(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// `bytes` as JSON text that reads back as exactly these bytes, if they
/// are one JSON value on one line (`null` excepted: it reads back as
/// "absent").
fn verbatim_json(bytes: &[u8]) -> Option<Box<RawValue>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.trim() != text || text.contains(['\n', '\r']) || text == "null" {
        return None;
    }
    RawValue::from_string(text.to_owned()).ok()
}

/// Splits bytes into the JSON or the base64 field.
fn encode(bytes: &[u8], as_json: bool) -> (Option<Box<RawValue>>, Option<String>) {
    match as_json.then(|| verbatim_json(bytes)).flatten() {
        Some(raw) => (Some(raw), None),
        None => (None, Some(B64.encode(bytes))),
    }
}

/// The bytes of a JSON or base64 field pair; `what` names it in errors.
fn decode(json: Option<Box<RawValue>>, b64: Option<String>, what: &str) -> Result<Vec<u8>, String> {
    match (json, b64) {
        (Some(_), Some(_)) => Err(format!("both {what} and {what}_base64")),
        (Some(raw), None) => Ok(raw.get().as_bytes().to_vec()),
        (None, Some(b)) => B64
            .decode(b.as_bytes())
            .map_err(|e| format!("{what}_base64 is not base64: {e}")),
        (None, None) => Ok(Vec::new()),
    }
}

impl EventLine {
    /// A recorded event as a line.
    pub fn from_event(e: &RecordedEvent) -> EventLine {
        let (data, data_base64) = encode(&e.data, is_json_content_type(&e.content_type));
        let (metadata, metadata_base64) = if e.metadata.is_empty() {
            (None, None)
        } else {
            encode(&e.metadata, true)
        };
        EventLine {
            stream: e.stream.clone(),
            revision: e.revision,
            position: Some(e.position),
            id: e.id,
            event_type: e.event_type.clone(),
            content_type: e.content_type.clone(),
            created_micros: Some(e.created_micros),
            data,
            data_base64,
            metadata,
            metadata_base64,
        }
    }

    /// Parses one line.
    pub fn parse(line: &str) -> Result<EventLine, String> {
        serde_json::from_str(line).map_err(|e| e.to_string())
    }

    /// The event to append (same id, type, content type and bytes);
    /// returns the line's stream and revision beside it.
    pub fn into_event(self) -> Result<(String, u64, EventData), String> {
        let data = decode(self.data, self.data_base64, "data")?;
        let metadata = decode(self.metadata, self.metadata_base64, "metadata")?;
        let e = EventData::binary(self.event_type, data)
            .with_id(self.id)
            .with_content_type(self.content_type)
            .with_metadata(metadata);
        Ok((self.stream, self.revision, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(content_type: &str, data: &[u8], metadata: &[u8]) -> String {
        let line = serde_json::json!({
            "stream": "s", "revision": 3, "id": Uuid::new_v4(), "type": "T",
            "content_type": content_type,
        });
        let mut l: EventLine = serde_json::from_value(line).unwrap();
        let (d, db) = encode(data, is_json_content_type(content_type));
        let (m, mb) = if metadata.is_empty() {
            (None, None)
        } else {
            encode(metadata, true)
        };
        (l.data, l.data_base64, l.metadata, l.metadata_base64) = (d, db, m, mb);
        let text = serde_json::to_string(&l).unwrap();
        assert!(!text.contains('\n'));
        let (_, rev, e) = EventLine::parse(&text).unwrap().into_event().unwrap();
        assert_eq!(rev, 3);
        assert_eq!(e.data, data, "{text}");
        assert_eq!(e.metadata, metadata, "{text}");
        assert_eq!(e.content_type, content_type);
        text
    }

    #[test]
    fn bytes_come_back_exactly() {
        let t = roundtrip(
            "application/json",
            br#"{"b":1.50,"a":"\u00e9"}"#,
            br#"{"m":1}"#,
        );
        assert!(t.contains(r#""data":{"b":1.50,"a":"\u00e9"}"#), "{t}");
        assert!(t.contains(r#""metadata":{"m":1}"#), "{t}");
        // Pretty JSON has newlines: base64, so the bytes stay exact.
        let t = roundtrip("application/json", b"{\n  \"a\": 1\n}", b"");
        assert!(t.contains("data_base64") && !t.contains("metadata"), "{t}");
        let t = roundtrip("application/octet-stream", &[0, 159, 255], &[1]);
        assert!(
            t.contains("data_base64") && t.contains("metadata_base64"),
            "{t}"
        );
        roundtrip("application/vnd.x+json; charset=utf-8", b"[1,2]", b"");
        roundtrip("application/json", b"null", b"");
        roundtrip("application/json", b" 1", b"");
        roundtrip("application/json", b"", b"not json");
        roundtrip("text/plain", b"{\"a\":1}", b"");
    }

    #[test]
    fn bad_lines_say_why() {
        let id = Uuid::new_v4();
        let both = format!(
            r#"{{"stream":"s","revision":0,"id":"{id}","type":"T","content_type":"x","data":1,"data_base64":"AA=="}}"#
        );
        let e = EventLine::parse(&both).unwrap().into_event().unwrap_err();
        assert!(e.contains("both data"), "{e}");
        assert!(EventLine::parse(r#"{"stream":"s"}"#).is_err());
    }
}
