//! Torture over the wire: requests no well-behaved client sends — invalid
//! UTF-8 in string fields, absurd counts, a flood of connections past the
//! cap, abandoned half-sent HTTP/2 traffic. Each gets a clear refusal and
//! the server keeps serving everyone else.

mod common;

use common::{events, raw_event, Server};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;
use strata_client::ExpectedRevision;
use strata_proto::v1 as pb;
use tonic::codegen::http::uri::PathAndQuery;

/// `AppendRequest` on the wire, with the stream name as raw bytes so the
/// test can send what a `string` field must never hold.
#[derive(Clone, PartialEq, prost::Message)]
struct RawAppendRequest {
    #[prost(bytes = "vec", tag = "1")]
    stream: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    any: Option<pb::Empty>,
    #[prost(message, repeated, tag = "6")]
    events: Vec<pb::ProposedEvent>,
}

async fn raw_append(server: &Server, stream: Vec<u8>) -> Result<pb::AppendResponse, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let req = RawAppendRequest {
        stream,
        any: Some(pb::Empty {}),
        events: vec![raw_event("T", b"{}")],
    };
    let codec = tonic_prost::ProstCodec::<RawAppendRequest, pb::AppendResponse>::default();
    grpc.unary(
        tonic::Request::new(req),
        PathAndQuery::from_static("/strata.v1.Streams/Append"),
        codec,
    )
    .await
    .map(|r| r.into_inner())
}

#[tokio::test]
async fn invalid_utf8_and_absurd_counts_are_refused_cleanly() {
    let server = Server::start();
    // The same raw path works with a valid name (so the refusal below is about the bytes).
    let ok = raw_append(&server, b"utf8-ok".to_vec()).await.unwrap();
    assert_eq!(ok.first_position, 1);
    let st = raw_append(&server, vec![b'a', 0xff, 0xfe, b'z'])
        .await
        .unwrap_err();
    assert_eq!(
        st.code(),
        tonic::Code::InvalidArgument,
        "invalid UTF-8 is the client's error: {st:?}"
    );
    assert_eq!(
        common::error_kind(&st).as_deref(),
        Some("invalid-request"),
        "{st:?}"
    );
    assert!(st.message().contains("UTF-8"), "{st:?}");

    // Absurd max_count: a read, not an error, and not an allocation of u64::MAX.
    let mut raw = server.raw().await;
    let req = pb::ReadRequest {
        stream: "$all".into(),
        direction: pb::Direction::Forwards as i32,
        from: None,
        max_count: u64::MAX,
        filter: None,
    };
    let mut s = raw.read(req).await.unwrap().into_inner();
    let mut n = 0;
    while let Some(page) = s.message().await.unwrap() {
        n += page.events.len();
    }
    assert_eq!(n, 1);
    // Nothing of the refused append was written.
    let c = server.client().await;
    assert_eq!(c.server_info().await.unwrap().head_position, 1);
}

