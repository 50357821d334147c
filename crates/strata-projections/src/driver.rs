//! The adapters between the runner and the two projection kinds: a
//! [`Driver`] gives the runner one way to load a checkpoint, apply an event,
//! record a dead letter and commit, whether the projection is a
//! [`KvProjection`] (writes and checkpoint in one sled transaction) or a
//! plain [`Projection`] (flush its effects, then write a file checkpoint).
//!
//! Not here: scheduling, batching or error policy (`task.rs`), or the storage
//! formats (`kv.rs`, `checkpoint.rs`).
//!
//! Invariant: `commit` makes the checkpoint durable no earlier than the
//! effects it covers — in the same transaction for sled models, after the
//! handler's `flush` returned for the others.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Instant;

use strata_client::RecordedEvent;

use crate::checkpoint::FileCheckpointStore;
use crate::error::{Error, HandlerError, Result};
use crate::kv::{KvTxn, SledReadModel};
use crate::projection::{DeadLetter, KvProjection, Projection};
use crate::runner::Durability;
use crate::source::Source;

/// How the runner reaches a projection's handler and checkpoint store.
pub(crate) trait Driver: Send + 'static {
    fn name(&self) -> String;
    fn source(&self) -> Source;
    fn load_checkpoint(&mut self) -> Result<Option<u64>>;
    /// Applies one event; a failure leaves no trace of it in what `commit`
    /// will store.
    fn handle<'a>(
        &'a mut self,
        e: &'a RecordedEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;
    /// Records an event the policy skipped; durable no later than the
    /// checkpoint that passes it.
    fn dead_letter(&mut self, dl: DeadLetter) -> Result<()>;
    /// Stores `checkpoint` together with (or after) everything applied so far.
    fn commit(&mut self, checkpoint: u64) -> impl Future<Output = Result<()>> + Send + '_;
    /// Makes everything committed durable before the task ends.
    fn close(&mut self) -> impl Future<Output = Result<()>> + Send + '_;
}

/// A [`KvProjection`]: a page of events' writes, their dead letters and the
/// checkpoint commit in one sled transaction; flushed per [`Durability`].
pub(crate) struct KvDriver<P> {
    p: P,
    model: SledReadModel,
    /// Writes of the events applied since the last commit.
    batch: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    dead: Vec<DeadLetter>,
    durability: Durability,
    last_flush: Instant,
}

impl<P> KvDriver<P> {
    pub(crate) fn new(p: P, model: SledReadModel, durability: Durability) -> Self {
        Self {
            p,
            model,
            batch: BTreeMap::new(),
            dead: Vec::new(),
            durability,
            last_flush: Instant::now(),
        }
    }
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
    async fn close(&mut self) -> Result<()> {
        self.model.flush().await
    }
}

/// A plain [`Projection`] with a file checkpoint written after its `flush`.
pub(crate) struct FnDriver<P> {
    p: P,
    store: FileCheckpointStore,
}

impl<P> FnDriver<P> {
    pub(crate) fn new(p: P, store: FileCheckpointStore) -> Self {
        Self { p, store }
    }
}

impl<P: Projection> FnDriver<P> {
    async fn flush(&mut self) -> Result<()> {
        self.p.flush().await.map_err(|e| Error::Flush {
            projection: self.p.name().to_owned(),
            message: e.to_string(),
        })
    }
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
        self.flush().await?;
        self.store.save(checkpoint)
    }
    async fn close(&mut self) -> Result<()> {
        self.flush().await
    }
}
