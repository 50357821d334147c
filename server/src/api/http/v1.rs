//! The JSON API's routes (`/api/v1/...`, nested by `http::router`), the
//! state its handlers share, and the one [`access::gate`] layered over all
//! of them. docs/API.md ("JSON API") documents each route.
//!
//! | Route | Handler |
//! |---|---|
//! | `GET /me` | [`me`]: who the caller is, its roles and grants, whether auth is on |
//! | `GET /dashboard` | [`dashboard::dashboard`] |
//! | `GET /streams` | [`streams::list`] |
//! | `GET /streams/{stream}/events` | [`streams::events`] |
//! | `GET /streams/{stream}/events/{revision}` | [`streams::event`] |
//! | `GET /streams/{stream}/metadata` | [`streams::metadata`] |
//! | `GET /streams/{stream}/snapshots` | [`streams::snapshots`] |
//! | `POST /streams/{stream}/delete` | [`streams::delete`] |
//! | `GET /tail` (Server-Sent Events) | [`tail::tail`] |
//! | `GET /groups`, `GET /groups/{group}` | [`groups::list`], [`groups::info`] |
//! | `POST /groups/{group}/replay-parked` | [`groups::replay_parked`] |
//! | `GET /scavenge`, `POST /scavenge`, `POST /scavenge/stop` | [`scavenge`] |
//!
//! Unknown routes under `/api/v1` answer `404` with a JSON error body.
//!
//! Not here: the handlers' work (their files), the UI's files (`ui`).

use super::dashboard::LatencyWindow;
use super::errors::ApiError;
use super::sampler::Sampler;
use super::{access, dashboard, groups, scavenge, streams, tail};
use crate::domain::security::Caller;
use crate::domain::Node;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// What the JSON API's handlers share.
#[derive(Debug)]
pub struct ApiState {
    /// The node every adapter calls.
    pub node: Arc<Node>,
    /// Throughput history for the dashboard.
    pub sampler: Arc<Sampler>,
    /// Earlier latency readings for the dashboard's window.
    pub latency: LatencyWindow,
}

/// The `/api/v1` routes over `node` (starts the dashboard's sampler when
/// called inside the runtime).
pub fn router(node: Arc<Node>) -> Router {
    let state = Arc::new(ApiState {
        sampler: Sampler::start(&node),
        node,
        latency: LatencyWindow::default(),
    });
    Router::new()
        .route("/me", get(me))
        .route("/dashboard", get(dashboard::dashboard))
        .route("/streams", get(streams::list))
        .route("/streams/{stream}/events", get(streams::events))
        .route("/streams/{stream}/events/{revision}", get(streams::event))
        .route("/streams/{stream}/metadata", get(streams::metadata))
        .route("/streams/{stream}/snapshots", get(streams::snapshots))
        .route("/streams/{stream}/delete", post(streams::delete))
        .route("/tail", get(tail::tail))
        .route("/groups", get(groups::list))
        .route("/groups/{group}", get(groups::info))
        .route("/groups/{group}/replay-parked", post(groups::replay_parked))
        .route("/scavenge", get(scavenge::status).post(scavenge::start))
        .route("/scavenge/stop", post(scavenge::stop))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(access::gate))
}

/// Who the caller is and what it may do, for the UI to offer only that
/// (the gate and the handlers still decide every request):
///
/// `{"name", "authenticated", "roles", "auth_enabled", "admin", "ops",
/// "grants": [{"prefix", "permissions"}]}` — `authenticated` is false for
/// the anonymous admin of a server without authentication; `grants` are
/// the grants that apply to the caller (its own and its roles'), with
/// permissions by name (`read`, `write`, `delete`, `metadata`,
/// `subscribe`); an admin needs none.
async fn me(
    axum::extract::State(state): axum::extract::State<Arc<ApiState>>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Response {
    super::json::ok(me_body(
        &caller,
        &state.node.who_am_i(&caller).roles,
        state.node.auth_enabled(),
    ))
}

fn me_body(caller: &Caller, roles: &[String], auth_enabled: bool) -> serde_json::Value {
    let grants: Vec<_> = caller
        .access
        .grants
        .iter()
        .map(|(prefix, perms)| {
            serde_json::json!({
                "prefix": prefix,
                "permissions": perms.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "name": caller.name(),
        "authenticated": caller.user.is_some(),
        "roles": roles,
        "auth_enabled": auth_enabled,
        "admin": caller.access.admin,
        "ops": caller.access.ops,
        "grants": grants,
    })
}

async fn not_found() -> Response {
    ApiError::from(crate::api::status::with_kind(
        tonic::Code::NotFound,
        strata_proto::wire::kind::INVALID_REQUEST,
        "no such JSON API route",
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::security::{Access, Permission};

    #[test]
    fn me_lists_roles_and_grants_by_name() {
        let caller = Caller {
            user: Some("reader".into()),
            peer: None,
            access: Arc::new(Access::of(
                &["billing".into()],
                vec![(
                    "order-".into(),
                    vec![Permission::Read, Permission::Subscribe],
                )],
            )),
            token: None,
        };
        let body = me_body(&caller, &["billing".into()], true);
        assert_eq!(
            body,
            serde_json::json!({
                "name": "reader", "authenticated": true, "roles": ["billing"],
                "auth_enabled": true, "admin": false, "ops": false,
                "grants": [{"prefix": "order-", "permissions": ["read", "subscribe"]}],
            })
        );
        let anonymous = me_body(&Caller::anonymous(None), &["admin".into()], false);
        assert_eq!(anonymous["authenticated"], false);
        assert_eq!(anonymous["admin"], true);
        assert_eq!(anonymous["name"], "anonymous");
    }
}
