//! One projection's task: subscribe after the stored checkpoint, take the
//! subscription's items in batches, apply each event through the [`Driver`]
//! under the [`ErrorPolicy`], commit the checkpoint, keep the status, and
//! resubscribe from the checkpoint with the client's backoff when the
//! connection or the server goes away.
//!
//! Not here: starting and stopping tasks (`runner.rs`), how events and
//! checkpoints are stored (`driver.rs`), or the status file (`status.rs`).
//!
//! Invariants: the checkpoint only moves forward, over events that were
//! applied or dead-lettered (never skipped silently); events at or before it
//! are not applied again; a refused request (bad or reserved source) stops
//! the task instead of retrying forever.

use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use strata_client::{Client, RecordedEvent, RetryPolicy, SubscriptionItem};
use tokio::sync::watch;

use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::projection::{DeadLetter, ErrorPolicy, OnFailure};
use crate::runner::RunnerConfig;
use crate::source::{Source, Subscription};
use crate::status::{LocalStatus, RunState, SharedStatus};

/// How often an idle projection's events/s is recomputed, so it decays
/// instead of freezing at the last busy rate.
const IDLE_RATE_EVERY: Duration = Duration::from_secs(1);
/// Shortest window over which events/s is measured after a batch.
const RATE_WINDOW: Duration = Duration::from_millis(500);

/// Runs one projection until shutdown or an error, then closes its driver
/// and marks it stopped.
pub(crate) async fn run_projection<D: Driver>(
    client: Client,
    cfg: RunnerConfig,
    policy: ErrorPolicy,
    driver: D,
    status: SharedStatus,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let source = driver.source();
    let mut task = Task {
        name: driver.name(),
        global: source.is_global(),
        source,
        reconnect: RetryPolicy::default()
            .initial_backoff(cfg.reconnect_initial)
            .max_backoff(cfg.reconnect_max),
        batch_size: cfg.batch_size.max(1),
        cfg,
        policy,
        driver,
        status,
        state: RunState::Starting,
        shutdown,
        checkpoint: None,
        failures: 0,
        rate: Rate::new(),
    };
    let r = task.run(&client).await;
    let r = r.and(task.driver.close().await);
    task.enter(RunState::Stopped, |s| {
        if let Err(e) = &r {
            s.last_error = Some(e.to_string());
        }
    });
    r
}

struct Task<D> {
    name: String,
    source: Source,
    /// Checkpoints are global positions, so the server's `Checkpoint` and
    /// `CaughtUp` positions advance them too.
    global: bool,
    /// Only its backoff is used: the task resubscribes for as long as it runs.
    reconnect: RetryPolicy,
    batch_size: usize,
    cfg: RunnerConfig,
    policy: ErrorPolicy,
    driver: D,
    status: SharedStatus,
    /// Mirrored into the status's `state` on every change; this task is its
    /// only writer.
    state: RunState,
    shutdown: watch::Receiver<bool>,
    /// The last committed checkpoint.
    checkpoint: Option<u64>,
    /// Consecutive subscription failures (reset by a batch without one).
    failures: u32,
    rate: Rate,
}

/// Events applied since `since`, for events/s.
struct Rate {
    since: Instant,
    count: u64,
}

impl Rate {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            count: 0,
        }
    }
}

/// How following one subscription ended, short of an error.
enum Followed {
    /// Shut down: the task is over.
    ShutDown,
    /// The subscription failed and the backoff has passed; resubscribe.
    Resubscribe,
}

/// Why a batch stopped early, besides an error.
enum Halt {
    /// The policy stopped the projection at an event.
    Stop(Error),
    /// Shutdown came while a handler retry was waiting.
    Interrupted,
}

/// What one batch of items did.
#[derive(Default)]
struct Applied {
    checkpoint: Option<u64>,
    applied: u64,
    dead: u64,
    last_micros: Option<i64>,
    caught_up: bool,
    halt: Option<Halt>,
}

/// What became of one event.
enum Outcome {
    Applied,
    DeadLettered,
    Stop(String),
    Interrupted,
}

/// Why the subscription gave out.
enum SubError {
    Client(strata_client::Error),
    Ended,
}

impl std::fmt::Display for SubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubError::Client(e) => e.fmt(f),
            SubError::Ended => f.write_str("subscription ended"),
        }
    }
}

impl<D: Driver> Task<D> {
    /// Moves to `state`, changing the rest of the status with `f` under the
    /// same lock, so readers never see the new state with old details.
    fn enter(&mut self, state: RunState, f: impl FnOnce(&mut LocalStatus)) {
        self.state = state;
        self.status.update(|s| {
            s.state = state.to_string();
            f(s);
        });
    }

