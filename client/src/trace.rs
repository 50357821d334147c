//! Trace propagation: every request the client sends carries the caller's
//! current OpenTelemetry trace context as W3C `traceparent` (and
//! `tracestate`) metadata, so the server's spans for it join the caller's
//! trace.
//!
//! The current context is `opentelemetry::Context::current()`; with
//! `tracing-opentelemetry` (which activates a span's context when it is
//! entered) that is the current `tracing` span. No context, no metadata:
//! the cost is one thread-local read per request.
//!
//! Appends sent over an append session carry the same two values in
//! their message instead (the session's metadata is the opener's).
//!
//! Not here: correlation ids inside events (`correlation`).

use opentelemetry::trace::TraceContextExt;
use tonic::metadata::MetadataValue;

/// The W3C trace context header names.
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// `msg` as a request carrying the current trace context, if there is one.
pub(crate) fn request<T>(msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    let Some((parent, state)) = current() else {
        return req;
    };
    if let Ok(v) = MetadataValue::try_from(parent) {
        req.metadata_mut().insert(TRACEPARENT, v);
    }
    if !state.is_empty() {
        if let Ok(v) = MetadataValue::try_from(state) {
            req.metadata_mut().insert(TRACESTATE, v);
        }
    }
    req
}

/// The current trace context as W3C `traceparent` and `tracestate` values
/// (the latter possibly empty), if there is one: what [`request`] sends as
/// metadata, and what an append session sends inside each append.
pub(crate) fn current() -> Option<(String, String)> {
    let cx = opentelemetry::Context::current();
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let parent = format!(
        "00-{:032x}-{:016x}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    Some((parent, sc.trace_state().header()))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    #[test]
    fn the_current_span_becomes_traceparent_and_none_adds_nothing() {
        assert!(super::request(()).metadata().get("traceparent").is_none());
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let _g = opentelemetry::Context::current()
            .with_remote_span_context(sc)
            .attach();
        let req = super::request(());
        assert_eq!(
            req.metadata().get("traceparent").unwrap(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }
}
