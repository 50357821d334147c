//! The admin UI's JSON API with authentication on, against the real
//! binary: `GET /api/v1/me` (who the caller is, its roles and grants — what
//! the UI offers), 401s that challenge with `Bearer`, not `Basic` (so a
//! browser never opens its own login dialog over the UI's), the stream
//! list and the live tail showing only what the caller may read, refusals
//! of what it may not do, and the UI's actions audited with the caller's
//! name. (`scripts/tests/ui_test.py` drives the login page in Chromium;
//! `ui_api.rs` covers the API without authentication.)

mod common;

use base64::Engine as _;
use common::Server;
use futures::TryStreamExt;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use strata_client::{Client, EventData, ExpectedRevision, Permission, ReadOptions, RetryPolicy};

const ROOT_PASSWORD: &str = "root-password-1";
const READER_PASSWORD: &str = "reader-password-1";

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

fn basic(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

/// Sends one HTTP/1.0 request (the body comes unchunked, and ends with the
/// connection); returns the reader positioned after the headers.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut hs = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        hs.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    (status, hs, r)
}

fn http(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>, body: &str) -> Answer {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    let (status, headers, mut r) = send(addr, method, path, &headers, body);
    let mut body = Vec::new();
    r.read_to_end(&mut body).unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

fn get(addr: SocketAddr, path: &str, auth: &str) -> Answer {
    http(addr, "GET", path, Some(auth), "")
}

fn names(listing: &Answer) -> Vec<String> {
    let body = listing.json();
    body["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn as_user(server: &Server, user: &str, password: &str) -> Client {
    Client::builder(server.url())
        .basic_auth(user, password)
        .retry_policy(RetryPolicy::none())
        .connect()
        .await
        .unwrap()
}

fn one(ty: &str) -> Vec<EventData> {
    vec![EventData::json(ty, &json!({"n": 1})).unwrap()]
}

/// A server with authentication on: `root` (admin), and `reader` with read
/// and subscribe on `shared-`.
async fn secured() -> (Server, Client, String) {
    let server = Server::start();
    let anon = server.client_no_retry().await;
    anon.add_user("root", ROOT_PASSWORD, &["admin"])
        .await
        .unwrap();
    let root = as_user(&server, "root", ROOT_PASSWORD).await;
    root.add_user("reader", READER_PASSWORD, &[]).await.unwrap();
    let grant = root
        .grant(
            "user:reader",
            "shared-",
            &[Permission::Read, Permission::Subscribe],
        )
        .await
        .unwrap();
    (server, root, grant.id)
}

#[tokio::test]
async fn me_says_what_the_caller_may_do_and_no_browser_dialog_is_asked_for() {
    let server = Server::start();
    // Without authentication: an anonymous admin, as the UI has always had.
    let me = http(server.addr, "GET", "/api/v1/me", None, "");
    assert_eq!(
        me.json(),
        json!({"name": "anonymous", "authenticated": false, "roles": ["admin"],
               "auth_enabled": false, "admin": true, "ops": true, "grants": []})
    );
    drop(server);

    let (server, root, _) = secured().await;
    let addr = server.addr;
    let root_auth = basic("root", ROOT_PASSWORD);
    let reader_auth = basic("reader", READER_PASSWORD);
    // No credentials: 401 with the JSON body the login page shows, and a
    // challenge no browser answers with its own password dialog (not
    // Basic), whoever asks; /metrics keeps Basic.
    for headers in [
        &[][..],
        &[("Sec-Fetch-Mode", "cors")][..],
        &[("Sec-Fetch-Mode", "navigate")][..],
    ] {
        let (status, hs, mut r) = send(addr, "GET", "/api/v1/me", headers, "");
        let mut body = String::new();
        r.read_to_string(&mut body).unwrap();
        assert_eq!(status, 401);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "authentication-failed");
        let challenge = hs.iter().find(|(n, _)| n == "www-authenticate");
        assert_eq!(
            challenge.map(|(_, v)| v.as_str()),
            Some("Bearer realm=\"strata\""),
            "{headers:?}"
        );
    }
    let metrics = http(addr, "GET", "/metrics", None, "");
    assert_eq!(metrics.status, 401);
    assert_eq!(
        metrics.header("www-authenticate"),
        Some("Basic realm=\"strata\"")
    );
    let wrong = get(addr, "/api/v1/me", &basic("root", "not-it"));
    assert_eq!(
        (wrong.status, wrong.json()["error"].clone()),
        (401, json!("authentication-failed"))
    );
    // The UI's files and the probes need no credentials.
    assert_eq!(http(addr, "GET", "/ui/js/login.js", None, "").status, 200);
    assert_eq!(http(addr, "GET", "/health/ready", None, "").status, 200);

    assert_eq!(
        get(addr, "/api/v1/me", &root_auth).json(),
        json!({"name": "root", "authenticated": true, "roles": ["admin"],
               "auth_enabled": true, "admin": true, "ops": true, "grants": []})
    );
    assert_eq!(
        get(addr, "/api/v1/me", &reader_auth).json(),
        json!({"name": "reader", "authenticated": true, "roles": [],
               "auth_enabled": true, "admin": false, "ops": false,
               "grants": [{"prefix": "shared-", "permissions": ["read", "subscribe"]}]})
    );
    // A bearer token signs in as its user.
    let reader = as_user(&server, "reader", READER_PASSWORD).await;
    let token = reader.create_token("", None, "ui").await.unwrap().token;
    let by_token = get(addr, "/api/v1/me", &format!("Bearer {token}"));
    assert_eq!(by_token.json()["name"], "reader");
    root.append("shared-1", ExpectedRevision::Any, one("T"))
        .await
        .unwrap();

    // What the UI hides, the server refuses.
    for (method, path, body) in [
        ("GET", "/api/v1/streams/secret-1/events", ""),
        ("POST", "/api/v1/streams/shared-1/delete", "{}"),
        ("GET", "/api/v1/groups", ""),
        ("GET", "/api/v1/scavenge", ""),
        ("POST", "/api/v1/scavenge", "{}"),
        ("GET", "/api/v1/streams/%24scavenges/events", ""),
    ] {
        let a = http(addr, method, path, Some(&reader_auth), body);
        assert_eq!(
            (a.status, a.json()["error"].clone()),
            (403, json!("access-denied")),
            "{method} {path}"
        );
    }
    assert_eq!(
        get(addr, "/api/v1/streams/shared-1/events", &reader_auth).status,
        200
    );
    // The dashboard leaves out what needs ops.
    let dash = get(addr, "/api/v1/dashboard", &reader_auth).json();
    assert_eq!(
        (&dash["groups"], &dash["scavenge"]),
        (&Value::Null, &Value::Null)
    );
    assert!(dash["head"].as_u64().unwrap() > 0, "{dash}");
    let dash = get(addr, "/api/v1/dashboard", &root_auth).json();
    assert!(dash["groups"].is_array(), "{dash}");
}

#[tokio::test]
async fn the_stream_list_shows_only_readable_streams_page_by_page() {
    let (server, root, _) = secured().await;
    let addr = server.addr;
    // Readable streams scattered among many that are not.
    for i in 0..40 {
        root.append(&format!("a-{i:02}"), ExpectedRevision::Any, one("T"))
            .await
            .unwrap();
    }
    for s in ["shared-1", "shared-2", "shared-3", "zz-1"] {
        root.append(s, ExpectedRevision::Any, one("T"))
            .await
            .unwrap();
    }
    let reader_auth = basic("reader", READER_PASSWORD);
    let first = get(addr, "/api/v1/streams?limit=2", &reader_auth);
    assert_eq!(names(&first), ["shared-1", "shared-2"]);
    assert_eq!(first.json()["next_after"], "shared-2");
    let second = get(addr, "/api/v1/streams?limit=2&after=shared-2", &reader_auth);
    assert_eq!(names(&second), ["shared-3"]);
    assert_eq!(second.json()["next_after"], Value::Null);
    let all = get(
        addr,
        "/api/v1/streams?limit=100",
        &basic("root", ROOT_PASSWORD),
    );
    assert_eq!(names(&all).len(), 44, "an admin sees every stream");
    let none = get(addr, "/api/v1/streams?prefix=a-", &reader_auth);
    assert_eq!(names(&none), Vec::<String>::new());
    assert_eq!(none.json()["next_after"], Value::Null);
}

/// Reads SSE frames until one satisfies `until`; every frame seen.
fn frames_until(r: &mut impl BufRead, until: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    let mut frame = String::new();
    while Instant::now() < deadline {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            if !frame.is_empty() {
                let done = until(&frame);
                seen.push(std::mem::take(&mut frame));
                if done {
                    return seen;
                }
            }
        } else {
            frame.push_str(l);
            frame.push('\n');
        }
    }
    panic!("no such frame; saw {seen:?}");
}

