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
//! percent-encoded ([`wire::percent_encode`]). The keys, the kinds and the
//! encoding are `strata_proto::wire`'s, shared with every client.
//!
//! The code and kind of each error are an exhaustive `match` with no
//! catch-all arm: a new [`strata_storage::Error`] or [`domain::Error`]
//! variant does not compile until someone decides how it looks here. The
//! message is the error's own text, with advice added for the causes where
//! the client should act differently.
//!
//! It is not where errors are detected: `domain` and the adapters'
//! conversions decide that something is wrong; this module only decides how
//! it looks on the wire. Every gRPC adapter uses it. Nothing here panics,
//! whatever the input.

use crate::domain;
use strata_proto::wire::{self, kind, ACTUAL_REVISION_KEY, ERROR_KIND_KEY, STREAM_KEY};
use strata_storage::{CurrentRevision, Error};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// A status with `code`, `message` and the `strata-error` kind.
pub fn with_kind(code: Code, kind: &'static str, message: impl Into<String>) -> Status {
    let mut md = MetadataMap::new();
    md.insert(ERROR_KIND_KEY, MetadataValue::from_static(kind));
    Status::with_metadata(code, message, md)
}

/// `INVALID_ARGUMENT` / `invalid-request`: the request is malformed.
pub fn invalid_request(message: impl Into<String>) -> Status {
    with_kind(Code::InvalidArgument, kind::INVALID_REQUEST, message)
}

/// `INVALID_ARGUMENT` / `invalid-event`: an event field the server itself
/// parses (the id) is malformed.
pub fn invalid_event(message: impl Into<String>) -> Status {
    with_kind(Code::InvalidArgument, kind::INVALID_EVENT, message)
}

/// Maps a domain error to its status, with metadata.
pub fn from_domain(e: domain::Error) -> Status {
    match e {
        domain::Error::Storage(e) => from_storage(&e),
        domain::Error::InvalidRequest(m) => invalid_request(m),
        e @ domain::Error::SnapshotNotFound { .. } => {
            with_kind(Code::NotFound, kind::SNAPSHOT_NOT_FOUND, e.to_string())
        }
        e @ domain::Error::TooManySubscriptions { .. } => with_kind(
            Code::ResourceExhausted,
            kind::TOO_MANY_SUBSCRIPTIONS,
            e.to_string(),
        ),
        e @ domain::Error::GroupNotFound(_) => {
            with_kind(Code::NotFound, kind::GROUP_NOT_FOUND, e.to_string())
        }
        e @ domain::Error::GroupExists(_) => {
            with_kind(Code::AlreadyExists, kind::GROUP_EXISTS, e.to_string())
        }
        e @ domain::Error::TooManyConsumers { .. } => with_kind(
            Code::ResourceExhausted,
            kind::TOO_MANY_CONSUMERS,
            e.to_string(),
        ),
        e @ domain::Error::ScavengeNotFound => {
            with_kind(Code::NotFound, kind::SCAVENGE_NOT_FOUND, e.to_string())
        }
        e @ domain::Error::TooManyBackups { .. } => with_kind(
            Code::ResourceExhausted,
            kind::TOO_MANY_BACKUPS,
            e.to_string(),
        ),
        e @ domain::Error::AuthenticationFailed => with_kind(
            Code::Unauthenticated,
            kind::AUTHENTICATION_FAILED,
            e.to_string(),
        ),
        e @ domain::Error::AccessDenied(_) => {
            with_kind(Code::PermissionDenied, kind::ACCESS_DENIED, e.to_string())
        }
        e @ domain::Error::UserExists(_) => {
            with_kind(Code::AlreadyExists, kind::USER_EXISTS, e.to_string())
        }
        e @ domain::Error::UserNotFound(_) => {
            with_kind(Code::NotFound, kind::USER_NOT_FOUND, e.to_string())
        }
        e @ domain::Error::TokenNotFound(_) => {
            with_kind(Code::NotFound, kind::TOKEN_NOT_FOUND, e.to_string())
        }
        e @ domain::Error::GrantNotFound(_) => {
            with_kind(Code::NotFound, kind::GRANT_NOT_FOUND, e.to_string())
        }
        e @ domain::Error::ShuttingDown => {
            with_kind(Code::Unavailable, kind::SHUTTING_DOWN, e.to_string())
        }
        domain::Error::Internal(m) => with_kind(Code::Internal, kind::INTERNAL, m),
    }
}

