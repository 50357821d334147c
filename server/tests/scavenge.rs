//! Scavenging a running server: under concurrent appends and
//! subscriptions, through `strata scavenge`, with erasure checked on the
//! files, and across seeded `kill -9` at random moments of a scavenge.

mod common;

use common::{dir_bytes, error_kind, raw_event, read_raw, Server, STRATA};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use strata_proto::v1 as pb;
use strata_proto::v1::admin_client::AdminClient;
use strata_proto::v1::streams_client::StreamsClient;
use tonic::transport::Channel;
use tonic::Code;

type Raw = StreamsClient<Channel>;

/// The smallest segment size the server accepts (32 MiB): scavenging
/// needs sealed segments, and small ones keep these tests short.
const SMALL_SEGMENTS: [&str; 2] = ["--segment-max-bytes", "33554432"];

fn seed() -> u64 {
    let s = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("seed = {s} (rerun with STRATA_TEST_SEED={s})");
    s
}

async fn append(raw: &mut Raw, stream: &str, datas: &[Vec<u8>]) -> pb::AppendResponse {
    raw.append(pb::AppendRequest {
        stream: stream.into(),
        expected_revision: None,
        events: datas.iter().map(|d| raw_event("E", d)).collect(),
    })
    .await
    .unwrap_or_else(|s| panic!("append to {stream}: {s:?}"))
    .into_inner()
}

