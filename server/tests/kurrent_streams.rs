//! The KurrentDB client protocol against the real binary, through the
//! generated KurrentDB client (`strata_proto::kurrent`): appends with each
//! expected state, reads of streams and `$all` both ways, a filtered `$all`
//! subscription (confirmation, caught_up, live events, checkpoints),
//! stream-not-found, delete and tombstone, `$$stream` metadata, BatchAppend,
//! Gossip, ServerFeatures, and UNIMPLEMENTED for what is not served.

mod common;

use common::Server;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use strata_proto::kurrent::event_store::client::{self as shared, Empty};
use strata_proto::kurrent::gossip::gossip_client::GossipClient;
use strata_proto::kurrent::gossip::member_info::VNodeState;
use strata_proto::kurrent::server_features::server_features_client::ServerFeaturesClient;
use strata_proto::kurrent::streams as pb;
use strata_proto::kurrent::streams::streams_client::StreamsClient;
use tonic::transport::Channel;

type Client = StreamsClient<Channel>;

const WAIT: Duration = Duration::from_secs(20);

async fn client(s: &Server) -> Client {
    StreamsClient::connect(s.url()).await.expect("connect")
}

fn sid(name: &str) -> Option<shared::StreamIdentifier> {
    Some(shared::StreamIdentifier {
        stream_name: name.as_bytes().to_vec(),
    })
}

fn id(u: uuid::Uuid) -> Option<shared::Uuid> {
    Some(shared::Uuid {
        value: Some(shared::uuid::Value::String(u.to_string())),
    })
}

fn proposed(ty: &str, data: &[u8]) -> pb::append_req::ProposedMessage {
    proposed_with_id(uuid::Uuid::new_v4(), ty, data)
}

