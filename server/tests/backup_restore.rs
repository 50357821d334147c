//! Online backup and restore against the real binary: `strata backup`
//! while appends (and a scavenge) go on, `strata restore` into a new data
//! directory, `strata verify` on it, and a server on the restored store
//! serving exactly the records up to the backup's position; incremental
//! backups that copy only what changed; a `kill -9` of a backup that
//! leaves the previous backup intact.
//!
//! Segments are 32 MiB (the smallest allowed), so ~70 MiB of events make
//! two sealed segments and an active one.

mod common;

use common::cli::{cli, describe, json_of};
use common::{strata, Server};
use futures::TryStreamExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_client::{
    Client, EventData, ExpectedRevision, Filter, ReadAllOptions, RecordedEvent, SnapshotData,
};

const SEGMENT_ARGS: [&str; 2] = ["--segment-max-bytes", "33554432"];

/// Appends about `mib` MiB in 256 KiB events over four streams.
async fn fill(c: &Client, mib: usize) {
    for i in 0..mib / 2 {
        let events = (0..8)
            .map(|k| EventData::binary("Big", vec![(i * 8 + k) as u8; 256 * 1024]))
            .collect();
        c.append(format!("big-{}", i % 4), ExpectedRevision::Any, events)
            .await
            .unwrap();
    }
}

/// `strata <args>` against `url`, off the runtime's threads.
async fn run_cli(url: &str, args: &[&str]) -> std::process::Output {
    let (url, args): (String, Vec<String>) =
        (url.to_owned(), args.iter().map(|s| s.to_string()).collect());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&url, &args)
    })
    .await
    .unwrap()
}

