//! Position maps: where in its segment each global position's record is.
//!
//! Everything outside a segment names events by global position (the
//! index, stream links, subscriptions' cursors); only this map knows byte
//! offsets. So a scavenge that rewrites a segment replaces the segment and
//! its map and invalidates nothing else. The active segment's map is in
//! memory (rebuilt by recovery's scan); a sealed segment's map is a file
//! beside it, `log/<first position>.map`, written and fsynced when the
//! segment is sealed or rewritten. It is derived data: a map that is
//! missing, or that describes another generation or length of its segment,
//! is rebuilt from the segment at open.
//!
//! ```text
//! Map file (integers little-endian)
//! offset size field
//!      0    8 magic            b"STRATAPM"
//!      8    4 version          1
//!     12    4 generation       the segment generation it describes
//!     16    8 first_position   the segment's first position
//!     24    8 count            positions covered: first_position .. first_position + count
//!     32    8 segment_len      byte length of the segment it describes
//!     40    4 entries_crc      CRC-32 of the entries
//!     44    4 header_crc       CRC-32 of bytes [0, 44)
//!     48  4*n offsets          u32 byte offset of each position's record, 0xFFFF_FFFF if dropped
//! ```
//!
//! Entries are checked where they are used (the record at the offset must
//! carry that position) and all of them by `strata verify`.
//!
//! Not here: reading records (`reader`), the segment files (`segment`).

use crate::codec::{decode_record, DecodeError};
use crate::error::{Error, Result};
use crate::limits::RECOVERY_READ_BYTES;
use crate::segment::FIRST_RECORD_OFFSET;
use crate::types::Position;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Map entry of a position whose record a scavenge dropped.
pub(crate) const DROPPED: u32 = u32::MAX;
const MAGIC: &[u8; 8] = b"STRATAPM";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 48;

/// Where a position is, as far as one segment's map knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Located {
    /// The record starts at this byte offset.
    At(u32),
    /// The record was dropped by a scavenge: invisible for good.
    Dropped,
    /// The position is not (yet) in this segment.
    Outside,
}

/// What a map file's header promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MapHeader {
    pub generation: u32,
    pub first_position: Position,
    pub count: u64,
    pub segment_len: u64,
    pub entries_crc: u32,
}

