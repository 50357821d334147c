//! Power-loss and fault-injection tests of the real `strata` binary on
//! lossyfs (a FUSE filesystem that keeps unsynced writes apart and drops
//! them at a power cut), every operation recorded and checked by the
//! history checker (`powercut/history.rs`). Seeded; the seed is printed
//! (`STRATA_TEST_SEED` replays one). Needs root and /dev/fuse, as CI has:
//! without them the tests fail, they do not skip.
//!
//! Scenarios: power cuts under concurrent single, batched and multi-stream
//! appenders (`STRATA_POWERCUT_ROUNDS`, default 20) with short writes and
//! slow fsyncs in some rounds; cuts across segment roll-over at chosen
//! steps; cuts during a scavenge; cuts while metadata, deletes, snapshots
//! and consumer-group checkpoints are written; EIO on fsync and on write
//! (poisoned, then every acknowledged event and nothing else); a failed
//! fsync that loses its writes, then a restart without power loss and a
//! power cut ("fsyncgate"); a full disk, also at a segment roll-over; the
//! same load without faults (the fault scenarios are in
//! `powercut/faults.rs`). `power_cut_soak` (ignored) is the long
//! run behind `bench/soak.sh`.

mod powercut;

use futures::TryStreamExt;
use lossyfs::{FaultPlan, Nth};
use powercut::history::History;
use powercut::rig::{seed, Rig};
use powercut::workload::{self, Shape};
use powercut::{
    after_cut, big, check_now, describe, faults, lifecycle, pick_mode, power_cut_mode, wait_for,
    SMALL_SEGMENTS,
};
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use strata_client::{EventData, ExpectedRevision};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Rounds of load → power cut → verify → restart → check on one rig, until
/// `rounds` are done or `deadline` passes. Returns the rounds run.
async fn append_rounds(seed: u64, rounds: u64, deadline: Option<Instant>) -> u64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rig = Rig::start(seed, &[]);
    let h = History::new();
    let sub_client = rig.patient_client().await;
    let sub = workload::subscribe(&sub_client, &h, "$all subscriber across cuts");
    let stream_sub = workload::subscribe_stream(
        &sub_client,
        &h,
        "stream subscriber across cuts",
        "h-batch-0",
    );
    let mut done = 0;
    while done < rounds && deadline.is_none_or(|d| Instant::now() < d) {
        let round = done;
        let start = h.len();
        let plan = match rng.random_range(0..6) {
            0 => FaultPlan {
                short_write_every: Some(rng.random_range(1..4)),
                ..FaultPlan::default()
            },
            1 => FaultPlan {
                slow_fsync: Some(Duration::from_millis(rng.random_range(1..20))),
                ..FaultPlan::default()
            },
            _ => FaultPlan::default(),
        };
        rig.faults(plan.clone());
        let c = rig.client().await;
        let load = workload::start(
            &c,
            &h,
            seed ^ round,
            (round as usize) * 100,
            Shape::default(),
        );
        tokio::time::sleep(Duration::from_millis(rng.random_range(30..400))).await;
        let mode = pick_mode(&mut rng);
        rig.crash();
        load.stop(&h).await;
        let report = rig.cut(mode);
        let what = format!("round {round} ({mode:?}, {})", describe(&plan));
        eprintln!("{what}: {report}");
        after_cut(&mut rig, &h, start, &what, &report).await;
        done += 1;
    }
    // The subscription resumed after every cut: let it catch up, then check
    // that it saw every durable event once, in order.
    let c = rig.client().await;
    let fin = powercut::check::read_final(&c, workload::PREFIX).await;
    let head = fin.all.last().map_or(0, |e| e.position);
    let stream_head = fin
        .streams
        .get("h-batch-0")
        .and_then(|v| v.last())
        .map_or(0, |e| e.position);
    for (name, to) in [
        ("$all subscriber across cuts", head),
        ("stream subscriber across cuts", stream_head),
    ] {
        wait_for(60, name, || h.subscribed_through(name) >= to).await;
    }
    sub.abort();
    stream_sub.abort();
    let cov = check_now(&rig, &h, "after all rounds").await;
    assert!(cov.ok > 0 && cov.events > 0 && cov.delivered > 0, "{cov}");
    rig.terminate();
    rig.verify()
        .unwrap_or_else(|e| panic!("seed {seed}: verify after a clean stop: {e}"));
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cuts_under_concurrent_appends_lose_no_acknowledged_event() {
    let rounds = env_or("STRATA_POWERCUT_ROUNDS", 20);
    let done = append_rounds(seed(), rounds, None).await;
    assert_eq!(done, rounds);
}

