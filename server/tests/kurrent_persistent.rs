//! The KurrentDB client protocol's PersistentSubscriptions service against
//! the real binary, through the generated KurrentDB client: subscriptions
//! to a stream and to `$all` (stream-prefix filter; the filter regexes
//! clients build from plain names), two round-robin consumers sharing
//! events each acked once, a nack with retry redelivered with its retry
//! count, a nack with park into the group's parked stream
//! and back by ReplayParked, GetInfo and List naming KurrentDB's stream and
//! group, and the errors clients expect (already exists, does not exist).

mod common;
mod kurrent;

use common::{read_raw, Server};
use futures::StreamExt;
use kurrent::{append, client, e, exception, proposed, sid, Duration, Expected, WAIT};
use std::collections::HashSet;
use strata_proto::kurrent::persistent_subscriptions as ps;
use strata_proto::kurrent::persistent_subscriptions::persistent_subscriptions_client::PersistentSubscriptionsClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Code;

type Subs = PersistentSubscriptionsClient<Channel>;

async fn subs(s: &Server) -> Subs {
    PersistentSubscriptionsClient::connect(s.url())
        .await
        .expect("connect")
}

fn settings(strategy: &str) -> ps::create_req::Settings {
    ps::create_req::Settings {
        max_retry_count: 5,
        consumer_strategy: strategy.into(),
        message_timeout: Some(ps::create_req::settings::MessageTimeout::MessageTimeoutMs(
            60_000,
        )),
        checkpoint_after: Some(ps::create_req::settings::CheckpointAfter::CheckpointAfterMs(50)),
        min_checkpoint_count: 1,
        max_checkpoint_count: 1,
        max_subscriber_count: 0,
        ..Default::default()
    }
}

async fn create_on_stream(
    c: &mut Subs,
    stream: &str,
    group: &str,
    strategy: &str,
) -> Result<(), tonic::Status> {
    use ps::create_req::{
        options::StreamOption, stream_options::RevisionOption, Options, StreamOptions,
    };
    c.create(ps::CreateReq {
        options: Some(Options {
            stream_option: Some(StreamOption::Stream(StreamOptions {
                stream_identifier: sid(stream),
                revision_option: Some(RevisionOption::Start(e())),
            })),
            group_name: group.into(),
            settings: Some(settings(strategy)),
            ..Default::default()
        }),
    })
    .await
    .map(|_| ())
}

async fn create_on_all(c: &mut Subs, group: &str, stream_prefixes: &[&str]) {
    use ps::create_req::all_options::filter_options::{Expression, Filter};
    let filter = Filter::StreamIdentifier(Expression {
        regex: String::new(),
        prefix: stream_prefixes.iter().map(|p| (*p).to_owned()).collect(),
    });
    create_on_all_with(c, group, filter)
        .await
        .expect("create on $all");
}

async fn create_on_all_with(
    c: &mut Subs,
    group: &str,
    filter: ps::create_req::all_options::filter_options::Filter,
) -> Result<(), tonic::Status> {
    use ps::create_req::all_options::{filter_options, AllOption, FilterOption, FilterOptions};
    use ps::create_req::{options::StreamOption, AllOptions, Options};
    let filter = FilterOption::Filter(FilterOptions {
        filter: Some(filter),
        window: Some(filter_options::Window::Count(e())),
        checkpoint_interval_multiplier: 1,
    });
    c.create(ps::CreateReq {
        options: Some(Options {
            stream_option: Some(StreamOption::All(AllOptions {
                all_option: Some(AllOption::Start(e())),
                filter_option: Some(filter),
            })),
            group_name: group.into(),
            settings: Some(settings("DispatchToSingle")),
            ..Default::default()
        }),
    })
    .await
    .map(|_| ())
}

fn stream_option(stream: Option<&str>) -> ps::read_req::options::StreamOption {
    use ps::read_req::options::StreamOption;
    match stream {
        Some(s) => StreamOption::StreamIdentifier(sid(s).unwrap()),
        None => StreamOption::All(e()),
    }
}

/// One consumer: its answers, and its acks and nacks out.
struct Consumer {
    tx: mpsc::Sender<ps::ReadReq>,
    rx: tonic::Streaming<ps::ReadResp>,
}

