//! The runner: one task per projection, each with its own subscription and
//! checkpoint. It subscribes after the stored checkpoint, applies events in
//! order in batches, commits the checkpoint (with the model, for
//! [`KvProjection`]s), applies the [`ErrorPolicy`], and resubscribes from the
//! checkpoint with backoff when the connection or the server goes away.
//! Owns scheduling and status; not storage formats (see `kv`, `checkpoint`).

use crate::checkpoint::FileCheckpointStore;
use crate::error::{check_name, Error, HandlerError, Result};
use crate::kv::{KvTxn, SledReadModel};
use crate::projection::{DeadLetter, ErrorPolicy, KvProjection, OnFailure, Projection};
use crate::source::Source;
use crate::status::{describe, LocalStatus, ProjectionStatus};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_client::{Client, RecordedEvent, SubscriptionItem};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// When committed sled transactions are flushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `flush` after every commit: a checkpoint is on disk before the next
    /// batch starts.
    EveryCommit,
    /// `flush` when this long has passed since the last one (and at
    /// shutdown). A crash loses at most this window of commits — model and
    /// checkpoint together — which are then replayed: still exactly-once.
    Interval(Duration),
}

/// Runner settings.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Most events applied per commit (one transaction / checkpoint write).
    pub batch_size: usize,
    /// Flush cadence of the sled read models.
    pub durability: Durability,
    /// Server checkpoint interval for filtered `$all` sources (0: default).
    pub checkpoint_interval: u32,
    /// First delay before resubscribing after a failure.
    pub reconnect_initial: Duration,
    /// Longest delay between resubscriptions.
    pub reconnect_max: Duration,
    /// Where to write every projection's [`LocalStatus`] (JSON array),
    /// replaced every `status_every`.
    pub status_file: Option<PathBuf>,
    /// Status file cadence.
    pub status_every: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            batch_size: 2048,
            durability: Durability::Interval(Duration::from_millis(200)),
            checkpoint_interval: 0,
            reconnect_initial: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            status_file: None,
            status_every: Duration::from_millis(250),
        }
    }
}

/// How the runner reaches a projection's handler and checkpoint store.
trait Driver: Send + 'static {
    fn name(&self) -> String;
    fn source(&self) -> Source;
    fn load_checkpoint(&mut self) -> Result<Option<u64>>;
    fn handle<'a>(
        &'a mut self,
        e: &'a RecordedEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;
    fn dead_letter(&mut self, dl: DeadLetter) -> Result<()>;
    fn commit(&mut self, checkpoint: u64) -> impl Future<Output = Result<()>> + Send + '_;
    fn close(&mut self) -> impl Future<Output = Result<()>> + Send + '_;
}

struct KvDriver<P> {
    p: P,
    model: SledReadModel,
    batch: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    dead: Vec<DeadLetter>,
    durability: Durability,
    last_flush: Instant,
}

impl<P: KvProjection> Driver for KvDriver<P> {
    fn name(&self) -> String {
        self.p.name().to_owned()
    }
    fn source(&self) -> Source {
        self.p.source()
    }
    fn load_checkpoint(&mut self) -> Result<Option<u64>> {
        self.model.checkpoint()
    }
    async fn handle(&mut self, e: &RecordedEvent) -> Result<(), HandlerError> {
        let mut txn = KvTxn::new(self.model.data_tree(), &mut self.batch);
        self.p.apply(e, &mut txn).await?;
        txn.keep();
        Ok(())
    }
    fn dead_letter(&mut self, dl: DeadLetter) -> Result<()> {
        self.dead.push(dl);
        Ok(())
    }
    async fn commit(&mut self, checkpoint: u64) -> Result<()> {
        {
            self.model.commit(&self.batch, &self.dead, checkpoint)?;
            self.batch.clear();
            self.dead.clear();
            let due = match self.durability {
                Durability::EveryCommit => true,
                Durability::Interval(d) => self.last_flush.elapsed() >= d,
            };
            if due {
                self.model.flush().await?;
                self.last_flush = Instant::now();
            }
            Ok(())
        }
    }
    async fn close(&mut self) -> Result<()> {
        self.model.flush().await
    }
}

struct FnDriver<P> {
    p: P,
    store: FileCheckpointStore,
}

impl<P: Projection> Driver for FnDriver<P> {
    fn name(&self) -> String {
        self.p.name().to_owned()
    }
    fn source(&self) -> Source {
        self.p.source()
    }
    fn load_checkpoint(&mut self) -> Result<Option<u64>> {
        self.store.load()
    }
    fn handle<'a>(
        &'a mut self,
        e: &'a RecordedEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        self.p.handle(e)
    }
    fn dead_letter(&mut self, dl: DeadLetter) -> Result<()> {
        // Durable before the checkpoint passes the event.
        self.store.add_dead_letter(&dl)
    }
    async fn commit(&mut self, checkpoint: u64) -> Result<()> {
        {
            self.p.flush().await.map_err(|e| Error::Flush {
                projection: self.p.name().to_owned(),
                message: e.to_string(),
            })?;
            self.store.save(checkpoint)
        }
    }
    async fn close(&mut self) -> Result<()> {
        {
            self.p.flush().await.map_err(|e| Error::Flush {
                projection: self.p.name().to_owned(),
                message: e.to_string(),
            })
        }
    }
}

