//! A tower layer that reports undecodable requests as `INVALID_ARGUMENT`.
//!
//! tonic decodes a request before any Strata code runs; when the protobuf
//! is malformed (for example a `string` field holding invalid UTF-8) it
//! answers `INTERNAL` "failed to decode Protobuf message". That is the
//! client's error, not the server's, so this layer rewrites such
//! trailers-only answers to `INVALID_ARGUMENT` with `strata-error:
//! invalid-request`, keeping tonic's message. Nothing else is touched.
//!
//! Not here: errors the server itself produces (`api::status`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use strata_proto::wire;
use tonic::codegen::http::header::HeaderName;
use tonic::codegen::http::{HeaderMap, HeaderValue, Request, Response};
use tonic::codegen::Service;
use tonic::Code;

/// The trailer (here a header: the answer is trailers-only) holding the
/// gRPC status code, as the gRPC-over-HTTP/2 protocol names it.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The trailer holding the percent-encoded status message.
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
/// The start of tonic's message for a request it could not decode, as sent
/// (percent-encoded) and as a client may show it.
const DECODE_FAILURE_PREFIXES: [&[u8]; 2] = [b"failed%20to%20decode", b"failed to decode"];

/// Wraps a service; see the module docs.
#[derive(Debug, Clone)]
pub struct DecodeErrors<S>(pub S);

/// The [`tower::Layer`] for [`DecodeErrors`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeErrorsLayer;

impl<S> tower::Layer<S> for DecodeErrorsLayer {
    type Service = DecodeErrors<S>;
    fn layer(&self, inner: S) -> DecodeErrors<S> {
        DecodeErrors(inner)
    }
}

fn is_decode_failure(resp_headers: &HeaderMap) -> bool {
    let internal = resp_headers
        .get(GRPC_STATUS)
        .is_some_and(|v| Code::from_bytes(v.as_bytes()) == Code::Internal);
    let msg = resp_headers
        .get(GRPC_MESSAGE)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    internal && DECODE_FAILURE_PREFIXES.iter().any(|p| msg.starts_with(p))
}

impl<S, B, R> Service<Request<B>> for DecodeErrors<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let fut = self.0.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            if is_decode_failure(resp.headers()) {
                let h = resp.headers_mut();
                h.insert(GRPC_STATUS, HeaderValue::from(Code::InvalidArgument as i32));
                h.insert(
                    wire::ERROR_KIND_KEY,
                    HeaderValue::from_static(wire::kind::INVALID_REQUEST),
                );
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tonic_decode_failures_match() {
        let headers = |code: &'static str, msg: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(GRPC_STATUS, HeaderValue::from_static(code));
            h.insert(GRPC_MESSAGE, HeaderValue::from_static(msg));
            h
        };
        assert!(is_decode_failure(&headers(
            "13",
            "failed%20to%20decode%20Protobuf"
        )));
        assert!(!is_decode_failure(&headers("13", "storage task failed")));
        assert!(!is_decode_failure(&headers("3", "failed%20to%20decode")));
        assert_eq!(HeaderValue::from(Code::InvalidArgument as i32), "3");
    }
}
