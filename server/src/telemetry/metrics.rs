//! Live instruments: counters, gauges and histograms updated on the request
//! paths (appends, reads, subscriptions, snapshots, connections), and the
//! Prometheus registry that encodes them with the scrape-time figures of
//! `scrape`.
//!
//! Names follow Prometheus's conventions: `strata_` prefix, base units
//! (seconds, bytes) in the name, `_total` on counters. Every instrument is
//! a relaxed atomic: a few nanoseconds per request. Built without the
//! `metrics` feature, [`Metrics`] keeps its methods and does nothing, and
//! `/metrics` answers 404 — for measuring what instrumenting costs.
//!
//! Not here: what is read at scrape time (`scrape`), the endpoint
//! (`api::http`).

use std::time::Duration;

/// How an append ended, for `strata_append_requests_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    Ok,
    /// A retry recognised by its ids (nothing written), or a partial one.
    Duplicate,
    /// The expected revision did not hold (or the stream is tombstoned).
    Conflict,
    /// Malformed input.
    Invalid,
    /// Over a documented limit.
    Limit,
    /// Poisoned, disk full, overloaded, shutting down.
    Unavailable,
    /// Anything else (I/O, corruption, a bug).
    Error,
}

// Label values: read only by the Prometheus encoder (feature `metrics`).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
impl AppendOutcome {
    pub const ALL: [AppendOutcome; 7] = [
        AppendOutcome::Ok,
        AppendOutcome::Duplicate,
        AppendOutcome::Conflict,
        AppendOutcome::Invalid,
        AppendOutcome::Limit,
        AppendOutcome::Unavailable,
        AppendOutcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppendOutcome::Ok => "ok",
            AppendOutcome::Duplicate => "duplicate",
            AppendOutcome::Conflict => "conflict",
            AppendOutcome::Invalid => "invalid",
            AppendOutcome::Limit => "limit",
            AppendOutcome::Unavailable => "unavailable",
            AppendOutcome::Error => "error",
        }
    }

    /// The outcome a storage error stands for.
    pub fn of_error(e: &strata_storage::Error) -> AppendOutcome {
        use strata_storage::Error as E;
        match e {
            E::WrongExpectedRevision { .. } | E::StreamTombstoned { .. } => AppendOutcome::Conflict,
            E::PartialDuplicate { .. } => AppendOutcome::Duplicate,
            E::InvalidStreamName { .. }
            | E::ReservedStreamName(_)
            | E::InvalidEvent(_)
            | E::InvalidAppend(_)
            | E::InvalidMetadata(_) => AppendOutcome::Invalid,
            E::EventTooLarge { .. }
            | E::TooManyEvents { .. }
            | E::AppendTooLarge { .. }
            | E::MetadataTooLarge { .. }
            | E::SnapshotTooLarge { .. } => AppendOutcome::Limit,
            E::Poisoned(_) | E::DiskFull(_) | E::Overloaded(_) | E::Closed => {
                AppendOutcome::Unavailable
            }
            E::SnapshotAheadOfStream { .. }
            | E::StreamNotFound(_)
            | E::StreamDeleted(_)
            | E::PositionBeyondHead { .. }
            | E::Locked(_)
            | E::Corrupt { .. }
            | E::Config(_)
            | E::Index(_)
            | E::Io(_) => AppendOutcome::Error,
        }
    }
}

/// Which read, for `strata_reads_total{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    Stream,
    All,
}

#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
impl ReadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadKind::Stream => "stream",
            ReadKind::All => "all",
        }
    }
}

/// A subscription's phase, for the `strata_subscriptions{phase}` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionPhase {
    CatchingUp,
    Live,
}

/// Counts one subscription in `strata_subscriptions{phase}` for as long
/// as it lives: catching up from creation, live after [`PhaseGauge::live`].
#[derive(Debug)]
pub struct PhaseGauge {
    metrics: std::sync::Arc<Metrics>,
    phase: SubscriptionPhase,
}

impl PhaseGauge {
    pub fn new(metrics: std::sync::Arc<Metrics>) -> PhaseGauge {
        metrics.subscription(SubscriptionPhase::CatchingUp, 1);
        PhaseGauge {
            metrics,
            phase: SubscriptionPhase::CatchingUp,
        }
    }

    /// The subscription caught up (idempotent).
    pub fn live(&mut self) {
        if self.phase == SubscriptionPhase::CatchingUp {
            self.metrics.subscription(SubscriptionPhase::CatchingUp, -1);
            self.metrics.subscription(SubscriptionPhase::Live, 1);
            self.phase = SubscriptionPhase::Live;
        }
    }
}

