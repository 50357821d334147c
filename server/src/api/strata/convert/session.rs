//! `AppendSession`'s answers: an append's result, or the status unary
//! `Append` would have failed with, as an `AppendSessionResponse`.
//!
//! A failure travels as an `AppendError` message rather than as the call's
//! status (which would end the session): the same gRPC code, `strata-error`
//! kind and message, and for `wrong-expected-revision` the stream and its
//! actual revision, read back from the status `api::status` built — so the
//! mapping stays in one place and both paths say the same thing.
//!
//! Not here: the session itself (`api::strata::session`).

use strata_proto::v1 as pb;
use strata_proto::wire::{self, ACTUAL_REVISION_KEY, ERROR_KIND_KEY, STREAM_KEY};
use strata_storage as st;
use tonic::Status;

/// The answer to the append with `correlation_id`.
pub fn answer(
    correlation_id: u64,
    r: Result<st::AppendResult, Status>,
) -> pb::AppendSessionResponse {
    use pb::append_session_response::Result as R;
    pb::AppendSessionResponse {
        correlation_id,
        result: Some(match r {
            Ok(r) => R::Success(super::append_response(&r)),
            Err(s) => R::Error(append_error(&s)),
        }),
    }
}

/// A failure status (as `api::status` makes them) to its message.
pub fn append_error(s: &Status) -> pb::AppendError {
    use pb::append_error::Actual;
    let md = |key: &str| s.metadata().get(key).and_then(|v| v.to_str().ok());
    let actual = md(ACTUAL_REVISION_KEY).and_then(|v| {
        if v == wire::NO_STREAM_VALUE {
            Some(Actual::ActualNoStream(pb::Empty {}))
        } else {
            v.parse().ok().map(Actual::ActualRevision)
        }
    });
    pb::AppendError {
        code: s.code() as u32,
        kind: md(ERROR_KIND_KEY).unwrap_or_default().to_owned(),
        message: s.message().to_owned(),
        stream: md(STREAM_KEY)
            .and_then(wire::percent_decode)
            .unwrap_or_default(),
        actual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::status;
    use crate::domain;

    #[test]
    fn a_conflict_carries_code_kind_stream_and_actual_revision() {
        let s = status::from_storage(&st::Error::WrongExpectedRevision {
            stream: "order-ü%1".into(),
            expected: st::ExpectedRevision::Exact(3),
            actual: st::CurrentRevision::Current(7),
        });
        let e = append_error(&s);
        assert_eq!(e.code, tonic::Code::Aborted as u32);
        assert_eq!(e.kind, "wrong-expected-revision");
        assert_eq!(e.stream, "order-ü%1");
        assert_eq!(e.actual, Some(pb::append_error::Actual::ActualRevision(7)));
        assert_eq!(e.message, s.message());

        let s = status::from_storage(&st::Error::WrongExpectedRevision {
            stream: "a".into(),
            expected: st::ExpectedRevision::StreamExists,
            actual: st::CurrentRevision::NoStream,
        });
        assert_eq!(
            append_error(&s).actual,
            Some(pb::append_error::Actual::ActualNoStream(pb::Empty {}))
        );
    }

    #[test]
    fn other_failures_carry_code_and_kind_only() {
        let e = append_error(&status::from_domain(domain::Error::AccessDenied(
            "write on stream 'x'".into(),
        )));
        assert_eq!(e.code, tonic::Code::PermissionDenied as u32);
        assert_eq!(e.kind, "access-denied");
        assert!(e.stream.is_empty() && e.actual.is_none());
        let ok = answer(
            9,
            Ok(st::AppendResult {
                first_revision: 0,
                last_revision: 0,
                first_position: 5,
                last_position: 5,
                deduplicated: false,
            }),
        );
        assert_eq!(ok.correlation_id, 9);
        assert!(matches!(
            ok.result,
            Some(pb::append_session_response::Result::Success(r)) if r.first_position == 5
        ));
    }
}