/// The gRPC code and `strata-error` kind of a storage error.
pub fn code_and_kind(e: &Error) -> (Code, &'static str) {
    match e {
        Error::WrongExpectedRevision { .. } => (Code::Aborted, kind::WRONG_EXPECTED_REVISION),
        Error::PartialDuplicate { .. } => (Code::AlreadyExists, kind::PARTIAL_DUPLICATE),
        Error::InvalidStreamName { .. } => (Code::InvalidArgument, kind::INVALID_STREAM_NAME),
        Error::InvalidEvent(_) => (Code::InvalidArgument, kind::INVALID_EVENT),
        Error::InvalidAppend(_) => (Code::InvalidArgument, kind::INVALID_APPEND),
        Error::ReservedStreamName(_) => (Code::PermissionDenied, kind::RESERVED_STREAM_NAME),
        Error::EventTooLarge { .. } => (Code::ResourceExhausted, kind::EVENT_TOO_LARGE),
        Error::TooManyEvents { .. } => (Code::ResourceExhausted, kind::TOO_MANY_EVENTS),
        Error::AppendTooLarge { .. } => (Code::ResourceExhausted, kind::APPEND_TOO_LARGE),
        Error::SnapshotAheadOfStream { .. } => {
            (Code::FailedPrecondition, kind::SNAPSHOT_AHEAD_OF_STREAM)
        }
        Error::SnapshotTooLarge { .. } => (Code::ResourceExhausted, kind::SNAPSHOT_TOO_LARGE),
        Error::StreamNotFound(_) => (Code::NotFound, kind::STREAM_NOT_FOUND),
        Error::StreamDeleted(_) => (Code::NotFound, kind::STREAM_DELETED),
        Error::StreamTombstoned { write: true, .. } => {
            (Code::FailedPrecondition, kind::STREAM_TOMBSTONED)
        }
        Error::StreamTombstoned { write: false, .. } => (Code::NotFound, kind::STREAM_TOMBSTONED),
        Error::InvalidMetadata(_) => (Code::InvalidArgument, kind::INVALID_METADATA),
        Error::MetadataTooLarge { .. } => (Code::ResourceExhausted, kind::METADATA_TOO_LARGE),
        Error::PositionBeyondHead { .. } => (Code::OutOfRange, kind::POSITION_BEYOND_HEAD),
        Error::Poisoned(_) => (Code::Unavailable, kind::POISONED),
        Error::DiskFull(_) => (Code::Unavailable, kind::DISK_FULL),
        // Retryable: the Rust client retries UNAVAILABLE with backoff.
        Error::Overloaded(_) => (Code::Unavailable, kind::OVERLOADED),
        Error::Closed => (Code::Unavailable, kind::CLOSED),
        Error::Corrupt { .. } => (Code::DataLoss, kind::CORRUPT),
        Error::Locked(_) => (Code::Internal, kind::LOCKED),
        Error::Config(_) => (Code::Internal, kind::CONFIG),
        Error::Index(_) => (Code::Internal, kind::INDEX),
        Error::Io(_) => (Code::Internal, kind::IO),
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
            CurrentRevision::NoStream => wire::NO_STREAM_VALUE.to_owned(),
            CurrentRevision::Current(r) => r.to_string(),
        };
        if let Ok(v) = MetadataValue::try_from(actual) {
            md.insert(ACTUAL_REVISION_KEY, v);
        }
        if let Ok(v) = MetadataValue::try_from(wire::percent_encode(stream)) {
            md.insert(STREAM_KEY, v);
        }
    }
    status
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

    #[test]
    fn overloaded_is_retryable_unavailable() {
        let s = from_storage(&Error::Overloaded(16_384));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(kind(&s), wire::kind::OVERLOADED);
        assert!(s.message().contains("retry"), "{}", s.message());
    }

    #[test]
    fn domain_errors() {
        let cases = [
            (
                domain::Error::InvalidRequest("x".into()),
                Code::InvalidArgument,
                wire::kind::INVALID_REQUEST,
            ),
            (
                domain::Error::TooManySubscriptions { limit: 2 },
                Code::ResourceExhausted,
                wire::kind::TOO_MANY_SUBSCRIPTIONS,
            ),
            (
                domain::Error::TooManyBackups { limit: 2 },
                Code::ResourceExhausted,
                wire::kind::TOO_MANY_BACKUPS,
            ),
            (
                domain::Error::ShuttingDown,
                Code::Unavailable,
                wire::kind::SHUTTING_DOWN,
            ),
            (
                domain::Error::Internal("bug".into()),
                Code::Internal,
                wire::kind::INTERNAL,
            ),
            (
                domain::Error::Storage(Error::DiskFull("x".into())),
                Code::Unavailable,
                wire::kind::DISK_FULL,
            ),
        ];
        for (e, code, k) in cases {
            let s = from_domain(e);
            assert_eq!(s.code(), code);
            assert_eq!(kind(&s), k);
        }
    }
}
