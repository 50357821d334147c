//! Scenario: the runner *process* (`strata-project run`) is SIGKILLed at
//! random moments while orders keep arriving. After every kill the
//! exactly-once read models must equal a from-scratch fold of the events up
//! to their own checkpoint, and the at-least-once order log must contain
//! every order event up to its checkpoint. A final run catches up and stops
//! cleanly; then the models equal the fold of the whole log and the order
//! log misses nothing.

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use strata_projections::{read_status_file, FileCheckpointStore, ModelDir};

fn spawn_runner(url: &str, dir: &std::path::Path, flush_ms: u64) -> std::process::Child {
    Command::new(RUNNER)
        .args(["--server", url, "run", "--batch", "64", "--flush-ms"])
        .arg(flush_ms.to_string())
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn strata-project run")
}

fn check_consistent(
    dir: &std::path::Path,
    events: &[strata_client::RecordedEvent],
    round: usize,
) -> (u64, u64, u64) {
    let (_, totals) = ModelDir::new(dir, "customer-totals")
        .unwrap()
        .open_current()
        .unwrap();
    let cp_t = totals.checkpoint().unwrap().unwrap_or(0);
    assert_eq!(
        contents(&totals),
        canonical(fold_totals(events, cp_t)),
        "round {round}: customer-totals differs from the fold up to its checkpoint {cp_t}"
    );
    drop(totals);
    let (_, open) = ModelDir::new(dir, "open-orders")
        .unwrap()
        .open_current()
        .unwrap();
    let cp_o = open.checkpoint().unwrap().unwrap_or(0);
    assert_eq!(
        contents(&open),
        canonical(fold_open(events, cp_o)),
        "round {round}: open-orders differs from the fold up to its checkpoint {cp_o}"
    );
    drop(open);
    let cp_l = FileCheckpointStore::new(dir.join("checkpoints"), "order-log")
        .unwrap()
        .load()
        .unwrap()
        .unwrap_or(0);
    let (logged, _) = order_log_positions(&dir.join("order-log.txt"));
    for e in events.iter().filter(|e| e.position <= cp_l) {
        assert!(
            logged.contains(&e.position),
            "round {round}: order log misses position {} (checkpoint {cp_l})",
            e.position
        );
    }
    (cp_t, cp_o, cp_l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_runner_resumes_exactly_once_and_at_least_once() {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let server = Server::start();
    let client = server.client().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models");
    append_orders(&client, 1, 300, 50).await;
    let appender = Appender::start(client.clone(), 1_000);
    for round in 0..4 {
        // Alternate flush cadences: every commit, and a window that a kill
        // rolls back (model and checkpoint together).
        let flush_ms = if round % 2 == 0 { 0 } else { 150 };
        let mut child = spawn_runner(&server.url(), &dir, flush_ms);
        let wait = rng.random_range(300..1200);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let events = all_events(&client).await;
        let cps = check_consistent(&dir, &events, round);
        println!(
            "round {round}: killed after {wait} ms; checkpoints {cps:?}, log head {}",
            events.len()
        );
    }
    appender.stop().await;
    let head = client.server_info().await.unwrap().head_position;
    let mut child = spawn_runner(&server.url(), &dir, 150);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let done = read_status_file(&dir.join("status.json"))
            .ok()
            .is_some_and(|s| s.len() == 3 && s.iter().all(|p| p.checkpoint >= Some(head)));
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "runner did not catch up with {head}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    let events = all_events(&client).await;
    let (t, o, l) = check_consistent(&dir, &events, 99);
    assert!(t >= head && o >= head && l >= head);
    assert_eq!(contents_len(&dir), fold_totals(&events, u64::MAX).len());
    let (logged, lines) = order_log_positions(&dir.join("order-log.txt"));
    assert_eq!(
        logged.len(),
        events.len(),
        "every order event is in the order log"
    );
    println!(
        "order log: {} events, {lines} lines ({} replayed duplicates)",
        logged.len(),
        lines - logged.len()
    );
}

fn contents_len(dir: &std::path::Path) -> usize {
    let (_, m) = ModelDir::new(dir, "customer-totals")
        .unwrap()
        .open_current()
        .unwrap();
    contents(&m).len()
}
