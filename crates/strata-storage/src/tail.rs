//! The in-memory tail: events that are committed (durable) but not yet in
//! the sled index. Reads consult it first, then sled.
//!
//! Invariant: together with sled it covers every committed event. The
//! indexer writes a range to sled *before* pruning it here, so a reader that
//! misses in the tail always finds the event in sled.

use crate::types::{Position, Revision};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// One committed, unindexed event.
#[derive(Debug, Clone)]
pub(crate) struct TailEntry {
    pub stream: Arc<str>,
    /// For `$all` reads through the secondary indexes, which take what is
    /// not yet indexed from here.
    pub event_type: Arc<str>,
    pub revision: Revision,
}

#[derive(Debug, Default)]
struct TailStream {
    first_rev: Revision,
    /// Positions of revisions `first_rev..`.
    revs: VecDeque<Position>,
}

#[derive(Debug)]
pub(crate) struct Tail {
    /// Position of `entries[0]`.
    first: Position,
    entries: VecDeque<TailEntry>,
    streams: HashMap<Arc<str>, TailStream>,
}

impl Tail {
    /// An empty tail whose next event will be `next`.
    pub(crate) fn new(next: Position) -> Tail {
        Tail {
            first: next,
            entries: VecDeque::new(),
            streams: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// First position held, or the next position to come when empty:
    /// every position before it is in sled.
    pub(crate) fn first(&self) -> Position {
        self.first
    }

    /// The entries at positions `lo..=hi` held here, in position order.
    pub(crate) fn range(
        &self,
        lo: Position,
        hi: Position,
    ) -> impl DoubleEndedIterator<Item = (Position, &TailEntry)> {
        let end = self.first + self.entries.len() as u64;
        let lo = lo.clamp(self.first, end);
        let hi = hi.saturating_add(1).min(end).max(lo);
        let skip = (lo - self.first) as usize;
        let take = (hi - lo) as usize;
        self.entries
            .range(skip..skip + take)
            .enumerate()
            .map(move |(i, e)| (lo + i as u64, e))
    }

    /// Appends the entry for position `first + len`.
    pub(crate) fn push(&mut self, pos: Position, e: TailEntry) {
        debug_assert_eq!(pos, self.first + self.entries.len() as u64);
        let s = self
            .streams
            .entry(e.stream.clone())
            .or_insert_with(|| TailStream {
                first_rev: e.revision,
                revs: VecDeque::new(),
            });
        debug_assert_eq!(s.first_rev + s.revs.len() as u64, e.revision);
        s.revs.push_back(pos);
        self.entries.push_back(e);
    }

    /// Entries from position `from` (at most `max`), for the indexer.
    pub(crate) fn slice(&self, from: Position, max: usize) -> Vec<(Position, TailEntry)> {
        if from < self.first {
            return Vec::new();
        }
        let skip = (from - self.first) as usize;
        self.entries
            .iter()
            .skip(skip)
            .take(max)
            .enumerate()
            .map(|(i, e)| (from + i as u64, e.clone()))
            .collect()
    }

    /// Drops everything up to and including `through` (now in sled).
    pub(crate) fn prune_through(&mut self, through: Position) {
        while self.first <= through {
            let Some(e) = self.entries.pop_front() else {
                self.first = through + 1;
                break;
            };
            self.first += 1;
            if let Some(s) = self.streams.get_mut(&e.stream) {
                s.revs.pop_front();
                s.first_rev += 1;
                if s.revs.is_empty() {
                    self.streams.remove(&e.stream);
                }
            }
        }
    }

    /// Last revision and position of a stream's events held here.
    pub(crate) fn stream_head(&self, stream: &str) -> Option<(Revision, Position)> {
        let s = self.streams.get(stream)?;
        let pos = *s.revs.back()?;
        Some((s.first_rev + s.revs.len() as u64 - 1, pos))
    }

    /// First revision of the stream held here.
    pub(crate) fn stream_first_rev(&self, stream: &str) -> Option<Revision> {
        self.streams.get(stream).map(|s| s.first_rev)
    }

    /// Position of one revision, if held here.
    pub(crate) fn stream_rev(&self, stream: &str, rev: Revision) -> Option<Position> {
        let s = self.streams.get(stream)?;
        if rev < s.first_rev {
            return None;
        }
        s.revs.get((rev - s.first_rev) as usize).copied()
    }

    /// Streams held here whose names start with `prefix`, with head info.
    pub(crate) fn streams_with_prefix(&self, prefix: &str) -> Vec<(String, Revision, Position)> {
        self.streams
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, s)| {
                s.revs
                    .back()
                    .map(|p| (k.to_string(), s.first_rev + s.revs.len() as u64 - 1, *p))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(stream: &str, rev: u64) -> TailEntry {
        TailEntry {
            stream: Arc::from(stream),
            event_type: Arc::from("T"),
            revision: rev,
        }
    }

    #[test]
    fn push_lookup_prune() {
        let mut t = Tail::new(10);
        t.push(10, e("a", 0));
        t.push(11, e("b", 5));
        t.push(12, e("a", 1));
        assert_eq!(t.stream_head("a"), Some((1, 12)));
        assert_eq!(t.stream_rev("b", 5), Some(11));
        let at = |lo, hi| t.range(lo, hi).map(|(p, _)| p).collect::<Vec<_>>();
        assert_eq!(at(0, 100), [10, 11, 12]);
        assert_eq!(at(11, 11), [11]);
        assert_eq!(at(12, 11), Vec::<u64>::new());
        assert_eq!(at(13, 100), Vec::<u64>::new());
        assert_eq!(
            t.range(0, 11).rev().map(|(p, _)| p).collect::<Vec<_>>(),
            [11, 10]
        );
        t.prune_through(11);
        assert_eq!(t.first(), 12);
        assert_eq!(t.stream_head("b"), None);
        assert_eq!(t.stream_head("a"), Some((1, 12)));
        assert_eq!(t.stream_rev("a", 0), None);
        t.prune_through(12);
        assert_eq!(t.len(), 0);
        assert_eq!(t.first(), 13);
    }
}
