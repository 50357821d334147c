//! The fault scenarios (`tests/power_cut.rs` runs each as a test and in the
//! soak): EIO on fsync and on write (poisoned), a failed fsync that loses
//! its writes and a restart without power loss ("fsyncgate"), a full disk,
//! and a full disk at a segment roll-over.
//!
//! Not here: the power-cut scenarios without injected faults
//! (`tests/power_cut.rs`), the rig and the checks (`rig`, `check`).

use super::history::{History, Outcome};
use super::rig::Rig;
use super::workload::{self, Shape};
use super::{after_cut, big, check_now, describe, power_cut_mode, wait_for, SMALL_SEGMENTS};
use lossyfs::{CutMode, FaultPlan, Nth};
use rand::{Rng, SeedableRng};
use std::time::Duration;
use strata_client::{EventData, ExpectedRevision};

/// One raw append; `Err` is the status.
pub async fn raw_append(rig: &Rig) -> Result<(), tonic::Status> {
    use strata_proto::v1 as pb;
    let mut raw = strata_proto::v1::streams_client::StreamsClient::connect(rig.url())
        .await
        .expect("connect");
    raw.append(pb::AppendRequest {
        stream: "h-probe".into(),
        expected_revision: Some(pb::append_request::ExpectedRevision::Any(pb::Empty {})),
        events: vec![pb::ProposedEvent {
            id: uuid::Uuid::new_v4().to_string(),
            r#type: "Probe".into(),
            content_type: "application/octet-stream".into(),
            data: vec![1],
            metadata: Vec::new(),
        }],
    })
    .await
    .map(|_| ())
}

/// EIO on the n-th fdatasync of a segment (then a restart without power
/// loss, or a power cut) and on writes: `poisoned`, then every acknowledged
/// event and nothing else after the restart, which takes appends again.
pub async fn eio(seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let variants = [
        (
            "EIO on fdatasync, then a restart",
            true,
            Some(CutMode::KeepEverything),
        ),
        ("EIO on fdatasync, then a power cut", true, None),
        ("EIO on write, then a power cut", false, None),
    ];
    for (v, (name, on_fsync, mode)) in variants.into_iter().enumerate() {
        let mut rig = Rig::start(seed.wrapping_add(v as u64), &[]);
        let h = History::new();
        let c = rig.client().await;
        let load = workload::start(&c, &h, seed ^ v as u64, 0, Shape::default());
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..200))).await;
        let nth = Nth::of(rng.random_range(1..=20), ".seg");
        let plan = if on_fsync {
            FaultPlan {
                eio_on_fsync: Some(nth),
                ..FaultPlan::default()
            }
        } else {
            // Sticky: a single failed request in the middle of a pwrite
            // reaches the program as a short write, which it completes.
            FaultPlan {
                eio_on_write: Some(nth.sticky()),
                ..FaultPlan::default()
            }
        };
        rig.faults(plan.clone());
        let fs = rig.fs();
        wait_for(60, name, || {
            let hits = fs.fault_hits();
            hits.eio_fsyncs + hits.eio_writes >= 1
        })
        .await;
        // Poisoned: writes refused until a restart.
        let st = raw_append(&rig)
            .await
            .expect_err("a poisoned store takes no append");
        assert_eq!(
            st.code(),
            tonic::Code::Unavailable,
            "seed {seed}, {name}: {st:?}"
        );
        assert_eq!(
            st.metadata()
                .get("strata-error")
                .and_then(|k| k.to_str().ok()),
            Some("poisoned"),
            "seed {seed}, {name}: {st:?}"
        );
        let mode = mode.unwrap_or_else(|| power_cut_mode(&mut rng));
        rig.crash();
        load.stop(&h).await;
        let report = rig.cut(mode);
        let what = format!("{name} ({mode:?}, {})", describe(&plan));
        eprintln!("{what}: {report}");
        let cov = after_cut(&mut rig, &h, 0, &what, &report).await;
        assert!(
            cov.ok > 0 && cov.unknown_present + cov.unknown_absent > 0,
            "{what}: {cov}"
        );
        raw_append(&rig)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}, {what}: appends after the restart: {e:?}"));
    }
}

/// ENOSPC past a 0.25–2 MiB budget: refused appends never appear, appends
/// succeed again when space returns, then a power cut.
pub async fn full_disk(seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rig = Rig::start(seed, &[]);
    let h = History::new();
    let c = rig.client().await;
    let plan = FaultPlan {
        enospc_after_bytes: Some(rng.random_range(256 << 10..2 << 20)),
        ..FaultPlan::default()
    };
    rig.faults(plan.clone());
    let disk_full = |h: &History| {
        h.ops()
            .iter()
            .filter(
                |op| matches!(&op.outcome, Outcome::Failed(m) if m.contains("nothing was written")),
            )
            .count()
    };
    let load = workload::start(
        &c,
        &h,
        seed,
        0,
        Shape {
            payload: (1000, 20_000),
            ..Shape::default()
        },
    );
    wait_for(60, "appends refused for a full disk", || disk_full(&h) >= 5).await;
    // Space comes back: appends succeed again without a restart.
    rig.faults(FaultPlan::default());
    let ok_before = h
        .ops()
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Ok(_)))
        .count();
    wait_for(30, "appends after space returned", || {
        h.ops()
            .iter()
            .filter(|op| matches!(op.outcome, Outcome::Ok(_)))
            .count()
            > ok_before + 10
    })
    .await;
    let mode = power_cut_mode(&mut rng);
    rig.crash();
    load.stop(&h).await;
    let report = rig.cut(mode);
    let what = format!("full disk, then {mode:?} ({})", describe(&plan));
    eprintln!("{what}: {report}");
    let cov = after_cut(&mut rig, &h, 0, &what, &report).await;
    assert!(cov.failed >= 5, "{what}: {cov}");
}