fn encode_header(h: &MapHeader) -> [u8; HEADER_BYTES] {
    let mut b = [0u8; HEADER_BYTES];
    b[0..8].copy_from_slice(MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&h.generation.to_le_bytes());
    b[16..24].copy_from_slice(&h.first_position.to_le_bytes());
    b[24..32].copy_from_slice(&h.count.to_le_bytes());
    b[32..40].copy_from_slice(&h.segment_len.to_le_bytes());
    b[40..44].copy_from_slice(&h.entries_crc.to_le_bytes());
    let crc = crc32fast::hash(&b[0..44]);
    b[44..48].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode_header(b: &[u8]) -> Option<MapHeader> {
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    if b.len() < HEADER_BYTES || &b[0..8] != MAGIC || u32_at(8) != VERSION {
        return None;
    }
    if crc32fast::hash(&b[0..44]) != u32_at(44) {
        return None;
    }
    Some(MapHeader {
        generation: u32_at(12),
        first_position: u64_at(16),
        count: u64_at(24),
        segment_len: u64_at(32),
        entries_crc: u32_at(40),
    })
}

fn entries_crc(offsets: &[u32]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for o in offsets {
        h.update(&o.to_le_bytes());
    }
    h.finalize()
}

/// The map file of the segment whose first position is `base`.
pub(crate) fn map_path(log_dir: &Path, base: Position) -> PathBuf {
    log_dir.join(format!("{base:020}.map"))
}

/// A segment's map: in memory while the segment is active, a file once sealed.
#[derive(Debug)]
pub(crate) enum PosMap {
    /// The active segment: offsets of positions `base..`, appended by the
    /// writer before it publishes them.
    Active(RwLock<Vec<u32>>),
    /// A sealed segment: entries read from the map file on demand.
    Sealed { file: File, count: u64 },
}

impl PosMap {
    /// Where position `pos` of the segment starting at `base` is.
    /// The raw entries (offsets, or `DROPPED`) of positions `pos..pos + n`,
    /// fewer at the map's end: one read of a sealed map for many nearby
    /// positions (reads through the type and category indexes).
    pub(crate) fn entries(&self, base: Position, pos: Position, n: usize) -> Result<Vec<u32>> {
        let Some(i) = pos.checked_sub(base) else {
            return Ok(Vec::new());
        };
        match self {
            PosMap::Active(v) => {
                let v = v.read().unwrap();
                let from = (i as usize).min(v.len());
                Ok(v[from..v.len().min(from + n)].to_vec())
            }
            PosMap::Sealed { file, count } => {
                if i >= *count {
                    return Ok(Vec::new());
                }
                let n = n.min((*count - i) as usize);
                let mut b = vec![0u8; 4 * n];
                file.read_exact_at(&mut b, HEADER_BYTES as u64 + 4 * i)?;
                Ok(b.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect())
            }
        }
    }

    pub(crate) fn locate(&self, base: Position, pos: Position) -> Result<Located> {
        let Some(i) = pos.checked_sub(base) else {
            return Ok(Located::Outside);
        };
        let offset = match self {
            PosMap::Active(v) => match v.read().unwrap().get(i as usize) {
                Some(o) => *o,
                None => return Ok(Located::Outside),
            },
            PosMap::Sealed { file, count } => {
                if i >= *count {
                    return Ok(Located::Outside);
                }
                let mut b = [0u8; 4];
                file.read_exact_at(&mut b, HEADER_BYTES as u64 + 4 * i)?;
                u32::from_le_bytes(b)
            }
        };
        Ok(if offset == DROPPED {
            Located::Dropped
        } else {
            Located::At(offset)
        })
    }

    /// The first position at or after `pos` whose record is kept, with its
    /// offset (scans start there when `pos` itself was dropped).
    pub(crate) fn locate_at_or_after(
        &self,
        base: Position,
        pos: Position,
    ) -> Result<Option<(Position, u32)>> {
        let mut p = pos.max(base);
        loop {
            match self.locate(base, p)? {
                Located::At(o) => return Ok(Some((p, o))),
                Located::Dropped => p += 1,
                Located::Outside => return Ok(None),
            }
        }
    }

    /// Appends the offsets of newly committed positions (active map only).
    pub(crate) fn extend(&self, offsets: &[u32]) {
        if let PosMap::Active(v) = self {
            v.write().unwrap().extend_from_slice(offsets);
        }
    }

    /// A copy of the active map's offsets (for sealing it).
    pub(crate) fn active_offsets(&self) -> Option<Vec<u32>> {
        match self {
            PosMap::Active(v) => Some(v.read().unwrap().clone()),
            PosMap::Sealed { .. } => None,
        }
    }
}

/// Writes a sealed segment's map durably: a temporary file, fsynced, renamed
/// into place, then the directory fsynced.
pub(crate) fn write_map(
    log_dir: &Path,
    base: Position,
    generation: u32,
    segment_len: u64,
    offsets: &[u32],
) -> Result<()> {
    let path = map_path(log_dir, base);
    let tmp = path.with_extension("map.tmp");
    let header = MapHeader {
        generation,
        first_position: base,
        count: offsets.len() as u64,
        segment_len,
        entries_crc: entries_crc(offsets),
    };
    let mut bytes = Vec::with_capacity(HEADER_BYTES + 4 * offsets.len());
    bytes.extend_from_slice(&encode_header(&header));
    for o in offsets {
        bytes.extend_from_slice(&o.to_le_bytes());
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    crate::segment::fsync_dir(log_dir)?;
    Ok(())
}

/// Opens a sealed segment's map if its header matches the segment as it is
/// (`None`: missing or stale, to be rebuilt).
pub(crate) fn open_map(
    log_dir: &Path,
    base: Position,
    generation: u32,
    segment_len: u64,
    count: u64,
) -> Result<Option<PosMap>> {
    let path = map_path(log_dir, base);
    let Ok(mut file) = File::open(&path) else {
        return Ok(None);
    };
    let mut b = [0u8; HEADER_BYTES];
    if file.read_exact(&mut b).is_err() {
        return Ok(None);
    }
    let fits = decode_header(&b).is_some_and(|h| {
        h.generation == generation
            && h.first_position == base
            && h.segment_len == segment_len
            && h.count == count
    });
    let len = file.metadata()?.len();
    if !fits || len != HEADER_BYTES as u64 + 4 * count {
        return Ok(None);
    }
    Ok(Some(PosMap::Sealed { file, count }))
}

/// Reads a map file whole and checks its entries' CRC (for `verify`).
pub(crate) fn read_map(path: &Path) -> Result<Option<(MapHeader, Vec<u32>)>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    let bad = |reason: &str| Error::Corrupt {
        file: path.to_owned(),
        offset: 0,
        reason: reason.to_owned(),
    };
    let h = decode_header(&bytes).ok_or_else(|| bad("bad position map header"))?;
    let body = &bytes[HEADER_BYTES..];
    if body.len() as u64 != 4 * h.count {
        return Err(bad("position map length does not match its header"));
    }
    let offsets: Vec<u32> = body
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    if entries_crc(&offsets) != h.entries_crc {
        return Err(bad("position map entries fail their checksum"));
    }
    Ok(Some((h, offsets)))
}

/// Rebuilds a sealed segment's map by reading every record: `count`
/// positions from `base`, dropped where no record carries one.
pub(crate) fn build_offsets(segment: &Path, base: Position, count: u64) -> Result<Vec<u32>> {
    let mut offsets = vec![DROPPED; count as usize];
    let file = File::open(segment)?;
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; RECOVERY_READ_BYTES];
    let mut off = FIRST_RECORD_OFFSET;
    while off < len {
        let want = ((len - off) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..want], off)?;
        let mut i = 0;
        while i < want {
            match decode_record(&buf[i..want]) {
                Ok(v) => {
                    let slot = v
                        .position
                        .checked_sub(base)
                        .filter(|s| *s < count)
                        .ok_or_else(|| Error::Corrupt {
                            file: segment.to_owned(),
                            offset: off + i as u64,
                            reason: format!("position {} outside the segment", v.position),
                        })?;
                    offsets[slot as usize] = (off + i as u64) as u32;
                    i += v.len;
                }
                Err(DecodeError::Incomplete { needed }) if off + (i + needed) as u64 <= len => {
                    if needed > buf.len() {
                        buf.resize(needed, 0);
                    }
                    break;
                }
                Err(e) => {
                    return Err(Error::Corrupt {
                        file: segment.to_owned(),
                        offset: off + i as u64,
                        reason: format!("sealed segment unreadable: {e:?}"),
                    })
                }
            }
        }
        off += i as u64;
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_map_opens_only_for_the_segment_it_describes() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = vec![32, 200, DROPPED, 400];
        write_map(dir.path(), 10, 2, 999, &offsets).unwrap();
        let m = open_map(dir.path(), 10, 2, 999, 4).unwrap().unwrap();
        assert_eq!(m.locate(10, 10).unwrap(), Located::At(32));
        assert_eq!(m.locate(10, 12).unwrap(), Located::Dropped);
        assert_eq!(m.locate(10, 14).unwrap(), Located::Outside);
        assert_eq!(m.locate(10, 9).unwrap(), Located::Outside);
        assert_eq!(m.locate_at_or_after(10, 12).unwrap(), Some((13, 400)));
        for (g, l, c) in [(1, 999, 4), (2, 998, 4), (2, 999, 5)] {
            assert!(open_map(dir.path(), 10, g, l, c).unwrap().is_none());
        }
        let (h, back) = read_map(&map_path(dir.path(), 10)).unwrap().unwrap();
        assert_eq!((h.count, back), (4, offsets));
    }
}
