//! Appends: hand a transaction to the store's writer and await its durable
//! result, without ever blocking a tokio worker.
//!
//! Back-pressure is asynchronous. The writer's queue holds
//! `WRITER_QUEUE_REQUESTS` requests; the server lets at most
//! [`MAX_IN_FLIGHT_APPEND_REQUESTS`] of its appends be queued or committing
//! at once, counted by a semaphore. An append first awaits a permit (a full
//! queue makes callers wait as tasks, not as blocked threads), then calls
//! `Store::try_submit_write`, which validates on the calling thread and never
//! blocks. The permit travels into the store's callback and is released
//! when the writer answers, so a caller that goes away cannot free a slot
//! its transaction still occupies. Since the server's own appends cannot
//! fill the queue, `try_submit_write` reports `Overloaded` only if something else
//! in the process filled the headroom; that append then fails fast with
//! `UNAVAILABLE` / `overloaded`, which clients retry (docs/DECISIONS.md).
//!
//! The callback runs on the writer thread after the group commit's fsync;
//! it only releases the permit and completes a `oneshot`, both cheap and
//! non-blocking.
//!
//! A caller that goes away mid-append does not cancel it: the transaction
//! still commits, and a retry with the same event ids is deduplicated.
//!
//! Pipelined appends (an `AppendSession`) use the two halves separately:
//! [`Node::enqueue_append`] returns once the append is in the writer's
//! queue, behind everything the session queued before it, and the
//! [`QueuedAppend`] it returns is awaited later for the answer — so one
//! session can have many appends in one group commit, answered in order.
//!
//! Not here: building the transaction from a request (the adapters).

use super::{Error, Node};
use crate::telemetry::{otel, AppendOutcome};
use std::time::Instant;
use strata_storage::{AppendResult, StreamAppend, Write, WRITER_QUEUE_REQUESTS};
use tokio::sync::oneshot;

/// Writer-queue slots left to submitters other than request handlers (the
/// blocking `Store::append` of future in-process writers such as system
/// streams or admin jobs), in requests.
pub const WRITER_QUEUE_HEADROOM_REQUESTS: usize = 1_024;
/// Most appends the server has queued for or committing in the writer at
/// once, in requests (transactions, whatever their size); further appends
/// wait asynchronously for one to finish.
pub const MAX_IN_FLIGHT_APPEND_REQUESTS: usize =
    WRITER_QUEUE_REQUESTS - WRITER_QUEUE_HEADROOM_REQUESTS;

impl Node {
    /// Appends to one stream.
    pub async fn append(&self, append: StreamAppend) -> Result<AppendResult, Error> {
        let r = self
            .submit_counted(vec![append])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("the store returned no result for the append".into()))?;
        tracing::debug!(
            first_position = r.first_position,
            last_position = r.last_position,
            deduplicated = r.deduplicated,
            "appended"
        );
        Ok(r)
    }

    /// Appends to several streams, atomically; results in request order.
    pub async fn append_multi(
        &self,
        appends: Vec<StreamAppend>,
    ) -> Result<Vec<AppendResult>, Error> {
        let n = appends.len();
        let results = self.submit_counted(appends).await?;
        if results.len() != n {
            return Err(Error::Internal(format!(
                "the store returned {} results for {n} streams",
                results.len()
            )));
        }
        tracing::debug!(streams = n, "appended transaction");
        Ok(results)
    }

    /// Waits for room in the writer's queue, submits a transaction, waits
    /// for the writer's answer, and counts it in the metrics (outcome,
    /// events, bytes, latency from here to the answer).
    async fn submit_counted(&self, appends: Vec<StreamAppend>) -> Result<Vec<AppendResult>, Error> {
        self.enqueue_counted(appends).await.wait().await
    }

    /// Queues one append to one stream and returns as soon as the writer's
    /// queue holds it (after waiting for room, as every append does):
    /// appends queued one after another by one task are committed in that
    /// order. Await [`QueuedAppend::result`] for the durable result;
    /// counted in the metrics like [`Node::append`].
    pub async fn enqueue_append(&self, append: StreamAppend) -> QueuedAppend {
        self.enqueue_counted(vec![append]).await
    }

    async fn enqueue_counted(&self, appends: Vec<StreamAppend>) -> QueuedAppend {
        let started = Instant::now();
        let (events, bytes) = appends
            .iter()
            .flat_map(|a| &a.events)
            .fold((0u64, 0u64), |(n, b), e| {
                (n + 1, b + (e.data.len() + e.metadata.len()) as u64)
            });
        let queued = self.enqueue_write(Write::Append(appends)).await;
        QueuedAppend {
            queued,
            started,
            events,
            bytes,
            metrics: self.metrics.clone(),
        }
    }

    /// Like [`Node::submit_write`], for the server's own system streams
    /// (consumer groups' records).
    pub(super) async fn submit_system(&self, write: Write) -> Result<Vec<AppendResult>, Error> {
        let permit = self
            .appends
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Storage(strata_storage::Error::Closed))?;
        let (tx, rx) = oneshot::channel();
        self.store.try_submit_system(write, move |r| {
            drop(permit);
            let _ = tx.send(r);
        });
        match rx.await {
            Ok(r) => r.map_err(Error::Storage),
            Err(_) => Err(Error::Storage(strata_storage::Error::Closed)),
        }
    }

    /// Waits for room in the writer's queue, submits any change (appends,
    /// metadata, deletes: each one writer request) and waits for the answer.
    pub(super) async fn submit_write(&self, write: Write) -> Result<Vec<AppendResult>, Error> {
        self.enqueue_write(write).await.wait().await
    }

    /// Waits for room in the writer's queue and submits `write`; returns
    /// once it is queued (or refused: validation runs here).
    async fn enqueue_write(&self, write: Write) -> Queued {
        let permit = match self.appends.clone().acquire_owned().await {
            Ok(p) => p,
            // The semaphore is never closed.
            Err(_) => return Queued::Refused(Error::Storage(strata_storage::Error::Closed)),
        };
        let (tx, rx) = oneshot::channel();
        self.store.try_submit_write_timed(write, move |r, timing| {
            drop(permit);
            // The receiver is gone only if the caller was dropped; nothing to do.
            let _ = tx.send((r, timing));
        });
        Queued::Waiting(rx)
    }
}

