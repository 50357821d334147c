//! Consuming a persistent subscription (a consumer group):
//! [`Client::persistent`] gives a [`PersistentSubscription`] builder whose
//! [`start`](PersistentSubscription::start) spawns one task that owns the
//! bidirectional `Read` call and hands the consumer a [`GroupSubscription`],
//! a [`futures::Stream`] of [`GroupDelivery`]s.
//!
//! Acks and nacks: a delivery's [`ack`](GroupDelivery::ack) and
//! [`nack`](GroupDelivery::nack) send through a channel to the task, which
//! batches acks (`persistent/acks.rs`: [`ACK_BATCH_MAX_IDS`] ids per
//! message, waiting at most [`ACK_FLUSH_INTERVAL`], sent at once when the
//! consumer has settled everything it was given) and sends nacks at once.
//!
//! Reconnects: when the call fails with a retryable status (the connection
//! broke, the server is shutting down: `UNAVAILABLE`), or the server ends it
//! unasked, the task joins the group again after the retry policy's backoff
//! (the failure count resets whenever a message arrives). The server gave
//! the old connection's unacked events to other consumers (or will
//! redeliver them to this one): so acks and nacks made through deliveries
//! of an earlier connection are dropped — the server would ignore them
//! anyway — and so are that connection's deliveries the consumer had not
//! taken yet; the events come back. `resumable.rs` is not used: it
//! resumes server-streaming reads at a position, while a group consumer
//! has nothing to resume — the group keeps its place.
//!
//! Not here: the batching rule (`persistent/acks.rs`), the messages
//! (`convert/groups.rs`), group management (`manage_groups.rs`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures::Stream;
use strata_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use uuid::Uuid;

use crate::client::Client;
use crate::convert::groups::{self as convert, GroupMessage};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{self, is_retryable_status, Result};
use crate::groups::NackAction;
use crate::types::RecordedEvent;

mod acks;

use acks::AckBatch;
pub use acks::{ACK_BATCH_MAX_IDS, ACK_FLUSH_INTERVAL};

/// Deliveries the task holds for the consumer before it stops reading from
/// the server (the server sends no more than the consumer's buffer size
/// unacked anyway).
const MAX_READY: usize = 4_096;
/// Deliveries queued between the task and the consumer's stream.
const OUT_QUEUE: usize = 64;
/// Messages (acks, nacks) queued for the server before the task waits.
const REQUEST_QUEUE: usize = 64;
/// How long a consumer that leaves waits for the server to close the call
/// after its last acks (events the server sends meanwhile are dropped: they
/// go to the other consumers).
const LEAVE_WAIT: Duration = Duration::from_secs(2);

impl Client {
    /// A consumer of the group `group`, to configure and
    /// [`start`](PersistentSubscription::start).
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use futures::TryStreamExt;
    /// use strata_client::NackAction;
    ///
    /// let mut sub = client.persistent("billing").consumer_name("worker-1").buffer_size(32).start();
    /// while let Some(d) = sub.try_next().await? {
    ///     match serde_json::from_slice::<serde_json::Value>(&d.event.data) {
    ///         Ok(order) => {
    ///             println!("bill {order} (try {})", d.retry_count + 1);
    ///             d.ack();
    ///         }
    ///         Err(e) => d.nack(NackAction::Park, format!("not JSON: {e}")),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn persistent(&self, group: impl Into<String>) -> PersistentSubscription {
        PersistentSubscription {
            client: self.clone(),
            group: group.into(),
            buffer_size: 0,
            consumer_name: format!("strata-client-{}", std::process::id()),
        }
    }
}

/// A consumer of a group, before it joins: see [`Client::persistent`].
#[derive(Debug, Clone)]
pub struct PersistentSubscription {
    client: Client,
    group: String,
    buffer_size: u32,
    consumer_name: String,
}

impl PersistentSubscription {
    /// Most events this consumer wants in flight (delivered, not yet acked
    /// or nacked); the group's `max_in_flight` caps it. 0 (the default): the
    /// group's `max_in_flight`.
    pub fn buffer_size(mut self, n: u32) -> Self {
        self.buffer_size = n;
        self
    }

    /// The name the group's info shows for this consumer (default
    /// `strata-client-<process id>`).
    pub fn consumer_name(mut self, name: impl Into<String>) -> Self {
        self.consumer_name = name.into();
        self
    }

