//! JSON API: the dashboard (`GET /api/v1/dashboard`) — one answer with
//! what the UI's first page shows, read now from the same sources as
//! `/metrics` (`Node::readiness`, `facts`, the store's telemetry,
//! `list_groups`, `scavenge_status`, and the live instruments' exposition),
//! plus the throughput history of the [`Sampler`]. Consumer groups and
//! the scavenge are the `ops` role's (as over gRPC): for other callers
//! `groups` and `scavenge` are `null`.
//!
//! Latency percentiles (append: arrival to answer; fsync: write +
//! `fdatasync` per group commit) are estimated from the histograms over a
//! window: the last [`WINDOW`] when the dashboard was asked at least that
//! long ago (the page polls every few seconds), else since the server
//! started — `latency.window_seconds` says which (`null` = since start).
//!
//! Not here: the history's sampling (`sampler`), parsing and percentiles
//! (`histogram`), the figures' meaning (`telemetry`, docs/API.md).

use super::errors::ApiResult;
use super::histogram::{self, Hist};
use super::json;
use super::v1::ApiState;
use crate::domain::security::Caller;
use crate::telemetry::ScrapeSnapshot;
use axum::extract::State;
use axum::Extension;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The latency window once the dashboard has been polled that long.
pub const WINDOW: Duration = Duration::from_secs(60);
/// At most one remembered histogram pair per this long.
const REMEMBER_EVERY: Duration = Duration::from_secs(1);
/// Name of the append-duration histogram in the exposition.
const APPEND_HISTOGRAM: &str = "strata_append_duration_seconds";

/// Append and fsync histograms as read at one moment.
#[derive(Debug, Clone)]
struct Reading {
    at: Instant,
    append_ms: Option<Hist>,
    fsync_ms: Hist,
}

/// Earlier readings, to report percentiles over the last [`WINDOW`].
#[derive(Debug, Default)]
pub struct LatencyWindow {
    readings: Mutex<VecDeque<Reading>>,
}

impl LatencyWindow {
    /// Remembers `now` and returns the reading to subtract: the newest one
    /// at least [`WINDOW`] old, if any (older ones are forgotten).
    fn baseline(&self, now: &Reading) -> Option<Reading> {
        let mut r = self.readings.lock().unwrap_or_else(|p| p.into_inner());
        // Keep only the newest reading that is old enough, and younger ones.
        while r.len() >= 2 && now.at.duration_since(r[1].at) >= WINDOW {
            r.pop_front();
        }
        let base = r
            .front()
            .filter(|b| now.at.duration_since(b.at) >= WINDOW)
            .cloned();
        if r.back()
            .is_none_or(|last| now.at.duration_since(last.at) >= REMEMBER_EVERY)
        {
            r.push_back(now.clone());
        }
        base
    }
}

/// `GET /dashboard`.
pub async fn dashboard(
    State(st): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    let node = &st.node;
    let readiness = node.readiness();
    let facts = node.facts();
    // statvfs and a stat per segment: off the async workers.
    let store = node.store().clone();
    let telemetry = tokio::task::spawn_blocking(move || store.telemetry())
        .await
        .map_err(|e| crate::domain::Error::Internal(format!("reading telemetry failed: {e}")))?;
    let groups = node.list_groups().await?;
    let scavenge = node.scavenge_status().ok();
    let exposition = node.metrics().encode(ScrapeSnapshot::new(
        telemetry.clone(),
        groups.clone(),
        scavenge.clone(),
    ));

    let now = Reading {
        at: Instant::now(),
        append_ms: exposition
            .as_deref()
            .and_then(|t| Hist::from_exposition(t, APPEND_HISTOGRAM, 1000.0)),
        fsync_ms: Hist::from_snapshot(&telemetry.fsync_micros, 0.001),
    };
    let base = st.latency.baseline(&now);
    let (append_ms, fsync_ms) = match &base {
        Some(b) => (
            match (&now.append_ms, &b.append_ms) {
                (Some(n), Some(b)) => Some(n.since(b)),
                (n, _) => n.clone(),
            },
            now.fsync_ms.since(&b.fsync_ms),
        ),
        None => (now.append_ms.clone(), now.fsync_ms.clone()),
    };
    let subscriptions = exposition.as_deref().map(|t| {
        let phase = |p| histogram::gauge(t, "strata_subscriptions", "phase", p).unwrap_or(0.0);
        json!({ "live": phase("live"), "catching_up": phase("catching_up") })
    });

    Ok(json::ok(json!({
        "version": facts.version,
        "ready": readiness.is_ready(),
        "readiness": readiness.reason(),
        "poisoned": telemetry.poisoned,
        "disk_full": telemetry.disk_full,
        "head": telemetry.head,
        "indexed": telemetry.indexed,
        "writer_queue_depth": telemetry.writer_queue_depth,
        "disk": {
            "log_bytes": telemetry.log_bytes,
            "segments": telemetry.segments,
            "free_bytes": telemetry.disk_free_bytes,
        },
        "latency": {
            "window_seconds": base.map(|b| now.at.duration_since(b.at).as_secs()),
            "append_ms": append_ms.as_ref().map(Hist::summary),
            "fsync_ms": fsync_ms.summary(),
        },
        "subscriptions": subscriptions,
        "groups": caller.access.ops.then(|| groups.iter().map(|g| json!({
            "group": g.group,
            "state": g.status.as_str(),
            "consumers": g.consumers.len(),
            "in_flight": g.in_flight,
            "lag": g.head.saturating_sub(g.checkpoint),
            "parked": g.parked,
        })).collect::<Vec<Value>>()),
        "scavenge": scavenge.as_ref().filter(|_| caller.access.ops).map(json::scavenge),
        "rates": {
            "interval_ms": super::sampler::INTERVAL.as_millis() as u64,
            "samples": st.sampler.rates(),
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(at: Instant) -> Reading {
        Reading {
            at,
            append_ms: None,
            fsync_ms: Hist {
                bounds: vec![1.0],
                cumulative: vec![0],
                count: 0,
            },
        }
    }

    #[test]
    fn the_baseline_is_the_newest_reading_a_window_old() {
        let w = LatencyWindow::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert!(w.baseline(&reading(t0)).is_none());
        assert!(w.baseline(&reading(t0 + s(30))).is_none());
        assert_eq!(w.baseline(&reading(t0 + s(60))).unwrap().at, t0);
        // t0+30 is the newest at least 60 s before t0+95.
        assert_eq!(w.baseline(&reading(t0 + s(95))).unwrap().at, t0 + s(30));
        // Readings closer together than a second are not all remembered.
        for ms in 0..50 {
            let _ = w.baseline(&reading(t0 + s(95) + Duration::from_millis(ms)));
        }
        assert!(w.readings.lock().unwrap().len() <= 4);
    }
}