type StartFn = Box<
    dyn FnOnce(Client, RunnerConfig, watch::Receiver<bool>) -> BoxFuture<'static, Result<()>>
        + Send,
>;

struct Entry {
    name: String,
    status: Arc<Mutex<LocalStatus>>,
    start: StartFn,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

/// Several projections over one client; [`Runner::start`] runs them.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use strata_projections::{demo, ErrorPolicy, ModelDir, Runner, RunnerConfig};
/// let client = strata_client::Client::connect("http://127.0.0.1:2113").await?;
/// let (_, model) = ModelDir::new("read-models", "customer-totals")?.open_current()?;
/// let mut runner = Runner::new(client, RunnerConfig::default());
/// runner.add_kv(demo::CustomerTotals, model, ErrorPolicy::default())?;
/// let running = runner.start();
/// for s in running.status().await? { println!("{}", s.line()); }
/// running.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Runner {
    client: Client,
    cfg: RunnerConfig,
    names: HashSet<String>,
    entries: Vec<Entry>,
}

impl Runner {
    /// A runner with no projections yet.
    pub fn new(client: Client, cfg: RunnerConfig) -> Self {
        Self {
            client,
            cfg,
            names: HashSet::new(),
            entries: Vec::new(),
        }
    }

    fn push<D: Driver>(&mut self, d: D, policy: ErrorPolicy) -> Result<()> {
        let name = d.name();
        check_name(&name)?;
        if !self.names.insert(name.clone()) {
            return Err(Error::DuplicateName(name));
        }
        let (source, stream) = describe(&d.source());
        let status = Arc::new(Mutex::new(LocalStatus {
            name: name.clone(),
            source,
            stream,
            state: "starting".into(),
            checkpoint: None,
            last_event_micros: None,
            events_applied: 0,
            events_per_sec: 0.0,
            dead_letters: 0,
            caught_up: false,
            last_error: None,
        }));
        let st = status.clone();
        self.entries.push(Entry {
            name,
            status,
            start: Box::new(move |client, cfg, rx| {
                Box::pin(run_projection(client, cfg, policy, d, st, rx))
            }),
        });
        Ok(())
    }

    /// Adds an at-least-once projection checkpointed in `checkpoints`.
    pub fn add<P: Projection>(
        &mut self,
        p: P,
        checkpoints: FileCheckpointStore,
        policy: ErrorPolicy,
    ) -> Result<()> {
        self.push(
            FnDriver {
                p,
                store: checkpoints,
            },
            policy,
        )
    }

    /// Adds an exactly-once projection into `model`.
    pub fn add_kv<P: KvProjection>(
        &mut self,
        p: P,
        model: SledReadModel,
        policy: ErrorPolicy,
    ) -> Result<()> {
        let durability = self.cfg.durability;
        self.push(
            KvDriver {
                p,
                model,
                batch: BTreeMap::new(),
                dead: Vec::new(),
                durability,
                last_flush: Instant::now(),
            },
            policy,
        )
    }

    /// Starts one task per projection (inside a tokio runtime).
    pub fn start(self) -> RunningRunner {
        let (tx, rx) = watch::channel(false);
        let statuses: Vec<_> = self.entries.iter().map(|e| e.status.clone()).collect();
        let tasks = self
            .entries
            .into_iter()
            .map(|e| {
                let fut = (e.start)(self.client.clone(), self.cfg.clone(), rx.clone());
                (e.name, tokio::spawn(fut))
            })
            .collect();
        let status_task = self.cfg.status_file.clone().map(|path| {
            let statuses = statuses.clone();
            let every = self.cfg.status_every;
            let mut rx = rx.clone();
            tokio::spawn(async move {
                loop {
                    write_status_file(&path, &statuses);
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = rx.changed() => { write_status_file(&path, &statuses); return; }
                    }
                }
            })
        });
        RunningRunner {
            client: self.client,
            statuses,
            tasks,
            shutdown: tx,
            status_task,
        }
    }
}

fn snapshot(statuses: &[Arc<Mutex<LocalStatus>>]) -> Vec<LocalStatus> {
    statuses.iter().map(|s| s.lock().unwrap().clone()).collect()
}

