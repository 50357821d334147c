//! The `strata.v1.Snapshots` service against the real binary: round trip,
//! at-or-before lookup, the per-stream bound, every error status, durability
//! across SIGKILL, health, and `strata stats`.

mod common;

use common::{error_kind, events, Server};
use strata_client::{Client, Error, ExpectedRevision, SnapshotData};
use strata_proto::v1::{GetSnapshotRequest, SaveSnapshotRequest};
use tonic::Code;

async fn stream_with(c: &Client, stream: &str, n: usize) {
    c.append(stream, ExpectedRevision::NoStream, events("E", stream, n))
        .await
        .unwrap();
}

fn snap(rev: u64) -> SnapshotData {
    SnapshotData::new("Order", 3, format!("state@{rev}").into_bytes())
        .with_metadata(format!("meta@{rev}").into_bytes())
}

fn save_req(stream: &str, revision: u64, data: Vec<u8>) -> SaveSnapshotRequest {
    SaveSnapshotRequest {
        stream: stream.into(),
        revision,
        r#type: "T".into(),
        schema_version: 1,
        data,
        metadata: Vec::new(),
    }
}

#[tokio::test]
async fn save_get_round_trip_and_at_or_before() {
    let server = Server::start();
    let c = server.client().await;
    stream_with(&c, "order-1", 10).await;

    let mut stamps = Vec::new();
    for rev in [2u64, 5, 8] {
        stamps.push(c.save_snapshot("order-1", rev, snap(rev)).await.unwrap());
    }
    assert!(stamps[0] > 0 && stamps.windows(2).all(|w| w[0] <= w[1]));

    let newest = c.get_snapshot("order-1", None).await.unwrap().unwrap();
    assert_eq!(newest.stream, "order-1");
    assert_eq!(newest.revision, 8);
    assert_eq!(newest.snapshot_type, "Order");
    assert_eq!(newest.schema_version, 3);
    assert_eq!(newest.data, b"state@8");
    assert_eq!(newest.metadata, b"meta@8");
    assert_eq!(newest.created_micros, stamps[2]);

    let at = |r| {
        let c = c.clone();
        async move { c.get_snapshot("order-1", Some(r)).await.unwrap() }
    };
    assert_eq!(at(9).await.unwrap().revision, 8);
    assert_eq!(at(8).await.unwrap().revision, 8);
    assert_eq!(at(7).await.unwrap().revision, 5);
    assert_eq!(at(5).await.unwrap().data, b"state@5");
    assert_eq!(at(4).await.unwrap().revision, 2);
    assert!(at(1).await.is_none(), "nothing at or before revision 1");

    // Saving the same snapshot again (a retry) just replaces it.
    c.save_snapshot("order-1", 8, snap(8)).await.unwrap();
    assert_eq!(
        c.get_snapshot("order-1", None).await.unwrap().unwrap().data,
        b"state@8"
    );
    // A snapshot of the stream's last revision is allowed.
    c.save_snapshot("order-1", 9, snap(9)).await.unwrap();
    assert_eq!(at(100).await.unwrap().revision, 9);

    // Another stream, and a name that is a prefix of this one, have none.
    stream_with(&c, "order-", 1).await;
    assert!(c.get_snapshot("order-", None).await.unwrap().is_none());
    assert!(c.get_snapshot("no-such", None).await.unwrap().is_none());
}

#[tokio::test]
async fn keeps_only_the_configured_number_per_stream() {
    let server = Server::start_with_args(&["--snapshots-per-stream", "2"]);
    let c = server.client().await;
    stream_with(&c, "a", 5).await;
    stream_with(&c, "b", 5).await;
    for rev in [1u64, 2, 3] {
        c.save_snapshot("a", rev, snap(rev)).await.unwrap();
    }
    c.save_snapshot("b", 0, snap(0)).await.unwrap();
    assert_eq!(
        c.get_snapshot("a", None).await.unwrap().unwrap().revision,
        3
    );
    assert_eq!(
        c.get_snapshot("a", Some(2))
            .await
            .unwrap()
            .unwrap()
            .revision,
        2
    );
    assert!(
        c.get_snapshot("a", Some(1)).await.unwrap().is_none(),
        "the oldest of three was dropped with --snapshots-per-stream 2"
    );
    // The bound is per stream: b's single snapshot is untouched.
    assert_eq!(
        c.get_snapshot("b", None).await.unwrap().unwrap().revision,
        0
    );
}

