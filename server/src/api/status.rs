//! The one place where failures become gRPC statuses.
//!
//! Owns the mapping from [`domain::Error`] — the server's own failures and
//! [`strata_storage::Error`] — to a [`tonic::Status`] code, and the
//! metadata every error status carries:
//!
//! - `strata-error`: a kebab-case, machine-readable kind (always present);
//! - `strata-actual-revision` (`<decimal>` or `no-stream`) and
//!   `strata-stream` on `wrong-expected-revision` and
//!   `snapshot-ahead-of-stream`.
//!
//! Metadata values must be visible ASCII, so `strata-stream` is
//! percent-encoded: `%`, and every byte outside `0x20..=0x7E`, become `%XX`.
//! A plain ASCII name without `%` is sent unchanged.
//!
//! It is not where errors are detected: `domain` and the adapters'
//! conversions decide that something is wrong; this module only decides how
//! it looks on the wire. Every gRPC adapter uses it. Nothing here panics,
//! whatever the input.

use crate::domain;
use strata_storage::{CurrentRevision, Error};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// Metadata key of the error kind attached to every error status.
pub const ERROR_KIND_KEY: &str = "strata-error";
/// Metadata key of the actual stream revision on `wrong-expected-revision`
/// and `snapshot-ahead-of-stream`.
pub const ACTUAL_REVISION_KEY: &str = "strata-actual-revision";
/// Metadata key of the (percent-encoded) stream name on
/// `wrong-expected-revision` and `snapshot-ahead-of-stream`.
pub const STREAM_KEY: &str = "strata-stream";

/// Kind for requests that are malformed in ways storage never sees (wrong
/// `from` for the target, unknown enum value, filter on a stream read, ...).
pub const KIND_INVALID_REQUEST: &str = "invalid-request";
/// Kind for event ids that are not UUIDs (same kind storage uses for other
/// bad event fields).
pub const KIND_INVALID_EVENT: &str = "invalid-event";

/// A status with `code`, `message` and the `strata-error` kind.
pub fn with_kind(code: Code, kind: &'static str, message: impl Into<String>) -> Status {
    let mut md = MetadataMap::new();
    md.insert(ERROR_KIND_KEY, MetadataValue::from_static(kind));
    Status::with_metadata(code, message, md)
}

/// `INVALID_ARGUMENT` / `invalid-request`: the request is malformed.
pub fn invalid_request(message: impl Into<String>) -> Status {
    with_kind(Code::InvalidArgument, KIND_INVALID_REQUEST, message)
}

/// `INVALID_ARGUMENT` / `invalid-event`: an event field the server itself
/// parses (the id) is malformed.
pub fn invalid_event(message: impl Into<String>) -> Status {
    with_kind(Code::InvalidArgument, KIND_INVALID_EVENT, message)
}

/// Maps a domain error to its status, with metadata.
pub fn from_domain(e: domain::Error) -> Status {
    match e {
        domain::Error::Storage(e) => from_storage(&e),
        domain::Error::InvalidRequest(m) => invalid_request(m),
        e @ domain::Error::SnapshotNotFound { .. } => {
            with_kind(Code::NotFound, "snapshot-not-found", e.to_string())
        }
        e @ domain::Error::TooManySubscriptions { .. } => with_kind(
            Code::ResourceExhausted,
            "too-many-subscriptions",
            e.to_string(),
        ),
        e @ domain::Error::ShuttingDown => {
            with_kind(Code::Unavailable, "shutting-down", e.to_string())
        }
        domain::Error::Internal(m) => with_kind(Code::Internal, "internal", m),
    }
}

/// The gRPC code and `strata-error` kind of a storage error.
pub fn code_and_kind(e: &Error) -> (Code, &'static str) {
    match e {
        Error::WrongExpectedRevision { .. } => (Code::Aborted, "wrong-expected-revision"),
        Error::PartialDuplicate { .. } => (Code::AlreadyExists, "partial-duplicate"),
        Error::InvalidStreamName { .. } => (Code::InvalidArgument, "invalid-stream-name"),
        Error::InvalidEvent(_) => (Code::InvalidArgument, "invalid-event"),
        Error::InvalidAppend(_) => (Code::InvalidArgument, "invalid-append"),
        Error::ReservedStreamName(_) => (Code::PermissionDenied, "reserved-stream-name"),
        Error::EventTooLarge { .. } => (Code::ResourceExhausted, "event-too-large"),
        Error::TooManyEvents { .. } => (Code::ResourceExhausted, "too-many-events"),
        Error::AppendTooLarge { .. } => (Code::ResourceExhausted, "append-too-large"),
        Error::SnapshotAheadOfStream { .. } => {
            (Code::FailedPrecondition, "snapshot-ahead-of-stream")
        }
        Error::SnapshotTooLarge { .. } => (Code::ResourceExhausted, "snapshot-too-large"),
        Error::StreamNotFound(_) => (Code::NotFound, "stream-not-found"),
        Error::PositionBeyondHead { .. } => (Code::OutOfRange, "position-beyond-head"),
        Error::Poisoned(_) => (Code::Unavailable, "poisoned"),
        Error::DiskFull(_) => (Code::Unavailable, "disk-full"),
        Error::Closed => (Code::Unavailable, "closed"),
        Error::Corrupt { .. } => (Code::DataLoss, "corrupt"),
        Error::Locked(_) => (Code::Internal, "locked"),
        Error::Config(_) => (Code::Internal, "config"),
        Error::Index(_) => (Code::Internal, "index"),
        Error::Io(_) => (Code::Internal, "io"),
        _ => (Code::Internal, "internal"),
    }
}

