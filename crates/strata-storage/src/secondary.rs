//! The secondary indexes of `$all`, kept in sled beside the stream index:
//! the positions of every event by **event type** and by **category**
//! (`category`), and a count of events per name. Derived like the stream
//! index: cleared and rebuilt from the log with it.
//!
//! Not one key per event (sled manages ~50-100k inserts/s here, below the
//! log's append rate): positions are grouped in blocks of
//! [`BLOCK_POSITIONS`] global positions, one key per (name, block), read,
//! merged and rewritten once per indexer batch. The byte layout (also in
//! docs/FORMAT.md; keys big-endian so byte order is numeric order):
//!
//! ```text
//! tree "secondary":
//!   0x01 | len u8 | event type | block u64 BE  -> positions of that type in the block
//!   0x02 | len u8 | category   | block u64 BE  -> positions of that category in the block
//!   0x03 | event type                          -> events u64 LE (positions held under 0x01)
//!   0x04 | category                            -> events u64 LE (positions held under 0x02)
//! block = position / BLOCK_POSITIONS (65,536)
//! positions value: unsigned LEB128 varints, ascending, no duplicates:
//!   first:  position - block * BLOCK_POSITIONS   (< BLOCK_POSITIONS)
//!   then:   position - previous position         (>= 1)
//! ```
//!
//! System records (streams starting with `$`) are in neither index. Names
//! hold no control characters (validated), so the count keys sort by name.
//! A block and its count change in one sled batch, and a merge adds only
//! positions not yet there, so re-indexing a range after a crash changes
//! nothing: a rebuilt index equals the incrementally built one byte for
//! byte. A scavenge removes the positions it drops (and the counts with
//! them); a crash between its segment rename and that removal leaves
//! positions that readers find dropped and skip.
//!
//! Not here: which stream is in which category (`category`), reads of
//! `$all` through these positions (`by_index`), the stream index (`index`).

use crate::category::category_of;
use crate::error::{Error, Result};
use crate::index::IndexEntry;
use crate::types::Position;
use std::collections::HashMap;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// Global positions per block: the positions of one name in one block are
/// one sled value. 65,536 keeps a value under 64 KiB for a name that every
/// event has (1-byte deltas) and an indexer batch ([`INDEX_BATCH_EVENTS`]
/// = 16,384) within at most two blocks per name.
///
/// [`INDEX_BATCH_EVENTS`]: crate::limits::INDEX_BATCH_EVENTS
pub(crate) const BLOCK_POSITIONS: u64 = 65_536;
const KIND_TYPE_BLOCK: u8 = 0x01;
const KIND_CATEGORY_BLOCK: u8 = 0x02;
const KIND_TYPE_COUNT: u8 = 0x03;
const KIND_CATEGORY_COUNT: u8 = 0x04;

/// Which secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    EventType,
    Category,
}

impl Kind {
    fn block_byte(self) -> u8 {
        match self {
            Kind::EventType => KIND_TYPE_BLOCK,
            Kind::Category => KIND_CATEGORY_BLOCK,
        }
    }

    fn count_byte(self) -> u8 {
        match self {
            Kind::EventType => KIND_TYPE_COUNT,
            Kind::Category => KIND_CATEGORY_COUNT,
        }
    }
}

fn corrupt(at: u64, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        file: PathBuf::from("(index: secondary)"),
        offset: at,
        reason: reason.into(),
    }
}

/// `kind | len | name`, the start of every block key of one name; `None`
/// for a name longer than 255 bytes (none is: names are validated).
fn name_prefix(kind: Kind, name: &str) -> Option<Vec<u8>> {
    let len = u8::try_from(name.len()).ok()?;
    let mut k = Vec::with_capacity(name.len() + 10);
    k.push(kind.block_byte());
    k.push(len);
    k.extend_from_slice(name.as_bytes());
    Some(k)
}

fn block_key(prefix: &[u8], block: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&block.to_be_bytes());
    k
}

fn count_key(kind: Kind, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 1);
    k.push(kind.count_byte());
    k.extend_from_slice(name.as_bytes());
    k
}

