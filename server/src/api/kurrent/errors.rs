//! Domain failures in the shapes KurrentDB clients turn into exceptions:
//! a `tonic::Status` with KurrentDB's code, message and `exception`
//! trailer (plus `stream-name`, `expected-version`, … where KurrentDB sends
//! them), and the `google.rpc.Status` a `BatchAppend` answer carries.
//!
//! The clients read different parts: the Node and .NET clients switch on
//! the `exception` key; the Python client matches the message text
//! ("WrongExpectedVersion", "Actual version: -1", "is deleted"), so the
//! messages follow KurrentDB's wording exactly. Both matches below are
//! exhaustive with no catch-all arm, as `api::status`'s are: a new error
//! variant does not compile until its KurrentDB shape is decided.
//!
//! Not here: deciding that something failed (domain, convert), nor the
//! `strata-error` kinds of the strata.v1 wire (`api::status`, whose
//! metadata every status here also carries, for logs and Strata tools).

use crate::api::status as strata_status;
use crate::domain::Error;
use strata_proto::kurrent::event_store::client as shared;
use strata_proto::kurrent::google::rpc;
use strata_storage::{limits, CurrentRevision, Error as StorageError, ExpectedRevision};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// The trailer naming the exception a KurrentDB client raises.
pub const EXCEPTION_KEY: &str = "exception";
const STREAM_NAME_KEY: &str = "stream-name";
const EXPECTED_VERSION_KEY: &str = "expected-version";
const ACTUAL_VERSION_KEY: &str = "actual-version";
const GROUP_NAME_KEY: &str = "group-name";
const LOGIN_NAME_KEY: &str = "login-name";
const SCAVENGE_ID_KEY: &str = "scavenge-id";
const MAX_APPEND_SIZE_KEY: &str = "maximum-append-size";
const MAX_EVENT_SIZE_KEY: &str = "maximum-append-event-size";
const EVENT_ID_KEY: &str = "event-id";
const PROPOSED_EVENT_SIZE_KEY: &str = "proposed-append-event-size";
const REQUIRED_PROPERTIES_KEY: &str = "required-metadata-properties";

/// The `exception` values Strata sends (KurrentDB's names).
pub mod exception {
    pub const ACCESS_DENIED: &str = "access-denied";
    pub const INVALID_TRANSACTION: &str = "invalid-transaction";
    pub const STREAM_DELETED: &str = "stream-deleted";
    pub const WRONG_EXPECTED_VERSION: &str = "wrong-expected-version";
    pub const STREAM_NOT_FOUND: &str = "stream-not-found";
    pub const MAXIMUM_APPEND_SIZE_EXCEEDED: &str = "maximum-append-size-exceeded";
    pub const MAXIMUM_APPEND_EVENT_SIZE_EXCEEDED: &str = "maximum-append-event-size-exceeded";
    pub const MISSING_REQUIRED_METADATA_PROPERTY: &str = "missing-required-metadata-property";
    pub const PERSISTENT_SUBSCRIPTION_DOES_NOT_EXIST: &str =
        "persistent-subscription-does-not-exist";
    pub const PERSISTENT_SUBSCRIPTION_EXISTS: &str = "persistent-subscription-exists";
    pub const MAXIMUM_SUBSCRIBERS_REACHED: &str = "maximum-subscribers-reached";
    pub const USER_NOT_FOUND: &str = "user-not-found";
    pub const USER_CONFLICT: &str = "user-conflict";
    pub const SCAVENGE_NOT_FOUND: &str = "scavenge-not-found";
}

/// Which request failed, for KurrentDB's wrong-expected-version message
/// ("Append failed due to WrongExpectedVersion. …").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Append,
    Delete,
    Tombstone,
    /// Anything else (persistent subscriptions, …).
    Other,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "Read",
            Op::Append => "Append",
            Op::Delete | Op::Tombstone => "Delete",
            Op::Other => "Operation",
        }
    }
}

