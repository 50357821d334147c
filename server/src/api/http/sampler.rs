//! The dashboard's throughput history: once a second, the store writer's
//! counters (atomic loads, nothing blocking), kept for the
//! last [`HISTORY`]; [`Sampler::rates`] turns consecutive samples into
//! events/s and appends/s (transactions committed per second: an `Append`
//! or `AppendMulti`, and the server's own system writes).
//!
//! It is the only state the JSON API keeps, and it exists so that a page
//! opened now shows the last minutes at once. It starts with the HTTP
//! routes (when they are built inside the runtime) and ends with the node
//! or at shutdown.
//!
//! Not here: figures read at request time (`dashboard`), `/metrics`.

use crate::domain::Node;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time between samples.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How far back the history goes.
pub const HISTORY: Duration = Duration::from_secs(300);

/// One sample of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Unix milliseconds.
    pub unix_ms: u64,
    pub transactions: u64,
    pub events: u64,
}

/// The last [`HISTORY`] of samples.
#[derive(Debug, Default)]
pub struct Sampler {
    samples: Mutex<VecDeque<Sample>>,
}

impl Sampler {
    /// Samples `node` every [`INTERVAL`] on a task of the current runtime
    /// (none outside a runtime) until the node is gone or shutting down.
    pub fn start(node: &Arc<Node>) -> Arc<Sampler> {
        let sampler = Arc::new(Sampler::default());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(run(
                Arc::downgrade(node),
                node.shutdown_signal(),
                sampler.clone(),
            ));
        }
        sampler
    }

    /// Records `s`, dropping what is older than [`HISTORY`].
    pub fn push(&self, s: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.push_back(s);
        let keep = (HISTORY.as_millis() / INTERVAL.as_millis()) as usize + 1;
        while samples.len() > keep {
            samples.pop_front();
        }
    }

    /// `[{"t": unix_ms, "events_per_second", "appends_per_second"}]`, one
    /// per interval between samples, oldest first.
    pub fn rates(&self) -> Vec<serde_json::Value> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples
            .iter()
            .zip(samples.iter().skip(1))
            .filter(|(a, b)| b.unix_ms > a.unix_ms)
            .map(|(a, b)| {
                let secs = (b.unix_ms - a.unix_ms) as f64 / 1000.0;
                serde_json::json!({
                    "t": b.unix_ms,
                    "events_per_second": b.events.saturating_sub(a.events) as f64 / secs,
                    "appends_per_second": b.transactions.saturating_sub(a.transactions) as f64 / secs,
                })
            })
            .collect()
    }
}

fn sample(node: &Node) -> Sample {
    let writer = node.store().writer_stats();
    Sample {
        unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        transactions: writer.transactions,
        events: writer.events,
    }
}

async fn run(
    node: Weak<Node>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    sampler: Arc<Sampler>,
) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let Some(node) = node.upgrade() else { return };
        sampler.push(sample(&node));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_between_samples_and_a_bounded_history() {
        let s = Sampler::default();
        for i in 0..1000u64 {
            s.push(Sample {
                unix_ms: 1_000 * i,
                transactions: 2 * i,
                events: 10 * i,
            });
        }
        let r = s.rates();
        assert_eq!(r.len(), 300);
        assert_eq!(r[0]["events_per_second"], 10.0);
        assert_eq!(r[0]["appends_per_second"], 2.0);
        assert_eq!(r[299]["t"], 999_000);
    }
}
