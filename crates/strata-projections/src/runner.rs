//! The runner: several projections over one client, one task each, with
//! its own subscription and checkpoint (the loop is in `task.rs`). Owns the
//! public surface — [`RunnerConfig`], [`Runner`] (adding projections),
//! [`RunningRunner`] (status, shutdown) — and starting and joining tasks.
//!
//! Not here: the per-projection loop (`task.rs`), the adapters to the two
//! projection kinds (`driver.rs`), the status file (`status.rs`), or storage
//! formats (`kv.rs`, `checkpoint.rs`).

use crate::checkpoint::FileCheckpointStore;
use crate::driver::{Driver, FnDriver, KvDriver};
use crate::error::{check_name, Error, Result};
use crate::kv::SledReadModel;
use crate::projection::{ErrorPolicy, KvProjection, Projection};
use crate::status::{snapshot, spawn_status_writer, LocalStatus, ProjectionStatus, SharedStatus};
use crate::task::run_projection;
use futures::future::BoxFuture;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use strata_client::Client;
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
    /// First delay before resubscribing after a failure; doubled for each
    /// further consecutive failure, up to `reconnect_max` (the client's
    /// [`RetryPolicy::backoff`](strata_client::RetryPolicy::backoff)).
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

type StartFn = Box<
    dyn FnOnce(Client, RunnerConfig, watch::Receiver<bool>) -> BoxFuture<'static, Result<()>>
        + Send,
>;

struct Entry {
    name: String,
    status: SharedStatus,
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
        let status = SharedStatus::starting(name.clone(), &d.source());
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
        self.push(FnDriver::new(p, checkpoints), policy)
    }

    /// Adds an exactly-once projection into `model`.
    pub fn add_kv<P: KvProjection>(
        &mut self,
        p: P,
        model: SledReadModel,
        policy: ErrorPolicy,
    ) -> Result<()> {
        let durability = self.cfg.durability;
        self.push(KvDriver::new(p, model, durability), policy)
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
            spawn_status_writer(path, self.cfg.status_every, statuses.clone(), rx.clone())
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

/// A started [`Runner`].
#[derive(Debug)]
pub struct RunningRunner {
    client: Client,
    statuses: Vec<SharedStatus>,
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