fn write_status_file(path: &std::path::Path, statuses: &[Arc<Mutex<LocalStatus>>]) {
    let Ok(json) = serde_json::to_vec_pretty(&snapshot(statuses)) else {
        return;
    };
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, json).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// Reads a status file written by a runner ([`RunnerConfig::status_file`]).
pub fn read_status_file(path: &std::path::Path) -> Result<Vec<LocalStatus>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        detail: e.to_string(),
    })
}

/// A started [`Runner`].
#[derive(Debug)]
pub struct RunningRunner {
    client: Client,
    statuses: Vec<Arc<Mutex<LocalStatus>>>,
    tasks: Vec<(String, JoinHandle<Result<()>>)>,
    shutdown: watch::Sender<bool>,
    status_task: Option<JoinHandle<()>>,
}

impl RunningRunner {
    /// The runner's own view of each projection (no server call).
    pub fn local_status(&self) -> Vec<LocalStatus> {
        snapshot(&self.statuses)
    }

    /// Each projection's status with log end and lag.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>> {
        let mut out = Vec::new();
        for l in self.local_status() {
            out.push(ProjectionStatus::compute(&self.client, l).await?);
        }
        Ok(out)
    }

    /// Whether every projection task has ended (stopped by an error).
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(|(_, t)| t.is_finished())
    }

    /// Asks every projection to commit, flush and stop; waits for them.
    /// Returns the first projection error, if any.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Waits until every projection has ended.
    pub async fn wait(self) -> Result<()> {
        let mut first = Ok(());
        for (name, t) in self.tasks {
            let r = match t.await {
                Ok(r) => r,
                Err(e) => Err(Error::Task(name, e.to_string())),
            };
            if first.is_ok() {
                first = r;
            }
        }
        let _ = self.shutdown.send(true);
        if let Some(t) = self.status_task {
            let _ = t.await;
        }
        first
    }
}

enum Outcome {
    Applied,
    DeadLettered,
    Stop(String),
    Interrupted,
}

struct Rate {
    since: Instant,
    count: u64,
}

fn set<F: FnOnce(&mut LocalStatus)>(s: &Mutex<LocalStatus>, f: F) {
    f(&mut s.lock().unwrap());
}

async fn sleep_or_shutdown(d: Duration, rx: &mut watch::Receiver<bool>) -> bool {
    if *rx.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *rx.borrow(),
        _ = rx.changed() => true,
    }
}