/// KurrentDB's signed form of an expected revision: -2 any, -1 no stream,
/// -4 stream exists, else the revision.
pub fn expected_version(e: ExpectedRevision) -> i128 {
    match e {
        ExpectedRevision::Any => -2,
        ExpectedRevision::NoStream => -1,
        ExpectedRevision::StreamExists => -4,
        ExpectedRevision::Exact(r) => i128::from(r),
    }
}

/// KurrentDB's signed form of a stream's state: -1 no stream, else its
/// last revision.
pub fn actual_version(a: CurrentRevision) -> i128 {
    match a {
        CurrentRevision::NoStream => -1,
        CurrentRevision::Current(r) => i128::from(r),
    }
}

/// Adds `key: value` when `value` is valid metadata (visible ASCII; a
/// stream name that is not is left out rather than failing the answer).
fn put(s: &mut Status, key: &'static str, value: impl Into<String>) {
    if let Ok(v) = MetadataValue::try_from(value.into()) {
        s.metadata_mut().insert(key, v);
    }
}

/// The Strata status of `e` re-dressed: KurrentDB's `code` and `message`,
/// `exception` (when KurrentDB sends one), the `strata-error` kind kept.
fn dress(strata: &Status, code: Code, message: String, exc: Option<&'static str>) -> Status {
    let mut s = Status::with_metadata(code, message, strata.metadata().clone());
    if let Some(x) = exc {
        put(&mut s, EXCEPTION_KEY, x);
    }
    s
}

/// `FAILED_PRECONDITION` / `wrong-expected-version`, as KurrentDB words it.
pub fn wrong_expected_version(
    op: Op,
    stream: &str,
    expected: ExpectedRevision,
    actual: CurrentRevision,
) -> Status {
    let (e, a) = (expected_version(expected), actual_version(actual));
    let mut s = Status::new(
        Code::FailedPrecondition,
        format!(
            "{} failed due to WrongExpectedVersion. Stream: {stream}, Expected version: {e}, Actual version: {a}",
            op.name()
        ),
    );
    put(&mut s, EXCEPTION_KEY, exception::WRONG_EXPECTED_VERSION);
    put(&mut s, STREAM_NAME_KEY, stream);
    put(&mut s, EXPECTED_VERSION_KEY, e.to_string());
    put(&mut s, ACTUAL_VERSION_KEY, a.to_string());
    s
}

/// `FAILED_PRECONDITION` / `stream-deleted`: the stream is tombstoned.
pub fn stream_deleted(stream: &str) -> Status {
    let mut s = Status::new(
        Code::FailedPrecondition,
        format!("Event stream '{stream}' is deleted."),
    );
    put(&mut s, EXCEPTION_KEY, exception::STREAM_DELETED);
    put(&mut s, STREAM_NAME_KEY, stream);
    s
}

/// `INVALID_ARGUMENT` without an exception key: a malformed request.
pub fn bad_request(message: impl Into<String>) -> Status {
    strata_status::invalid_request(message)
}

/// `INVALID_ARGUMENT` / `missing-required-metadata-property`: a proposed
/// event without `type` or `content-type`.
pub fn missing_metadata_property(name: &str) -> Status {
    let mut s = Status::new(
        Code::InvalidArgument,
        format!("Required Metadata Property '{name}' is missing"),
    );
    put(
        &mut s,
        EXCEPTION_KEY,
        exception::MISSING_REQUIRED_METADATA_PROPERTY,
    );
    put(&mut s, REQUIRED_PROPERTIES_KEY, "type,content-type");
    s
}

