//! The stream index, kept in sled. Derived data: it can be deleted and is
//! rebuilt from the log on the next open. Everything sled-specific lives in
//! this file so the index could be replaced.
//!
//! Trees (keys big-endian so byte order is numeric order, values little-endian):
//! - `meta`:    `"indexed_through"` → u64 position; everything ≤ it is indexed.
//! - `streams`: name → last revision u64 | last position u64 | segment u64 | offset u32.
//! - `revs`:    name | 0x00 | revision u64 BE → position u64 | segment u64 | offset u32,
//!   only for revisions that are multiples of [`STREAM_SPARSE_INTERVAL_REVISIONS`];
//!   the revisions between are found through each record's link to the
//!   stream's previous event. This keeps sled writes to about one per stream
//!   touched per batch instead of one per event (sled manages ~50-100k
//!   inserts/s on two cores, below the log's append rate).
//! - `sparse`:  position u64 BE → segment u64 | offset u32 | created_micros i64,
//!   every [`SPARSE_INDEX_INTERVAL_EVENTS`] positions and at each segment's start.
//!
//! Writes come in batches from the indexer after events are durable; sled
//! keeps the order of its writes, so `indexed_through` (written last) never
//! runs ahead of the data it vouches for. sled flushes on its own schedule (every second);
//! on a crash the next open re-indexes from `indexed_through`, and the writes
//! are idempotent.

use crate::error::Result;
use crate::limits::{
    INDEX_CACHE_BYTES, INDEX_FLUSH_EVERY, SPARSE_INDEX_INTERVAL_EVENTS,
    STREAM_SPARSE_INTERVAL_REVISIONS,
};
use crate::tail::Loc;
use crate::types::{Position, Revision};
use std::path::Path;

const INDEXED_THROUGH: &[u8] = b"indexed_through";

impl From<sled::Error> for crate::error::Error {
    fn from(e: sled::Error) -> Self {
        crate::error::Error::Index(crate::error::IndexError(Box::new(e)))
    }
}

/// One event as the index records it.
#[derive(Debug, Clone)]
pub(crate) struct IndexEntry<'a> {
    pub stream: &'a str,
    pub revision: Revision,
    pub position: Position,
    pub loc: Loc,
    pub created_micros: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Index {
    db: sled::Db,
    streams: sled::Tree,
    revs: sled::Tree,
    sparse: sled::Tree,
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
fn u32_le(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn rev_key(stream: &str, rev: Revision) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 9);
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k.extend_from_slice(&rev.to_be_bytes());
    k
}

fn loc_value(pos: Position, loc: Loc) -> [u8; 20] {
    let mut v = [0u8; 20];
    v[0..8].copy_from_slice(&pos.to_le_bytes());
    v[8..16].copy_from_slice(&loc.seg.to_le_bytes());
    v[16..20].copy_from_slice(&loc.offset.to_le_bytes());
    v
}

fn parse_loc_value(v: &[u8]) -> (Position, Loc) {
    (
        u64_le(v, 0),
        Loc {
            seg: u64_le(v, 8),
            offset: u32_le(v, 16),
        },
    )
}

fn is_sparse(pos: Position, loc: Loc) -> bool {
    pos % SPARSE_INDEX_INTERVAL_EVENTS == 1 || pos == loc.seg
}

