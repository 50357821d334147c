//! JSON API: scavenging — the running or last scavenge since the server
//! started, starting one (with an optional rate limit) and stopping it.
//! The same `Node` calls as the gRPC `Admin` service (`scavenge_status`,
//! `start_scavenge`, `stop_scavenge`); starting and stopping are audited
//! in `$audit` as the gRPC calls are (`startScavenge`, `stopScavenge`).
//!
//! The history of every scavenge is the `$scavenges` stream, read through
//! the streams routes.
//!
//! Not here: what a scavenge does (the storage engine), the JSON shape
//! (`json::scavenge`).

use super::errors::ApiResult;
use super::json;
use super::query;
use super::v1::ApiState;
use crate::domain::security::Caller;
use axum::body::Bytes;
use axum::extract::State;
use axum::Extension;
use std::sync::Arc;
use strata_storage::ScavengeOptions;

/// `GET /scavenge`: the running scavenge, or the last one since the server
/// started (`404` / `scavenge-not-found` if none ran).
pub async fn status(State(st): State<Arc<ApiState>>) -> ApiResult {
    Ok(json::ok(json::scavenge(&st.node.scavenge_status()?)))
}

/// `POST /scavenge` with `{"max_bytes_per_second": n}` (omitted, `null` or
/// 0: no limit): starts a scavenge, or answers the one already running.
pub async fn start(
    State(st): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult {
    let body = query::json_body(&body)?;
    let rate = query::body_u64(&body, "max_bytes_per_second")?.filter(|r| *r > 0);
    let started = st
        .node
        .start_scavenge(ScavengeOptions {
            max_bytes_per_second: rate,
        })
        .await;
    let s = st
        .node
        .audited(&caller, "startScavenge", "store", started)
        .await?;
    Ok(json::ok(json::scavenge(&s)))
}

pub async fn stop(
    State(st): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    let stopped = st.node.stop_scavenge().await;
    let s = st
        .node
        .audited(&caller, "stopScavenge", "store", stopped)
        .await?;
    Ok(json::ok(json::scavenge(&s)))
}
