//! The client's typed error and the one place a gRPC status becomes one.
//!
//! The metadata names it reads come from `strata_proto::wire` (shared with
//! the server, which writes them); they are re-exported here under the
//! names this crate has always exported. Not here: how calls are retried —
//! this module only says whether a status is worth retrying.

use strata_proto::wire::{self, kind, percent_decode};

use crate::types::{CurrentRevision, ExpectedRevision};

pub use strata_proto::wire::{ACTUAL_REVISION_KEY, ERROR_KIND_KEY, STREAM_KEY};

/// A `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a Strata server.
///
/// Server-side failures arrive as gRPC statuses and are mapped to a variant
/// by their code (the server also names the precise kind in the
/// `strata-error` metadata, kept here as `kind` where useful). Statuses this
/// client does not model are kept whole in [`Error::Other`].
///
/// ```no_run
/// # async fn demo(client: strata_client::Client) {
/// use strata_client::{Error, EventData, ExpectedRevision};
///
/// let events = vec![EventData::binary("Tick", b"1".to_vec())];
/// match client.append("clock", ExpectedRevision::Exact(41), events).await {
///     Ok(r) => println!("written at revision {}", r.last_revision),
///     Err(Error::WrongExpectedRevision { actual, .. }) => {
///         println!("someone else wrote first; the stream is at {actual}")
///     }
///     Err(e) => eprintln!("append failed: {e}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The optimistic concurrency check failed (`ABORTED`): the stream was not
    /// in the expected state. Nothing was written.
    #[error("wrong expected revision on stream {stream:?}: expected {expected}, actual {actual}")]
    WrongExpectedRevision {
        /// The stream whose check failed.
        stream: String,
        /// What the request expected.
        expected: ExpectedRevision,
        /// The stream's actual state, as reported by the server.
        actual: CurrentRevision,
    },
    /// Some but not all of the appended event ids were already committed
    /// (`ALREADY_EXISTS`): the request is neither new nor an exact retry.
    /// Nothing was written.
    #[error("partial duplicate: {message}")]
    PartialDuplicate {
        /// The server's explanation.
        message: String,
    },
    /// The stream read does not exist (`NOT_FOUND`), or a delete with an
    /// expectation other than `Any` found no stream. (A missing snapshot is
    /// not an error: [`Client::get_snapshot`](crate::Client::get_snapshot)
    /// returns `Ok(None)`. A deleted stream is [`Error::StreamDeleted`] or
    /// [`Error::StreamTombstoned`].)
    #[error("not found: {message}")]
    NotFound {
        /// The server's explanation.
        message: String,
    },
    /// The stream read was soft-deleted and nothing was appended since
    /// (`NOT_FOUND` / `stream-deleted`). Appending to it recreates it, its
    /// revisions continuing after the last one ever written.
    #[error("stream deleted: {message}")]
    StreamDeleted {
        /// The server's explanation.
        message: String,
    },
    /// The stream was tombstoned: deleted for good. Reading it
    /// (`NOT_FOUND` / `stream-tombstoned`) or writing to it — appending,
    /// setting its metadata, deleting it again (`FAILED_PRECONDITION` /
    /// `stream-tombstoned`) — fails, and always will.
    #[error("stream tombstoned: {message}")]
    StreamTombstoned {
        /// The server's explanation.
        message: String,
    },
    /// No consumer group of that name (`NOT_FOUND` / `group-not-found`):
    /// never created, or deleted — also how a
    /// [`GroupSubscription`](crate::GroupSubscription) ends when its group is
    /// deleted.
    #[error("consumer group not found: {message}")]
    GroupNotFound {
        /// The server's explanation.
        message: String,
    },
    /// A consumer group of that name exists already (`ALREADY_EXISTS` /
    /// `group-exists`).
    #[error("consumer group exists: {message}")]
    GroupExists {
        /// The server's explanation.
        message: String,
    },
    /// The consumer group has its maximum of consumers
    /// ([`GroupSettings::max_subscribers`](crate::GroupSettings::max_subscribers))
    /// (`RESOURCE_EXHAUSTED` / `too-many-consumers`).
    #[error("too many consumers: {message}")]
    TooManyConsumers {
        /// The server's explanation.
        message: String,
    },
    /// The request was malformed (`INVALID_ARGUMENT`), e.g. an empty stream
    /// name or event type, or a position given for a stream read.
    #[error("invalid argument ({kind}): {message}")]
    InvalidArgument {
        /// The `strata-error` kind.
        kind: String,
        /// The server's explanation.
        message: String,
    },
    /// The caller may not do this (`PERMISSION_DENIED`): it lacks a grant
    /// or role (`access-denied`), or the stream name is reserved.
    #[error("permission denied: {message}")]
    PermissionDenied {
        /// The server's explanation.
        message: String,
    },
    /// A user of that name exists (`ALREADY_EXISTS` / `user-exists`).
    #[error("user exists: {message}")]
    UserExists {
        /// The server's explanation.
        message: String,
    },
    /// Missing, wrong or expired credentials (`UNAUTHENTICATED` /
    /// `authentication-failed`).
    #[error("authentication failed: {message}")]
    Unauthenticated {
        /// The server's explanation.
        message: String,
    },
    /// A connection string that does not parse (see
    /// [`ClientBuilder::from_connection_string`](crate::ClientBuilder::from_connection_string)).
    #[error("invalid connection string: {0}")]
    InvalidConnectionString(String),
    /// A TLS file (CA, certificate, key) could not be read.
    #[error("reading {path}: {source}")]
    TlsFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A documented limit was exceeded (`RESOURCE_EXHAUSTED`): event size,
    /// events per append, append size or snapshot size.
    #[error("limit exceeded ({kind}): {message}")]
    ResourceExhausted {
        /// The `strata-error` kind.
        kind: String,
        /// The server's explanation.
        message: String,
    },
    /// The request needs a state the server is not in
    /// (`FAILED_PRECONDITION`), e.g. a snapshot of a revision the stream
    /// does not have yet (`snapshot-ahead-of-stream`).
    #[error("failed precondition ({kind}): {message}")]
    FailedPrecondition {
        /// The `strata-error` kind.
        kind: String,
        /// The server's explanation.
        message: String,
    },
    /// The server cannot serve now (`UNAVAILABLE`): it is closing, its disk
    /// is full or its store is poisoned, or the connection failed. Returned
    /// only once the retry policy is exhausted.
    #[error("unavailable: {message}")]
    Unavailable {
        /// The server's (or transport's) explanation.
        message: String,
    },
    /// The server found corrupt data (`DATA_LOSS`).
    #[error("data loss: {message}")]
    DataLoss {
        /// The server's explanation.
        message: String,
    },
    /// The request did not complete within the configured request timeout.
    #[error("request timed out")]
    Timeout,
    /// The connection could not be set up (bad URL, connection refused
    /// after all retries, ...).
    #[error("transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Serializing an event body to JSON, or deserializing one, failed.
    #[error("json error: {0}")]
    Json(#[from] serde_json::Error),
    /// The server sent something this client cannot interpret (e.g. an event
    /// id that is not a UUID).
    #[error("malformed response: {0}")]
    MalformedResponse(String),
    /// Any other gRPC status.
    #[error("grpc error: {0}")]
    Other(tonic::Status),
}

