//! The dispatch rules of one consumer group, as plain state with no I/O and
//! no clock of its own: which consumer gets which event, what happens on
//! ack, nack, timeout and disconnect, and how far the group's checkpoint
//! may move.
//!
//! Invariants:
//! - every event read from the source stays *outstanding* (its checkpoint
//!   key counted) until it is acked, skipped, or its park is durable; the
//!   checkpoint is the key just below the lowest outstanding one, so it
//!   never passes an unfinished event and never moves backwards;
//! - `ordered_by_stream`: at most one event of a partition is in flight or
//!   being parked, and a retried event goes back to the front of its
//!   partition, so each partition is handled in order;
//! - an ack or nack from a consumer that does not hold the event (it timed
//!   out and went to another) is ignored.
//!
//! Not here: reading the source, timers, records (`actor`).

use super::settings::{GroupSettings, Strategy};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use strata_storage::{RecordedEvent, Revision};
use uuid::Uuid;

/// A consumer's id within its group.
pub type ConsumerId = u64;

/// Events `pinned` scans past a busy consumer's events per dispatch.
const PINNED_SCAN_EVENTS: usize = 4_096;

/// One event waiting for, or out for, delivery.
#[derive(Debug, Clone)]
pub struct Entry {
    pub event: Arc<RecordedEvent>,
    /// Checkpoint key (position for `$all`, revision + 1 for a stream).
    pub key: u64,
    pub retry_count: u32,
    pub partition: Arc<str>,
    /// Set for a parked event being replayed: its record's revision.
    pub replay: Option<Revision>,
}

/// What a consumer is sent.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: Arc<RecordedEvent>,
    pub retry_count: u32,
    pub replayed: bool,
}

/// An event that left the flight: done, or to be parked.
#[derive(Debug)]
pub enum Outcome {
    /// Acked or skipped.
    Done(Entry),
    /// To be written to the parked stream; finish with [`GroupState::parked`].
    Park(Entry, String),
}

/// How a consumer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nack {
    Retry,
    Park,
    Skip,
}

struct InFlight {
    entry: Entry,
    consumer: ConsumerId,
    deadline: Instant,
}

/// A connected consumer's counters.
#[derive(Debug, Clone)]
pub struct ConsumerStats {
    pub id: ConsumerId,
    pub name: String,
    pub capacity: u32,
    pub in_flight: u32,
    pub delivered: u64,
    pub acked: u64,
    pub nacked: u64,
    pub connected_micros: i64,
}

/// Totals since the group started on this server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub delivered: u64,
    pub acked: u64,
    pub nacked: u64,
    pub parked: u64,
    pub redelivered: u64,
}

/// Why events wait, when they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Nothing is waiting.
    None,
    NoConsumers,
    ConsumersFull,
    PartitionsBlocked,
}

pub struct GroupState {
    settings: GroupSettings,
    consumers: Vec<ConsumerStats>,
    next_id: ConsumerId,
    rr: usize,
    ready: VecDeque<Entry>,
    partitions: HashMap<Arc<str>, VecDeque<Entry>>,
    busy: HashSet<Arc<str>>,
    runnable: VecDeque<Arc<str>>,
    pinned: HashMap<Arc<str>, ConsumerId>,
    in_flight: HashMap<Uuid, InFlight>,
    outstanding: BTreeMap<u64, u32>,
    read_through: u64,
    /// Events waiting (not handed out), and their data + metadata bytes.
    queued_events: usize,
    queued_bytes: usize,
    pub totals: Totals,
}

fn size(e: &Entry) -> usize {
    e.event.data.len() + e.event.metadata.len()
}

impl GroupState {
    /// A group whose checkpoint is `checkpoint` (everything up to it done).
    pub fn new(settings: GroupSettings, checkpoint: u64) -> GroupState {
        GroupState {
            settings,
            consumers: Vec::new(),
            next_id: 1,
            rr: 0,
            ready: VecDeque::new(),
            partitions: HashMap::new(),
            busy: HashSet::new(),
            runnable: VecDeque::new(),
            pinned: HashMap::new(),
            in_flight: HashMap::new(),
            outstanding: BTreeMap::new(),
            read_through: checkpoint,
            queued_events: 0,
            queued_bytes: 0,
            totals: Totals::default(),
        }
    }

