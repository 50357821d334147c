//! The one gate every JSON API request (`/api/v1/...`) passes, as a single
//! axum middleware layered over the whole API in `v1::router`: the place
//! where authentication and authorization checks go.
//!
//! It:
//!
//! - takes the [`Caller`] the port's authentication layer (`api::auth`)
//!   put into the request and checks what the route needs: reading a
//!   stream's events, metadata or snapshots needs `read` on it, deleting
//!   needs `delete`; consumer groups and scavenges need the `ops` role;
//!   the dashboard's figures, `/me`, the stream list and the live tail of
//!   `$all` any authenticated caller — the last two show only what the
//!   caller may read (`streams::list` drops the streams it may not read,
//!   `tail` narrows its filter to the prefixes granted `subscribe`, as
//!   the gRPC `ListStreams` and `$all` subscriptions do). A refusal is
//!   `403` / `access-denied` before the handler runs;
//! - refuses, with `400` / `invalid-request`, a request that changes
//!   something (any method but `GET`/`HEAD`) unless it is
//!   `Content-Type: application/json`. A browser only sends such a request
//!   cross-origin after a CORS preflight, which this server never grants,
//!   so another site open in the operator's browser cannot delete streams
//!   or start scavenges on a server it can reach (cross-site request
//!   forgery); the UI and scripts send JSON anyway;
//! - marks every answer `Cache-Control: no-store`.
//!
//! Credentials are the port's (`Authorization: Basic …` or `Bearer …`);
//! with authentication off every caller is an anonymous admin. No handler
//! needs a gate of its own; the UI's static files and the probes stay
//! outside it.
//!
//! Not here: the rules of who may do what (`domain`), routing (`v1`).

use super::errors::ApiError;
use crate::domain::security::{Caller, Need, Permission};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use strata_proto::wire::percent_decode;

/// What a JSON API route needs, from its path (relative to `/api/v1`,
/// stream names percent-decoded).
fn needs(
    method: &Method,
    path: &str,
) -> Result<(Option<Permission>, Option<String>, bool), ApiError> {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let stream = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| ApiError::invalid("a stream name is not valid percent-encoding"))
    };
    // (permission on a stream, the stream, needs ops)
    Ok(match segments.as_slice() {
        ["dashboard"] | ["me"] | ["streams"] | ["tail"] => (None, None, false),
        ["streams", s, "delete"] if *method == Method::POST => {
            (Some(Permission::Delete), Some(stream(s)?), false)
        }
        ["streams", s, ..] => (Some(Permission::Read), Some(stream(s)?), false),
        _ => (None, None, true),
    })
}

/// The gate (an `axum::middleware::from_fn` function).
pub async fn gate(req: Request, next: Next) -> Response {
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        return ApiError::from(crate::domain::Error::AuthenticationFailed).into_response();
    };
    let check = needs(req.method(), req.uri().path()).and_then(|(perm, stream, ops)| {
        let need = match (&perm, &stream) {
            (Some(p), Some(s)) => Need::Stream(*p, s),
            _ if ops => Need::Ops,
            _ => Need::Authenticated,
        };
        caller.check(need).map_err(ApiError::from)
    });
    if let Err(e) = check {
        return e.into_response();
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) && !is_json(&req) {
        return ApiError::invalid(
            "requests that change something must be sent as Content-Type: application/json",
        )
        .into_response();
    }
    let mut res = next.run(req).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_read_delete_or_ops_and_listings_only_authentication() {
        let get = Method::GET;
        assert_eq!(
            needs(&get, "/streams/order%2D1/events").unwrap(),
            (Some(Permission::Read), Some("order-1".into()), false)
        );
        assert_eq!(
            needs(&Method::POST, "/api/v1/streams/a/delete").unwrap(),
            (Some(Permission::Delete), Some("a".into()), false)
        );
        // Filtered by the handlers to what the caller may read.
        assert_eq!(needs(&get, "/streams").unwrap(), (None, None, false));
        assert_eq!(needs(&get, "/tail").unwrap(), (None, None, false));
        assert_eq!(needs(&get, "/groups").unwrap(), (None, None, true));
        assert_eq!(
            needs(&Method::POST, "/scavenge").unwrap(),
            (None, None, true)
        );
        assert_eq!(needs(&get, "/dashboard").unwrap(), (None, None, false));
        assert!(needs(&get, "/streams/bad%zz/events").is_err());
    }
}
