//! Reads as callers see them: one stream, `$all` with a filter, the first
//! event at or after a time, and the list of streams.
//!
//! Every read is bounded by the committed end it starts with, so nothing
//! that is not yet durable is ever returned; `$all` reads also examine at
//! most [`MAX_SCAN_EVENTS_PER_READ`] records per call.
//!
//! Not here: how a stream's events are found (`shared::walk_stream`), how
//! bytes are read (`reader`).

use crate::codec::RecordView;
use crate::error::{Error, Result};
use crate::limits::MAX_SCAN_EVENTS_PER_READ;
use crate::reader::PointReader;
use crate::shared::{missing, Shared};
use crate::types::*;
use crate::validate::validate_stream_name;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// Up to `max_count` events of one stream. A stream with no events is
/// [`Error::StreamNotFound`].
pub(crate) fn read_stream(
    sh: &Shared,
    stream: &str,
    from: StreamFrom,
    direction: Direction,
    max_count: usize,
) -> Result<Vec<RecordedEvent>> {
    validate_stream_name(stream)?;
    let Some(head) = sh.stream_head(stream)? else {
        return Err(Error::StreamNotFound(stream.to_owned()));
    };
    if max_count == 0 {
        return Ok(Vec::new());
    }
    let last = head.0;
    let span = max_count as u64 - 1;
    let (lo, hi) = match direction {
        Direction::Forwards => {
            let start = match from {
                StreamFrom::Start => 0,
                StreamFrom::End => return Ok(Vec::new()),
                StreamFrom::Revision(r) => r,
            };
            if start > last {
                return Ok(Vec::new());
            }
            (start, start.saturating_add(span).min(last))
        }
        Direction::Backwards => {
            let start = match from {
                StreamFrom::Start => 0,
                StreamFrom::End => last,
                StreamFrom::Revision(r) => r.min(last),
            };
            (start.saturating_sub(span), start)
        }
    };
    let log = sh.reader();
    let mut pr = PointReader::new(&log);
    let mut out = Vec::with_capacity((hi - lo + 1).min(4096) as usize);
    sh.walk_stream(&mut pr, stream, head, lo, hi, true, |_, _, _, e| {
        out.extend(e)
    })?;
    if direction == Direction::Backwards {
        out.reverse();
    }
    Ok(out)
}

