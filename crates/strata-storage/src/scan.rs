//! Reading a whole segment record by record, and judging its end: where
//! the last complete transaction ends, and whether what follows can be a
//! torn write (cut at open) or must be corruption (refused).
//!
//! Used by recovery (the active segment, and sealed maps to rebuild) and by
//! `verify` (every segment). Reads only; never modifies a file.

use crate::codec::{
    decode_record, decode_segment_header, peek_len, DecodeError, KIND_EVENT, MIN_RECORD_BYTES,
    SEGMENT_HEADER_BYTES,
};
use crate::error::Result;
use crate::limits::{MAX_APPEND_BYTES, MAX_GROUP_COMMIT_BYTES, RECOVERY_READ_BYTES};
use crate::posmap::DROPPED;
use crate::segment::FIRST_RECORD_OFFSET;
use crate::types::Position;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The most bytes a torn tail can hold: one group commit (which may overrun
/// its soft cap by one transaction).
pub(crate) const MAX_TORN_TAIL_BYTES: u64 = (MAX_GROUP_COMMIT_BYTES + MAX_APPEND_BYTES) as u64;

/// What a full scan of one segment found.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegmentScan {
    /// End of the last complete transaction.
    pub valid_end: u64,
    /// File length.
    pub file_len: u64,
    /// Records in complete transactions.
    pub records: u64,
    /// Last position of a complete transaction (base - 1 if none).
    pub last_position: Position,
    /// Timestamp of that record.
    pub last_created_micros: Option<i64>,
    /// The first problem after `valid_end`, if any: (offset, reason).
    pub problem: Option<(u64, String)>,
    /// The segment's generation (from its header; 0 if unreadable).
    pub generation: u32,
    /// Byte offset of each record in complete transactions, by position
    /// from the segment's first (`DROPPED` where a scavenge left a gap).
    pub offsets: Vec<u32>,
}

/// Scans every record of a segment, checking CRCs, position continuity and
/// transaction completeness (for a segment a scavenge rewrote: positions
/// increasing, transactions possibly incomplete). `progress` gets bytes
/// scanned so far.
pub(crate) fn scan_segment(
    path: &Path,
    base: Position,
    progress: &mut dyn FnMut(u64),
) -> Result<SegmentScan> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    let mut scan = SegmentScan {
        valid_end: 0,
        file_len,
        last_position: base - 1,
        ..Default::default()
    };
    if file.read_exact(&mut header).is_err() {
        scan.problem = Some((0, "segment shorter than its header".into()));
        return Ok(scan);
    }
    match decode_segment_header(&header) {
        Ok(h) if h.first_position == base => scan.generation = h.generation,
        Ok(h) => {
            scan.problem = Some((
                0,
                format!(
                    "header says first position {}, file name says {base}",
                    h.first_position
                ),
            ));
            return Ok(scan);
        }
        Err(e) => {
            scan.problem = Some((0, format!("bad segment header: {e:?}")));
            return Ok(scan);
        }
    }
    scan.valid_end = FIRST_RECORD_OFFSET;
    let mut buf = vec![0u8; RECOVERY_READ_BYTES];
    let mut have = 0usize; // bytes in buf
    let mut buf_off = FIRST_RECORD_OFFSET; // file offset of buf[0]
    let mut eof = false;
    let mut next_pos = base;
    let mut batch: Option<(u32, u32)> = None; // (next index, count)
    let mut batch_records = 0u64;
    let rewritten = scan.generation > 0;
    let mut pending: Vec<(Position, u32)> = Vec::new();
    loop {
        // Decode what is buffered.
        let mut i = 0;
        loop {
            match decode_record(&buf[i..have]) {
                Ok(v) => {
                    let at = buf_off + i as u64;
                    if rewritten && v.position >= next_pos {
                        // Gaps are records a scavenge dropped; each record
                        // kept stands alone.
                        next_pos = v.position;
                        batch = None;
                    }
                    if v.position != next_pos {
                        scan.problem = Some((
                            at,
                            format!("position {} where {} was expected", v.position, next_pos),
                        ));
                        return Ok(scan);
                    }
                    let expected_index = batch.map(|(n, _)| n).unwrap_or(0);
                    if !rewritten && v.batch_index != expected_index
                        || batch.is_some_and(|(_, c)| c != v.batch_count)
                    {
                        scan.problem = Some((at, "transaction records out of order".into()));
                        return Ok(scan);
                    }
                    next_pos += 1;
                    batch_records += 1;
                    pending.push((v.position, at as u32));
                    i += v.len;
                    if rewritten || v.batch_index + 1 == v.batch_count {
                        batch = None;
                        for (p, o) in pending.drain(..) {
                            let slot = (p - base) as usize;
                            scan.offsets.resize(slot, DROPPED);
                            scan.offsets.push(o);
                        }
                        scan.valid_end = buf_off + i as u64;
                        scan.records += batch_records;
                        batch_records = 0;
                        scan.last_position = v.position;
                        scan.last_created_micros = Some(v.created_micros);
                    } else {
                        batch = Some((v.batch_index + 1, v.batch_count));
                    }
                }
                Err(DecodeError::Incomplete { needed }) => {
                    if eof {
                        if i < have || batch.is_some() {
                            scan.problem = Some((
                                scan.valid_end,
                                "incomplete record or transaction at the end".into(),
                            ));
                        }
                        return Ok(scan);
                    }
                    if needed > buf.len() {
                        buf.resize(needed, 0);
                    }
                    break;
                }
                Err(DecodeError::Invalid(r)) => {
                    scan.problem = Some((buf_off + i as u64, r.to_string()));
                    return Ok(scan);
                }
            }
        }
        // Shift the unconsumed bytes down and read more.
        buf.copy_within(i..have, 0);
        have -= i;
        buf_off += i as u64;
        progress(buf_off);
        while have < buf.len() {
            let n = file.read(&mut buf[have..])?;
            if n == 0 {
                eof = true;
                break;
            }
            have += n;
        }
    }
}

/// Whether the bad region after `scan.valid_end` can be a torn write.
///
/// Only the last group commit can be torn, and a group is written only after
/// the previous one's `fdatasync` returned. So if any intact record after
/// the bad spot was written by a *later* group than the one the bad spot
/// belongs to (its `commit_first` is past the first missing position), the
/// bad spot was already durable — and acknowledged: that is corruption.
/// The region must also be no larger than one group commit can write. A
/// last segment no longer than its header is a torn segment creation.
pub(crate) fn is_torn_tail(path: &Path, scan: &SegmentScan) -> Result<bool> {
    use std::os::unix::fs::FileExt;
    if scan.problem.is_none() {
        return Ok(true);
    }
    // A header that never became durable: a segment creation torn by a
    // crash (recovery removes the file).
    if scan.file_len <= FIRST_RECORD_OFFSET {
        return Ok(true);
    }
    let rest = scan.file_len.saturating_sub(scan.valid_end);
    if scan.valid_end < FIRST_RECORD_OFFSET || rest > MAX_TORN_TAIL_BYTES {
        return Ok(false);
    }
    let first_missing = scan.last_position + 1;
    let mut buf = vec![0u8; rest as usize];
    File::open(path)?.read_exact_at(&mut buf, scan.valid_end)?;
    for i in 1..buf.len() {
        let b = &buf[i..];
        // Cheap filters before the CRC: a plausible length and kind.
        let Some(len) = peek_len(b) else { break };
        if len < MIN_RECORD_BYTES || len > b.len() || b.get(8) != Some(&KIND_EVENT) {
            continue;
        }
        if let Ok(v) = decode_record(b) {
            if v.commit_first > first_missing {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
