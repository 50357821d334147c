//! The user-facing traits — [`Projection`] (at-least-once, any side effect)
//! and [`KvProjection`] (exactly-once into a [`SledReadModel`](crate::SledReadModel))
//! — and the handler error policy. Owns no I/O; the runner drives them.

use crate::error::HandlerError;
use crate::kv::KvTxn;
use crate::source::Source;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use strata_client::{RecordedEvent, RetryPolicy};

/// A projection with its own side effects, checkpointed separately (in a
/// [`FileCheckpointStore`](crate::FileCheckpointStore)) **after** its events
/// were handled and [`Projection::flush`] returned: **at-least-once**. After
/// a crash the events since the last checkpoint are handled again, so
/// handlers must be idempotent (or tolerate duplicates).
pub trait Projection: Send + 'static {
    /// A unique name (`[A-Za-z0-9_.-]`, at most 100 bytes).
    fn name(&self) -> &str;
    /// What to subscribe to.
    fn source(&self) -> Source;
    /// Applies one event. Events arrive in log order, each once per run.
    fn handle(
        &mut self,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// Makes the effects of the events handled so far durable; called before
    /// each checkpoint is stored. The default does nothing.
    fn flush(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async { Ok(()) }
    }
}

/// A projection into the built-in key/value read model. Its writes (through
/// the [`KvTxn`]) and the checkpoint commit in one sled transaction, so each
/// event's effect is in the model **exactly once**, across crashes.
pub trait KvProjection: Send + 'static {
    /// A unique name (`[A-Za-z0-9_.-]`, at most 100 bytes).
    fn name(&self) -> &str;
    /// What to subscribe to.
    fn source(&self) -> Source;
    /// Applies one event to the model. A returned error discards this
    /// event's writes (the policy then retries, stops or skips).
    fn apply(
        &mut self,
        event: &RecordedEvent,
        model: &mut KvTxn<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// What happens when a handler keeps failing on an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OnFailure {
    /// Stop the projection before the event; its checkpoint stays there.
    Stop,
    /// Record the event in the dead-letter list and go on.
    DeadLetter,
}

/// Retry-then-stop-or-skip policy for handler errors. Nothing is dropped
/// silently: a skipped event is always recorded as a [`DeadLetter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorPolicy {
    /// Retries after the first failure.
    pub retries: u32,
    /// Delay before the first retry (doubled each time).
    pub initial_backoff: Duration,
    /// Longest delay between retries.
    pub max_backoff: Duration,
    /// What to do when the retries are exhausted.
    pub on_failure: OnFailure,
}

impl Default for ErrorPolicy {
    /// 3 retries from 100 ms, then stop.
    fn default() -> Self {
        Self {
            retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            on_failure: OnFailure::Stop,
        }
    }
}

impl ErrorPolicy {
    /// The default retries, then dead-letter instead of stopping.
    pub fn dead_letter() -> Self {
        Self {
            on_failure: OnFailure::DeadLetter,
            ..Self::default()
        }
    }

    /// The delay before retry `n` (1-based): the client's exponential
    /// backoff ([`RetryPolicy::backoff`]) from `initial_backoff`, capped at
    /// `max_backoff`.
    pub fn backoff(&self, n: u32) -> Duration {
        RetryPolicy::default()
            .initial_backoff(self.initial_backoff)
            .max_backoff(self.max_backoff)
            .backoff(n)
    }
}

/// An event a handler could not apply, skipped by [`OnFailure::DeadLetter`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Checkpoint value of the event (revision or global position).
    pub checkpoint: u64,
    /// Global position.
    pub position: u64,
    /// Stream and revision.
    pub stream: String,
    /// Revision in its stream.
    pub revision: u64,
    /// Event type.
    pub event_type: String,
    /// Event id.
    pub id: String,
    /// The handler's last error.
    pub error: String,
}
