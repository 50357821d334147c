//! Observability against the real binary: `/metrics` counts exactly the
//! work clients did and its histograms are well-formed; both exposition
//! formats are served by negotiation; the health probes answer over plain
//! HTTP/1.1 on the gRPC port; readiness and gRPC health follow a full disk
//! and come back when it frees.

mod common;

use common::{error_kind, http_get, raw_event, Server, Tmpfs};
use std::collections::HashMap;
use std::time::Duration;
use strata_client::{GroupSettings, GroupSource, GroupStart};
use strata_proto::v1 as pb;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const WAIT: Duration = Duration::from_secs(20);
const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every sample of a classic-format exposition: `name{labels}` → value.
/// Checks the format's shape on the way (every sample follows a TYPE).
fn parse(text: &str) -> HashMap<String, f64> {
    let mut typed = std::collections::HashSet::new();
    let mut out = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect("sample line");
        let name = key.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| typed.contains(*f))
            .unwrap_or(name);
        assert!(typed.contains(family), "{name} has no TYPE line");
        out.insert(key.to_owned(), value.parse().expect("a number"));
    }
    out
}

fn scrape(server: &Server) -> HashMap<String, f64> {
    let r = http_get(server.addr, "/metrics", "*/*");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some(CLASSIC));
    parse(&r.body)
}

fn get(m: &HashMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("{key} missing from /metrics"))
}

