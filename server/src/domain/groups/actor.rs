//! One running consumer group: a tokio task that owns its [`GroupState`],
//! follows its source through a catch-up subscription, hands events to
//! consumers, and writes its checkpoint and parked events as records.
//!
//! Everything reaches the task as a [`Command`] (joins, acks, nacks, info,
//! settings, replays) or through its source and timer; it never blocks:
//! records go to the writer with `Store::try_submit_system`, whose answers
//! come back on a channel. A checkpoint is written when acks moved it and
//! `checkpoint_after_ms` passed since the first of them, or after
//! `checkpoint_max_count` acks, one write at a time. When the group cannot
//! make progress, it says why (`GroupInfo.state/reason`) and logs the
//! change once.
//!
//! Not here: the dispatch rules (`state`), record layouts (`records`),
//! writing and replaying the records (`actor/writes.rs`).

use super::records::{checkpoint_event, checkpoint_stream, parked_event, parked_stream, unparked};
use super::settings::{GroupSettings, GroupSpec};
use super::state::{ConsumerId, Delivery, Entry, GroupState, Nack, Outcome, Stall};
use super::{GroupInfo, GroupStatus};
use crate::domain::subscribe::{
    SubscribePlan, SubscribeStart, SubscribeTarget, SubscriptionMessage,
};
use crate::domain::{Error, Node};
use futures::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use strata_storage::{
    AppendResult, Direction, ExpectedRevision, RecordedEvent, StreamAppend, StreamFrom,
    StreamMetadata, Write,
};
use tokio::sync::{mpsc, oneshot, watch};

mod writes;

/// Events read ahead of delivery, per group: enough for ordered_by_stream
/// to see many partitions at once even when the log holds long runs of one
/// stream.
pub const READ_AHEAD_EVENTS: usize = 65_536;
/// Bytes of event data + metadata read ahead of delivery, per group (32 MiB).
pub const READ_AHEAD_BYTES: usize = 32 * 1024 * 1024;
/// How often in-flight deadlines and checkpoint timers are checked.
const TICK: Duration = Duration::from_millis(20);
/// How long a failed source waits before it is opened again.
const SOURCE_RETRY: Duration = Duration::from_millis(500);
/// How long a group may wait with events queued and nothing handed out
/// or acked before it logs why (waiting on acks is normal for short spells).
const STALL_LOG_AFTER: Duration = Duration::from_secs(5);
/// Most parked events one `ReplayParked` queues.
const MAX_REPLAY_EVENTS: u64 = 100_000;

/// What a consumer receives: batches of deliveries, or the reason it was
/// dropped (the group was deleted, the server is shutting down).
pub type ConsumerMessage = Result<Vec<Delivery>, Error>;

/// Requests to a group's task.
pub enum Command {
    Join {
        name: String,
        buffer_size: u32,
        reply: oneshot::Sender<Result<(ConsumerId, mpsc::Receiver<ConsumerMessage>), Error>>,
    },
    Leave(ConsumerId),
    Ack(ConsumerId, Vec<uuid::Uuid>),
    Nack(ConsumerId, Vec<uuid::Uuid>, Nack, String),
    Info(oneshot::Sender<GroupInfo>),
    Update(GroupSettings, oneshot::Sender<()>),
    Replay(u64, oneshot::Sender<Result<u64, Error>>),
    /// The group was deleted: drop every consumer and end.
    Delete(oneshot::Sender<()>),
}

/// A record write's answer, back from the writer thread.
enum Written {
    Checkpoint(u64, bool),
    Park(Entry, bool),
    Unparked(u64, bool),
}

/// Where the parked stream is: its last revision + 1 and truncate_before.
struct Parked {
    end: u64,
    truncate_before: u64,
    /// Revisions of parked records being replayed.
    replaying: BTreeSet<u64>,
    /// Highest replayed revision handled so far (+1).
    replayed_to: u64,
}

