//! The client's typed error and the one place a gRPC status becomes one.
//!
//! The metadata names it reads come from `strata_proto::wire` (shared with
//! the server, which writes them); they are re-exported here under the
//! names this crate has always exported. Not here: how calls are retried —
//! this module only says whether a status is worth retrying.

use strata_proto::wire::{self, percent_decode};

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
    /// The stream read does not exist (`NOT_FOUND`). (A missing snapshot is
    /// not an error: [`Client::get_snapshot`](crate::Client::get_snapshot)
    /// returns `Ok(None)`.)
    #[error("not found: {message}")]
    NotFound {
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
    /// The stream name is reserved (starts with `$`) (`PERMISSION_DENIED`).
    #[error("permission denied: {message}")]
    PermissionDenied {
        /// The server's explanation.
        message: String,
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
        Code::AlreadyExists => Error::PartialDuplicate { message },
        Code::NotFound => Error::NotFound { message },
        Code::InvalidArgument => Error::InvalidArgument {
            kind: kind_of(&status),
            message,
        },
        Code::PermissionDenied => Error::PermissionDenied { message },
        Code::ResourceExhausted => Error::ResourceExhausted {
            kind: kind_of(&status),
            message,
        },
        Code::FailedPrecondition => Error::FailedPrecondition {
            kind: kind_of(&status),
            message,
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
