//! Consumer-group failures in KurrentDB's persistent-subscription shapes:
//! the code, message and `exception` / `stream-name` / `group-name`
//! trailers KurrentDB's `RpcExceptions` send, naming the subscription by
//! KurrentDB's (stream, group), not by its Strata group name.
//!
//! The clients read different parts: the .NET and Node clients switch on
//! `exception`, the Python client on the code (and on the message prefix
//! "Maximum subscriptions reached"), so messages follow KurrentDB's words.
//! Every other failure goes through the adapter's own mapping
//! (`kurrent::errors::status`).
//!
//! Not here: deciding that something failed (domain, `convert`).

use crate::api::kurrent::errors::{self as kerrors, exception, Op, EXCEPTION_KEY};
use crate::api::status as strata_status;
use crate::domain::Error;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

const STREAM_NAME_KEY: &str = "stream-name";
const GROUP_NAME_KEY: &str = "group-name";

pub use kerrors::bad_request;

/// A status with KurrentDB's `exception`, `stream-name` and `group-name`
/// (values that are not valid metadata are left out, not failed on).
fn shaped(code: Code, message: String, exc: &'static str, stream: &str, group: &str) -> Status {
    let mut s = Status::new(code, message);
    for (k, v) in [
        (EXCEPTION_KEY, exc),
        (STREAM_NAME_KEY, stream),
        (GROUP_NAME_KEY, group),
    ] {
        if let Ok(v) = MetadataValue::try_from(v) {
            s.metadata_mut().insert(k, v);
        }
    }
    s
}

/// `NOT_FOUND` / `persistent-subscription-does-not-exist`.
pub fn does_not_exist(stream: &str, group: &str) -> Status {
    shaped(
        Code::NotFound,
        format!("Subscription group {group} on stream {stream} does not exist."),
        exception::PERSISTENT_SUBSCRIPTION_DOES_NOT_EXIST,
        stream,
        group,
    )
}

/// `ALREADY_EXISTS` / `persistent-subscription-exists`.
pub fn exists(stream: &str, group: &str) -> Status {
    shaped(
        Code::AlreadyExists,
        format!("Subscription group {group} on stream {stream} exists."),
        exception::PERSISTENT_SUBSCRIPTION_EXISTS,
        stream,
        group,
    )
}

/// `FAILED_PRECONDITION` / `maximum-subscribers-reached`.
pub fn maximum_subscribers(stream: &str, group: &str) -> Status {
    shaped(
        Code::FailedPrecondition,
        format!("Maximum subscriptions reached for subscription group {group} on stream {stream}."),
        exception::MAXIMUM_SUBSCRIBERS_REACHED,
        stream,
        group,
    )
}

/// `e` for KurrentDB's subscription (`stream`, `group`). The Strata
/// metadata (`strata-error`) is kept on the group errors too. A consumer
/// ended by a server shutdown gets `UNAVAILABLE` like every other call
/// then (clients reconnect), not KurrentDB's `persistent-subscription-
/// dropped`, which KurrentDB sends for a subscription it ends on its own.
pub fn group_status(e: Error, stream: &str, group: &str) -> Status {
    let shape: Option<fn(&str, &str) -> Status> = match &e {
        Error::GroupNotFound(_) => Some(does_not_exist),
        Error::GroupExists(_) => Some(exists),
        Error::TooManyConsumers { .. } => Some(maximum_subscribers),
        _ => None,
    };
    match shape {
        Some(f) => {
            let base = strata_status::from_domain(e);
            let mut s = f(stream, group);
            for kv in base.metadata().iter() {
                if let tonic::metadata::KeyAndValueRef::Ascii(k, v) = kv {
                    if !s.metadata().contains_key(k) {
                        s.metadata_mut().insert(k.clone(), v.clone());
                    }
                }
            }
            s
        }
        None => kerrors::status(e, Op::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_errors_name_kurrentdbs_stream_and_group() {
        let s = group_status(Error::GroupNotFound("o__g".into()), "o", "g");
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(
            s.message(),
            "Subscription group g on stream o does not exist."
        );
        assert_eq!(
            s.metadata().get(EXCEPTION_KEY).unwrap(),
            "persistent-subscription-does-not-exist"
        );
        assert_eq!(s.metadata().get(GROUP_NAME_KEY).unwrap(), "g");
        let s = group_status(
            Error::TooManyConsumers {
                group: "o__g".into(),
                limit: 1,
            },
            "o",
            "g",
        );
        assert!(s.message().starts_with("Maximum subscriptions reached"));
        assert_eq!(s.code(), Code::FailedPrecondition);
    }
}
