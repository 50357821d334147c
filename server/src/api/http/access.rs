//! The one gate every JSON API request (`/api/v1/...`) passes, as a single
//! axum middleware layered over the whole API in `v1::router`: the place
//! where authentication and authorization checks go.
//!
//! Today it:
//!
//! - refuses, with `400` / `invalid-request`, a request that changes
//!   something (any method but `GET`/`HEAD`) unless it is
//!   `Content-Type: application/json`. A browser only sends such a request
//!   cross-origin after a CORS preflight, which this server never grants,
//!   so another site open in the operator's browser cannot delete streams
//!   or start scavenges on a server it can reach (cross-site request
//!   forgery); the UI and scripts send JSON anyway;
//! - marks every answer `Cache-Control: no-store`.
//!
//! When authentication lands (the security work), this is where the JSON
//! API gets it, once: the credentials (an `Authorization` header, a
//! session cookie) are decoded here — or, if the whole port authenticates
//! every request in one tower layer, here is where the JSON API requires
//! the caller that layer put into the request's extensions — and a refusal
//! is `401`/`403` through `errors::ApiError` (kinds `authentication-failed`
//! / `access-denied`). Handlers then take the caller from the extensions
//! and hand it to the `Node` operations, whose permission checks live in
//! `domain`. No handler needs a gate of its own; the UI's static files and
//! the probes stay outside it.
//!
//! Not here: the rules of who may do what (`domain`), routing (`v1`).

use super::errors::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The gate (an `axum::middleware::from_fn` function).
pub async fn gate(req: Request, next: Next) -> Response {
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
