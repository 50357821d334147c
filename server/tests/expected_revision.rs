//! Optimistic concurrency: every expected-revision kind, accepted and
//! refused; refusals are ABORTED and carry the actual revision.

mod common;

use common::{error_kind, events, raw_event, Server};
use futures::TryStreamExt;
use strata_client::{Client, CurrentRevision, Error, ExpectedRevision, ReadOptions};
use strata_proto::v1 as pb;

/// Appends one event; Ok(last revision) or the actual revision of a conflict.
async fn try_append(
    client: &Client,
    stream: &str,
    expected: ExpectedRevision,
) -> Result<u64, CurrentRevision> {
    match client
        .append(stream, expected, events("E", stream, 1))
        .await
    {
        Ok(r) => Ok(r.last_revision),
        Err(Error::WrongExpectedRevision {
            stream: s,
            expected: e,
            actual,
        }) => {
            assert_eq!(s, stream);
            assert_eq!(e, expected);
            Err(actual)
        }
        Err(other) => panic!("{stream} {expected:?}: unexpected error {other:?}"),
    }
}

async fn count(client: &Client, stream: &str) -> usize {
    match client
        .read_stream(stream, ReadOptions::forwards())
        .try_collect::<Vec<_>>()
        .await
    {
        Ok(v) => v.len(),
        Err(Error::NotFound { .. }) => 0,
        Err(e) => panic!("read {stream}: {e:?}"),
    }
}

#[tokio::test]
async fn every_expected_revision_case() {
    use CurrentRevision::{Current, NoStream as Missing};
    use ExpectedRevision::*;
    let server = Server::start();
    let c = server.client().await;

    // (stream, expected, outcome); streams are prepared with `events` events.
    struct Case {
        stream: &'static str,
        existing: usize,
        expected: ExpectedRevision,
        outcome: Result<u64, CurrentRevision>,
    }
    let cases = [
        Case {
            stream: "any-new",
            existing: 0,
            expected: Any,
            outcome: Ok(0),
        },
        Case {
            stream: "any-old",
            existing: 3,
            expected: Any,
            outcome: Ok(3),
        },
        Case {
            stream: "ns-new",
            existing: 0,
            expected: NoStream,
            outcome: Ok(0),
        },
        Case {
            stream: "ns-old",
            existing: 2,
            expected: NoStream,
            outcome: Err(Current(1)),
        },
        Case {
            stream: "se-new",
            existing: 0,
            expected: StreamExists,
            outcome: Err(Missing),
        },
        Case {
            stream: "se-old",
            existing: 1,
            expected: StreamExists,
            outcome: Ok(1),
        },
        Case {
            stream: "ex-ok",
            existing: 4,
            expected: Exact(3),
            outcome: Ok(4),
        },
        Case {
            stream: "ex-behind",
            existing: 4,
            expected: Exact(2),
            outcome: Err(Current(3)),
        },
        Case {
            stream: "ex-ahead",
            existing: 4,
            expected: Exact(9),
            outcome: Err(Current(3)),
        },
        Case {
            stream: "ex-missing",
            existing: 0,
            expected: Exact(0),
            outcome: Err(Missing),
        },
        Case {
            stream: "ex-zero",
            existing: 1,
            expected: Exact(0),
            outcome: Ok(1),
        },
    ];
    for case in &cases {
        if case.existing > 0 {
            c.append(case.stream, Any, events("Seed", case.stream, case.existing))
                .await
                .unwrap();
        }
    }
    for case in &cases {
        let got = try_append(&c, case.stream, case.expected).await;
        assert_eq!(
            got, case.outcome,
            "stream {} expected {:?}",
            case.stream, case.expected
        );
        // A refusal writes nothing; success writes exactly one event.
        let want = case.existing + usize::from(got.is_ok());
        assert_eq!(count(&c, case.stream).await, want, "stream {}", case.stream);
    }
}

#[tokio::test]
async fn conflict_status_carries_metadata() {
    let server = Server::start();
    let c = server.client().await;
    c.append("meta", ExpectedRevision::Any, events("E", "m", 3))
        .await
        .unwrap();
    let mut raw = server.raw().await;

    let req = |er: pb::append_request::ExpectedRevision, stream: &str| pb::AppendRequest {
        stream: stream.to_owned(),
        expected_revision: Some(er),
        events: vec![raw_event("E", b"x")],
    };
    use pb::append_request::ExpectedRevision as P;
    let st = raw.append(req(P::Exact(0), "meta")).await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::Aborted, "{st:?}");
    assert!(error_kind(&st).is_some(), "strata-error missing: {st:?}");
    assert_eq!(st.metadata().get("strata-actual-revision").unwrap(), "2");
    assert_eq!(st.metadata().get("strata-stream").unwrap(), "meta");

    let st = raw
        .append(req(P::StreamExists(pb::Empty {}), "ghost"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::Aborted, "{st:?}");
    assert!(error_kind(&st).is_some(), "strata-error missing: {st:?}");
    assert_eq!(
        st.metadata().get("strata-actual-revision").unwrap(),
        "no-stream"
    );
    assert_eq!(st.metadata().get("strata-stream").unwrap(), "ghost");

    // Unset expected revision means any.
    let ok = raw
        .append(pb::AppendRequest {
            stream: "meta".into(),
            expected_revision: None,
            events: vec![raw_event("E", b"y")],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.last_revision, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_exact_appends_have_one_winner() {
    let server = Server::start();
    let c = server.client().await;
    c.append("race", ExpectedRevision::NoStream, events("E", "seed", 1))
        .await
        .unwrap();
    for round in 0..5u64 {
        let tasks: Vec<_> = (0..8)
            .map(|w| {
                let c = c.clone();
                tokio::spawn(async move {
                    c.append(
                        "race",
                        ExpectedRevision::Exact(round),
                        events("E", &format!("r{round}w{w}"), 1),
                    )
                    .await
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(r) => {
                    assert_eq!(r.last_revision, round + 1);
                    winners += 1;
                }
                Err(Error::WrongExpectedRevision { actual, .. }) => {
                    assert_eq!(actual, CurrentRevision::Current(round + 1))
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
    assert_eq!(count(&c, "race").await, 6);
}

#[tokio::test]
async fn conflict_on_a_non_ascii_stream_name_is_typed() {
    let server = Server::start();
    let c = server.client().await;
    let name = "café-%-order";
    c.append(name, ExpectedRevision::NoStream, events("T", "a", 1))
        .await
        .unwrap();
    match c
        .append(name, ExpectedRevision::NoStream, events("T", "b", 1))
        .await
    {
        Err(Error::WrongExpectedRevision { stream, actual, .. }) => {
            assert_eq!(stream, name);
            assert_eq!(actual, CurrentRevision::Current(0));
        }
        other => panic!("expected a typed conflict, got {other:?}"),
    }
}