impl Index {
    pub(crate) fn open(path: &Path) -> Result<Index> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(INDEX_CACHE_BYTES)
            .flush_every_ms(Some(INDEX_FLUSH_EVERY.as_millis() as u64))
            .open()?;
        Ok(Index {
            streams: db.open_tree("streams")?,
            revs: db.open_tree("revs")?,
            sparse: db.open_tree("sparse")?,
            db,
        })
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
        self.sparse.clear()?;
        self.db.remove(INDEXED_THROUGH)?;
        self.db.flush()?;
        Ok(())
    }

    /// Writes a batch of consecutive events ending at `through`.
    pub(crate) fn apply(&self, entries: &[IndexEntry<'_>], through: Position) -> Result<()> {
        let mut revs = sled::Batch::default();
        let mut sparse = sled::Batch::default();
        let mut heads: std::collections::HashMap<&str, (Revision, Position, Loc)> =
            std::collections::HashMap::new();
        for e in entries {
            if e.revision % STREAM_SPARSE_INTERVAL_REVISIONS == 0 {
                revs.insert(
                    rev_key(e.stream, e.revision),
                    &loc_value(e.position, e.loc)[..],
                );
            }
            if is_sparse(e.position, e.loc) {
                let mut v = [0u8; 20];
                v[0..8].copy_from_slice(&e.loc.seg.to_le_bytes());
                v[8..12].copy_from_slice(&e.loc.offset.to_le_bytes());
                v[12..20].copy_from_slice(&e.created_micros.to_le_bytes());
                sparse.insert(&e.position.to_be_bytes()[..], &v[..]);
            }
            heads.insert(e.stream, (e.revision, e.position, e.loc));
        }
        let mut streams = sled::Batch::default();
        for (name, (rev, pos, loc)) in heads {
            let mut v = [0u8; 28];
            v[0..8].copy_from_slice(&rev.to_le_bytes());
            v[8..28].copy_from_slice(&loc_value(pos, loc));
            streams.insert(name.as_bytes(), &v[..]);
        }
        self.revs.apply_batch(revs)?;
        self.sparse.apply_batch(sparse)?;
        self.streams.apply_batch(streams)?;
        self.db
            .insert(INDEXED_THROUGH, &through.to_le_bytes()[..])?;
        Ok(())
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Last revision, position and location of a stream.
    pub(crate) fn stream_head(&self, stream: &str) -> Result<Option<(Revision, Position, Loc)>> {
        Ok(self.streams.get(stream.as_bytes())?.map(|v| {
            let (pos, loc) = parse_loc_value(&v[8..]);
            (u64_le(&v, 0), pos, loc)
        }))
    }

    /// Position and location of a sparse revision (a multiple of
    /// [`STREAM_SPARSE_INTERVAL_REVISIONS`]) of a stream, if indexed.
    pub(crate) fn stream_sparse_rev(
        &self,
        stream: &str,
        rev: Revision,
    ) -> Result<Option<(Position, Loc)>> {
        Ok(self
            .revs
            .get(rev_key(stream, rev))?
            .map(|v| parse_loc_value(&v)))
    }

    /// The sparse entry at or before `pos`: (position, location, created).
    pub(crate) fn sparse_floor(&self, pos: Position) -> Result<Option<(Position, Loc, i64)>> {
        let Some(r) = self.sparse.range(..=pos.to_be_bytes()).next_back() else {
            return Ok(None);
        };
        let (k, v) = r?;
        let p = u64::from_be_bytes(k[..8].try_into().expect("8 bytes"));
        Ok(Some((
            p,
            Loc {
                seg: u64_le(&v, 0),
                offset: u32_le(&v, 8),
            },
            u64_le(&v, 12) as i64,
        )))
    }

    /// Streams whose name starts with `prefix` and sorts after `after`.
    pub(crate) fn list_streams(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Revision, Position)>> {
        let mut out = Vec::new();
        let iter: Box<
            dyn Iterator<Item = std::result::Result<(sled::IVec, sled::IVec), sled::Error>>,
        > = match after {
            Some(a) if a.as_bytes() >= prefix.as_bytes() => {
                let mut start = a.as_bytes().to_vec();
                start.push(0);
                Box::new(self.streams.range(start..))
            }
            _ => Box::new(self.streams.range(prefix.as_bytes()..)),
        };
        for r in iter {
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

    /// Every entry of every tree, for comparing two indexes in tests.
    #[cfg(test)]
    pub(crate) fn dump(&self) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for (name, t) in [
            ("streams", &self.streams),
            ("revs", &self.revs),
            ("sparse", &self.sparse),
        ] {
            for r in t.iter() {
                let (k, v) = r.unwrap();
                out.push((name.to_string(), k.to_vec(), v.to_vec()));
            }
        }
        out
    }
}