impl Drop for PhaseGauge {
    fn drop(&mut self) {
        self.metrics.subscription(self.phase, -1);
    }
}

/// Counts one append session in `strata_append_sessions_open` while it
/// lives (and in `strata_append_sessions_total` when it opens).
#[derive(Debug)]
pub struct SessionGauge(std::sync::Arc<Metrics>);

impl SessionGauge {
    pub fn new(metrics: std::sync::Arc<Metrics>) -> SessionGauge {
        metrics.append_session(1);
        SessionGauge(metrics)
    }
}

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.0.append_session(-1);
    }
}

/// Counts one open connection in `strata_connections_open` while it lives.
#[derive(Debug)]
pub struct ConnectionGauge(std::sync::Arc<Metrics>);

impl ConnectionGauge {
    pub fn new(metrics: std::sync::Arc<Metrics>) -> ConnectionGauge {
        metrics.connection(1);
        ConnectionGauge(metrics)
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        self.0.connection(-1);
    }
}

#[cfg(feature = "metrics")]
pub use enabled::*;

#[cfg(feature = "metrics")]
mod enabled {
    use super::super::scrape::{ScrapeCollector, ScrapeSnapshot};
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
    use prometheus_client::registry::{Registry, Unit};

    type Labels = Vec<(&'static str, &'static str)>;

    /// Every live instrument, and the registry that encodes them.
    #[derive(Debug)]
    pub struct Metrics {
        registry: Registry,
        append_requests: Family<Labels, Counter>,
        appended_events: Counter,
        appended_bytes: Counter,
        append_seconds: Histogram,
        append_sessions_open: Gauge,
        append_sessions: Counter,
        reads: Family<Labels, Counter>,
        read_events: Counter,
        subscriptions: Family<Labels, Gauge>,
        snapshot_saves: Counter,
        snapshot_loads: Family<Labels, Counter>,
        connections_open: Gauge,
        connections_refused: Counter,
        /// What the next encoding reports of the scrape-time figures.
        collector: ScrapeCollector,
    }

    impl Default for Metrics {
        fn default() -> Metrics {
            Metrics::new()
        }
    }

    impl Metrics {
        /// Every instrument at zero, registered with a scrape-time collector.
        pub fn new() -> Metrics {
            let collector = ScrapeCollector::default();
            let mut registry = Registry::default();
            let m = Metrics {
                append_requests: Family::default(),
                appended_events: Counter::default(),
                appended_bytes: Counter::default(),
                // 50 µs .. ~1.6 s.
                append_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
                append_sessions_open: Gauge::default(),
                append_sessions: Counter::default(),
                reads: Family::default(),
                read_events: Counter::default(),
                subscriptions: Family::default(),
                snapshot_saves: Counter::default(),
                snapshot_loads: Family::default(),
                connections_open: Gauge::default(),
                connections_refused: Counter::default(),
                registry: Registry::default(),
                collector: collector.clone(),
            };
            registry.register(
                "strata_append_requests",
                "Append requests (Append, AppendMulti) by outcome",
                m.append_requests.clone(),
            );
            registry.register(
                "strata_appended_events",
                "Events written by acknowledged appends",
                m.appended_events.clone(),
            );
            registry.register_with_unit(
                "strata_appended",
                "Bytes of data and metadata written by acknowledged appends",
                Unit::Bytes,
                m.appended_bytes.clone(),
            );
            registry.register_with_unit(
                "strata_append_duration",
                "From an append request's arrival to its answer (durable or refused)",
                Unit::Seconds,
                m.append_seconds.clone(),
            );
            registry.register(
                "strata_append_sessions_open",
                "AppendSession calls open now (their appends count in strata_append_requests)",
                m.append_sessions_open.clone(),
            );
            registry.register(
                "strata_append_sessions",
                "AppendSession calls opened",
                m.append_sessions.clone(),
            );
            registry.register("strata_reads", "Read requests by kind", m.reads.clone());
            registry.register(
                "strata_read_events",
                "Events returned by reads",
                m.read_events.clone(),
            );
            registry.register(
                "strata_subscriptions",
                "Open catch-up subscriptions, by phase (catching_up, live)",
                m.subscriptions.clone(),
            );
            registry.register(
                "strata_snapshot_saves",
                "Snapshots saved",
                m.snapshot_saves.clone(),
            );
            registry.register(
                "strata_snapshot_loads",
                "Snapshot requests by result (hit, miss)",
                m.snapshot_loads.clone(),
            );
            registry.register(
                "strata_connections_open",
                "Client connections open now",
                m.connections_open.clone(),
            );
            registry.register(
                "strata_connections_refused",
                "Connections closed at once because --max-connections were open",
                m.connections_refused.clone(),
            );
            // Every known series from the start, so rates and dashboards
            // see zeros instead of absent series.
            for o in AppendOutcome::ALL {
                let _ = m
                    .append_requests
                    .get_or_create(&vec![("outcome", o.as_str())]);
            }
            for k in [ReadKind::Stream, ReadKind::All] {
                let _ = m.reads.get_or_create(&vec![("kind", k.as_str())]);
            }
            for p in ["catching_up", "live"] {
                let _ = m.subscriptions.get_or_create(&vec![("phase", p)]);
            }
            for r in ["hit", "miss"] {
                let _ = m.snapshot_loads.get_or_create(&vec![("result", r)]);
            }
            registry.register_collector(Box::new(collector));
            Metrics { registry, ..m }
        }

