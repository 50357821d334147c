//! `Streams.AppendSession` against the real binary: each append of a
//! session answered on its own (successes and every kind of failure,
//! interleaved, in order, correlation ids echoed); the in-flight limit
//! holding back a client that does not read its answers; per-item
//! `access-denied` (and a grant revoked mid-session); a `kill -9`
//! mid-flight losing no acknowledged append while the client's retries
//! write nothing twice; and many concurrent `Client::append` calls going
//! over a few sessions.

mod common;

use common::{http_get, raw_event, within, Server};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use strata_client::{
    Client, Error, EventData, ExpectedRevision, Permission, ReadOptions, RetryPolicy,
};
use strata_proto::v1 as pb;
use strata_proto::v1::append_error::Actual;
use strata_proto::v1::append_request::ExpectedRevision as Exp;
use strata_proto::v1::append_session_response::Result as Answer;
use tonic::Code;

fn append(stream: &str, expected: Exp, data: &[u8]) -> pb::AppendRequest {
    pb::AppendRequest {
        stream: stream.to_owned(),
        expected_revision: Some(expected),
        events: vec![raw_event("T", data)],
    }
}

fn item(correlation_id: u64, append: pb::AppendRequest) -> pb::AppendSessionRequest {
    pb::AppendSessionRequest {
        correlation_id,
        append: Some(append),
        ..Default::default()
    }
}

fn no_stream() -> Exp {
    Exp::NoStream(pb::Empty {})
}

/// A session request carrying basic credentials.
fn with_basic<T>(msg: T, user: &str, password: &str) -> tonic::Request<T> {
    use base64::Engine as _;
    let mut req = tonic::Request::new(msg);
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    req.metadata_mut()
        .insert("authorization", format!("Basic {token}").parse().unwrap());
    req
}

/// One value of `/metrics`, by its full series name.
fn metric(server: &Server, series: &str) -> f64 {
    let r = http_get(server.addr, "/metrics", "*/*");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{series} missing from /metrics:\n{}", r.body))
}

