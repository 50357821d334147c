//! Persistent subscriptions (consumer groups) against the real binary,
//! with several consumers over raw gRPC: sharing and redelivery on a
//! consumer's death, retries into the parked stream and replay, order per
//! stream under random nacks and consumer kills, and resumption from the
//! checkpoint after a `kill -9` of the server.

mod common;

use common::{error_kind, raw_event, read_raw, Server};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_proto::v1 as pb;
use strata_proto::v1::group_read_request::Content as In;
use strata_proto::v1::group_read_response::Content as Out;
use strata_proto::v1::persistent_subscriptions_client::PersistentSubscriptionsClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Code;

type Groups = PersistentSubscriptionsClient<Channel>;

async fn groups(server: &Server) -> Groups {
    PersistentSubscriptionsClient::connect(server.url())
        .await
        .expect("connect")
}

fn seed() -> u64 {
    let s = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("seed = {s} (rerun with STRATA_TEST_SEED={s})");
    s
}

fn settings(strategy: pb::GroupStrategy) -> pb::GroupSettings {
    pb::GroupSettings {
        strategy: strategy as i32,
        message_timeout_ms: Some(60_000),
        checkpoint_after_ms: Some(50),
        ..Default::default()
    }
}

async fn create(g: &mut Groups, group: &str, stream: &str, settings: pb::GroupSettings) {
    g.create(pb::CreateGroupRequest {
        group: group.into(),
        stream: stream.into(),
        settings: Some(settings),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|s| panic!("create {group}: {s:?}"));
}

async fn info(g: &mut Groups, group: &str) -> pb::GroupInfo {
    g.get_info(pb::GetGroupInfoRequest {
        group: group.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// One consumer connection: events in, acks and nacks out.
struct Consumer {
    tx: mpsc::Sender<pb::GroupReadRequest>,
    events: tonic::Streaming<pb::GroupReadResponse>,
    pending: Vec<pb::GroupEvent>,
}

impl Consumer {
    async fn join(
        g: &mut Groups,
        group: &str,
        name: &str,
        buffer: u32,
    ) -> Result<Consumer, tonic::Status> {
        let (tx, rx) = mpsc::channel(1024);
        tx.send(pb::GroupReadRequest {
            content: Some(In::Options(pb::group_read_request::Options {
                group: group.into(),
                buffer_size: buffer,
                consumer_name: name.into(),
            })),
        })
        .await
        .unwrap();
        let mut events = g.read(ReceiverStream::new(rx)).await?.into_inner();
        match events.message().await?.and_then(|m| m.content) {
            Some(Out::Confirmation(_)) => {}
            other => panic!("expected a confirmation, got {other:?}"),
        }
        Ok(Consumer {
            tx,
            events,
            pending: Vec::new(),
        })
    }

    /// The next event (waiting at most `wait`).
    async fn next(&mut self, wait: Duration) -> Option<pb::GroupEvent> {
        if self.pending.is_empty() {
            let msg = tokio::time::timeout(wait, self.events.message())
                .await
                .ok()?;
            match msg.ok()?.and_then(|m| m.content) {
                Some(Out::Events(e)) => self.pending = e.events.into_iter().rev().collect(),
                _ => return None,
            }
        }
        self.pending.pop()
    }

    async fn ack(&self, ids: Vec<String>) {
        let _ = self
            .tx
            .send(pb::GroupReadRequest {
                content: Some(In::Ack(pb::group_read_request::Ack { ids })),
            })
            .await;
    }

    async fn nack(&self, id: String, action: pb::NackAction, reason: &str) {
        let _ = self
            .tx
            .send(pb::GroupReadRequest {
                content: Some(In::Nack(pb::group_read_request::Nack {
                    ids: vec![id],
                    action: action as i32,
                    reason: reason.into(),
                })),
            })
            .await;
    }
}

fn id_of(e: &pb::GroupEvent) -> String {
    e.event.as_ref().unwrap().id.clone()
}

async fn fill(server: &Server, streams: usize, per_stream: usize) -> Vec<(String, u64, u64)> {
    let mut raw = server.raw().await;
    let mut out = Vec::new();
    for s in 0..streams {
        let stream = format!("job-{s}");
        let events = (0..per_stream)
            .map(|i| raw_event("Job", format!("{stream}/{i}").as_bytes()))
            .collect();
        let r = raw
            .append(pb::AppendRequest {
                stream: stream.clone(),
                expected_revision: None,
                events,
            })
            .await
            .unwrap()
            .into_inner();
        for i in 0..per_stream as u64 {
            out.push((stream.clone(), i, r.first_position + i));
        }
    }
    out
}

#[tokio::test]
async fn three_consumers_share_the_work_and_a_dead_consumers_events_go_to_the_others() {
    let server = Server::start();
    let mut g = groups(&server).await;
    fill(&server, 100, 100).await;
    create(
        &mut g,
        "workers",
        "$all",
        settings(pb::GroupStrategy::RoundRobin),
    )
    .await;
    let acks: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let mut tasks = Vec::new();
    for c in 0..3 {
        let (mut g, acks) = (groups(&server).await, acks.clone());
        tasks.push(tokio::spawn(async move {
            let mut me = Consumer::join(&mut g, "workers", &format!("c{c}"), 32)
                .await
                .unwrap();
            let mut got = 0;
            let mut batch = Vec::new();
            while let Some(e) = me.next(Duration::from_secs(2)).await {
                got += 1;
                if c == 2 && got > 1_000 {
                    // The doomed consumer stops acking, keeps what it has,
                    // lets its last acks reach the server, then dies.
                    me.ack(std::mem::take(&mut batch)).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return got;
                }
                *acks.lock().unwrap().entry(id_of(&e)).or_default() += 1;
                batch.push(id_of(&e));
                if batch.len() >= 16 || me.pending.is_empty() {
                    me.ack(std::mem::take(&mut batch)).await;
                }
            }
            got
        }));
    }
    let mut delivered = 0;
    for t in tasks {
        delivered += t.await.unwrap();
    }
    let acks = acks.lock().unwrap().clone();
    assert_eq!(acks.len(), 10_000, "every event acked");
    assert!(acks.values().all(|n| *n == 1), "each acked exactly once");
    assert!(
        delivered > 10_000,
        "the dead consumer's events were delivered again"
    );
    let i = info(&mut g, "workers").await;
    assert_eq!((i.acked, i.in_flight), (10_000, 0), "{i:?}");
    assert!(i.redelivered > 0, "{i:?}");
    assert!(i.checkpoint >= 10_000, "{i:?}");
}

#[tokio::test]
async fn retries_end_in_the_parked_stream_and_a_replay_delivers_them_again() {
    let server = Server::start();
    let mut g = groups(&server).await;
    fill(&server, 1, 3).await;
    let s = pb::GroupSettings {
        max_retry_count: Some(2),
        ..settings(pb::GroupStrategy::RoundRobin)
    };
    create(&mut g, "mailer", "job-0", s).await;
    let mut me = Consumer::join(&mut g, "mailer", "m", 8).await.unwrap();
    let mut retries = Vec::new();
    let mut acked = 0;
    while acked < 2 || retries.len() < 3 {
        let e = me.next(Duration::from_secs(5)).await.expect("an event");
        if e.event.as_ref().unwrap().revision == 1 {
            retries.push(e.retry_count);
            me.nack(id_of(&e), pb::NackAction::Retry, "smtp said no")
                .await;
        } else {
            acked += 1;
            me.ack(vec![id_of(&e)]).await;
        }
    }
    assert_eq!(retries, vec![0, 1, 2]);
    let mut raw = server.raw().await;
    let parked_req = || pb::ReadRequest {
        stream: "$parked-mailer".into(),
        ..Default::default()
    };
    let parked = common::eventually(Duration::from_secs(5), "the parked record", || {
        let mut raw = raw.clone();
        async move {
            read_raw(&mut raw, parked_req())
                .await
                .ok()
                .filter(|p| !p.is_empty())
        }
    })
    .await;
    let meta = String::from_utf8(parked[0].metadata.clone()).unwrap();
    assert!(meta.contains("smtp said no"), "{meta}");
    assert!(meta.contains("\"original_revision\":1"), "{meta}");
    assert_eq!(parked[0].data, b"job-0/1");
    assert_eq!(info(&mut g, "mailer").await.parked, 1);
    let cp = info(&mut g, "mailer").await.checkpoint;
    assert_eq!(cp, 3, "the parked event counts as handled");
    // Replay: delivered again, out of band; once acked it leaves the stream.
    let queued = g
        .replay_parked(pb::ReplayParkedRequest {
            group: "mailer".into(),
            max_count: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .queued;
    assert_eq!(queued, 1);
    let e = me.next(Duration::from_secs(5)).await.expect("the replay");
    assert!(e.replayed);
    assert_eq!(e.event.as_ref().unwrap().revision, 1);
    me.ack(vec![id_of(&e)]).await;
    common::eventually(Duration::from_secs(5), "an empty parked stream", || {
        let mut raw = raw.clone();
        async move {
            read_raw(&mut raw, parked_req())
                .await
                .ok()
                .filter(|p| p.is_empty())
        }
    })
    .await;
    // The group counts the truncation once its write is acknowledged to it,
    // a moment after readers can see it.
    let i = common::eventually(Duration::from_secs(5), "a parked count of 0", || {
        let mut g = g.clone();
        async move { Some(info(&mut g, "mailer").await).filter(|i| i.parked == 0) }
    })
    .await;
    assert_eq!(i.checkpoint, cp, "a replay never moves the checkpoint");
    // Unknown groups and duplicates are refused with their kinds.
    let dup = g
        .create(pb::CreateGroupRequest {
            group: "mailer".into(),
            stream: "job-0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (dup.code(), error_kind(&dup).as_deref()),
        (Code::AlreadyExists, Some("group-exists"))
    );
    let missing = Consumer::join(&mut g, "nope", "x", 1).await.err().unwrap();
    assert_eq!(
        (missing.code(), error_kind(&missing).as_deref()),
        (Code::NotFound, Some("group-not-found"))
    );
    let _ = &mut raw;
}

#[tokio::test]
async fn ordered_by_stream_keeps_each_stream_in_order_through_nacks_and_consumer_kills() {
    let seed = seed();
    let server = Server::start();
    let mut g = groups(&server).await;
    fill(&server, 20, 25).await;
    let s = pb::GroupSettings {
        max_in_flight: Some(8),
        max_retry_count: Some(1_000),
        ..settings(pb::GroupStrategy::OrderedByStream)
    };
    create(&mut g, "ordered", "$all", s).await;
    // Per stream: the event held by some consumer, and the acked revisions.
    let held: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let acked: Arc<Mutex<BTreeMap<String, Vec<u64>>>> = Arc::default();
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let total_acked = || acked.lock().unwrap().values().map(Vec::len).sum::<usize>();
    let mut generation = 0u64;
    while total_acked() < 500 {
        generation += 1;
        assert!(
            generation < 200,
            "seed {seed}: no progress; acked {}",
            total_acked()
        );
        let mut tasks = Vec::new();
        for c in 0..3 {
            let (mut g, held, acked, violations) = (
                groups(&server).await,
                held.clone(),
                acked.clone(),
                violations.clone(),
            );
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (generation << 8) ^ c);
            tasks.push(tokio::spawn(async move {
                let mut me = Consumer::join(&mut g, "ordered", &format!("g{generation}c{c}"), 8)
                    .await
                    .unwrap();
                let mut mine: HashSet<String> = HashSet::new();
                let lifetime = rng.random_range(10..120);
                for _ in 0..lifetime {
                    let Some(e) = me.next(Duration::from_millis(500)).await else {
                        break;
                    };
                    let ev = e.event.clone().unwrap();
                    {
                        let mut h = held.lock().unwrap();
                        if let Some(other) = h.insert(ev.stream.clone(), ev.id.clone()) {
                            violations.lock().unwrap().push(format!(
                                "{}@{} delivered while {other} of the same stream was out",
                                ev.stream, ev.revision
                            ));
                        }
                    }
                    mine.insert(ev.stream.clone());
                    let roll = rng.random_range(0..10);
                    held.lock().unwrap().remove(&ev.stream);
                    mine.remove(&ev.stream);
                    if roll == 0 {
                        me.nack(ev.id.clone(), pb::NackAction::Retry, "flaky").await;
                    } else {
                        acked
                            .lock()
                            .unwrap()
                            .entry(ev.stream.clone())
                            .or_default()
                            .push(ev.revision);
                        me.ack(vec![ev.id.clone()]).await;
                    }
                }
                // Die: what this consumer still held goes back to the group.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let mut h = held.lock().unwrap();
                for s in mine {
                    h.remove(&s);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let v = violations.lock().unwrap();
    assert!(v.is_empty(), "seed {seed}: {v:?}");
    for (stream, revs) in acked.lock().unwrap().iter() {
        assert_eq!(
            revs,
            &(0..25).collect::<Vec<_>>(),
            "seed {seed}: stream {stream}"
        );
    }
}

/// The group's durable checkpoint: the last record of its checkpoint stream.
async fn durable_checkpoint(server: &Server, group: &str) -> u64 {
    let mut raw = server.raw().await;
    let req = pb::ReadRequest {
        stream: format!("$checkpoint-{group}"),
        direction: pb::Direction::Backwards as i32,
        max_count: 1,
        ..Default::default()
    };
    match read_raw(&mut raw, req).await {
        Ok(v) => v
            .first()
            .map(|e| {
                let j: serde_json::Value = serde_json::from_slice(&e.data).unwrap();
                j["checkpoint"].as_u64().unwrap()
            })
            .unwrap_or(0),
        Err(_) => 0,
    }
}

#[tokio::test]
async fn after_a_kill_9_a_group_resumes_from_its_checkpoint_and_finishes() {
    let mut server = Server::start();
    let mut g = groups(&server).await;
    let all = fill(&server, 20, 100).await;
    create(
        &mut g,
        "resume",
        "$all",
        settings(pb::GroupStrategy::RoundRobin),
    )
    .await;
    let mut acked: HashSet<String> = HashSet::new();
    let mut durable = Vec::new();
    let mut me = Consumer::join(&mut g, "resume", "r", 64).await.unwrap();
    while acked.len() < 1_000 {
        let e = me.next(Duration::from_secs(5)).await.expect("an event");
        acked.insert(id_of(&e));
        me.ack(vec![id_of(&e)]).await;
        if acked.len().is_multiple_of(100) {
            durable.push(durable_checkpoint(&server, "resume").await);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    durable.push(durable_checkpoint(&server, "resume").await);
    server.kill();
    server.restart();
    let mut g = groups(&server).await;
    let resumed = info(&mut g, "resume").await.checkpoint;
    assert!(resumed > 0, "a checkpoint was written before the kill");
    durable.push(resumed);
    let mut me = Consumer::join(&mut g, "resume", "r2", 64).await.unwrap();
    while acked.len() < all.len() {
        let e = me.next(Duration::from_secs(5)).await.expect("an event");
        let ev = e.event.as_ref().unwrap();
        assert!(
            ev.position > resumed,
            "{}@{} (position {}) came back though the checkpoint {resumed} covers it",
            ev.stream,
            ev.revision,
            ev.position
        );
        acked.insert(id_of(&e));
        me.ack(vec![id_of(&e)]).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    durable.push(durable_checkpoint(&server, "resume").await);
    assert!(
        durable.windows(2).all(|w| w[0] <= w[1]),
        "durable checkpoints moved back: {durable:?}"
    );
    // Done through the last event (and the group's own records after it).
    assert!(
        *durable.last().unwrap() >= all.last().unwrap().2,
        "{durable:?}"
    );
}

/// Parks the first event the consumer gets; returns once it is parked.
async fn park_one(g: &mut Groups, group: &str) {
    let mut me = Consumer::join(g, group, "parker", 8).await.unwrap();
    let e = me.next(Duration::from_secs(5)).await.expect("an event");
    me.nack(id_of(&e), pb::NackAction::Park, "poison").await;
    common::eventually(Duration::from_secs(5), "the park", || {
        let mut g = g.clone();
        async move { (info(&mut g, group).await.parked == 1).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn a_group_recreated_under_the_same_name_counts_only_its_own_parked_events_after_a_restart() {
    let mut server = Server::start();
    let mut g = groups(&server).await;
    fill(&server, 1, 2).await;
    create(
        &mut g,
        "mailer",
        "job-0",
        settings(pb::GroupStrategy::RoundRobin),
    )
    .await;
    park_one(&mut g, "mailer").await;
    g.delete(pb::DeleteGroupRequest {
        group: "mailer".into(),
    })
    .await
    .unwrap();
    create(
        &mut g,
        "mailer",
        "job-0",
        settings(pb::GroupStrategy::RoundRobin),
    )
    .await;
    assert_eq!(
        info(&mut g, "mailer").await.parked,
        0,
        "the old group's parks are gone"
    );
    park_one(&mut g, "mailer").await;
    assert!(server.terminate().await.success(), "{}", server.logs());
    server.restart();
    let mut g = groups(&server).await;
    assert_eq!(
        info(&mut g, "mailer").await.parked,
        1,
        "only the new group's park"
    );
}