        pub fn append(&self, outcome: AppendOutcome, events: u64, bytes: u64, took: Duration) {
            self.append_requests
                .get_or_create(&vec![("outcome", outcome.as_str())])
                .inc();
            if outcome == AppendOutcome::Ok {
                self.appended_events.inc_by(events);
                self.appended_bytes.inc_by(bytes);
            }
            self.append_seconds.observe(took.as_secs_f64());
        }

        /// An append session opened (`1`) or ended (`-1`).
        pub fn append_session(&self, delta: i64) {
            if delta > 0 {
                self.append_sessions.inc();
            }
            self.append_sessions_open.inc_by(delta);
        }

        pub fn read(&self, kind: ReadKind) {
            self.reads
                .get_or_create(&vec![("kind", kind.as_str())])
                .inc();
        }

        pub fn read_events(&self, n: u64) {
            self.read_events.inc_by(n);
        }

        pub fn subscription(&self, phase: SubscriptionPhase, delta: i64) {
            let p = match phase {
                SubscriptionPhase::CatchingUp => "catching_up",
                SubscriptionPhase::Live => "live",
            };
            self.subscriptions
                .get_or_create(&vec![("phase", p)])
                .inc_by(delta);
        }

        pub fn snapshot_saved(&self) {
            self.snapshot_saves.inc();
        }

        pub fn snapshot_loaded(&self, hit: bool) {
            let r = if hit { "hit" } else { "miss" };
            self.snapshot_loads
                .get_or_create(&vec![("result", r)])
                .inc();
        }

        pub fn connection(&self, delta: i64) {
            self.connections_open.inc_by(delta);
        }

        pub fn connection_refused(&self) {
            self.connections_refused.inc();
        }

        /// The exposition text (OpenMetrics) with the scrape-time figures
        /// `s`; `None` when built without metrics.
        pub fn encode(&self, s: ScrapeSnapshot) -> Option<String> {
            self.collector.set(s);
            let mut out = String::new();
            encode(&mut out, &self.registry).ok()?;
            Some(out)
        }
    }
}

#[cfg(not(feature = "metrics"))]
pub use disabled::*;

#[cfg(not(feature = "metrics"))]
mod disabled {
    use super::*;

    /// Built without the `metrics` feature: every method does nothing.
    #[derive(Debug, Default)]
    pub struct Metrics;

    impl Metrics {
        pub fn new() -> Metrics {
            Metrics
        }
        #[inline]
        pub fn append(&self, _: AppendOutcome, _: u64, _: u64, _: Duration) {}
        #[inline]
        pub fn append_session(&self, _: i64) {}
        #[inline]
        pub fn read(&self, _: ReadKind) {}
        #[inline]
        pub fn read_events(&self, _: u64) {}
        #[inline]
        pub fn subscription(&self, _: SubscriptionPhase, _: i64) {}
        #[inline]
        pub fn snapshot_saved(&self) {}
        #[inline]
        pub fn snapshot_loaded(&self, _: bool) {}
        #[inline]
        pub fn connection(&self, _: i64) {}
        #[inline]
        pub fn connection_refused(&self) {}
        pub fn encode(&self, _: super::super::scrape::ScrapeSnapshot) -> Option<String> {
            None
        }
    }
}
