//! The plain-HTTP side of the one listening port: health probes,
//! Prometheus metrics, the admin web UI and its JSON API, as an axum
//! router merged with tonic's gRPC routes (`serve` mounts both; HTTP/1.1
//! and HTTP/2 are accepted alike).
//!
//! - `GET /health/live`: 200 while the process answers;
//! - `GET /health/ready`: 200 when the node takes writes, else 503 with the
//!   reason (`domain::health`);
//! - `GET /metrics`: the live instruments and the figures read now
//!   (`telemetry`), as OpenMetrics text when the scraper's `Accept` asks
//!   for it (Prometheus does), else as the classic Prometheus text format
//!   0.0.4; 404 in a build without the `metrics` feature.
//!
//! - `/ui/...`: the admin web UI's embedded files ([`ui`]);
//! - `/api/v1/...`: the JSON API the UI reads and acts through ([`v1`]:
//!   routes and the one [`access`] gate; one file per concern —
//!   [`dashboard`] (with [`sampler`], [`histogram`]), [`streams`],
//!   [`tail`] (Server-Sent Events), [`groups`], [`scavenge`]; bodies in
//!   [`json`], inputs in [`query`], failures in [`errors`]), calling the
//!   same `Node` methods as the gRPC services.
//!
//! Bodies are small JSON objects for the probes. Unknown paths answer 404,
//! or gRPC `UNIMPLEMENTED` to a gRPC request (see [`fallback`]).
//!
//! Not here: what the figures mean (`telemetry`), readiness rules
//! (`domain::health`), what requests do (`domain`).

pub mod access;
pub mod dashboard;
pub mod errors;
pub mod groups;
pub mod histogram;
pub mod json;
pub mod query;
pub mod sampler;
pub mod scavenge;
pub mod streams;
pub mod tail;
pub mod ui;
pub mod v1;

use crate::domain::Node;
use crate::telemetry::{exposition, ScrapeSnapshot};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{extract::State, Router};
use std::sync::Arc;

const JSON_CONTENT_TYPE: &str = "application/json";

/// The HTTP routes, sharing `node` with the gRPC services.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(node.clone())
        .merge(ui::router())
        .nest("/api/v1", v1::router(node))
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        )],
        body.to_string(),
    )
        .into_response()
}

async fn live() -> Response {
    json(StatusCode::OK, serde_json::json!({ "status": "live" }))
}

async fn ready(State(node): State<Arc<Node>>) -> Response {
    let r = node.readiness();
    if r.is_ready() {
        json(StatusCode::OK, serde_json::json!({ "status": "ready" }))
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "not-ready", "reason": r.reason() }),
        )
    }
}

async fn metrics(State(node): State<Arc<Node>>, headers: HeaderMap) -> Response {
    // statvfs and a stat per segment: off the async workers.
    let store = node.store().clone();
    let telemetry = match tokio::task::spawn_blocking(move || store.telemetry()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "reading the store's telemetry failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "telemetry unavailable\n").into_response();
        }
    };
    let groups = node.list_groups().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "listing consumer groups for /metrics failed");
        Vec::new()
    });
    let scavenge = node.scavenge_status().ok();
    match node
        .metrics()
        .encode(ScrapeSnapshot::new(telemetry, groups, scavenge))
    {
        Some(text) => {
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
            let (content_type, body) = if exposition::wants_openmetrics(accept) {
                (exposition::OPENMETRICS_CONTENT_TYPE, text)
            } else {
                (
                    exposition::PROMETHEUS_TEXT_CONTENT_TYPE,
                    exposition::to_prometheus_text(&text),
                )
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                body,
            )
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            "this strata was built without metrics\n",
        )
            .into_response(),
    }
}

/// Unknown paths: gRPC `UNIMPLEMENTED` (status 12 in a trailers-only
/// answer, as tonic gives) to gRPC requests, 404 to anything else.
pub async fn fallback(req: Request<Body>) -> Response {
    let grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        let (parts, ()) = tonic::Status::unimplemented("")
            .into_http::<()>()
            .into_parts();
        Response::from_parts(parts, Body::empty())
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}
