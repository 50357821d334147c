//! Reads: one stream or `$all`, forwards or backwards, delivered as a
//! stream of message-sized pages.
//!
//! [`Node::read`] resolves the start (timestamps via the store's binary
//! searches) and reads the first page *before* returning, so a missing
//! stream or a bad name is a plain error rather than a failure after some
//! messages. The rest is read by a task that pages through the store on
//! the blocking pool and feeds a bounded channel of
//! [`READ_BUFFER_MESSAGES`] messages; it stops when the read is complete,
//! the caller goes away (send fails), or the server shuts down.
//!
//! `$all` is read with `read_all`, following `scanned_to` page after page
//! (each call examines at most `MAX_SCAN_EVENTS_PER_READ` records, so a
//! rare filter match cannot hold a reader for long) until `max_count` or
//! the end of the log.
//!
//! Not here: checking a request's shape against its wire format (the
//! adapters build a [`ReadPlan`]).

use super::paging::{into_messages, PageSizer};
use super::{blocking, Error, Node};
use crate::telemetry::{otel, Metrics, ReadKind};
use std::sync::Arc;
use strata_storage::{AllFrom, Direction, Filter, RecordedEvent, Store, StreamFrom};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

/// Where a read starts; timestamps are resolved against the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStart {
    /// The first event (forwards) / only the first event (backwards).
    Start,
    /// The last event (backwards) / nothing (forwards).
    End,
    /// This revision, inclusive (stream reads).
    Revision(u64),
    /// This position, inclusive (`$all` reads).
    Position(u64),
    /// First event at/after (forwards) or last at/before (backwards) this time.
    Timestamp(i64),
}

/// What a read targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadTarget {
    /// The global log, with a filter.
    All(Filter),
    /// One stream.
    Stream(String),
}

/// A read request, its shape checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    /// What to read.
    pub target: ReadTarget,
    /// Which way.
    pub direction: Direction,
    /// Where to start.
    pub start: ReadStart,
    /// Most events; `None` = unlimited.
    pub max_count: Option<u64>,
}

/// The messages of a read in progress, in order; an error ends it.
pub type ReadMessages = ReceiverStream<Result<Vec<RecordedEvent>, Error>>;

/// Messages buffered per read before the reader task waits for the
/// caller (each at most about 2 MiB, see `paging`).
pub const READ_BUFFER_MESSAGES: usize = 4;

type Tx = mpsc::Sender<Result<Vec<RecordedEvent>, Error>>;

/// Where the next page starts.
#[derive(Debug)]
enum Cursor {
    All {
        filter: Arc<Filter>,
        from: AllFrom,
        last_scanned: Option<u64>,
    },
    Stream {
        name: Arc<str>,
        from: StreamFrom,
    },
}

/// A read in progress: yields pages until done.
#[derive(Debug)]
struct ReadCursor {
    store: Store,
    cursor: Cursor,
    direction: Direction,
    /// Events still wanted; `None` = unlimited.
    remaining: Option<u64>,
    sizer: PageSizer,
    done: bool,
}

impl Node {
    /// Starts a read: resolves the start, reads the first page, then
    /// streams the rest from a task.
    pub async fn read(&self, plan: ReadPlan) -> Result<ReadMessages, Error> {
        self.metrics.read(match plan.target {
            ReadTarget::All(_) => ReadKind::All,
            ReadTarget::Stream(_) => ReadKind::Stream,
        });
        let mut cursor = open(self.store.clone(), plan).await?;
        let first = cursor.next_page().await?;
        let (tx, rx) = mpsc::channel(READ_BUFFER_MESSAGES);
        let shutdown = self.shutdown.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(stream_pages(cursor, first, tx, shutdown, metrics).in_current_span());
        Ok(ReceiverStream::new(rx))
    }
}

