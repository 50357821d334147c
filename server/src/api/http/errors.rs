//! The one place where failures become HTTP answers of the JSON API
//! (`/api/v1/...`), beside `api::status`, which makes them gRPC statuses.
//!
//! There is no second table of causes: an [`ApiError`] *is* the
//! `tonic::Status` that `api::status::from_domain` builds (its exhaustive
//! `match` decides each cause's code, `strata-error` kind and message), and
//! this file only says how such a status looks over HTTP:
//!
//! - the HTTP status follows the gRPC code ([`http_status`]; a few kinds are
//!   more precise, e.g. the `*-too-large` ones answer 413);
//! - the body is JSON, `{"error": "<kind>", "message": "..."}`, plus
//!   `"actual_revision"` (a number, or `"no-stream"`) and `"stream"` where
//!   the gRPC status carries `strata-actual-revision` / `strata-stream`.
//!
//! So the JSON API's kinds are exactly the gRPC API's (`strata_proto::wire::kind`,
//! listed in docs/API.md), and a new domain error needs no change here.
//!
//! Not here: detecting failures (`domain`, and the adapter's own checks of
//! query parameters, which use [`ApiError::invalid`]).

use crate::api::status;
use crate::domain;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use strata_proto::wire::{self, kind, ACTUAL_REVISION_KEY, ERROR_KIND_KEY, STREAM_KEY};
use tonic::Code;

/// A failed JSON API request: the gRPC status the same failure would have.
#[derive(Debug)]
pub struct ApiError(tonic::Status);

/// What JSON API handlers return.
pub type ApiResult<T = Response> = Result<T, ApiError>;

impl ApiError {
    /// `400` / `invalid-request`: a malformed parameter or body.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError(status::invalid_request(message))
    }

    /// The `strata-error` kind.
    pub fn kind(&self) -> &str {
        self.0
            .metadata()
            .get(ERROR_KIND_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(kind::INTERNAL)
    }

    /// The JSON body: kind, message, and the revision facts if any.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "error": self.kind(),
            "message": self.0.message(),
        });
        let md = self.0.metadata();
        if let Some(actual) = md.get(ACTUAL_REVISION_KEY).and_then(|v| v.to_str().ok()) {
            body["actual_revision"] = match actual.parse::<u64>() {
                Ok(r) => r.into(),
                Err(_) => actual.into(),
            };
        }
        if let Some(stream) = md
            .get(STREAM_KEY)
            .and_then(|v| v.to_str().ok())
            .and_then(wire::percent_decode)
        {
            body["stream"] = stream.into();
        }
        body
    }
}

impl From<domain::Error> for ApiError {
    fn from(e: domain::Error) -> ApiError {
        ApiError(status::from_domain(e))
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> ApiError {
        ApiError(s)
    }
}

/// The HTTP status of a gRPC code (as gRPC-HTTP gateways map them), with
/// the refusals for size made `413`.
pub fn http_status(code: Code, kind: &str) -> StatusCode {
    match kind {
        kind::EVENT_TOO_LARGE
        | kind::APPEND_TOO_LARGE
        | kind::SNAPSHOT_TOO_LARGE
        | kind::METADATA_TOO_LARGE
        | kind::TOO_MANY_EVENTS => return StatusCode::PAYLOAD_TOO_LARGE,
        _ => {}
    }
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        // A state that does not allow the request (expected revision,
        // tombstone, an existing name): the caller looks again and decides.
        Code::Aborted | Code::AlreadyExists | Code::FailedPrecondition => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Cancelled | Code::Unknown | Code::Internal | Code::DataLoss => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = http_status(self.0.code(), self.kind());
        if status.is_server_error() {
            tracing::warn!(
                kind = self.kind(),
                message = self.0.message(),
                "JSON API request failed"
            );
        }
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body().to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_storage::{CurrentRevision, Error, ExpectedRevision};

    #[test]
    fn kinds_and_codes_are_the_grpc_ones() {
        let e = ApiError::from(domain::Error::Storage(Error::StreamNotFound("a".into())));
        assert_eq!(e.kind(), kind::STREAM_NOT_FOUND);
        assert_eq!(e.into_response().status(), StatusCode::NOT_FOUND);

        let e = ApiError::from(domain::Error::GroupNotFound("g".into()));
        assert_eq!(e.kind(), kind::GROUP_NOT_FOUND);

        let e = ApiError::invalid("limit must be a number");
        assert_eq!(e.kind(), kind::INVALID_REQUEST);
        assert_eq!(e.body()["message"], "limit must be a number");
        assert_eq!(e.into_response().status(), StatusCode::BAD_REQUEST);

        let e = ApiError::from(domain::Error::Storage(Error::Poisoned("fsync".into())));
        assert_eq!(e.into_response().status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn wrong_expected_revision_says_the_actual_revision_and_stream() {
        let e = ApiError::from(domain::Error::Storage(Error::WrongExpectedRevision {
            stream: "order-ü/1".into(),
            expected: ExpectedRevision::Exact(3),
            actual: CurrentRevision::Current(7),
        }));
        let body = e.body();
        assert_eq!(body["error"], "wrong-expected-revision");
        assert_eq!(body["actual_revision"], 7);
        assert_eq!(body["stream"], "order-ü/1");
        assert_eq!(e.into_response().status(), StatusCode::CONFLICT);

        let e = ApiError::from(domain::Error::Storage(Error::WrongExpectedRevision {
            stream: "a".into(),
            expected: ExpectedRevision::StreamExists,
            actual: CurrentRevision::NoStream,
        }));
        assert_eq!(e.body()["actual_revision"], "no-stream");
    }

    #[test]
    fn size_refusals_are_413() {
        assert_eq!(
            http_status(Code::ResourceExhausted, kind::EVENT_TOO_LARGE),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            http_status(Code::ResourceExhausted, kind::TOO_MANY_SUBSCRIPTIONS),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
