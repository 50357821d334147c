//! Rewriting one sealed segment without the records that are invisible for
//! good: the scavenger's unit of work.
//!
//! A record is dropped when the lifecycle rules hide it (deleted, truncated,
//! over `max_count`, expired) or when it is a superseded lifecycle record
//! (not the last of its `$$` stream). Kept: everything visible, the last
//! record of every metadata stream (the lifecycle's truth, so a tombstone
//! stays), and the last event of a stream that is not deleted (it carries
//! the stream's revision count; a deleted stream's count lives on in its
//! `$$` record).
//!
//! Crash safety, in this order: the kept records are copied verbatim into
//! `<segment>.scavenge` (new header, generation + 1), which is fsynced and
//! renamed over the segment, and the directory fsynced; only then are the
//! dropped records' index entries (stream and secondary) removed and the
//! new position map written (both derived: stale entries lead to
//! "dropped", a stale map is rebuilt at open). A crash leaves either the old or the new segment, whole.
//!
//! Not here: choosing segments, history records, stopping (`scavenge`).

use crate::codec::{decode_record, encode_segment_header, DecodeError, RecordView, SegmentHeader};
use crate::error::{Error, Result};
use crate::lifecycle::{is_visible, stream_of_metadata};
use crate::limits::{
    RECOVERY_READ_BYTES, SCAVENGE_READ_BYTES, SCAVENGE_SYNC_EVERY_BYTES,
    STREAM_SPARSE_INTERVAL_REVISIONS,
};
use crate::posmap::{open_map, write_map, DROPPED};
use crate::secondary::Grouped;
use crate::segment::{fsync_dir, FIRST_RECORD_OFFSET};
use crate::segments::Segment;
use crate::shared::{Head, Shared};
use crate::types::{Position, Revision};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What rewriting one segment achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Compacted {
    pub records_dropped: u64,
    pub bytes_reclaimed: u64,
}

/// Paces reading to a byte rate.
#[derive(Debug)]
pub(crate) struct Throttle {
    bytes_per_second: Option<u64>,
    started: Instant,
    bytes: u64,
}

