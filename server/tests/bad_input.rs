//! Malformed requests, sent over the raw generated client, get the exact
//! status code with `strata-error` metadata, write nothing, and leave the
//! server serving.

mod common;

use common::{error_kind, raw_event, Server};
use strata_proto::v1 as pb;
use strata_proto::v1::streams_client::StreamsClient;
use tonic::transport::Channel;
use tonic::Code;

enum Req {
    Append(pb::AppendRequest),
    Multi(pb::AppendMultiRequest),
    Read(pb::ReadRequest),
    Subscribe(pb::SubscribeRequest),
}

/// Sends a request; returns the error status (from the call or, for
/// streaming calls, from the first message), or `None` if it succeeded.
async fn send(raw: &mut StreamsClient<Channel>, req: Req) -> Option<tonic::Status> {
    match req {
        Req::Append(r) => raw.append(r).await.err(),
        Req::Multi(r) => raw.append_multi(r).await.err(),
        Req::Read(r) => match raw.read(r).await {
            Err(s) => Some(s),
            Ok(resp) => resp.into_inner().message().await.err(),
        },
        Req::Subscribe(r) => match raw.subscribe(r).await {
            Err(s) => Some(s),
            Ok(resp) => resp.into_inner().message().await.err(),
        },
    }
}

fn append(stream: &str, events: Vec<pb::ProposedEvent>) -> pb::AppendRequest {
    pb::AppendRequest {
        stream: stream.into(),
        expected_revision: None,
        events,
    }
}

fn ev() -> pb::ProposedEvent {
    raw_event("E", b"x")
}

