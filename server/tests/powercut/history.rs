//! The history: every client operation (invoke, then ok, fail or unknown)
//! and every subscription delivery, as the clients saw them. `check`
//! compares the state read back after crashes, power cuts and faults with
//! it.
//!
//! What is checked, for the streams whose names start with the checked
//! prefix:
//! * no phantom: every event read back was sent, by an operation that did
//!   not certainly fail, with the same stream, type, content type, data and
//!   metadata;
//! * durability: every event of an acknowledged append is there, at the
//!   stream, revision and position the acknowledgement gave;
//! * atomicity: of each append (one stream or many) all events or none;
//! * streams: read back exactly the acknowledged appends in revision order
//!   plus possibly some whose outcome was unknown, revisions contiguous from
//!   0, and the stream read agrees with `$all`;
//! * expected revisions: each success wrote where its expectation said, and
//!   each conflict was justified — the reported revision was the stream's
//!   at some moment while the request was in flight;
//! * order: global positions unique and increasing, and an append
//!   acknowledged before another was sent has the smaller positions;
//! * idempotency: no event id twice (retries of unknown outcomes resend
//!   the same ids);
//! * subscriptions: each saw every event of its range once, in order, and
//!   only events that are durable.
//!
//! Not here: the checks themselves (`check`), producing the operations
//! (`workload`), the server (`rig`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_client::{AppendResult, CurrentRevision, EventData, ExpectedRevision};

/// One stream's part of an append.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The stream.
    pub stream: String,
    /// The expectation sent.
    pub expected: ExpectedRevision,
    /// The events sent.
    pub events: Vec<EventData>,
}

/// How an operation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// No answer yet.
    Pending,
    /// Acknowledged.
    Ok(Vec<AppendResult>),
    /// Refused: the stream was not as expected. Certainly not written.
    Conflict {
        /// The stream whose check failed.
        stream: String,
        /// Its revision as the server reported it.
        actual: CurrentRevision,
    },
    /// Refused for another reason that certainly wrote nothing.
    Failed(String),
    /// Timed out, connection lost, server poisoned or gone: may or may not
    /// have been written.
    Unknown(String),
}

/// One recorded operation.
#[derive(Debug, Clone)]
pub struct Op {
    /// The worker that sent it.
    pub process: usize,
    /// What it appended (one entry per stream).
    pub appends: Vec<Sent>,
    /// When it was sent and answered, since the history began.
    pub invoked: Duration,
    /// When it was answered (`None`: pending).
    pub completed: Option<Duration>,
    /// How it ended.
    pub outcome: Outcome,
}

impl Op {
    /// The ids of every event it sent.
    pub fn ids(&self) -> impl Iterator<Item = uuid::Uuid> + '_ {
        self.appends
            .iter()
            .flat_map(|a| a.events.iter().map(|e| e.id))
    }

    /// Whether it certainly wrote nothing.
    pub fn certainly_failed(&self) -> bool {
        matches!(self.outcome, Outcome::Conflict { .. } | Outcome::Failed(_))
    }
}

/// An event a subscription delivered.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Global position.
    pub position: u64,
    /// Stream and revision.
    pub stream: String,
    /// Revision in the stream.
    pub revision: u64,
    /// Event id.
    pub id: uuid::Uuid,
}

/// What one subscription delivered, in order.
#[derive(Debug, Clone, Default)]
pub struct SubLog {
    /// Its name, for messages.
    pub name: String,
    /// The position it started after (0: from the start).
    pub after: u64,
    /// The stream it follows (`None`: `$all`, the checked streams).
    pub stream: Option<String>,
    /// The events, in delivery order.
    pub seen: Vec<Seen>,
}

/// The record of everything clients did.
#[derive(Debug)]
pub struct History {
    t0: Instant,
    ops: Mutex<Vec<Op>>,
    subs: Mutex<Vec<Arc<Mutex<SubLog>>>>,
}

/// An operation's index in the history.
pub type OpId = usize;

