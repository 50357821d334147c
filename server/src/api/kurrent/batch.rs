//! `Streams.BatchAppend`: many appends on one bidirectional call. A batch
//! is the messages sharing a correlation id — options with the first, the
//! last marked `is_final` — and is answered once, by correlation id, with
//! success or a `google.rpc.Status` error (`errors::batch_status`).
//!
//! Appends are queued into the writer in the order their batches complete
//! (`Node::enqueue_append`, so batches of one call to one stream commit in
//! order) and answered as they commit, so a client that multiplexes its
//! appends over one call still shares group commits. Bounds per call:
//! [`MAX_BATCHES_IN_FLIGHT`] appends awaiting their answer, and
//! [`MAX_PENDING_BATCH_BYTES`] of unfinished batches; a batch over
//! Strata's append limits is answered with `MaximumAppendSizeExceeded`.
//! `deadline` is not enforced (appends are not cancelled once queued).
//!
//! Not here: the append rules (`append::write`, the domain).

use super::append::{check_write, event_bytes, within_limits, write};
use super::convert::{self, Written};
use super::errors;
use crate::domain::security::Caller;
use crate::domain::{Error, Node};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::collections::hash_map::{Entry, HashMap};
use std::sync::Arc;
use strata_proto::kurrent::event_store::client as shared;
use strata_proto::kurrent::google::rpc;
use strata_proto::kurrent::streams as pb;
use strata_storage::{ExpectedRevision, NewEvent, StreamAppend};
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

/// Most batches of one call queued or committing at once.
pub const MAX_BATCHES_IN_FLIGHT: usize = 256;
/// Most bytes of unfinished batches one call may hold.
pub const MAX_PENDING_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Answers buffered for the client, in messages.
const ANSWER_BUFFER_MESSAGES: usize = 64;

/// The response stream of `BatchAppend`.
pub type BatchStream = BoxStream<'static, Result<pb::BatchAppendResp, Status>>;

type Tx = mpsc::Sender<Result<pb::BatchAppendResp, Status>>;

/// A batch whose final message has not arrived.
#[derive(Debug)]
struct Pending {
    correlation: Option<shared::Uuid>,
    stream: String,
    expected: ExpectedRevision,
    events: Vec<NewEvent>,
    bytes: usize,
    /// Over a limit: answered with this when final, its events dropped.
    refused: Option<rpc::Status>,
}

/// Serves one `BatchAppend` call for `caller`.
pub fn serve(
    node: Arc<Node>,
    caller: Caller,
    requests: Streaming<pb::BatchAppendReq>,
) -> BatchStream {
    let (tx, rx) = mpsc::channel(ANSWER_BUFFER_MESSAGES);
    tokio::spawn(run(node, caller, requests, tx));
    ReceiverStream::new(rx).boxed()
}