    /// Joins the group in a background task (so it must be called within
    /// a Tokio runtime) and returns the stream of deliveries.
    ///
    /// The stream yields events until the consumer leaves:
    /// - it ends (`None`) after a [`NackAction::Stop`] nack, once the server
    ///   has let the consumer go (deliveries not taken before the stop are
    ///   not handed over: they go to the other consumers);
    /// - it yields [`Error::GroupNotFound`] and ends when the group does not
    ///   exist or is deleted, [`Error::TooManyConsumers`] when the group is
    ///   full, and [`Error::Unavailable`] when reconnecting failed for the
    ///   whole retry policy;
    /// - dropping it leaves the group once the deliveries taken from it are
    ///   dropped too (so that their acks still get through); events not
    ///   acked by then go to the other consumers.
    ///
    /// A lost connection (`UNAVAILABLE`, e.g. a server restart, or a broken
    /// connection) is rejoined transparently, after the retry policy's
    /// backoff: events not acked before it are redelivered (to this
    /// consumer or another), acks made after it through deliveries of the
    /// old connection are ignored, and that connection's deliveries not yet
    /// taken from the stream are dropped. Delivery is at least once.
    pub fn start(self) -> GroupSubscription {
        let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let task = ConsumerTask {
            client: self.client,
            group: self.group,
            buffer_size: self.buffer_size,
            name: self.consumer_name,
            cmds: cmd_rx,
            cmd_tx: Some(cmd_tx),
            out: out_tx,
            shared: shared.clone(),
            generation: 0,
            failures: 0,
        };
        tokio::spawn(task.run());
        GroupSubscription {
            deliveries: out_rx,
            shared,
        }
    }
}

/// The deliveries of a group consumer (from
/// [`PersistentSubscription::start`]), as a [`futures::Stream`].
#[derive(Debug)]
pub struct GroupSubscription {
    deliveries: mpsc::Receiver<Result<GroupDelivery>>,
    shared: Arc<Shared>,
}

/// What the task and the consumer's stream both see.
#[derive(Debug, Default)]
struct Shared {
    /// The server's id for the consumer on the current connection.
    consumer_id: Mutex<Option<String>>,
    /// Connections up to this one are over: their deliveries still queued
    /// for the consumer are dropped rather than handed over (their acks
    /// would be ignored; the server redelivers the events).
    over_through: AtomicU64,
}

impl Shared {
    /// Connection `generation` (and every earlier one) is over.
    fn connection_over(&self, generation: u64) {
        self.over_through.fetch_max(generation, Ordering::AcqRel);
    }
}

impl GroupSubscription {
    /// The id the server gave this consumer on its current connection
    /// (as [`GroupConsumerInfo::id`](crate::GroupConsumerInfo::id) shows
    /// it); `None` before the first join. Changes on reconnect.
    pub fn consumer_id(&self) -> Option<String> {
        self.shared
            .consumer_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Stream for GroupSubscription {
    type Item = Result<GroupDelivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let next = ready!(self.deliveries.poll_recv(cx));
            let over = self.shared.over_through.load(Ordering::Acquire);
            match next {
                Some(Ok(d)) if d.settle.generation <= over => continue,
                next => return Poll::Ready(next),
            }
        }
    }
}

/// One event delivered to a group consumer, with the handles to settle it:
/// [`ack`](Self::ack) when handled, [`nack`](Self::nack) otherwise. An
/// event neither acked nor nacked within the group's message timeout is
/// delivered again. Cheap to clone (the clones settle the same delivery).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupDelivery {
    /// The event.
    pub event: RecordedEvent,
    /// 0 on the first delivery; how many times it was retried before.
    pub retry_count: u32,
    /// Delivered by [`Client::replay_parked`]: the event was parked before.
    pub replayed: bool,
    settle: Settle,
}

impl GroupDelivery {
    /// Acks the event: it is handled, and the group will not deliver it
    /// again. Returns at once; the ack is batched with others (see
    /// [`ACK_BATCH_MAX_IDS`], [`ACK_FLUSH_INTERVAL`]). Ignored when the
    /// connection the event came on is gone (the event is redelivered) or
    /// the subscription has ended.
    pub fn ack(&self) {
        self.settle.send(Command::Ack(self.event.id));
    }

