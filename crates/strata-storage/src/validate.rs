//! Input validation, done on the caller's thread before an append reaches
//! the writer, so bad input costs the writer nothing and writes nothing.

use crate::codec::encoded_len;
use crate::error::{Error, Result};
use crate::limits::*;
use crate::types::{NewEvent, StreamAppend};
use std::collections::HashSet;

/// Checks a stream name for writes (and for reads of application streams).
/// Rules: 1..=[`MAX_STREAM_NAME_BYTES`] bytes, no control characters
/// (so no NUL, which the index uses as a separator), not starting with `$`.
pub fn validate_stream_name(name: &str) -> Result<()> {
    validate_name_shape(name)?;
    if name.starts_with('$') {
        return Err(Error::ReservedStreamName(name.into()));
    }
    Ok(())
}

/// Checks a stream name for reads: an application stream, or a system
/// stream clients may read (`lifecycle::is_readable_system_stream`).
pub fn validate_read_name(name: &str) -> Result<()> {
    if crate::lifecycle::is_readable_system_stream(name) {
        return validate_name_shape(name.strip_prefix("$$").unwrap_or(name));
    }
    validate_stream_name(name)
}

/// Length and characters, whatever the prefix.
fn validate_name_shape(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidStreamName {
            name: name.into(),
            reason: "empty",
        });
    }
    if name.len() > MAX_STREAM_NAME_BYTES {
        return Err(Error::InvalidStreamName {
            name: name.into(),
            reason: "longer than 255 bytes",
        });
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidStreamName {
            name: name.into(),
            reason: "contains a control character",
        });
    }
    Ok(())
}

fn validate_event(e: &NewEvent) -> Result<()> {
    if e.id.is_nil() {
        return Err(Error::InvalidEvent("event id is the nil UUID".into()));
    }
    if e.event_type.is_empty() {
        return Err(Error::InvalidEvent(format!(
            "event {} has an empty type",
            e.id
        )));
    }
    if e.event_type.len() > MAX_TYPE_NAME_BYTES || e.content_type.len() > MAX_TYPE_NAME_BYTES {
        return Err(Error::InvalidEvent(format!(
            "event {} has a type or content type over 255 bytes",
            e.id
        )));
    }
    if e.event_type.chars().any(char::is_control) || e.content_type.chars().any(char::is_control) {
        return Err(Error::InvalidEvent(format!(
            "event {} has a control character in its type",
            e.id
        )));
    }
    let size = e.data.len() + e.metadata.len();
    if size > MAX_EVENT_BYTES {
        return Err(Error::EventTooLarge {
            id: e.id,
            size_bytes: size,
            limit_bytes: MAX_EVENT_BYTES,
        });
    }
    Ok(())
}

/// Validates a whole transaction; returns its encoded size in bytes.
/// `system` allows the store's own `$` streams (never set for clients).
pub(crate) fn validate_transaction(appends: &[StreamAppend], system: bool) -> Result<usize> {
    if appends.is_empty() {
        return Err(Error::InvalidAppend("no streams to append to".into()));
    }
    if appends.len() > MAX_STREAMS_PER_APPEND {
        return Err(Error::InvalidAppend(format!(
            "{} streams in one transaction, over the limit of {MAX_STREAMS_PER_APPEND}",
            appends.len()
        )));
    }
    let mut streams = HashSet::new();
    let mut ids = HashSet::new();
    let mut count = 0usize;
    let mut bytes = 0usize;
    for a in appends {
        if system {
            validate_name_shape(&a.stream)?;
        } else {
            validate_stream_name(&a.stream)?;
        }
        if !streams.insert(a.stream.as_str()) {
            return Err(Error::InvalidAppend(format!(
                "stream '{}' appears twice in one transaction",
                a.stream
            )));
        }
        if a.events.is_empty() {
            return Err(Error::InvalidAppend(format!(
                "append to stream '{}' has no events",
                a.stream
            )));
        }
        count += a.events.len();
        if count > MAX_EVENTS_PER_APPEND {
            return Err(Error::TooManyEvents {
                count: appends.iter().map(|a| a.events.len()).sum(),
                limit: MAX_EVENTS_PER_APPEND,
            });
        }
        for e in &a.events {
            validate_event(e)?;
            if !ids.insert(e.id) {
                return Err(Error::InvalidAppend(format!(
                    "event id {} appears twice in one transaction",
                    e.id
                )));
            }
            bytes += encoded_len(
                a.stream.len(),
                e.event_type.len(),
                e.content_type.len(),
                e.data.len(),
                e.metadata.len(),
            );
        }
    }
    if bytes > MAX_APPEND_BYTES {
        return Err(Error::AppendTooLarge {
            size_bytes: bytes,
            limit_bytes: MAX_APPEND_BYTES,
        });
    }
    Ok(bytes)
}
