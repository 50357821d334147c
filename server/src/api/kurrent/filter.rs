//! KurrentDB's server-side `$all` filters — on stream names or event
//! types, by prefixes or a regular expression — split into what Strata's
//! domain filter can do and what this adapter does itself.
//!
//! Stream-name prefixes are exactly Strata's `Filter::stream_prefixes`, so
//! the domain filters (through its indexes) and checkpoints. Event-type
//! prefixes and regexes on either field have no domain equivalent: the
//! domain then reads every application event and [`Predicate`] keeps the
//! matching ones here, counting the events examined so the subscription
//! still sends a checkpoint every `window × multiplier` of them.
//!
//! Regexes follow .NET's `Regex.IsMatch` as KurrentDB does: a match
//! anywhere, look-around allowed (the Python client's default exclusion
//! filter is `^(?!(…))`), hence `fancy-regex`; its backtracking is bounded
//! by [`MAX_REGEX_BACKTRACK_STEPS`] per event and an event whose match
//! runs over counts as not matching.
//!
//! Not here: the protobuf shape (`convert`) or sending anything (`read`).

use fancy_regex::{Regex, RegexBuilder};
use strata_storage::{Filter, RecordedEvent};

/// Longest filter regex accepted, in bytes.
pub const MAX_FILTER_REGEX_BYTES: usize = 4 * 1024;
/// Most backtracking steps one regex match may take on one event.
pub const MAX_REGEX_BACKTRACK_STEPS: usize = 100_000;
/// The search window assumed when a filter asks for `count` instead of a
/// `max` (KurrentDB's default window), in events.
pub const DEFAULT_FILTER_WINDOW_EVENTS: u64 = 32;

/// Which field a filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    StreamName,
    EventType,
}

/// How a filter matches.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Any of these prefixes.
    Prefixes(Vec<String>),
    /// The regex matches somewhere in the field.
    Regex(Regex),
}

/// A KurrentDB filter the adapter applies itself.
#[derive(Debug, Clone)]
pub struct Predicate {
    field: Field,
    matcher: Matcher,
}

impl Predicate {
    /// Whether `e` passes.
    pub fn matches(&self, e: &RecordedEvent) -> bool {
        let value = match self.field {
            Field::StreamName => e.stream.as_str(),
            Field::EventType => e.event_type.as_str(),
        };
        match &self.matcher {
            Matcher::Prefixes(ps) => ps.iter().any(|p| value.starts_with(p.as_str())),
            // A match that runs out of backtracking steps is not a match.
            Matcher::Regex(r) => r.is_match(value).unwrap_or(false),
        }
    }
}

/// A KurrentDB filter split between the domain and this adapter.
#[derive(Debug, Clone, Default)]
pub struct SplitFilter {
    /// What the domain filters (before the caller's access narrows it).
    pub domain: Filter,
    /// What this adapter filters after it; `None` = nothing more.
    pub predicate: Option<Predicate>,
    /// A checkpoint at least every this many events examined; `None` for
    /// unfiltered reads (KurrentDB sends no checkpoints then).
    pub checkpoint_interval_events: Option<u64>,
}

/// Compiles a client's regex with the bounds above.
pub fn compile(regex: &str) -> Result<Regex, String> {
    if regex.len() > MAX_FILTER_REGEX_BYTES {
        return Err(format!(
            "filter regex is {} bytes, over the limit of {MAX_FILTER_REGEX_BYTES}",
            regex.len()
        ));
    }
    RegexBuilder::new(regex)
        .backtrack_limit(MAX_REGEX_BACKTRACK_STEPS)
        .build()
        .map_err(|e| format!("invalid filter regex {regex:?}: {e}"))
}

/// Builds the split filter of `field` matching `regex` (if non-empty) or
/// else `prefixes`; `window` and `multiplier` give the checkpoint interval.
pub fn split(
    field: Field,
    regex: &str,
    prefixes: Vec<String>,
    window: u64,
    multiplier: u32,
) -> Result<SplitFilter, String> {
    let interval = window.max(1).saturating_mul(u64::from(multiplier.max(1)));
    let mut out = SplitFilter {
        checkpoint_interval_events: Some(interval),
        ..SplitFilter::default()
    };
    match (field, regex.is_empty()) {
        (Field::StreamName, true) => {
            // An empty prefix matches every name: no filter at all.
            if prefixes.iter().any(String::is_empty) || prefixes.is_empty() {
                out.predicate = None;
            } else {
                out.domain.stream_prefixes = prefixes;
            }
        }
        (_, true) => {
            if !prefixes.iter().any(String::is_empty) && !prefixes.is_empty() {
                out.predicate = Some(Predicate {
                    field,
                    matcher: Matcher::Prefixes(prefixes),
                });
            }
        }
        (_, false) => {
            out.predicate = Some(Predicate {
                field,
                matcher: Matcher::Regex(compile(regex)?),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stream: &str, event_type: &str) -> RecordedEvent {
        RecordedEvent {
            stream: stream.into(),
            revision: 0,
            position: 1,
            id: uuid::Uuid::nil(),
            event_type: event_type.into(),
            content_type: String::new(),
            created_micros: 0,
            data: vec![],
            metadata: vec![],
        }
    }

    #[test]
    fn stream_prefixes_go_to_the_domain_and_types_stay_here() {
        let s = split(Field::StreamName, "", vec!["order-".into()], 10, 2).unwrap();
        assert_eq!(s.domain.stream_prefixes, vec!["order-".to_owned()]);
        assert!(s.predicate.is_none());
        assert_eq!(s.checkpoint_interval_events, Some(20));

        let t = split(Field::EventType, "", vec!["Order".into()], 10, 0).unwrap();
        assert!(t.domain.is_empty());
        let p = t.predicate.unwrap();
        assert!(p.matches(&event("x", "OrderPlaced")));
        assert!(!p.matches(&event("Order-1", "Shipped")));
    }

    #[test]
    fn the_python_clients_exclusion_regex_works() {
        // kurrentdbclient's default: exclude system, PersistentConfig, Result.
        let re = r"^(?!(\$.+$|PersistentConfig\d+$|Result$))";
        let p = split(Field::EventType, re, vec![], 30, 5)
            .unwrap()
            .predicate
            .unwrap();
        assert!(p.matches(&event("s", "OrderPlaced")));
        assert!(!p.matches(&event("s", "$metadata")));
        assert!(!p.matches(&event("s", "PersistentConfig1")));
    }

    #[test]
    fn a_bad_or_huge_regex_is_refused() {
        assert!(split(Field::StreamName, "(", vec![], 1, 1).is_err());
        let huge = "a".repeat(MAX_FILTER_REGEX_BYTES + 1);
        assert!(split(Field::StreamName, &huge, vec![], 1, 1).is_err());
    }
}
