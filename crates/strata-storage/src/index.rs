//! The stream index, kept in sled. Derived data: it can be deleted and is
//! rebuilt from the log on the next open. Everything sled-specific lives in
//! this file and `secondary` so the index could be replaced.
//!
//! Trees (keys big-endian so byte order is numeric order, values little-endian):
//! - default: `"indexed_through"` → u64 position, everything ≤ it is indexed;
//!   `"format"` → u64 [`INDEX_FORMAT`] (another value: the index is rebuilt);
//!   `"category_separator"` → the UTF-8 bytes of the separator the
//!   categories were built with (kept when `Options::category_separator` is
//!   `None`; another one given: the index is rebuilt).
//! - `streams`: name → last revision u64 | last position u64.
//! - `revs`:    name | 0x00 | revision u64 BE → position u64, only for
//!   revisions that are multiples of [`STREAM_SPARSE_INTERVAL_REVISIONS`];
//!   the revisions between are found through each record's link to the
//!   stream's previous event. This keeps sled writes to about one per stream
//!   touched per batch instead of one per event (sled manages ~50-100k
//!   inserts/s on two cores, below the log's append rate).
//! - `secondary`: positions by event type and by category, in blocks
//!   (`secondary`, which has its layout).
//!
//! The index holds positions, never byte offsets (`posmap` resolves those),
//! so a scavenge's rewrite of a segment leaves it valid; the scavenge only
//! removes the entries of the events it drops.
//!
//! Writes come in batches from the indexer after events are durable; sled
//! keeps the order of its writes, so `indexed_through` (written last) never
//! runs ahead of the data it vouches for. sled flushes on its own schedule;
//! on a crash the next open re-indexes from `indexed_through`, and the
//! writes are idempotent.

use crate::error::Result;
use crate::limits::{
    DEFAULT_CATEGORY_SEPARATOR, INDEX_FLUSH_EVERY, INDEX_LOCK_WAIT,
    STREAM_SPARSE_INTERVAL_REVISIONS,
};
use crate::secondary::{Grouped, Held, Secondary};
use crate::types::{Position, Revision};
use std::collections::HashMap;
use std::path::Path;

const INDEXED_THROUGH: &[u8] = b"indexed_through";
const FORMAT: &[u8] = b"format";
const CATEGORY_SEPARATOR: &[u8] = b"category_separator";
/// The layout described above; an index of another format is rebuilt
/// (3: the `secondary` tree of event types and categories was added).
const INDEX_FORMAT: u64 = 3;

impl From<sled::Error> for crate::error::Error {
    fn from(e: sled::Error) -> Self {
        crate::error::Error::Index(crate::error::IndexError(Box::new(e)))
    }
}

/// One event as the index records it.
#[derive(Debug, Clone)]
pub(crate) struct IndexEntry<'a> {
    pub stream: &'a str,
    pub event_type: &'a str,
    pub revision: Revision,
    pub position: Position,
}

#[derive(Debug, Clone)]
pub(crate) struct Index {
    db: sled::Db,
    streams: sled::Tree,
    revs: sled::Tree,
    secondary: Secondary,
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn rev_key(stream: &str, rev: Revision) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 9);
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k.extend_from_slice(&rev.to_be_bytes());
    k
}

fn head_value(rev: Revision, pos: Position) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[0..8].copy_from_slice(&rev.to_le_bytes());
    v[8..16].copy_from_slice(&pos.to_le_bytes());
    v
}

/// The separator recorded in `db`, if one is and it is one character.
fn stored_separator(db: &sled::Db) -> sled::Result<Option<char>> {
    Ok(db.get(CATEGORY_SEPARATOR)?.and_then(|v| {
        let s = std::str::from_utf8(&v).ok()?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        }
    }))
}

