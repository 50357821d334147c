//! Open-time recovery: find where the durable log ends, and give every
//! segment its position map.
//!
//! Sealed segments are trusted to be intact (they were fsynced before the
//! next segment was created); their headers and last records are checked
//! and the chain of positions must hold (gapless, except after a segment a
//! scavenge rewrote). A sealed segment whose map is missing or stale gets
//! it rebuilt. The last segment is scanned record by record. A torn tail —
//! an incomplete record, a CRC mismatch or a transaction missing records,
//! at the end — is cut off and the file fsynced. A bad region larger than
//! one group commit could have written cannot be a torn write: that is
//! corruption, and opening fails with a clear error.
//!
//! Before any of that, a durable-end marker left by a writer that poisoned
//! after a failed fsync cuts the log back to what was durable; after it,
//! the active segment's last group commit is written again and fsynced, so
//! nothing recovery read only from the page cache is built on
//! (`durable_end`, "fsyncgate").

use crate::codec::{
    decode_record, decode_segment_header, trailer_len, RECORD_TRAILER_BYTES, SEGMENT_HEADER_BYTES,
};
use crate::durable_end::{cut_to_marker, remove_marker, rewrite_last_group};
use crate::error::{Error, Result};
use crate::posmap::{build_offsets, open_map, write_map, PosMap};
use crate::scan::{is_torn_tail, scan_segment};
use crate::segment::{create_segment, fsync_dir, list_segments, segment_path, FIRST_RECORD_OFFSET};
use crate::segments::Segment;
use crate::types::Position;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;
use std::sync::RwLock;

/// Reads the last record of a sealed segment via its trailer: (position, created).
fn last_record_of_sealed(path: &Path) -> Result<Option<(Position, i64)>> {
    use std::os::unix::fs::FileExt;
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len == FIRST_RECORD_OFFSET {
        return Ok(None);
    }
    let bad = |reason: &str| Error::Corrupt {
        file: path.to_owned(),
        offset: len,
        reason: reason.to_owned(),
    };
    if len < FIRST_RECORD_OFFSET + RECORD_TRAILER_BYTES as u64 {
        return Err(bad("sealed segment too short"));
    }
    let mut t = [0u8; RECORD_TRAILER_BYTES];
    file.read_exact_at(&mut t, len - RECORD_TRAILER_BYTES as u64)?;
    let l = trailer_len(&t).map_err(|_| bad("bad trailer of last record"))? as u64;
    if l > len - FIRST_RECORD_OFFSET {
        return Err(bad("bad trailer of last record"));
    }
    let mut rec = vec![0u8; l as usize];
    file.read_exact_at(&mut rec, len - l)?;
    let v = decode_record(&rec).map_err(|e| bad(&format!("last record unreadable: {e:?}")))?;
    Ok(Some((v.position, v.created_micros)))
}

/// Reads a segment's header: its generation, checking its first position.
fn read_header(path: &Path, base: Position) -> Result<u32> {
    let bad = |reason: String| Error::Corrupt {
        file: path.to_owned(),
        offset: 0,
        reason,
    };
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    File::open(path)?
        .read_exact(&mut header)
        .map_err(|_| bad("segment shorter than its header".into()))?;
    match decode_segment_header(&header) {
        Ok(h) if h.first_position == base => Ok(h.generation),
        Ok(h) => Err(bad(format!(
            "header says first position {}, file name says {base}",
            h.first_position
        ))),
        Err(e) => Err(bad(format!("bad segment header: {e:?}"))),
    }
}

/// The durable end of the log after recovery.
pub(crate) struct Recovered {
    /// Segments in order, with their maps; the last is the active one.
    pub segments: Vec<Segment>,
    /// Last committed position.
    pub head: Position,
    /// Length of the last segment.
    pub active_len: u64,
    /// Timestamp of the last record (0 when empty).
    pub last_created_micros: i64,
    /// Bytes cut off the tail.
    pub truncated_bytes: u64,
}

/// Gives a sealed segment covering `count` positions its map, rebuilding
/// the map file if it is missing or describes another version of the file.
fn sealed_map(
    log_dir: &Path,
    base: Position,
    generation: u32,
    path: &Path,
    count: u64,
) -> Result<PosMap> {
    let len = std::fs::metadata(path)?.len();
    if let Some(m) = open_map(log_dir, base, generation, len, count)? {
        return Ok(m);
    }
    tracing::info!(path = %path.display(), "rebuilding the position map of a sealed segment");
    let offsets = build_offsets(path, base, count)?;
    write_map(log_dir, base, generation, len, &offsets)?;
    open_map(log_dir, base, generation, len, count)?.ok_or_else(|| Error::Corrupt {
        file: path.to_owned(),
        offset: 0,
        reason: "a freshly written position map does not open".into(),
    })
}