fn error_of(a: &pb::AppendSessionResponse) -> &pb::AppendError {
    match &a.result {
        Some(Answer::Error(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn success_of(a: &pb::AppendSessionResponse) -> &pb::AppendResponse {
    match &a.result {
        Some(Answer::Success(r)) => r,
        other => panic!("expected a success, got {other:?}"),
    }
}

#[tokio::test]
async fn interleaved_successes_and_failures_are_each_answered_in_order() {
    let server = Server::start();
    let mut raw = server.raw().await;
    let mut requests = vec![
        item(1000, append("order-1", no_stream(), b"a")),
        item(997, append("order-1", no_stream(), b"conflict")),
        item(994, append("order-1", Exp::Exact(0), b"b")),
        item(991, append("order-2", Exp::Exact(5), b"conflict")),
        item(988, append("order-1", Exp::Exact(0), b"conflict")),
    ];
    let mut bad_id = append("order-3", no_stream(), b"x");
    bad_id.events[0].id = "not-a-uuid".into();
    requests.push(item(985, bad_id));
    requests.push(item(982, append("$reserved", no_stream(), b"x")));
    requests.push(item(
        979,
        append("order-4", no_stream(), &vec![0u8; (1 << 20) + 1]),
    ));
    requests.push(item(976, append("order-2", no_stream(), b"c")));
    requests.push(pb::AppendSessionRequest {
        correlation_id: 973,
        ..Default::default()
    });
    requests.push(item(970, append("order-1", Exp::Exact(1), b"d")));
    let n = requests.len();
    let mut answers = raw
        .append_session(futures::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(a) = within(Duration::from_secs(10), "answers", answers.message())
        .await
        .unwrap()
    {
        got.push(a);
    }
    assert_eq!(
        got.len(),
        n,
        "every append answered, then the session ends OK"
    );
    let ids: Vec<u64> = got.iter().map(|a| a.correlation_id).collect();
    assert_eq!(ids, (0..n as u64).map(|i| 1000 - 3 * i).collect::<Vec<_>>());

    // Successes in request order are in commit order.
    let ok: Vec<&pb::AppendResponse> = [0, 2, 8, 10].iter().map(|&i| success_of(&got[i])).collect();
    assert_eq!(
        ok.iter().map(|r| r.last_revision).collect::<Vec<_>>(),
        [0, 1, 0, 2]
    );
    assert!(ok
        .windows(2)
        .all(|w| w[0].last_position < w[1].last_position));

    let conflict = error_of(&got[1]);
    assert_eq!(conflict.code, Code::Aborted as u32);
    assert_eq!(conflict.kind, "wrong-expected-revision");
    assert_eq!(conflict.stream, "order-1");
    assert_eq!(conflict.actual, Some(Actual::ActualRevision(0)));
    let conflict = error_of(&got[3]);
    assert_eq!(
        (conflict.stream.as_str(), conflict.actual),
        ("order-2", Some(Actual::ActualNoStream(pb::Empty {})))
    );
    assert_eq!(error_of(&got[4]).actual, Some(Actual::ActualRevision(1)));
    let kinds: Vec<(u32, &str)> = [5, 6, 7, 9]
        .iter()
        .map(|&i| (error_of(&got[i]).code, error_of(&got[i]).kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Code::InvalidArgument as u32, "invalid-event"),
            (Code::PermissionDenied as u32, "reserved-stream-name"),
            (Code::ResourceExhausted as u32, "event-too-large"),
            (Code::InvalidArgument as u32, "invalid-request"),
        ]
    );

    // Exactly the successes were written.
    let client = server.client().await;
    let count = |s: &'static str| {
        let client = client.clone();
        async move {
            client
                .read_stream(s, ReadOptions::forwards())
                .try_collect::<Vec<_>>()
                .await
                .map(|v| v.into_iter().map(|e| e.data).collect::<Vec<_>>())
        }
    };
    assert_eq!(
        count("order-1").await.unwrap(),
        [b"a".to_vec(), b"b".to_vec(), b"d".to_vec()]
    );
    assert_eq!(count("order-2").await.unwrap(), [b"c".to_vec()]);
    for s in ["order-3", "order-4"] {
        assert!(matches!(count(s).await, Err(Error::NotFound { .. })), "{s}");
    }
}

#[tokio::test]
async fn a_client_that_does_not_read_its_answers_is_held_back() {
    let server = Server::start();
    // The client's windows bound what the server can send it unread. The
    // stream's is 1 KiB: h2 (0.4.20 on) ends a connection with
    // ENHANCE_YOUR_CALM when too many small DATA frames sit unread in it
    // (each under 256 bytes costs 256 minus its size of a budget of at
    // least 25,600), and answers (11 bytes or more each, alone in a frame
    // when they trickle out one group commit at a time) would exhaust it
    // in a 64 KiB window; 1 KiB holds at most 93 of them (22,785).
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .initial_stream_window_size(1024)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut raw = pb::streams_client::StreamsClient::new(channel);
    let pulled = Arc::new(AtomicU64::new(0));
    let p = pulled.clone();
    let requests = futures::stream::iter(0u64..).map(move |i| {
        p.fetch_add(1, Ordering::Relaxed);
        item(
            i,
            append(
                &format!("flood-{}", i % 64),
                Exp::Any(pb::Empty {}),
                &[7u8; 1024],
            ),
        )
    });
    let mut answers = raw.append_session(requests).await.unwrap().into_inner();
    // Nobody reads the answers: the transport stops taking requests.
    let mut last = 0;
    let plateau = common::eventually(
        Duration::from_secs(30),
        "the client to be held back",
        || {
            let now = pulled.load(Ordering::Relaxed);
            let stable = now == last && now > 0;
            last = now;
            async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                stable.then_some(now)
            }
        },
    )
    .await;
    let head = server
        .client()
        .await
        .server_info()
        .await
        .unwrap()
        .head_position;
    eprintln!("held back after {plateau} requests pulled, {head} appended");
    // Bounded: the session's 256 in flight, what the server's answers fill
    // of the client's 1 KiB window and the encoder's buffer, and the
    // requests in the server's receive window — not the endless stream.
    assert!(
        plateau < 20_000,
        "{plateau} requests taken without reading an answer"
    );
    assert!(head <= plateau);
    // Reading answers lets it go on, each in order.
    for i in 0..plateau + 1_000 {
        let a = within(Duration::from_secs(20), "an answer", answers.message())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.correlation_id, i);
        success_of(&a);
    }
    assert!(pulled.load(Ordering::Relaxed) > plateau);
}

#[tokio::test]
async fn each_append_needs_write_on_its_stream_and_a_revoked_grant_or_expired_token_stops_the_next()
{
    let server = Server::start();
    let anon = server.client_no_retry().await;
    anon.add_user("root", "root-password", &["admin"])
        .await
        .unwrap();
    let root = Client::builder(server.url())
        .basic_auth("root", "root-password")
        .connect()
        .await
        .unwrap();
    root.add_user("writer", "writer-password", &[])
        .await
        .unwrap();
    let grant = root
        .grant("user:writer", "order-", &[Permission::Write])
        .await
        .unwrap();

    // Through the client's sessions (the interceptor's credentials).
    let writer = Client::builder(server.url())
        .basic_auth("writer", "writer-password")
        .retry_policy(RetryPolicy::none())
        .connect()
        .await
        .unwrap();
    writer
        .append(
            "order-0",
            ExpectedRevision::NoStream,
            vec![EventData::binary("T", b"x".to_vec())],
        )
        .await
        .unwrap();
    let e = writer
        .append(
            "invoice-0",
            ExpectedRevision::Any,
            vec![EventData::binary("T", b"x".to_vec())],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");

    // Raw: no credentials, no session.
    let mut raw = server.raw().await;
    let s = raw
        .append_session(futures::stream::iter(vec![item(
            1,
            append("order-9", no_stream(), b"x"),
        )]))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut answers = raw
        .append_session(with_basic(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
            "writer",
            "writer-password",
        ))
        .await
        .unwrap()
        .into_inner();
    let ask = |id: u64, stream: &str| {
        tx.send(item(id, append(stream, Exp::Any(pb::Empty {}), b"y")))
            .unwrap();
    };
    ask(1, "order-1");
    ask(2, "invoice-1");
    ask(3, "order-2");
    async fn next(
        answers: &mut tonic::Streaming<pb::AppendSessionResponse>,
    ) -> pb::AppendSessionResponse {
        within(Duration::from_secs(10), "an answer", answers.message())
            .await
            .unwrap()
            .unwrap()
    }
    success_of(&next(&mut answers).await);
    let denied = next(&mut answers).await;
    assert_eq!(denied.correlation_id, 2);
    assert_eq!(error_of(&denied).code, Code::PermissionDenied as u32);
    assert_eq!(error_of(&denied).kind, "access-denied");
    success_of(&next(&mut answers).await);

    // The grant goes; the same open session's next append is refused.
    root.revoke_grant(&grant.id).await.unwrap();
    ask(4, "order-3");
    let refused = next(&mut answers).await;
    assert_eq!(
        (refused.correlation_id, error_of(&refused).kind.as_str()),
        (4, "access-denied")
    );

    // A session opened with a bearer token stops at the token's expiry
    // (nothing about the store's security changes then).
    root.grant("user:writer", "order-", &[Permission::Write])
        .await
        .unwrap();
    let token = root
        .create_token("writer", Some(Duration::from_secs(1)), "expiring")
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut req = tonic::Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token.token).parse().unwrap(),
    );
    let mut answers = raw.append_session(req).await.unwrap().into_inner();
    tx.send(item(1, append("order-5", Exp::Any(pb::Empty {}), b"z")))
        .unwrap();
    success_of(&next(&mut answers).await);
    let expires = token.expires_micros.expect("an expiring token");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    tokio::time::sleep(Duration::from_micros(
        (expires - now).max(0) as u64 + 100_000,
    ))
    .await;
    tx.send(item(2, append("order-6", Exp::Any(pb::Empty {}), b"z")))
        .unwrap();
    let expired = next(&mut answers).await;
    assert_eq!(
        (expired.correlation_id, error_of(&expired).kind.as_str()),
        (2, "access-denied")
    );

    for s in ["invoice-0", "invoice-1", "order-3", "order-6"] {
        let r = root
            .read_stream(s, ReadOptions::forwards())
            .try_collect::<Vec<_>>()
            .await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{s}: {r:?}");
    }
}

