//! Offline verification: read every record of every segment, and every
//! sealed segment's position map, and report what is wrong and where. It
//! never modifies anything and takes no lock, so it may run beside a live
//! server (the active segment's last bytes may then show as an unfinished
//! tail). A missing or stale position map is not a problem: it is derived
//! and rebuilt at the next open; a current map that disagrees with its
//! segment is.

use crate::error::Result;
use crate::posmap::{map_path, read_map, DROPPED};
use crate::scan::{is_torn_tail, scan_segment, SegmentScan};
use crate::segment::{list_segments, LOG_DIR};
use crate::types::Position;
use std::path::{Path, PathBuf};

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyProblem {
    /// The segment file.
    pub file: PathBuf,
    /// Byte offset.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segments checked.
    pub segments: u64,
    /// Intact records.
    pub records: u64,
    /// Bytes of all segments.
    pub bytes: u64,
    /// Last intact position.
    pub last_position: Position,
    /// Bytes of an unfinished transaction at the end of the last segment,
    /// which the next open cuts off (not corruption: never acknowledged).
    pub torn_tail_bytes: u64,
    /// Corruption: anything wrong before the tail.
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    /// True when no corruption was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks every record in `data_dir`. `progress(done_bytes, total_bytes)`
/// is called as it goes.
pub fn verify(data_dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport> {
    let log_dir = data_dir.join(LOG_DIR);
    let segments = list_segments(&log_dir)?;
    let mut total = 0;
    for (_, p) in &segments {
        total += std::fs::metadata(p)?.len();
    }
    let mut report = VerifyReport {
        bytes: total,
        ..Default::default()
    };
    let mut done = 0;
    let mut prev: Option<(Position, u32)> = None;
    let n = segments.len();
    for (i, (base, path)) in segments.iter().enumerate() {
        report.segments += 1;
        if let Some((prev, prev_gen)) = prev {
            // After a segment a scavenge rewrote, dropped records leave a gap.
            let chained = if prev_gen == 0 {
                *base == prev + 1
            } else {
                *base > prev
            };
            if !chained {
                report.problems.push(VerifyProblem {
                    file: path.clone(),
                    offset: 0,
                    reason: format!("segment starts at position {base}, previous ends at {prev}"),
                });
            }
        }
        let scan = scan_segment(path, *base, &mut |b| progress(done + b, total))?;
        report.records += scan.records;
        if scan.records > 0 {
            report.last_position = scan.last_position;
        }
        if let Some((offset, reason)) = scan.problem.clone() {
            let rest = scan.file_len - scan.valid_end;
            let is_last = i + 1 == n;
            if is_last && is_torn_tail(path, &scan)? {
                report.torn_tail_bytes = rest;
            } else {
                report.problems.push(VerifyProblem {
                    file: path.clone(),
                    offset,
                    reason,
                });
            }
        }
        if let Some((next_base, _)) = segments.get(i + 1) {
            if let Some(p) = check_map(&log_dir, *base, next_base - base, &scan)? {
                report.problems.push(p);
            }
        }
        prev = Some((scan.last_position, scan.generation));
        done += scan.file_len;
        progress(done, total);
    }
    Ok(report)
}

/// Compares a sealed segment's current map with what its records say.
fn check_map(
    log_dir: &Path,
    base: Position,
    count: u64,
    scan: &SegmentScan,
) -> Result<Option<VerifyProblem>> {
    let path = map_path(log_dir, base);
    let problem = |reason: String| {
        Some(VerifyProblem {
            file: path.clone(),
            offset: 0,
            reason,
        })
    };
    let (h, offsets) = match read_map(&path) {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) => return Ok(problem(e.to_string())),
    };
    let current = h.generation == scan.generation
        && h.first_position == base
        && h.segment_len == scan.file_len
        && h.count == count;
    if !current {
        return Ok(None);
    }
    let mut want = scan.offsets.clone();
    want.resize(count as usize, DROPPED);
    if let Some(i) = (0..want.len()).find(|&i| want[i] != offsets[i]) {
        return Ok(problem(format!(
            "position map says position {} is at offset {}, the segment has it at {}",
            base + i as u64,
            offsets[i],
            want[i]
        )));
    }
    Ok(None)
}