/// `e` as KurrentDB would answer it for `op`.
pub fn status(e: Error, op: Op) -> Status {
    match e {
        Error::Storage(se) => storage_status(&se, op),
        Error::InvalidRequest(m) => bad_request(m),
        e @ Error::SnapshotNotFound { .. } => Status::not_found(e.to_string()),
        e @ (Error::TooManySubscriptions { .. } | Error::TooManyBackups { .. }) => {
            let base = strata_status::from_domain(e);
            dress(
                &base,
                Code::ResourceExhausted,
                base.message().to_owned(),
                None,
            )
        }
        Error::GroupNotFound(g) => {
            let mut s = Status::new(
                Code::NotFound,
                format!("Subscription group {g} does not exist."),
            );
            put(
                &mut s,
                EXCEPTION_KEY,
                exception::PERSISTENT_SUBSCRIPTION_DOES_NOT_EXIST,
            );
            put(&mut s, GROUP_NAME_KEY, g);
            s
        }
        Error::GroupExists(g) => {
            let mut s = Status::new(
                Code::AlreadyExists,
                format!("Subscription group {g} exists."),
            );
            put(
                &mut s,
                EXCEPTION_KEY,
                exception::PERSISTENT_SUBSCRIPTION_EXISTS,
            );
            put(&mut s, GROUP_NAME_KEY, g);
            s
        }
        Error::TooManyConsumers { group, .. } => {
            // The Python client matches this prefix.
            let mut s = Status::new(
                Code::FailedPrecondition,
                format!("Maximum subscriptions reached for subscription group {group}."),
            );
            put(
                &mut s,
                EXCEPTION_KEY,
                exception::MAXIMUM_SUBSCRIBERS_REACHED,
            );
            put(&mut s, GROUP_NAME_KEY, group);
            s
        }
        Error::ScavengeNotFound => {
            let mut s = Status::new(Code::NotFound, "Scavenge id was invalid.");
            put(&mut s, EXCEPTION_KEY, exception::SCAVENGE_NOT_FOUND);
            put(&mut s, SCAVENGE_ID_KEY, "");
            s
        }
        e @ Error::AuthenticationFailed => strata_status::from_domain(e),
        e @ Error::AccessDenied(_) => {
            let base = strata_status::from_domain(e);
            dress(
                &base,
                Code::PermissionDenied,
                base.message().to_owned(),
                Some(exception::ACCESS_DENIED),
            )
        }
        Error::UserExists(u) => {
            let mut s = Status::new(Code::FailedPrecondition, "Conflict.");
            put(&mut s, EXCEPTION_KEY, exception::USER_CONFLICT);
            put(&mut s, LOGIN_NAME_KEY, u);
            s
        }
        Error::UserNotFound(u) => {
            let mut s = Status::new(Code::NotFound, format!("User '{u}' is not found."));
            put(&mut s, EXCEPTION_KEY, exception::USER_NOT_FOUND);
            put(&mut s, LOGIN_NAME_KEY, u);
            s
        }
        e @ (Error::TokenNotFound(_) | Error::GrantNotFound(_)) => strata_status::from_domain(e),
        e @ Error::ShuttingDown => strata_status::from_domain(e),
        e @ Error::Internal(_) => strata_status::from_domain(e),
    }
}