#[tokio::test]
async fn error_statuses() {
    let server = Server::start();
    let c = server.client_no_retry().await;
    let mut raw = server.raw_snapshots().await;
    stream_with(&c, "acct", 3).await;

    // Ahead of the stream: FAILED_PRECONDITION with the actual revision.
    let st = raw
        .save_snapshot(save_req("acct", 3, vec![1]))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    assert_eq!(error_kind(&st).as_deref(), Some("snapshot-ahead-of-stream"));
    let md = |k: &str| st.metadata().get(k).unwrap().to_str().unwrap().to_owned();
    assert_eq!(md("strata-actual-revision"), "2");
    assert_eq!(md("strata-stream"), "acct");
    let st = raw
        .save_snapshot(save_req("no-stream-yet", 0, vec![1]))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition);
    assert_eq!(
        st.metadata()
            .get("strata-actual-revision")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-stream"
    );
    match c.save_snapshot("acct", 7, snap(7)).await {
        Err(Error::FailedPrecondition { kind, .. }) => {
            assert_eq!(kind, "snapshot-ahead-of-stream")
        }
        other => panic!("expected FailedPrecondition, got {other:?}"),
    }

    // Over 16 MiB of data + metadata: RESOURCE_EXHAUSTED.
    let limit = strata_storage::snapshot::MAX_SNAPSHOT_BYTES;
    let mut big = save_req("acct", 1, vec![7; limit - 10]);
    big.metadata = vec![1; 11];
    let st = raw.save_snapshot(big).await.unwrap_err();
    assert_eq!(st.code(), Code::ResourceExhausted, "{st:?}");
    assert_eq!(error_kind(&st).as_deref(), Some("snapshot-too-large"));
    // Exactly at the limit is fine.
    raw.save_snapshot(save_req("acct", 1, vec![7; limit]))
        .await
        .unwrap();
    assert_eq!(
        c.get_snapshot("acct", None)
            .await
            .unwrap()
            .unwrap()
            .data
            .len(),
        limit
    );

    // Reserved and invalid names.
    let st = raw
        .save_snapshot(save_req("$sys", 0, vec![]))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(error_kind(&st).as_deref(), Some("reserved-stream-name"));
    assert!(matches!(
        c.get_snapshot("$all", None).await,
        Err(Error::PermissionDenied { .. })
    ));
    let st = raw
        .save_snapshot(save_req("", 0, vec![]))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert_eq!(error_kind(&st).as_deref(), Some("invalid-stream-name"));
    let mut long_type = save_req("acct", 0, vec![]);
    long_type.r#type = "t".repeat(256);
    let st = raw.save_snapshot(long_type).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert_eq!(error_kind(&st).as_deref(), Some("invalid-event"));

    // None stored: NOT_FOUND on the wire, Ok(None) in the client.
    let st = raw
        .get_snapshot(GetSnapshotRequest {
            stream: "acct".into(),
            at_or_before_revision: Some(0),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
    assert_eq!(error_kind(&st).as_deref(), Some("snapshot-not-found"));
    assert!(c.get_snapshot("acct", Some(0)).await.unwrap().is_none());
}

#[tokio::test]
async fn snapshots_survive_sigkill_and_show_in_stats() {
    let mut server = Server::start();
    let c = server.client().await;
    stream_with(&c, "s1", 4).await;
    stream_with(&c, "s2", 2).await;
    c.save_snapshot("s1", 1, snap(1)).await.unwrap();
    c.save_snapshot("s1", 3, snap(3)).await.unwrap();
    c.save_snapshot("s2", 1, snap(1)).await.unwrap();

    // Health reports the Snapshots service.
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "strata.v1.Snapshots".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    server.kill();
    server.restart();
    let c = server.client().await;
    let s = c.get_snapshot("s1", None).await.unwrap().unwrap();
    assert_eq!((s.revision, s.data.as_slice()), (3, &b"state@3"[..]));
    assert_eq!(
        c.get_snapshot("s1", Some(2)).await.unwrap().unwrap().data,
        b"state@1"
    );
    assert_eq!(
        c.get_snapshot("s2", None).await.unwrap().unwrap().revision,
        1
    );

    let exit = server.terminate().await;
    assert!(exit.success(), "{}", server.logs());
    let out = server.command(&["stats", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["snapshots"], 3, "{v}");
    let bytes = v["snapshot_bytes"].as_u64().unwrap();
    assert!(bytes > 3 * (7 + 6), "{v}");
    let out = server.command(&["stats"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("snapshots:") && l.trim_end().ends_with(" 3")),
        "{text}"
    );
    assert!(
        text.contains(&format!("snapshot bytes:    {bytes}")),
        "{text}"
    );
}
