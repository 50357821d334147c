//! A tower layer that authenticates every request on the port (gRPC and
//! HTTP alike) and puts the [`Caller`] into its extensions, where handlers
//! take it from ([`caller`]) to check permissions.
//!
//! Credentials: `authorization: Basic …` or `Bearer …`, else the client
//! certificate's common name (mTLS, from the connection's [`PeerInfo`]).
//! Open without credentials: gRPC health and reflection, KurrentDB's
//! `Gossip` and `ServerFeatures` (which KurrentDB clients call on connect,
//! before any credentials; they reveal the address and protocol version),
//! `/health/*`, the UI's static files (`/ui`), and `/metrics` when the
//! operator opened it (`--metrics-unauthenticated`).
//!
//! Whole services are checked here by path: `strata.v1.Admin` needs the
//! `ops` role (`Backup` needs `admin`: it copies every stream), the
//! consumer-group management calls need `ops`; a group's `Read` and every
//! per-stream rule are checked by the handlers, which know the streams.
//! Admin calls are audited here (their targets are the whole store).
//!
//! Refusals: gRPC `UNAUTHENTICATED` / `authentication-failed` or
//! `PERMISSION_DENIED` / `access-denied` (trailers-only), HTTP 401 (with
//! `WWW-Authenticate: Basic`, or `Bearer` on the JSON API — see
//! [`basic_challenge`]) or 403 with a JSON body.
//!
//! Not here: verifying credentials and the rules (`domain::security`).

use crate::domain::security::{Caller, Credentials, Need};
use crate::domain::{Error, Node};
use crate::net::PeerInfo;
use base64::Engine as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::codegen::http::{header, HeaderValue, Request, Response, StatusCode};
use tonic::codegen::Service;

/// The caller a request was authenticated as.
pub fn caller<T>(req: &tonic::Request<T>) -> Result<Caller, tonic::Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| crate::api::status::from_domain(Error::AuthenticationFailed))
}

/// Wraps a service; see the module docs.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    node: Arc<Node>,
    metrics_public: bool,
}

impl AuthLayer {
    pub fn new(node: Arc<Node>, metrics_public: bool) -> AuthLayer {
        AuthLayer {
            node,
            metrics_public,
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            node: self.node.clone(),
            metrics_public: self.metrics_public,
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    node: Arc<Node>,
    metrics_public: bool,
}

fn public(path: &str, metrics_public: bool) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.")
        || path.starts_with("/event_store.client.gossip.Gossip/")
        || path.starts_with("/event_store.client.server_features.ServerFeatures/")
        || path.starts_with("/health/")
        || path == "/ui"
        || path.starts_with("/ui/")
        || (metrics_public && path == "/metrics")
}

/// What the path alone requires.
fn path_needs(path: &str) -> Need<'static> {
    match path {
        "/strata.v1.Admin/Backup" => Need::Admin,
        p if p.starts_with("/strata.v1.Admin/") => Need::Ops,
        "/strata.v1.PersistentSubscriptions/Read" => Need::Authenticated,
        p if p.starts_with("/strata.v1.PersistentSubscriptions/") => Need::Ops,
        _ => Need::Authenticated,
    }
}

/// Admin calls audited here, by path.
fn audited(path: &str) -> Option<&'static str> {
    match path {
        "/strata.v1.Admin/StartScavenge" => Some("startScavenge"),
        "/strata.v1.Admin/StopScavenge" => Some("stopScavenge"),
        "/strata.v1.Admin/Backup" => Some("backup"),
        _ => None,
    }
}

fn credentials(headers: &tonic::codegen::http::HeaderMap, peer: Option<&PeerInfo>) -> Credentials {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = v.trim().split_once(' ').unwrap_or((v, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            return match decoded.as_deref().and_then(|s| s.split_once(':')) {
                Some((user, password)) => Credentials::Basic {
                    user: user.to_owned(),
                    password: password.to_owned(),
                },
                None => Credentials::None,
            };
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return Credentials::Bearer(rest.to_owned());
        }
        return Credentials::None;
    }
    match peer.and_then(|p| p.client_cert_name.clone()) {
        Some(name) => Credentials::ClientCertificate(name),
        None => Credentials::None,
    }
}

/// Whether a 401 may challenge with `Basic`: not on the JSON API
/// (`/api/...`), which the admin UI's scripts call — a browser answers a
/// `Basic` challenge, even to `fetch()`, with its own password dialog over
/// the page's login form. The JSON API challenges with `Bearer
/// realm="strata"` instead, which no browser prompts for (and curl or a
/// script sends its credentials unasked anyway). `/metrics` keeps `Basic`.
fn basic_challenge(path: &str) -> bool {
    !path.starts_with("/api/")
}