/// A storage error as KurrentDB would answer it for `op`.
fn storage_status(e: &StorageError, op: Op) -> Status {
    let base = strata_status::from_storage(e);
    let same = |code: Code| dress(&base, code, base.message().to_owned(), None);
    match e {
        StorageError::WrongExpectedRevision {
            stream,
            expected,
            actual,
        } => wrong_expected_version(op, stream, *expected, *actual),
        StorageError::PartialDuplicate { .. } => {
            // KurrentDB's answer to a retry that does not match the original.
            dress(
                &base,
                Code::InvalidArgument,
                format!("Invalid Transaction: {e}"),
                Some(exception::INVALID_TRANSACTION),
            )
        }
        StorageError::InvalidStreamName { .. }
        | StorageError::ReservedStreamName(_)
        | StorageError::InvalidEvent(_)
        | StorageError::InvalidAppend(_)
        | StorageError::InvalidMetadata(_)
        | StorageError::MetadataTooLarge { .. } => same(Code::InvalidArgument),
        StorageError::EventTooLarge {
            id,
            size_bytes,
            limit_bytes,
        } => {
            let mut s = dress(
                &base,
                Code::InvalidArgument,
                format!(
                    "Event with Id: {id}, Size: {size_bytes}, exceeds Maximum Append Event Size of {limit_bytes}."
                ),
                Some(exception::MAXIMUM_APPEND_EVENT_SIZE_EXCEEDED),
            );
            put(&mut s, MAX_EVENT_SIZE_KEY, limit_bytes.to_string());
            put(&mut s, EVENT_ID_KEY, id.to_string());
            put(&mut s, PROPOSED_EVENT_SIZE_KEY, size_bytes.to_string());
            s
        }
        StorageError::TooManyEvents { .. } | StorageError::AppendTooLarge { .. } => {
            append_too_large(&base)
        }
        StorageError::SnapshotAheadOfStream { .. } => same(Code::FailedPrecondition),
        StorageError::SnapshotTooLarge { .. } => same(Code::InvalidArgument),
        StorageError::StreamNotFound(stream) | StorageError::StreamDeleted(stream) => {
            // A soft-deleted stream reads as absent in KurrentDB too.
            if op == Op::Delete || op == Op::Tombstone {
                // KurrentDB refuses deleting an absent stream as a wrong
                // expected version with actual -1 (clients: not found).
                return wrong_expected_version(
                    op,
                    stream,
                    ExpectedRevision::Any,
                    CurrentRevision::NoStream,
                );
            }
            let mut s = dress(
                &base,
                Code::NotFound,
                format!("Event stream '{stream}' is not found."),
                Some(exception::STREAM_NOT_FOUND),
            );
            put(&mut s, STREAM_NAME_KEY, stream.as_str());
            s
        }
        StorageError::StreamTombstoned { stream, .. } => {
            let mut s = stream_deleted(stream);
            for kv in base.metadata().iter() {
                if let tonic::metadata::KeyAndValueRef::Ascii(k, v) = kv {
                    s.metadata_mut().insert(k.clone(), v.clone());
                }
            }
            s
        }
        StorageError::PositionBeyondHead { .. } => dress(
            &base,
            Code::InvalidArgument,
            format!("Trying to read from an invalid position. ({e})"),
            None,
        ),
        StorageError::Poisoned(_)
        | StorageError::DiskFull(_)
        | StorageError::Overloaded(_)
        | StorageError::Closed => same(Code::Unavailable),
        StorageError::Corrupt { .. } => same(Code::DataLoss),
        StorageError::Locked(_)
        | StorageError::Config(_)
        | StorageError::Index(_)
        | StorageError::Io(_) => same(Code::Internal),
    }
}

/// `INVALID_ARGUMENT` / `maximum-append-size-exceeded`.
fn append_too_large(base: &Status) -> Status {
    let mut s = dress(
        base,
        Code::InvalidArgument,
        format!(
            "Maximum Append Size of {} Exceeded. ({})",
            limits::MAX_APPEND_BYTES,
            base.message()
        ),
        Some(exception::MAXIMUM_APPEND_SIZE_EXCEEDED),
    );
    put(
        &mut s,
        MAX_APPEND_SIZE_KEY,
        limits::MAX_APPEND_BYTES.to_string(),
    );
    s
}

/// `INVALID_ARGUMENT` / `maximum-append-size-exceeded` for an append the
/// adapter stopped collecting because it is over Strata's limits.
pub fn append_over_limit(message: String) -> Status {
    append_too_large(&strata_status::invalid_request(message))
}

/// A detail message packed as KurrentDB packs it.
fn any<M: prost::Message>(name: &str, m: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("type.googleapis.com/event_store.client.{name}"),
        value: m.encode_to_vec(),
    }
}

fn rpc(code: rpc::Code, message: impl Into<String>, details: prost_types::Any) -> rpc::Status {
    rpc::Status {
        code: code as i32,
        message: message.into(),
        details: Some(details),
    }
}

