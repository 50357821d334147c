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
        let mut cursor = open(self.store.clone(), plan).await?;
        let first = cursor.next_page().await?;
        let (tx, rx) = mpsc::channel(READ_BUFFER_MESSAGES);
        let shutdown = self.shutdown.clone();
        tokio::spawn(stream_pages(cursor, first, tx, shutdown).in_current_span());
        Ok(ReceiverStream::new(rx))
    }
}

async fn stream_pages(
    mut cursor: ReadCursor,
    first: Option<Vec<RecordedEvent>>,
    tx: Tx,
    shutdown: watch::Receiver<bool>,
) {
    let mut page = first;
    let mut sent = 0usize;
    while let Some(events) = page.take() {
        sent += events.len();
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
    let mut done = max_count == Some(0);
    let cursor = match target {
        ReadTarget::All(filter) => {
            let from = match start {
                ReadStart::Start => AllFrom::Start,
                ReadStart::End => AllFrom::End,
                ReadStart::Position(p) => AllFrom::Position(p),
                // Adapters only let revisions through for stream reads.
                ReadStart::Revision(_) => {
                    return Err(Error::InvalidRequest(
                        "from.revision is for stream reads".into(),
                    ))
                }
                ReadStart::Timestamp(t) => {
                    let s = store.clone();
                    match direction {
                        Direction::Forwards => {
                            match blocking(move || s.position_at_or_after(t)).await? {
                                Some(p) => AllFrom::Position(p),
                                None => {
                                    done = true;
                                    AllFrom::End
                                }
                            }
                        }
                        // Last at or before t = the one before the first after t.
                        Direction::Backwards => match t.checked_add(1) {
                            None => AllFrom::End,
                            Some(t1) => match blocking(move || s.position_at_or_after(t1)).await? {
                                None => AllFrom::End,
                                Some(p) if p <= 1 => {
                                    done = true;
                                    AllFrom::Start
                                }
                                Some(p) => AllFrom::Position(p - 1),
                            },
                        },
                    }
                }
            };
            Cursor::All {
                filter: Arc::new(filter),
                from,
                last_scanned: None,
            }
        }
        ReadTarget::Stream(name) => {
            let name: Arc<str> = name.into();
            let from = match start {
                ReadStart::Start => StreamFrom::Start,
                ReadStart::End => StreamFrom::End,
                ReadStart::Revision(r) => StreamFrom::Revision(r),
                ReadStart::Position(_) => {
                    return Err(Error::InvalidRequest(
                        "from.position is for \"$all\" reads".into(),
                    ))
                }
                ReadStart::Timestamp(t) => {
                    let (s, n) = (store.clone(), name.clone());
                    match direction {
                        Direction::Forwards => {
                            match blocking(move || s.stream_revision_at_or_after(&n, t)).await? {
                                Some(r) => StreamFrom::Revision(r),
                                None => {
                                    done = true;
                                    StreamFrom::End
                                }
                            }
                        }
                        Direction::Backwards => match t.checked_add(1) {
                            None => StreamFrom::End,
                            Some(t1) => {
                                match blocking(move || s.stream_revision_at_or_after(&n, t1))
                                    .await?
                                {
                                    None => StreamFrom::End,
                                    Some(0) => {
                                        done = true;
                                        StreamFrom::Start
                                    }
                                    Some(r) => StreamFrom::Revision(r - 1),
                                }
                            }
                        },
                    }
                }
            };
            Cursor::Stream { name, from }
        }
    };
    Ok(ReadCursor {
        store,
        cursor,
        direction,
        remaining: max_count,
        sizer: PageSizer::default(),
        done,
    })
}

impl ReadCursor {
    /// The next non-empty page, or `None` when the read is complete.
    async fn next_page(&mut self) -> Result<Option<Vec<RecordedEvent>>, Error> {
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
