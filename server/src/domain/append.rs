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
        let started = Instant::now();
        let (events, bytes) = appends
            .iter()
            .flat_map(|a| &a.events)
            .fold((0u64, 0u64), |(n, b), e| {
                (n + 1, b + (e.data.len() + e.metadata.len()) as u64)
            });
        let r = self.submit_write(Write::Append(appends)).await;
        let outcome = match &r {
            Ok(results) if results.iter().all(|r| r.deduplicated) => AppendOutcome::Duplicate,
            Ok(_) => AppendOutcome::Ok,
            Err(Error::Storage(e)) => AppendOutcome::of_error(e),
            Err(_) => AppendOutcome::Error,
        };
        self.metrics
            .append(outcome, events, bytes, started.elapsed());
        r
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
        let permit = self
            .appends
            .clone()
            .acquire_owned()
            .await
            // The semaphore is never closed.
            .map_err(|_| Error::Storage(strata_storage::Error::Closed))?;
        let (tx, rx) = oneshot::channel();
        self.store.try_submit_write_timed(write, move |r, timing| {
            drop(permit);
            // The receiver is gone only if the caller was dropped; nothing to do.
            let _ = tx.send((r, timing));
        });
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