    /// Nacks the event: `action` says what the group does with it, `reason`
    /// is kept with it (in `$parked-<group>` for [`NackAction::Park`]). Sent
    /// at once (after the acks made before it). [`NackAction::Stop`] makes
    /// this consumer leave the group; a stop from an earlier connection
    /// ends the subscription too. Otherwise ignored like a late
    /// [`ack`](Self::ack).
    pub fn nack(&self, action: NackAction, reason: impl Into<String>) {
        self.settle
            .send(Command::Nack(self.event.id, action, reason.into()));
    }
}

/// What a delivery's handle asks of the task.
#[derive(Debug)]
enum Command {
    Ack(Uuid),
    Nack(Uuid, NackAction, String),
}

/// A delivery's way back to the task: the channel, and the connection
/// (generation) it came on.
#[derive(Debug, Clone)]
struct Settle {
    tx: mpsc::UnboundedSender<(u64, Command)>,
    generation: u64,
    shared: Arc<Shared>,
}

impl Settle {
    fn send(&self, command: Command) {
        if matches!(command, Command::Nack(_, NackAction::Stop, _)) {
            // At once, so that the consumer's next poll hands over nothing
            // more, even before the task has sent the stop.
            self.shared.connection_over(self.generation);
        }
        // The task is gone only when the subscription has ended.
        let _ = self.tx.send((self.generation, command));
    }
}

/// How one connection ended.
enum End {
    /// The consumer left (a stop nack, or it dropped everything): no
    /// reconnect.
    Left,
    /// The call failed: reconnect if retryable.
    Failed(Status),
    /// The server sent something unusable: the subscription ends with it.
    Error(crate::Error),
}

/// The task that owns a consumer's calls.
struct ConsumerTask {
    client: Client,
    group: String,
    buffer_size: u32,
    name: String,
    cmds: mpsc::UnboundedReceiver<(u64, Command)>,
    /// For new deliveries' handles; `None` once the consumer dropped its
    /// stream, so that `cmds` closes when the last delivery is dropped.
    cmd_tx: Option<mpsc::UnboundedSender<(u64, Command)>>,
    out: mpsc::Sender<Result<GroupDelivery>>,
    shared: Arc<Shared>,
    /// Connections opened so far; the current one's number.
    generation: u64,
    /// Consecutive failures since a message last arrived.
    failures: u32,
}