    pub fn settings(&self) -> &GroupSettings {
        &self.settings
    }

    /// New settings for the next deliveries (in-flight events keep theirs).
    pub fn set_settings(&mut self, settings: GroupSettings) {
        let requeue = settings.strategy != self.settings.strategy;
        self.settings = settings;
        if requeue {
            // Move everything waiting into the new strategy's queues.
            let waiting: Vec<Entry> = self
                .ready
                .drain(..)
                .chain(self.partitions.drain().flat_map(|(_, q)| q))
                .collect();
            self.runnable.clear();
            self.queued_events = 0;
            self.queued_bytes = 0;
            for e in waiting {
                self.enqueue_back(e);
            }
        }
    }

    fn ordered(&self) -> bool {
        self.settings.strategy == Strategy::OrderedByStream
    }

    /// Everything at or below this key is done.
    pub fn checkpoint(&self) -> u64 {
        match self.outstanding.keys().next() {
            Some(k) => k.saturating_sub(1).min(self.read_through),
            None => self.read_through,
        }
    }

    /// The key of the last event the source handed over (or position it
    /// examined): where reading resumes.
    pub fn read_position(&self) -> u64 {
        self.read_through
    }

    /// The source examined everything up to `key` (matching or not).
    pub fn read_through(&mut self, key: u64) {
        self.read_through = self.read_through.max(key);
    }

    /// Events read but not handed out yet.
    pub fn queued(&self) -> usize {
        self.queued_events
    }