async fn stream_pages(
    mut cursor: ReadCursor,
    first: Option<Vec<RecordedEvent>>,
    tx: Tx,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    let mut page = first;
    let mut sent = 0usize;
    while let Some(events) = page.take() {
        sent += events.len();
        metrics.read_events(events.len() as u64);
        for msg in into_messages(events) {
            if tx.send(Ok(msg)).await.is_err() {
                tracing::debug!(sent, "client went away; read stopped");
                return;
            }
        }
        if *shutdown.borrow() {
            let _ = tx.send(Err(Error::ShuttingDown)).await;
            return;
        }
        match cursor.next_page().await {
            Ok(p) => page = p,
            Err(e) => {
                tracing::warn!(error = %e, "read failed mid-stream");
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
    tracing::debug!(sent, "read complete");
}

/// Resolves the plan's start against the store.
async fn open(store: Store, plan: ReadPlan) -> Result<ReadCursor, Error> {
    let ReadPlan {
        target,
        direction,
        start,
        max_count,
    } = plan;
    let start = match (start, &target) {
        (ReadStart::Start, _) => Start::First,
        (ReadStart::End, _) => Start::Last,
        (ReadStart::Position(p), ReadTarget::All(_)) => Start::At(p),
        (ReadStart::Revision(r), ReadTarget::Stream(_)) => Start::At(r),
        // Adapters only let positions through for `$all`, revisions for streams.
        (ReadStart::Revision(_), ReadTarget::All(_)) => {
            return Err(Error::InvalidRequest(
                "from.revision is for stream reads".into(),
            ))
        }
        (ReadStart::Position(_), ReadTarget::Stream(_)) => {
            return Err(Error::InvalidRequest(
                "from.position is for \"$all\" reads".into(),
            ))
        }
        (ReadStart::Timestamp(t), ReadTarget::All(_)) => {
            let s = store.clone();
            let search = move |t| s.position_at_or_after(t);
            from_timestamp(t, direction, FIRST_POSITION, search).await?
        }
        (ReadStart::Timestamp(t), ReadTarget::Stream(name)) => {
            let (s, n) = (store.clone(), name.clone());
            let search = move |t| s.stream_revision_at_or_after(&n, t);
            from_timestamp(t, direction, FIRST_REVISION, search).await?
        }
    };
    let cursor = match target {
        ReadTarget::All(filter) => Cursor::All {
            filter: Arc::new(filter),
            from: match start {
                Start::First => AllFrom::Start,
                Start::At(p) => AllFrom::Position(p),
                Start::Last | Start::Nothing => AllFrom::End,
            },
            last_scanned: None,
        },
        ReadTarget::Stream(name) => Cursor::Stream {
            name: name.into(),
            from: match start {
                Start::First => StreamFrom::Start,
                Start::At(r) => StreamFrom::Revision(r),
                Start::Last | Start::Nothing => StreamFrom::End,
            },
        },
    };
    Ok(ReadCursor {
        store,
        cursor,
        direction,
        remaining: max_count,
        sizer: PageSizer::default(),
        done: max_count == Some(0) || start == Start::Nothing,
    })
}

/// The first global position of the log.
const FIRST_POSITION: u64 = 1;
/// The first revision of a stream.
const FIRST_REVISION: u64 = 0;

/// Where a read starts, counted as its target counts events (positions
/// for `$all`, revisions for a stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// The first event.
    First,
    /// This position or revision, inclusive.
    At(u64),
    /// The last event.
    Last,
    /// No event qualifies: the read is empty.
    Nothing,
}

/// Resolves a timestamp start, for `$all` and streams alike. Forwards it
/// is the first event at or after `t`; backwards, the last event at or
/// before `t`, i.e. the one before the first event after `t` (the last
/// event if none is after `t`). `first` is
/// the lowest index the target has; `at_or_after` is the store's binary
/// search for the first event at or after a time (run on the blocking
/// pool).
async fn from_timestamp<F>(
    t: i64,
    direction: Direction,
    first: u64,
    at_or_after: F,
) -> Result<Start, Error>
where
    F: FnOnce(i64) -> strata_storage::Result<Option<u64>> + Send + 'static,
{
    match direction {
        Direction::Forwards => Ok(match blocking(move || at_or_after(t)).await? {
            Some(i) => Start::At(i),
            None => Start::Nothing,
        }),
        Direction::Backwards => {
            // No time is after i64::MAX: everything is at or before it.
            let Some(after) = t.checked_add(1) else {
                return Ok(Start::Last);
            };
            Ok(match blocking(move || at_or_after(after)).await? {
                None => Start::Last,
                Some(i) => match i.checked_sub(1) {
                    Some(before) if before >= first => Start::At(before),
                    _ => Start::Nothing,
                },
            })
        }
    }
}

impl ReadCursor {
    /// The next non-empty page, or `None` when the read is complete.
    async fn next_page(&mut self) -> Result<Option<Vec<RecordedEvent>>, Error> {
        // A span per page only while traces are exported.
        let span = if otel::enabled() {
            tracing::info_span!("read_page", events = tracing::field::Empty)
        } else {
            tracing::Span::none()
        };
        let page = self.next_page_inner().instrument(span.clone()).await;
        if let Ok(Some(p)) = &page {
            span.record("events", p.len());
        }
        page
    }

    async fn next_page_inner(&mut self) -> Result<Option<Vec<RecordedEvent>>, Error> {
        while !self.done {
            let mut want = self.sizer.next();
            if let Some(rem) = self.remaining {
                want = want.min(usize::try_from(rem).unwrap_or(usize::MAX));
            }
            let store = self.store.clone();
            let dir = self.direction;
            let events = match &mut self.cursor {
                Cursor::All {
                    filter,
                    from,
                    last_scanned,
                } => {
                    let (f, fr) = (filter.clone(), *from);
                    let page = blocking(move || store.read_all(fr, dir, want, &f)).await?;
                    let stuck = *last_scanned == Some(page.scanned_to);
                    *last_scanned = Some(page.scanned_to);
                    match dir {
                        Direction::Forwards => {
                            *from = AllFrom::Position(page.scanned_to.saturating_add(1))
                        }
                        Direction::Backwards => {
                            *from = AllFrom::Position(page.scanned_to.saturating_sub(1))
                        }
                    }
                    let at_start = dir == Direction::Backwards && page.scanned_to <= 1;
                    if page.reached_end || at_start || stuck {
                        self.done = true;
                    }
                    page.events
                }
                Cursor::Stream { name, from } => {
                    let (n, fr) = (name.clone(), *from);
                    let events = blocking(move || store.read_stream(&n, fr, dir, want)).await?;
                    match (events.last(), dir) {
                        (Some(last), _) if events.len() >= want => match dir {
                            Direction::Forwards => match last.revision.checked_add(1) {
                                Some(r) => *from = StreamFrom::Revision(r),
                                None => self.done = true,
                            },
                            Direction::Backwards => match last.revision.checked_sub(1) {
                                Some(r) => *from = StreamFrom::Revision(r),
                                None => self.done = true,
                            },
                        },
                        // A short page: the stream's end (or start) was reached.
                        _ => self.done = true,
                    }
                    events
                }
            };
            if let Some(rem) = &mut self.remaining {
                *rem = rem.saturating_sub(events.len() as u64);
                if *rem == 0 {
                    self.done = true;
                }
            }
            self.sizer.observe(&events);
            if !events.is_empty() {
                return Ok(Some(events));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `from_timestamp` over a log whose events at indexes `first..` have
    /// the times in `times` (non-decreasing).
    async fn resolve(times: &'static [i64], first: u64, t: i64, dir: Direction) -> Start {
        let search = move |t: i64| {
            let i = times.iter().position(|&x| x >= t);
            Ok(i.map(|i| first + i as u64))
        };
        from_timestamp(t, dir, first, search).await.unwrap()
    }

    #[tokio::test]
    async fn timestamps_resolve_alike_for_positions_and_revisions() {
        const TIMES: &[i64] = &[10, 20, 20, 30];
        use Direction::{Backwards as B, Forwards as F};
        for first in [FIRST_POSITION, FIRST_REVISION] {
            assert_eq!(resolve(TIMES, first, 5, F).await, Start::At(first));
            assert_eq!(resolve(TIMES, first, 20, F).await, Start::At(first + 1));
            assert_eq!(resolve(TIMES, first, 31, F).await, Start::Nothing);
            assert_eq!(resolve(TIMES, first, 5, B).await, Start::Nothing);
            assert_eq!(resolve(TIMES, first, 10, B).await, Start::At(first));
            assert_eq!(resolve(TIMES, first, 25, B).await, Start::At(first + 2));
            assert_eq!(resolve(TIMES, first, 30, B).await, Start::Last);
            assert_eq!(resolve(TIMES, first, i64::MAX, B).await, Start::Last);
        }
    }
}
