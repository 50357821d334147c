//! The KurrentDB client protocol's Streams service against the real
//! binary, through the generated KurrentDB client: appends with each
//! expected state (a wrong one is a response), reads of streams and `$all`
//! both ways, stream-not-found, delete and tombstone, and a filtered `$all`
//! subscription (confirmation, caught_up, live events, checkpoints).

mod common;
mod kurrent;

use common::Server;
use kurrent::*;

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
    // Deleting a stream that does not exist: KurrentDB's wrong expected
    // version with actual version -1 (which clients report as not found).
    let err = c
        .delete(pb::DeleteReq {
            options: Some(pb::delete_req::Options {
                stream_identifier: sid("ghost"),
                expected_stream_revision: Some(
                    pb::delete_req::options::ExpectedStreamRevision::Any(e()),
                ),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(exception(&err), Some("wrong-expected-version"));
    assert!(
        err.message().contains("Actual version: -1"),
        "{}",
        err.message()
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
    // Deleting it again with `any` is fine; expecting it to exist is not.
    let again = |expected| pb::DeleteReq {
        options: Some(pb::delete_req::Options {
            stream_identifier: sid("doomed"),
            expected_stream_revision: Some(expected),
        }),
    };
    c.delete(again(pb::delete_req::options::ExpectedStreamRevision::Any(
        e(),
    )))
    .await
    .unwrap();
    let err = c
        .delete(again(
            pb::delete_req::options::ExpectedStreamRevision::StreamExists(e()),
        ))
        .await
        .unwrap_err();
    assert!(err.message().contains("is deleted"), "{}", err.message());
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
