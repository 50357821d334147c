//! How events are cut into messages, and how many events to ask the store
//! for at a time, shared by reads and subscriptions.
//!
//! A *message* is the unit a read or subscription hands to its adapter,
//! which sends each as one response message on its wire; bounding it here
//! bounds what every adapter buffers per client.
//!
//! Storage reads are bounded by event *count* only, so a fixed count could
//! pull hundreds of MiB when events are large. [`PageSizer`] adapts the
//! count so that one storage page is about [`TARGET_MESSAGE_BYTES`], and
//! [`into_messages`] cuts pages into messages of at most
//! [`MAX_EVENTS_PER_MESSAGE`] events and about `TARGET_MESSAGE_BYTES`
//! (a single event larger than that travels alone).
//!
//! Not here: any I/O or channel handling, or the wire encoding.

use strata_storage::RecordedEvent;

/// Most events in one message (in strata.v1, a `ReadResponse` / `Events`).
pub const MAX_EVENTS_PER_MESSAGE: usize = 512;
/// Size one message aims at, in bytes (1 MiB); a message holds at least
/// one event, so one holding a maximal event can reach about 2 MiB.
pub const TARGET_MESSAGE_BYTES: usize = 1024 * 1024;
/// Events asked for in the first storage page of a read or subscription,
/// before the sizes of real events are known (bounds the first page to
/// 32 maximal events).
pub const FIRST_PAGE_EVENTS: usize = 32;

/// Picks how many events to ask the store for next.
#[derive(Debug, Clone)]
pub struct PageSizer {
    next: usize,
}

impl Default for PageSizer {
    fn default() -> Self {
        PageSizer {
            next: FIRST_PAGE_EVENTS,
        }
    }
}

impl PageSizer {
    /// Events to ask for now.
    pub fn next(&self) -> usize {
        self.next
    }

    /// Learns from a page just read: aim the next at `TARGET_MESSAGE_BYTES`.
    pub fn observe(&mut self, events: &[RecordedEvent]) {
        if events.is_empty() {
            return;
        }
        let bytes: usize = events.iter().map(approx_event_bytes).sum();
        let avg = (bytes / events.len()).max(1);
        self.next = (TARGET_MESSAGE_BYTES / avg).clamp(1, MAX_EVENTS_PER_MESSAGE);
    }
}

/// Approximate encoded size of an event in a message, in bytes.
pub fn approx_event_bytes(e: &RecordedEvent) -> usize {
    // Fixed part: id (36), three varints, tags and length prefixes.
    64 + e.stream.len()
        + e.event_type.len()
        + e.content_type.len()
        + e.data.len()
        + e.metadata.len()
}

/// Cuts events (in read order) into message-sized groups.
pub fn into_messages(events: Vec<RecordedEvent>) -> Vec<Vec<RecordedEvent>> {
    let mut out = Vec::new();
    let mut cur: Vec<RecordedEvent> = Vec::new();
    let mut cur_bytes = 0usize;
    for e in events {
        let size = approx_event_bytes(&e);
        if !cur.is_empty()
            && (cur.len() >= MAX_EVENTS_PER_MESSAGE || cur_bytes + size > TARGET_MESSAGE_BYTES)
        {
            out.push(std::mem::take(&mut cur));
            cur_bytes = 0;
        }
        cur_bytes += size;
        cur.push(e);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(pos: u64, data_len: usize) -> RecordedEvent {
        RecordedEvent {
            stream: "s".into(),
            revision: pos,
            position: pos,
            id: uuid::Uuid::new_v4(),
            event_type: "T".into(),
            content_type: "c".into(),
            created_micros: 0,
            data: vec![0; data_len],
            metadata: vec![],
        }
    }

    #[test]
    fn cuts_by_count_and_bytes() {
        let small: Vec<_> = (1..=1100).map(|p| ev(p, 1)).collect();
        let msgs = into_messages(small);
        assert_eq!(
            msgs.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![512, 512, 76]
        );
        let big: Vec<_> = (1..=3).map(|p| ev(p, 600 * 1024)).collect();
        assert_eq!(into_messages(big).len(), 3);
        let huge = vec![ev(1, 2 * 1024 * 1024)];
        assert_eq!(into_messages(huge).len(), 1);
    }

    #[test]
    fn sizer_adapts() {
        let mut s = PageSizer::default();
        assert_eq!(s.next(), FIRST_PAGE_EVENTS);
        s.observe(&[ev(1, 1)]);
        assert_eq!(s.next(), MAX_EVENTS_PER_MESSAGE);
        s.observe(&[ev(1, 512 * 1024)]);
        assert_eq!(s.next(), 1);
    }
}