type WriterAnswer = (
    strata_storage::Result<Vec<AppendResult>>,
    Option<strata_storage::CommitTiming>,
);

/// A write in the writer's queue (or refused before it got there).
#[derive(Debug)]
enum Queued {
    Waiting(oneshot::Receiver<WriterAnswer>),
    Refused(Error),
}

impl Queued {
    async fn wait(self) -> Result<Vec<AppendResult>, Error> {
        let rx = match self {
            Queued::Waiting(rx) => rx,
            Queued::Refused(e) => return Err(e),
        };
        match rx.await {
            Ok((r, timing)) => {
                if let Some(t) = &timing {
                    otel::record_commit(t);
                }
                r.map_err(Error::Storage)
            }
            // The store dropped the callback without calling it: it is closing.
            Err(_) => Err(Error::Storage(strata_storage::Error::Closed)),
        }
    }
}

/// An append queued by [`Node::enqueue_append`]; its answer comes from
/// [`QueuedAppend::result`]. Dropping it does not cancel the append.
#[derive(Debug)]
pub struct QueuedAppend {
    queued: Queued,
    started: Instant,
    events: u64,
    bytes: u64,
    metrics: std::sync::Arc<crate::telemetry::Metrics>,
}

impl QueuedAppend {
    /// Waits for the writer's answer to a single-stream append.
    pub async fn result(self) -> Result<AppendResult, Error> {
        self.wait()
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("the store returned no result for the append".into()))
    }

    /// Waits for the answer and counts it in the metrics.
    async fn wait(self) -> Result<Vec<AppendResult>, Error> {
        let r = self.queued.wait().await;
        let outcome = match &r {
            Ok(results) if results.iter().all(|r| r.deduplicated) => AppendOutcome::Duplicate,
            Ok(_) => AppendOutcome::Ok,
            Err(Error::Storage(e)) => AppendOutcome::of_error(e),
            Err(_) => AppendOutcome::Error,
        };
        self.metrics
            .append(outcome, self.events, self.bytes, self.started.elapsed());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use strata_storage::{ExpectedRevision, NewEvent, Options, Store};
    use tokio::sync::watch;

    fn one_event(stream: &str) -> StreamAppend {
        StreamAppend {
            stream: stream.into(),
            expected: ExpectedRevision::Any,
            events: vec![NewEvent {
                id: uuid::Uuid::new_v4(),
                event_type: "T".into(),
                content_type: "application/octet-stream".into(),
                data: vec![1],
                metadata: vec![],
            }],
        }
    }

    #[tokio::test]
    async fn a_full_queue_makes_appends_wait_not_fail() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Options::default()).unwrap();
        let (_tx, shutdown) = watch::channel(false);
        let node = Arc::new(Node::new(store.clone(), shutdown, 1, Default::default()));
        // Every slot taken, as if the writer were busy with other appends.
        let held = node
            .appends
            .clone()
            .acquire_many_owned(MAX_IN_FLIGHT_APPEND_REQUESTS as u32)
            .await
            .unwrap();
        let n = node.clone();
        let mut waiting = tokio::spawn(async move { n.append(one_event("s")).await });
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut waiting)
                .await
                .is_err(),
            "the append must wait for room"
        );
        drop(held);
        let r = waiting.await.unwrap().unwrap();
        assert_eq!(r.first_revision, 0);
        // Every permit is back once the writer has answered.
        assert_eq!(
            node.appends.available_permits(),
            MAX_IN_FLIGHT_APPEND_REQUESTS
        );
        store.close().unwrap();
    }
}