#[tokio::test]
async fn a_connection_flood_is_capped_and_everyone_else_is_served() {
    let server = Server::start_with_args(&["--max-connections", "8"]);
    let c = server.client().await; // connected before the flood
    c.append("before", ExpectedRevision::Any, events("T", "a", 1))
        .await
        .unwrap();
    // 40 idle TCP connections: at most 8 (including ours) are kept.
    let flood: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(server.addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = 0;
    for mut s in &flood {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut b = [0u8; 1];
        // A refused connection is closed by the server: read returns 0 (or reset).
        if matches!(std::io::Read::read(&mut s, &mut b), Ok(0) | Err(_)) {
            let _ = s.write_all(b"x"); // provoke a reset if half-closed
        }
        if matches!(std::io::Read::read(&mut s, &mut b), Ok(0)) {
            refused += 1;
        }
    }
    assert!(
        refused >= 30,
        "only {refused} of 40 flood connections were refused with a cap of 8"
    );
    // The client connected before the flood is still served.
    let r = c
        .append("during", ExpectedRevision::Any, events("T", "b", 1))
        .await
        .unwrap();
    assert_eq!(r.first_position, 2);
    drop(flood);
    // Once the flood is gone, new clients get in again.
    let c2 = common::eventually(
        Duration::from_secs(10),
        "a new connection after the flood",
        || async {
            let c2 = server.client_no_retry().await;
            c2.server_info().await.ok().map(|_| c2)
        },
    )
    .await;
    assert_eq!(c2.server_info().await.unwrap().head_position, 2);
}

#[tokio::test]
async fn abandoned_half_sent_traffic_does_not_hurt_others() {
    let server = Server::start();
    let c = server.client().await;
    // 1. A TCP connection that sends half of the HTTP/2 preface and stops.
    let mut half_preface = TcpStream::connect(server.addr).unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n\r\n").unwrap();
    // 2. A full preface and SETTINGS, then HEADERS for an Append whose body
    //    (DATA) never comes: a gRPC call abandoned mid-request.
    let mut half_call = TcpStream::connect(server.addr).unwrap();
    half_call
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    half_call.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap(); // empty SETTINGS
    let mut block = Vec::new(); // HPACK, literal headers without indexing
    for (k, v) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/strata.v1.Streams/Append"),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        block.push(0x00);
        block.push(k.len() as u8);
        block.extend_from_slice(k.as_bytes());
        block.push(v.len() as u8);
        block.extend_from_slice(v.as_bytes());
    }
    let len = block.len();
    // HEADERS frame, END_HEADERS (0x4), stream 1, no END_STREAM.
    half_call
        .write_all(&[
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            1,
            0x4,
            0,
            0,
            0,
            1,
        ])
        .unwrap();
    half_call.write_all(&block).unwrap();
    // Half of a DATA frame: a 5-byte gRPC prefix announcing 100 bytes, then 3 of them.
    half_call
        .write_all(&[0, 0, 8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 100, 1, 2, 3])
        .unwrap();
    // Everyone else is served meanwhile, repeatedly.
    for i in 0..20 {
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            c.append(
                "others",
                ExpectedRevision::Any,
                events("T", &format!("o{i}"), 1),
            ),
        )
        .await
        .expect("an append while abandoned connections sit there")
        .unwrap();
        assert_eq!(r.first_position, i + 1);
    }
    drop(half_preface);
    drop(half_call);
    // Nothing from the abandoned call was written.
    assert_eq!(c.server_info().await.unwrap().head_position, 20);
}

/// Peak resident memory of a process (`VmHWM`), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024
}

#[tokio::test]
async fn a_burst_of_password_checks_is_bounded_in_memory() {
    // Each argon2 verification holds 19 MiB: 48 at once, unbounded, took
    // ~900 MiB. Right credentials are verified once and then cached; wrong
    // ones are never cached and wait their turn.
    let server = Server::start();
    let anon = server.client_no_retry().await;
    anon.add_user("root", "root-password", &["admin"])
        .await
        .unwrap();
    let before = peak_rss_mib(server.pid());
    let mut calls = Vec::new();
    for i in 0..48 {
        let url = server.url();
        calls.push(tokio::spawn(async move {
            let password = if i % 3 == 0 {
                "wrong-password"
            } else {
                "root-password"
            };
            let c = strata_client::Client::builder(url)
                .basic_auth("root", password)
                .retry_policy(strata_client::RetryPolicy::none())
                .connect()
                .await
                .unwrap();
            (i % 3 != 0, c.who_am_i().await)
        }));
    }
    for call in calls {
        let (right, r) = call.await.unwrap();
        match (right, r) {
            (true, Ok(me)) => assert_eq!(me.name, "root"),
            (false, Err(strata_client::Error::Unauthenticated { .. })) => {}
            (right, r) => panic!("right password: {right}, got {r:?}"),
        }
    }
    let grew = peak_rss_mib(server.pid()).saturating_sub(before);
    eprintln!("peak RSS grew by {grew} MiB");
    assert!(grew < 200, "peak RSS grew by {grew} MiB");
}