    /// Bytes of data + metadata of the events read but not handed out yet.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn consumers(&self) -> &[ConsumerStats] {
        &self.consumers
    }

    /// A new event from the source (its key above everything before it).
    pub fn push(&mut self, entry: Entry) {
        *self.outstanding.entry(entry.key).or_insert(0) += 1;
        self.read_through = self.read_through.max(entry.key);
        self.enqueue_back(entry);
    }

    /// A parked event to deliver again; it does not hold the checkpoint.
    pub fn push_replay(&mut self, entry: Entry) {
        self.enqueue_back(entry);
    }

    fn enqueue_back(&mut self, e: Entry) {
        self.queued_events += 1;
        self.queued_bytes += size(&e);
        if self.ordered() {
            let p = e.partition.clone();
            let q = self.partitions.entry(p.clone()).or_default();
            q.push_back(e);
            if q.len() == 1 && !self.busy.contains(&p) {
                self.runnable.push_back(p);
            }
        } else {
            self.ready.push_back(e);
        }
    }

    /// Puts an event back first in line (a retry).
    fn enqueue_front(&mut self, e: Entry) {
        self.queued_events += 1;
        self.queued_bytes += size(&e);
        if self.ordered() {
            let p = e.partition.clone();
            self.partitions.entry(p.clone()).or_default().push_front(e);
            self.busy.remove(&p);
            self.runnable.retain(|r| *r != p);
            self.runnable.push_front(p);
        } else {
            self.ready.push_front(e);
        }
    }

    /// The event's partition may hand out its next event.
    fn release(&mut self, partition: &Arc<str>) {
        if self.ordered() && self.busy.remove(partition) {
            if self
                .partitions
                .get(partition)
                .is_some_and(|q| !q.is_empty())
            {
                self.runnable.push_back(partition.clone());
            } else {
                self.partitions.remove(partition);
            }
        }
    }

    fn finish(&mut self, e: &Entry) {
        if e.replay.is_none() {
            if let Some(n) = self.outstanding.get_mut(&e.key) {
                *n -= 1;
                if *n == 0 {
                    self.outstanding.remove(&e.key);
                }
            }
        }
        self.release(&e.partition);
    }

    /// A consumer joins with room for `capacity` events in flight.
    pub fn join(&mut self, name: String, capacity: u32, now_micros: i64) -> ConsumerId {
        let id = self.next_id;
        self.next_id += 1;
        self.consumers.push(ConsumerStats {
            id,
            name,
            capacity: capacity.clamp(1, self.settings.max_in_flight),
            in_flight: 0,
            delivered: 0,
            acked: 0,
            nacked: 0,
            connected_micros: now_micros,
        });
        id
    }

    /// A consumer leaves: what it held goes to the others (a retry each).
    pub fn leave(&mut self, id: ConsumerId) -> Vec<Outcome> {
        self.consumers.retain(|c| c.id != id);
        self.pinned.retain(|_, c| *c != id);
        let held: Vec<Uuid> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.consumer == id)
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::new();
        for k in held {
            if let Some(f) = self.in_flight.remove(&k) {
                self.retry(f.entry, "its consumer disconnected", &mut out);
            }
        }
        out
    }

    /// Retries an event that came back, or parks it past the retry limit.
    fn retry(&mut self, mut e: Entry, why: &str, out: &mut Vec<Outcome>) {
        e.retry_count += 1;
        if e.retry_count > self.settings.max_retry_count {
            let reason = format!(
                "{why}; retried {} times (max_retry_count {})",
                e.retry_count - 1,
                self.settings.max_retry_count
            );
            // The partition stays blocked until the park is durable.
            out.push(Outcome::Park(e, reason));
        } else {
            self.totals.redelivered += 1;
            self.enqueue_front(e);
        }
    }

    fn take(&mut self, consumer: ConsumerId, id: &Uuid) -> Option<Entry> {
        if self
            .in_flight
            .get(id)
            .is_none_or(|f| f.consumer != consumer)
        {
            return None; // stale: it timed out and went elsewhere
        }
        let f = self.in_flight.remove(id)?;
        if let Some(c) = self.consumers.iter_mut().find(|c| c.id == consumer) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
        Some(f.entry)
    }

    /// Acks from `consumer`.
    pub fn ack(&mut self, consumer: ConsumerId, ids: &[Uuid]) -> Vec<Outcome> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(e) = self.take(consumer, id) {
                self.totals.acked += 1;
                if let Some(c) = self.consumers.iter_mut().find(|c| c.id == consumer) {
                    c.acked += 1;
                }
                self.finish(&e);
                out.push(Outcome::Done(e));
            }
        }
        out
    }

    /// Nacks from `consumer`.
    pub fn nack(
        &mut self,
        consumer: ConsumerId,
        ids: &[Uuid],
        action: Nack,
        reason: &str,
    ) -> Vec<Outcome> {
        let mut out = Vec::new();
        for id in ids {
            let Some(e) = self.take(consumer, id) else {
                continue;
            };
            self.totals.nacked += 1;
            if let Some(c) = self.consumers.iter_mut().find(|c| c.id == consumer) {
                c.nacked += 1;
            }
            match action {
                Nack::Retry => self.retry(e, &format!("nacked: {reason}"), &mut out),
                Nack::Park => out.push(Outcome::Park(
                    e,
                    format!("parked by its consumer: {reason}"),
                )),
                Nack::Skip => {
                    self.finish(&e);
                    out.push(Outcome::Done(e));
                }
            }
        }
        out
    }

    /// Events whose ack is overdue go back for a retry.
    pub fn expire(&mut self, now: Instant) -> Vec<Outcome> {
        let late: Vec<Uuid> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::new();
        for k in late {
            if let Some(f) = self.in_flight.remove(&k) {
                if let Some(c) = self.consumers.iter_mut().find(|c| c.id == f.consumer) {
                    c.in_flight = c.in_flight.saturating_sub(1);
                }
                self.retry(f.entry, "not acked within message_timeout_ms", &mut out);
            }
        }
        out
    }

    /// A park was written (`ok`) or failed (the event is retried as it was).
    pub fn parked(&mut self, e: Entry, ok: bool) {
        if ok {
            self.totals.parked += 1;
            self.finish(&e);
        } else {
            self.enqueue_front(e);
        }
    }

    /// The next consumer with room after the round-robin cursor.
    fn next_with_room(&mut self) -> Option<usize> {
        let n = self.consumers.len();
        if self.settings.strategy == Strategy::DispatchToSingle {
            return self.consumers.iter().position(|c| c.in_flight < c.capacity);
        }
        for i in 0..n {
            let at = (self.rr + i) % n;
            if self.consumers[at].in_flight < self.consumers[at].capacity {
                self.rr = (at + 1) % n;
                return Some(at);
            }
        }
        None
    }

    fn send(
        &mut self,
        at: usize,
        e: Entry,
        deadline: Instant,
        out: &mut HashMap<ConsumerId, Vec<Delivery>>,
    ) {
        self.queued_events -= 1;
        self.queued_bytes -= size(&e);
        let c = &mut self.consumers[at];
        c.in_flight += 1;
        c.delivered += 1;
        self.totals.delivered += 1;
        out.entry(c.id).or_default().push(Delivery {
            event: e.event.clone(),
            retry_count: e.retry_count,
            replayed: e.replay.is_some(),
        });
        let consumer = c.id;
        self.in_flight.insert(
            e.event.id,
            InFlight {
                entry: e,
                consumer,
                deadline,
            },
        );
    }

    /// Hands out what it can; the deliveries per consumer, in order.
    pub fn dispatch(&mut self, now: Instant) -> HashMap<ConsumerId, Vec<Delivery>> {
        let deadline = now + self.settings.message_timeout();
        let mut out: HashMap<ConsumerId, Vec<Delivery>> = HashMap::new();
        if self.consumers.is_empty() {
            return out;
        }
        match self.settings.strategy {
            Strategy::OrderedByStream => {
                while let Some(p) = self.runnable.pop_front() {
                    let Some(at) = self.next_with_room() else {
                        self.runnable.push_front(p);
                        break;
                    };
                    let Some(e) = self.partitions.get_mut(&p).and_then(VecDeque::pop_front) else {
                        self.partitions.remove(&p);
                        continue;
                    };
                    self.busy.insert(p);
                    self.send(at, e, deadline, &mut out);
                }
            }
            Strategy::Pinned => {
                let mut kept = VecDeque::new();
                let mut scanned = 0;
                while let Some(e) = self.ready.pop_front() {
                    scanned += 1;
                    let target = match self.pinned.get(&e.partition) {
                        Some(id) => self.consumers.iter().position(|c| c.id == *id),
                        None => {
                            let least = (0..self.consumers.len())
                                .min_by_key(|&i| (self.consumers[i].in_flight, i))
                                .expect("consumers is not empty");
                            self.pinned
                                .insert(e.partition.clone(), self.consumers[least].id);
                            Some(least)
                        }
                    };
                    match target {
                        Some(at)
                            if self.consumers[at].in_flight < self.consumers[at].capacity
                                && !self.in_flight.contains_key(&e.event.id) =>
                        {
                            self.send(at, e, deadline, &mut out)
                        }
                        _ => kept.push_back(e),
                    }
                    if scanned >= PINNED_SCAN_EVENTS
                        || self.consumers.iter().all(|c| c.in_flight >= c.capacity)
                    {
                        break;
                    }
                }
                kept.append(&mut self.ready);
                self.ready = kept;
            }
            Strategy::RoundRobin | Strategy::DispatchToSingle => {
                // A replayed event whose twin (parked twice) is still out
                // waits for it: one delivery per event id at a time.
                let mut twins = VecDeque::new();
                while !self.ready.is_empty() {
                    let Some(at) = self.next_with_room() else {
                        break;
                    };
                    let e = self.ready.pop_front().expect("not empty");
                    if self.in_flight.contains_key(&e.event.id) {
                        twins.push_back(e);
                        continue;
                    }
                    self.send(at, e, deadline, &mut out);
                }
                while let Some(e) = twins.pop_back() {
                    self.ready.push_front(e);
                }
            }
        }
        out
    }

    /// Why events wait, if they do.
    pub fn stall(&self) -> Stall {
        if self.queued() == 0 {
            return Stall::None;
        }
        if self.consumers.is_empty() {
            return Stall::NoConsumers;
        }
        if self.consumers.iter().all(|c| c.in_flight >= c.capacity) {
            return Stall::ConsumersFull;
        }
        if self.ordered() && self.runnable.is_empty() {
            return Stall::PartitionsBlocked;
        }
        Stall::None
    }
}

#[cfg(test)]
mod tests;
