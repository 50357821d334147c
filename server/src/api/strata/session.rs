//! `Streams.AppendSession`: pipelined appends on one bidirectional call.
//!
//! A session is two halves joined by a bounded channel, both in request
//! order:
//!
//! - the **reader** (a task per session) takes one request at a time,
//!   checks the caller's per-stream `write` permission (as unary `Append`
//!   does, re-reading the caller's grants when they change), converts it
//!   and queues it in the writer ([`Node::enqueue_append`]) — queued one
//!   after another, so the writer commits them in the order they came, and
//!   many of them land in one group commit;
//! - the **answers** (the response stream tonic polls) await each queued
//!   append's result in the same order and send it with its correlation id.
//!   A failure is an `AppendError` in its own answer (the code, kind and
//!   metadata unary `Append`'s status would carry), never the call's
//!   status, so one failed append never affects another.
//!
//! Bounds: the reader holds a permit per append read and not yet answered
//! ([`MAX_SESSION_IN_FLIGHT_APPENDS`]) and for its bytes
//! ([`MAX_SESSION_IN_FLIGHT_BYTES`]); without one it does not read the
//! next request, so a client that sends without reading answers is held
//! back by HTTP/2 flow control instead of growing the server's memory. An
//! answer gives its permits back when tonic takes it, which it does only
//! as the client's HTTP/2 window allows.
//!
//! The call's own status is for the session as a whole: an undecodable
//! request (`invalid-request`) or a shutdown (`UNAVAILABLE` /
//! `shutting-down`) ends it after every append already read is answered;
//! a client that half-closes gets its answers, then `OK`.
//!
//! Not here: the conversions (`convert::session`), the error mapping
//! (`api::status`), what an append does (`domain::append`).

use super::convert;
use crate::api::status;
use crate::domain::security::{Caller, Need, Permission};
use crate::domain::{Error, Node};
use crate::telemetry::{otel, SessionGauge};
use futures::stream::{BoxStream, StreamExt};
use std::sync::Arc;
use strata_proto::v1 as pb;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tonic::{Status, Streaming};
use tracing::Instrument;

/// Most appends one session has read and not yet answered (256, shared
/// with clients through `strata_proto::wire`). Beyond it the server stops
/// reading the session's requests until an answer is taken.
pub use strata_proto::wire::MAX_SESSION_IN_FLIGHT_APPENDS;
/// Most bytes of event data and metadata one session has read and not yet
/// answered (one append larger than this still goes through, alone).
pub const MAX_SESSION_IN_FLIGHT_BYTES: usize = 64 * 1024 * 1024;
/// What one event costs against [`MAX_SESSION_IN_FLIGHT_BYTES`] besides
/// its data and metadata (id, type, content type, framing), in bytes.
const EVENT_OVERHEAD_BYTES: usize = 128;

/// The answers of a session, as tonic sends them.
pub type Answers = BoxStream<'static, Result<pb::AppendSessionResponse, Status>>;

/// Serves one session: starts its reader and returns its answers.
pub fn serve(
    node: Arc<Node>,
    caller: Caller,
    requests: Streaming<pb::AppendSessionRequest>,
) -> Answers {
    let span = tracing::info_span!(
        "append_session",
        user = %caller.name(),
        appends = tracing::field::Empty,
        refused = tracing::field::Empty,
    );
    let (tx, rx) = mpsc::channel(MAX_SESSION_IN_FLIGHT_APPENDS + 1);
    let reader = Reader {
        _gauge: SessionGauge::new(node.metrics().clone()),
        access: SessionAccess::new(caller),
        in_flight: Arc::new(Semaphore::new(MAX_SESSION_IN_FLIGHT_APPENDS)),
        in_flight_bytes: Arc::new(Semaphore::new(MAX_SESSION_IN_FLIGHT_BYTES)),
        node,
        tx,
    };
    tokio::spawn(reader.run(requests).instrument(span));
    tokio_stream::wrappers::ReceiverStream::new(rx)
        .then(answer)
        .boxed()
}

/// What the reader hands to the answers, in request order.
enum Item {
    /// One append: queued, or refused before the writer.
    Append {
        correlation_id: u64,
        outcome: Outcome,
        /// The append's own span (a child of the caller's trace context
        /// when it sent one and traces are exported); its commit is
        /// recorded under it.
        span: tracing::Span,
        _permits: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
    },
    /// The session ends with this status (after the answers before it).
    End(Status),
}

enum Outcome {
    Queued(crate::domain::append::QueuedAppend),
    Refused(Status),
}

async fn answer(item: Item) -> Result<pb::AppendSessionResponse, Status> {
    match item {
        Item::Append {
            correlation_id,
            outcome,
            span,
            _permits,
        } => {
            let result = match outcome {
                Outcome::Queued(q) => q
                    .result()
                    .instrument(span)
                    .await
                    .map_err(status::from_domain),
                Outcome::Refused(s) => Err(s),
            };
            if let Err(s) = &result {
                tracing::debug!(correlation_id, code = ?s.code(), message = s.message(), "session append failed");
            }
            Ok(convert::session::answer(correlation_id, result))
        }
        Item::End(s) => Err(s),
    }
}

/// The caller's `write` checks for a session: its grants as of now,
/// re-read whenever users, tokens or grants change and once the bearer
/// token it was opened with has expired, so a revoked grant, a revoked or
/// expired token or a disabled user stops the session's next append.
struct SessionAccess {
    caller: Caller,
    /// The security generation `caller.access` is from (`None`: not yet
    /// re-read since the call was authenticated).
    generation: Option<u64>,
}

