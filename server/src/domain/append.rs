//! Appends: hand a transaction to the store's writer and await its durable
//! result.
//!
//! The store's callback (`Store::submit`) runs on the writer thread after
//! the group commit's fsync; it only completes a `oneshot`, which is cheap
//! and never blocks. `submit` itself validates on the calling thread and
//! blocks only if the writer's request queue is full (back-pressure).
//!
//! A caller that goes away mid-append does not cancel it: the transaction
//! still commits, and a retry with the same event ids is deduplicated.
//!
//! Not here: building the transaction from a request (the adapters).

use super::{Error, Node};
use strata_storage::{AppendResult, StreamAppend};
use tokio::sync::oneshot;

impl Node {
    /// Appends to one stream.
    pub async fn append(&self, append: StreamAppend) -> Result<AppendResult, Error> {
        let r = self
            .submit(vec![append])
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
        let results = self.submit(appends).await?;
        if results.len() != n {
            return Err(Error::Internal(format!(
                "the store returned {} results for {n} streams",
                results.len()
            )));
        }
        tracing::debug!(streams = n, "appended transaction");
        Ok(results)
    }

    /// Submits a transaction and waits for the writer's answer.
    async fn submit(&self, appends: Vec<StreamAppend>) -> Result<Vec<AppendResult>, Error> {
        let (tx, rx) = oneshot::channel();
        self.store.submit(appends, move |r| {
            // The receiver is gone only if the caller was dropped; nothing to do.
            let _ = tx.send(r);
        });
        match rx.await {
            Ok(r) => r.map_err(Error::Storage),
            // The store dropped the callback without calling it: it is closing.
            Err(_) => Err(Error::Storage(strata_storage::Error::Closed)),
        }
    }
}
