//! Ack batching for a group consumer: the rule that decides when the acks a
//! consumer has made are sent to the server, so that acking tens of
//! thousands of events a second costs a few hundred messages, not one each.
//!
//! Pure bookkeeping (no I/O, the clock passed in) so the rule is tested on
//! its own; the consumer's task (`persistent.rs`) asks it what to send and
//! when.
//!
//! The rule: pending acks go out as one message when
//! 1. [`ACK_BATCH_MAX_IDS`] ids are pending, or
//! 2. the consumer has settled (acked or nacked) every event the server
//!    delivered on this connection — holding the acks back then would only
//!    stall it, since the server sends more only as acks free room in the
//!    consumer's buffer, or
//! 3. [`ACK_FLUSH_INTERVAL`] has passed since the oldest pending ack.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

/// Most event ids in one ack message (about 38 KB on the wire).
pub const ACK_BATCH_MAX_IDS: usize = 1_000;

/// Longest an ack waits to be batched with others before it is sent.
pub const ACK_FLUSH_INTERVAL: Duration = Duration::from_millis(5);

/// The acks not yet sent, and the events delivered on this connection that
/// the consumer has not settled yet.
#[derive(Debug, Default)]
pub(crate) struct AckBatch {
    pending: Vec<Uuid>,
    /// When the oldest pending ack was made.
    since: Option<Instant>,
    /// Delivered and not yet acked or nacked, by id (an event can be
    /// delivered twice to one consumer: redelivered after a timeout).
    unsettled: HashMap<Uuid, u32>,
}

impl AckBatch {
    /// The server delivered `id`.
    pub(crate) fn delivered(&mut self, id: Uuid) {
        *self.unsettled.entry(id).or_default() += 1;
    }

    /// The consumer settled `id` (one delivery of it) otherwise than by an
    /// ack: a nack, or the delivery was dropped before the consumer saw it.
    pub(crate) fn settled(&mut self, id: Uuid) {
        if let Some(n) = self.unsettled.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                self.unsettled.remove(&id);
            }
        }
    }

    /// The consumer acked `id` at `now`.
    pub(crate) fn ack(&mut self, id: Uuid, now: Instant) {
        self.settled(id);
        self.pending.push(id);
        self.since.get_or_insert(now);
    }

    /// Whether the pending acks should go out now (rules 1 and 2; rule 3 is
    /// [`Self::deadline`]).
    pub(crate) fn full_or_idle(&self) -> bool {
        !self.pending.is_empty()
            && (self.pending.len() >= ACK_BATCH_MAX_IDS || self.unsettled.is_empty())
    }

    /// When the pending acks must go out at the latest; `None` when none
    /// are pending.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.since.map(|t| t + ACK_FLUSH_INTERVAL)
    }

    /// Takes up to [`ACK_BATCH_MAX_IDS`] pending acks, oldest first, for one
    /// message; empty when none are pending.
    pub(crate) fn take(&mut self, now: Instant) -> Vec<Uuid> {
        let n = self.pending.len().min(ACK_BATCH_MAX_IDS);
        let batch: Vec<Uuid> = self.pending.drain(..n).collect();
        // What remains was acked after the batch was full: it waits anew.
        self.since = (!self.pending.is_empty()).then_some(now);
        batch
    }

    /// Whether acks are pending.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::new_v4()).collect()
    }

    #[test]
    fn acks_wait_while_events_are_unsettled() {
        let now = Instant::now();
        let mut b = AckBatch::default();
        let evs = ids(3);
        evs.iter().for_each(|id| b.delivered(*id));
        assert_eq!(b.deadline(), None);
        assert!(!b.full_or_idle());

        b.ack(evs[0], now);
        b.ack(evs[1], now + Duration::from_millis(1));
        assert!(!b.full_or_idle(), "one event is still being handled");
        assert_eq!(b.deadline(), Some(now + ACK_FLUSH_INTERVAL));

        // Settling the last one (a nack here) sends the acks at once.
        b.settled(evs[2]);
        assert!(b.full_or_idle());
        assert_eq!(b.take(now), evs[..2]);
        assert!(!b.has_pending() && b.deadline().is_none());
        assert!(!b.full_or_idle());
        assert!(b.take(now).is_empty());
    }

    #[test]
    fn a_full_batch_goes_at_once_and_the_rest_waits_anew() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(2);
        let mut b = AckBatch::default();
        let evs = ids(ACK_BATCH_MAX_IDS + 10);
        evs.iter().for_each(|id| b.delivered(*id));
        b.delivered(Uuid::new_v4()); // keeps the consumer busy
        for id in &evs[..ACK_BATCH_MAX_IDS - 1] {
            b.ack(*id, t0);
        }
        assert!(!b.full_or_idle());
        for id in &evs[ACK_BATCH_MAX_IDS - 1..] {
            b.ack(*id, t0);
        }
        assert!(b.full_or_idle());
        let first = b.take(t1);
        assert_eq!(first, evs[..ACK_BATCH_MAX_IDS]);
        assert!(!b.full_or_idle());
        assert_eq!(b.deadline(), Some(t1 + ACK_FLUSH_INTERVAL));
        assert_eq!(b.take(t1), evs[ACK_BATCH_MAX_IDS..]);
    }

    #[test]
    fn fifty_thousand_acks_make_few_messages() {
        // A consumer that keeps 64 events in hand and acks them one by one,
        // one every 20 µs (50,000/s): the server refills its buffer as acks
        // arrive, so the consumer is never idle.
        let start = Instant::now();
        let mut b = AckBatch::default();
        let mut hand: std::collections::VecDeque<Uuid> = ids(64).into();
        hand.iter().for_each(|id| b.delivered(*id));
        let (mut messages, mut acked) = (0, 0);
        for i in 0..50_000u32 {
            let now = start + Duration::from_micros(20 * u64::from(i));
            let id = hand.pop_front().unwrap();
            b.ack(id, now);
            let fresh = Uuid::new_v4();
            b.delivered(fresh);
            hand.push_back(fresh);
            if b.full_or_idle() || b.deadline().is_some_and(|d| d <= now) {
                acked += b.take(now).len();
                messages += 1;
            }
        }
        acked += b.take(start).len();
        assert_eq!(acked, 50_000);
        // One message per flush interval of one second of acks.
        assert!(messages <= 210, "{messages} messages");
    }

    #[test]
    fn double_deliveries_and_unknown_ids() {
        let now = Instant::now();
        let mut b = AckBatch::default();
        let id = Uuid::new_v4();
        b.delivered(id);
        b.delivered(id);
        b.ack(id, now);
        assert!(!b.full_or_idle(), "the second delivery is still in hand");
        b.ack(id, now);
        assert!(b.full_or_idle());
        assert_eq!(b.take(now), [id, id]);
        // Settling what was never delivered changes nothing.
        b.settled(Uuid::new_v4());
        b.ack(Uuid::new_v4(), now);
        assert!(b.full_or_idle());
    }
}