#[tokio::test]
async fn the_tail_shows_granted_streams_only_and_ends_when_the_grant_goes() {
    let (server, root, grant) = secured().await;
    let reader_auth = basic("reader", READER_PASSWORD);
    let (status, _, _) = send(
        server.addr,
        "GET",
        "/api/v1/tail",
        &[("Accept", "text/event-stream")],
        "",
    );
    assert_eq!(status, 401, "the tail needs credentials too");
    let (status, headers, mut r) = send(
        server.addr,
        "GET",
        "/api/v1/tail",
        &[
            ("Accept", "text/event-stream"),
            ("Authorization", &reader_auth),
        ],
        "",
    );
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(n, v)| n == "content-type" && v == "text/event-stream"));
    frames_until(&mut r, |f| f.starts_with("event: caught-up"));
    root.append("secret-1", ExpectedRevision::Any, one("Secret"))
        .await
        .unwrap();
    root.append("shared-1", ExpectedRevision::Any, one("Shared"))
        .await
        .unwrap();
    let seen = frames_until(&mut r, |f| f.contains("\"stream\":\"shared-1\""));
    assert!(
        !seen.iter().any(|f| f.contains("secret-1")),
        "only granted streams: {seen:?}"
    );
    root.revoke_grant(&grant).await.unwrap();
    let seen = frames_until(&mut r, |f| f.starts_with("event: failure"));
    assert!(
        seen.last().unwrap().contains("access-denied"),
        "{:?}",
        seen.last()
    );
}

