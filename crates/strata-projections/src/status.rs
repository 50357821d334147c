//! Per-projection status: what the runner knows locally ([`LocalStatus`],
//! also written to a status file) and the full [`ProjectionStatus`] with the
//! log end and lag, which needs one look at the server. Owns no runner state.

use crate::error::Result;
use crate::source::Source;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use strata_client::{Client, ReadAllOptions, ReadOptions};

/// The runner's own view of one projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalStatus {
    /// Projection name.
    pub name: String,
    /// `stream:<name>` or `$all` (global positions).
    pub source: String,
    /// Stream name for stream sources.
    pub stream: Option<String>,
    /// "starting", "catching-up", "live", "reconnecting", "retrying", "stopped".
    pub state: String,
    /// Committed checkpoint: revision (stream) or global position.
    pub checkpoint: Option<u64>,
    /// Commit time (unix µs) of the last applied event.
    pub last_event_micros: Option<i64>,
    /// Events applied since start.
    pub events_applied: u64,
    /// Recent throughput.
    pub events_per_sec: f64,
    /// Dead letters recorded since start.
    pub dead_letters: u64,
    /// Whether it has caught up with the log since it started.
    pub caught_up: bool,
    /// The last error (handler or connection), if any.
    pub last_error: Option<String>,
}

/// A projection's status with the log end and lag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionStatus {
    /// The runner's view.
    #[serde(flatten)]
    pub local: LocalStatus,
    /// The log end in the checkpoint's unit (head position, or the stream's
    /// last revision); `None` for an empty stream.
    pub log_end: Option<u64>,
    /// Events between the checkpoint and the end (for filtered `$all`
    /// sources: events still to be *examined*).
    pub lag_events: u64,
    /// Commit-time distance between the newest event and the last applied
    /// one, in seconds (0 when caught up).
    pub lag_seconds: f64,
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl ProjectionStatus {
    /// Completes `local` with the server's log end.
    pub async fn compute(client: &Client, local: LocalStatus) -> Result<Self> {
        let (end, end_micros) = match &local.stream {
            Some(stream) => {
                let mut s =
                    client.read_stream(stream.clone(), ReadOptions::backwards().max_count(1));
                match s.next().await {
                    Some(Ok(e)) => (Some(e.revision), Some(e.created_micros)),
                    Some(Err(strata_client::Error::NotFound { .. })) | None => (None, None),
                    Some(Err(e)) => return Err(e.into()),
                }
            }
            None => {
                let mut s = client.read_all(ReadAllOptions::backwards().max_count(1));
                match s.next().await {
                    Some(Ok(e)) => (Some(e.position), Some(e.created_micros)),
                    None => (None, None),
                    Some(Err(e)) => return Err(e.into()),
                }
            }
        };
        let lag_events = match (end, local.checkpoint) {
            (None, _) => 0,
            (Some(end), Some(cp)) => end.saturating_sub(cp),
            // Revisions are 0-based, positions 1-based.
            (Some(end), None) if local.stream.is_some() => end + 1,
            (Some(end), None) => end,
        };
        let lag_seconds = if lag_events == 0 {
            0.0
        } else {
            let from = local.last_event_micros.unwrap_or(end_micros.unwrap_or(0));
            let to = end_micros.unwrap_or_else(now_micros);
            (to - from).max(0) as f64 / 1e6
        };
        Ok(Self {
            local,
            log_end: end,
            lag_events,
            lag_seconds,
        })
    }

    /// One line for a terminal.
    pub fn line(&self) -> String {
        format!(
            "{:<20} {:<12} checkpoint={:<10} end={:<10} lag={} events / {:.3}s  {:.0} ev/s  dead={} applied={}{}",
            self.local.name,
            self.local.state,
            self.local.checkpoint.map_or("-".into(), |c| c.to_string()),
            self.log_end.map_or("-".into(), |c| c.to_string()),
            self.lag_events,
            self.lag_seconds,
            self.local.events_per_sec,
            self.local.dead_letters,
            self.local.events_applied,
            self.local
                .last_error
                .as_ref()
                .map_or(String::new(), |e| format!("  last error: {e}")),
        )
    }
}

pub(crate) fn describe(source: &Source) -> (String, Option<String>) {
    match source {
        Source::Stream(s) => (format!("stream:{s}"), Some(s.clone())),
        Source::All(f) if f.is_empty() => ("$all".into(), None),
        Source::All(f) => (format!("$all filter={f:?}"), None),
        Source::Category(p) => (format!("category:{p}"), None),
    }
}