impl Consumer {
    /// Joins (`stream` `None` = `$all`); the confirmation's subscription id.
    async fn join(
        c: &mut Subs,
        stream: Option<&str>,
        group: &str,
    ) -> Result<(Consumer, String), tonic::Status> {
        use ps::read_req::options::{uuid_option, UuidOption};
        let (tx, rx) = mpsc::channel(64);
        tx.send(ps::ReadReq {
            content: Some(ps::read_req::Content::Options(ps::read_req::Options {
                stream_option: Some(stream_option(stream)),
                group_name: group.into(),
                buffer_size: 10,
                uuid_option: Some(UuidOption {
                    content: Some(uuid_option::Content::Structured(e())),
                }),
            })),
        })
        .await
        .unwrap();
        let mut rx = c.read(ReceiverStream::new(rx)).await?.into_inner();
        let first = tokio::time::timeout(WAIT, rx.next())
            .await
            .expect("confirmation in time")
            .expect("open")?;
        match first.content {
            Some(ps::read_resp::Content::SubscriptionConfirmation(c)) => {
                Ok((Consumer { tx, rx }, c.subscription_id))
            }
            other => panic!("expected the confirmation, got {other:?}"),
        }
    }

    /// The next event within `wait`, with its retry count.
    async fn next(
        &mut self,
        wait: Duration,
    ) -> Option<(ps::read_resp::read_event::RecordedEvent, i32)> {
        let m = tokio::time::timeout(wait, self.rx.next())
            .await
            .ok()??
            .expect("event");
        match m.content {
            Some(ps::read_resp::Content::Event(ev)) => {
                let retry = match ev.count {
                    Some(ps::read_resp::read_event::Count::RetryCount(n)) => n,
                    _ => panic!("no retry count"),
                };
                Some((ev.event.expect("event"), retry))
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }

    async fn ack(&self, id: &strata_proto::kurrent::event_store::client::Uuid) {
        self.tx
            .send(ps::ReadReq {
                content: Some(ps::read_req::Content::Ack(ps::read_req::Ack {
                    id: Vec::new(),
                    ids: vec![id.clone()],
                })),
            })
            .await
            .unwrap();
    }

    async fn nack(
        &self,
        id: &strata_proto::kurrent::event_store::client::Uuid,
        action: ps::read_req::nack::Action,
    ) {
        self.tx
            .send(ps::ReadReq {
                content: Some(ps::read_req::Content::Nack(ps::read_req::Nack {
                    id: Vec::new(),
                    ids: vec![id.clone()],
                    action: action as i32,
                    reason: "test".into(),
                })),
            })
            .await
            .unwrap();
    }
}

fn id_text(u: &strata_proto::kurrent::event_store::client::Uuid) -> String {
    use strata_proto::kurrent::event_store::client::uuid::Value;
    match u.value.as_ref().expect("id") {
        Value::Structured(s) => uuid::Uuid::from_u64_pair(
            s.most_significant_bits as u64,
            s.least_significant_bits as u64,
        )
        .to_string(),
        Value::String(s) => s.clone(),
    }
}

async fn info(
    c: &mut Subs,
    stream: Option<&str>,
    group: &str,
) -> Result<ps::SubscriptionInfo, tonic::Status> {
    use ps::get_info_req::options::StreamOption;
    let stream_option = match stream {
        Some(s) => StreamOption::StreamIdentifier(sid(s).unwrap()),
        None => StreamOption::All(e()),
    };
    let r = c
        .get_info(ps::GetInfoReq {
            options: Some(ps::get_info_req::Options {
                stream_option: Some(stream_option),
                group_name: group.into(),
            }),
        })
        .await?;
    Ok(r.into_inner().subscription_info.expect("info"))
}

#[tokio::test]
async fn two_round_robin_consumers_share_a_streams_events_each_acked_once() {
    let server = Server::start();
    let mut c = subs(&server).await;
    create_on_stream(&mut c, "order_1", "billing", "RoundRobin")
        .await
        .expect("create");
    // Both join before the events exist, so neither takes them all.
    let (mut a, sub_id) = Consumer::join(&mut c, Some("order_1"), "billing")
        .await
        .expect("join a");
    assert_eq!(sub_id, "order_1::billing");
    let (mut b, _) = Consumer::join(&mut c, Some("order_1"), "billing")
        .await
        .expect("join b");
    let mut streams = client(&server).await;
    let events: Vec<_> = (0..10)
        .map(|i| proposed("Placed", format!("{{\"n\":{i}}}").as_bytes()))
        .collect();
    append(&mut streams, "order_1", Expected::NoStream(e()), events).await;
    let mut seen = HashSet::new();
    let (mut by_a, mut by_b) = (0, 0);
    while seen.len() < 10 {
        tokio::select! {
            Some((ev, retry)) = a.next(WAIT) => {
                assert_eq!(retry, 0);
                assert!(seen.insert(ev.stream_revision), "revision {} twice", ev.stream_revision);
                a.ack(ev.id.as_ref().unwrap()).await;
                by_a += 1;
            }
            Some((ev, retry)) = b.next(WAIT) => {
                assert_eq!(retry, 0);
                assert!(seen.insert(ev.stream_revision), "revision {} twice", ev.stream_revision);
                b.ack(ev.id.as_ref().unwrap()).await;
                by_b += 1;
            }
        }
    }
    assert!(by_a > 0 && by_b > 0, "round robin shares: {by_a} / {by_b}");
    // Every ack counted: nothing comes again, the checkpoint reaches the end.
    assert!(a.next(Duration::from_millis(300)).await.is_none());
    assert!(b.next(Duration::from_millis(300)).await.is_none());
    let i = common::eventually(
        Duration::from_secs(10),
        "the checkpoint at revision 9",
        || {
            let mut c = c.clone();
            async move {
                info(&mut c, Some("order_1"), "billing")
                    .await
                    .ok()
                    .filter(|i| i.last_checkpointed_event_position == "9")
            }
        },
    )
    .await;
    assert_eq!(i.event_source, "order_1");
    assert_eq!(i.group_name, "billing");
    assert_eq!(i.named_consumer_strategy, "RoundRobin");
    assert_eq!(i.connections.len(), 2);
    assert_eq!(i.total_items, 10);
    assert_eq!(i.max_retry_count, 5);
    assert_eq!(i.max_subscriber_count, 0, "0 = unlimited, as asked");
    assert_eq!(i.start_from, "0");
}

#[tokio::test]
async fn nacks_retry_with_a_count_and_park_until_replayed_on_all() {
    let server = Server::start();
    let mut streams = client(&server).await;
    let mut c = subs(&server).await;
    create_on_all(&mut c, "payments", &["pay-"]).await;
    append(
        &mut streams,
        "other-1",
        Expected::Any(e()),
        vec![proposed("Ignored", b"{}")],
    )
    .await;
    append(
        &mut streams,
        "pay-1",
        Expected::Any(e()),
        vec![proposed("Paid", b"{}")],
    )
    .await;

    let (consumer, sub_id) = Consumer::join(&mut c, None, "payments")
        .await
        .expect("join");
    assert_eq!(sub_id, "$all::payments");
    let mut consumer = consumer;
    let (ev, retry) = consumer.next(WAIT).await.expect("the event");
    assert_eq!(
        (kurrent_name(&ev), retry),
        ("pay-1".to_owned(), 0),
        "only pay- streams"
    );
    let id = ev.id.clone().unwrap();
    consumer.nack(&id, ps::read_req::nack::Action::Retry).await;
    let (again, retry) = consumer.next(WAIT).await.expect("redelivered");
    assert_eq!(
        (id_text(again.id.as_ref().unwrap()), retry),
        (id_text(&id), 1)
    );

    consumer.nack(&id, ps::read_req::nack::Action::Park).await;
    let raw = server.raw().await;
    let parked = common::eventually(Duration::from_secs(10), "the parked record", || {
        let mut raw = raw.clone();
        async move {
            let req = strata_proto::v1::ReadRequest {
                stream: "$parked-payments".into(),
                ..Default::default()
            };
            read_raw(&mut raw, req).await.ok().filter(|p| !p.is_empty())
        }
    })
    .await;
    assert_eq!(parked.len(), 1);
    let i = common::eventually(Duration::from_secs(10), "one parked in the info", || {
        let mut c = c.clone();
        async move {
            info(&mut c, None, "payments")
                .await
                .ok()
                .filter(|i| i.parked_message_count == 1)
        }
    })
    .await;
    assert_eq!(
        (i.event_source.as_str(), i.group_name.as_str()),
        ("$all", "payments")
    );
    assert!(
        consumer.next(Duration::from_millis(300)).await.is_none(),
        "parked, not redelivered"
    );

    use ps::replay_parked_req::options::{StopAtOption, StreamOption};
    c.replay_parked(ps::ReplayParkedReq {
        options: Some(ps::replay_parked_req::Options {
            group_name: "payments".into(),
            stream_option: Some(StreamOption::All(e())),
            stop_at_option: Some(StopAtOption::NoLimit(e())),
        }),
    })
    .await
    .expect("replay");
    let (replayed, _) = consumer.next(WAIT).await.expect("replayed");
    assert_eq!(id_text(replayed.id.as_ref().unwrap()), id_text(&id));
    consumer.ack(&id).await;
    common::eventually(Duration::from_secs(10), "nothing parked", || {
        let mut c = c.clone();
        async move {
            info(&mut c, None, "payments")
                .await
                .ok()
                .filter(|i| i.parked_message_count == 0)
        }
    })
    .await;
}

fn kurrent_name(e: &ps::read_resp::read_event::RecordedEvent) -> String {
    String::from_utf8(e.stream_identifier.clone().unwrap().stream_name).unwrap()
}

/// What Python's kurrentdbclient sends: every `$all` filter as a regex —
/// by default one excluding system event types, `filter_include` as
/// `^A|B$`.
#[tokio::test]
async fn all_filter_regexes_of_plain_names_are_kept() {
    use ps::create_req::all_options::filter_options::{Expression, Filter};
    let regex = |r: &str| Expression {
        regex: r.into(),
        prefix: Vec::new(),
    };
    let server = Server::start();
    let mut streams = client(&server).await;
    let mut c = subs(&server).await;
    create_on_all_with(
        &mut c,
        "defaults",
        Filter::EventType(regex(r"^(?!(\$.+$|PersistentConfig\d+$|Result$))")),
    )
    .await
    .expect("the default exclusion is accepted");
    create_on_all_with(&mut c, "typed", Filter::EventType(regex("^Paid|Refunded$")))
        .await
        .expect("literal event types are accepted");
    let refused = create_on_all_with(&mut c, "exact", Filter::StreamIdentifier(regex("^pay-1$")))
        .await
        .expect_err("an exact stream name is refused");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("'pay-1.*'"), "{refused:?}");

    let types = ["Paid", "Shipped", "Refunded", "Result"];
    let events = types.iter().map(|t| proposed(t, b"{}")).collect();
    append(&mut streams, "pay-1", Expected::Any(e()), events).await;
    let delivered = |c: &mut Subs, group: &'static str, n: usize| {
        let mut c = c.clone();
        async move {
            let (mut consumer, _) = Consumer::join(&mut c, None, group).await.expect("join");
            let mut got = Vec::new();
            while got.len() < n {
                let (ev, _) = consumer.next(WAIT).await.expect("an event");
                consumer.ack(ev.id.as_ref().unwrap()).await;
                got.push(ev.metadata["type"].clone());
            }
            assert!(
                consumer.next(Duration::from_millis(300)).await.is_none(),
                "{group}: nothing more"
            );
            got
        }
    };
    assert_eq!(delivered(&mut c, "typed", 2).await, ["Paid", "Refunded"]);
    // No filter: every application event (`Result` ones too).
    assert_eq!(delivered(&mut c, "defaults", 4).await, types);
}

