//! The live feed: the most recent committed events, read from the log once
//! and shared by every caught-up subscription.
//!
//! Without it, each commit woke every subscription to read the same new
//! events from storage on the blocking pool: with 100 subscribers at 1,000
//! appends/s that is 100,000 storage reads a second. Here one feeder task
//! reads each new event once into a bounded ring; subscriptions whose cursor
//! is inside the ring take their events from it, and any that fall behind
//! the ring's start read from storage as before. So the ring is an
//! optimisation only: what a subscription delivers is still exactly the log,
//! in order, whichever path served it.
//!
//! The ring holds the log as stored (`Store::read_log`): system records and
//! records that lifecycle rules hide included, so that a stream deleted
//! after its events were fed is judged when they are served, not when they
//! were read. Subscriptions apply their filter and `Store::visibility` to
//! what they take. Positions in the ring may have gaps (records a scavenge
//! dropped before they were fed); the ring knows the last position it has
//! examined.
//!
//! It is not a per-subscriber buffer: there is one ring per server, bounded
//! by [`LIVE_RING_EVENTS`] and [`LIVE_RING_BYTES`].

use super::blocking;
use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use strata_storage::{RecordedEvent, Store};
use tokio::sync::watch;

/// Most events the live ring holds: 4,096 covers the ~20 ms a caught-up
/// subscriber may lag many times over at the write rates measured here
/// (BENCHMARKS.md), and one behind it reads from the log, as catching up
/// does. At 16,384 the ring was the largest heap item at 64 clients
/// (16.8 MiB of 1 KiB events; "Where the memory goes").
pub const LIVE_RING_EVENTS: usize = 4_096;
/// Most bytes of event data + metadata the live ring holds (8 MiB).
pub const LIVE_RING_BYTES: usize = 8 * 1024 * 1024;
/// Events the feeder reads per storage call.
const FEED_PAGE_EVENTS: usize = 4_096;

#[derive(Debug)]
struct Ring {
    /// Every position from here to `fed` was examined and its record (if
    /// it had one) is in `events`.
    start: u64,
    /// The last position examined.
    fed: u64,
    /// Records in position order.
    events: VecDeque<Arc<RecordedEvent>>,
    bytes: usize,
}

/// What a subscription takes from the ring.
#[derive(Debug)]
pub struct Recent {
    /// Records after the asked position, in order (at most the asked number).
    pub events: Vec<Arc<RecordedEvent>>,
    /// Every position up to here was examined (the last record's position,
    /// or the ring's end when the batch reached it).
    pub through: u64,
}

/// The shared ring of recent events and the position it is filled to.
#[derive(Debug)]
pub struct LiveFeed {
    ring: RwLock<Ring>,
    fed: watch::Sender<u64>,
}

fn size(e: &RecordedEvent) -> usize {
    e.data.len() + e.metadata.len() + e.stream.len() + e.event_type.len() + 64
}

impl LiveFeed {
    /// Starts the feeder, following `head` from the current head on, until
    /// `shutdown` turns true.
    pub fn start(
        store: Store,
        mut head: watch::Receiver<u64>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Arc<LiveFeed> {
        let start = store.head();
        let feed = Arc::new(LiveFeed {
            ring: RwLock::new(Ring {
                start: start + 1,
                fed: start,
                events: VecDeque::new(),
                bytes: 0,
            }),
            fed: watch::channel(start).0,
        });
        let f = feed.clone();
        tokio::spawn(async move {
            let mut fed = start;
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.wait_for(|s| *s) => return,
                    r = head.wait_for(|h| *h > fed) => if r.is_err() { return },
                }
                let s = store.clone();
                let from = fed + 1;
                let page = match blocking(move || s.read_log(from, FEED_PAGE_EVENTS)).await {
                    Ok(p) => p,
                    Err(e) => {
                        // Subscriptions fall back to storage reads; try again shortly.
                        tracing::warn!(error = %e, "live feed read failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if page.scanned_to <= fed {
                    continue;
                }
                fed = page.scanned_to;
                f.push(page.events, fed);
                f.fed.send_replace(fed);
            }
        });
        feed
    }

    fn push(&self, events: Vec<RecordedEvent>, fed: u64) {
        let mut r = self.ring.write().unwrap_or_else(|p| p.into_inner());
        for e in events {
            r.bytes += size(&e);
            r.events.push_back(Arc::new(e));
        }
        r.fed = fed;
        while r.events.len() > LIVE_RING_EVENTS || (r.bytes > LIVE_RING_BYTES && r.events.len() > 1)
        {
            if let Some(old) = r.events.pop_front() {
                r.bytes -= size(&old);
                r.start = old.position + 1;
            }
        }
    }

    /// A receiver of the position the ring is filled to.
    pub fn fed(&self) -> watch::Receiver<u64> {
        self.fed.subscribe()
    }

    /// Records with positions after `after`, at most `max`, if the ring
    /// covers position `after + 1` (or it is the next to come); `None` means
    /// the caller is behind the ring and must read from storage.
    pub fn after(&self, after: u64, max: usize) -> Option<Recent> {
        let r = self.ring.read().unwrap_or_else(|p| p.into_inner());
        if after + 1 < r.start || after > r.fed {
            return None;
        }
        let i = r.events.partition_point(|e| e.position <= after);
        let events: Vec<_> = r.events.iter().skip(i).take(max).cloned().collect();
        let through = if i + events.len() == r.events.len() {
            r.fed
        } else {
            events.last().map_or(after, |e| e.position)
        };
        Some(Recent { events, through })
    }
}