pub struct GroupActor {
    name: String,
    spec: GroupSpec,
    node: Weak<Node>,
    state: GroupState,
    consumers: HashMap<ConsumerId, mpsc::Sender<ConsumerMessage>>,
    written: u64,
    writing: bool,
    acks_since: u32,
    first_unwritten: Option<Instant>,
    parked: Parked,
    status: GroupStatus,
    reason: String,
    /// When events were last handed out or finished.
    progress_at: Instant,
    /// The current stall was logged.
    stall_logged: bool,
    head: u64,
    done_tx: mpsc::UnboundedSender<Written>,
    done_rx: mpsc::UnboundedReceiver<Written>,
}

impl GroupActor {
    /// A group at `checkpoint`, with its parked stream at `parked_end` /
    /// `truncate_before`.
    pub fn new(
        name: String,
        spec: GroupSpec,
        settings: GroupSettings,
        node: Weak<Node>,
        checkpoint: u64,
        (parked_end, truncate_before): (u64, u64),
    ) -> GroupActor {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        GroupActor {
            name,
            spec,
            node,
            state: GroupState::new(settings, checkpoint),
            consumers: HashMap::new(),
            written: checkpoint,
            writing: false,
            acks_since: 0,
            first_unwritten: None,
            parked: Parked {
                end: parked_end,
                truncate_before,
                replaying: BTreeSet::new(),
                replayed_to: truncate_before,
            },
            status: GroupStatus::CatchingUp,
            reason: String::new(),
            progress_at: Instant::now(),
            stall_logged: false,
            head: checkpoint,
            done_tx,
            done_rx,
        }
    }

    fn key_of(&self, e: &RecordedEvent) -> u64 {
        if self.spec.is_all() {
            e.position
        } else {
            e.revision + 1
        }
    }

