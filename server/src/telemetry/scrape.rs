//! Figures read at scrape time rather than counted on the request paths:
//! the store's telemetry (head, index lag, writer queue, fsync and
//! group-commit histograms, segments, disk), the consumer groups, the
//! scavenge, and the process. The `/metrics` handler gathers a
//! [`ScrapeSnapshot`] (some of it asynchronously), hands it to the
//! [`ScrapeCollector`], and the registry encodes it with the live
//! instruments.
//!
//! Not here: the live instruments (`metrics`), `/proc` parsing (`process`).

// Without the `metrics` feature the encoder below is compiled out and
// nothing reads a snapshot; that build exists to measure what the
// instruments cost, so it keeps the same code rather than its own.
#![cfg_attr(not(feature = "metrics"), allow(dead_code, unused_imports))]

use super::process::{self, ProcessStats};
use crate::domain::groups::GroupInfo;
use std::sync::{Arc, Mutex};
use strata_storage::{ScavengeState, ScavengeStatus, StoreTelemetry};

/// Everything read for one scrape.
#[derive(Debug, Clone)]
pub struct ScrapeSnapshot {
    pub store: StoreTelemetry,
    pub groups: Vec<GroupInfo>,
    pub scavenge: Option<ScavengeStatus>,
    pub process: Option<ProcessStats>,
}

impl ScrapeSnapshot {
    pub fn new(
        store: StoreTelemetry,
        groups: Vec<GroupInfo>,
        scavenge: Option<ScavengeStatus>,
    ) -> ScrapeSnapshot {
        ScrapeSnapshot {
            store,
            groups,
            scavenge,
            process: process::read(),
        }
    }
}

/// Hands the snapshot of the scrape in progress to the registry.
#[derive(Debug, Clone, Default)]
pub struct ScrapeCollector {
    current: Arc<Mutex<Option<ScrapeSnapshot>>>,
}

impl ScrapeCollector {
    /// Makes `s` what the next encoding reports.
    pub fn set(&self, s: ScrapeSnapshot) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
    }
}

#[cfg(feature = "metrics")]
mod encode {
    use super::*;
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
    use prometheus_client::metrics::MetricType;
    use prometheus_client::registry::Unit;
    use std::fmt::Error;
    use strata_storage::HistogramSnapshot;

    fn gauge(
        e: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        v: f64,
    ) -> Result<(), Error> {
        e.encode_descriptor(name, help, unit, MetricType::Gauge)?
            .encode_gauge(&v)
    }

    fn counter(
        e: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        v: f64,
    ) -> Result<(), Error> {
        e.encode_descriptor(name, help, unit, MetricType::Counter)?
            .encode_counter::<NoLabelSet, f64, f64>(&v, None)
    }

    /// A storage histogram, its bounds divided by `per_unit` (storage units
    /// per exposed unit: 1e6 µs per second). Dividing keeps 50 µs `0.00005`.
    fn histogram(
        e: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        h: &HistogramSnapshot,
        per_unit: f64,
    ) -> Result<(), Error> {
        let mut buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .zip(&h.counts)
            .map(|(b, c)| (*b as f64 / per_unit, *c))
            .collect();
        let below: u64 = h.counts.iter().sum();
        buckets.push((f64::MAX, h.count.saturating_sub(below)));
        e.encode_descriptor(name, help, unit, MetricType::Histogram)?
            .encode_histogram::<NoLabelSet>(h.sum as f64 / per_unit, h.count, &buckets, None)
    }

    /// One labelled series per group.
    fn per_group(
        e: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        kind: MetricType,
        groups: &[GroupInfo],
        value: impl Fn(&GroupInfo) -> f64,
    ) -> Result<(), Error> {
        let mut m = e.encode_descriptor(name, help, None, kind)?;
        for g in groups {
            let labels = vec![("group", g.group.as_str())];
            let mut f = m.encode_family(&labels)?;
            match kind {
                MetricType::Counter => f.encode_counter::<NoLabelSet, f64, f64>(&value(g), None)?,
                _ => f.encode_gauge(&value(g))?,
            }
        }
        Ok(())
    }

