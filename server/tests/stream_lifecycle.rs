//! Stream lifecycle over gRPC against the real binary: metadata with
//! optimistic concurrency, soft delete and recreation, tombstones, and the
//! retention rules as every read path (stream reads, `$all` reads,
//! subscriptions, listings) applies them.

mod common;

use common::{error_kind, raw_event, read_raw, Server};
use std::time::Duration;
use strata_proto::v1 as pb;
use strata_proto::v1::streams_client::StreamsClient;
use tonic::transport::Channel;
use tonic::Code;

type Raw = StreamsClient<Channel>;

async fn append(
    raw: &mut Raw,
    stream: &str,
    expected: Option<pb::append_request::ExpectedRevision>,
    n: usize,
) -> Result<pb::AppendResponse, tonic::Status> {
    let events = (0..n)
        .map(|i| raw_event("E", format!("{stream}-{i}").as_bytes()))
        .collect();
    raw.append(pb::AppendRequest {
        stream: stream.into(),
        expected_revision: expected,
        events,
    })
    .await
    .map(|r| r.into_inner())
}

fn stream_read(stream: &str) -> pb::ReadRequest {
    pb::ReadRequest {
        stream: stream.into(),
        ..Default::default()
    }
}

async fn revisions(raw: &mut Raw, stream: &str) -> Result<Vec<u64>, tonic::Status> {
    Ok(read_raw(raw, stream_read(stream))
        .await?
        .iter()
        .map(|e| e.revision)
        .collect())
}

async fn all_of(raw: &mut Raw, stream: &str, include_system: bool) -> Vec<u64> {
    let req = pb::ReadRequest {
        stream: "$all".into(),
        filter: Some(pb::Filter {
            include_system,
            ..Default::default()
        }),
        ..Default::default()
    };
    read_raw(raw, req)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.stream == stream)
        .map(|e| e.revision)
        .collect()
}

async fn delete(
    raw: &mut Raw,
    stream: &str,
    expected: Option<pb::delete_stream_request::ExpectedRevision>,
    tombstone: bool,
) -> Result<u64, tonic::Status> {
    raw.delete_stream(pb::DeleteStreamRequest {
        stream: stream.into(),
        expected_revision: expected,
        tombstone,
    })
    .await
    .map(|r| r.into_inner().position)
}

async fn set_meta(
    raw: &mut Raw,
    stream: &str,
    expected: Option<pb::set_stream_metadata_request::ExpectedMetadataRevision>,
    metadata: pb::StreamMetadata,
) -> Result<pb::SetStreamMetadataResponse, tonic::Status> {
    raw.set_stream_metadata(pb::SetStreamMetadataRequest {
        stream: stream.into(),
        expected_metadata_revision: expected,
        metadata: Some(metadata),
    })
    .await
    .map(|r| r.into_inner())
}

fn assert_status(r: Result<impl std::fmt::Debug, tonic::Status>, code: Code, kind: &str) {
    match r {
        Err(s) => {
            assert_eq!(s.code(), code, "{s:?}");
            assert_eq!(error_kind(&s).as_deref(), Some(kind), "{s:?}");
        }
        Ok(v) => panic!("expected {code:?}/{kind}, got {v:?}"),
    }
}

