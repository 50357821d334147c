//! Traces against the real binary: a loopback OTLP/gRPC receiver (the
//! collector's own protos) gets, for one append sent by the Rust client
//! inside an application span, one span tree in the application's trace —
//! the server span (`strata.v1.Streams/Append`) under the client's span,
//! the handler under it, and a `commit` with `queue_wait`, `write` and
//! `fsync` children; and a read's pages as `read_page` spans. An append
//! sent over an append session (the client's default) is its own server
//! span `strata.v1.Streams/AppendSession` in the caller's trace, with its
//! commit under it.

mod common;

use common::Server;
use futures::TryStreamExt;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use std::time::Duration;
use strata_client::{EventData, ExpectedRevision, ReadOptions};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(30);

struct Receiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Starts the receiver on a free loopback port; returns its URL.
async fn receiver() -> (String, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (format!("http://{addr}"), rx)
}

/// Waits for the receiver's next export and adds its spans to `spans`.
async fn receive(
    exported: &mut mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    spans: &mut Vec<Span>,
) {
    let req = exported.recv().await.expect("receiver running");
    for rs in req.resource_spans {
        for ss in rs.scope_spans {
            spans.extend(ss.spans);
        }
    }
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn an_append_and_a_read_are_span_trees_in_the_clients_trace() {
    // Export every 100 ms instead of every 5 s (the SDK reads this; the
    // server inherits the test's environment).
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    let (endpoint, mut exported) = receiver().await;
    let server = Server::start_with_args(&["--otlp-endpoint", &endpoint]);
    // Unary appends: this test follows the `Append` call's span tree (the
    // session path is `an_append_over_a_session_...` below).
    let client = strata_client::Client::builder(server.url())
        .unary_appends()
        .connect()
        .await
        .unwrap();

    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let app_span = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    let app = SpanContext::new(
        trace_id,
        app_span,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    {
        let _in_app_span = opentelemetry::Context::current()
            .with_remote_span_context(app)
            .attach();
        client
            .append(
                "traced",
                ExpectedRevision::NoStream,
                vec![EventData::binary("T", vec![1])],
            )
            .await
            .unwrap();
        let read: Vec<_> = client
            .read_stream("traced", ReadOptions::forwards())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(read.len(), 1);
    }

    let want = [
        "strata.v1.Streams/Append",
        "commit",
        "queue_wait",
        "write",
        "fsync",
        "strata.v1.Streams/Read",
        "read_page",
    ];
    let mut spans: Vec<Span> = Vec::new();
    let got = tokio::time::timeout(WAIT, async {
        while !want.iter().all(|n| {
            spans
                .iter()
                .any(|s| s.name == *n && s.trace_id == trace_id.to_bytes())
        }) {
            receive(&mut exported, &mut spans).await;
        }
    })
    .await;
    assert!(
        got.is_ok(),
        "the append's spans did not reach the receiver; got {:?}\nserver logs:\n{}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>(),
        server.logs()
    );
    let ours: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == trace_id.to_bytes())
        .collect();
    let named = |n: &str| {
        *ours.iter().find(|s| s.name == n).unwrap_or_else(|| {
            panic!(
                "no {n} span among {:?}",
                ours.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let server_span = named("strata.v1.Streams/Append");
    assert_eq!(
        hex(&server_span.parent_span_id),
        "00f067aa0ba902b7",
        "the server span continues the client's"
    );
    assert_eq!(server_span.kind, 2, "SPAN_KIND_SERVER");
    let handler = ours
        .iter()
        .find(|s| s.parent_span_id == server_span.span_id)
        .expect("a handler span under the server span");
    let commit = named("commit");
    assert_eq!(
        commit.parent_span_id, handler.span_id,
        "the commit is the handler's child"
    );
    for phase in ["queue_wait", "write", "fsync"] {
        let s = named(phase);
        assert_eq!(
            s.parent_span_id, commit.span_id,
            "{phase} is the commit's child"
        );
        assert!(s.start_time_unix_nano >= commit.start_time_unix_nano);
        assert!(s.end_time_unix_nano <= commit.end_time_unix_nano);
        assert!(s.start_time_unix_nano <= s.end_time_unix_nano);
    }
    let read = named("strata.v1.Streams/Read");
    assert_eq!(hex(&read.parent_span_id), "00f067aa0ba902b7");
    let page = named("read_page");
    let mut up = page;
    while up.parent_span_id != read.span_id {
        up = ours
            .iter()
            .find(|s| s.span_id == up.parent_span_id)
            .expect("read_page descends from the Read server span");
    }
    assert!(
        named("queue_wait").end_time_unix_nano <= named("write").start_time_unix_nano
            && named("write").end_time_unix_nano <= named("fsync").start_time_unix_nano,
        "queue wait, write, fsync in that order"
    );
}

#[tokio::test]
async fn an_append_over_a_session_is_a_span_in_the_clients_trace_with_its_commit() {
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    let (endpoint, mut exported) = receiver().await;
    let server = Server::start_with_args(&["--otlp-endpoint", &endpoint]);
    let client = server.client().await;
    let trace_id = TraceId::from_hex("5cf92f3577b34da6a3ce929d0e0e4737").unwrap();
    let app = SpanContext::new(
        trace_id,
        SpanId::from_hex("10f067aa0ba902b8").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    {
        let _in_app_span = opentelemetry::Context::current()
            .with_remote_span_context(app)
            .attach();
        client
            .append(
                "traced-session",
                ExpectedRevision::NoStream,
                vec![EventData::binary("T", vec![1])],
            )
            .await
            .unwrap();
    }
    let mut spans: Vec<Span> = Vec::new();
    let ours = |spans: &[Span]| -> Option<(Span, Span)> {
        let item = spans.iter().find(|s| {
            s.trace_id == trace_id.to_bytes()
                && s.name == "strata.v1.Streams/AppendSession"
                && hex(&s.parent_span_id) == "10f067aa0ba902b8"
        })?;
        let commit = spans
            .iter()
            .find(|s| s.name == "commit" && s.parent_span_id == item.span_id)?;
        Some((item.clone(), commit.clone()))
    };
    let got = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(found) = ours(&spans) {
                return found;
            }
            receive(&mut exported, &mut spans).await;
        }
    })
    .await;
    let (item, commit) = got.unwrap_or_else(|_| {
        panic!(
            "no session append span with its commit in the client's trace; got {:?}\nserver logs:\n{}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>(),
            server.logs()
        )
    });
    assert_eq!(item.kind, 2, "SPAN_KIND_SERVER");
    assert!(commit.start_time_unix_nano >= item.start_time_unix_nano);
}

#[tokio::test]
async fn with_a_zero_sample_ratio_only_requests_their_caller_sampled_are_exported() {
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    let (endpoint, mut exported) = receiver().await;
    let server =
        Server::start_with_args(&["--otlp-endpoint", &endpoint, "--otlp-sample-ratio", "0"]);
    let client = strata_client::Client::builder(server.url())
        .unary_appends()
        .connect()
        .await
        .unwrap();
    // Without a trace context: roots, sampled at the ratio (none).
    for i in 0..5 {
        client
            .append(
                format!("untraced-{i}"),
                ExpectedRevision::NoStream,
                vec![EventData::binary("T", vec![1])],
            )
            .await
            .unwrap();
    }
    // The caller sampled this one: its decision wins over the ratio.
    let trace_id = TraceId::from_hex("6df92f3577b34da6a3ce929d0e0e4738").unwrap();
    let app = SpanContext::new(
        trace_id,
        SpanId::from_hex("20f067aa0ba902b9").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    {
        let _in_app_span = opentelemetry::Context::current()
            .with_remote_span_context(app)
            .attach();
        client
            .append(
                "sampled",
                ExpectedRevision::NoStream,
                vec![EventData::binary("T", vec![1])],
            )
            .await
            .unwrap();
    }
    // The untraced appends ended first, so they would have been in this
    // batch or an earlier one.
    let mut spans: Vec<Span> = Vec::new();
    let got = tokio::time::timeout(WAIT, async {
        while !spans
            .iter()
            .any(|s| s.name == "commit" && s.trace_id == trace_id.to_bytes())
        {
            receive(&mut exported, &mut spans).await;
        }
    })
    .await;
    assert!(
        got.is_ok(),
        "the sampled append's spans did not arrive; got {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let others: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id != trace_id.to_bytes())
        .map(|s| (&s.name, hex(&s.trace_id)))
        .collect();
    assert!(others.is_empty(), "unsampled spans exported: {others:?}");
    assert!(spans
        .iter()
        .any(|s| s.name == "strata.v1.Streams/Append"
            && hex(&s.parent_span_id) == "20f067aa0ba902b9"));
}
