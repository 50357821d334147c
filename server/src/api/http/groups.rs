//! JSON API: consumer groups (persistent subscriptions) — the list with
//! each group's state, consumers, in-flight, lag and parked count, one
//! group, and replaying its parked events. The same `Node` calls as the
//! gRPC `PersistentSubscriptions` service (`list_groups`, `group_info`,
//! `replay_parked`); a replay is audited in `$audit` as the gRPC call is
//! (`replayParked`).
//!
//! The parked events themselves are the records of `$parked-<group>`
//! (each the original event, with the park's reason and facts as JSON
//! metadata under `"$parked"`, docs/FORMAT.md), read through the streams
//! routes like any readable system stream.
//!
//! Not here: creating, changing or deleting groups, or consuming (gRPC
//! only); the JSON shapes (`json`).

use super::errors::ApiResult;
use super::json;
use super::query;
use super::v1::ApiState;
use crate::domain::security::Caller;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Extension;
use serde_json::json;
use std::sync::Arc;

/// `GET /groups`: every group, by name.
pub async fn list(State(st): State<Arc<ApiState>>) -> ApiResult {
    let groups = st.node.list_groups().await?;
    Ok(json::ok(json!({
        "groups": groups.iter().map(json::group).collect::<Vec<_>>(),
    })))
}

/// `GET /groups/{group}`: one group.
pub async fn info(State(st): State<Arc<ApiState>>, Path(group): Path<String>) -> ApiResult {
    let info = st.node.group_info(&group).await?;
    Ok(json::ok(json::group(&info)))
}

/// `POST /groups/{group}/replay-parked` with `{"max_count": n}` (omitted,
/// `null` or 0: all): queues parked events for delivery again; once each
/// is handled it leaves `$parked-<group>`.
pub async fn replay_parked(
    State(st): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(group): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = query::json_body(&body)?;
    let max_count = query::body_u64(&body, "max_count")?.unwrap_or(0);
    let queued = st.node.replay_parked(&group, max_count).await;
    let queued = st
        .node
        .audited(&caller, "replayParked", &group, queued)
        .await?;
    Ok(json::ok(json!({ "group": group, "queued": queued })))
}
