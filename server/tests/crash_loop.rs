//! Torture: the real server under concurrent appends, killed with SIGKILL at
//! random moments for 20 rounds (seeded; the seed is printed), restarted
//! each time. Every acknowledged event must be there exactly once, stream
//! revisions gapless, `$all` gapless and consistent with the streams, and
//! `strata verify` must pass. Then torn tails (garbage or half a record
//! appended after a kill) are cut at restart, while damage to acknowledged
//! data stops the server with a clear error instead of being skipped.

mod common;

use common::{events, Server};
use futures::TryStreamExt;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_client::{Client, ExpectedRevision, ReadAllOptions, ReadOptions, RecordedEvent};

fn seed() -> u64 {
    let s = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("seed = {s} (rerun with STRATA_TEST_SEED={s})");
    s
}

/// (stream, revision) → (position, event id), for every acknowledged event.
type Acked = Arc<Mutex<HashMap<(String, u64), (u64, uuid::Uuid)>>>;

async fn read_all(c: &Client) -> Vec<RecordedEvent> {
    c.read_all(ReadAllOptions::forwards())
        .try_collect()
        .await
        .unwrap()
}

async fn stream_revision(c: &Client, stream: &str) -> Option<u64> {
    let last: Vec<RecordedEvent> = match c
        .read_stream(stream, ReadOptions::backwards().max_count(1))
        .try_collect()
        .await
    {
        Ok(v) => v,
        Err(strata_client::Error::NotFound { .. }) => return None,
        Err(e) => panic!("reading {stream}: {e}"),
    };
    last.first().map(|e| e.revision)
}

/// Checks the whole store against what was acknowledged.
async fn check(c: &Client, acked: &Acked, round: usize) {
    let all = read_all(c).await;
    let head = c.server_info().await.unwrap().head_position;
    assert_eq!(all.len() as u64, head, "round {round}: $all length vs head");
    let mut ids = HashSet::new();
    let mut next_rev: HashMap<&str, u64> = HashMap::new();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1, "round {round}: $all has a gap");
        assert!(
            ids.insert(e.id),
            "round {round}: event {} stored twice",
            e.id
        );
        let r = next_rev.entry(e.stream.as_str()).or_insert(0);
        assert_eq!(
            e.revision, *r,
            "round {round}: revision gap in {}",
            e.stream
        );
        *r += 1;
    }
    let by_key: HashMap<(&str, u64), &RecordedEvent> = all
        .iter()
        .map(|e| ((e.stream.as_str(), e.revision), e))
        .collect();
    for ((stream, rev), (pos, id)) in acked.lock().unwrap().iter() {
        let e = by_key
            .get(&(stream.as_str(), *rev))
            .unwrap_or_else(|| panic!("round {round}: acknowledged {stream}@{rev} is missing"));
        assert_eq!(
            (e.position, e.id),
            (*pos, *id),
            "round {round}: {stream}@{rev} changed"
        );
    }
    // Stream reads agree with $all.
    for (stream, n) in &next_rev {
        let evs: Vec<RecordedEvent> = c
            .read_stream(*stream, ReadOptions::forwards())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            evs.len() as u64,
            *n,
            "round {round}: stream {stream} length"
        );
        for e in evs {
            assert_eq!(by_key[&(e.stream.as_str(), e.revision)].id, e.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_rounds_lose_no_acknowledged_event() {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut server = Server::start();
    let acked: Acked = Arc::default();
    for round in 0..20 {
        let c = server.client_no_retry().await;
        let mut tasks = Vec::new();
        for w in 0..4usize {
            let (c, acked) = (c.clone(), acked.clone());
            let own = format!("own-{w}");
            // A previous round may have committed an append whose answer was lost.
            let mut rev = stream_revision(&c, &own).await;
            tasks.push(tokio::spawn(async move {
                for i in 0u64.. {
                    let (stream, expected) = if i % 2 == 0 {
                        let e = rev.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
                        (own.clone(), e)
                    } else {
                        (format!("shared-{}", i % 3), ExpectedRevision::Any)
                    };
                    let batch = events("T", &format!("w{w}-{i}"), 1 + (i % 3) as usize);
                    match c.append(stream.as_str(), expected, batch.clone()).await {
                        Ok(r) => {
                            let mut a = acked.lock().unwrap();
                            for (k, e) in batch.iter().enumerate() {
                                a.insert(
                                    (stream.clone(), r.first_revision + k as u64),
                                    (r.first_position + k as u64, e.id),
                                );
                            }
                            if stream == own {
                                rev = Some(r.last_revision);
                            }
                        }
                        Err(_) => return, // the server is gone
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(30..250))).await;
        server.kill();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("appenders stop once the server is gone")
                .unwrap();
        }
        server.restart();
        let c = server.client().await;
        check(&c, &acked, round).await;
    }
    let n = acked.lock().unwrap().len();
    assert!(n > 100, "only {n} events were acknowledged in 20 rounds");
    eprintln!("{n} acknowledged events survived 20 SIGKILLs");
    let status = server.terminate().await;
    assert!(status.success());
    let out = server.command(&["verify"]);
    assert!(
        out.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn last_segment(data_dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(data_dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}

#[tokio::test]
async fn torn_tails_are_cut_and_damage_to_acknowledged_data_stops_the_server() {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut server = Server::start();
    let acked: Acked = Arc::default();
    let mut expected_head = 0;
    for round in 0..8 {
        let c = server.client().await;
        for i in 0..rng.random_range(5..20usize) {
            let stream = format!("t-{}", i % 4);
            let batch = events("T", &format!("r{round}-{i}"), 1 + i % 3);
            let r = c
                .append(stream.as_str(), ExpectedRevision::Any, batch.clone())
                .await
                .unwrap();
            let mut a = acked.lock().unwrap();
            for (k, e) in batch.iter().enumerate() {
                a.insert(
                    (stream.clone(), r.first_revision + k as u64),
                    (r.first_position + k as u64, e.id),
                );
            }
            expected_head = r.last_position;
        }
        server.kill();
        // A torn write: what a crash mid-write leaves after the last
        // acknowledged byte — random garbage, or a prefix of a real record.
        let seg = last_segment(server.data_dir());
        let bytes = std::fs::read(&seg).unwrap();
        let torn: Vec<u8> = if rng.random_bool(0.5) {
            (0..rng.random_range(1..3000))
                .map(|_| rng.random())
                .collect()
        } else {
            let start = bytes
                .len()
                .saturating_sub(rng.random_range(100..400))
                .max(32);
            let len = rng.random_range(1..bytes.len() - start);
            bytes[start..start + len].to_vec()
        };
        let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
        std::io::Write::write_all(&mut f, &torn).unwrap();
        drop(f);
        server.restart();
        let c = server.client().await;
        assert_eq!(
            c.server_info().await.unwrap().head_position,
            expected_head,
            "round {round}"
        );
        check(&c, &acked, round).await;
        assert_eq!(
            std::fs::metadata(&seg).unwrap().len() as usize,
            bytes.len(),
            "round {round}: torn bytes not cut"
        );
        assert!(
            server.logs().contains("truncat"),
            "the cut is reported in the logs"
        );
    }
    // Now damage acknowledged data: a byte in the middle of the log, with
    // later commits after it. The server must refuse to start, loudly.
    server.kill();
    let seg = last_segment(server.data_dir());
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    let err = server
        .try_restart()
        .expect_err("a server must not start on damaged acknowledged data");
    assert!(
        err.to_lowercase().contains("corrupt"),
        "unclear failure: {err}"
    );
    let out = server.command(&["verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify must fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
