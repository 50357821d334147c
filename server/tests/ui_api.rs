//! The admin UI's HTTP side against the real binary, without a browser:
//! the embedded files (types, ETags, the security policy), and the JSON
//! API — stream listing and paging, events newest first, one event, the
//! payload encodings, metadata, snapshots, delete and tombstone with an
//! expected revision, the error bodies with the gRPC API's kinds, the
//! cross-site rule for requests that change something, the live tail over
//! Server-Sent Events, groups, scavenges and the dashboard.
//! (`scripts/tests/ui_test.py` drives the pages in headless Chromium.)

mod common;

use common::Server;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use strata_client::{EventData, ExpectedRevision, SnapshotData};

/// An HTTP/1.1 answer.
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

fn read_head(r: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    (status, headers)
}

/// One request on a fresh connection (`Connection: close`).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r);
    let mut raw = Vec::new();
    r.read_to_end(&mut raw).unwrap();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(&raw) } else { raw };
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let n =
            usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&raw[end + 2..end + 2 + n]);
        raw = &raw[end + 4 + n..];
    }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    http(addr, "GET", path, &[], "")
}

fn post(addr: SocketAddr, path: &str, body: Value) -> Answer {
    http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
}

#[tokio::test]
async fn the_ui_is_embedded_and_served_with_a_strict_policy() {
    let server = Server::start();
    let root = get(server.addr, "/");
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), Some("/ui/"));
    assert_eq!(get(server.addr, "/ui").header("location"), Some("/ui/"));
    let page = get(server.addr, "/ui/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        String::from_utf8_lossy(&page.body).contains("<script type=\"module\" src=\"js/app.js\">")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

    let js = get(server.addr, "/ui/js/app.js");
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let etag = js.header("etag").unwrap().to_owned();
    let again = http(
        server.addr,
        "GET",
        "/ui/js/app.js",
        &[("If-None-Match", &etag)],
        "",
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(
        get(server.addr, "/ui/app.css").header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(get(server.addr, "/ui/nothing.js").status, 404);
    assert_eq!(get(server.addr, "/ui/../Cargo.toml").status, 404);
}

#[tokio::test]
async fn streams_events_metadata_snapshots_and_deletes() {
    let server = Server::start();
    let client = server.client().await;
    let a = server.addr;
    for name in ["web-a", "web-b", "web-c/ü x", "other-1"] {
        client
            .append(
                name,
                ExpectedRevision::NoStream,
                common::events("Seeded", name, 1),
            )
            .await
            .unwrap();
    }
    // JSON as the application wrote it: keys not in order, a number past 2^64.
    let mut placed = EventData::binary(
        "OrderPlaced",
        br#"{"z": 1, "a": [1, 2], "big": 123456789012345678901234567890}"#.to_vec(),
    );
    placed.content_type = "application/json".into();
    let evs = vec![placed, EventData::binary("Binary", vec![0, 0xff, 0x10])];
    client
        .append("web-a", ExpectedRevision::Exact(0), evs)
        .await
        .unwrap();
    for i in 0..30 {
        client
            .append(
                "web-b",
                ExpectedRevision::Any,
                common::events("Tick", &format!("t{i}"), 1),
            )
            .await
            .unwrap();
    }

    // The listing by prefix, two to a page.
    let p1 = get(a, "/api/v1/streams?prefix=web-&limit=2").json();
    let names: Vec<_> = p1["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("web-a"), json!("web-b")]);
    assert_eq!(p1["streams"][0]["revision"], 2);
    assert_eq!(p1["next_after"], "web-b");
    let p2 = get(a, "/api/v1/streams?prefix=web-&limit=2&after=web-b").json();
    assert_eq!(p2["streams"][0]["name"], "web-c/ü x");
    assert_eq!(p2["next_after"], Value::Null);

    // Events newest first, paged; a name with '/', a space and 'ü'.
    let page = get(a, "/api/v1/streams/web-b/events?limit=20").json();
    let revs: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revs, (11..=30).rev().collect::<Vec<_>>());
    assert_eq!(page["next_from"], 10);
    let last = get(a, "/api/v1/streams/web-b/events?limit=20&from=10").json();
    assert_eq!(last["events"].as_array().unwrap().len(), 11);
    assert_eq!(last["next_from"], Value::Null);
    let fwd = get(a, "/api/v1/streams/web-b/events?direction=forwards&limit=2").json();
    assert_eq!(fwd["events"][0]["revision"], 0);
    assert_eq!(fwd["next_from"], 2);
    let odd = get(a, "/api/v1/streams/web-c%2F%C3%BC%20x/events").json();
    assert_eq!(odd["events"][0]["stream"], "web-c/ü x");

    // Payloads: JSON as its own text (order and big numbers kept), bytes as hex.
    let e = &get(a, "/api/v1/streams/web-a/events").json()["events"];
    assert_eq!(e[0]["type"], "Binary");
    assert_eq!(e[0]["data"], json!({"hex": "00ff10", "bytes": 3}));
    assert_eq!(e[1]["type"], "OrderPlaced");
    assert_eq!(e[1]["content_type"], "application/json");
    let text = e[1]["data"]["text"].as_str().unwrap();
    assert!(text.contains("123456789012345678901234567890"), "{text}");
    assert!(
        text.find("\"z\"").unwrap() < text.find("\"a\"").unwrap(),
        "{text}"
    );
    assert_eq!(
        e[1]["position"].as_u64().unwrap() + 1,
        e[0]["position"].as_u64().unwrap()
    );
    assert!(uuid::Uuid::parse_str(e[1]["id"].as_str().unwrap()).is_ok());
    let one = get(a, "/api/v1/streams/web-a/events/1").json();
    assert_eq!(one["event"]["type"], "OrderPlaced");
    assert_eq!(
        get(a, "/api/v1/streams/web-a/events/99").json(),
        json!({"event": null})
    );

    // Metadata and snapshots.
    let m = get(a, "/api/v1/streams/web-a/metadata").json();
    assert_eq!(
        (m["deleted"].clone(), m["max_count"].clone()),
        (json!(false), Value::Null)
    );
    client
        .save_snapshot(
            "web-a",
            1,
            SnapshotData::new("State", 3, b"{\"n\":1}".to_vec()),
        )
        .await
        .unwrap();
    let snaps = get(a, "/api/v1/streams/web-a/snapshots").json();
    assert_eq!(snaps["snapshots"][0]["revision"], 1);
    assert_eq!(snaps["snapshots"][0]["schema_version"], 3);
    assert_eq!(snaps["snapshots"][0]["data"]["text"], "{\"n\":1}");
    assert_eq!(
        get(a, "/api/v1/streams/web-b/snapshots").json()["snapshots"],
        json!([])
    );

    // Errors carry the gRPC API's kinds.
    let missing = get(a, "/api/v1/streams/nope/events");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "stream-not-found");
    assert_eq!(missing.header("cache-control"), Some("no-store"));
    let bad = get(a, "/api/v1/streams?limit=many");
    assert_eq!(
        (bad.status, bad.json()["error"].clone()),
        (400, json!("invalid-request"))
    );
    let reserved = get(a, "/api/v1/streams/$secret/events");
    assert_eq!(reserved.status, 403);
    assert_eq!(reserved.json()["error"], "reserved-stream-name");
    assert_eq!(get(a, "/api/v1/nowhere").status, 404);

    // Changes need a JSON body (a cross-site form cannot send one).
    let form = http(
        a,
        "POST",
        "/api/v1/streams/web-a/delete",
        &[("Content-Type", "text/plain")],
        "{}",
    );
    assert_eq!(
        (form.status, form.json()["error"].clone()),
        (400, json!("invalid-request"))
    );
    // A stale expected revision is refused with the actual one.
    let stale = post(
        a,
        "/api/v1/streams/web-a/delete",
        json!({"expected_revision": 1}),
    );
    assert_eq!(stale.status, 409);
    let body = stale.json();
    assert_eq!(body["error"], "wrong-expected-revision");
    assert_eq!(body["actual_revision"], 2);
    assert_eq!(body["stream"], "web-a");
    let del = post(
        a,
        "/api/v1/streams/web-a/delete",
        json!({"expected_revision": 2}),
    );
    assert_eq!(del.status, 200, "{}", String::from_utf8_lossy(&del.body));
    assert_eq!(del.json()["tombstoned"], false);
    assert_eq!(
        get(a, "/api/v1/streams/web-a/metadata").json()["deleted"],
        true
    );
    assert_eq!(
        get(a, "/api/v1/streams/web-a/events").json()["error"],
        "stream-deleted"
    );
    let tomb = post(
        a,
        "/api/v1/streams/other-1/delete",
        json!({"tombstone": true}),
    );
    assert_eq!(tomb.status, 200);
    assert_eq!(
        get(a, "/api/v1/streams/other-1/metadata").json()["tombstoned"],
        true
    );
    let again = post(a, "/api/v1/streams/other-1/delete", json!({}));
    assert_eq!(
        (again.status, again.json()["error"].clone()),
        (409, json!("stream-tombstoned"))
    );
}