#[tokio::test]
async fn list_and_get_info_name_kurrentdbs_stream_and_group() {
    let server = Server::start();
    let mut c = subs(&server).await;
    create_on_stream(&mut c, "order_7", "audit", "Pinned")
        .await
        .expect("stream");
    create_on_all(&mut c, "audit", &[]).await;

    use ps::list_req::{
        options::ListOption, stream_option::StreamOption, Options, StreamOption as ForStream,
    };
    let list = |o: ListOption| ps::ListReq {
        options: Some(Options {
            list_option: Some(o),
        }),
    };
    let all = c
        .list(list(ListOption::ListAllSubscriptions(e())))
        .await
        .expect("list")
        .into_inner();
    let mut names: Vec<(String, String)> = all
        .subscriptions
        .iter()
        .map(|s| (s.event_source.clone(), s.group_name.clone()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("$all".into(), "audit".into()),
            ("order_7".into(), "audit".into())
        ]
    );
    let one = c
        .list(list(ListOption::ListForStream(ForStream {
            stream_option: Some(StreamOption::Stream(sid("order_7").unwrap())),
        })))
        .await
        .expect("list for a stream")
        .into_inner();
    assert_eq!(one.subscriptions.len(), 1);
    assert_eq!(one.subscriptions[0].named_consumer_strategy, "Pinned");
    let none = c
        .list(list(ListOption::ListForStream(ForStream {
            stream_option: Some(StreamOption::Stream(sid("nobody").unwrap())),
        })))
        .await
        .expect_err("no subscriptions on that stream");
    assert_eq!(none.code(), Code::NotFound);

    let i = info(&mut c, Some("order_7"), "audit").await.expect("info");
    assert_eq!(
        (i.event_source.as_str(), i.group_name.as_str()),
        ("order_7", "audit")
    );
    let i = info(&mut c, None, "audit").await.expect("info on $all");
    assert_eq!(i.event_source, "$all");
    assert_eq!(i.start_from, "C:0/P:0");
}

