//! `$all` reads served from the event-type or category index instead of a
//! scan of the log: which filters can be (`plan`), and the read (`read`),
//! which returns exactly what the scan in `query::read_all` would.
//!
//! A filter is served by the category index when every stream prefix fixes
//! a category (`category::category_of_prefix`: `order-` with the separator
//! `-`), whatever `include_system` says (no system stream starts with such a
//! prefix); by the type index when it names event types and leaves system
//! records out (they are in neither index). With both, the one holding
//! fewer events. Anything else is scanned.
//!
//! The candidates are the index's positions of the names, merged in read
//! order without duplicates: from sled below the tail's first position
//! (sled has all of those: the indexer writes sled before it prunes the
//! tail), and from the tail above it, so reads never lag the log. Each is
//! read from the log and goes through the whole filter and the visibility
//! rules, as in the scan; positions a scavenge dropped are skipped. Every
//! candidate read counts towards [`MAX_SCAN_EVENTS_PER_READ`], and
//! `scanned_to` is the last one read — or the end of the log when the index
//! has no more, so a caller pages exactly as after a scan.
//!
//! Not here: the index's bytes (`secondary`), the scan (`query`).

use crate::category::category_of_prefix;
use crate::error::Result;
use crate::limits::{LOCATE_BATCH_POSITIONS, MAX_SCAN_EVENTS_PER_READ};
use crate::posmap::DROPPED;
use crate::reader::{Found, Loc, LogReader, PointReader};
use crate::secondary::{Cursor, Kind};
use crate::segments::Segment;
use crate::shared::{missing, Shared};
use crate::types::{AllPage, Direction, Filter, Position, RecordedEvent};
use crate::visible::AllVisibility;
use std::sync::Arc;

/// Which index serves a read, and which of its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub kind: Kind,
    /// Sorted, distinct.
    pub names: Vec<String>,
}