impl Error {
    /// True for errors worth retrying with the same request: the server was
    /// unavailable or the connection failed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }
}

/// The `strata-error` kind of a status, or `""`.
pub(crate) fn kind_of(status: &tonic::Status) -> String {
    status
        .metadata()
        .get(ERROR_KIND_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Whether a status means "try again": `UNAVAILABLE`, or a transport-level
/// failure (the connection broke: no `strata-error` metadata, so the status
/// did not come from the server's handlers).
pub(crate) fn is_retryable_status(status: &tonic::Status) -> bool {
    use tonic::Code;
    match status.code() {
        Code::Unavailable => true,
        Code::Unknown | Code::Cancelled | Code::Internal => {
            status.metadata().get(ERROR_KIND_KEY).is_none()
        }
        _ => false,
    }
}

/// Whether a failed call certainly did nothing on the server, so that even
/// a write that is not idempotent (a metadata change, a delete) may be sent
/// again: the connection could not be opened, so the request never left
/// (a `tonic::ConnectError` in the status's source chain), or the server
/// refused it before the writer saw it (`UNAVAILABLE` / `overloaded`).
///
/// Every other retryable failure (a connection that broke mid-call, a
/// server closing, a poisoned store) may come after the write was made.
pub(crate) fn is_safe_to_resend(status: &tonic::Status) -> bool {
    if status.code() == tonic::Code::Unavailable && kind_of(status) == kind::OVERLOADED {
        return true;
    }
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Parses `strata-actual-revision` (decimal or `no-stream`).
pub(crate) fn parse_actual_revision(status: &tonic::Status) -> Option<CurrentRevision> {
    let v = status
        .metadata()
        .get(ACTUAL_REVISION_KEY)?
        .to_str()
        .ok()?
        .trim();
    if v == wire::NO_STREAM_VALUE {
        Some(CurrentRevision::NoStream)
    } else {
        v.parse().ok().map(CurrentRevision::Current)
    }
}

/// Maps a status to an [`enum@Error`]. `expected_for` looks up the expected
/// revision the request used for a stream (for `ABORTED`).
pub(crate) fn from_status(
    status: tonic::Status,
    expected_for: &dyn Fn(&str) -> Option<ExpectedRevision>,
) -> Error {
    use tonic::Code;
    let message = status.message().to_owned();
    match status.code() {
        Code::Aborted => {
            let stream = status
                .metadata()
                .get(STREAM_KEY)
                .and_then(|v| v.to_str().ok())
                .and_then(percent_decode);
            match (stream, parse_actual_revision(&status)) {
                (Some(stream), Some(actual)) => match expected_for(&stream) {
                    Some(expected) => Error::WrongExpectedRevision {
                        stream,
                        expected,
                        actual,
                    },
                    None => Error::Other(status),
                },
                _ => Error::Other(status),
            }
        }
        Code::AlreadyExists => match kind_of(&status).as_str() {
            kind::GROUP_EXISTS => Error::GroupExists { message },
            kind::USER_EXISTS => Error::UserExists { message },
            _ => Error::PartialDuplicate { message },
        },
        Code::NotFound => match kind_of(&status).as_str() {
            kind::STREAM_DELETED => Error::StreamDeleted { message },
            kind::STREAM_TOMBSTONED => Error::StreamTombstoned { message },
            kind::GROUP_NOT_FOUND => Error::GroupNotFound { message },
            _ => Error::NotFound { message },
        },
        Code::InvalidArgument => Error::InvalidArgument {
            kind: kind_of(&status),
            message,
        },
        Code::PermissionDenied => Error::PermissionDenied { message },
        Code::Unauthenticated => Error::Unauthenticated { message },
        Code::ResourceExhausted => match kind_of(&status) {
            k if k == kind::TOO_MANY_CONSUMERS => Error::TooManyConsumers { message },
            other => Error::ResourceExhausted {
                kind: other,
                message,
            },
        },
        Code::FailedPrecondition => match kind_of(&status) {
            k if k == kind::STREAM_TOMBSTONED => Error::StreamTombstoned { message },
            other => Error::FailedPrecondition {
                kind: other,
                message,
            },
        },
        Code::DataLoss => Error::DataLoss { message },
        Code::DeadlineExceeded => Error::Timeout,
        _ if is_retryable_status(&status) => Error::Unavailable { message },
        _ => Error::Other(status),
    }
}

/// [`from_status`] for calls without an expected revision.
pub(crate) fn from_plain_status(status: tonic::Status) -> Error {
    from_status(status, &|_| None)
}

#[cfg(test)]
mod percent_tests {
    // The decoder lives in `strata_proto::wire`; this pins what the client
    // relies on when it reads `strata-stream`.
    use super::percent_decode;

    #[test]
    fn decodes_what_the_server_encodes() {
        assert_eq!(percent_decode("order-1").as_deref(), Some("order-1"));
        assert_eq!(percent_decode("a%25b").as_deref(), Some("a%b"));
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(percent_decode("bad%2"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};

    /// A status as the server sends it: a code, a `strata-error` kind, and
    /// any further metadata.
    pub(crate) fn status(code: Code, kind: &str, extra: &[(&'static str, &str)]) -> Status {
        let mut s = Status::new(code, "msg");
        let md = s.metadata_mut();
        md.insert(ERROR_KIND_KEY, kind.parse().unwrap());
        for (k, v) in extra {
            md.insert(*k, v.parse().unwrap());
        }
        s
    }

    #[test]
    fn deleted_and_tombstoned_streams_are_typed() {
        let e = from_plain_status(status(Code::NotFound, kind::STREAM_DELETED, &[]));
        assert!(matches!(e, Error::StreamDeleted { message } if message == "msg"));
        let e = from_plain_status(status(Code::NotFound, kind::STREAM_TOMBSTONED, &[]));
        assert!(matches!(e, Error::StreamTombstoned { .. }));
        let e = from_plain_status(status(
            Code::FailedPrecondition,
            kind::STREAM_TOMBSTONED,
            &[],
        ));
        assert!(matches!(e, Error::StreamTombstoned { .. }));
    }

    #[test]
    fn other_not_found_and_preconditions_are_unchanged() {
        for k in [kind::STREAM_NOT_FOUND, kind::SCAVENGE_NOT_FOUND, ""] {
            let e = from_plain_status(status(Code::NotFound, k, &[]));
            assert!(matches!(e, Error::NotFound { .. }), "{k}: {e:?}");
        }
        assert!(matches!(
            from_plain_status(Status::not_found("no metadata")),
            Error::NotFound { .. }
        ));
        let e = from_plain_status(status(
            Code::FailedPrecondition,
            kind::SNAPSHOT_AHEAD_OF_STREAM,
            &[],
        ));
        assert!(
            matches!(&e, Error::FailedPrecondition { kind, .. } if kind == "snapshot-ahead-of-stream")
        );
        // A stream-deleted kind only means "deleted" on NOT_FOUND.
        let e = from_plain_status(status(Code::FailedPrecondition, kind::STREAM_DELETED, &[]));
        assert!(matches!(e, Error::FailedPrecondition { .. }));
    }

    #[test]
    fn group_errors_are_typed_by_kind() {
        let e = from_plain_status(status(Code::NotFound, kind::GROUP_NOT_FOUND, &[]));
        assert!(matches!(e, Error::GroupNotFound { message } if message == "msg"));
        let e = from_plain_status(status(Code::AlreadyExists, kind::GROUP_EXISTS, &[]));
        assert!(matches!(e, Error::GroupExists { .. }));
        let e = from_plain_status(status(
            Code::ResourceExhausted,
            kind::TOO_MANY_CONSUMERS,
            &[],
        ));
        assert!(matches!(e, Error::TooManyConsumers { .. }));
        // The kinds only count with their codes; the other mappings stay.
        let e = from_plain_status(status(Code::AlreadyExists, kind::PARTIAL_DUPLICATE, &[]));
        assert!(matches!(e, Error::PartialDuplicate { .. }));
        assert!(matches!(
            from_plain_status(Status::already_exists("no metadata")),
            Error::PartialDuplicate { .. }
        ));
        let e = from_plain_status(status(Code::Internal, kind::GROUP_NOT_FOUND, &[]));
        assert!(matches!(e, Error::Other(_)), "{e:?}");
        let e = from_plain_status(status(
            Code::ResourceExhausted,
            kind::TOO_MANY_SUBSCRIPTIONS,
            &[],
        ));
        assert!(
            matches!(&e, Error::ResourceExhausted { kind, .. } if kind == "too-many-subscriptions")
        );
        // A group's consumer is dropped with this when the server stops: retried.
        let s = status(Code::Unavailable, kind::SHUTTING_DOWN, &[]);
        assert!(is_retryable_status(&s));
        assert!(matches!(from_plain_status(s), Error::Unavailable { .. }));
    }

    #[test]
    fn metadata_limits_keep_their_kind() {
        let e = from_plain_status(status(Code::InvalidArgument, kind::INVALID_METADATA, &[]));
        assert!(matches!(&e, Error::InvalidArgument { kind, .. } if kind == "invalid-metadata"));
        let e = from_plain_status(status(
            Code::ResourceExhausted,
            kind::METADATA_TOO_LARGE,
            &[],
        ));
        assert!(
            matches!(&e, Error::ResourceExhausted { kind, .. } if kind == "metadata-too-large")
        );
    }

    #[test]
    fn only_unsent_requests_are_safe_to_resend() {
        let refused = tonic::ConnectError(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let s = Status::from_error(Box::new(refused));
        assert_eq!(s.code(), Code::Unavailable);
        assert!(is_safe_to_resend(&s));
        assert!(is_safe_to_resend(&status(
            Code::Unavailable,
            kind::OVERLOADED,
            &[]
        )));

        for k in [
            kind::POISONED,
            kind::CLOSED,
            kind::SHUTTING_DOWN,
            kind::DISK_FULL,
        ] {
            let s = status(Code::Unavailable, k, &[]);
            assert!(is_retryable_status(&s) && !is_safe_to_resend(&s), "{k}");
        }
        // A connection that broke after the request went out.
        let broken = Status::unavailable("connection reset");
        assert!(is_retryable_status(&broken) && !is_safe_to_resend(&broken));
        let broken = Status::unknown("transport error");
        assert!(is_retryable_status(&broken) && !is_safe_to_resend(&broken));
        assert!(!is_safe_to_resend(&status(
            Code::Aborted,
            kind::WRONG_EXPECTED_REVISION,
            &[]
        )));
    }

    /// What tonic really reports when nothing listens: the request never
    /// left, and the status says so.
    #[tokio::test]
    async fn a_refused_connection_is_safe_to_resend() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_lazy();
        let mut c = strata_proto::v1::streams_client::StreamsClient::new(channel);
        let s = c
            .delete_stream(strata_proto::v1::DeleteStreamRequest::default())
            .await
            .unwrap_err();
        assert_eq!(s.code(), Code::Unavailable, "{s:?}");
        assert!(is_safe_to_resend(&s), "{s:?}");
    }

    #[test]
    fn wrong_expected_revision_needs_a_known_stream() {
        let s = || {
            status(
                Code::Aborted,
                kind::WRONG_EXPECTED_REVISION,
                &[(STREAM_KEY, "order-1"), (ACTUAL_REVISION_KEY, "4")],
            )
        };
        let e = from_status(s(), &|n| {
            (n == "order-1").then_some(ExpectedRevision::Exact(3))
        });
        assert!(matches!(
            e,
            Error::WrongExpectedRevision { stream, expected: ExpectedRevision::Exact(3), actual: CurrentRevision::Current(4) }
                if stream == "order-1"
        ));
        assert!(matches!(from_plain_status(s()), Error::Other(_)));
    }
}