    /// Waits `d`; true if shutdown was asked for (before or during).
    async fn sleep_or_shutdown(&mut self, d: Duration) -> bool {
        if *self.shutdown.borrow() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => *self.shutdown.borrow(),
            _ = self.shutdown.changed() => true,
        }
    }

    async fn run(&mut self, client: &Client) -> Result<()> {
        self.checkpoint = self.driver.load_checkpoint()?;
        let cp = self.checkpoint;
        self.status.update(|s| s.checkpoint = cp);
        loop {
            if *self.shutdown.borrow() {
                return Ok(());
            }
            let mut sub =
                self.source
                    .subscribe(client, self.checkpoint, self.cfg.checkpoint_interval);
            let caught_up = self.status.update(|s| s.caught_up);
            self.enter(RunState::subscribed(caught_up), |_| {});
            match self.follow(&mut sub).await? {
                Followed::ShutDown => return Ok(()),
                Followed::Resubscribe => {}
            }
        }
    }

    /// Applies the subscription's batches until it fails, the task is shut
    /// down or an error stops it.
    async fn follow(&mut self, sub: &mut Subscription) -> Result<Followed> {
        loop {
            let first = tokio::select! {
                biased;
                _ = self.shutdown.changed() => return Ok(Followed::ShutDown),
                it = sub.next() => it,
                _ = tokio::time::sleep(IDLE_RATE_EVERY) => {
                    let elapsed = self.rate.since.elapsed();
                    let count = self.rate.count;
                    self.status.update(|s| s.events_per_sec = count as f64 / elapsed.as_secs_f64());
                    self.rate = Rate::new();
                    continue;
                }
            };
            let (items, sub_err) = self.take_batch(first, sub);
            let applied = self.apply_batch(items).await?;
            self.commit(applied.checkpoint).await?;
            match self.record(applied) {
                Some(Halt::Stop(e)) => return Err(e),
                Some(Halt::Interrupted) => return Ok(Followed::ShutDown),
                None => {}
            }
            match sub_err {
                None => self.failures = 0,
                // A request the server will never accept (bad stream name,
                // reserved name): retrying cannot help.
                Some(SubError::Client(
                    e @ (strata_client::Error::InvalidArgument { .. }
                    | strata_client::Error::PermissionDenied { .. }),
                )) => return Err(Error::Client(e)),
                Some(err) => {
                    return Ok(if self.back_off(&err).await {
                        Followed::ShutDown
                    } else {
                        Followed::Resubscribe
                    });
                }
            }
        }
    }

    /// `first` plus whatever else the subscription has ready, up to the
    /// batch size in events, without waiting; and the error that ended it,
    /// if one did.
    fn take_batch(
        &self,
        first: Option<strata_client::Result<SubscriptionItem>>,
        sub: &mut Subscription,
    ) -> (Vec<SubscriptionItem>, Option<SubError>) {
        let mut items = Vec::new();
        let mut err = None;
        match first {
            Some(Ok(i)) => items.push(i),
            Some(Err(e)) => err = Some(SubError::Client(e)),
            None => err = Some(SubError::Ended),
        }
        let mut n = items.len();
        while err.is_none() && n < self.batch_size {
            match sub.next().now_or_never() {
                Some(Some(Ok(i))) => {
                    n += usize::from(matches!(i, SubscriptionItem::Event(_)));
                    items.push(i);
                }
                Some(Some(Err(e))) => err = Some(SubError::Client(e)),
                Some(None) => err = Some(SubError::Ended),
                None => break,
            }
        }
        (items, err)
    }

    /// Applies a batch's events in order and advances the (uncommitted)
    /// checkpoint over them and over the server's positions.
    async fn apply_batch(&mut self, items: Vec<SubscriptionItem>) -> Result<Applied> {
        let mut a = Applied {
            checkpoint: self.checkpoint,
            ..Applied::default()
        };
        for item in items {
            match item {
                SubscriptionItem::Event(e) => {
                    let key = self.source.key_of(&e);
                    if a.checkpoint.is_some_and(|c| key <= c) {
                        continue; // already applied (defensive)
                    }
                    match self.apply_one(&e, key).await? {
                        Outcome::Applied => {}
                        Outcome::DeadLettered => a.dead += 1,
                        Outcome::Stop(message) => {
                            a.halt = Some(Halt::Stop(Error::HandlerStopped {
                                projection: self.name.clone(),
                                position: key,
                                stream: e.stream.clone(),
                                message,
                            }));
                            break;
                        }
                        Outcome::Interrupted => {
                            a.halt = Some(Halt::Interrupted);
                            break;
                        }
                    }
                    a.checkpoint = Some(key);
                    a.applied += 1;
                    a.last_micros = Some(e.created_micros);
                }
                SubscriptionItem::Checkpoint(p) if self.global => {
                    a.checkpoint = Some(a.checkpoint.map_or(p, |c| c.max(p)));
                }
                SubscriptionItem::CaughtUp(p) => {
                    if self.global {
                        a.checkpoint = Some(a.checkpoint.map_or(p, |c| c.max(p)));
                    }
                    a.caught_up = true;
                }
                SubscriptionItem::Checkpoint(_) => {}
            }
        }
        Ok(a)
    }

    /// Applies one event under the error policy: retries with backoff, then
    /// stops or dead-letters.
    async fn apply_one(&mut self, e: &RecordedEvent, key: u64) -> Result<Outcome> {
        let mut attempt = 0;
        loop {
            let err = match self.driver.handle(e).await {
                Ok(()) => return Ok(Outcome::Applied),
                Err(err) => err,
            };
            let msg = format!(
                "handler failed on {}@{} (position {}, attempt {}): {err}",
                e.stream,
                e.revision,
                e.position,
                attempt + 1
            );
            tracing::warn!(
                projection = %self.name,
                stream = %e.stream,
                revision = e.revision,
                position = e.position,
                attempt = attempt + 1,
                error = %err,
                "handler failed"
            );
            self.status.update(|s| s.last_error = Some(msg));
            if attempt < self.policy.retries {
                attempt += 1;
                self.enter(RunState::Retrying, |_| {});
                if self.sleep_or_shutdown(self.policy.backoff(attempt)).await {
                    return Ok(Outcome::Interrupted);
                }
                continue;
            }
            return match self.policy.on_failure {
                OnFailure::Stop => Ok(Outcome::Stop(err.to_string())),
                OnFailure::DeadLetter => {
                    self.driver.dead_letter(DeadLetter {
                        checkpoint: key,
                        position: e.position,
                        stream: e.stream.clone(),
                        revision: e.revision,
                        event_type: e.event_type.clone(),
                        id: e.id.to_string(),
                        error: err.to_string(),
                    })?;
                    Ok(Outcome::DeadLettered)
                }
            };
        }
    }

    /// Commits `checkpoint` if the batch moved it.
    async fn commit(&mut self, checkpoint: Option<u64>) -> Result<()> {
        if checkpoint != self.checkpoint {
            if let Some(c) = checkpoint {
                self.driver.commit(c).await?;
            }
            self.checkpoint = checkpoint;
        }
        Ok(())
    }

    /// Puts a committed batch into the status and the rate; returns why
    /// the batch stopped early, if it did.
    fn record(&mut self, a: Applied) -> Option<Halt> {
        self.rate.count += a.applied;
        let elapsed = self.rate.since.elapsed();
        let count = self.rate.count;
        let (cp, state) = (self.checkpoint, self.state);
        self.state = self.status.update(|s| {
            s.checkpoint = cp;
            s.events_applied += a.applied;
            s.dead_letters += a.dead;
            if a.last_micros.is_some() {
                s.last_event_micros = a.last_micros;
            }
            if elapsed >= RATE_WINDOW {
                s.events_per_sec = count as f64 / elapsed.as_secs_f64();
            }
            if a.caught_up {
                s.caught_up = true;
            }
            let next = state.after_batch(s.caught_up);
            s.state = next.to_string();
            next
        });
        if elapsed >= RATE_WINDOW {
            self.rate = Rate::new();
        }
        a.halt
    }

    /// Marks the projection reconnecting and waits the backoff before the
    /// next subscription; true if shutdown came meanwhile.
    async fn back_off(&mut self, err: &SubError) -> bool {
        let msg = err.to_string();
        self.failures += 1;
        let delay = self.reconnect.backoff(self.failures);
        tracing::warn!(
            projection = %self.name,
            error = %msg,
            from = ?self.checkpoint,
            ?delay,
            failures = self.failures,
            "subscription failed; resubscribing"
        );
        self.enter(RunState::Reconnecting, |s| {
            s.last_error = Some(format!("subscription: {msg}"));
        });
        self.sleep_or_shutdown(delay).await
    }
}