/// `$all` from `from`: up to `max_count` events that pass `filter`,
/// examining at most [`MAX_SCAN_EVENTS_PER_READ`] records.
pub(crate) fn read_all(
    sh: &Shared,
    from: AllFrom,
    direction: Direction,
    max_count: usize,
    filter: &Filter,
) -> Result<AllPage> {
    let log = sh.reader();
    let head = log.committed.head;
    let mut page = AllPage::default();
    let start = match (from, direction) {
        (AllFrom::Start, Direction::Forwards) => 1,
        (AllFrom::Start, Direction::Backwards) => 1.min(head),
        (AllFrom::End, Direction::Forwards) => head + 1,
        (AllFrom::End, Direction::Backwards) => head,
        (AllFrom::Position(p), Direction::Forwards) => p.max(1),
        (AllFrom::Position(p), Direction::Backwards) => p.min(head),
    };
    let mut scanned = 0usize;
    let mut visit = |v: &RecordView<'_>, page: &mut AllPage| {
        scanned += 1;
        page.scanned_to = v.position;
        if filter.matches(v.stream, v.event_type) {
            page.events.push(v.to_event());
        }
        if page.events.len() >= max_count || scanned >= MAX_SCAN_EVENTS_PER_READ {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    match direction {
        Direction::Forwards => {
            page.scanned_to = start - 1;
            if start <= head && max_count > 0 {
                if let Some(loc) = log.locate_at_or_after(start)? {
                    log.scan_forward(loc, |v, _| {
                        if v.position < start {
                            ControlFlow::Continue(())
                        } else {
                            visit(v, &mut page)
                        }
                    })?;
                }
                // Dropped records at the end were examined too.
                if page.events.len() < max_count && scanned < MAX_SCAN_EVENTS_PER_READ {
                    page.scanned_to = head;
                }
            }
            page.reached_end = page.scanned_to >= head;
        }
        Direction::Backwards => {
            page.scanned_to = start + 1;
            if start >= 1 && max_count > 0 {
                if let Some((seg, end)) = log.backward_start(start)? {
                    log.scan_backward(seg, end, |v, _| visit(v, &mut page))?;
                }
                if page.events.len() < max_count && scanned < MAX_SCAN_EVENTS_PER_READ {
                    page.scanned_to = 1;
                }
            }
            page.reached_end = page.scanned_to <= 1;
        }
    }
    Ok(page)
}

/// The smallest `k` in `lo..=hi` whose time is at or after `micros`, given
/// that `time_of` is non-decreasing (`hi` when none is before `hi`).
fn first_at_or_after(
    mut lo: u64,
    mut hi: u64,
    micros: i64,
    mut time_of: impl FnMut(u64) -> Result<i64>,
) -> Result<u64> {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if time_of(mid)? < micros {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// The first global position committed at or after `micros` (unix µs), or
/// `None` if every event is older. Timestamps are non-decreasing along the
/// log, so this is a binary search (over kept records: a position a
/// scavenge dropped takes the time of the next one kept).
pub(crate) fn position_at_or_after(sh: &Shared, micros: i64) -> Result<Option<Position>> {
    let log = sh.reader();
    let head = log.committed.head;
    let mut pr = PointReader::new(&log);
    let mut kept_at_or_after = |pos: Position| -> Result<Option<(Position, i64)>> {
        match log.locate_at_or_after(pos)? {
            Some(loc) => pr
                .with_record(loc, |v| (v.position, v.created_micros))
                .map(Some),
            None => Ok(None),
        }
    };
    if head == 0 {
        return Ok(None);
    }
    // Past the head (or past the last kept record) counts as "later than any".
    let p = first_at_or_after(1, head + 1, micros, |pos| {
        Ok(kept_at_or_after(pos)?.map_or(i64::MAX, |(_, t)| t))
    })?;
    if p > head {
        return Ok(None);
    }
    Ok(kept_at_or_after(p)?.map(|(p, _)| p))
}

/// The first revision of `stream` committed at or after `micros`, or `None`
/// if all its events are older.
pub(crate) fn stream_revision_at_or_after(
    sh: &Shared,
    stream: &str,
    micros: i64,
) -> Result<Option<Revision>> {
    validate_stream_name(stream)?;
    let Some((last, _)) = sh.stream_head(stream)? else {
        return Err(Error::StreamNotFound(stream.to_owned()));
    };
    let log = sh.reader();
    let created_at = |rev: Revision| -> Result<i64> {
        let (_, _, loc) = sh
            .stream_locs(&log, stream, rev, rev)?
            .first()
            .copied()
            .ok_or_else(|| missing(rev))?;
        PointReader::new(&log).with_record(loc, |v| v.created_micros)
    };
    if created_at(last)? < micros {
        return Ok(None);
    }
    first_at_or_after(0, last, micros, created_at).map(Some)
}

/// Streams whose names start with `prefix`, in name order, after `after`
/// (exclusive), at most `limit`.
pub(crate) fn list_streams(
    sh: &Shared,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StreamInfo>> {
    // Tail first (its heads are newer), then sled.
    let tail = sh.tail.read().unwrap().streams_with_prefix(prefix);
    let mut merged: BTreeMap<String, (Revision, Position)> = sh
        .index
        .list_streams(prefix, after, limit)?
        .into_iter()
        .map(|(n, r, p)| (n, (r, p)))
        .collect();
    for (n, r, p) in tail {
        if after.is_none_or(|a| n.as_str() > a) {
            merged.insert(n, (r, p));
        }
    }
    Ok(merged
        .into_iter()
        .take(limit)
        .map(|(name, (revision, last_position))| StreamInfo {
            name,
            revision,
            last_position,
        })
        .collect())
}