async fn apply_one<D: Driver>(
    d: &mut D,
    e: &RecordedEvent,
    key: u64,
    policy: &ErrorPolicy,
    status: &Mutex<LocalStatus>,
    rx: &mut watch::Receiver<bool>,
) -> Result<Outcome> {
    let mut attempt = 0;
    loop {
        let err = match d.handle(e).await {
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
        tracing::warn!(projection = %d.name(), "{msg}");
        set(status, |s| s.last_error = Some(msg.clone()));
        if attempt < policy.retries {
            attempt += 1;
            set(status, |s| s.state = "retrying".into());
            if sleep_or_shutdown(policy.backoff(attempt), rx).await {
                return Ok(Outcome::Interrupted);
            }
            continue;
        }
        return match policy.on_failure {
            OnFailure::Stop => Ok(Outcome::Stop(err.to_string())),
            OnFailure::DeadLetter => {
                d.dead_letter(DeadLetter {
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

async fn run_projection<D: Driver>(
    client: Client,
    cfg: RunnerConfig,
    policy: ErrorPolicy,
    mut d: D,
    status: Arc<Mutex<LocalStatus>>,
    mut rx: watch::Receiver<bool>,
) -> Result<()> {
    let r = run_inner(&client, &cfg, &policy, &mut d, &status, &mut rx).await;
    let closed = d.close().await;
    let r = r.and(closed);
    set(&status, |s| {
        s.state = "stopped".into();
        if let Err(e) = &r {
            s.last_error = Some(e.to_string());
        }
    });
    r
}

async fn run_inner<D: Driver>(
    client: &Client,
    cfg: &RunnerConfig,
    policy: &ErrorPolicy,
    d: &mut D,
    status: &Mutex<LocalStatus>,
    rx: &mut watch::Receiver<bool>,
) -> Result<()> {
    let name = d.name();
    let source = d.source();
    let global = source.is_global();
    let mut cp = d.load_checkpoint()?;
    set(status, |s| s.checkpoint = cp);
    let mut failures = 0u32;
    let mut rate = Rate {
        since: Instant::now(),
        count: 0,
    };
    let batch_size = cfg.batch_size.max(1);
    'subscribe: loop {
        if *rx.borrow() {
            return Ok(());
        }
        let mut sub = source.subscribe(client, cp, cfg.checkpoint_interval);
        set(status, |s| {
            s.state = if s.caught_up { "live" } else { "catching-up" }.into()
        });
        loop {
            let first = tokio::select! {
                biased;
                _ = rx.changed() => return Ok(()),
                it = sub.next() => it,
                // Idle: let events/s decay instead of freezing at the last rate.
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    let elapsed = rate.since.elapsed();
                    set(status, |s| s.events_per_sec = rate.count as f64 / elapsed.as_secs_f64());
                    rate = Rate { since: Instant::now(), count: 0 };
                    continue;
                }
            };
            let mut pending_err = None;
            let mut items = Vec::new();
            match first {
                Some(Ok(i)) => items.push(i),
                Some(Err(e)) => pending_err = Some(SubError::Client(e)),
                None => pending_err = Some(SubError::Ended),
            }
            let mut n = items.len();
            while pending_err.is_none() && n < batch_size {
                match sub.next().now_or_never() {
                    Some(Some(Ok(i))) => {
                        n += usize::from(matches!(i, SubscriptionItem::Event(_)));
                        items.push(i);
                    }
                    Some(Some(Err(e))) => pending_err = Some(SubError::Client(e)),
                    Some(None) => pending_err = Some(SubError::Ended),
                    None => break,
                }
            }
            let mut new_cp = cp;
            let mut applied = 0u64;
            let mut dead = 0u64;
            let mut last_micros = None;
            let mut caught_up = false;
            let mut stop = None;
            let mut interrupted = false;
            for item in items {
                match item {
                    SubscriptionItem::Event(e) => {
                        let key = source.key_of(&e);
                        if new_cp.is_some_and(|c| key <= c) {
                            continue; // already applied (defensive)
                        }
                        match apply_one(d, &e, key, policy, status, rx).await? {
                            Outcome::Applied => {}
                            Outcome::DeadLettered => dead += 1,
                            Outcome::Stop(message) => {
                                stop = Some(Error::HandlerStopped {
                                    projection: name.clone(),
                                    position: key,
                                    stream: e.stream.clone(),
                                    message,
                                });
                                break;
                            }
                            Outcome::Interrupted => {
                                interrupted = true;
                                break;
                            }
                        }
                        new_cp = Some(key);
                        applied += 1;
                        last_micros = Some(e.created_micros);
                    }
                    SubscriptionItem::Checkpoint(p) if global => {
                        new_cp = Some(new_cp.map_or(p, |c| c.max(p)));
                    }
                    SubscriptionItem::CaughtUp(p) => {
                        if global {
                            new_cp = Some(new_cp.map_or(p, |c| c.max(p)));
                        }
                        caught_up = true;
                    }
                    SubscriptionItem::Checkpoint(_) => {}
                }
            }
            if new_cp != cp {
                if let Some(c) = new_cp {
                    d.commit(c).await?;
                }
                cp = new_cp;
            }
            rate.count += applied;
            let elapsed = rate.since.elapsed();
            set(status, |s| {
                s.checkpoint = cp;
                s.events_applied += applied;
                s.dead_letters += dead;
                if last_micros.is_some() {
                    s.last_event_micros = last_micros;
                }
                if elapsed >= Duration::from_millis(500) {
                    s.events_per_sec = rate.count as f64 / elapsed.as_secs_f64();
                }
                if caught_up {
                    s.caught_up = true;
                }
                if s.state != "live" && s.caught_up {
                    s.state = "live".into();
                } else if s.state == "retrying" || s.state == "reconnecting" {
                    s.state = "catching-up".into();
                }
            });
            if elapsed >= Duration::from_millis(500) {
                rate = Rate {
                    since: Instant::now(),
                    count: 0,
                };
            }
            if let Some(e) = stop {
                return Err(e);
            }
            if interrupted {
                return Ok(());
            }
            match pending_err {
                None => failures = 0,
                // A request the server will never accept (bad stream name,
                // reserved name): retrying cannot help.
                Some(SubError::Client(
                    e @ (strata_client::Error::InvalidArgument { .. }
                    | strata_client::Error::PermissionDenied { .. }),
                )) => return Err(Error::Client(e)),
                Some(err) => {
                    let msg = err.to_string();
                    failures += 1;
                    let delay = backoff(cfg, failures);
                    tracing::warn!(projection = %name, "subscription failed ({msg}); resubscribing from {cp:?} in {delay:?}");
                    set(status, |s| {
                        s.state = "reconnecting".into();
                        s.last_error = Some(format!("subscription: {msg}"));
                    });
                    if sleep_or_shutdown(delay, rx).await {
                        return Ok(());
                    }
                    continue 'subscribe;
                }
            }
        }
    }
}

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

fn backoff(cfg: &RunnerConfig, n: u32) -> Duration {
    let f = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    cfg.reconnect_initial
        .checked_mul(f)
        .unwrap_or(cfg.reconnect_max)
        .min(cfg.reconnect_max)
}
