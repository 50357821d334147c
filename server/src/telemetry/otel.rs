//! OpenTelemetry traces, exported over OTLP/gRPC when `--otlp-endpoint` is
//! given; with no endpoint nothing here runs and tracing costs what the
//! `tracing` spans always cost.
//!
//! What a trace holds: a server span per gRPC request, named
//! `package.Service/Method` as OpenTelemetry's RPC conventions ask, whose
//! parent is the W3C `traceparent` of the request's metadata when it has
//! one ([`server_span`], used by `api::trace_context`); under it the
//! handler's `tracing` span (every RPC handler is `#[instrument]`ed), a
//! `read_page` span per page a read takes from storage, and for writes a
//! `commit` span with three children, `queue_wait`, `write` and `fsync`,
//! built after the fact from the writer's [`CommitTiming`]
//! ([`record_commit`]).
//!
//! The exporter runs in the SDK's batch thread, which has no tokio runtime
//! while tonic needs one: [`OnRuntime`] drives each export on a small
//! runtime of its own (one worker), so a slow or absent collector never
//! touches the server's workers. Spans are dropped, never queued without
//! bound, when the collector falls behind (the SDK's batch queue is
//! bounded).
//!
//! Not here: the subscriber itself (`main`), propagation into outgoing
//! calls (the server makes none; the client crate injects `traceparent`).

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};
use strata_storage::CommitTiming;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Longest one export may take before it is abandoned (its spans dropped).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest the exporter's runtime gets to finish at shutdown.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// Share of root traces exported unless `--otlp-sample-ratio` says
/// otherwise: all of them (a development default; every sampled request
/// costs its spans' export — see docs/BENCHMARKS.md).
pub const DEFAULT_SAMPLE_RATIO: f64 = 1.0;

/// The tracer, once traces are on.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Whether traces are exported (an endpoint was given).
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// The running OTLP pipeline; [`Otel::shutdown`] flushes what is pending.
#[derive(Debug)]
pub struct Otel {
    provider: SdkTracerProvider,
    runtime: tokio::runtime::Runtime,
}

impl Otel {
    /// Starts exporting to `endpoint` (an `http://` URL of an OTLP/gRPC
    /// collector). Connects lazily: an absent collector is not an error.
    /// A request with a trace context is exported when its caller sampled
    /// it; one without, with probability `sample_ratio` (by trace id, so a
    /// trace is whole or absent).
    pub fn start(endpoint: &str, sample_ratio: f64) -> anyhow::Result<Otel> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("strata-otlp")
            .enable_all()
            .build()?;
        let exporter = {
            let _in_runtime = runtime.enter();
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(EXPORT_TIMEOUT)
                .build()?
        };
        let exporter = OnRuntime {
            inner: exporter,
            handle: runtime.handle().clone(),
        };
        let resource = Resource::builder()
            .with_service_name("strata")
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                sample_ratio,
            ))))
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        if TRACER.set(provider.tracer("strata")).is_err() {
            anyhow::bail!("OpenTelemetry was started twice");
        }
        Ok(Otel { provider, runtime })
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans: only
    /// Strata's own spans, at INFO and above.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        let targets = tracing_subscriber::filter::Targets::new()
            .with_target("strata", tracing::Level::INFO)
            .with_target("strata_storage", tracing::Level::INFO);
        let tracer = TRACER.get().expect("started").clone();
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(targets)
    }

    /// Exports what is pending and stops.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "flushing traces at shutdown failed");
        }
        self.runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
    }
}

/// A span exporter whose exports run on `handle`'s runtime.
#[derive(Debug)]
struct OnRuntime<E> {
    inner: E,
    handle: tokio::runtime::Handle,
}

impl<E: SpanExporter> SpanExporter for OnRuntime<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        // Called on the SDK's batch thread, never on a runtime thread.
        let r = self.handle.block_on(self.inner.export(batch));
        std::future::ready(r)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _in_runtime = self.handle.enter();
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        let _in_runtime = self.handle.enter();
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Reads W3C trace context from HTTP headers (gRPC metadata).
struct Headers<'a>(&'a tonic::codegen::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The server span of one gRPC request at `path` (`/package.Service/Method`),
/// continuing the caller's trace when its metadata carries `traceparent`.
pub fn server_span(path: &str, headers: &tonic::codegen::http::HeaderMap) -> tracing::Span {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc.request",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    );
    let _ = span.set_parent(parent);
    span
}

/// Records a commit under the current span: `commit` with `queue_wait`,
/// `write` and `fsync` children, at the times the writer measured. Does
/// nothing when traces are off or the request's trace is not sampled.
pub fn record_commit(t: &CommitTiming) {
    let Some(tracer) = TRACER.get() else {
        return;
    };
    let parent = tracing::Span::current().context();
    // Not sampled (by the caller or the ratio): the spans would be dropped
    // anyway; skip building them.
    if !parent.span().span_context().is_sampled() {
        return;
    }
    let (now, wall) = (Instant::now(), SystemTime::now());
    let at = |i: Instant| wall - now.saturating_duration_since(i);
    let commit = tracer
        .span_builder("commit")
        .with_kind(SpanKind::Internal)
        .with_start_time(at(t.enqueued))
        .start_with_context(tracer, &parent);
    let cx = parent.with_span(commit);
    for (name, from, to) in [
        ("queue_wait", t.enqueued, t.started),
        ("write", t.started, t.written),
        ("fsync", t.written, t.synced),
    ] {
        let mut s = tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_start_time(at(from))
            .start_with_context(tracer, &cx);
        s.end_with_timestamp(at(to));
    }
    cx.span().end_with_timestamp(at(t.synced));
}