#[tokio::test]
async fn a_kill_mid_flight_loses_no_acknowledged_append_and_retries_write_nothing_twice() {
    const WRITERS: usize = 16;
    const APPENDS: usize = 60;
    let mut server = Server::start();
    let client = server.client().await;
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (client, acked) = (client.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let stream = format!("kill-{w}");
            let mut results = Vec::new();
            for i in 0..APPENDS {
                let id = uuid::Uuid::from_u128(((w as u128) << 64) | i as u128 | 1 << 100);
                let expected = match i {
                    0 => ExpectedRevision::NoStream,
                    _ => ExpectedRevision::Exact(i as u64 - 1),
                };
                let e = EventData::binary("T", format!("{w}-{i}").into_bytes()).with_id(id);
                let r = client.append(&stream, expected, vec![e]).await?;
                acked.fetch_add(1, Ordering::Relaxed);
                results.push((r, id));
            }
            Ok::<_, Error>(results)
        }));
    }
    common::eventually(Duration::from_secs(30), "some appends acknowledged", || {
        let n = acked.load(Ordering::Relaxed);
        async move { (n >= WRITERS * APPENDS / 4).then_some(()) }
    })
    .await;
    server.kill();
    let at_kill = acked.load(Ordering::Relaxed);
    server.restart();
    let mut dedup = 0;
    for (w, t) in tasks.into_iter().enumerate() {
        let results = within(Duration::from_secs(60), "the writers", t)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("writer {w} failed: {e}\n{}", server.logs()));
        let events: Vec<_> = client
            .read_stream(format!("kill-{w}"), ReadOptions::forwards())
            .try_collect()
            .await
            .unwrap();
        // Every acknowledged append is there, once, at its revision.
        assert_eq!(events.len(), APPENDS, "writer {w}");
        for (i, ((r, id), e)) in results.iter().zip(&events).enumerate() {
            assert_eq!(
                (r.last_revision, e.revision, e.id),
                (i as u64, i as u64, *id)
            );
            assert_eq!(r.last_position, e.position);
            dedup += usize::from(r.deduplicated);
        }
    }
    eprintln!("killed after {at_kill} acknowledged; {dedup} retries came back deduplicated");
    assert!(at_kill < WRITERS * APPENDS, "the kill came mid-flight");
}