/// The long run behind `bench/soak.sh`: every scenario in turn, a new
/// seed each time, until `STRATA_SOAK_MINUTES` (default 10) have passed.
/// Prints how many runs and power cuts each scenario had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by bench/soak.sh"]
async fn power_cut_soak() {
    let minutes = env_or("STRATA_SOAK_MINUTES", 10);
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    let first = seed();
    // (name, runs, cuts)
    let mut tally: Vec<(&str, u64, u64)> = [
        "appenders (20 rounds a rig)",
        "segment roll-over",
        "scavenge",
        "metadata/deletes/snapshots/groups",
        "EIO on fsync/write, lost fsync",
        "full disk, at a roll-over",
    ]
    .iter()
    .map(|n| (*n, 0, 0))
    .collect();
    let mut i = 0u64;
    while Instant::now() < deadline {
        let s = first.wrapping_add(i);
        let k = (i % tally.len() as u64) as usize;
        eprintln!("soak: run {i}, {}, seed {s}", tally[k].0);
        let cuts = match k {
            0 => append_rounds(s, 20, Some(deadline)).await,
            1 => {
                roll_over(s).await;
                4
            }
            2 => {
                scavenge(s).await;
                3
            }
            3 => {
                lifecycle_writes(s).await;
                4
            }
            4 => {
                faults::eio(s).await;
                faults::fsyncgate(s, true).await;
                faults::fsyncgate(s.wrapping_add(1), false).await;
                3 + 4
            }
            _ => {
                faults::full_disk(s).await;
                faults::full_disk_at_roll_over(s).await;
                1 + 1
            }
        };
        tally[k].1 += 1;
        tally[k].2 += cuts;
        i += 1;
    }
    for (name, runs, cuts) in &tally {
        println!("soak: {name}: {runs} runs, {cuts} cuts");
    }
    let total: u64 = tally.iter().map(|t| t.2).sum();
    println!("soak: {total} power cuts or crashes in {minutes} min (first seed {first}), every check passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_holds_under_concurrency_without_faults() {
    let seed = seed();
    let mut rig = Rig::start_plain(seed, &[]);
    let h = History::new();
    let c = rig.client().await;
    let early = workload::subscribe(&c, &h, "from the start");
    let load = workload::start(
        &c,
        &h,
        seed,
        0,
        Shape {
            per_kind: 3,
            ..Shape::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let late = workload::subscribe(&c, &h, "joined during the load");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    load.stop(&h).await;
    let fin = powercut::check::read_final(&c, workload::PREFIX).await;
    let head = fin.all.last().map_or(0, |e| e.position);
    for name in ["from the start", "joined during the load"] {
        let t = Instant::now();
        while h.subscribed_through(name) < head {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{name} did not catch up"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    early.abort();
    late.abort();
    let cov = check_now(&rig, &h, "no faults").await;
    assert!(cov.conflicts > 0, "the load provokes conflicts: {cov}");
    assert_eq!(cov.unknown_present + cov.unknown_absent, 0, "{cov}");
    // A clean restart changes nothing.
    rig.terminate();
    rig.restart();
    check_now(&rig, &h, "after a clean restart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cuts_at_each_step_of_a_segment_roll_over() {
    roll_over(seed()).await;
}

async fn roll_over(seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rig = Rig::start(seed, SMALL_SEGMENTS);
    let h = History::new();
    // Where the power goes. A cut before the next segment exists leaves a
    // full active segment, so the next append rolls over again at once.
    let steps = [
        (
            Some(Nth::of(1, ".map")),
            "sealed segment's map synced, not renamed",
        ),
        (
            Some(Nth::of(1, "log")),
            "map renamed, next segment not created",
        ),
        (Some(Nth::of(2, "log")), "next segment created and synced"),
        (None, "a random moment of a big-event load"),
    ];
    for (round, (freeze, step)) in steps.into_iter().enumerate() {
        let start = h.len();
        let plan = FaultPlan {
            freeze_after_fsync: freeze.clone(),
            ..FaultPlan::default()
        };
        rig.faults(plan);
        let c = rig.client().await;
        let load = workload::start(&c, &h, seed ^ round as u64, round * 100, big());
        if freeze.is_some() {
            let fs = rig.fs();
            wait_for(240, step, || fs.fault_hits().freezes == 1).await;
        } else {
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..1500))).await;
        }
        let mode = power_cut_mode(&mut rng);
        rig.crash();
        load.stop(&h).await;
        let report = rig.cut(mode);
        let what = format!("roll-over round {round}: {step} ({mode:?})");
        eprintln!("{what}: {report}");
        after_cut(&mut rig, &h, start, &what, &report).await;
    }
    let segments = std::fs::read_dir(rig.data_dir().join("log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count();
    assert!(segments >= 2, "seed {seed}: the log never rolled over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cuts_during_a_scavenge() {
    scavenge(seed()).await;
}

async fn scavenge(seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rig = Rig::start(seed, SMALL_SEGMENTS);
    let h = History::new();
    let mut deleted: Vec<String> = Vec::new();
    for round in 0..3u64 {
        let start = h.len();
        let c = rig.client().await;
        // A sealed segment's worth of events in streams that are then
        // deleted: the scavenge has a segment to rewrite.
        for k in 0..9 {
            let stream = format!("x-gone-{round}-{k}");
            for _ in 0..4 {
                let events = (0..4)
                    .map(|i| EventData::binary("Big", vec![i; 240 << 10]))
                    .collect();
                c.append(stream.as_str(), ExpectedRevision::Any, events)
                    .await
                    .unwrap_or_else(|e| panic!("seed {seed}: filling {stream}: {e}"));
            }
            c.delete_stream(stream.as_str(), ExpectedRevision::Any)
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: deleting {stream}: {e}"));
            deleted.push(stream);
        }
        let freeze = match round {
            0 => Some(Nth::of(1, ".scavenge")),
            1 => Some(Nth::of(rng.random_range(1..=4), "log")),
            _ => None,
        };
        let plan = FaultPlan {
            freeze_after_fsync: freeze.clone(),
            ..FaultPlan::default()
        };
        rig.faults(plan.clone());
        let load = workload::start(&c, &h, seed ^ round, round as usize * 100, Shape::default());
        c.start_scavenge(Some(16 << 20))
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: start a scavenge: {e}"));
        if freeze.is_some() {
            let fs = rig.fs();
            wait_for(120, "the freeze during the scavenge", || {
                fs.fault_hits().freezes == 1
            })
            .await;
        } else {
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..2500))).await;
        }
        let mode = power_cut_mode(&mut rng);
        rig.crash();
        load.stop(&h).await;
        let report = rig.cut(mode);
        let what = format!("scavenge round {round} ({mode:?}, {})", describe(&plan));
        eprintln!("{what}: {report}");
        after_cut(&mut rig, &h, start, &what, &report).await;
        let c = rig.patient_client().await;
        for stream in &deleted {
            let r: Result<Vec<_>, _> = c
                .read_stream(stream.as_str(), strata_client::ReadOptions::forwards())
                .try_collect()
                .await;
            assert!(
                matches!(
                    r,
                    Err(strata_client::Error::StreamDeleted { .. })
                        | Err(strata_client::Error::NotFound { .. })
                ),
                "seed {seed}, {what}: deleted {stream} reads {:?}",
                r.map(|v| v.len())
            );
        }
        // The interrupted scavenge resumes at the open and finishes.
        let t = Instant::now();
        loop {
            match c.scavenge_status().await {
                Ok(Some(s)) if s.state == strata_client::ScavengeState::Completed => break,
                Ok(Some(s)) if s.state == strata_client::ScavengeState::Failed => {
                    panic!(
                        "seed {seed}, {what}: the scavenge failed: {s:?}\n{}",
                        rig.logs()
                    )
                }
                _ => {}
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "seed {seed}, {what}: the scavenge did not finish\n{}",
                rig.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Idempotency survives a restart after the scavenge dropped the
        // log's first records: a retry of an acknowledged append (expected
        // revision Any, found by event id only) is recognised, not written
        // again.
        let probe = EventData::binary("Probe", format!("round {round}").into_bytes());
        let first = c
            .append("p-dedupe-probe", ExpectedRevision::Any, vec![probe.clone()])
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: probe append: {e}"));
        rig.terminate();
        rig.restart();
        let c = rig.client().await;
        let again = c
            .append("p-dedupe-probe", ExpectedRevision::Any, vec![probe])
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: probe retry: {e}"));
        assert!(
            again.deduplicated && again.first_position == first.first_position,
            "seed {seed}, {what}: a retry after a restart was written again: {first:?} then {again:?}"
        );
    }
    // What must stay: every visible event. The concurrent load's volume
    // depends on timing (a fast machine writes more of it).
    let live_bytes: u64 = rig
        .patient_client()
        .await
        .read_all(strata_client::ReadAllOptions::forwards())
        .try_fold(0u64, |n, e| async move {
            Ok(n + e.data.len() as u64 + e.metadata.len() as u64)
        })
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: reading $all after the scavenges: {e}"));
    rig.terminate();
    rig.verify()
        .unwrap_or_else(|e| panic!("seed {seed}: verify after the scavenges: {e}"));
    let log_bytes: u64 = std::fs::read_dir(rig.data_dir().join("log"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    // 3 × 36 MiB of deleted events were written; most must be gone. Beyond
    // the live events: record framing, position maps, and the active
    // segment's reservation (32 MiB segments here).
    assert!(
        log_bytes < (80u64 << 20).max(live_bytes + (48 << 20)),
        "seed {seed}: {log_bytes} bytes of log left after scavenging ({live_bytes} bytes of live events)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cuts_while_metadata_deletes_snapshots_and_group_checkpoints_are_written() {
    lifecycle_writes(seed()).await;
}

async fn lifecycle_writes(seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rig = Rig::start(seed, &[]);
    let h = History::new();
    let rec = std::sync::Arc::new(std::sync::Mutex::new(lifecycle::Record::default()));
    let patient = rig.patient_client().await;
    let (acked, consumer) = lifecycle::start_group(&patient).await;
    for round in 0..4u64 {
        let start = h.len();
        let c = rig.client().await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers = lifecycle::start(&c, &rec, round, &stop);
        let load = workload::start(&c, &h, seed ^ round, round as usize * 100, Shape::default());
        let (c2, h2, stop2) = (c.clone(), h.clone(), stop.clone());
        let producer = tokio::spawn(async move {
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                let sent = vec![powercut::history::Sent {
                    stream: lifecycle::GROUP_STREAM.into(),
                    expected: ExpectedRevision::Any,
                    events: vec![EventData::binary("G", vec![7; 64])],
                }];
                if let powercut::history::Outcome::Unknown(_) =
                    workload::append(&c2, &h2, 999, sent).await
                {
                    return;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..600))).await;
        let mode = pick_mode(&mut rng);
        rig.crash();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        load.stop(&h).await;
        for t in writers.into_iter().chain([producer]) {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
        h.abandon_pending();
        let report = rig.cut(mode);
        let what = format!("lifecycle round {round} ({mode:?})");
        eprintln!("{what}: {report}");
        after_cut(&mut rig, &h, start, &what, &report).await;
        let record = rec.lock().unwrap().clone();
        let bad = lifecycle::check(&rig.patient_client().await, &record).await;
        assert!(
            bad.is_empty(),
            "seed {seed}, {what}:\n  {}\n{}",
            bad.join("\n  "),
            rig.logs()
        );
    }
    // Every event of the group's stream is acked at least once, across all
    // the cuts: no checkpoint survived ahead of the acks.
    let c = rig.patient_client().await;
    let t = Instant::now();
    loop {
        let missing = lifecycle::unacked(&c, &acked).await;
        if missing.is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "seed {seed}: {} events of the group's stream never acked, first {:?}\n{}",
            missing.len(),
            &missing[..missing.len().min(5)],
            rig.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.abort();
    let r = rec.lock().unwrap();
    assert!(
        !r.metadata.is_empty() && !r.deletes.is_empty() && !r.snapshots.is_empty(),
        "seed {seed}: the lifecycle writers wrote nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eio_poisons_the_store_and_a_restart_keeps_every_acknowledged_event() {
    faults::eio(seed()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_appends_loses_none_and_survives_a_power_cut() {
    faults::full_disk(seed()).await;
}

/// A full disk just as the log needs its next segment: `Writer::roll`
/// meets ENOSPC (the sealed segment's map or the new segment's header),
/// removes what it half-made and refuses the append with `disk-full` — the
/// store is not poisoned, and appends succeed again once space returns,
/// without a restart (a restart then keeps every acknowledged event).
/// Once a known bug (docs/RELIABILITY.md, "Bugs these tests found").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_a_segment_roll_over_is_refused_not_poisoned() {
    faults::full_disk_at_roll_over(seed()).await;
}

/// Linux's "fsyncgate": after a failed fsync the kernel may drop the
/// unsynced pages from the write-back path while they stay readable. The
/// store poisons and records the log's durable end (`log/durable-end`); a
/// restart *without* power loss cuts the log back to it — or, when there is
/// no marker (it could not be written, or the process died first), writes
/// the last group commit again and fsyncs it — so a later power cut leaves
/// every acknowledged event intact. Both ways, each run. Once a known
/// limit (docs/RELIABILITY.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_lost_fsync_then_a_power_cut_keeps_every_acknowledged_event() {
    let seed = seed();
    faults::fsyncgate(seed, true).await;
    faults::fsyncgate(seed.wrapping_add(1), false).await;
}
