//! Reads as callers see them: one stream, `$all` with a filter, the first
//! event at or after a time, and the list of streams.
//!
//! Every read is bounded by the committed end it starts with, so nothing
//! that is not yet durable is ever returned; `$all` reads also examine at
//! most [`MAX_SCAN_EVENTS_PER_READ`] records per call.
//!
//! Not here: how a stream's events are found (`shared::walk_stream`), how
//! bytes are read (`reader`), `$all` reads through the event-type and
//! category indexes (`by_index`).

use crate::codec::RecordView;
use crate::error::Result;
use crate::limits::MAX_SCAN_EVENTS_PER_READ;
use crate::reader::PointReader;
use crate::shared::Shared;
use crate::types::*;
use crate::visible::{
    first_at_or_after, first_revision_at_or_after, visible_stream, AllVisibility, VisibleStream,
};
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// Up to `max_count` visible events of one stream. A stream with no events
/// is [`Error::StreamNotFound`]; a deleted one [`Error::StreamDeleted`] or
/// [`Error::StreamTombstoned`]. Events hidden by its metadata are never
/// returned: the visible events are a suffix, and the range is cut to it.
pub(crate) fn read_stream(
    sh: &Shared,
    stream: &str,
    from: StreamFrom,
    direction: Direction,
    max_count: usize,
) -> Result<Vec<RecordedEvent>> {
    let VisibleStream { head, first } = visible_stream(sh, stream)?;
    let last = head.0;
    if max_count == 0 || first > last {
        return Ok(Vec::new());
    }
    let span = max_count as u64 - 1;
    let (lo, hi) = match direction {
        Direction::Forwards => {
            let start = match from {
                StreamFrom::Start => first,
                StreamFrom::End => return Ok(Vec::new()),
                StreamFrom::Revision(r) => r.max(first),
            };
            if start > last {
                return Ok(Vec::new());
            }
            (start, start.saturating_add(span).min(last))
        }
        Direction::Backwards => {
            let start = match from {
                StreamFrom::Start => first,
                StreamFrom::End => last,
                StreamFrom::Revision(r) => r.min(last),
            };
            if start < first {
                return Ok(Vec::new());
            }
            (start.saturating_sub(span).max(first), start)
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

/// `$all` from `from`: up to `max_count` visible events that pass `filter`
/// (every record as stored when `filter` is `None`: the raw log),
/// examining at most [`MAX_SCAN_EVENTS_PER_READ`] records.
/// With `use_indexes`, a filter the event-type or category index can serve
/// is read through it (`by_index`), with the same result.
pub(crate) fn read_all(
    sh: &Shared,
    from: AllFrom,
    direction: Direction,
    max_count: usize,
    filter: Option<&Filter>,
    use_indexes: bool,
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
    if let Some(f) = filter.filter(|_| use_indexes) {
        if let Some(plan) = crate::by_index::plan(sh, f)? {
            return crate::by_index::read(sh, &log, start, direction, max_count, f, &plan);
        }
    }
    let mut scanned = 0usize;
    let mut visibility = AllVisibility::new(sh);
    let mut failed = None;
    let mut visit = |v: &RecordView<'_>, page: &mut AllPage| {
        let Some(filter) = filter else {
            page.events.push(v.to_event());
            scanned += 1;
            page.scanned_to = v.position;
            return if page.events.len() >= max_count || scanned >= MAX_SCAN_EVENTS_PER_READ {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            };
        };
        if filter.matches(v.stream, v.event_type) {
            match visibility.check(v.stream, v.revision, v.created_micros) {
                Ok(true) => page.events.push(v.to_event()),
                Ok(false) => {}
                Err(e) => {
                    failed = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        scanned += 1;
        page.scanned_to = v.position;
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
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(page)
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

/// The first visible revision of `stream` committed at or after `micros`,
/// or `None` if all its visible events are older.
pub(crate) fn stream_revision_at_or_after(
    sh: &Shared,
    stream: &str,
    micros: i64,
) -> Result<Option<Revision>> {
    let VisibleStream { head, first } = visible_stream(sh, stream)?;
    first_revision_at_or_after(sh, stream, head, first, micros)
}

/// Sorts after every system stream name (all start with `$`), before
/// every application name (which cannot start with `$`).
const SYSTEM_NAMES_END: &str = "$\u{10FFFF}";

/// Streams whose names start with `prefix`, in name order, after `after`
/// (exclusive), at most `limit`. Deleted streams are left out, and so are
/// system streams unless `prefix` starts with `$`.
pub(crate) fn list_streams(
    sh: &Shared,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StreamInfo>> {
    let with_system = prefix.starts_with('$');
    let mut out = Vec::new();
    let mut cursor = after.map(str::to_owned);
    // System names sort first ('$' is below every letter and digit): skip
    // past them rather than read and drop every metadata stream's name.
    if !with_system && prefix.is_empty() && cursor.as_deref().is_none_or(|c| c < SYSTEM_NAMES_END) {
        cursor = Some(SYSTEM_NAMES_END.to_owned());
    }
    while out.len() < limit {
        let batch = list_all_streams(sh, prefix, cursor.as_deref(), limit)?;
        let exhausted = batch.len() < limit;
        for s in batch {
            cursor = Some(s.name.clone());
            let shown = (with_system || !s.name.starts_with('$'))
                && !sh
                    .lifecycles
                    .get(&s.name)
                    .is_some_and(|l| l.state.is_deleted(Some(s.revision)));
            if shown {
                out.push(s);
                if out.len() == limit {
                    break;
                }
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(out)
}

/// Every stream by name, deleted or not: the tail's heads merged over sled's.
fn list_all_streams(
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