/// The index that can serve `filter`, if one can (see the module's doc).
pub(crate) fn plan(sh: &Shared, filter: &Filter) -> Result<Option<Plan>> {
    let secondary = sh.index.secondary();
    let separator = secondary.separator();
    let categories = match filter.stream_prefixes.is_empty() {
        true => None,
        false => filter
            .stream_prefixes
            .iter()
            .map(|p| category_of_prefix(p, separator).map(str::to_owned))
            .collect::<Option<Vec<_>>>(),
    };
    let types = (!filter.event_types.is_empty() && !filter.include_system)
        .then(|| filter.event_types.clone());
    let mut plans = [(Kind::Category, categories), (Kind::EventType, types)]
        .into_iter()
        .filter_map(|(kind, names)| {
            let mut names = names?;
            names.sort_unstable();
            names.dedup();
            Some(Plan { kind, names })
        })
        .collect::<Vec<_>>();
    if plans.len() < 2 {
        return Ok(plans.pop());
    }
    let mut best: Option<(u64, Plan)> = None;
    for p in plans {
        let mut events = 0u64;
        for n in &p.names {
            events = events.saturating_add(secondary.count(p.kind, n)?);
        }
        if best.as_ref().is_none_or(|(b, _)| events < *b) {
            best = Some((events, p));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Several names' cursors merged in read order, without duplicates.
struct Merge {
    cursors: Vec<Cursor>,
    forwards: bool,
}

impl Merge {
    fn next(&mut self) -> Result<Option<Position>> {
        let mut best: Option<Position> = None;
        for c in &mut self.cursors {
            if let Some(p) = c.peek()? {
                let better = best.is_none_or(|b| match self.forwards {
                    true => p < b,
                    false => p > b,
                });
                if better {
                    best = Some(p);
                }
            }
        }
        if let Some(b) = best {
            for c in &mut self.cursors {
                if c.peek()? == Some(b) {
                    c.advance();
                }
            }
        }
        Ok(best)
    }
}

/// Finds candidates' records through a window of one segment's position
/// map, read [`LOCATE_BATCH_POSITIONS`] entries at a time in read order.
#[derive(Default)]
struct Locator {
    seg: Option<Arc<Segment>>,
    /// Position of `entries[0]`.
    first: Position,
    entries: Vec<u32>,
}

impl Locator {
    fn find(&mut self, log: &LogReader<'_>, pos: Position, forwards: bool) -> Result<Found> {
        if pos == 0 || pos > log.committed.head {
            return Ok(Found::Missing);
        }
        let held = |l: &Locator| {
            l.seg.is_some() && pos >= l.first && pos - l.first < l.entries.len() as u64
        };
        if !held(self) {
            let Some(seg) = log.segments.for_position(pos) else {
                return Ok(Found::Missing);
            };
            let n = LOCATE_BATCH_POSITIONS as u64;
            self.first = match forwards {
                true => pos,
                false => pos.saturating_sub(n - 1).max(seg.base),
            };
            self.entries = seg.map.entries(seg.base, self.first, n as usize)?;
            self.seg = Some(seg);
            if !held(self) {
                return Ok(Found::Missing);
            }
        }
        let (Some(seg), Some(&offset)) = (&self.seg, self.entries.get((pos - self.first) as usize))
        else {
            return Ok(Found::Missing);
        };
        Ok(match offset {
            DROPPED => Found::Dropped,
            offset => Found::At(Loc {
                seg: seg.base,
                offset,
            }),
        })
    }
}

/// Reads candidates into a page, as the scan visits records.
struct Visit<'r, 'a, 's> {
    locator: Locator,
    forwards: bool,
    pr: PointReader<'r, 'a>,
    visibility: AllVisibility<&'s Shared>,
    filter: &'s Filter,
    max_count: usize,
    scanned: usize,
}

impl Visit<'_, '_, '_> {
    /// Reads `pos`; true when the page is full (events or records read).
    fn visit(&mut self, pos: Position, page: &mut AllPage) -> Result<bool> {
        match self.locator.find(self.pr.log(), pos, self.forwards)? {
            Found::At(loc) => {
                let (filter, visibility) = (self.filter, &mut self.visibility);
                let event = self
                    .pr
                    .with_record(loc, |v| -> Result<Option<RecordedEvent>> {
                        if v.position != pos {
                            return Err(missing(pos));
                        }
                        let shown = filter.matches(v.stream, v.event_type)
                            && visibility.check(v.stream, v.revision, v.created_micros)?;
                        Ok(shown.then(|| v.to_event()))
                    })??;
                page.events.extend(event);
            }
            // A scavenge dropped it: gone for good.
            Found::Dropped => {}
            Found::Missing => return Err(missing(pos)),
        }
        self.scanned += 1;
        page.scanned_to = pos;
        Ok(page.events.len() >= self.max_count || self.scanned >= MAX_SCAN_EVENTS_PER_READ)
    }
}

/// `$all` from `start` (already clamped as the scan clamps it) through the
/// index `plan` names: the same page the scan would return.
pub(crate) fn read(
    sh: &Shared,
    log: &LogReader<'_>,
    start: Position,
    direction: Direction,
    max_count: usize,
    filter: &Filter,
    plan: &Plan,
) -> Result<AllPage> {
    let head = log.committed.head;
    let forwards = direction == Direction::Forwards;
    let mut page = AllPage::default();
    let (lo, hi) = match forwards {
        true => (start, head),
        false => (1, start),
    };
    page.scanned_to = match forwards {
        true => start - 1,
        false => start + 1,
    };
    if lo <= hi && max_count > 0 {
        let mut visit = Visit {
            locator: Locator::default(),
            forwards,
            pr: PointReader::new(log),
            visibility: AllVisibility::new(sh),
            filter,
            max_count,
            scanned: 0,
        };
        if !walk(sh, plan, lo, hi, forwards, filter, |pos| {
            visit.visit(pos, &mut page)
        })? {
            // The index has nothing more up to the end.
            page.scanned_to = if forwards { head } else { 1 };
        }
    }
    page.reached_end = match forwards {
        true => page.scanned_to >= head,
        false => page.scanned_to <= 1,
    };
    Ok(page)
}

/// Calls `f` with every candidate in `lo..=hi`, in read order, until it
/// returns true; returns whether it did.
fn walk(
    sh: &Shared,
    plan: &Plan,
    lo: Position,
    hi: Position,
    forwards: bool,
    filter: &Filter,
    mut f: impl FnMut(Position) -> Result<bool>,
) -> Result<bool> {
    // The tail first: what it does not hold is in sled (see the module doc).
    let (tail_first, tail_hits) = {
        let tail = sh.tail.read().unwrap();
        let matching = |(p, e): (Position, &crate::tail::TailEntry)| {
            filter.matches(&e.stream, &e.event_type).then_some(p)
        };
        // No read examines more than this many candidates.
        let hits: Vec<Position> = match forwards {
            true => tail
                .range(lo, hi)
                .filter_map(matching)
                .take(MAX_SCAN_EVENTS_PER_READ)
                .collect(),
            false => tail
                .range(lo, hi)
                .rev()
                .filter_map(matching)
                .take(MAX_SCAN_EVENTS_PER_READ)
                .collect(),
        };
        (tail.first(), hits)
    };
    let sled_hi = hi.min(tail_first.saturating_sub(1));
    let secondary = sh.index.secondary();
    let mut merge = Merge {
        cursors: plan
            .names
            .iter()
            .map(|n| secondary.cursor(plan.kind, n, lo, sled_hi, forwards))
            .collect(),
        forwards,
    };
    if !forwards {
        for &p in &tail_hits {
            if f(p)? {
                return Ok(true);
            }
        }
    }
    while let Some(p) = merge.next()? {
        if f(p)? {
            return Ok(true);
        }
    }
    if forwards {
        for &p in &tail_hits {
            if f(p)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
