//! Appends over `Streams.AppendSession`: concurrent [`Client::append`]
//! calls multiplexed over a few long-lived sessions.
//!
//! [`Sessions`] holds a small fixed number of session slots (default
//! [`DEFAULT_APPEND_SESSIONS`]); each append picks the next slot in turn and
//! hands its request to that slot's worker task, which sends it at once —
//! no linger, no batching delay: appends share a group commit on the server
//! because many are in flight together, not because the client waits. The
//! worker gives each request a correlation id, keeps at most
//! `MAX_SESSION_IN_FLIGHT_APPENDS` unanswered (the server's limit; more
//! wait in the worker's queue), and routes each answer back by its id.
//!
//! A session opens on its slot's first append (through the client's
//! [`Transport`], so credentials and TLS apply) and lives until the
//! [`Client`] and its clones are dropped (it then half-closes and ends) or
//! it breaks. When it breaks — connection lost, server killed or shutting
//! down — every append in flight on it fails with `UNAVAILABLE` (no
//! `strata-error` kind: the transport's kind of failure), which the
//! client's [`RetryPolicy`](crate::RetryPolicy) retries like any unary
//! call; the retry carries the same event ids, so one the server had in
//! fact committed comes back deduplicated, never written twice. The next
//! append on that slot opens a new session.
//!
//! A failure at opening passes through as the server said it: an older
//! server answers `UNIMPLEMENTED`, after which [`Sessions`] stays off for
//! this client and appends go unary (`Client::append` does the fallback).
//!
//! Not here: the conversions (`convert.rs`), the retry loop (`retry.rs`),
//! the `append` call itself (`client.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use strata_proto::v1 as pb;
use strata_proto::v1::streams_client::StreamsClient;
use strata_proto::wire::MAX_SESSION_IN_FLIGHT_APPENDS;
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

#[cfg(doc)]
use crate::client::Client;
use crate::convert;
use crate::transport::Transport;

/// Sessions a [`Client`] opens for its appends unless the builder says
/// otherwise ([`ClientBuilder::append_sessions`](crate::ClientBuilder::append_sessions)).
pub const DEFAULT_APPEND_SESSIONS: usize = 2;

type Reply = oneshot::Sender<Result<pb::AppendResponse, Status>>;

/// One append handed to a session's worker.
struct Job {
    request: pb::AppendRequest,
    /// The caller's trace context (`traceparent`, `tracestate`).
    trace: Option<(String, String)>,
    reply: Reply,
}

/// The append sessions of one client (shared by its clones).
pub(crate) struct Sessions {
    client: StreamsClient<Transport>,
    slots: Vec<Mutex<Option<mpsc::UnboundedSender<Job>>>>,
    next: AtomicUsize,
    /// The server answered `UNIMPLEMENTED`: appends go unary from now on.
    unsupported: AtomicBool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("slots", &self.slots.len())
            .field("unsupported", &self.unsupported.load(Ordering::Relaxed))
            .finish()
    }
}

