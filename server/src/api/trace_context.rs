//! A tower layer that opens the server span of every gRPC request, as the
//! child of the caller's W3C `traceparent` when it sent one, so that
//! handler, read and commit spans form one tree with the client's trace.
//!
//! Only while traces are exported (`--otlp-endpoint`); otherwise it passes
//! requests straight through. Plain-HTTP requests (metrics scrapes, health
//! probes) get no span.
//!
//! Not here: exporting (`telemetry::otel`).

use crate::telemetry::otel;
use futures::future::Either;
use std::task::{Context, Poll};
use tonic::codegen::http::{header, Request};
use tonic::codegen::Service;
use tracing::instrument::Instrumented;
use tracing::Instrument;

/// Wraps a service; see the module docs.
#[derive(Debug, Clone)]
pub struct TraceContext<S>(S);

/// The [`tower::Layer`] for [`TraceContext`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextLayer;

impl<S> tower::Layer<S> for TraceContextLayer {
    type Service = TraceContext<S>;
    fn layer(&self, inner: S) -> TraceContext<S> {
        TraceContext(inner)
    }
}

impl<S, B> Service<Request<B>> for TraceContext<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let grpc = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        if !grpc || !otel::enabled() {
            return Either::Left(self.0.call(req));
        }
        let span = otel::server_span(req.uri().path(), req.headers());
        let fut = span.in_scope(|| self.0.call(req));
        Either::Right(fut.instrument(span))
    }
}