    impl Collector for ScrapeCollector {
        fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), Error> {
            let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
            let Some(s) = current.as_ref() else {
                return Ok(());
            };
            let t = &s.store;
            let b = Some(&Unit::Bytes);
            gauge(
                &mut e,
                "strata_head_position",
                "Last committed global position",
                None,
                t.head as f64,
            )?;
            gauge(
                &mut e,
                "strata_indexed_position",
                "Highest position in the stream index",
                None,
                t.indexed as f64,
            )?;
            gauge(
                &mut e,
                "strata_index_lag_events",
                "Committed events not yet in the stream index (reads never lag)",
                None,
                t.head.saturating_sub(t.indexed) as f64,
            )?;
            gauge(
                &mut e,
                "strata_writer_queue_depth",
                "Requests waiting for the writer",
                None,
                t.writer_queue_depth as f64,
            )?;
            counter(
                &mut e,
                "strata_group_commits",
                "Group commits (one write + one fdatasync each)",
                None,
                t.writer.groups as f64,
            )?;
            histogram(
                &mut e,
                "strata_fsync_duration",
                "Write + fdatasync time of a group commit",
                Some(&Unit::Seconds),
                &t.fsync_micros,
                1e6,
            )?;
            histogram(
                &mut e,
                "strata_commit_group_events",
                "Events per group commit",
                None,
                &t.group_events,
                1.0,
            )?;
            histogram(
                &mut e,
                "strata_commit_group",
                "Bytes per group commit",
                b,
                &t.group_bytes,
                1.0,
            )?;
            gauge(
                &mut e,
                "strata_segments",
                "Segment files of the log",
                None,
                t.segments as f64,
            )?;
            gauge(
                &mut e,
                "strata_log",
                "Bytes of all segment files",
                b,
                t.log_bytes as f64,
            )?;
            gauge(
                &mut e,
                "strata_disk_free",
                "Free bytes on the data directory's filesystem",
                b,
                t.disk_free_bytes as f64,
            )?;
            gauge(
                &mut e,
                "strata_disk_full",
                "1 while the last write failed for want of space",
                None,
                u8::from(t.disk_full) as f64,
            )?;
            gauge(
                &mut e,
                "strata_poisoned",
                "1 once a failed write or fsync made the store refuse writes",
                None,
                u8::from(t.poisoned.is_some()) as f64,
            )?;
            let g = &s.groups;
            per_group(
                &mut e,
                "strata_group_lag_events",
                "Events between a group's checkpoint and the head",
                MetricType::Gauge,
                g,
                |g| g.head.saturating_sub(g.checkpoint) as f64,
            )?;
            per_group(
                &mut e,
                "strata_group_in_flight",
                "Events delivered and not yet acked",
                MetricType::Gauge,
                g,
                |g| g.in_flight as f64,
            )?;
            per_group(
                &mut e,
                "strata_group_parked_events",
                "Events in the group's parked stream",
                MetricType::Gauge,
                g,
                |g| g.parked as f64,
            )?;
            per_group(
                &mut e,
                "strata_group_consumers",
                "Connected consumers",
                MetricType::Gauge,
                g,
                |g| g.consumers.len() as f64,
            )?;
            per_group(
                &mut e,
                "strata_group_delivered",
                "Deliveries (retries included)",
                MetricType::Counter,
                g,
                |g| g.totals.delivered as f64,
            )?;
            per_group(
                &mut e,
                "strata_group_acked",
                "Acks",
                MetricType::Counter,
                g,
                |g| g.totals.acked as f64,
            )?;
            per_group(
                &mut e,
                "strata_group_nacked",
                "Nacks",
                MetricType::Counter,
                g,
                |g| g.totals.nacked as f64,
            )?;
            per_group(
                &mut e,
                "strata_group_parks",
                "Events parked",
                MetricType::Counter,
                g,
                |g| g.totals.parked as f64,
            )?;
            // Zeros until the first scavenge, so dashboards and alerts
            // see the series from the start.
            {
                let sc = s.scavenge.as_ref();
                let running =
                    u8::from(sc.is_some_and(|sc| sc.state == ScavengeState::Running)) as f64;
                let figure = |f: fn(&ScavengeStatus) -> u64| sc.map_or(0.0, |sc| f(sc) as f64);
                gauge(
                    &mut e,
                    "strata_scavenge_running",
                    "1 while a scavenge runs",
                    None,
                    running,
                )?;
                gauge(
                    &mut e,
                    "strata_scavenge_segments_done",
                    "Segments the current (or last) scavenge processed",
                    None,
                    figure(|sc| sc.segments_done),
                )?;
                gauge(
                    &mut e,
                    "strata_scavenge_segments_total",
                    "Segments it has to process",
                    None,
                    figure(|sc| sc.segments_total),
                )?;
                gauge(
                    &mut e,
                    "strata_scavenge_reclaimed",
                    "Bytes it gave back so far",
                    b,
                    figure(|sc| sc.bytes_reclaimed),
                )?;
                gauge(
                    &mut e,
                    "strata_scavenge_records_dropped",
                    "Records it dropped so far",
                    None,
                    figure(|sc| sc.records_dropped),
                )?;
            }
            if let Some(p) = &s.process {
                counter(
                    &mut e,
                    "process_cpu",
                    "User and system CPU time",
                    Some(&Unit::Seconds),
                    p.cpu_seconds,
                )?;
                gauge(
                    &mut e,
                    "process_resident_memory",
                    "Resident memory",
                    b,
                    p.resident_bytes as f64,
                )?;
                gauge(
                    &mut e,
                    "process_open_fds",
                    "Open file descriptors",
                    None,
                    p.open_fds as f64,
                )?;
                gauge(
                    &mut e,
                    "process_start_time",
                    "Start time since the unix epoch",
                    Some(&Unit::Seconds),
                    p.start_time_seconds,
                )?;
            }
            Ok(())
        }
    }
}