/// `strata backup --to dir --json`; its summary.
async fn backup(url: &str, dir: &Path) -> serde_json::Value {
    let out = run_cli(url, &["backup", "--to", dir.to_str().unwrap(), "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "backup: {}", describe(&out));
    json_of(&out)
}

/// `strata restore --from dir --data-dir <new>`, then `strata verify`;
/// the restored data directory and the restore's summary.
fn restore(url: &str, dir: &Path, into: &Path) -> serde_json::Value {
    let out = cli(
        url,
        &[
            "restore",
            "--from",
            dir.to_str().unwrap(),
            "--data-dir",
            into.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "restore: {}", describe(&out));
    let verified = strata(&["verify"], into);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "verify: {}",
        describe(&verified)
    );
    json_of(&out)
}

/// Every record of `$all` (system records included) up to `position`.
async fn log_until(c: &Client, position: u64) -> Vec<RecordedEvent> {
    let all = ReadAllOptions::forwards().filter(Filter::new().include_system(true));
    let events: Vec<RecordedEvent> = c.read_all(all).try_collect().await.unwrap();
    events
        .into_iter()
        .take_while(|e| e.position <= position)
        .collect()
}

/// Serves `data_dir` and checks it holds exactly `expected`, ending at
/// `position` — but for the records the restored server may write itself
/// when it starts (it resumes a scavenge the backup caught running).
async fn serves_exactly(data_dir: PathBuf, expected: &[RecordedEvent], position: u64) -> Server {
    let restored = Server::start_on(data_dir);
    let c = restored.client().await;
    let got = log_until(&c, u64::MAX).await;
    let (before, after) = got.split_at(got.partition_point(|e| e.position <= position));
    assert_eq!(before.len(), expected.len());
    assert!(
        before == expected,
        "the restored log differs from the source's"
    );
    assert!(
        after.iter().all(|e| e.stream == "$scavenges"),
        "records past the backup's position: {:?}",
        after
            .iter()
            .map(|e| (&e.stream, e.position))
            .collect::<Vec<_>>()
    );
    restored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_concurrent_appends_restores_exactly_the_events_up_to_its_position() {
    let server = Server::start_with_args(&SEGMENT_ARGS);
    let c = server.client().await;
    fill(&c, 70).await;
    let snap = SnapshotData::new("State", 1, b"state at 5".to_vec());
    c.save_snapshot("big-1", 5, snap).await.unwrap();
    c.delete_stream("big-3", ExpectedRevision::Any)
        .await
        .unwrap();

    // Appends all along the backup, and a scavenge rewriting the sealed
    // segments (the deleted stream's events go) while it copies them.
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let appender = {
        let (c, stop, appended) = (c.clone(), stop.clone(), appended.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let e = EventData::json("Tick", &serde_json::json!({ "i": i })).unwrap();
                c.append(format!("live-{}", i % 5), ExpectedRevision::Any, vec![e])
                    .await
                    .unwrap();
                appended.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    common::eventually(Duration::from_secs(10), "the appender to start", || {
        let n = appended.load(Ordering::Relaxed);
        async move { (n > 10).then_some(()) }
    })
    .await;
    c.start_scavenge(Some(32 << 20)).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backup");
    let summary = backup(&server.url(), &dir).await;
    let before_stop = appended.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    appender.await.unwrap();
    let position = summary["position"].as_u64().unwrap();
    assert!(
        c.server_info().await.unwrap().head_position > position,
        "appends went on during the backup ({before_stop} appended)"
    );
    assert!(summary["copied"].as_u64().unwrap() >= 4, "{summary}");

    let restored_dir = tmp.path().join("restored");
    let r = restore(&server.url(), &dir, &restored_dir);
    assert_eq!(r["position"].as_u64(), Some(position), "{r}");
    let expected = log_until(&c, position).await;
    assert!(expected.iter().any(|e| e.stream.starts_with("live-")));
    let restored = serves_exactly(restored_dir, &expected, position).await;
    let rc = restored.client().await;
    let s = rc
        .get_snapshot("big-1", None)
        .await
        .unwrap()
        .expect("the snapshot");
    assert_eq!((s.revision, s.data.as_slice()), (5, &b"state at 5"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_backup_copies_only_what_changed() {
    let server = Server::start_with_args(&SEGMENT_ARGS);
    let c = server.client().await;
    fill(&c, 70).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backup");
    let first = backup(&server.url(), &dir).await;
    assert_eq!(
        first["copied"], 3,
        "two sealed segments and the active one: {first}"
    );

    // A few small appends: the sealed segments are skipped, the active one
    // is extended with just the new bytes.
    for i in 0..20 {
        let e = EventData::json("Small", &serde_json::json!({ "i": i })).unwrap();
        c.append("small", ExpectedRevision::Any, vec![e])
            .await
            .unwrap();
    }
    let second = backup(&server.url(), &dir).await;
    assert_eq!(second["copied"], 0, "{second}");
    assert_eq!(second["extended"], 1, "{second}");
    assert_eq!(second["unchanged"], 2, "{second}");
    assert!(
        second["bytes_received"].as_u64().unwrap() < 64 * 1024,
        "{second}"
    );

    // A scavenge seals the active segment and rewrites the sealed ones
    // holding the deleted stream's events: new generations, copied whole,
    // the old copies removed; the new active segment is copied too.
    c.delete_stream("big-0", ExpectedRevision::Any)
        .await
        .unwrap();
    let mut s = c.start_scavenge(Some(0)).await.unwrap();
    while s.is_running() {
        tokio::time::sleep(Duration::from_millis(20)).await;
        s = c.scavenge_status().await.unwrap().unwrap();
    }
    assert!(s.bytes_reclaimed > 0, "{s:?}");
    let third = backup(&server.url(), &dir).await;
    assert!(third["removed"].as_u64().unwrap() >= 1, "{third}");
    assert!(third["copied"].as_u64().unwrap() >= 2, "{third}");
    let position = third["position"].as_u64().unwrap();
    let r = restore(&server.url(), &dir, &tmp.path().join("restored"));
    assert_eq!(r["position"].as_u64(), Some(position));
    let expected = log_until(&c, position).await;
    serves_exactly(tmp.path().join("restored"), &expected, position).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backup_leaves_the_previous_backup_intact() {
    let server = Server::start_with_args(&SEGMENT_ARGS);
    let c = server.client().await;
    fill(&c, 40).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backup");
    let first = backup(&server.url(), &dir).await;
    let first_position = first["position"].as_u64().unwrap();
    let manifest_before = std::fs::read(dir.join("MANIFEST.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_before).unwrap();
    let active = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|f| f["kind"] == "segment")
        .unwrap()
        .clone();
    let active_stored = dir.join(active["stored"].as_str().unwrap());
    let active_length = active["length"].as_u64().unwrap();

    // More events, then a slow backup killed once it has extended the
    // stored copy of the active segment in place.
    fill(&c, 6).await;
    let mut child = std::process::Command::new(common::STRATA)
        .args([
            "backup",
            "--to",
            dir.to_str().unwrap(),
            "--max-bytes-per-second",
            "1000000",
        ])
        .env("STRATA_ADDR", server.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&active_stored).unwrap().len() <= active_length {
        assert!(Instant::now() < deadline, "the backup never wrote");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended too early"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        std::fs::read(dir.join("MANIFEST.json")).unwrap(),
        manifest_before
    );

    let r = restore(&server.url(), &dir, &tmp.path().join("restored-1"));
    assert_eq!(r["position"].as_u64(), Some(first_position));
    let expected = log_until(&c, first_position).await;
    let restored = serves_exactly(tmp.path().join("restored-1"), &expected, first_position).await;
    drop(restored);

    // The next backup completes over the leftovers.
    let head = c.server_info().await.unwrap().head_position;
    let again = backup(&server.url(), &dir).await;
    assert_eq!(again["extended"], 1, "{again}");
    let position = again["position"].as_u64().unwrap();
    // The backup's own record in $audit comes after the position it pinned.
    assert_eq!(position, head);
    let r = restore(&server.url(), &dir, &tmp.path().join("restored-2"));
    assert_eq!(r["position"].as_u64(), Some(position));
}