#[tokio::test]
async fn the_uis_actions_are_audited_with_the_callers_name() {
    let (server, root, _) = secured().await;
    let root_auth = basic("root", ROOT_PASSWORD);
    root.append("doomed", ExpectedRevision::Any, one("T"))
        .await
        .unwrap();
    let del = http(
        server.addr,
        "POST",
        "/api/v1/streams/doomed/delete",
        Some(&root_auth),
        r#"{"tombstone": true}"#,
    );
    assert_eq!(del.status, 200, "{}", String::from_utf8_lossy(&del.body));
    let started = http(
        server.addr,
        "POST",
        "/api/v1/scavenge",
        Some(&root_auth),
        "{}",
    );
    assert_eq!(started.status, 200);
    let audit: Vec<Value> = root
        .read_stream("$audit", ReadOptions::forwards())
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::from_slice(&e.data).unwrap())
        .collect();
    let find = |action: &str| {
        audit
            .iter()
            .find(|a| a["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {audit:#?}"))
            .clone()
    };
    let tomb = find("tombstoneStream");
    assert_eq!(
        (&tomb["user"], &tomb["target"], &tomb["outcome"]),
        (&json!("root"), &json!("doomed"), &json!("ok"))
    );
    assert_eq!(find("startScavenge")["user"], "root");
}