/// Maps a storage error to its status, with metadata.
pub fn from_storage(e: &Error) -> Status {
    let (code, kind) = code_and_kind(e);
    let message = match e {
        Error::Poisoned(_) => format!("{e}; the server refuses writes until it is restarted"),
        Error::DiskFull(_) => format!("{e}; nothing was written, free disk space and retry"),
        Error::Closed => "the store is closed (the server is shutting down); retry on another instance or after restart"
            .to_owned(),
        _ => e.to_string(),
    };
    let mut status = with_kind(code, kind, message);
    if let Error::WrongExpectedRevision { stream, actual, .. }
    | Error::SnapshotAheadOfStream { stream, actual, .. } = e
    {
        let md = status.metadata_mut();
        let actual = match actual {
            CurrentRevision::NoStream => "no-stream".to_owned(),
            CurrentRevision::Current(r) => r.to_string(),
        };
        if let Ok(v) = MetadataValue::try_from(actual) {
            md.insert(ACTUAL_REVISION_KEY, v);
        }
        if let Ok(v) = MetadataValue::try_from(percent_encode(stream)) {
            md.insert(STREAM_KEY, v);
        }
    }
    status
}

/// Percent-encodes `%` and every byte outside visible ASCII + space.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_storage::ExpectedRevision;

    fn kind(s: &Status) -> &str {
        s.metadata()
            .get(ERROR_KIND_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn wrong_expected_revision_carries_actual_and_stream() {
        let e = Error::WrongExpectedRevision {
            stream: "order-ü%1".into(),
            expected: ExpectedRevision::Exact(3),
            actual: CurrentRevision::Current(7),
        };
        let s = from_storage(&e);
        assert_eq!(s.code(), Code::Aborted);
        assert_eq!(kind(&s), "wrong-expected-revision");
        assert!(s.message().contains('7'));
        assert_eq!(
            s.metadata()
                .get(ACTUAL_REVISION_KEY)
                .unwrap()
                .to_str()
                .unwrap(),
            "7"
        );
        assert_eq!(
            s.metadata().get(STREAM_KEY).unwrap().to_str().unwrap(),
            "order-%C3%BC%251"
        );

        let e = Error::WrongExpectedRevision {
            stream: "a".into(),
            expected: ExpectedRevision::StreamExists,
            actual: CurrentRevision::NoStream,
        };
        let s = from_storage(&e);
        assert_eq!(
            s.metadata()
                .get(ACTUAL_REVISION_KEY)
                .unwrap()
                .to_str()
                .unwrap(),
            "no-stream"
        );
    }

    #[test]
    fn snapshot_errors() {
        let s = from_storage(&Error::SnapshotAheadOfStream {
            stream: "order-1".into(),
            revision: 9,
            actual: CurrentRevision::Current(4),
        });
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(kind(&s), "snapshot-ahead-of-stream");
        assert_eq!(
            s.metadata()
                .get(ACTUAL_REVISION_KEY)
                .unwrap()
                .to_str()
                .unwrap(),
            "4"
        );
        assert_eq!(
            s.metadata().get(STREAM_KEY).unwrap().to_str().unwrap(),
            "order-1"
        );
        let s = from_storage(&Error::SnapshotTooLarge {
            size_bytes: 20,
            limit_bytes: 10,
        });
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(kind(&s), "snapshot-too-large");
        let s = from_domain(domain::Error::SnapshotNotFound {
            stream: "a".into(),
            at_or_before: Some(3),
        });
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(kind(&s), "snapshot-not-found");
    }

    #[test]
    fn codes() {
        let cases = [
            (
                Error::ReservedStreamName("$x".into()),
                Code::PermissionDenied,
                "reserved-stream-name",
            ),
            (
                Error::StreamNotFound("x".into()),
                Code::NotFound,
                "stream-not-found",
            ),
            (
                Error::TooManyEvents { count: 2, limit: 1 },
                Code::ResourceExhausted,
                "too-many-events",
            ),
            (Error::Closed, Code::Unavailable, "closed"),
            (
                Error::Corrupt {
                    file: "f".into(),
                    offset: 1,
                    reason: "crc".into(),
                },
                Code::DataLoss,
                "corrupt",
            ),
            (Error::Io(std::io::Error::other("x")), Code::Internal, "io"),
        ];
        for (e, code, k) in cases {
            let s = from_storage(&e);
            assert_eq!(s.code(), code, "{e}");
            assert_eq!(kind(&s), k);
        }
    }
}