impl Throttle {
    pub(crate) fn new(bytes_per_second: Option<u64>) -> Throttle {
        Throttle {
            bytes_per_second: bytes_per_second.filter(|b| *b > 0),
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// Counts `n` bytes and sleeps until the rate allows them.
    pub(crate) fn consume(&mut self, n: u64) {
        self.bytes += n;
        if let Some(rate) = self.bytes_per_second {
            let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
}

/// Why a rewrite did not finish.
pub(crate) enum Interrupted {
    Stopped,
    Failed(Error),
}

impl From<Error> for Interrupted {
    fn from(e: Error) -> Self {
        Interrupted::Failed(e)
    }
}

impl From<std::io::Error> for Interrupted {
    fn from(e: std::io::Error) -> Self {
        Interrupted::Failed(e.into())
    }
}

/// Decides, record by record, what a rewrite keeps.
struct Judge<'a> {
    sh: &'a Shared,
    now_micros: i64,
    heads: HashMap<String, Option<Head>>,
}

impl Judge<'_> {
    fn head(&mut self, stream: &str) -> Result<Option<Head>> {
        if let Some(h) = self.heads.get(stream) {
            return Ok(*h);
        }
        let h = self.sh.stream_head(stream)?;
        self.heads.insert(stream.to_owned(), h);
        Ok(h)
    }

    fn keep(&mut self, v: &RecordView<'_>) -> Result<bool> {
        if stream_of_metadata(v.stream).is_some() {
            // Only the last lifecycle record states the truth.
            return Ok(self.head(v.stream)?.is_none_or(|h| h.1 == v.position));
        }
        let Some(l) = self.sh.lifecycles.get(v.stream) else {
            return Ok(true);
        };
        let Some((last, last_pos)) = self.head(v.stream)? else {
            return Ok(true);
        };
        if is_visible(
            &l.state,
            last,
            v.revision,
            v.created_micros,
            self.now_micros,
        ) {
            return Ok(true);
        }
        Ok(!l.state.is_deleted(Some(last)) && v.position == last_pos)
    }
}

/// Rewrites `seg` (whose positions end before `next_base`) without what is
/// invisible for good; `None` when nothing is to be dropped (the segment is
/// left alone).
pub(crate) fn compact(
    sh: &Shared,
    seg: &Arc<Segment>,
    next_base: Position,
    throttle: &mut Throttle,
    stop: &AtomicBool,
) -> std::result::Result<Option<Compacted>, Interrupted> {
    let tmp_path = seg.path.with_extension("seg.scavenge");
    let result = rewrite(sh, seg, next_base, &tmp_path, throttle, stop);
    if !matches!(result, Ok(Some(_))) {
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

/// What the copy pass found.
struct Copy {
    offsets: Vec<u32>,
    new_len: u64,
    dropped: u64,
    /// Sparse revisions dropped (their index entries go).
    dropped_revs: Vec<(String, Revision)>,
    /// Streams whose last event was dropped (their head entries go).
    dropped_heads: Vec<String>,
    /// Dropped positions by event type and category (they leave those
    /// indexes, and their counts).
    dropped_secondary: Grouped,
}

fn rewrite(
    sh: &Shared,
    seg: &Arc<Segment>,
    next_base: Position,
    tmp_path: &std::path::Path,
    throttle: &mut Throttle,
    stop: &AtomicBool,
) -> std::result::Result<Option<Compacted>, Interrupted> {
    let generation = seg.generation + 1;
    let old_len = seg.len()?;
    let tmp = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp_path)?;
    let mut out = BufWriter::with_capacity(RECOVERY_READ_BYTES, tmp);
    out.write_all(&encode_segment_header(SegmentHeader {
        first_position: seg.base,
        generation,
    }))?;
    let copy = copy_kept(sh, seg, next_base, old_len, &mut out, throttle, stop)?;
    if copy.dropped == 0 {
        return Ok(None);
    }
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    tmp.sync_all()?;
    drop(tmp);
    let log_dir = seg.path.parent().unwrap_or(&sh.log_dir);
    std::fs::rename(tmp_path, &seg.path)?;
    fsync_dir(log_dir)?;
    // From here the new segment is the truth; the rest is derived.
    let revs: Vec<(&str, Revision)> = copy
        .dropped_revs
        .iter()
        .map(|(s, r)| (s.as_str(), *r))
        .collect();
    let heads: Vec<&str> = copy.dropped_heads.iter().map(String::as_str).collect();
    sh.index.forget(&revs, &heads, copy.dropped_secondary)?;
    write_map(log_dir, seg.base, generation, copy.new_len, &copy.offsets)?;
    let count = copy.offsets.len() as u64;
    let map = open_map(log_dir, seg.base, generation, copy.new_len, count)?.ok_or_else(|| {
        Error::Io(std::io::Error::other(
            "a freshly written position map does not open",
        ))
    })?;
    sh.segments
        .replace(Segment::open(seg.base, generation, seg.path.clone(), map)?);
    tracing::info!(
        segment = seg.base,
        generation,
        dropped = copy.dropped,
        reclaimed_bytes = old_len - copy.new_len,
        "segment rewritten without dropped records"
    );
    Ok(Some(Compacted {
        records_dropped: copy.dropped,
        bytes_reclaimed: old_len - copy.new_len,
    }))
}

/// Reads every record of `seg`, judges it, and writes the kept ones to `out`.
#[allow(clippy::too_many_arguments)]
fn copy_kept(
    sh: &Shared,
    seg: &Segment,
    next_base: Position,
    old_len: u64,
    out: &mut BufWriter<File>,
    throttle: &mut Throttle,
    stop: &AtomicBool,
) -> std::result::Result<Copy, Interrupted> {
    let mut judge = Judge {
        sh,
        now_micros: crate::clock::now_micros(),
        heads: HashMap::new(),
    };
    let mut copy = Copy {
        offsets: vec![DROPPED; (next_base - seg.base) as usize],
        new_len: FIRST_RECORD_OFFSET,
        dropped: 0,
        dropped_revs: Vec::new(),
        dropped_heads: Vec::new(),
        dropped_secondary: Grouped::default(),
    };
    let separator = sh.index.secondary().separator();
    let corrupt = |offset: u64, reason: String| Error::Corrupt {
        file: seg.path.clone(),
        offset,
        reason,
    };
    let mut buf = vec![0u8; SCAVENGE_READ_BYTES];
    let mut off = FIRST_RECORD_OFFSET;
    let mut unsynced = 0u64;
    while off < old_len {
        if stop.load(Ordering::Relaxed) {
            return Err(Interrupted::Stopped);
        }
        let want = ((old_len - off) as usize).min(buf.len());
        seg.file.read_exact_at(&mut buf[..want], off)?;
        throttle.consume(want as u64);
        let mut i = 0;
        while i < want {
            let v = match decode_record(&buf[i..want]) {
                Ok(v) => v,
                Err(DecodeError::Incomplete { needed }) if off + (i + needed) as u64 <= old_len => {
                    if needed > buf.len() {
                        buf.resize(needed, 0);
                    }
                    break;
                }
                Err(e) => return Err(corrupt(off + i as u64, format!("{e:?}")).into()),
            };
            let slot = v
                .position
                .checked_sub(seg.base)
                .filter(|s| *s < copy.offsets.len() as u64)
                .ok_or_else(|| corrupt(off + i as u64, "position outside the segment".into()))?;
            if judge.keep(&v)? {
                copy.offsets[slot as usize] = copy.new_len as u32;
                out.write_all(&buf[i..i + v.len])?;
                copy.new_len += v.len as u64;
                unsynced += v.len as u64;
                if unsynced >= SCAVENGE_SYNC_EVERY_BYTES {
                    // Small, regular flushes: a large pile of dirty pages
                    // flushed at once would stall the writer's fdatasyncs
                    // (the filesystem journal serialises them).
                    out.flush()?;
                    out.get_ref().sync_data()?;
                    unsynced = 0;
                }
            } else {
                copy.dropped += 1;
                copy.dropped_secondary
                    .add(v.stream, v.event_type, v.position, separator);
                if v.revision % STREAM_SPARSE_INTERVAL_REVISIONS == 0 {
                    copy.dropped_revs.push((v.stream.to_owned(), v.revision));
                }
                if judge.head(v.stream)?.is_some_and(|h| h.1 == v.position) {
                    copy.dropped_heads.push(v.stream.to_owned());
                }
            }
            i += v.len;
        }
        off += i as u64;
    }
    Ok(copy)
}