impl ConsumerTask {
    async fn run(mut self) {
        loop {
            if self.failures > 0 {
                let delay = self.client.retry.backoff(self.failures);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.out.closed() => return,
                }
            }
            let end = self.connection().await;
            self.connection_over();
            let status = match end {
                End::Left => return,
                End::Error(e) => {
                    let _ = self.out.send(Err(e)).await;
                    return;
                }
                End::Failed(status) => status,
            };
            if self.cmd_tx.is_none() {
                // Nobody to deliver to, and acks of the old connection
                // would be ignored: done.
                return;
            }
            if is_retryable_status(&status) && self.client.retry.may_retry_after(self.failures + 1)
            {
                self.failures += 1;
                tracing::debug!(group = %self.group, %status, failures = self.failures,
                    "group consumer disconnected; rejoining after backoff");
                continue;
            }
            let _ = self.out.send(Err(error::from_plain_status(status))).await;
            return;
        }
    }

    fn set_consumer_id(&self, id: Option<String>) {
        *self
            .shared
            .consumer_id
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = id;
    }

    /// The current connection is over (or its consumer stopped): its
    /// deliveries not yet taken are dropped.
    fn connection_over(&self) {
        self.set_consumer_id(None);
        self.shared.connection_over(self.generation);
    }

    /// Joins the group and serves one connection until it ends.
    async fn connection(&mut self) -> End {
        self.generation += 1;
        let generation = self.generation;
        let (requests, outbound) = mpsc::channel(REQUEST_QUEUE);
        let options = convert::options_to_pb(&self.group, self.buffer_size, &self.name);
        requests.try_send(options).expect("a new channel has room");
        let mut persistent = self.client.persistent.clone();
        let opened = self
            .client
            .timed(persistent.read(crate::trace::request(ReceiverStream::new(outbound))))
            .await;
        let mut call: Streaming<pb::GroupReadResponse> = match opened {
            Ok(r) => r.into_inner(),
            Err(s) => return End::Failed(s),
        };
        let mut acks = AckBatch::default();
        let mut ready: VecDeque<GroupDelivery> = VecDeque::new();
        let mut stopping = false;
        // A clone, so that a reserved slot borrows it rather than `self`.
        let out = self.out.clone();
        loop {
            let deadline = acks
                .deadline()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let delivering = self.cmd_tx.is_some();
            tokio::select! {
                cmd = self.cmds.recv() => {
                    let Some((from, cmd)) = cmd else {
                        // The consumer and every delivery are gone.
                        leave(requests, call, &mut acks).await;
                        return End::Left;
                    };
                    match cmd {
                        _ if from != generation => {
                            if matches!(cmd, Command::Nack(_, NackAction::Stop, _)) {
                                return End::Left;
                            }
                        }
                        Command::Ack(id) => {
                            acks.ack(id, Instant::now());
                            if acks.full_or_idle() {
                                flush(&requests, &mut acks).await;
                            }
                        }
                        Command::Nack(id, action, reason) => {
                            acks.settled(id);
                            flush(&requests, &mut acks).await;
                            let _ = requests.send(convert::nack_to_pb(&[id], action, &reason)).await;
                            if action == NackAction::Stop {
                                stopping = true;
                                ready.clear();
                                self.connection_over();
                            }
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline), if acks.has_pending() => {
                    flush(&requests, &mut acks).await;
                }
                message = call.message(), if ready.len() < MAX_READY => match message {
                    Ok(Some(m)) => {
                        self.failures = 0;
                        match convert::group_message_from_pb(m) {
                            Ok(GroupMessage::Confirmation(id)) => self.set_consumer_id(Some(id)),
                            Ok(GroupMessage::Events(events)) => {
                                let Some(tx) = self.cmd_tx.as_ref().filter(|_| !stopping) else {
                                    // Nobody takes them: they stay in flight
                                    // until this consumer leaves.
                                    continue;
                                };
                                for (event, retry_count, replayed) in events {
                                    acks.delivered(event.id);
                                    ready.push_back(GroupDelivery {
                                        event,
                                        retry_count,
                                        replayed,
                                        settle: Settle {
                                            tx: tx.clone(),
                                            generation,
                                            shared: self.shared.clone(),
                                        },
                                    });
                                }
                                if acks.full_or_idle() {
                                    flush(&requests, &mut acks).await;
                                }
                            }
                            Ok(GroupMessage::Nothing) => {}
                            Err(e) => return End::Error(e),
                        }
                    }
                    Ok(None) if stopping => return End::Left,
                    Ok(None) => {
                        return End::Failed(Status::unavailable(
                            "the server ended the group consumer's stream",
                        ))
                    }
                    Err(_) if stopping => return End::Left,
                    Err(s) => return End::Failed(s),
                },
                permit = out.reserve(), if delivering && !ready.is_empty() => {
                    let gone = match permit {
                        Ok(p) => {
                            p.send(Ok(ready.pop_front().expect("not empty")));
                            false
                        }
                        Err(_) => true,
                    };
                    if gone {
                        self.consumer_gone(&mut ready, &mut acks);
                    }
                }
                () = out.closed(), if delivering && ready.is_empty() => {
                    self.consumer_gone(&mut ready, &mut acks);
                }
            }
        }
    }

    /// The consumer dropped its stream: deliver nothing more, and let
    /// `cmds` close once the deliveries it took are dropped.
    fn consumer_gone(&mut self, ready: &mut VecDeque<GroupDelivery>, acks: &mut AckBatch) {
        self.cmd_tx = None;
        for d in ready.drain(..) {
            acks.settled(d.event.id);
        }
    }
}

/// Leaves the group: sends the last acks, closes this side of the call,
/// and waits (at most [`LEAVE_WAIT`]) for the server to end its side —
/// dropping the call at once would reset it, and the last acks with it.
async fn leave(
    requests: mpsc::Sender<pb::GroupReadRequest>,
    mut call: Streaming<pb::GroupReadResponse>,
    acks: &mut AckBatch,
) {
    flush(&requests, acks).await;
    drop(requests);
    let drained = async { while let Ok(Some(_)) = call.message().await {} };
    let _ = tokio::time::timeout(LEAVE_WAIT, drained).await;
}

/// Sends the pending acks, [`ACK_BATCH_MAX_IDS`] per message. A failed send
/// means the call is over, which the task learns from the call itself.
async fn flush(requests: &mpsc::Sender<pb::GroupReadRequest>, acks: &mut AckBatch) {
    while acks.has_pending() {
        let ids = acks.take(Instant::now());
        if requests.send(convert::ack_to_pb(&ids)).await.is_err() {
            return;
        }
    }
}
