//! `otlp-sink`: an OTLP/gRPC trace receiver that counts spans and drops
//! them, so a server started with `--otlp-endpoint` can be measured with a
//! collector that costs next to nothing. Prints spans received per second
//! to stderr (only for seconds in which some arrived).

use anyhow::Result;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct Counts {
    spans: AtomicU64,
    requests: AtomicU64,
}

struct Sink(Arc<Counts>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.spans.fetch_add(n as u64, Ordering::Relaxed);
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

pub async fn run(listen: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("otlp-sink listening on http://{}", listener.local_addr()?);
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let (mut last_spans, mut last_reqs) = (0, 0);
        loop {
            tick.tick().await;
            let (spans, reqs) = (
                c.spans.load(Ordering::Relaxed),
                c.requests.load(Ordering::Relaxed),
            );
            if spans != last_spans || reqs != last_reqs {
                eprintln!(
                    "otlp-sink: {} spans/s in {} exports (total {spans} spans)",
                    spans - last_spans,
                    reqs - last_reqs
                );
            }
            (last_spans, last_reqs) = (spans, reqs);
        }
    });
    tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(Sink(counts)))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await?;
    Ok(())
}
