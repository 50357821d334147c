//! Reads of a stream or of `$all` as a [`futures::Stream`] of events: the
//! server's pages are flattened, and a read broken part-way resumes right
//! after the last event it yielded (through `resumable.rs`), so no event is
//! skipped or repeated.
//!
//! Not here: the retry and reopen loop itself (`resumable.rs`) or the
//! protobuf shapes (`convert.rs`).

use std::collections::VecDeque;
use std::fmt::Debug;

use crate::transport::Transport;
use futures::Stream;
use strata_proto::v1 as pb;
use strata_proto::v1::streams_client::StreamsClient;
use tonic::{Response, Status, Streaming};

use crate::client::Client;
use crate::convert;
use crate::error::Result;
use crate::filter::Filter;
use crate::resumable::{resumable, Delivery, Resume};
use crate::types::{AllFrom, Direction, ReadAllOptions, ReadOptions, RecordedEvent, StreamFrom};

impl Client {
    /// Reads one stream. The server sends pages; the returned stream yields
    /// their events one by one, in read order.
    ///
    /// If the connection breaks part-way, the read resumes after the last
    /// event it yielded (per the retry policy), so no event is skipped or
    /// repeated.
    ///
    /// # Errors
    ///
    /// The stream yields [`Error::NotFound`](crate::Error::NotFound) if the
    /// stream does not exist, [`Error::StreamDeleted`](crate::Error::StreamDeleted)
    /// if it was soft-deleted (and nothing appended since), and
    /// [`Error::StreamTombstoned`](crate::Error::StreamTombstoned) if it was
    /// tombstoned.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use futures::TryStreamExt;
    /// use strata_client::ReadOptions;
    ///
    /// let mut events = client.read_stream("order-1", ReadOptions::backwards().max_count(10));
    /// while let Some(e) = events.try_next().await? {
    ///     println!("{} {}", e.revision, e.event_type);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn read_stream(
        &self,
        stream: impl Into<String>,
        options: ReadOptions,
    ) -> impl Stream<Item = Result<RecordedEvent>> + Unpin + Send + 'static {
        let target = ReadTarget::Stream {
            name: stream.into(),
            from: options.from,
        };
        read_events(self.clone(), target, options.direction, options.max_count)
    }

    /// Reads the global log (`$all`), optionally filtered, yielding events
    /// one by one in read order. Resumes like [`Client::read_stream`].
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use futures::TryStreamExt;
    /// use strata_client::{Filter, ReadAllOptions};
    ///
    /// let orders: Vec<_> = client
    ///     .read_all(ReadAllOptions::forwards().filter(Filter::new().stream_prefix("order-")))
    ///     .try_collect()
    ///     .await?;
    /// println!("{} order events", orders.len());
    /// # Ok(()) }
    /// ```
    pub fn read_all(
        &self,
        options: ReadAllOptions,
    ) -> impl Stream<Item = Result<RecordedEvent>> + Unpin + Send + 'static {
        let target = ReadTarget::All {
            from: options.from,
            filter: options.filter,
        };
        read_events(self.clone(), target, options.direction, options.max_count)
    }
}

enum ReadTarget {
    Stream {
        name: String,
        from: Option<StreamFrom>,
    },
    All {
        from: Option<AllFrom>,
        filter: Filter,
    },
}

/// Where a read stands: what it reads, how many events are still wanted,
/// and the last one yielded (the point a reopened read continues after).
struct ReadCursor {
    target: ReadTarget,
    direction: Direction,
    /// Events still wanted; `None`: no limit.
    remaining: Option<u64>,
    /// Revision (stream) or position (`$all`) of the last event yielded.
    last: Option<u64>,
}

impl ReadCursor {
    /// The request that continues after the last event yielded, or `None`
    /// if the read is complete.
    fn next_request(&self) -> Option<pb::ReadRequest> {
        let max_count = self.remaining.unwrap_or(0);
        let next = match (self.last, self.direction) {
            (None, _) => None,
            (Some(l), Direction::Forwards) => Some(l.checked_add(1)?),
            (Some(l), Direction::Backwards) => Some(l.checked_sub(1)?),
        };
        Some(match &self.target {
            ReadTarget::Stream { name, from } => {
                let from = next.map(StreamFrom::Revision).or(*from);
                convert::read_stream_to_pb(name, self.direction, from, max_count)
            }
            ReadTarget::All { from, filter } => {
                if next == Some(0) {
                    return None; // positions start at 1
                }
                let from = next.map(AllFrom::Position).or(*from);
                convert::read_all_to_pb(self.direction, from, max_count, filter)
            }
        })
    }
}

impl Resume for ReadCursor {
    type Request = pb::ReadRequest;
    type Message = pb::ReadResponse;
    /// Events stay in their protobuf form until yielded, so a malformed one
    /// ends the read only when the consumer reaches it.
    type Pending = pb::RecordedEvent;
    type Item = RecordedEvent;

    const KIND: &'static str = "read";

    async fn request(&mut self, _client: &Client) -> Result<Option<pb::ReadRequest>> {
        Ok(self.next_request())
    }

    async fn call(
        mut streams: StreamsClient<Transport>,
        request: pb::ReadRequest,
    ) -> Result<Response<Streaming<pb::ReadResponse>>, Status> {
        streams.read(crate::trace::request(request)).await
    }

    fn unpack(
        &mut self,
        page: pb::ReadResponse,
        into: &mut VecDeque<pb::RecordedEvent>,
    ) -> Result<()> {
        into.extend(page.events);
        Ok(())
    }

    fn deliver(&mut self, event: pb::RecordedEvent) -> Result<Delivery<RecordedEvent>> {
        let e = convert::recorded_from_pb(event)?;
        self.last = Some(match self.target {
            ReadTarget::Stream { .. } => e.revision,
            ReadTarget::All { .. } => e.position,
        });
        let complete = match &mut self.remaining {
            Some(r) => {
                *r -= 1;
                *r == 0
            }
            None => false,
        };
        Ok(Delivery { item: e, complete })
    }

    /// The server ends a read's call when it has sent everything asked for.
    fn closed(&self) -> Option<Status> {
        None
    }

    fn resume_point(&self) -> &dyn Debug {
        &self.last
    }
}

fn read_events(
    client: Client,
    target: ReadTarget,
    direction: Direction,
    max_count: u64,
) -> impl Stream<Item = Result<RecordedEvent>> + Unpin + Send + 'static {
    let cursor = ReadCursor {
        target,
        direction,
        remaining: (max_count > 0).then_some(max_count),
        last: None,
    };
    resumable(client, cursor)
}