#[tokio::test]
async fn many_concurrent_appends_on_one_client_go_over_a_few_sessions() {
    const TASKS: usize = 64;
    const APPENDS: usize = 40;
    let server = Server::start();
    let client = server.client().await;
    let started = metric(&server, "strata_append_sessions_total");
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..APPENDS {
                let expected = match i {
                    0 => ExpectedRevision::NoStream,
                    _ => ExpectedRevision::Exact(i as u64 - 1),
                };
                let r = client
                    .append(
                        format!("many-{t}"),
                        expected,
                        vec![EventData::binary("T", vec![1])],
                    )
                    .await
                    .unwrap();
                assert_eq!(r.last_revision, i as u64);
            }
        }));
    }
    for t in tasks {
        within(Duration::from_secs(60), "the appenders", t)
            .await
            .unwrap();
    }
    // A conflict is the typed error, through the session.
    let e = client
        .append(
            "many-0",
            ExpectedRevision::Exact(0),
            vec![EventData::binary("T", vec![1])],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::WrongExpectedRevision { stream, actual, .. }
            if stream == "many-0" && actual.to_string() == (APPENDS - 1).to_string()),
        "{e:?}"
    );
    let opened = metric(&server, "strata_append_sessions_total") - started;
    assert!(
        (1.0..=strata_client::DEFAULT_APPEND_SESSIONS as f64).contains(&opened),
        "{opened} sessions for one client"
    );
    assert_eq!(
        metric(&server, "strata_append_requests_total{outcome=\"ok\"}") as usize,
        TASKS * APPENDS
    );
    assert_eq!(
        metric(
            &server,
            "strata_append_requests_total{outcome=\"conflict\"}"
        ),
        1.0
    );

    // Turned off, appends are unary: no session opens.
    let unary = Client::builder(server.url())
        .unary_appends()
        .connect()
        .await
        .unwrap();
    let before = metric(&server, "strata_append_sessions_total");
    let mut counts = HashMap::new();
    for i in 0..5 {
        let r = unary
            .append(
                "unary-1",
                ExpectedRevision::Any,
                vec![EventData::binary("T", vec![i])],
            )
            .await
            .unwrap();
        *counts.entry(r.deduplicated).or_insert(0) += 1;
    }
    assert_eq!(counts.get(&false), Some(&5));
    assert_eq!(metric(&server, "strata_append_sessions_total"), before);
}
