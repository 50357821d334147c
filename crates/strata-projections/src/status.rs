//! Per-projection status: what the runner knows locally ([`LocalStatus`],
//! shared between a projection's task and readers, and written to the
//! status file), the runner's states ([`RunState`]) and the full
//! [`ProjectionStatus`] with the log end and lag, which needs one look at
//! the server. Also the status file: writing it atomically on a cadence,
//! and reading it back.
//!
//! Not here: deciding state transitions (the projection task does) or any
//! checkpoint (`checkpoint.rs`, `kv.rs`).

use crate::error::{Error, Result};
use crate::source::Source;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_client::{now_micros, Client, ReadAllOptions, ReadOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// What a projection's task is doing. [`LocalStatus::state`] holds its
/// [`RunState::as_str`], the names the status file and `strata-project
/// status` have always shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    /// Added, not subscribed yet.
    Starting,
    /// Subscribed, not caught up with the log since the runner started.
    CatchingUp,
    /// Caught up at least once; applying events as they are committed.
    Live,
    /// The subscription failed; waiting to resubscribe from the checkpoint.
    Reconnecting,
    /// A handler failed; waiting to retry the event.
    Retrying,
    /// The task has ended (shut down or stopped by an error).
    Stopped,
}

impl RunState {
    /// The state's name in [`LocalStatus::state`].
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunState::Starting => "starting",
            RunState::CatchingUp => "catching-up",
            RunState::Live => "live",
            RunState::Reconnecting => "reconnecting",
            RunState::Retrying => "retrying",
            RunState::Stopped => "stopped",
        }
    }

    /// The state on (re)subscribing.
    pub(crate) fn subscribed(caught_up: bool) -> Self {
        if caught_up {
            RunState::Live
        } else {
            RunState::CatchingUp
        }
    }

    /// The state after a batch was applied: live once caught up; a retry or
    /// reconnection that got a batch through is over.
    pub(crate) fn after_batch(self, caught_up: bool) -> Self {
        match self {
            s if caught_up && s != RunState::Live => RunState::Live,
            RunState::Retrying | RunState::Reconnecting => RunState::CatchingUp,
            s => s,
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One projection's [`LocalStatus`], written by its task and read by
/// [`RunningRunner::local_status`](crate::RunningRunner::local_status) and
/// the status file writer. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub(crate) struct SharedStatus(Arc<Mutex<LocalStatus>>);

impl SharedStatus {
    /// A projection that has not started yet.
    pub(crate) fn starting(name: String, source: &Source) -> Self {
        let (source, stream) = describe(source);
        Self(Arc::new(Mutex::new(LocalStatus {
            name,
            source,
            stream,
            state: RunState::Starting.to_string(),
            checkpoint: None,
            last_event_micros: None,
            events_applied: 0,
            events_per_sec: 0.0,
            dead_letters: 0,
            caught_up: false,
            last_error: None,
        })))
    }

    /// Changes the status under its lock.
    pub(crate) fn update<T>(&self, f: impl FnOnce(&mut LocalStatus) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    /// A copy of the current status.
    pub(crate) fn get(&self) -> LocalStatus {
        self.0.lock().unwrap().clone()
    }
}

/// A copy of every status, in order.
pub(crate) fn snapshot(statuses: &[SharedStatus]) -> Vec<LocalStatus> {
    statuses.iter().map(SharedStatus::get).collect()
}

/// Replaces `path` with the statuses as a JSON array (written to a `.tmp`
/// beside it, then renamed, so readers never see half a file). Best effort:
/// a status file must never stop a projection, so failures are only traced.
fn write_status_file(path: &Path, statuses: &[SharedStatus]) {
    let json = match serde_json::to_vec_pretty(&snapshot(statuses)) {
        Ok(json) => json,
        Err(error) => {
            tracing::debug!(%error, "status not serializable; status file not written");
            return;
        }
    };
    let tmp = path.with_extension("tmp");
    if let Err(error) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, path)) {
        tracing::debug!(%error, path = %path.display(), "status file not written");
    }
}

/// Writes the status file every `every` until `shutdown` changes, then
/// once more, so the file ends with the final states.
pub(crate) fn spawn_status_writer(
    path: PathBuf,
    every: Duration,
    statuses: Vec<SharedStatus>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            write_status_file(&path, &statuses);
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => { write_status_file(&path, &statuses); return; }
            }
        }
    })
}

/// Reads a status file written by a runner ([`RunnerConfig::status_file`](crate::RunnerConfig::status_file)).
pub fn read_status_file(path: &Path) -> Result<Vec<LocalStatus>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        detail: e.to_string(),
    })
}

fn describe(source: &Source) -> (String, Option<String>) {
    match source {
        Source::Stream(s) => (format!("stream:{s}"), Some(s.clone())),
        Source::All(f) if f.is_empty() => ("$all".into(), None),
        Source::All(f) => (format!("$all filter={f:?}"), None),
        Source::Category(p) => (format!("category:{p}"), None),
    }
}
