//! Listing the event types and categories of the log, with how many events
//! each has: the secondary indexes' counts plus the events not yet
//! indexed (the tail), read under the indexes' lock so that no event is
//! counted twice or missed while the indexer moves the tail into sled.
//!
//! A count is of the events in the log that a scavenge has not dropped,
//! visible or not: events of deleted, truncated or expired streams count
//! until a scavenge drops them. System records are in no count.
//!
//! Not here: the index (`secondary`), reads through it (`by_index`).

use crate::category::category_of;
use crate::error::Result;
use crate::limits::MAX_LISTED_NAMES;
use crate::secondary::Kind;
use crate::shared::Shared;
use crate::types::{NameCount, Position};
use std::collections::{BTreeMap, HashMap};

/// Names of `kind` starting with `prefix` (`""`: all), after `after`
/// (exclusive), in name order, at most `limit` (cut to
/// [`MAX_LISTED_NAMES`]).
pub(crate) fn list(
    sh: &Shared,
    kind: Kind,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<NameCount>> {
    let limit = limit.min(MAX_LISTED_NAMES);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let secondary = sh.index.secondary();
    let separator = secondary.separator();
    let _held = secondary.lock();
    // sled's first `limit` names and every name of the tail: the first
    // `limit` of their union are the answer.
    let mut merged: BTreeMap<String, u64> = secondary
        .list(kind, prefix, after, limit)?
        .into_iter()
        .collect();
    let tail = sh.tail.read().unwrap();
    let mut in_tail: HashMap<&str, u64> = HashMap::new();
    for (_, e) in tail.range(0, Position::MAX) {
        let Some(category) = category_of(&e.stream, separator) else {
            continue;
        };
        let name = match kind {
            Kind::EventType => &*e.event_type,
            Kind::Category => category,
        };
        if name.starts_with(prefix) && after.is_none_or(|a| name > a) {
            *in_tail.entry(name).or_default() += 1;
        }
    }
    for (name, n) in in_tail {
        *merged.entry(name.to_owned()).or_default() += n;
    }
    Ok(merged
        .into_iter()
        .take(limit)
        .map(|(name, events)| NameCount { name, events })
        .collect())
}