    fn partition_of(&self, e: &RecordedEvent) -> Arc<str> {
        let key = &self.state.settings().partition_key;
        if !key.is_empty() {
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&e.metadata) {
                match m.get(key) {
                    Some(serde_json::Value::String(s)) => return Arc::from(format!("k:{s}")),
                    Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                        return Arc::from(format!("k:{v}"))
                    }
                    _ => {}
                }
            }
        }
        Arc::from(format!("s:{}", e.stream))
    }

    /// Opens the source after everything already read (what is queued or
    /// in flight stays; nothing is read twice).
    async fn open_source(&self) -> Result<crate::domain::subscribe::SubscriptionMessages, Error> {
        let node = self.node.upgrade().ok_or(Error::ShuttingDown)?;
        let read = self.state.read_position();
        let (target, start) = if self.spec.is_all() {
            let target = SubscribeTarget::All {
                filter: self.spec.filter.to_filter(),
                checkpoint_interval_events: 1024,
            };
            (target, SubscribeStart::After(read))
        } else {
            let start = match read {
                0 => SubscribeStart::Start,
                n => SubscribeStart::After(n - 1),
            };
            (SubscribeTarget::Stream(self.spec.stream.clone()), start)
        };
        node.follow(SubscribePlan { target, start }).await
    }

    /// The task: runs until the group is deleted or the server stops.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut source = None;
        let mut retry_at: Option<Instant> = Some(Instant::now());
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if source.is_none() && retry_at.is_some_and(|t| Instant::now() >= t) {
                match self.open_source().await {
                    Ok(s) => {
                        source = Some(s);
                        retry_at = None;
                    }
                    Err(e) => {
                        self.fail(format!("cannot read the source: {e}"));
                        retry_at = Some(Instant::now() + SOURCE_RETRY);
                    }
                }
            }
            let room = self.state.queued() < READ_AHEAD_EVENTS
                && self.state.queued_bytes() < READ_AHEAD_BYTES;
            tokio::select! {
                biased;
                () = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
                cmd = commands.recv() => match cmd {
                    Some(Command::Delete(done)) => {
                        let name = self.name.clone();
                        self.drop_consumers(|| Error::GroupNotFound(name.clone()));
                        let _ = done.send(());
                        return;
                    }
                    Some(c) => self.command(c).await,
                    None => break,
                },
                Some(w) = self.done_rx.recv() => self.written(w),
                msg = async { source.as_mut().expect("checked").next().await }, if room && source.is_some() => {
                    match msg {
                        Some(Ok(m)) => self.source_message(m),
                        Some(Err(e)) => {
                            self.fail(format!("the source failed: {e}"));
                            source = None;
                            retry_at = Some(Instant::now() + SOURCE_RETRY);
                        }
                        None => {
                            source = None;
                            retry_at = Some(Instant::now() + SOURCE_RETRY);
                        }
                    }
                }
                _ = tick.tick() => {
                    let out = self.state.expire(Instant::now());
                    self.outcomes(out);
                }
            }
            self.dispatch();
            self.maybe_checkpoint();
            self.update_status();
        }
        // Shutdown: leave consumers to their reconnects, checkpoint what is done.
        self.drop_consumers(|| Error::ShuttingDown);
        let cp = self.state.checkpoint();
        if cp > self.written {
            self.write_checkpoint(cp);
        }
    }

    fn node(&self) -> Option<Arc<Node>> {
        self.node.upgrade()
    }

    fn fail(&mut self, reason: String) {
        if self.status != GroupStatus::Failing || self.reason != reason {
            tracing::warn!(group = %self.name, %reason, "consumer group cannot make progress");
        }
        self.status = GroupStatus::Failing;
        self.reason = reason;
    }

    fn source_message(&mut self, m: SubscriptionMessage) {
        match m {
            SubscriptionMessage::Events(events) => {
                for e in events {
                    let key = self.key_of(&e);
                    let partition = self.partition_of(&e);
                    self.head = self.head.max(key);
                    self.state.push(Entry {
                        event: Arc::new(e),
                        key,
                        retry_count: 0,
                        partition,
                        replay: None,
                    });
                }
            }
            SubscriptionMessage::CaughtUp { position }
            | SubscriptionMessage::Checkpoint { position } => {
                if self.spec.is_all() {
                    self.state.read_through(position);
                    self.head = self.head.max(position);
                }
                if matches!(self.status, GroupStatus::Failing | GroupStatus::CatchingUp) {
                    self.status = GroupStatus::Live;
                    self.reason.clear();
                }
            }
        }
    }

    async fn command(&mut self, c: Command) {
        match c {
            Command::Join {
                name,
                buffer_size,
                reply,
            } => {
                let max = self.state.settings().max_subscribers as usize;
                if self.consumers.len() >= max {
                    let _ = reply.send(Err(Error::TooManyConsumers {
                        group: self.name.clone(),
                        limit: max,
                    }));
                    return;
                }
                let capacity = match buffer_size {
                    0 => self.state.settings().max_in_flight,
                    n => n.min(self.state.settings().max_in_flight),
                };
                let id =
                    self.state
                        .join(name.clone(), capacity, strata_storage::clock::now_micros());
                // Every batch holds at least one event, and a consumer never
                // has more than `capacity` events out: the channel never
                // fills, and a failed send means the consumer is gone.
                let (tx, rx) = mpsc::channel(capacity as usize + 1);
                self.consumers.insert(id, tx);
                tracing::info!(group = %self.name, consumer = id, %name, capacity, "consumer joined");
                let _ = reply.send(Ok((id, rx)));
            }
            Command::Leave(id) => self.leave(id),
            Command::Ack(id, ids) => {
                let out = self.state.ack(id, &ids);
                self.outcomes(out);
            }
            Command::Nack(id, ids, action, reason) => {
                let out = self.state.nack(id, &ids, action, &reason);
                self.outcomes(out);
            }
            Command::Info(reply) => {
                let _ = reply.send(self.info());
            }
            Command::Update(settings, done) => {
                self.state.set_settings(settings);
                let _ = done.send(());
            }
            Command::Replay(max, reply) => {
                let r = self.replay(max).await;
                let _ = reply.send(r);
            }
            Command::Delete(_) => {}
        }
    }

    fn leave(&mut self, id: ConsumerId) {
        if self.consumers.remove(&id).is_some() {
            let out = self.state.leave(id);
            tracing::info!(group = %self.name, consumer = id, "consumer left");
            self.outcomes(out);
        }
    }

    fn drop_consumers(&mut self, why: impl Fn() -> Error) {
        for (_, tx) in self.consumers.drain() {
            let _ = tx.try_send(Err(why()));
        }
    }

    fn progress(&mut self) {
        self.progress_at = Instant::now();
        self.stall_logged = false;
    }

    /// Acted on what left the flight: counts acks, writes parks, finishes replays.
    fn outcomes(&mut self, out: Vec<Outcome>) {
        if !out.is_empty() {
            self.progress();
        }
        for o in out {
            match o {
                Outcome::Done(e) => {
                    if let Some(rev) = e.replay {
                        self.replay_finished(rev);
                    } else {
                        self.acks_since += 1;
                        self.first_unwritten.get_or_insert_with(Instant::now);
                    }
                }
                Outcome::Park(e, reason) => self.park(e, reason),
            }
        }
    }

    fn dispatch(&mut self) {
        let sent = self.state.dispatch(Instant::now());
        if !sent.is_empty() {
            self.progress();
        }
        let mut gone = Vec::new();
        for (id, batch) in sent {
            let ok = self
                .consumers
                .get(&id)
                .is_some_and(|tx| tx.try_send(Ok(batch)).is_ok());
            if !ok {
                gone.push(id);
            }
        }
        for id in gone {
            self.leave(id);
        }
    }

    fn update_status(&mut self) {
        if self.status == GroupStatus::Failing {
            return;
        }
        let (status, reason) = match self.state.stall() {
            Stall::None if self.status == GroupStatus::CatchingUp => {
                (GroupStatus::CatchingUp, String::new())
            }
            Stall::None => (GroupStatus::Live, String::new()),
            Stall::NoConsumers => (
                GroupStatus::WaitingForConsumers,
                format!(
                    "{} events wait and no consumer is connected",
                    self.state.queued()
                ),
            ),
            Stall::ConsumersFull => (
                GroupStatus::ConsumersFull,
                format!(
                    "{} events wait and every consumer has max_in_flight events unacked",
                    self.state.queued()
                ),
            ),
            Stall::PartitionsBlocked => (
                GroupStatus::PartitionsBlocked,
                format!(
                    "{} events wait behind unacked events of their partitions (ordered_by_stream)",
                    self.state.queued()
                ),
            ),
        };
        let waiting = !matches!(status, GroupStatus::Live | GroupStatus::CatchingUp);
        if waiting && !self.stall_logged && self.progress_at.elapsed() >= STALL_LOG_AFTER {
            self.stall_logged = true;
            tracing::warn!(
                group = %self.name, state = status.as_str(), %reason,
                idle_secs = self.progress_at.elapsed().as_secs(),
                "consumer group is not making progress"
            );
        }
        self.status = status;
        self.reason = reason;
    }

    fn info(&self) -> GroupInfo {
        let checkpoint = self.state.checkpoint();
        let head = self.head.max(checkpoint);
        GroupInfo {
            group: self.name.clone(),
            spec: self.spec.clone(),
            settings: self.state.settings().clone(),
            status: self.status,
            reason: self.reason.clone(),
            consumers: self.state.consumers().to_vec(),
            checkpoint,
            head,
            in_flight: self.state.in_flight() as u64,
            parked: self.parked.end.saturating_sub(self.parked.truncate_before),
            totals: self.state.totals,
        }
    }
}