impl SessionAccess {
    fn new(caller: Caller) -> SessionAccess {
        SessionAccess {
            caller,
            generation: None,
        }
    }

    fn check_write(&mut self, node: &Node, stream: &str) -> Result<(), Error> {
        let now = node.security_generation();
        // An expiry changes no generation: past it, re-read every time
        // (the token no longer gives access).
        let expired = self
            .caller
            .token
            .as_ref()
            .and_then(|t| t.expires_micros)
            .is_some_and(|e| e <= strata_storage::clock::now_micros());
        if self.generation != Some(now) || expired {
            self.generation = Some(now);
            self.caller.access = Arc::new(node.access_now(&self.caller).unwrap_or_default());
        }
        self.caller.check(Need::Stream(Permission::Write, stream))
    }
}

struct Reader {
    node: Arc<Node>,
    /// Counts the session as open in the metrics while the reader runs.
    _gauge: SessionGauge,
    access: SessionAccess,
    in_flight: Arc<Semaphore>,
    in_flight_bytes: Arc<Semaphore>,
    tx: mpsc::Sender<Item>,
}

impl Reader {
    async fn run(mut self, mut requests: Streaming<pb::AppendSessionRequest>) {
        let mut shutdown = self.node.shutdown_signal();
        let (mut appends, mut refused) = (0u64, 0u64);
        let end = loop {
            // Room for one more append before reading it.
            let permit = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => break Some(status::from_domain(Error::ShuttingDown)),
                () = self.tx.closed() => break None,
                p = self.in_flight.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break None,
                },
            };
            let request = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => break Some(status::from_domain(Error::ShuttingDown)),
                () = self.tx.closed() => break None,
                m = requests.message() => m,
            };
            let request = match request {
                Ok(Some(r)) => r,
                // The client half-closed: answer what is in flight, then OK.
                Ok(None) => break None,
                Err(s) => break Some(session_status(s)),
            };
            appends += 1;
            let bytes = request_bytes(&request);
            let correlation_id = request.correlation_id;
            let span = append_span(&request);
            let outcome = self.enqueue(request).instrument(span.clone()).await;
            if matches!(outcome, Outcome::Refused(_)) {
                refused += 1;
            }
            // Counted after reading (the size is known only then): at most
            // one append beyond the limit is ever held.
            let bytes_permit = match u32::try_from(bytes.min(MAX_SESSION_IN_FLIGHT_BYTES)) {
                Ok(n) if n > 0 => self
                    .in_flight_bytes
                    .clone()
                    .acquire_many_owned(n)
                    .await
                    .ok(),
                _ => None,
            };
            let item = Item::Append {
                correlation_id,
                outcome,
                span,
                _permits: (permit, bytes_permit),
            };
            if self.tx.send(item).await.is_err() {
                break None;
            }
        };
        let span = tracing::Span::current();
        span.record("appends", appends);
        span.record("refused", refused);
        match end {
            Some(s) => {
                tracing::debug!(appends, refused, code = ?s.code(), "append session ends with an error");
                let _ = self.tx.send(Item::End(s)).await;
            }
            None => tracing::debug!(appends, refused, "append session ended"),
        }
    }

    /// Checks, converts and queues one append; a refusal is its answer.
    async fn enqueue(&mut self, request: pb::AppendSessionRequest) -> Outcome {
        let Some(append) = request.append else {
            return Outcome::Refused(status::invalid_request(
                "an AppendSessionRequest without an append",
            ));
        };
        if let Err(e) = self.access.check_write(&self.node, &append.stream) {
            return Outcome::Refused(status::from_domain(e));
        }
        match convert::stream_append(append) {
            Ok(a) => Outcome::Queued(self.node.enqueue_append(a).await),
            Err(s) => Outcome::Refused(s),
        }
    }
}

/// The span of one append of a session: while traces are exported and
/// the request carries a trace context, a server span
/// `strata.v1.Streams/AppendSession` under the caller's span (as a unary
/// call's would be under its `traceparent` header); otherwise none.
fn append_span(r: &pb::AppendSessionRequest) -> tracing::Span {
    if r.traceparent.is_empty() || !otel::enabled() {
        return tracing::Span::none();
    }
    let mut headers = tonic::codegen::http::HeaderMap::new();
    for (name, value) in [
        ("traceparent", &r.traceparent),
        ("tracestate", &r.tracestate),
    ] {
        if let Ok(v) = value.parse() {
            headers.insert(name, v);
        }
    }
    otel::server_span("/strata.v1.Streams/AppendSession", &headers)
}

/// What one request counts against [`MAX_SESSION_IN_FLIGHT_BYTES`].
fn request_bytes(r: &pb::AppendSessionRequest) -> usize {
    r.append.as_ref().map_or(0, |a| {
        a.events
            .iter()
            .map(|e| e.data.len() + e.metadata.len() + EVENT_OVERHEAD_BYTES)
            .sum()
    })
}

/// The session's final status for a failed read of its requests: an
/// undecodable message is the client's error (`invalid-request`, as the
/// unary calls report it); anything else (the client went away) is passed
/// on as it is.
fn session_status(s: Status) -> Status {
    if s.code() == tonic::Code::Internal && s.message().starts_with("failed to decode") {
        status::invalid_request(s.message().to_owned())
    } else {
        s
    }
}