/// The refusal, in the request's protocol.
fn refusal(grpc: bool, basic: bool, e: Error) -> Response<Body> {
    if grpc {
        return crate::api::status::from_domain(e).into_http::<Body>();
    }
    let (status, kind) = match &e {
        Error::AuthenticationFailed => (
            StatusCode::UNAUTHORIZED,
            strata_proto::wire::kind::AUTHENTICATION_FAILED,
        ),
        _ => (
            StatusCode::FORBIDDEN,
            strata_proto::wire::kind::ACCESS_DENIED,
        ),
    };
    let body = serde_json::json!({ "error": kind, "message": e.to_string() }).to_string();
    let mut resp = Response::new(Body::new(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(if basic {
                "Basic realm=\"strata\""
            } else {
                "Bearer realm=\"strata\""
            }),
        );
    }
    resp
}

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let path = req.uri().path().to_owned();
        if public(&path, self.metrics_public) {
            return Box::pin(self.inner.call(req));
        }
        // The clone is the one that is ready; keep it for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let node = self.node.clone();
        let basic = basic_challenge(&path);
        Box::pin(async move {
            let grpc = req
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
            let peer = req.extensions().get::<PeerInfo>().cloned();
            let creds = credentials(req.headers(), peer.as_ref());
            let caller = match node
                .authenticate(creds, peer.as_ref().and_then(|p| p.addr))
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(path, peer = ?peer.as_ref().and_then(|p| p.addr), "authentication failed");
                    return Ok(refusal(grpc, basic, e));
                }
            };
            if let Err(e) = caller.check(path_needs(&path)) {
                if let Some(action) = audited(&path) {
                    node.audit(&caller, action, "store", "denied").await;
                }
                return Ok(refusal(grpc, basic, e));
            }
            req.extensions_mut().insert(caller.clone());
            let resp = inner.call(req).await?;
            if let Some(action) = audited(&path) {
                let outcome = match resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                {
                    Some("0") | None => "ok".to_owned(),
                    Some(code) => format!("failed: grpc-status {code}"),
                };
                node.audit(&caller, action, "store", &outcome).await;
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codegen::http::HeaderMap;

    #[test]
    fn credentials_come_from_the_header_before_the_certificate() {
        let mut h = HeaderMap::new();
        let peer = PeerInfo {
            addr: None,
            client_cert_name: Some("cn-user".into()),
            tls: true,
        };
        assert_eq!(
            credentials(&h, Some(&peer)),
            Credentials::ClientCertificate("cn-user".into())
        );
        h.insert(
            header::AUTHORIZATION,
            "Basic YW5uOnMzY3I6ZXQ=".parse().unwrap(),
        );
        assert_eq!(
            credentials(&h, Some(&peer)),
            Credentials::Basic {
                user: "ann".into(),
                password: "s3cr:et".into()
            }
        );
        h.insert(header::AUTHORIZATION, "bearer strata_abc".parse().unwrap());
        assert_eq!(
            credentials(&h, None),
            Credentials::Bearer("strata_abc".into())
        );
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(credentials(&h, None), Credentials::None);
    }

    #[test]
    fn the_json_api_is_not_challenged_with_basic() {
        assert!(basic_challenge("/metrics"));
        assert!(!basic_challenge("/api/v1/me"));
        let r = refusal(false, false, Error::AuthenticationFailed);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"strata\""
        );
    }

    #[test]
    fn health_and_the_ui_are_open_and_admin_calls_need_roles() {
        assert!(public("/grpc.health.v1.Health/Check", false));
        assert!(public("/health/ready", false));
        assert!(!public("/metrics", false) && public("/metrics", true));
        assert!(!public("/strata.v1.Streams/Append", true));
        assert_eq!(path_needs("/strata.v1.Admin/StartScavenge"), Need::Ops);
        assert_eq!(path_needs("/strata.v1.Admin/Backup"), Need::Admin);
        assert_eq!(
            path_needs("/strata.v1.PersistentSubscriptions/Create"),
            Need::Ops
        );
        assert_eq!(
            path_needs("/strata.v1.PersistentSubscriptions/Read"),
            Need::Authenticated
        );
        assert_eq!(path_needs("/strata.v1.Streams/Read"), Need::Authenticated);
    }
}