/// Opens sled, with a page cache of `cache_bytes`, and the index's trees;
/// categories split names at `separator`, or at the recorded one when it
/// is `None`.
fn open_sled(path: &Path, separator: Option<char>, cache_bytes: u64) -> sled::Result<Index> {
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .flush_every_ms(Some(INDEX_FLUSH_EVERY.as_millis() as u64))
        .open()?;
    let separator = match separator {
        Some(s) => s,
        None => stored_separator(&db)?.unwrap_or(DEFAULT_CATEGORY_SEPARATOR),
    };
    Ok(Index {
        streams: db.open_tree("streams")?,
        revs: db.open_tree("revs")?,
        secondary: Secondary::new(db.open_tree("secondary")?, separator),
        db,
    })
}

/// [`open_sled`], waiting up to [`INDEX_LOCK_WAIT`] while sled's lock on
/// the directory is still held (a store of this process just closed: its
/// threads drop the index a moment after `close` returns).
fn open_sled_waiting(
    path: &Path,
    separator: Option<char>,
    cache_bytes: u64,
) -> sled::Result<Index> {
    let deadline = std::time::Instant::now() + INDEX_LOCK_WAIT;
    loop {
        match open_sled(path, separator, cache_bytes) {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

impl Index {
    /// Opens the index in `path`, whose categories split stream names at
    /// `separator` (`None`: the one the index was built with, or
    /// [`DEFAULT_CATEGORY_SEPARATOR`] for a new index), with a page cache
    /// of `cache_bytes` (`Options::index_cache_bytes`).
    pub(crate) fn open(path: &Path, separator: Option<char>, cache_bytes: u64) -> Result<Index> {
        let index = match open_sled_waiting(path, separator, cache_bytes) {
            Ok(index) => index,
            // sled writes some files (its `conf`) without fsync, so a power
            // cut can leave an index that does not open. It is derived:
            // start it again, and the open re-indexes the whole log.
            Err(sled::Error::Corruption { .. }) => {
                tracing::warn!(
                    path = %path.display(),
                    "the index is damaged (a power cut?); rebuilding it from the log"
                );
                std::fs::remove_dir_all(path)?;
                open_sled(path, separator, cache_bytes)?
            }
            Err(e) => return Err(e.into()),
        };
        let format = index
            .db
            .get(FORMAT)?
            .filter(|v| v.len() == 8)
            .map(|v| u64_le(&v, 0));
        if format != Some(INDEX_FORMAT) {
            if format.is_some() || !index.streams.is_empty() {
                tracing::warn!(?format, "index has another format; rebuilding it");
            }
            index.clear()?;
            index.db.insert(FORMAT, &INDEX_FORMAT.to_le_bytes()[..])?;
            index.db.flush()?;
        }
        let separator = index.secondary.separator();
        let mut sep = [0u8; 4];
        let sep = separator.encode_utf8(&mut sep).as_bytes();
        let stored = index.db.get(CATEGORY_SEPARATOR)?;
        if stored.as_deref() != Some(sep) {
            // Categories built with another separator are wrong: rebuild
            // (everything: one catch-up pass rebuilds all trees).
            if stored.is_some() || !index.secondary.is_empty() {
                tracing::warn!(
                    separator = %separator,
                    "the category separator changed; rebuilding the index"
                );
            }
            index.clear()?;
            index.db.insert(CATEGORY_SEPARATOR, sep)?;
            index.db.flush()?;
        }
        Ok(index)
    }

    pub(crate) fn indexed_through(&self) -> Result<Position> {
        Ok(self
            .db
            .get(INDEXED_THROUGH)?
            .map(|v| u64_le(&v, 0))
            .unwrap_or(0))
    }

    /// Drops everything (the log is the truth; used when the index is ahead of it).
    pub(crate) fn clear(&self) -> Result<()> {
        self.streams.clear()?;
        self.revs.clear()?;
        self.secondary.clear()?;
        self.db.remove(INDEXED_THROUGH)?;
        self.db.flush()?;
        Ok(())
    }

    /// The event-type and category indexes.
    pub(crate) fn secondary(&self) -> &Secondary {
        &self.secondary
    }

    /// Writes a batch of consecutive events ending at `through`; the
    /// caller holds the secondary indexes' lock.
    pub(crate) fn apply(
        &self,
        held: &Held<'_>,
        entries: &[IndexEntry<'_>],
        through: Position,
    ) -> Result<()> {
        self.secondary.apply(held, entries)?;
        let mut revs = sled::Batch::default();
        let mut heads: HashMap<&str, (Revision, Position)> = HashMap::new();
        for e in entries {
            if e.revision % STREAM_SPARSE_INTERVAL_REVISIONS == 0 {
                revs.insert(rev_key(e.stream, e.revision), &e.position.to_le_bytes()[..]);
            }
            heads.insert(e.stream, (e.revision, e.position));
        }
        let mut streams = sled::Batch::default();
        for (name, (rev, pos)) in heads {
            streams.insert(name.as_bytes(), &head_value(rev, pos)[..]);
        }
        self.revs.apply_batch(revs)?;
        self.streams.apply_batch(streams)?;
        self.db
            .insert(INDEXED_THROUGH, &through.to_le_bytes()[..])?;
        Ok(())
    }

    /// Removes the entries of events a scavenge drops: sparse revisions,
    /// the heads of streams none of whose events is kept, and the dropped
    /// positions of the secondary indexes.
    pub(crate) fn forget(
        &self,
        revisions: &[(&str, Revision)],
        heads: &[&str],
        dropped: Grouped,
    ) -> Result<()> {
        self.secondary.forget(dropped)?;
        let mut revs = sled::Batch::default();
        for (stream, rev) in revisions {
            if rev % STREAM_SPARSE_INTERVAL_REVISIONS == 0 {
                revs.remove(rev_key(stream, *rev));
            }
        }
        let mut streams = sled::Batch::default();
        for name in heads {
            streams.remove(name.as_bytes());
        }
        self.revs.apply_batch(revs)?;
        self.streams.apply_batch(streams)?;
        self.db.flush()?;
        Ok(())
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Last revision and position of a stream.
    pub(crate) fn stream_head(&self, stream: &str) -> Result<Option<(Revision, Position)>> {
        Ok(self
            .streams
            .get(stream.as_bytes())?
            .map(|v| (u64_le(&v, 0), u64_le(&v, 8))))
    }

    /// Position of a sparse revision (a multiple of
    /// [`STREAM_SPARSE_INTERVAL_REVISIONS`]) of a stream, if indexed.
    pub(crate) fn stream_sparse_rev(
        &self,
        stream: &str,
        rev: Revision,
    ) -> Result<Option<Position>> {
        Ok(self.revs.get(rev_key(stream, rev))?.map(|v| u64_le(&v, 0)))
    }

    /// Streams whose name starts with `prefix` and sorts after `after`.
    pub(crate) fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Revision, Position)>> {
        let mut out = Vec::new();
        let start = match after {
            Some(a) if a.as_bytes() >= prefix.as_bytes() => {
                let mut start = a.as_bytes().to_vec();
                start.push(0);
                start
            }
            _ => prefix.as_bytes().to_vec(),
        };
        for r in self.streams.range(start..) {
            let (k, v) = r?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            let name = String::from_utf8_lossy(&k).into_owned();
            out.push((name, u64_le(&v, 0), u64_le(&v, 8)));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Number of streams indexed (walks the tree; for stats only).
    pub(crate) fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Bytes sled uses on disk.
    pub(crate) fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Moves `indexed_through` back, as a crash before sled flushed it
    /// would have left it (tests).
    #[cfg(test)]
    pub(crate) fn set_indexed_through(&self, p: Position) -> Result<()> {
        self.db.insert(INDEXED_THROUGH, &p.to_le_bytes()[..])?;
        self.db.flush()?;
        Ok(())
    }

    /// Every entry of every tree, for comparing two indexes in tests.
    #[cfg(test)]
    pub(crate) fn dump(&self) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for (name, t) in [("streams", &self.streams), ("revs", &self.revs)] {
            for r in t.iter() {
                let (k, v) = r.unwrap();
                out.push((name.to_string(), k.to_vec(), v.to_vec()));
            }
        }
        for (k, v) in self.secondary.dump() {
            out.push(("secondary".to_string(), k, v));
        }
        out
    }
}