async fn run(node: Arc<Node>, caller: Caller, mut requests: Streaming<pb::BatchAppendReq>, tx: Tx) {
    let in_flight = Arc::new(Semaphore::new(MAX_BATCHES_IN_FLIGHT));
    let mut pending: HashMap<uuid::Uuid, Pending> = HashMap::new();
    let mut pending_bytes = 0usize;
    while let Some(r) = requests.next().await {
        let r = match r {
            Ok(r) => r,
            Err(s) => {
                let _ = tx.send(Err(s)).await;
                return;
            }
        };
        let key = match convert::uuid(r.correlation_id.clone()) {
            Ok(k) => k,
            Err(s) => {
                let _ = tx.send(Err(s)).await;
                return;
            }
        };
        if let Entry::Vacant(slot) = pending.entry(key) {
            let Some(o) = r.options else {
                let answer = refusal(r.correlation_id, "", "a batch starts with its options");
                if tx.send(Ok(answer)).await.is_err() {
                    return;
                }
                continue;
            };
            let stream = match convert::stream_name(o.stream_identifier) {
                Ok(s) => s,
                Err(s) => {
                    let answer = refusal(r.correlation_id, "", s.message());
                    if tx.send(Ok(answer)).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            slot.insert(Pending {
                correlation: r.correlation_id.clone(),
                expected: convert::batch_expected(o.expected_stream_position),
                stream,
                events: Vec::new(),
                bytes: 0,
                refused: None,
            });
        }
        let Some(p) = pending.get_mut(&key) else {
            continue;
        };
        for m in r.proposed_messages {
            if p.refused.is_some() {
                break;
            }
            match convert::new_event(m.id, m.metadata, m.custom_metadata, m.data) {
                Ok(e) => {
                    let bytes = event_bytes(&e);
                    let limit = within_limits(p.events.len(), p.bytes, bytes).and_then(|()| {
                        if pending_bytes.saturating_add(bytes) > MAX_PENDING_BATCH_BYTES {
                            Err(format!(
                                "unfinished batches of this call are over {MAX_PENDING_BATCH_BYTES} bytes"
                            ))
                        } else {
                            Ok(())
                        }
                    });
                    match limit {
                        Ok(()) => {
                            p.bytes += bytes;
                            pending_bytes += bytes;
                            p.events.push(e);
                        }
                        Err(m) => {
                            p.refused = Some(errors::batch_status(
                                &Error::Storage(strata_storage::Error::AppendTooLarge {
                                    size_bytes: p.bytes.saturating_add(bytes),
                                    limit_bytes: strata_storage::limits::MAX_APPEND_BYTES,
                                }),
                                &p.stream,
                            ));
                            tracing::debug!(reason = %m, stream = %p.stream, "batch refused");
                        }
                    }
                }
                Err(s) => p.refused = Some(errors::bad_request_status(s.message().to_owned())),
            }
            if p.refused.is_some() {
                pending_bytes -= p.bytes;
                p.bytes = 0;
                p.events = Vec::new();
            }
        }
        if !r.is_final {
            continue;
        }
        let Some(p) = pending.remove(&key) else {
            continue;
        };
        pending_bytes -= p.bytes;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let (node, caller, tx) = (node.clone(), caller.clone(), tx.clone());
        if let Some(refused) = p.refused {
            let _ = tx
                .send(Ok(answer(
                    &p.correlation,
                    &p.stream,
                    p.expected,
                    Err(refused),
                )))
                .await;
            continue;
        }
        let simple = !p.events.is_empty()
            && strata_storage::lifecycle::stream_of_metadata(&p.stream).is_none();
        if simple {
            // Queued now, in this call's order; answered when it commits.
            if let Err(e) = check_write(&caller, &p.stream) {
                let status = errors::batch_status(&e, &p.stream);
                let _ = tx
                    .send(Ok(answer(
                        &p.correlation,
                        &p.stream,
                        p.expected,
                        Err(status),
                    )))
                    .await;
                continue;
            }
            let queued = node
                .enqueue_append(StreamAppend {
                    stream: p.stream.clone(),
                    expected: p.expected,
                    events: p.events,
                })
                .await;
            tokio::spawn(async move {
                let r = queued.result().await.map(|r| Written::from(&r));
                let r = r.map_err(|e| errors::batch_status(&e, &p.stream));
                let _ = tx
                    .send(Ok(answer(&p.correlation, &p.stream, p.expected, r)))
                    .await;
                drop(permit);
            });
        } else {
            // Metadata changes and empty appends: rare; the shared path.
            tokio::spawn(async move {
                let r = write(&node, &caller, p.stream.clone(), p.expected, p.events).await;
                let r = r.map_err(|e| errors::batch_status(&e, &p.stream));
                let _ = tx
                    .send(Ok(answer(&p.correlation, &p.stream, p.expected, r)))
                    .await;
                drop(permit);
            });
        }
    }
}

/// One batch's answer.
fn answer(
    correlation: &Option<shared::Uuid>,
    stream: &str,
    expected: ExpectedRevision,
    r: Result<Written, rpc::Status>,
) -> pb::BatchAppendResp {
    pb::BatchAppendResp {
        correlation_id: correlation.clone(),
        result: Some(match r {
            Ok(w) => pb::batch_append_resp::Result::Success(convert::batch_success(w)),
            Err(s) => pb::batch_append_resp::Result::Error(s),
        }),
        stream_identifier: Some(convert::stream_identifier(stream)),
        expected_stream_position: Some(convert::batch_expected_out(expected)),
    }
}

/// A batch refused before anything was queued.
fn refusal(correlation: Option<shared::Uuid>, stream: &str, why: &str) -> pb::BatchAppendResp {
    pb::BatchAppendResp {
        correlation_id: correlation,
        result: Some(pb::batch_append_resp::Result::Error(
            errors::bad_request_status(why.to_owned()),
        )),
        stream_identifier: Some(convert::stream_identifier(stream)),
        expected_stream_position: None,
    }
}