async fn delete(raw: &mut Raw, stream: &str) {
    raw.delete_stream(pb::DeleteStreamRequest {
        stream: stream.into(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|s| panic!("delete {stream}: {s:?}"));
}

/// Every visible event of `$all`: (stream, revision) → data.
async fn all(raw: &mut Raw) -> BTreeMap<(String, u64), Vec<u8>> {
    let req = pb::ReadRequest {
        stream: "$all".into(),
        ..Default::default()
    };
    read_raw(raw, req)
        .await
        .unwrap()
        .into_iter()
        .map(|e| ((e.stream, e.revision), e.data))
        .collect()
}

async fn scavenge_until_done(admin: &mut AdminClient<Channel>) -> pb::ScavengeStatus {
    for _ in 0..12_000 {
        match admin.get_scavenge(pb::GetScavengeRequest {}).await {
            Ok(s) if s.get_ref().state != pb::ScavengeState::Running as i32 => {
                return s.into_inner()
            }
            Ok(_) => {}
            Err(s) => panic!("get scavenge: {s:?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the scavenge did not finish in two minutes");
}

fn blob(tag: &str, i: usize, kib: usize) -> Vec<u8> {
    let mut d = format!("{tag}#{i}:").into_bytes();
    d.resize(kib * 1024, b'.');
    d
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if std::fs::read(&p)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            hits.push(p.display().to_string());
        }
    }
    hits
}

#[tokio::test]
async fn a_scavenge_under_appends_and_subscriptions_loses_and_repeats_nothing() {
    let server = Server::start_with_args(&SMALL_SEGMENTS);
    let mut raw = server.raw().await;
    for round in 0..30 {
        for s in 0..20 {
            append(&mut raw, &format!("item-{s}"), &[blob("item", round, 64)]).await;
        }
    }
    for s in (0..20).step_by(2) {
        delete(&mut raw, &format!("item-{s}")).await;
    }
    // A subscription from the start, collecting everything it is sent.
    let mut sub = raw
        .subscribe(pb::SubscribeRequest {
            stream: "$all".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let collector = tokio::spawn(async move {
        let mut seen: Vec<(u64, String, u64)> = Vec::new();
        while let Ok(Some(msg)) = sub.message().await {
            if let Some(pb::subscribe_response::Content::Events(e)) = msg.content {
                seen.extend(
                    e.events
                        .into_iter()
                        .map(|e| (e.position, e.stream, e.revision)),
                );
                if seen.last().is_some_and(|e| e.1 == "done") {
                    break;
                }
            }
        }
        seen
    });
    // Appends keep coming while it runs.
    let appender = {
        let mut raw = server.raw().await;
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..150 {
                let r = append(&mut raw, "live", &[blob("live", i, 1)]).await;
                acked.push(r.last_position);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            acked
        })
    };
    let before = dir_bytes(&server.data_dir().join("log"));
    let mut admin = server.raw_admin().await;
    admin
        .start_scavenge(pb::StartScavengeRequest {
            max_bytes_per_second: Some(48 << 20),
        })
        .await
        .unwrap();
    let done = scavenge_until_done(&mut admin).await;
    assert_eq!(done.state, pb::ScavengeState::Completed as i32, "{done:?}");
    assert!(done.records_dropped >= 300, "{done:?}");
    let acked = appender.await.unwrap();
    append(&mut raw, "done", &[b"end".to_vec()]).await;
    let seen = collector.await.unwrap();
    // Positions strictly increasing: nothing repeated or reordered.
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
    let visible = all(&mut raw).await;
    let seen_keys: BTreeSet<_> = seen.iter().map(|e| (e.1.clone(), e.2)).collect();
    let visible_keys: BTreeSet<_> = visible.keys().cloned().collect();
    assert_eq!(
        seen_keys, visible_keys,
        "the subscription saw exactly what is visible"
    );
    assert_eq!(
        visible.keys().filter(|k| k.0 == "live").count(),
        acked.len()
    );
    assert!(visible.keys().all(|(s, _)| {
        s.strip_prefix("item-")
            .is_none_or(|n| n.parse::<u32>().unwrap() % 2 == 1)
    }));
    // The log shrank by the dropped events, less what the concurrent
    // appends (150 events of ~1 KiB) added meanwhile.
    let after = dir_bytes(&server.data_dir().join("log"));
    let dropped = 300 * 64 * 1024;
    assert!(done.bytes_reclaimed >= dropped, "{done:?}");
    assert!(
        before - after >= dropped - 512 * 1024,
        "log {before} -> {after} bytes after {done:?}"
    );
}

#[tokio::test]
async fn strata_scavenge_erases_a_deleted_stream_from_every_file() {
    let mut server = Server::start();
    let mut raw = server.raw().await;
    let marker = b"PII-8d3c1f7e-erase-me";
    let mut secret = marker.to_vec();
    secret.extend_from_slice(&[b' '; 512]);
    append(&mut raw, "customer-7", &[secret.clone(), secret.clone()]).await;
    append(&mut raw, "customer-8", &[b"stays".to_vec()]).await;
    let mut snaps = server.raw_snapshots().await;
    snaps
        .save_snapshot(pb::SaveSnapshotRequest {
            stream: "customer-7".into(),
            revision: 1,
            r#type: "Customer".into(),
            schema_version: 1,
            data: secret.clone(),
            metadata: vec![],
        })
        .await
        .unwrap();
    delete(&mut raw, "customer-7").await;
    let out = Command::new(STRATA)
        .args(["scavenge", "--addr", &server.url()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("completed"), "{text}");
    let status = Command::new(STRATA)
        .args(["scavenge", "--status", "--addr", &server.url()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&status.stdout).contains("completed"));
    server.terminate().await;
    assert_eq!(
        files_containing(server.data_dir(), marker),
        Vec::<String>::new()
    );
    server.restart();
    let mut raw = server.raw().await;
    let kept = read_raw(
        &mut raw,
        pb::ReadRequest {
            stream: "customer-8".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(kept[0].data, b"stays");
    let gone = read_raw(
        &mut raw,
        pb::ReadRequest {
            stream: "customer-7".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(error_kind(&gone).as_deref(), Some("stream-deleted"));
    let history = read_raw(
        &mut raw,
        pb::ReadRequest {
            stream: "$scavenges".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(kinds, vec!["$scavengeStarted", "$scavengeCompleted"]);
}

/// What the store must show: each stream's visible events, and the streams
/// that must answer "deleted".
#[derive(Default)]
struct Model {
    visible: BTreeMap<String, Vec<Vec<u8>>>,
    deleted: BTreeSet<String>,
    /// Next revision of every stream ever written.
    next: BTreeMap<String, u64>,
}

impl Model {
    fn expected_all(&self) -> BTreeMap<(String, u64), Vec<u8>> {
        let mut out = BTreeMap::new();
        for (s, datas) in &self.visible {
            let first = self.next[s] - datas.len() as u64;
            for (i, d) in datas.iter().enumerate() {
                out.insert((s.clone(), first + i as u64), d.clone());
            }
        }
        out
    }
}

async fn check(raw: &mut Raw, model: &Model, round: usize) {
    assert_eq!(
        all(raw).await,
        model.expected_all(),
        "round {round}: $all differs from the acknowledged history"
    );
    for s in &model.deleted {
        let r = read_raw(
            raw,
            pb::ReadRequest {
                stream: s.clone(),
                ..Default::default()
            },
        )
        .await;
        let e = r.expect_err("a deleted stream must not be readable");
        assert_eq!(
            error_kind(&e).as_deref(),
            Some("stream-deleted"),
            "round {round}: {s}"
        );
    }
}

#[tokio::test]
async fn kill_9_at_random_moments_of_a_scavenge_loses_nothing_visible_and_serves_nothing_dropped() {
    let rounds: usize = std::env::var("STRATA_SCAVENGE_KILL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut server = Server::start_with_args(&SMALL_SEGMENTS);
    let mut raw = server.raw().await;
    let mut model = Model::default();
    let streams: Vec<String> = (0..12).map(|i| format!("acct-{i}")).collect();
    let add = |model: &mut Model, s: &str, datas: Vec<Vec<u8>>| {
        let next = model.next.entry(s.to_owned()).or_insert(0);
        *next += datas.len() as u64;
        if model.deleted.remove(s) {
            model.visible.insert(s.to_owned(), Vec::new());
        }
        model.visible.entry(s.to_owned()).or_default().extend(datas);
    };
    for i in 0..40 {
        for s in &streams {
            let d = vec![blob(s, i, 80)];
            append(&mut raw, s, &d).await;
            add(&mut model, s, d);
        }
    }
    for round in 0..rounds {
        // New work for this round: a few appends, a delete, sometimes a
        // deleted stream comes back.
        for _ in 0..rng.random_range(1..6) {
            let s = &streams[rng.random_range(0..streams.len())];
            let d: Vec<_> = (0..rng.random_range(1..4))
                .map(|i| blob(&format!("{s}/r{round}"), i, rng.random_range(1..120)))
                .collect();
            append(&mut raw, s, &d).await;
            add(&mut model, s, d);
        }
        let victim = streams[rng.random_range(0..streams.len())].clone();
        if !model.deleted.contains(&victim) {
            delete(&mut raw, &victim).await;
            model.visible.remove(&victim);
            model.deleted.insert(victim);
        }
        let mut admin = server.raw_admin().await;
        admin
            .start_scavenge(pb::StartScavengeRequest {
                max_bytes_per_second: Some(96 << 20),
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
        server.kill();
        let verify = server.command(&["verify"]);
        assert!(
            verify.status.success(),
            "seed {seed} round {round}: verify after kill -9\n{}\n{}\n{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr),
            server.logs()
        );
        server.restart();
        raw = server.raw().await;
        check(&mut raw, &model, round).await;
    }
    // Let the last (resumed or new) scavenge finish, then everything again.
    let mut admin = server.raw_admin().await;
    admin
        .start_scavenge(pb::StartScavengeRequest::default())
        .await
        .unwrap();
    let done = scavenge_until_done(&mut admin).await;
    assert_eq!(
        done.state,
        pb::ScavengeState::Completed as i32,
        "seed {seed}: {done:?}"
    );
    check(&mut raw, &model, rounds).await;
    server.terminate().await;
    let verify = server.command(&["verify"]);
    assert!(verify.status.success(), "seed {seed}: final verify");
}