/// The `google.rpc.Status` of a failed `BatchAppend` batch: KurrentDB's
/// code, message and one detail message per cause.
pub fn batch_status(e: &Error, stream: &str) -> rpc::Status {
    use shared::wrong_expected_version::{
        CurrentStreamRevisionOption as Cur, ExpectedStreamPositionOption as Exp,
    };
    match e {
        Error::Storage(StorageError::WrongExpectedRevision {
            expected, actual, ..
        }) => {
            let w = shared::WrongExpectedVersion {
                current_stream_revision_option: Some(match actual {
                    CurrentRevision::NoStream => Cur::CurrentNoStream(()),
                    CurrentRevision::Current(r) => Cur::CurrentStreamRevision(*r),
                }),
                expected_stream_position_option: Some(match expected {
                    ExpectedRevision::Any => Exp::ExpectedAny(()),
                    ExpectedRevision::NoStream => Exp::ExpectedNoStream(()),
                    ExpectedRevision::StreamExists => Exp::ExpectedStreamExists(()),
                    ExpectedRevision::Exact(r) => Exp::ExpectedStreamPosition(*r),
                }),
            };
            rpc(
                rpc::Code::AlreadyExists,
                "WrongExpectedVersion",
                any("WrongExpectedVersion", &w),
            )
        }
        Error::Storage(StorageError::StreamTombstoned { .. }) => rpc(
            rpc::Code::NotFound,
            "StreamDeleted",
            any(
                "StreamDeleted",
                &shared::StreamDeleted {
                    stream_identifier: Some(shared::StreamIdentifier {
                        stream_name: stream.as_bytes().to_vec(),
                    }),
                },
            ),
        ),
        Error::AccessDenied(_) | Error::AuthenticationFailed => rpc(
            rpc::Code::PermissionDenied,
            "AccessDenied",
            any("AccessDenied", &shared::AccessDenied {}),
        ),
        Error::Storage(
            StorageError::TooManyEvents { .. } | StorageError::AppendTooLarge { .. },
        ) => rpc(
            rpc::Code::InvalidArgument,
            "MaximumAppendSizeExceeded",
            any(
                "MaximumAppendSizeExceeded",
                &shared::MaximumAppendSizeExceeded {
                    max_append_size: u32::try_from(limits::MAX_APPEND_BYTES).unwrap_or(u32::MAX),
                },
            ),
        ),
        Error::Storage(StorageError::EventTooLarge {
            id,
            size_bytes,
            limit_bytes,
        }) => rpc(
            rpc::Code::InvalidArgument,
            "MaximumAppendEventSizeExceeded",
            any(
                "MaximumAppendEventSizeExceeded",
                &shared::MaximumAppendEventSizeExceeded {
                    event_id: id.to_string(),
                    proposed_event_size: u32::try_from(*size_bytes).unwrap_or(u32::MAX),
                    max_append_event_size: u32::try_from(*limit_bytes).unwrap_or(u32::MAX),
                },
            ),
        ),
        Error::Storage(StorageError::PartialDuplicate { .. }) => rpc(
            rpc::Code::FailedPrecondition,
            "InvalidTransaction",
            any("InvalidTransaction", &shared::InvalidTransaction {}),
        ),
        Error::InvalidRequest(_)
        | Error::Storage(
            StorageError::InvalidStreamName { .. }
            | StorageError::ReservedStreamName(_)
            | StorageError::InvalidEvent(_)
            | StorageError::InvalidAppend(_)
            | StorageError::InvalidMetadata(_)
            | StorageError::MetadataTooLarge { .. },
        ) => bad_request_status(e.to_string()),
        other => {
            // Everything else keeps the code the whole call would have had.
            let code = match other {
                Error::Storage(se) => storage_status(se, Op::Append).code(),
                Error::ShuttingDown => Code::Unavailable,
                _ => Code::Unknown,
            };
            rpc(
                rpc_code(code),
                other.to_string(),
                any("Unknown", &shared::Unknown {}),
            )
        }
    }
}

/// `INVALID_ARGUMENT` with a `BadRequest` detail.
pub fn bad_request_status(message: String) -> rpc::Status {
    rpc(
        rpc::Code::InvalidArgument,
        "BadRequest",
        any("BadRequest", &shared::BadRequest { message }),
    )
}

/// A gRPC code as a `google.rpc.Code`.
fn rpc_code(c: Code) -> rpc::Code {
    rpc::Code::try_from(c as i32).unwrap_or(rpc::Code::Unknown)
}