#[tokio::test]
async fn every_lifecycle_transition_answers_with_its_documented_status() {
    use pb::append_request::ExpectedRevision as A;
    use pb::delete_stream_request::ExpectedRevision as D;
    let server = Server::start();
    let mut raw = server.raw().await;
    append(&mut raw, "order-1", Some(A::NoStream(pb::Empty {})), 3)
        .await
        .unwrap();
    // A wrong expected revision on delete is a conflict, like appends.
    let conflict = delete(&mut raw, "order-1", Some(D::Exact(7)), false).await;
    assert_status(conflict, Code::Aborted, "wrong-expected-revision");
    // Soft delete: reads refused, checks see no stream.
    delete(&mut raw, "order-1", Some(D::Exact(2)), false)
        .await
        .unwrap();
    assert_status(
        revisions(&mut raw, "order-1").await,
        Code::NotFound,
        "stream-deleted",
    );
    assert_status(
        append(&mut raw, "order-1", Some(A::StreamExists(pb::Empty {})), 1).await,
        Code::Aborted,
        "wrong-expected-revision",
    );
    let meta = raw
        .get_stream_metadata(pb::GetStreamMetadataRequest {
            stream: "order-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(meta.deleted && !meta.tombstoned, "{meta:?}");
    // Appending recreates it; revisions continue after the last ever written.
    let r = append(&mut raw, "order-1", Some(A::NoStream(pb::Empty {})), 2)
        .await
        .unwrap();
    assert_eq!((r.first_revision, r.last_revision), (3, 4));
    assert_eq!(revisions(&mut raw, "order-1").await.unwrap(), vec![3, 4]);
    // Deleting what does not exist: NOT_FOUND unless expected is any.
    assert_status(
        delete(
            &mut raw,
            "ghost",
            Some(D::StreamExists(pb::Empty {})),
            false,
        )
        .await,
        Code::NotFound,
        "stream-not-found",
    );
    assert_status(
        delete(&mut raw, "ghost", Some(D::NoStream(pb::Empty {})), false).await,
        Code::NotFound,
        "stream-not-found",
    );
    delete(&mut raw, "ghost", None, false).await.unwrap();
    // Tombstone: every operation refused for good, even after a restart.
    append(&mut raw, "gone", None, 1).await.unwrap();
    delete(&mut raw, "gone", Some(D::Any(pb::Empty {})), true)
        .await
        .unwrap();
    let mut server = server;
    for round in 0..2 {
        assert_status(
            append(&mut raw, "gone", Some(A::NoStream(pb::Empty {})), 1).await,
            Code::FailedPrecondition,
            "stream-tombstoned",
        );
        assert_status(
            set_meta(&mut raw, "gone", None, pb::StreamMetadata::default()).await,
            Code::FailedPrecondition,
            "stream-tombstoned",
        );
        assert_status(
            delete(&mut raw, "gone", None, false).await,
            Code::FailedPrecondition,
            "stream-tombstoned",
        );
        assert_status(
            revisions(&mut raw, "gone").await,
            Code::NotFound,
            "stream-tombstoned",
        );
        if round == 0 {
            server.terminate().await;
            server.restart();
            raw = server.raw().await;
        }
    }
    // Deleted streams are not listed; system streams only on request.
    let listed = raw
        .list_streams(pb::ListStreamsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .streams;
    let names: Vec<_> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["order-1"]);
    let system = raw
        .list_streams(pb::ListStreamsRequest {
            prefix: "$$".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .streams;
    assert_eq!(system.len(), 3, "{system:?}");
}

#[tokio::test]
async fn metadata_changes_are_checked_like_appends() {
    use pb::set_stream_metadata_request::ExpectedMetadataRevision as M;
    let server = Server::start();
    let mut raw = server.raw().await;
    let m = pb::StreamMetadata {
        max_count: Some(10),
        custom: br#"{"owner":"billing"}"#.to_vec(),
        ..Default::default()
    };
    // Allowed before the stream has events.
    let r = set_meta(
        &mut raw,
        "invoice-9",
        Some(M::NoStream(pb::Empty {})),
        m.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.metadata_revision, 0);
    let conflict = set_meta(
        &mut raw,
        "invoice-9",
        Some(M::NoStream(pb::Empty {})),
        m.clone(),
    )
    .await;
    let s = conflict.unwrap_err();
    assert_eq!(s.code(), Code::Aborted);
    assert_eq!(error_kind(&s).as_deref(), Some("wrong-expected-revision"));
    assert_eq!(
        s.metadata()
            .get("strata-actual-revision")
            .unwrap()
            .to_str()
            .unwrap(),
        "0"
    );
    assert_status(
        set_meta(&mut raw, "invoice-9", Some(M::Exact(3)), m.clone()).await,
        Code::Aborted,
        "wrong-expected-revision",
    );
    let r = set_meta(&mut raw, "invoice-9", Some(M::Exact(0)), m.clone())
        .await
        .unwrap();
    assert_eq!(r.metadata_revision, 1);
    let got = raw
        .get_stream_metadata(pb::GetStreamMetadataRequest {
            stream: "invoice-9".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.metadata, Some(m));
    assert_eq!(got.metadata_revision, Some(1));
    let none = raw
        .get_stream_metadata(pb::GetStreamMetadataRequest {
            stream: "never-set".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(none.metadata_revision, None);
    // Bad metadata: zero limits, oversize custom data, reserved names.
    let zero = pb::StreamMetadata {
        max_count: Some(0),
        ..Default::default()
    };
    assert_status(
        set_meta(&mut raw, "x", None, zero).await,
        Code::InvalidArgument,
        "invalid-metadata",
    );
    let huge = pb::StreamMetadata {
        custom: vec![b'x'; 64 * 1024 + 1],
        ..Default::default()
    };
    assert_status(
        set_meta(&mut raw, "x", None, huge).await,
        Code::ResourceExhausted,
        "metadata-too-large",
    );
    assert_status(
        set_meta(&mut raw, "$x", None, pb::StreamMetadata::default()).await,
        Code::PermissionDenied,
        "reserved-stream-name",
    );
    // The metadata stream itself is readable, and its records are system
    // records in $all.
    let records = read_raw(&mut raw, stream_read("$$invoice-9"))
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.r#type == "$metadata"));
    assert!(all_of(&mut raw, "$$invoice-9", false).await.is_empty());
    assert_eq!(all_of(&mut raw, "$$invoice-9", true).await, vec![0, 1]);
}

#[tokio::test]
async fn retention_rules_hide_exactly_the_right_events_everywhere() {
    let server = Server::start();
    let mut raw = server.raw().await;
    append(&mut raw, "counted", None, 10).await.unwrap();
    append(&mut raw, "truncated", None, 10).await.unwrap();
    append(&mut raw, "aged", None, 3).await.unwrap();
    let meta = |max_count, max_age_seconds, truncate_before| pb::StreamMetadata {
        max_count,
        max_age_seconds,
        truncate_before,
        custom: vec![],
    };
    set_meta(&mut raw, "counted", None, meta(Some(3), None, None))
        .await
        .unwrap();
    set_meta(&mut raw, "truncated", None, meta(None, None, Some(6)))
        .await
        .unwrap();
    set_meta(&mut raw, "aged", None, meta(None, Some(2), None))
        .await
        .unwrap();
    assert_eq!(revisions(&mut raw, "counted").await.unwrap(), vec![7, 8, 9]);
    assert_eq!(
        revisions(&mut raw, "truncated").await.unwrap(),
        vec![6, 7, 8, 9]
    );
    assert_eq!(revisions(&mut raw, "aged").await.unwrap(), vec![0, 1, 2]);
    let back = read_raw(
        &mut raw,
        pb::ReadRequest {
            stream: "counted".into(),
            direction: pb::Direction::Backwards as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        back.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![9, 8, 7]
    );
    // Let the first three "aged" events expire, then add two fresh ones.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    append(&mut raw, "aged", None, 2).await.unwrap();
    assert_eq!(revisions(&mut raw, "aged").await.unwrap(), vec![3, 4]);
    for (stream, want) in [
        ("counted", vec![7, 8, 9]),
        ("truncated", vec![6, 7, 8, 9]),
        ("aged", vec![3, 4]),
    ] {
        assert_eq!(
            all_of(&mut raw, stream, false).await,
            want,
            "$all read of {stream}"
        );
    }
    // A catch-up subscription to $all delivers exactly the visible events.
    let mut sub = raw
        .subscribe(pb::SubscribeRequest {
            stream: "$all".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen: Vec<(String, u64)> = Vec::new();
    loop {
        let msg = sub.message().await.unwrap().unwrap();
        match msg.content.unwrap() {
            pb::subscribe_response::Content::Events(e) => {
                seen.extend(e.events.into_iter().map(|e| (e.stream, e.revision)))
            }
            pb::subscribe_response::Content::CaughtUp(_) => break,
            pb::subscribe_response::Content::Checkpoint(_) => {}
        }
    }
    seen.sort();
    let mut want: Vec<(String, u64)> = Vec::new();
    want.extend([3, 4].map(|r| ("aged".to_string(), r)));
    want.extend([7, 8, 9].map(|r| ("counted".to_string(), r)));
    want.extend([6, 7, 8, 9].map(|r| ("truncated".to_string(), r)));
    assert_eq!(seen, want);
    // A stream subscription starts at the first visible event.
    let mut sub = raw
        .subscribe(pb::SubscribeRequest {
            stream: "truncated".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    match sub.message().await.unwrap().unwrap().content.unwrap() {
        pb::subscribe_response::Content::Events(e) => assert_eq!(e.events[0].revision, 6),
        other => panic!("{other:?}"),
    }
}