fn block_of_key(key: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = key
        .len()
        .checked_sub(8)
        .and_then(|at| key[at..].try_into().ok())
        .ok_or_else(|| corrupt(0, "a block key shorter than 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

fn decode_count(v: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = v
        .try_into()
        .map_err(|_| corrupt(0, "an event count that is not 8 bytes"))?;
    Ok(u64::from_le_bytes(bytes))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encodes the ascending, distinct `positions` of one block.
pub(crate) fn encode_block(block: u64, positions: &[Position]) -> Vec<u8> {
    let mut out = Vec::with_capacity(positions.len() + 4);
    let mut prev = block * BLOCK_POSITIONS;
    for (i, &p) in positions.iter().enumerate() {
        debug_assert!(p >= prev && (i == 0 || p > prev) && p / BLOCK_POSITIONS == block);
        put_varint(&mut out, p - prev);
        prev = p;
    }
    out
}

/// Decodes a block value; anything but what [`encode_block`] writes is
/// corruption (never a panic).
pub(crate) fn decode_block(block: u64, bytes: &[u8]) -> Result<Vec<Position>> {
    let base = block
        .checked_mul(BLOCK_POSITIONS)
        .ok_or_else(|| corrupt(block, "block number out of range"))?;
    let end = base + (BLOCK_POSITIONS - 1);
    let mut out = Vec::with_capacity(bytes.len());
    let mut prev = base;
    let mut v = 0u64;
    let mut shift = 0u32;
    for &b in bytes {
        if shift > 56 {
            return Err(corrupt(block, "a varint longer than 9 bytes"));
        }
        v |= u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 != 0 {
            continue;
        }
        if v == 0 && !out.is_empty() {
            return Err(corrupt(block, "a repeated position"));
        }
        let p = prev
            .checked_add(v)
            .filter(|p| *p <= end)
            .ok_or_else(|| corrupt(block, "a position outside its block"))?;
        out.push(p);
        prev = p;
        v = 0;
        shift = 0;
    }
    if shift != 0 {
        return Err(corrupt(block, "a truncated varint"));
    }
    Ok(out)
}

/// Merges ascending `add` into ascending `into`; returns how many were new.
fn merge_into(into: &mut Vec<Position>, add: &[Position]) -> u64 {
    let before = into.len();
    if into
        .last()
        .is_none_or(|l| add.first().is_none_or(|f| f > l))
    {
        into.extend_from_slice(add);
    } else {
        into.extend_from_slice(add);
        into.sort_unstable();
        into.dedup();
    }
    (into.len() - before) as u64
}

/// Positions of a batch grouped by name, per kind.
#[derive(Debug, Default)]
pub(crate) struct Grouped {
    types: HashMap<String, Vec<Position>>,
    categories: HashMap<String, Vec<Position>>,
}

impl Grouped {
    /// Adds one event (a system stream's is left out).
    pub(crate) fn add(&mut self, stream: &str, event_type: &str, pos: Position, separator: char) {
        let Some(category) = category_of(stream, separator) else {
            return;
        };
        for (map, name) in [
            (&mut self.types, event_type),
            (&mut self.categories, category),
        ] {
            // Look up by &str first: most events reuse a name of the batch.
            match map.get_mut(name) {
                Some(v) => v.push(pos),
                None => {
                    map.insert(name.to_owned(), vec![pos]);
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.types.is_empty() && self.categories.is_empty()
    }

    fn into_names(self) -> impl Iterator<Item = (Kind, String, Vec<Position>)> {
        let t = self.types.into_iter().map(|(n, p)| (Kind::EventType, n, p));
        let c = self
            .categories
            .into_iter()
            .map(|(n, p)| (Kind::Category, n, p));
        t.chain(c)
    }
}

/// Proof that the caller holds the secondary indexes' write lock (see
/// [`Secondary::lock`]).
pub(crate) struct Held<'a>(#[allow(dead_code)] MutexGuard<'a, ()>);

/// The secondary indexes' tree.
#[derive(Debug, Clone)]
pub(crate) struct Secondary {
    tree: sled::Tree,
    separator: char,
    /// Serialises the read-modify-writes of blocks (the indexer adds, a
    /// scavenge removes) and lets a listing see sled and the tail at one
    /// indexer step.
    lock: Arc<Mutex<()>>,
}

impl Secondary {
    pub(crate) fn new(tree: sled::Tree, separator: char) -> Secondary {
        Secondary {
            tree,
            separator,
            lock: Arc::new(Mutex::new(())),
        }
    }

    pub(crate) fn separator(&self) -> char {
        self.separator
    }

    /// Takes the write lock: the indexer holds it from its sled write to
    /// its tail prune, a scavenge for its removals, a listing for its reads.
    pub(crate) fn lock(&self) -> Held<'_> {
        Held(self.lock.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn clear(&self) -> Result<()> {
        self.tree.clear()?;
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Adds a batch's events (idempotent: positions already held are not
    /// counted again), as one sled batch.
    pub(crate) fn apply(&self, _held: &Held<'_>, entries: &[IndexEntry<'_>]) -> Result<()> {
        let mut grouped = Grouped::default();
        for e in entries {
            grouped.add(e.stream, e.event_type, e.position, self.separator);
        }
        self.change(grouped, true)
    }

    /// Removes the positions a scavenge dropped, and their counts.
    pub(crate) fn forget(&self, dropped: Grouped) -> Result<()> {
        if dropped.is_empty() {
            return Ok(());
        }
        let _held = self.lock();
        self.change(dropped, false)
    }

    fn change(&self, grouped: Grouped, add: bool) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (kind, name, mut positions) in grouped.into_names() {
            let Some(prefix) = name_prefix(kind, &name) else {
                continue;
            };
            positions.sort_unstable();
            let mut changed = 0u64;
            for chunk in positions.chunk_by(|a, b| a / BLOCK_POSITIONS == b / BLOCK_POSITIONS) {
                let block = chunk[0] / BLOCK_POSITIONS;
                let key = block_key(&prefix, block);
                let mut held = match self.tree.get(&key)? {
                    Some(v) => decode_block(block, &v)?,
                    None => Vec::new(),
                };
                let n = if add {
                    merge_into(&mut held, chunk)
                } else {
                    let before = held.len();
                    held.retain(|p| chunk.binary_search(p).is_err());
                    (before - held.len()) as u64
                };
                if n == 0 {
                    continue;
                }
                changed += n;
                match held.is_empty() {
                    true => batch.remove(key),
                    false => batch.insert(key, encode_block(block, &held)),
                }
            }
            if changed == 0 {
                continue;
            }
            let ck = count_key(kind, &name);
            let count = match self.tree.get(&ck)? {
                Some(v) => decode_count(&v)?,
                None => 0,
            };
            let count = match add {
                true => count + changed,
                false => count.saturating_sub(changed),
            };
            match count {
                0 => batch.remove(ck),
                c => batch.insert(ck, &c.to_le_bytes()[..]),
            }
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Events held for `name` (0 if none).
    pub(crate) fn count(&self, kind: Kind, name: &str) -> Result<u64> {
        match self.tree.get(count_key(kind, name))? {
            Some(v) => decode_count(&v),
            None => Ok(0),
        }
    }

    /// Names of one kind starting with `prefix`, after `after`
    /// (exclusive), in name order, with their counts; at most `limit`.
    /// The count keys sort by name, so the names with a prefix are one
    /// range, starting at the prefix itself.
    pub(crate) fn list(
        &self,
        kind: Kind,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, u64)>> {
        let lo = match after {
            Some(a) if a >= prefix => Bound::Excluded(count_key(kind, a)),
            _ => Bound::Included(count_key(kind, prefix)),
        };
        let hi = Bound::Excluded(vec![kind.count_byte() + 1]);
        let mut out = Vec::new();
        for r in self.tree.range::<Vec<u8>, _>((lo, hi)) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = r?;
            let name =
                std::str::from_utf8(&k[1..]).map_err(|_| corrupt(0, "a name that is not UTF-8"))?;
            if !name.starts_with(prefix) {
                break;
            }
            out.push((name.to_owned(), decode_count(&v)?));
        }
        Ok(out)
    }

    /// The positions of `name` in `lo..=hi`, ascending (`forwards`) or
    /// descending, read a block at a time.
    pub(crate) fn cursor(
        &self,
        kind: Kind,
        name: &str,
        lo: Position,
        hi: Position,
        forwards: bool,
    ) -> Cursor {
        let iter = match name_prefix(kind, name) {
            Some(prefix) if lo <= hi => Some(self.tree.range(
                block_key(&prefix, lo / BLOCK_POSITIONS)..=block_key(&prefix, hi / BLOCK_POSITIONS),
            )),
            _ => None,
        };
        Cursor {
            iter,
            forwards,
            lo,
            hi,
            buf: Vec::new(),
            at: 0,
        }
    }

    /// Every entry, for comparing two indexes in tests.
    #[cfg(test)]
    pub(crate) fn dump(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.tree
            .iter()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect()
    }
}

/// One name's positions in a range, in read order.
pub(crate) struct Cursor {
    iter: Option<sled::Iter>,
    forwards: bool,
    lo: Position,
    hi: Position,
    buf: Vec<Position>,
    at: usize,
}

impl Cursor {
    /// The next position, without moving past it.
    pub(crate) fn peek(&mut self) -> Result<Option<Position>> {
        while self.at >= self.buf.len() {
            let Some(iter) = self.iter.as_mut() else {
                return Ok(None);
            };
            let next = match self.forwards {
                true => iter.next(),
                false => iter.next_back(),
            };
            let Some(r) = next else {
                self.iter = None;
                return Ok(None);
            };
            let (k, v) = r?;
            let block = block_of_key(&k)?;
            let mut ps = decode_block(block, &v)?;
            ps.retain(|p| (self.lo..=self.hi).contains(p));
            if !self.forwards {
                ps.reverse();
            }
            self.buf = ps;
            self.at = 0;
        }
        Ok(Some(self.buf[self.at]))
    }

    /// Moves past the position [`Self::peek`] returned.
    pub(crate) fn advance(&mut self) {
        self.at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn block_bytes() {
        let b = 3;
        let base = b * BLOCK_POSITIONS;
        let ps = vec![base, base + 1, base + 200, base + BLOCK_POSITIONS - 1];
        let bytes = encode_block(b, &ps);
        assert_eq!(bytes[..3], [0, 1, 0xc7]);
        assert_eq!(decode_block(b, &bytes).unwrap(), ps);
        assert!(decode_block(b, &[0x80]).is_err(), "truncated");
        assert!(decode_block(b, &[1, 0]).is_err(), "repeated");
        assert!(decode_block(b, &[0xff, 0xff, 0x7f]).is_err(), "outside");
        assert!(decode_block(u64::MAX, &[0]).is_err(), "block out of range");
        assert!(decode_block(b, &[0xff; 12]).is_err(), "overlong");
    }

    #[test]
    fn merging_counts_only_new_positions() {
        let mut v = vec![1, 5, 9];
        assert_eq!(merge_into(&mut v, &[10, 11]), 2);
        assert_eq!(merge_into(&mut v, &[5, 6, 11]), 1);
        assert_eq!(v, [1, 5, 6, 9, 10, 11]);
    }

    proptest! {
        #[test]
        fn blocks_roundtrip(block in 0u64..1_000_000, offs in proptest::collection::btree_set(0u64..BLOCK_POSITIONS, 0..300)) {
            let ps: Vec<u64> = offs.into_iter().map(|o| block * BLOCK_POSITIONS + o).collect();
            prop_assert_eq!(decode_block(block, &encode_block(block, &ps)).unwrap(), ps);
        }

        #[test]
        fn garbage_never_panics(block in any::<u64>(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_block(block, &bytes);
        }
    }
}
