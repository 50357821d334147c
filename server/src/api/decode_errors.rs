//! A tower layer that reports undecodable requests as `INVALID_ARGUMENT`.
//!
//! tonic decodes a request before any Strata code runs; when the protobuf
//! is malformed (for example a `string` field holding invalid UTF-8) it
//! answers `INTERNAL` "failed to decode Protobuf message". That is the
//! client's error, not the server's, so this layer rewrites such
//! trailers-only answers to `INVALID_ARGUMENT` with `strata-error:
//! invalid-request`, keeping tonic's message. Nothing else is touched.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::codegen::http::{HeaderValue, Request, Response};
use tonic::codegen::Service;

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

fn is_decode_failure(resp_headers: &tonic::codegen::http::HeaderMap) -> bool {
    let internal = resp_headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"13");
    let msg = resp_headers
        .get("grpc-message")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    internal && (msg.starts_with(b"failed%20to%20decode") || msg.starts_with(b"failed to decode"))
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
                h.insert("grpc-status", HeaderValue::from_static("3"));
                h.insert("strata-error", HeaderValue::from_static("invalid-request"));
            }
            Ok(resp)
        })
    }
}
