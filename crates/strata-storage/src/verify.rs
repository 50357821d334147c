//! Offline verification: read every record of every segment and report what
//! is wrong and where. It never modifies anything and takes no lock, so it
//! may run beside a live server (the active segment's last bytes may then
//! show as an unfinished tail).

use crate::error::Result;
use crate::recovery::{is_torn_tail, scan_segment};
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
    let mut prev_last: Option<Position> = None;
    let n = segments.len();
    for (i, (base, path)) in segments.iter().enumerate() {
        report.segments += 1;
        if let Some(prev) = prev_last {
            if *base != prev + 1 {
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
        prev_last = Some(scan.last_position);
        done += scan.file_len;
        progress(done, total);
    }
    Ok(report)
}