fn proposed_with_id(u: uuid::Uuid, ty: &str, data: &[u8]) -> pb::append_req::ProposedMessage {
    pb::append_req::ProposedMessage {
        id: id(u),
        metadata: HashMap::from([
            ("type".to_owned(), ty.to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ]),
        custom_metadata: b"{}".to_vec(),
        data: data.to_vec(),
    }
}

type Expected = pb::append_req::options::ExpectedStreamRevision;

async fn append(
    c: &mut Client,
    stream: &str,
    expected: Expected,
    events: Vec<pb::append_req::ProposedMessage>,
) -> pb::append_resp::Result {
    use pb::append_req::{Content, Options};
    let mut msgs = vec![pb::AppendReq {
        content: Some(Content::Options(Options {
            stream_identifier: sid(stream),
            expected_stream_revision: Some(expected),
        })),
    }];
    msgs.extend(events.into_iter().map(|m| pb::AppendReq {
        content: Some(Content::ProposedMessage(m)),
    }));
    c.append(futures::stream::iter(msgs))
        .await
        .expect("append call")
        .into_inner()
        .result
        .expect("a result")
}

/// The stream revision and position of a successful append.
fn success(r: pb::append_resp::Result) -> (u64, u64) {
    use pb::append_resp::success::{CurrentRevisionOption, PositionOption};
    match r {
        pb::append_resp::Result::Success(s) => {
            let Some(CurrentRevisionOption::CurrentRevision(rev)) = s.current_revision_option
            else {
                panic!("no revision: {s:?}")
            };
            let Some(PositionOption::Position(p)) = s.position_option else {
                panic!("no position: {s:?}")
            };
            assert_eq!(p.commit_position, p.prepare_position);
            (rev, p.commit_position)
        }
        other => panic!("expected success, got {other:?}"),
    }
}

fn e() -> Empty {
    Empty {}
}

fn read_req(
    stream: pb::read_req::options::StreamOption,
    backwards: bool,
    count: Option<u64>,
    filter: Option<pb::read_req::options::FilterOptions>,
) -> pb::ReadReq {
    use pb::read_req::options::{uuid_option, CountOption, FilterOption, UuidOption};
    use pb::read_req::Options;
    pb::ReadReq {
        options: Some(Options {
            stream_option: Some(stream),
            read_direction: i32::from(backwards),
            resolve_links: false,
            count_option: Some(match count {
                Some(n) => CountOption::Count(n),
                None => CountOption::Subscription(Default::default()),
            }),
            filter_option: Some(match filter {
                Some(f) => FilterOption::Filter(f),
                None => FilterOption::NoFilter(e()),
            }),
            uuid_option: Some(UuidOption {
                content: Some(uuid_option::Content::String(e())),
            }),
            control_option: Some(pb::read_req::options::ControlOption { compatibility: 1 }),
        }),
    }
}

fn stream_at(
    name: &str,
    from: pb::read_req::options::stream_options::RevisionOption,
) -> pb::read_req::options::StreamOption {
    pb::read_req::options::StreamOption::Stream(pb::read_req::options::StreamOptions {
        stream_identifier: sid(name),
        revision_option: Some(from),
    })
}

fn all_at(
    from: pb::read_req::options::all_options::AllOption,
) -> pb::read_req::options::StreamOption {
    pb::read_req::options::StreamOption::All(pb::read_req::options::AllOptions {
        all_option: Some(from),
    })
}

/// Every message of a bounded read.
async fn read_all_messages(
    c: &mut Client,
    r: pb::ReadReq,
) -> Result<Vec<pb::read_resp::Content>, tonic::Status> {
    let mut s = c.read(r).await?.into_inner();
    let mut out = Vec::new();
    while let Some(m) = tokio::time::timeout(WAIT, s.next())
        .await
        .expect("read in time")
    {
        out.push(m?.content.expect("content"));
    }
    Ok(out)
}

/// The recorded events of a read's messages.
fn events(msgs: &[pb::read_resp::Content]) -> Vec<pb::read_resp::read_event::RecordedEvent> {
    msgs.iter()
        .filter_map(|m| match m {
            pb::read_resp::Content::Event(e) => e.event.clone(),
            _ => None,
        })
        .collect()
}

fn name(e: &pb::read_resp::read_event::RecordedEvent) -> String {
    String::from_utf8(e.stream_identifier.clone().unwrap().stream_name).unwrap()
}

/// The next message of a subscription, within [`WAIT`].
async fn next(sub: &mut tonic::Streaming<pb::ReadResp>) -> pb::read_resp::Content {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a message in time")
        .expect("open")
        .expect("ok")
        .content
        .expect("content")
}

fn exception(s: &tonic::Status) -> Option<&str> {
    s.metadata().get("exception").and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn appends_with_each_expected_state_and_a_wrong_one_is_a_response() {
    let server = Server::start();
    let mut c = client(&server).await;
    let (rev, pos) = success(
        append(
            &mut c,
            "order-1",
            Expected::NoStream(e()),
            vec![proposed("Placed", b"{}"), proposed("Paid", b"{}")],
        )
        .await,
    );
    assert_eq!((rev, pos), (1, 2), "revisions from 0, positions from 1");
    assert_eq!(
        success(
            append(
                &mut c,
                "order-1",
                Expected::Revision(1),
                vec![proposed("Shipped", b"{}")]
            )
            .await
        )
        .0,
        2
    );
    assert_eq!(
        success(
            append(
                &mut c,
                "order-1",
                Expected::StreamExists(e()),
                vec![proposed("Noted", b"{}")]
            )
            .await
        )
        .0,
        3
    );
    let retried = uuid::Uuid::new_v4();
    let first = success(
        append(
            &mut c,
            "order-1",
            Expected::Any(e()),
            vec![proposed_with_id(retried, "Noted", b"{}")],
        )
        .await,
    );
    assert_eq!(first.0, 4);
    // An idempotent retry answers the original append's figures.
    let again = success(
        append(
            &mut c,
            "order-1",
            Expected::Any(e()),
            vec![proposed_with_id(retried, "Noted", b"{}")],
        )
        .await,
    );
    assert_eq!(again, first);

    use pb::append_resp::wrong_expected_version::{
        CurrentRevisionOption as Cur, ExpectedRevisionOption as Exp,
    };
    match append(
        &mut c,
        "order-1",
        Expected::NoStream(e()),
        vec![proposed("X", b"{}")],
    )
    .await
    {
        pb::append_resp::Result::WrongExpectedVersion(w) => {
            assert_eq!(w.current_revision_option, Some(Cur::CurrentRevision(4)));
            assert_eq!(w.expected_revision_option, Some(Exp::ExpectedNoStream(e())));
        }
        other => panic!("{other:?}"),
    }
    match append(
        &mut c,
        "order-1",
        Expected::Revision(0),
        vec![proposed("X", b"{}")],
    )
    .await
    {
        pb::append_resp::Result::WrongExpectedVersion(w) => {
            assert_eq!(w.current_revision_option, Some(Cur::CurrentRevision(4)));
            assert_eq!(w.expected_revision_option, Some(Exp::ExpectedRevision(0)));
        }
        other => panic!("{other:?}"),
    }
    match append(
        &mut c,
        "nobody",
        Expected::StreamExists(e()),
        vec![proposed("X", b"{}")],
    )
    .await
    {
        pb::append_resp::Result::WrongExpectedVersion(w) => {
            assert_eq!(w.current_revision_option, Some(Cur::CurrentNoStream(e())));
        }
        other => panic!("{other:?}"),
    }
    // An event without a type is refused as KurrentDB refuses it.
    let mut bad = proposed("X", b"{}");
    bad.metadata.remove("type");
    use pb::append_req::{Content, Options};
    let msgs = vec![
        pb::AppendReq {
            content: Some(Content::Options(Options {
                stream_identifier: sid("order-1"),
                expected_stream_revision: Some(Expected::Any(e())),
            })),
        },
        pb::AppendReq {
            content: Some(Content::ProposedMessage(bad)),
        },
    ];
    let err = c.append(futures::stream::iter(msgs)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(exception(&err), Some("missing-required-metadata-property"));
}

#[tokio::test]
async fn reads_streams_and_all_forwards_and_backwards() {
    use pb::read_req::options::all_options::AllOption;
    use pb::read_req::options::stream_options::RevisionOption;
    let server = Server::start();
    let mut c = client(&server).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
        * 10;
    success(
        append(
            &mut c,
            "a-1",
            Expected::Any(e()),
            vec![proposed("A", b"{\"n\":0}"), proposed("A", b"{\"n\":1}")],
        )
        .await,
    );
    success(
        append(
            &mut c,
            "b-1",
            Expected::Any(e()),
            vec![proposed("B", b"{}")],
        )
        .await,
    );
    success(
        append(
            &mut c,
            "a-1",
            Expected::Any(e()),
            vec![proposed("A", b"{\"n\":2}")],
        )
        .await,
    );

    let fwd = events(
        &read_all_messages(
            &mut c,
            read_req(
                stream_at("a-1", RevisionOption::Start(e())),
                false,
                Some(100),
                None,
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        fwd.iter().map(|e| e.stream_revision).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(
        fwd.iter().map(|e| e.commit_position).collect::<Vec<_>>(),
        vec![1, 2, 4]
    );
    assert_eq!(fwd[2].data, b"{\"n\":2}");
    let md = &fwd[0].metadata;
    assert_eq!(md["type"], "A");
    assert_eq!(md["content-type"], "application/json");
    let created: i64 = md["created"].parse().unwrap();
    assert!(
        created >= before - 10_000_000 && created <= before + 600_000_000,
        "created is ticks since the Unix epoch: {created}"
    );
    assert!(matches!(
        fwd[0].id.as_ref().unwrap().value,
        Some(shared::uuid::Value::String(_))
    ));

    let back = events(
        &read_all_messages(
            &mut c,
            read_req(
                stream_at("a-1", RevisionOption::End(e())),
                true,
                Some(2),
                None,
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        back.iter().map(|e| e.stream_revision).collect::<Vec<_>>(),
        vec![2, 1]
    );
    let from1 = events(
        &read_all_messages(
            &mut c,
            read_req(
                stream_at("a-1", RevisionOption::Revision(1)),
                false,
                Some(1),
                None,
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        from1.iter().map(|e| e.stream_revision).collect::<Vec<_>>(),
        vec![1]
    );

    let all = events(
        &read_all_messages(
            &mut c,
            read_req(all_at(AllOption::Start(e())), false, Some(100), None),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        all.iter().map(|e| e.commit_position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        all.iter().map(name).collect::<Vec<_>>(),
        vec!["a-1", "a-1", "b-1", "a-1"]
    );
    let last = events(
        &read_all_messages(
            &mut c,
            read_req(all_at(AllOption::End(e())), true, Some(1), None),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        last.iter().map(|e| e.commit_position).collect::<Vec<_>>(),
        vec![4]
    );
    let from3 = events(
        &read_all_messages(
            &mut c,
            read_req(
                all_at(AllOption::Position(pb::read_req::options::Position {
                    commit_position: 3,
                    prepare_position: 3,
                })),
                false,
                Some(100),
                None,
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        from3.iter().map(|e| e.commit_position).collect::<Vec<_>>(),
        vec![3, 4]
    );

    // A filtered $all read counts only matches.
    let filter = pb::read_req::options::FilterOptions {
        filter: Some(
            pb::read_req::options::filter_options::Filter::StreamIdentifier(
                pb::read_req::options::filter_options::Expression {
                    regex: "^b-".into(),
                    prefix: vec![],
                },
            ),
        ),
        window: Some(pb::read_req::options::filter_options::Window::Max(10)),
        checkpoint_interval_multiplier: 1,
    };
    let bs = events(
        &read_all_messages(
            &mut c,
            read_req(all_at(AllOption::Start(e())), false, Some(5), Some(filter)),
        )
        .await
        .unwrap(),
    );
    assert_eq!(bs.iter().map(name).collect::<Vec<_>>(), vec!["b-1"]);
}

#[tokio::test]
async fn absent_deleted_and_tombstoned_streams_read_as_kurrentdb_clients_expect() {
    use pb::read_req::options::stream_options::RevisionOption;
    let server = Server::start();
    let mut c = client(&server).await;
    let read = |s: &str| {
        read_req(
            stream_at(s, RevisionOption::Start(e())),
            false,
            Some(10),
            None,
        )
    };
    let msgs = read_all_messages(&mut c, read("ghost")).await.unwrap();
    assert!(
        matches!(msgs.as_slice(), [pb::read_resp::Content::StreamNotFound(_)]),
        "{msgs:?}"
    );

    success(
        append(
            &mut c,
            "doomed",
            Expected::NoStream(e()),
            vec![proposed("A", b"{}"), proposed("A", b"{}")],
        )
        .await,
    );
    // A wrong expected revision on delete is a status, as KurrentDB's.
    let err = c
        .delete(pb::DeleteReq {
            options: Some(pb::delete_req::Options {
                stream_identifier: sid("doomed"),
                expected_stream_revision: Some(
                    pb::delete_req::options::ExpectedStreamRevision::Revision(0),
                ),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(exception(&err), Some("wrong-expected-version"));
    assert_eq!(err.metadata().get("actual-version").unwrap(), "1");
    assert!(
        err.message().contains("WrongExpectedVersion"),
        "{}",
        err.message()
    );
    let deleted = c
        .delete(pb::DeleteReq {
            options: Some(pb::delete_req::Options {
                stream_identifier: sid("doomed"),
                expected_stream_revision: Some(
                    pb::delete_req::options::ExpectedStreamRevision::Revision(1),
                ),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        deleted.position_option,
        Some(pb::delete_resp::PositionOption::Position(_))
    ));
    // Soft-deleted: reads as absent, and may be written again, continuing.
    let msgs = read_all_messages(&mut c, read("doomed")).await.unwrap();
    assert!(
        matches!(msgs.as_slice(), [pb::read_resp::Content::StreamNotFound(_)]),
        "{msgs:?}"
    );
    assert_eq!(
        success(
            append(
                &mut c,
                "doomed",
                Expected::Any(e()),
                vec![proposed("A", b"{}")]
            )
            .await
        )
        .0,
        2
    );
    let back = events(&read_all_messages(&mut c, read("doomed")).await.unwrap());
    assert_eq!(
        back.iter().map(|e| e.stream_revision).collect::<Vec<_>>(),
        vec![2]
    );

    c.tombstone(pb::TombstoneReq {
        options: Some(pb::tombstone_req::Options {
            stream_identifier: sid("doomed"),
            expected_stream_revision: Some(
                pb::tombstone_req::options::ExpectedStreamRevision::Any(e()),
            ),
        }),
    })
    .await
    .unwrap();
    let err = read_all_messages(&mut c, read("doomed")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(exception(&err), Some("stream-deleted"));
    assert_eq!(err.metadata().get("stream-name").unwrap(), "doomed");
    assert!(err.message().contains("is deleted"), "{}", err.message());
    let err = {
        use pb::append_req::{Content, Options};
        let msgs = vec![
            pb::AppendReq {
                content: Some(Content::Options(Options {
                    stream_identifier: sid("doomed"),
                    expected_stream_revision: Some(Expected::Any(e())),
                })),
            },
            pb::AppendReq {
                content: Some(Content::ProposedMessage(proposed("A", b"{}"))),
            },
        ];
        c.append(futures::stream::iter(msgs)).await.unwrap_err()
    };
    assert_eq!(exception(&err), Some("stream-deleted"));
}

#[tokio::test]
async fn a_filtered_all_subscription_confirms_catches_up_then_gets_live_events_and_checkpoints() {
    use pb::read_req::options::all_options::AllOption;
    let server = Server::start();
    let mut c = client(&server).await;
    success(
        append(
            &mut c,
            "o-1",
            Expected::Any(e()),
            vec![proposed("OrderPlaced", b"{}"), proposed("Other", b"{}")],
        )
        .await,
    );
    success(
        append(
            &mut c,
            "o-2",
            Expected::Any(e()),
            vec![
                proposed("Other", b"{}"),
                proposed("Other", b"{}"),
                proposed("OrderPaid", b"{}"),
            ],
        )
        .await,
    );
    let filter = pb::read_req::options::FilterOptions {
        filter: Some(pb::read_req::options::filter_options::Filter::EventType(
            pb::read_req::options::filter_options::Expression {
                regex: String::new(),
                prefix: vec!["Order".into()],
            },
        )),
        window: Some(pb::read_req::options::filter_options::Window::Max(2)),
        checkpoint_interval_multiplier: 1,
    };
    let mut sub = c
        .read(read_req(
            all_at(AllOption::Start(e())),
            false,
            None,
            Some(filter),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        matches!(next(&mut sub).await, pb::read_resp::Content::Confirmation(ref c) if !c.subscription_id.is_empty())
    );
    let (mut types, mut checkpoints) = (Vec::new(), 0);
    loop {
        match next(&mut sub).await {
            pb::read_resp::Content::Event(ev) => {
                types.push(ev.event.unwrap().metadata["type"].clone())
            }
            pb::read_resp::Content::Checkpoint(cp) => {
                assert_eq!(cp.commit_position, cp.prepare_position);
                checkpoints += 1;
            }
            pb::read_resp::Content::CaughtUp(cu) => {
                assert_eq!(cu.position.map(|p| p.commit_position), Some(5));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(types, vec!["OrderPlaced", "OrderPaid"]);
    assert!(
        checkpoints >= 1,
        "five events examined, a window of two: checkpoints"
    );
    // Live: only the matching events arrive, after caught_up.
    let mut w = client(&server).await;
    success(
        append(
            &mut w,
            "o-3",
            Expected::Any(e()),
            vec![proposed("Other", b"{}"), proposed("OrderShipped", b"{}")],
        )
        .await,
    );
    loop {
        match next(&mut sub).await {
            pb::read_resp::Content::Event(ev) => {
                let ev = ev.event.unwrap();
                assert_eq!(
                    (ev.metadata["type"].as_str(), ev.commit_position),
                    ("OrderShipped", 7)
                );
                break;
            }
            pb::read_resp::Content::Checkpoint(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn stream_metadata_round_trips_through_the_dollar_dollar_stream() {
    use pb::read_req::options::stream_options::RevisionOption;
    let server = Server::start();
    let mut c = client(&server).await;
    let body = br#"{"$maxCount":2,"$acl":{"$r":"$all"},"owner":"ann"}"#;
    let (rev, _) = success(
        append(
            &mut c,
            "$$cart-1",
            Expected::NoStream(e()),
            vec![proposed("$metadata", body)],
        )
        .await,
    );
    assert_eq!(rev, 0);
    let got = events(
        &read_all_messages(
            &mut c,
            read_req(
                stream_at("$$cart-1", RevisionOption::End(e())),
                true,
                Some(1),
                None,
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].metadata["type"], "$metadata");
    assert_eq!(got[0].stream_revision, 0);
    let json: serde_json::Value = serde_json::from_slice(&got[0].data).unwrap();
    assert_eq!(json["$maxCount"], 2);
    assert_eq!(json["owner"], "ann");
    assert_eq!(json["$acl"]["$r"], "$all");
    // The rule holds: only the last two events of cart-1 are visible.
    success(
        append(
            &mut c,
            "cart-1",
            Expected::Any(e()),
            vec![
                proposed("A", b"{}"),
                proposed("A", b"{}"),
                proposed("A", b"{}"),
            ],
        )
        .await,
    );
    let visible = events(
        &read_all_messages(
            &mut c,
            read_req(
                stream_at("cart-1", RevisionOption::Start(e())),
                false,
                Some(10),
                None,
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        visible
            .iter()
            .map(|e| e.stream_revision)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    // The metadata's own expected revision is checked.
    match append(
        &mut c,
        "$$cart-1",
        Expected::NoStream(e()),
        vec![proposed("$metadata", b"{}")],
    )
    .await
    {
        pb::append_resp::Result::WrongExpectedVersion(_) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        success(
            append(
                &mut c,
                "$$cart-1",
                Expected::Revision(0),
                vec![proposed("$metadata", b"{}")]
            )
            .await
        )
        .0,
        1
    );
    // A stream with no metadata has no $$ stream.
    let msgs = read_all_messages(
        &mut c,
        read_req(
            stream_at("$$other", RevisionOption::End(e())),
            true,
            Some(1),
            None,
        ),
    )
    .await
    .unwrap();
    assert!(
        matches!(msgs.as_slice(), [pb::read_resp::Content::StreamNotFound(_)]),
        "{msgs:?}"
    );
}

#[tokio::test]
async fn batch_append_answers_each_batch_by_correlation_id() {
    use pb::batch_append_req::options::ExpectedStreamPosition as Pos;
    let server = Server::start();
    let mut c = client(&server).await;
    let msg = |ty: &str| pb::batch_append_req::ProposedMessage {
        id: id(uuid::Uuid::new_v4()),
        metadata: HashMap::from([
            ("type".to_owned(), ty.to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ]),
        custom_metadata: vec![],
        data: b"{}".to_vec(),
    };
    let opts = |s: &str, p: Pos| {
        Some(pb::batch_append_req::Options {
            stream_identifier: sid(s),
            expected_stream_position: Some(p),
            deadline_option: None,
        })
    };
    let (good, bad) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let reqs = vec![
        // One batch in two messages.
        pb::BatchAppendReq {
            correlation_id: id(good),
            options: opts("batched", Pos::NoStream(())),
            proposed_messages: vec![msg("A")],
            is_final: false,
        },
        pb::BatchAppendReq {
            correlation_id: id(good),
            options: None,
            proposed_messages: vec![msg("B")],
            is_final: true,
        },
        pb::BatchAppendReq {
            correlation_id: id(bad),
            options: opts("batched", Pos::StreamPosition(7)),
            proposed_messages: vec![msg("C")],
            is_final: true,
        },
    ];
    let mut answers = c
        .batch_append(futures::stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let mut by_id = HashMap::new();
    while let Some(a) = tokio::time::timeout(WAIT, answers.next())
        .await
        .expect("in time")
    {
        let a = a.unwrap();
        let Some(shared::uuid::Value::String(k)) = a.correlation_id.clone().unwrap().value else {
            panic!()
        };
        by_id.insert(k, a);
    }
    use pb::batch_append_resp::{success::CurrentRevisionOption, Result};
    match &by_id[&good.to_string()].result {
        Some(Result::Success(s)) => assert_eq!(
            s.current_revision_option,
            Some(CurrentRevisionOption::CurrentRevision(1))
        ),
        other => panic!("{other:?}"),
    }
    match &by_id[&bad.to_string()].result {
        Some(Result::Error(s)) => {
            assert_eq!(s.code, 6, "ALREADY_EXISTS, as KurrentDB");
            let d = s.details.as_ref().unwrap();
            assert!(d
                .type_url
                .ends_with("event_store.client.WrongExpectedVersion"));
            let w = <shared::WrongExpectedVersion as prost::Message>::decode(d.value.as_slice())
                .unwrap();
            assert_eq!(w.current_stream_revision_option, Some(shared::wrong_expected_version::CurrentStreamRevisionOption::CurrentStreamRevision(1)));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn gossip_features_and_unimplemented_services() {
    let server = Server::start();
    let info = GossipClient::connect(server.url())
        .await
        .unwrap()
        .read(Empty {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.members.len(), 1);
    let m = &info.members[0];
    assert_eq!(m.state, VNodeState::Leader as i32);
    assert!(m.is_alive);
    assert_eq!(
        m.http_end_point.as_ref().unwrap().port,
        u32::from(server.addr.port())
    );

    let f = ServerFeaturesClient::connect(server.url())
        .await
        .unwrap()
        .get_supported_methods(Empty {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f.event_store_server_version.split('.').count(), 3);
    let has = |svc: &str, m: &str| {
        f.methods
            .iter()
            .any(|x| x.service_name == svc && x.method_name == m)
    };
    assert!(has("event_store.client.streams.streams", "read"));
    assert!(has("event_store.client.streams.streams", "batchappend"));
    assert!(has("event_store.client.gossip.gossip", "read"));

    // What Strata does not serve answers UNIMPLEMENTED.
    let channel = Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/event_store.client.projections.Projections/Statistics",
    );
    let r: Result<tonic::Response<Empty>, _> = grpc
        .unary(
            tonic::Request::new(Empty {}),
            path,
            tonic_prost::ProstCodec::<Empty, Empty>::default(),
        )
        .await;
    assert_eq!(r.unwrap_err().code(), tonic::Code::Unimplemented);
}