impl Sessions {
    /// `n` (at least 1) session slots over `client`'s transport.
    pub(crate) fn new(client: StreamsClient<Transport>, n: usize) -> Sessions {
        Sessions {
            client,
            slots: (0..n.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            unsupported: AtomicBool::new(false),
        }
    }

    /// Whether appends should try a session (the server has not said it
    /// has none).
    pub(crate) fn usable(&self) -> bool {
        !self.unsupported.load(Ordering::Relaxed)
    }

    /// Remembers that the server has no `AppendSession`.
    pub(crate) fn mark_unsupported(&self) {
        if !self.unsupported.swap(true, Ordering::Relaxed) {
            tracing::info!("the server has no AppendSession; appends go unary");
        }
    }

    /// Sends one append on the next session and waits for its answer: the
    /// response, the append's own failure as unary `Append` would have
    /// reported it, or `UNAVAILABLE` if the session broke first.
    pub(crate) async fn append(
        &self,
        request: pb::AppendRequest,
    ) -> Result<pb::AppendResponse, Status> {
        let (reply, answer) = oneshot::channel();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        {
            let mut slot = self.slots[i].lock().unwrap_or_else(|p| p.into_inner());
            let tx = match slot.as_ref() {
                Some(tx) if !tx.is_closed() => tx,
                _ => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tokio::spawn(run(self.client.clone(), rx));
                    slot.insert(tx)
                }
            };
            let job = Job {
                request,
                trace: crate::trace::current(),
                reply,
            };
            if let Err(mpsc::error::SendError(job)) = tx.send(job) {
                let _ = job.reply.send(Err(broken("the session's worker ended")));
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(broken("the session ended before answering")))
    }
}

/// The status of an append whose session broke before it was answered:
/// `UNAVAILABLE` without a `strata-error` kind, so it is retried.
fn broken(why: &str) -> Status {
    Status::unavailable(format!("append session broke: {why}; retry the append"))
}

/// What a session's worker tracks: the appends sent and not yet answered.
struct InFlight {
    /// The request stream; `None` once half-closed.
    requests: Option<mpsc::UnboundedSender<pb::AppendSessionRequest>>,
    pending: HashMap<u64, Reply>,
    next_id: u64,
}

impl InFlight {
    fn send(&mut self, job: Job) {
        self.next_id += 1;
        let (traceparent, tracestate) = job.trace.unwrap_or_default();
        let request = pb::AppendSessionRequest {
            correlation_id: self.next_id,
            append: Some(job.request),
            traceparent,
            tracestate,
        };
        match &self.requests {
            Some(r) if r.send(request).is_ok() => {
                self.pending.insert(self.next_id, job.reply);
            }
            _ => {
                let _ = job.reply.send(Err(broken("the request stream closed")));
            }
        }
    }

    /// Fails everything in flight and everything still queued with `status`.
    fn fail(&mut self, jobs: &mut mpsc::UnboundedReceiver<Job>, status: &Status) {
        jobs.close();
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(status.clone()));
        }
        while let Ok(job) = jobs.try_recv() {
            let _ = job.reply.send(Err(status.clone()));
        }
    }
}

/// One session: waits for its first append, opens the call, then sends
/// appends as they come and routes answers until the session breaks or
/// every [`Client`] clone is gone.
async fn run(mut client: StreamsClient<Transport>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let Some(first) = jobs.recv().await else {
        return;
    };
    let (requests, outgoing) = mpsc::unbounded_channel();
    let mut flight = InFlight {
        requests: Some(requests),
        pending: HashMap::new(),
        next_id: 0,
    };
    flight.send(first);
    let call = client
        .append_session(crate::trace::request(
            tokio_stream::wrappers::UnboundedReceiverStream::new(outgoing),
        ))
        .await;
    let mut answers = match call {
        Ok(r) => r.into_inner(),
        // As the server said it (UNIMPLEMENTED, UNAUTHENTICATED, a refused
        // connection...): nothing was appended.
        Err(s) => return flight.fail(&mut jobs, &s),
    };
    let why = loop {
        let room = flight.pending.len() < MAX_SESSION_IN_FLIGHT_APPENDS;
        tokio::select! {
            job = jobs.recv(), if room && flight.requests.is_some() => match job {
                Some(job) => flight.send(job),
                // Every client clone is gone: half-close, finish the answers.
                None => flight.requests = None,
            },
            answer = answers.message() => match answer {
                Ok(Some(a)) => {
                    if let Some(reply) = flight.pending.remove(&a.correlation_id) {
                        let _ = reply.send(convert::session_result_from_pb(a.result));
                    }
                }
                Ok(None) => break "the server ended the session".to_owned(),
                Err(s) => break format!("{}: {}", code_name(&s), s.message()),
            },
        }
    };
    if !flight.pending.is_empty() {
        tracing::debug!(in_flight = flight.pending.len(), %why, "append session broke");
    }
    flight.fail(&mut jobs, &broken(&why));
}

fn code_name(s: &Status) -> String {
    format!("{:?}", s.code())
}