fn read(stream: &str) -> pb::ReadRequest {
    pb::ReadRequest {
        stream: stream.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn malformed_requests_are_refused_with_the_right_code() {
    let server = Server::start();
    let mut raw = server.raw().await;
    raw.append(append("existing", vec![ev()]))
        .await
        .expect("seed append");

    let mut bad_id = ev();
    bad_id.id = "not-a-uuid".into();
    let mut empty_type = ev();
    empty_type.r#type = String::new();
    let mut long_type = ev();
    long_type.r#type = "t".repeat(256);
    let mut oversize = raw_event("Big", &vec![0u8; 1024 * 1024]);
    oversize.metadata = vec![1];
    let too_many: Vec<_> = (0..10_001).map(|_| ev()).collect();
    // 16.5 MiB in events of at most 1 MiB: every one within the event limit,
    // together over the 16 MiB append limit (but under the server's 17 MiB
    // gRPC message limit, so the append limit itself is what refuses it).
    let mut too_big: Vec<_> = (0..16)
        .map(|_| raw_event("Big", &vec![7u8; 1024 * 1024]))
        .collect();
    too_big.push(raw_event("Big", &vec![7u8; 512 * 1024]));
    use pb::read_request::From as RF;
    use pb::subscribe_request::From as SF;

    let cases: Vec<(&str, Req, Code)> = vec![
        (
            "bad uuid",
            Req::Append(append("s", vec![bad_id.clone()])),
            Code::InvalidArgument,
        ),
        (
            "empty stream name",
            Req::Append(append("", vec![ev()])),
            Code::InvalidArgument,
        ),
        (
            "reserved stream name",
            Req::Append(append("$system", vec![ev()])),
            Code::PermissionDenied,
        ),
        (
            "append to $all",
            Req::Append(append("$all", vec![ev()])),
            Code::PermissionDenied,
        ),
        (
            "stream name too long",
            Req::Append(append(&"s".repeat(256), vec![ev()])),
            Code::InvalidArgument,
        ),
        (
            "control char in name",
            Req::Append(append("a\nb", vec![ev()])),
            Code::InvalidArgument,
        ),
        (
            "empty event type",
            Req::Append(append("s", vec![empty_type])),
            Code::InvalidArgument,
        ),
        (
            "event type too long",
            Req::Append(append("s", vec![long_type])),
            Code::InvalidArgument,
        ),
        (
            "no events",
            Req::Append(append("s", vec![])),
            Code::InvalidArgument,
        ),
        (
            "oversize event",
            Req::Append(append("s", vec![oversize])),
            Code::ResourceExhausted,
        ),
        (
            "too many events",
            Req::Append(append("s", too_many)),
            Code::ResourceExhausted,
        ),
        (
            "append over 16 MiB",
            Req::Append(append("s", too_big)),
            Code::ResourceExhausted,
        ),
        (
            "duplicate stream in multi",
            Req::Multi(pb::AppendMultiRequest {
                appends: vec![append("d", vec![ev()]), append("d", vec![ev()])],
            }),
            Code::InvalidArgument,
        ),
        (
            "bad uuid in multi",
            Req::Multi(pb::AppendMultiRequest {
                appends: vec![append("m1", vec![ev()]), append("m2", vec![bad_id])],
            }),
            Code::InvalidArgument,
        ),
        (
            "reserved name in multi",
            Req::Multi(pb::AppendMultiRequest {
                appends: vec![append("m1", vec![ev()]), append("$m2", vec![ev()])],
            }),
            Code::PermissionDenied,
        ),
        (
            "unknown direction",
            Req::Read(pb::ReadRequest {
                direction: 7,
                ..read("existing")
            }),
            Code::InvalidArgument,
        ),
        (
            "position on a stream read",
            Req::Read(pb::ReadRequest {
                from: Some(RF::Position(1)),
                ..read("existing")
            }),
            Code::InvalidArgument,
        ),
        (
            "revision on a $all read",
            Req::Read(pb::ReadRequest {
                from: Some(RF::Revision(0)),
                ..read("$all")
            }),
            Code::InvalidArgument,
        ),
        (
            "filter on a stream read",
            Req::Read(pb::ReadRequest {
                filter: Some(pb::Filter {
                    event_types: vec!["E".into()],
                    ..Default::default()
                }),
                ..read("existing")
            }),
            Code::InvalidArgument,
        ),
        (
            "read empty stream name",
            Req::Read(read("")),
            Code::InvalidArgument,
        ),
        (
            "read reserved stream",
            Req::Read(read("$system")),
            Code::PermissionDenied,
        ),
        (
            "read missing stream",
            Req::Read(read("no-such-stream")),
            Code::NotFound,
        ),
        (
            "subscribe after_position on a stream",
            Req::Subscribe(pb::SubscribeRequest {
                stream: "existing".into(),
                from: Some(SF::AfterPosition(1)),
                ..Default::default()
            }),
            Code::InvalidArgument,
        ),
        (
            "subscribe after_revision on $all",
            Req::Subscribe(pb::SubscribeRequest {
                stream: "$all".into(),
                from: Some(SF::AfterRevision(1)),
                ..Default::default()
            }),
            Code::InvalidArgument,
        ),
        (
            "subscribe to reserved stream",
            Req::Subscribe(pb::SubscribeRequest {
                stream: "$system".into(),
                ..Default::default()
            }),
            Code::PermissionDenied,
        ),
    ];

    let mut failures = Vec::new();
    for (name, req, code) in cases {
        match send(&mut raw, req).await {
            None => failures.push(format!("{name}: succeeded, expected {code:?}")),
            Some(st) if st.code() != code => failures.push(format!(
                "{name}: got {:?} ({}), expected {code:?}",
                st.code(),
                st.message()
            )),
            Some(st) if error_kind(&st).is_none() => {
                failures.push(format!("{name}: {code:?} without strata-error metadata"))
            }
            Some(_) => {}
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));

    // Nothing was written by any refused request, and the server still serves.
    let info = raw
        .server_info(pb::ServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.head_position, 1);
    let ok = raw
        .append(append("existing", vec![ev()]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ok.last_revision, ok.last_position), (1, 2));
    let client = server.client().await;
    let r = client
        .append(
            "after-bad-input",
            strata_client::ExpectedRevision::NoStream,
            common::events("E", "ok", 1),
        )
        .await
        .unwrap();
    assert_eq!(r.last_position, 3);
}

#[tokio::test]
async fn typed_client_maps_codes_to_errors() {
    use strata_client::{Error, EventData, ExpectedRevision, ReadOptions};
    let server = Server::start();
    let c = server.client().await;
    let e = c
        .append(
            "$reserved",
            ExpectedRevision::Any,
            common::events("E", "x", 1),
        )
        .await;
    assert!(matches!(e, Err(Error::PermissionDenied { .. })), "{e:?}");
    let e = c.append("s", ExpectedRevision::Any, vec![]).await;
    assert!(matches!(e, Err(Error::InvalidArgument { .. })), "{e:?}");
    let e = c
        .append(
            "s",
            ExpectedRevision::Any,
            vec![EventData::binary("Big", vec![0; 1024 * 1024 + 1])],
        )
        .await;
    assert!(matches!(e, Err(Error::ResourceExhausted { .. })), "{e:?}");
    let mut r = c.read_stream("missing", ReadOptions::forwards());
    let e = futures::StreamExt::next(&mut r).await;
    assert!(matches!(e, Some(Err(Error::NotFound { .. }))), "{e:?}");
    assert!(futures::StreamExt::next(&mut r).await.is_none());
}