/// A full disk just as the log needs its next segment: the roll-over is
/// refused with `disk-full` (not a poison) and happens once space returns.
pub async fn full_disk_at_roll_over(seed: u64) {
    let mut rig = Rig::start(seed, SMALL_SEGMENTS);
    let h = History::new();
    let c = rig.client().await;
    // Fill the first segment until the next big append does not fit.
    let seg = rig.data_dir().join("log").join(format!("{:020}.seg", 1));
    while std::fs::metadata(&seg).unwrap().len() < (32 << 20) - (300 << 10) {
        let events = (0..2)
            .map(|_| EventData::binary("Fill", vec![1; 100 << 10]))
            .collect();
        c.append("f-fill", ExpectedRevision::Any, events)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: filling: {e}"));
    }
    // The disk is full: the roll-over the next append needs meets ENOSPC.
    rig.faults(FaultPlan {
        enospc_after_bytes: Some(0),
        ..FaultPlan::default()
    });
    let load = workload::start(&c, &h, seed, 0, big());
    let fs = rig.fs();
    wait_for(60, "ENOSPC", || fs.fault_hits().enospc >= 1).await;
    let st = raw_append(&rig).await.expect_err("the disk is full");
    let kind = st
        .metadata()
        .get("strata-error")
        .and_then(|k| k.to_str().ok())
        .map(str::to_owned);
    // The appends that need the next segment met the full disk at the roll.
    wait_for(60, "a roll-over refused for a full disk", || {
        rig.full_logs().contains("disk full at a segment roll-over")
    })
    .await;
    // Space returns: the roll-over happens at the next commit, and the
    // appenders' (recorded) appends succeed again without a restart.
    rig.faults(FaultPlan::default());
    let ok = |h: &History| {
        h.ops()
            .iter()
            .filter(|op| matches!(op.outcome, Outcome::Ok(_)))
            .count()
    };
    let ok_before = ok(&h);
    wait_for(60, "appends after space returned", || {
        ok(&h) >= ok_before + 5
    })
    .await;
    load.stop(&h).await;
    assert!(
        rig.full_logs().contains("rolled to a new segment"),
        "seed {seed}: no roll-over after space returned"
    );
    assert!(
        !rig.full_logs().contains("store poisoned"),
        "seed {seed}: a full disk at a roll-over poisoned the store"
    );
    // A restart keeps every acknowledged event, and nothing refused.
    rig.kill();
    rig.restart();
    check_now(&rig, &h, "full disk at a roll-over, restarted").await;
    assert_eq!(
        kind.as_deref(),
        Some("disk-full"),
        "seed {seed}: a full disk at a roll-over answers {st:?}"
    );
}

/// `marker`: restart once the marker is written; else kill at once and
/// remove the marker if the writer got to write it.
pub async fn fsyncgate(seed: u64, marker: bool) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rig = Rig::start(seed, &[]);
    let h = History::new();
    let c = rig.client().await;
    let load = workload::start(&c, &h, seed, 0, Shape::default());
    tokio::time::sleep(Duration::from_millis(rng.random_range(20..200))).await;
    let plan = FaultPlan {
        eio_on_fsync: Some(Nth::of(rng.random_range(1..=10), ".seg")),
        eio_loses_pending: true,
        ..FaultPlan::default()
    };
    rig.faults(plan.clone());
    let fs = rig.fs();
    wait_for(60, "the failed fsync", || fs.fault_hits().eio_fsyncs == 1).await;
    let log = rig.data_dir().join("log");
    let path = log.join("durable-end");
    if marker {
        // The writer records the durable end before it says "poisoned".
        wait_for(60, "the poison", || {
            rig.full_logs().contains("store poisoned")
        })
        .await;
        assert!(path.exists(), "seed {seed}: no durable-end marker");
    }
    // The process restarts, the machine does not: the lost writes are
    // still in the page cache, readable, and not on the disk.
    rig.kill();
    load.stop(&h).await;
    if !marker && path.exists() {
        std::fs::remove_file(&path).unwrap();
        std::fs::File::open(&log).unwrap().sync_all().unwrap();
    }
    rig.restart();
    assert!(!path.exists(), "seed {seed}: the marker outlived the open");
    assert_eq!(
        rig.full_logs().contains("cutting back to it"),
        marker,
        "seed {seed}: the open did not follow the marker"
    );
    let c = rig.client().await;
    workload::retry_unknown(&c, &h, 0).await;
    let what = format!(
        "restart after a lost fsync, {} ({})",
        if marker { "marker" } else { "no marker" },
        describe(&plan)
    );
    check_now(&rig, &h, &what).await;
    // More acknowledged appends, then the power goes.
    let start = h.len();
    let c = rig.client().await;
    let load = workload::start(&c, &h, seed ^ 1, 100, Shape::default());
    tokio::time::sleep(Duration::from_millis(rng.random_range(100..400))).await;
    rig.crash();
    load.stop(&h).await;
    let report = rig.cut(CutMode::DropUnsynced);
    let what = format!("{what}, then a power cut (DropUnsynced)");
    eprintln!("{what}: {report}");
    after_cut(&mut rig, &h, start, &what, &report).await;
}