/// Buckets cumulative and ascending, `+Inf` equal to `_count`.
fn assert_histogram(m: &HashMap<String, f64>, name: &str) {
    let mut buckets: Vec<(f64, f64)> = m
        .iter()
        .filter_map(|(k, v)| {
            let le = k.strip_prefix(&format!("{name}_bucket{{le=\""))?;
            let le = le.strip_suffix("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            Some((le, *v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 2, "{name}: too few buckets");
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "{name}: not cumulative: {buckets:?}"
    );
    assert_eq!(buckets.last().unwrap().0, f64::INFINITY);
    assert_eq!(
        buckets.last().unwrap().1,
        get(m, &format!("{name}_count")),
        "{name}: +Inf != _count"
    );
}

fn append_req(
    stream: &str,
    n: usize,
    expected: pb::append_request::ExpectedRevision,
) -> pb::AppendRequest {
    pb::AppendRequest {
        stream: stream.into(),
        expected_revision: Some(expected),
        events: (0..n)
            .map(|i| raw_event("T", format!("{i:04}").as_bytes()))
            .collect(),
    }
}

#[tokio::test]
async fn metrics_count_exactly_the_appends_reads_subscriptions_and_snapshots_done() {
    use pb::append_request::ExpectedRevision as E;
    let server = Server::start();
    let mut raw = server.raw().await;
    let before = scrape(&server);
    for key in [
        "strata_append_requests_total{outcome=\"ok\"}",
        "strata_append_requests_total{outcome=\"conflict\"}",
        "strata_reads_total{kind=\"stream\"}",
        "strata_subscriptions{phase=\"live\"}",
        "strata_poisoned",
        "strata_disk_free_bytes",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
    ] {
        assert!(get(&before, key).is_finite(), "{key}");
    }

    // 3 appends of 10 events (4-byte bodies), one conflict, one retry.
    let mut first = None;
    for i in 0..3 {
        let req = append_req("metered", 10, E::Any(pb::Empty {}));
        if i == 0 {
            first = Some(req.clone());
        }
        raw.append(req).await.unwrap();
    }
    let st = raw
        .append(append_req("metered", 1, E::NoStream(pb::Empty {})))
        .await
        .unwrap_err();
    assert_eq!(error_kind(&st).as_deref(), Some("wrong-expected-revision"));
    raw.append(first.unwrap()).await.unwrap();
    // Two reads: the stream (30 events) and `$all` from the end (none).
    let read = |stream: &str, from_end: bool| pb::ReadRequest {
        stream: stream.into(),
        from: Some(if from_end {
            pb::read_request::From::End(pb::Empty {})
        } else {
            pb::read_request::From::Start(pb::Empty {})
        }),
        ..Default::default()
    };
    let got = common::read_raw(&mut raw, read("metered", false))
        .await
        .unwrap();
    assert_eq!(got.len(), 30);
    common::read_raw(&mut raw, read("$all", true))
        .await
        .unwrap();
    // A subscription that catches up and stays open.
    let mut sub = raw
        .subscribe(pb::SubscribeRequest {
            stream: "metered".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    loop {
        let m = sub.message().await.unwrap().unwrap();
        if matches!(
            m.content,
            Some(pb::subscribe_response::Content::CaughtUp(_))
        ) {
            break;
        }
    }
    // A snapshot saved, one hit, one miss.
    let mut snaps = server.raw_snapshots().await;
    snaps
        .save_snapshot(pb::SaveSnapshotRequest {
            stream: "metered".into(),
            revision: 29,
            r#type: "T".into(),
            schema_version: 1,
            data: b"state".to_vec(),
            metadata: Vec::new(),
        })
        .await
        .unwrap();
    let get_snap = |stream: &str| pb::GetSnapshotRequest {
        stream: stream.into(),
        at_or_before_revision: None,
    };
    snaps.get_snapshot(get_snap("metered")).await.unwrap();
    snaps.get_snapshot(get_snap("unsnapped")).await.unwrap_err();
    // A consumer group on the stream.
    let client = server.client().await;
    client
        .create_group(
            "metered-group",
            GroupSource::Stream("metered".into()),
            GroupStart::Start,
            GroupSettings::new(),
        )
        .await
        .unwrap();

    let after = common::eventually(WAIT, "the group to see the stream", || async {
        let m = scrape(&server);
        (m.contains_key("strata_group_lag_events{group=\"metered-group\"}")
            && get(&m, "strata_subscriptions{phase=\"live\"}") >= 1.0)
            .then_some(m)
    })
    .await;
    let delta = |key: &str| get(&after, key) - before.get(key).copied().unwrap_or(0.0);
    assert_eq!(delta("strata_append_requests_total{outcome=\"ok\"}"), 3.0);
    assert_eq!(
        delta("strata_append_requests_total{outcome=\"duplicate\"}"),
        1.0
    );
    assert_eq!(
        delta("strata_append_requests_total{outcome=\"conflict\"}"),
        1.0
    );
    assert_eq!(
        delta("strata_append_requests_total{outcome=\"invalid\"}"),
        0.0
    );
    assert_eq!(delta("strata_appended_events_total"), 30.0);
    assert_eq!(delta("strata_appended_bytes_total"), 30.0 * 4.0);
    assert_eq!(delta("strata_append_duration_seconds_count"), 5.0);
    assert_eq!(delta("strata_reads_total{kind=\"stream\"}"), 1.0);
    assert_eq!(delta("strata_reads_total{kind=\"all\"}"), 1.0);
    assert_eq!(delta("strata_read_events_total"), 30.0);
    assert_eq!(get(&after, "strata_subscriptions{phase=\"live\"}"), 1.0);
    assert_eq!(
        get(&after, "strata_subscriptions{phase=\"catching_up\"}"),
        0.0
    );
    assert_eq!(delta("strata_snapshot_saves_total"), 1.0);
    assert_eq!(delta("strata_snapshot_loads_total{result=\"hit\"}"), 1.0);
    assert_eq!(delta("strata_snapshot_loads_total{result=\"miss\"}"), 1.0);
    // The group's own records ($groups) are system writes, not appends.
    assert!(get(&after, "strata_head_position") >= 30.0);
    assert!(get(&after, "strata_connections_open") >= 1.0);
    assert_eq!(get(&after, "strata_poisoned"), 0.0);
    assert_eq!(get(&after, "strata_disk_full"), 0.0);
    assert!(get(&after, "strata_disk_free_bytes") > 0.0);
    assert!(get(&after, "strata_segments") >= 1.0);
    assert!(get(&after, "strata_log_bytes") > 0.0);
    assert!(get(&after, "strata_group_commits_total") >= 4.0);
    assert_eq!(
        get(&after, "strata_group_consumers{group=\"metered-group\"}"),
        0.0
    );
    for h in [
        "strata_append_duration_seconds",
        "strata_fsync_duration_seconds",
        "strata_commit_group_events",
        "strata_commit_group_bytes",
    ] {
        assert_histogram(&after, h);
    }
    drop(sub);
    common::eventually(WAIT, "the subscription to be counted closed", || async {
        (get(&scrape(&server), "strata_subscriptions{phase=\"live\"}") == 0.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn openmetrics_is_served_to_a_scraper_that_asks_for_it() {
    let server = Server::start();
    let r = http_get(
        server.addr,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(OPENMETRICS));
    assert!(r.body.ends_with("# EOF\n"), "{}", r.body);
    assert!(r.body.contains("# TYPE strata_appended_events counter\n"));
    assert!(r
        .body
        .contains("# UNIT strata_fsync_duration_seconds seconds\n"));
}

#[tokio::test]
async fn health_probes_answer_plain_http_on_the_grpc_port() {
    let server = Server::start();
    let live = http_get(server.addr, "/health/live", "*/*");
    assert_eq!(
        (live.status, live.body.as_str()),
        (200, r#"{"status":"live"}"#)
    );
    let ready = http_get(server.addr, "/health/ready", "*/*");
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (200, r#"{"status":"ready"}"#)
    );
    assert_eq!(ready.header("content-type"), Some("application/json"));
    assert_eq!(http_get(server.addr, "/nowhere", "*/*").status, 404);
    // gRPC still works on the same port, and unknown gRPC services are
    // UNIMPLEMENTED, not 404.
    let mut raw = server.raw().await;
    raw.server_info(pb::ServerInfoRequest {}).await.unwrap();
    let mut health = HealthClient::new(channel(&server).await);
    let st = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::NotFound);
    let mut unknown = tonic::client::Grpc::new(channel(&server).await);
    unknown.ready().await.unwrap();
    let st = unknown
        .unary::<_, pb::Empty, _>(
            tonic::Request::new(pb::Empty {}),
            "/no.such.Service/Call".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::Unimplemented);
}

async fn channel(server: &Server) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn grpc_health(server: &Server, service: &str) -> i32 {
    let mut health = HealthClient::new(channel(server).await);
    health
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test]
async fn readiness_and_grpc_health_follow_a_full_disk_and_recover() {
    let mnt = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(mnt.path(), "8m");
    let server = Server::start_on(mnt.path().join("data"));
    let mut raw = server.raw().await;
    assert_eq!(
        grpc_health(&server, "strata.v1.Streams").await,
        ServingStatus::Serving as i32
    );
    let blob = vec![7u8; 256 * 1024];
    let st = loop {
        let req = pb::AppendRequest {
            stream: "fill".into(),
            expected_revision: Some(pb::append_request::ExpectedRevision::Any(pb::Empty {})),
            events: vec![raw_event("Blob", &blob)],
        };
        if let Err(st) = raw.append(req).await {
            break st;
        }
    };
    assert_eq!(error_kind(&st).as_deref(), Some("disk-full"), "{st:?}");
    let ready = http_get(server.addr, "/health/ready", "*/*");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("disk full"), "{}", ready.body);
    assert_eq!(http_get(server.addr, "/health/live", "*/*").status, 200);
    assert_eq!(get(&scrape(&server), "strata_disk_full"), 1.0);
    assert!(
        get(
            &scrape(&server),
            "strata_append_requests_total{outcome=\"unavailable\"}"
        ) >= 1.0
    );
    common::eventually(WAIT, "gRPC health NOT_SERVING", || async {
        (grpc_health(&server, "strata.v1.Streams").await == ServingStatus::NotServing as i32)
            .then_some(())
    })
    .await;

    fs.resize("64m");
    raw.append(append_req(
        "fill",
        1,
        pb::append_request::ExpectedRevision::Any(pb::Empty {}),
    ))
    .await
    .unwrap();
    assert_eq!(http_get(server.addr, "/health/ready", "*/*").status, 200);
    common::eventually(WAIT, "gRPC health SERVING again", || async {
        (grpc_health(&server, "strata.v1.Streams").await == ServingStatus::Serving as i32
            && grpc_health(&server, "").await == ServingStatus::Serving as i32)
            .then_some(())
    })
    .await;
}