#[tokio::test]
async fn create_twice_is_already_exists_and_after_delete_read_is_not_found() {
    let server = Server::start();
    let mut c = subs(&server).await;
    create_on_stream(&mut c, "order-9", "ship", "DispatchToSingle")
        .await
        .expect("create");
    let twice = create_on_stream(&mut c, "order-9", "ship", "DispatchToSingle")
        .await
        .expect_err("twice");
    assert_eq!(twice.code(), Code::AlreadyExists);
    assert_eq!(exception(&twice), Some("persistent-subscription-exists"));
    // The same group name on another stream is another subscription.
    create_on_stream(&mut c, "order-10", "ship", "DispatchToSingle")
        .await
        .expect("other stream");
    let refused = create_on_stream(&mut c, "order-11", "ship", "PinnedByCorrelation")
        .await
        .expect_err("unsupported strategy");
    assert_eq!(refused.code(), Code::InvalidArgument);

    let (mut live, _) = Consumer::join(&mut c, Some("order-9"), "ship")
        .await
        .expect("join");
    use ps::delete_req::options::StreamOption;
    c.delete(ps::DeleteReq {
        options: Some(ps::delete_req::Options {
            stream_option: Some(StreamOption::StreamIdentifier(sid("order-9").unwrap())),
            group_name: "ship".into(),
        }),
    })
    .await
    .expect("delete");
    // The connected consumer is told its subscription is gone.
    let ended = tokio::time::timeout(WAIT, live.rx.next())
        .await
        .expect("in time");
    match ended {
        Some(Err(s)) => {
            assert_eq!(s.code(), Code::NotFound);
            assert_eq!(
                exception(&s),
                Some("persistent-subscription-does-not-exist")
            );
        }
        other => panic!("expected the not-found error, got {other:?}"),
    }
    let gone = Consumer::join(&mut c, Some("order-9"), "ship")
        .await
        .err()
        .expect("not found");
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(
        exception(&gone),
        Some("persistent-subscription-does-not-exist")
    );
    assert_eq!(
        gone.metadata()
            .get("group-name")
            .and_then(|v| v.to_str().ok()),
        Some("ship")
    );
    assert_eq!(
        gone.metadata()
            .get("stream-name")
            .and_then(|v| v.to_str().ok()),
        Some("order-9")
    );
    assert_eq!(
        info(&mut c, Some("order-9"), "ship")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert!(
        info(&mut c, Some("order-10"), "ship").await.is_ok(),
        "the other stream's stays"
    );
}
