//! The admin web UI's files, embedded in the binary at build time
//! (`include_bytes!` of `server/ui/`: one HTML page, one stylesheet, plain
//! JavaScript modules — no bundler, no build step, nothing fetched from
//! elsewhere at run time), served at `/ui/`:
//!
//! - `GET /` and `GET /ui` redirect to `/ui/`; `GET /ui/` is the page,
//!   `GET /ui/<file>` a file of [`ASSETS`], anything else `404`;
//! - every answer has an `ETag` (a hash of the bytes; `If-None-Match`
//!   gets `304`), `Cache-Control: no-cache` (revalidate: a new binary
//!   serves new files at once), and a Content-Security-Policy allowing
//!   only this origin's scripts, styles and connections — event data is
//!   shown as text, never as markup, and could not load anything anyway.
//!
//! The page talks to the JSON API (`v1`); it has no state on the server.
//!
//! Not here: the JSON API, the page's code (`server/ui/`, whose
//! `README.md` is the map of its modules).

use axum::extract::{Path, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::sync::OnceLock;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Path under `/ui/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../../../ui/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the UI.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/app.js", JS),
    asset!("js/api.js", JS),
    asset!("js/access.js", JS),
    asset!("js/login.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/format.js", JS),
    asset!("js/payload.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/dashboard.js", JS),
    asset!("js/streams.js", JS),
    asset!("js/stream.js", JS),
    asset!("js/tail.js", JS),
    asset!("js/groups.js", JS),
    asset!("js/scavenge.js", JS),
];

/// The policy of every UI answer: this origin only, no inline code, no
/// framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The UI's routes.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route(
            "/ui/",
            get(|req: Request| async move { serve("index.html", &req) }),
        )
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>, req: Request| async move { serve(&path, &req) }),
        )
}

/// FNV-1a of each asset's bytes, as a quoted `ETag`.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let h = a.body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                format!("\"{h:016x}\"")
            })
            .collect()
    })
}

fn serve(path: &str, req: &Request) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if fresh {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (StatusCode::OK, headers, asset.body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_there_once_and_the_page_links_only_embedded_files() {
        let mut paths: Vec<_> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
        }
        // Every module the page imports is embedded (a missing one would
        // only show in a browser).
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let file = line
                    .rsplit_once("from \"./")
                    .map(|(_, f)| f.trim_end_matches("\";"))
                    .unwrap_or_else(|| panic!("{}: unexpected import {line:?}", a.path));
                let path = format!("js/{file}");
                assert!(
                    paths.contains(&path.as_str()),
                    "{} imports {path}, not embedded",
                    a.path
                );
            }
        }
        let etags = etags();
        assert_eq!(etags.len(), ASSETS.len());
    }
}
