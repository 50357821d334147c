//! Applying the lifecycle rules on the read paths: which part of a stream
//! a read may return, and whether one record met during a `$all` scan is
//! visible. The rules themselves are in `lifecycle`; this file is where
//! the reads learn a stream's state and last revision to apply them.
//!
//! Not here: the rules (`lifecycle`), the reads (`query`).

use crate::error::{Error, Result};
use crate::lifecycle::{age_cutoff_micros, first_visible, is_visible, Lifecycle};
use crate::reader::PointReader;
use crate::shared::{missing, Head, Shared};
use crate::types::Revision;
use crate::validate::validate_read_name;
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

/// The visible part of a stream: revisions `first..=head.0` (empty when
/// `first > head.0`: the stream exists but every event is hidden).
#[derive(Debug, Clone, Copy)]
pub(crate) struct VisibleStream {
    pub head: Head,
    pub first: Revision,
}

/// What a read of `stream` may return, or why it may not: not found,
/// deleted, tombstoned.
pub(crate) fn visible_stream(sh: &Shared, stream: &str) -> Result<VisibleStream> {
    validate_read_name(stream)?;
    let life = sh.lifecycles.get(stream);
    let head = sh.stream_head(stream)?;
    if let Some(l) = &life {
        if l.state.tombstoned {
            return Err(Error::StreamTombstoned {
                stream: stream.to_owned(),
                write: false,
            });
        }
        if l.state.is_deleted(head.map(|h| h.0)) {
            return Err(Error::StreamDeleted(stream.to_owned()));
        }
    }
    let Some(head) = head else {
        return Err(Error::StreamNotFound(stream.to_owned()));
    };
    let Some(l) = life else {
        return Ok(VisibleStream { head, first: 0 });
    };
    let mut first = first_visible(&l.state, head.0);
    if let Some(cutoff) = age_cutoff_micros(&l.state, crate::clock::now_micros()) {
        first = match first_revision_at_or_after(sh, stream, head, first, cutoff)? {
            Some(r) => r,
            None => head.0 + 1,
        };
    }
    Ok(VisibleStream { head, first })
}

/// The first revision in `from..=head` committed at or after `micros`, or
/// `None` if all are older. Timestamps are non-decreasing, so this is a
/// binary search.
pub(crate) fn first_revision_at_or_after(
    sh: &Shared,
    stream: &str,
    head: Head,
    from: Revision,
    micros: i64,
) -> Result<Option<Revision>> {
    let last = head.0;
    if from > last {
        return Ok(None);
    }
    let log = sh.reader();
    let mut pr = PointReader::new(&log);
    let mut created_at = |rev: Revision| -> Result<i64> {
        let mut found = None;
        sh.walk_stream(&mut pr, stream, head, rev, rev, false, |_, _, loc, _| {
            found = Some(loc)
        })?;
        let loc = found.ok_or_else(|| missing(rev))?;
        PointReader::new(&log).with_record(loc, |v| v.created_micros)
    };
    if created_at(last)? < micros {
        return Ok(None);
    }
    first_at_or_after(from, last, micros, created_at).map(Some)
}

/// The smallest `k` in `lo..=hi` whose time is at or after `micros`, given
/// that `time_of` is non-decreasing (`hi` when none is before `hi`).
pub(crate) fn first_at_or_after(
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

/// Per-record visibility for `$all` reads: caches each stream's state and
/// last revision for the checker's lifetime (one page), so a stream with a
/// lifecycle costs one head lookup per page, not per event.
pub(crate) struct AllVisibility<S: Deref<Target = Shared>> {
    sh: S,
    /// No stream has a lifecycle record: everything is visible.
    none: bool,
    now_micros: i64,
    streams: HashMap<String, Option<(Lifecycle, Revision)>>,
}

impl<S: Deref<Target = Shared>> AllVisibility<S> {
    pub(crate) fn new(sh: S) -> Self {
        let none = sh.lifecycles.is_empty();
        AllVisibility {
            sh,
            none,
            now_micros: crate::clock::now_micros(),
            streams: HashMap::new(),
        }
    }

    /// Whether the record `stream@rev` committed at `created_micros` is visible.
    pub(crate) fn check(
        &mut self,
        stream: &str,
        rev: Revision,
        created_micros: i64,
    ) -> Result<bool> {
        if self.none {
            return Ok(true);
        }
        let entry = match self.streams.get(stream) {
            Some(e) => e.clone(),
            None => {
                let e = match self.sh.lifecycles.get(stream) {
                    None => None,
                    Some(l) => {
                        let last = self.sh.stream_head(stream)?.map_or(0, |h| h.0);
                        Some((l, last))
                    }
                };
                self.streams.insert(stream.to_owned(), e.clone());
                e
            }
        };
        Ok(match entry {
            None => true,
            Some((l, last)) => is_visible(&l.state, last, rev, created_micros, self.now_micros),
        })
    }
}

/// A visibility check for records read with `Store::read_log` (which
/// returns them raw): what the lifecycle rules say about one record, as of
/// when the checker was made. Make one per batch of records.
pub struct Visibility(AllVisibility<Arc<Shared>>);

impl std::fmt::Debug for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visibility").finish_non_exhaustive()
    }
}

impl Visibility {
    pub(crate) fn new(sh: Arc<Shared>) -> Visibility {
        Visibility(AllVisibility::new(sh))
    }

    /// Whether `event` may be served now.
    pub fn allows(&mut self, event: &crate::types::RecordedEvent) -> Result<bool> {
        self.0
            .check(&event.stream, event.revision, event.created_micros)
    }
}