/// Reads SSE frames until `until` holds for one; every frame seen.
fn frames_until(
    r: &mut impl BufRead,
    deadline: Instant,
    until: impl Fn(&str) -> bool,
) -> Vec<String> {
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

/// An SSE request over HTTP/1.0, so that the body comes unchunked.
fn open_tail(addr: SocketAddr, path: &str, last_event_id: Option<u64>) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let resume = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{resume}\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r);
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(n, v)| n == "content-type" && v == "text/event-stream"));
    r
}

#[tokio::test]
async fn the_live_tail_streams_new_events_filtered_and_resumes() {
    let server = Server::start();
    let client = server.client().await;
    client
        .append(
            "old-1",
            ExpectedRevision::Any,
            common::events("Old", "o", 1),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut r = open_tail(
        server.addr,
        "/api/v1/tail?types=Wanted&prefixes=tail-",
        None,
    );
    frames_until(&mut r, deadline, |f| f.starts_with("event: caught-up"));
    let t0 = Instant::now();
    client
        .append(
            "tail-1",
            ExpectedRevision::Any,
            common::events("Unwanted", "u", 1),
        )
        .await
        .unwrap();
    client
        .append(
            "nottail-1",
            ExpectedRevision::Any,
            common::events("Wanted", "n", 1),
        )
        .await
        .unwrap();
    let r1 = client
        .append(
            "tail-1",
            ExpectedRevision::Any,
            common::events("Wanted", "w", 1),
        )
        .await
        .unwrap();
    let seen = frames_until(&mut r, deadline, |f| f.starts_with("event: events"));
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    let events_frame = seen.last().unwrap();
    let data = events_frame
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let events: Value = serde_json::from_str(data).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events[0]["stream"], "tail-1");
    assert_eq!(events[0]["type"], "Wanted");
    assert_eq!(events[0]["data"]["text"], "w-0");
    assert!(
        events_frame.contains(&format!("id: {}\n", r1.last_position)),
        "{events_frame}"
    );
    drop(r);

    // EventSource's reconnect: Last-Event-ID resumes after that position.
    client
        .append(
            "tail-2",
            ExpectedRevision::Any,
            common::events("Wanted", "later", 1),
        )
        .await
        .unwrap();
    let mut r = open_tail(
        server.addr,
        "/api/v1/tail?types=Wanted",
        Some(r1.last_position),
    );
    let seen = frames_until(&mut r, deadline, |f| f.starts_with("event: events"));
    assert!(
        seen.last().unwrap().contains("\"stream\":\"tail-2\""),
        "{seen:?}"
    );

    let bad = get(server.addr, "/api/v1/tail?after=x");
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn groups_scavenges_and_the_dashboard() {
    let server = Server::start();
    let client = server.client().await;
    let a = server.addr;
    assert_eq!(get(a, "/api/v1/groups").json(), json!({"groups": []}));
    let missing = get(a, "/api/v1/groups/nope");
    assert_eq!(
        (missing.status, missing.json()["error"].clone()),
        (404, json!("group-not-found"))
    );
    let replay = post(a, "/api/v1/groups/nope/replay-parked", json!({}));
    assert_eq!(replay.json()["error"], "group-not-found");

    let none = get(a, "/api/v1/scavenge");
    assert_eq!(
        (none.status, none.json()["error"].clone()),
        (404, json!("scavenge-not-found"))
    );
    client
        .append("s-1", ExpectedRevision::Any, common::events("E", "s", 10))
        .await
        .unwrap();
    let started = post(a, "/api/v1/scavenge", json!({"max_bytes_per_second": null}));
    assert_eq!(started.status, 200);
    let id = started.json()["id"].as_str().unwrap().to_owned();
    common::eventually(
        Duration::from_secs(20),
        "the scavenge to finish",
        || async { (get(a, "/api/v1/scavenge").json()["state"] == "completed").then_some(()) },
    )
    .await;
    let history = get(a, "/api/v1/streams/$scavenges/events").json();
    assert_eq!(history["events"][0]["type"], "$scavengeCompleted");
    assert!(history["events"][0]["data"]["text"]
        .as_str()
        .unwrap()
        .contains(&id));

    // Two samples a second apart are needed for a rate.
    let d = common::eventually(Duration::from_secs(10), "throughput samples", || async {
        let d = get(a, "/api/v1/dashboard").json();
        (!d["rates"]["samples"].as_array().unwrap().is_empty()).then_some(d)
    })
    .await;
    assert_eq!(d["ready"], true);
    assert_eq!(d["readiness"], "ready");
    assert!(d["head"].as_u64().unwrap() >= 12, "{d}");
    assert!(d["disk"]["free_bytes"].as_u64().unwrap() > 0);
    assert!(d["disk"]["segments"].as_u64().unwrap() >= 1);
    assert_eq!(d["latency"]["append_ms"]["count"], 1, "{d}");
    assert!(
        d["latency"]["append_ms"]["p50"].as_f64().unwrap() > 0.0,
        "{d}"
    );
    assert!(
        d["latency"]["fsync_ms"]["count"].as_u64().unwrap() >= 1,
        "{d}"
    );
    assert_eq!(d["latency"]["window_seconds"], Value::Null);
    assert_eq!(d["subscriptions"], json!({"live": 0.0, "catching_up": 0.0}));
    assert_eq!(d["scavenge"]["id"], id.as_str());
    assert_eq!(d["rates"]["interval_ms"], 1000);
}
