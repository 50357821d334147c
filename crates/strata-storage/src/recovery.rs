//! Open-time recovery: find where the durable log ends.
//!
//! Sealed segments are trusted to be intact (they were fsynced before the
//! next segment was created); their headers and last records are checked
//! and the chain of positions must be gapless. The last segment is scanned
//! record by record. A torn tail — an incomplete record, a CRC mismatch or a
//! transaction missing records, at the end — is cut off and the file fsynced.
//! A bad region larger than one group commit could have written cannot be a
//! torn write: that is corruption, and opening fails with a clear error.

use crate::codec::{
    decode_record, decode_segment_header, peek_len, trailer_len, DecodeError, KIND_EVENT,
    MIN_RECORD_BYTES, RECORD_TRAILER_BYTES, SEGMENT_HEADER_BYTES,
};
use crate::error::{Error, Result};
use crate::limits::{MAX_APPEND_BYTES, MAX_GROUP_COMMIT_BYTES, RECOVERY_READ_BYTES};
use crate::segment::{create_segment, fsync_dir, list_segments, FIRST_RECORD_OFFSET};
use crate::types::Position;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

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
}

/// Scans every record of a segment, checking CRCs, position continuity and
/// transaction completeness. `progress` gets bytes scanned so far.
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
        Ok(b) if b == base => {}
        Ok(b) => {
            scan.problem = Some((
                0,
                format!("header says first position {b}, file name says {base}"),
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
    loop {
        // Decode what is buffered.
        let mut i = 0;
        loop {
            match decode_record(&buf[i..have]) {
                Ok(v) => {
                    let at = buf_off + i as u64;
                    if v.position != next_pos {
                        scan.problem = Some((
                            at,
                            format!("position {} where {} was expected", v.position, next_pos),
                        ));
                        return Ok(scan);
                    }
                    let expected_index = batch.map(|(n, _)| n).unwrap_or(0);
                    if v.batch_index != expected_index
                        || batch.is_some_and(|(_, c)| c != v.batch_count)
                    {
                        scan.problem = Some((at, "transaction records out of order".into()));
                        return Ok(scan);
                    }
                    next_pos += 1;
                    batch_records += 1;
                    i += v.len;
                    if v.batch_index + 1 == v.batch_count {
                        batch = None;
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
/// The region must also be no larger than one group commit can write.
pub(crate) fn is_torn_tail(path: &Path, scan: &SegmentScan) -> Result<bool> {
    use std::os::unix::fs::FileExt;
    if scan.problem.is_none() {
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

/// The durable end of the log after recovery.
#[derive(Debug, Clone)]
pub(crate) struct Recovered {
    /// Segments in order, by first position.
    pub segments: Vec<(Position, PathBuf)>,
    /// Last committed position.
    pub head: Position,
    /// Length of the last segment.
    pub active_len: u64,
    /// Timestamp of the last record (0 when empty).
    pub last_created_micros: i64,
    /// Bytes cut off the tail.
    pub truncated_bytes: u64,
}

/// Recovers the log in `log_dir`, creating the first segment if there is none.
pub(crate) fn recover(log_dir: &Path) -> Result<Recovered> {
    let mut segments = list_segments(log_dir)?;
    let mut truncated_bytes = 0;
    // A last segment whose header never became durable is a torn creation.
    if let Some((base, path)) = segments.last().cloned() {
        let len = std::fs::metadata(&path)?.len();
        if len <= FIRST_RECORD_OFFSET && scan_segment(&path, base, &mut |_| {})?.problem.is_some() {
            tracing::warn!(path = %path.display(), "removing a segment whose creation was torn by a crash");
            std::fs::remove_file(&path)?;
            fsync_dir(log_dir)?;
            truncated_bytes += len;
            segments.pop();
        }
    }
    // Sealed segments: header, last record, and the chain of positions.
    let mut prev_last: Position = 0;
    let mut last_ts = 0i64;
    let n = segments.len();
    for (i, (base, path)) in segments.iter().enumerate() {
        let mut header = [0u8; SEGMENT_HEADER_BYTES];
        File::open(path)?
            .read_exact(&mut header)
            .map_err(|_| Error::Corrupt {
                file: path.clone(),
                offset: 0,
                reason: "segment shorter than its header".into(),
            })?;
        match decode_segment_header(&header) {
            Ok(b) if b == *base => {}
            _ => {
                return Err(Error::Corrupt {
                    file: path.clone(),
                    offset: 0,
                    reason: "bad segment header".into(),
                })
            }
        }
        if *base != prev_last + 1 {
            return Err(Error::Corrupt {
                file: path.clone(),
                offset: 0,
                reason: format!(
                    "segment starts at position {base} but the previous one ends at {prev_last}"
                ),
            });
        }
        if i + 1 < n {
            match last_record_of_sealed(path)? {
                Some((p, ts)) => {
                    prev_last = p;
                    last_ts = ts;
                }
                None => prev_last = base - 1,
            }
        }
    }
    let (head, active_len) = match segments.last() {
        None => {
            let base = prev_last + 1;
            create_segment(log_dir, base)?;
            segments.push((base, crate::segment::segment_path(log_dir, base)));
            (prev_last, FIRST_RECORD_OFFSET)
        }
        Some((base, path)) => {
            let scan = scan_segment(path, *base, &mut |_| {})?;
            if let Some((offset, reason)) = &scan.problem {
                let cut = scan.file_len - scan.valid_end;
                if !is_torn_tail(path, &scan)? {
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
                let f = OpenOptions::new().write(true).open(path)?;
                f.set_len(scan.valid_end)?;
                f.sync_all()?;
                truncated_bytes += cut;
            }
            if let Some(ts) = scan.last_created_micros {
                last_ts = ts;
            }
            (scan.last_position.max(base - 1), scan.valid_end)
        }
    };
    Ok(Recovered {
        segments,
        head,
        active_len,
        last_created_micros: last_ts,
        truncated_bytes,
    })
}