/// Removes what a crash can leave behind besides segments and maps: a
/// scavenge's unfinished rewrite (`*.seg.scavenge`, never renamed, so the
/// original is intact) and unfinished map files (`*.map.tmp`).
fn remove_leftovers(log_dir: &Path) -> Result<()> {
    let mut removed = false;
    for entry in std::fs::read_dir(log_dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".seg.scavenge") || name.ends_with(".map.tmp") {
            tracing::info!(path = %path.display(), "removing an unfinished rewrite left by a crash");
            std::fs::remove_file(&path)?;
            removed = true;
        }
    }
    if removed {
        fsync_dir(log_dir)?;
    }
    Ok(())
}

/// Recovers the log in `log_dir`, creating the first segment if there is none.
pub(crate) fn recover(log_dir: &Path) -> Result<Recovered> {
    remove_leftovers(log_dir)?;
    let marker = cut_to_marker(log_dir)?;
    let mut listed = list_segments(log_dir)?;
    let mut truncated_bytes = marker.map_or(0, |(_, cut)| cut);
    // A last segment whose header never became durable is a torn creation.
    if let Some((base, path)) = listed.last().cloned() {
        let len = std::fs::metadata(&path)?.len();
        if len <= FIRST_RECORD_OFFSET && scan_segment(&path, base, &mut |_| {})?.problem.is_some() {
            tracing::warn!(path = %path.display(), "removing a segment whose creation was torn by a crash");
            std::fs::remove_file(&path)?;
            fsync_dir(log_dir)?;
            truncated_bytes += len;
            listed.pop();
        }
    }
    if listed.is_empty() {
        create_segment(log_dir, 1)?;
        listed.push((1, segment_path(log_dir, 1)));
    }
    // Sealed segments: header, last record, the chain of positions, maps.
    let mut segments = Vec::with_capacity(listed.len());
    let mut prev: Option<(Position, u32)> = None; // last position, generation
    let mut last_ts = 0i64;
    for (i, (base, path)) in listed.iter().enumerate() {
        let generation = read_header(path, *base)?;
        if let Some((prev_last, prev_gen)) = prev {
            // After a rewritten segment, its dropped last records leave a gap.
            let chained = if prev_gen == 0 {
                *base == prev_last + 1
            } else {
                *base > prev_last
            };
            if !chained {
                return Err(Error::Corrupt {
                    file: path.clone(),
                    offset: 0,
                    reason: format!("segment starts at position {base} but the previous one ends at {prev_last}"),
                });
            }
        }
        let Some((next_base, _)) = listed.get(i + 1) else {
            break;
        };
        let last = match last_record_of_sealed(path)? {
            Some((p, ts)) => {
                last_ts = ts;
                p
            }
            None => base - 1,
        };
        prev = Some((last, generation));
        let map = sealed_map(log_dir, *base, generation, path, next_base - base)?;
        segments.push(Segment::open(*base, generation, path.clone(), map)?);
    }
    // The active segment: scanned whole, a torn tail cut.
    let (base, path) = listed.last().cloned().expect("at least one segment");
    let scan = scan_segment(&path, base, &mut |_| {})?;
    if let Some((end, _)) = marker {
        // Everything up to the marker's end was durable: it must be whole.
        let whole = base == end.segment_base
            && scan.problem.is_none()
            && scan.valid_end == end.segment_len
            && scan.last_position == end.head;
        if !whole {
            return Err(Error::Corrupt {
                file: path.clone(),
                offset: scan.valid_end,
                reason: format!(
                    "the log does not end where the durable-end marker says (segment {}, \
                     {} bytes, position {}): {}; run `strata verify`",
                    end.segment_base,
                    end.segment_len,
                    end.head,
                    scan.problem
                        .as_ref()
                        .map_or("no problem found", |(_, r)| r.as_str())
                ),
            });
        }
    }
    if let Some((offset, reason)) = &scan.problem {
        let cut = scan.file_len - scan.valid_end;
        if !is_torn_tail(&path, &scan)? {
            return Err(Error::Corrupt {
                file: path.clone(),
                offset: *offset,
                reason: format!(
                    "{reason}; acknowledged data follows it ({cut} bytes, written by later group commits), \
                     so this is corruption, not a torn tail; run `strata verify`"
                ),
            });
        }
        tracing::warn!(
            path = %path.display(), offset = *offset, reason = %reason, cut_bytes = cut,
            "truncating torn tail of the log"
        );
        let f = OpenOptions::new().write(true).open(&path)?;
        f.set_len(scan.valid_end)?;
        f.sync_all()?;
        truncated_bytes += cut;
    }
    rewrite_last_group(log_dir, &path, base, &scan)?;
    if marker.is_some() {
        remove_marker(log_dir)?;
    }
    if let Some(ts) = scan.last_created_micros {
        last_ts = ts;
    }
    let head = scan.last_position.max(base - 1);
    let map = PosMap::Active(RwLock::new(scan.offsets));
    segments.push(Segment::open(base, scan.generation, path, map)?);
    Ok(Recovered {
        segments,
        head,
        active_len: scan.valid_end,
        last_created_micros: last_ts,
        truncated_bytes,
    })
}