impl Default for History {
    fn default() -> Self {
        History {
            t0: Instant::now(),
            ops: Mutex::default(),
            subs: Mutex::default(),
        }
    }
}

/// Sorts a client error into the history's outcomes.
pub fn classify(e: &strata_client::Error) -> Outcome {
    use strata_client::Error as E;
    match e {
        E::WrongExpectedRevision { stream, actual, .. } => Outcome::Conflict {
            stream: stream.clone(),
            actual: *actual,
        },
        E::PartialDuplicate { .. }
        | E::InvalidArgument { .. }
        | E::PermissionDenied { .. }
        | E::ResourceExhausted { .. }
        | E::FailedPrecondition { .. }
        | E::StreamTombstoned { .. } => Outcome::Failed(e.to_string()),
        // A full disk is undone before the answer (`disk-full`).
        E::Unavailable { message } if message.contains("nothing was written") => {
            Outcome::Failed(e.to_string())
        }
        _ => Outcome::Unknown(e.to_string()),
    }
}

impl History {
    /// A new, shared history.
    pub fn new() -> Arc<History> {
        Arc::new(History::default())
    }

    /// Records that `process` sends `appends`.
    pub fn invoke(&self, process: usize, appends: Vec<Sent>) -> OpId {
        let mut ops = self.ops.lock().unwrap();
        ops.push(Op {
            process,
            appends,
            invoked: self.t0.elapsed(),
            completed: None,
            outcome: Outcome::Pending,
        });
        ops.len() - 1
    }

    /// Records the answer to `id`; returns the outcome.
    pub fn complete(
        &self,
        id: OpId,
        r: &Result<Vec<AppendResult>, strata_client::Error>,
    ) -> Outcome {
        let outcome = match r {
            Ok(v) => Outcome::Ok(v.clone()),
            Err(e) => classify(e),
        };
        let mut ops = self.ops.lock().unwrap();
        ops[id].completed = Some(self.t0.elapsed());
        ops[id].outcome = outcome.clone();
        outcome
    }

    /// Marks every operation still pending as unknown (its worker was
    /// stopped while waiting).
    pub fn abandon_pending(&self) {
        let now = self.t0.elapsed();
        for op in self.ops.lock().unwrap().iter_mut() {
            if matches!(op.outcome, Outcome::Pending) {
                op.outcome = Outcome::Unknown("abandoned".into());
                op.completed = Some(now);
            }
        }
    }

    /// A new subscription log.
    pub fn subscription(&self, name: &str, after: u64, stream: Option<&str>) -> Arc<Mutex<SubLog>> {
        let log = Arc::new(Mutex::new(SubLog {
            name: name.to_owned(),
            after,
            stream: stream.map(str::to_owned),
            seen: Vec::new(),
        }));
        self.subs.lock().unwrap().push(log.clone());
        log
    }

    /// The last position the subscription `name` delivered (0: none).
    pub fn subscribed_through(&self, name: &str) -> u64 {
        self.subs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|s| {
                let s = s.lock().unwrap();
                (s.name == name).then(|| s.seen.last().map_or(0, |e| e.position))
            })
            .max()
            .unwrap_or(0)
    }

    /// A copy of every subscription log.
    pub fn subscriptions(&self) -> Vec<SubLog> {
        self.subs
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.lock().unwrap().clone())
            .collect()
    }

    /// A copy of every operation.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }

    /// The operations whose outcome is unknown, from index `from` on.
    pub fn unknown_since(&self, from: OpId) -> Vec<(OpId, Op)> {
        self.ops.lock().unwrap()[from..]
            .iter()
            .enumerate()
            .filter(|(_, op)| matches!(op.outcome, Outcome::Unknown(_)))
            .map(|(i, op)| (from + i, op.clone()))
            .collect()
    }

    /// How many operations so far.
    pub fn len(&self) -> usize {
        self.ops.lock().unwrap().len()
    }
}
