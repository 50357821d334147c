//! `Append` and `AppendMulti`: hand a transaction to the store's writer and
//! await its durable result without blocking a tokio worker.
//!
//! The store's callback (`Store::submit`) runs on the writer thread after
//! the group commit's fsync; it only completes a `oneshot`, which is cheap
//! and never blocks. `submit` itself validates on the calling thread and
//! blocks only if the writer's request queue is full (back-pressure).
//!
//! Not here: request conversion (`convert`) and error mapping (`status`).
//! A client that goes away mid-append does not cancel it: the transaction
//! still commits, and a retry with the same event ids is deduplicated.

use super::Shared;
use crate::{convert, status};
use strata_proto::v1 as pb;
use strata_storage::{AppendResult, Error, StreamAppend};
use tokio::sync::oneshot;
use tonic::Status;

/// Submits a transaction and waits for the writer's answer.
async fn submit(shared: &Shared, appends: Vec<StreamAppend>) -> Result<Vec<AppendResult>, Status> {
    let (tx, rx) = oneshot::channel();
    shared.store.submit(appends, move |r| {
        // The receiver is gone only if the handler was dropped; nothing to do.
        let _ = tx.send(r);
    });
    match rx.await {
        Ok(r) => r.map_err(status::storage),
        // The store dropped the callback without calling it: it is closing.
        Err(_) => Err(status::from_storage(&Error::Closed)),
    }
}

/// One stream.
pub(super) async fn append(
    shared: &Shared,
    req: pb::AppendRequest,
) -> Result<pb::AppendResponse, Status> {
    let append = convert::stream_append(req)?;
    let results = submit(shared, vec![append]).await?;
    let r = results
        .first()
        .ok_or_else(|| status::internal("the store returned no result for the append"))?;
    tracing::debug!(
        first_position = r.first_position,
        last_position = r.last_position,
        deduplicated = r.deduplicated,
        "appended"
    );
    Ok(convert::append_response(r))
}

/// Several streams, atomically; results in request order.
pub(super) async fn append_multi(
    shared: &Shared,
    req: pb::AppendMultiRequest,
) -> Result<pb::AppendMultiResponse, Status> {
    let appends = req
        .appends
        .into_iter()
        .map(convert::stream_append)
        .collect::<Result<Vec<_>, _>>()?;
    let n = appends.len();
    let results = submit(shared, appends).await?;
    if results.len() != n {
        return Err(status::internal(format!(
            "the store returned {} results for {n} streams",
            results.len()
        )));
    }
    tracing::debug!(streams = n, "appended transaction");
    Ok(pb::AppendMultiResponse {
        results: results.iter().map(convert::append_response).collect(),
    })
}
