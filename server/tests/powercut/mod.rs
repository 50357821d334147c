//! Power-cut and fault-injection scenarios for the real `strata` binary on
//! lossyfs: the rig (`rig`), the client load (`workload`) and the history
//! checker (`history`), plus `round`, the cycle every scenario repeats —
//! load, cut, `strata verify`, restart, retry what is unknown, check.
//!
//! Not here: the scenarios themselves (`tests/power_cut.rs`, and the fault
//! scenarios in `faults`), the filesystem (`crates/lossyfs`).
#![allow(dead_code)]

pub mod check;
pub mod faults;
pub mod history;
pub mod lifecycle;
pub mod rig;
pub mod workload;

use check::Covered;
use history::History;
use lossyfs::{CutMode, CutReport};
use rand::Rng;
use rig::Rig;
use std::sync::Arc;

/// A power-cut mode from the seed: mostly the four power cuts, sometimes a
/// plain process crash.
pub fn pick_mode(rng: &mut impl Rng) -> CutMode {
    if rng.random_ratio(1, 9) {
        CutMode::KeepEverything
    } else {
        CutMode::POWER_CUTS[rng.random_range(0..CutMode::POWER_CUTS.len())]
    }
}

/// One of the four power-cut modes (never a plain crash).
pub fn power_cut_mode(rng: &mut impl Rng) -> CutMode {
    CutMode::POWER_CUTS[rng.random_range(0..CutMode::POWER_CUTS.len())]
}

/// 32 MiB, the smallest segment the server takes.
pub const SMALL_SEGMENTS: &[&str] = &["--segment-max-bytes", "33554432"];

/// Big events, so that the log reaches the next segment quickly.
pub fn big() -> workload::Shape {
    workload::Shape {
        per_kind: 1,
        payload: (64 << 10, 256 << 10),
        max_batch: 4,
    }
}

/// Polls `cond` every 10 ms; panics with `what` after `secs` seconds.
pub async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A short description of a fault plan, for round headers.
pub fn describe(plan: &lossyfs::FaultPlan) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &plan.eio_on_fsync {
        parts.push(format!("EIO on fsync {n:?}"));
    }
    if plan.eio_loses_pending {
        parts.push("a failed fsync loses its writes (fsyncgate)".into());
    }
    if let Some(n) = &plan.eio_on_write {
        parts.push(format!("EIO on write {n:?}"));
    }
    if let Some(b) = plan.enospc_after_bytes {
        parts.push(format!("ENOSPC after {b} bytes"));
    }
    if let Some(n) = plan.short_write_every {
        parts.push(format!("short write every {n}"));
    }
    if let Some(d) = plan.slow_fsync {
        parts.push(format!("fsync +{d:?}"));
    }
    if let Some(n) = &plan.freeze_after_fsync {
        parts.push(format!(
            "power off after fsync #{} of {:?}",
            n.n, n.name_contains
        ));
    }
    if parts.is_empty() {
        "no faults".into()
    } else {
        parts.join(", ")
    }
}

/// After a cut: `strata verify` on what the cut left (a torn tail is fine,
/// corruption is not), restart, re-send the operations of this round whose
/// outcome was unknown, read everything back and check the history.
/// Panics with the seed, the cut and the server's log on a violation.
pub async fn after_cut(
    rig: &mut Rig,
    h: &Arc<History>,
    round_start: usize,
    what: &str,
    report: &CutReport,
) -> Covered {
    let seed = rig.seed;
    if let Err(out) = rig.verify() {
        panic!(
            "seed {seed}, {what}: strata verify fails after the cut ({report}):\n{out}\n{}",
            rig.logs()
        );
    }
    rig.restart();
    let c = rig.client().await;
    workload::retry_unknown(&c, h, round_start).await;
    check_now(rig, h, what).await
}

/// Reads everything back and checks the history; panics on a violation.
pub async fn check_now(rig: &Rig, h: &Arc<History>, what: &str) -> Covered {
    let c = rig.patient_client().await;
    let fin = check::read_final(&c, workload::PREFIX).await;
    match check::check(h, &fin, workload::PREFIX) {
        Ok(cov) => {
            eprintln!("{what}: {cov}");
            cov
        }
        Err(v) => panic!(
            "seed {}, {what}: the history check failed:\n  {}\n{}",
            rig.seed,
            v.join("\n  "),
            rig.logs()
        ),
    }
}
