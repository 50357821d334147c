//! Catch-up subscriptions (to a stream, or to `$all` with a filter) as a
//! [`futures::Stream`] of [`SubscriptionItem`]s that resubscribe by
//! themselves: after a broken connection or a server restart the
//! subscription reopens (through `resumable.rs`) after the last revision or
//! position it delivered, or the last checkpoint, so the consumer sees no
//! gap and no duplicate.
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
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::resumable::{resumable, Delivery, Resume};
use crate::types::{ReadOptions, SubscribeFrom, SubscriptionItem};

impl Client {
    /// Subscribes to one stream: first its history from `from`, then a
    /// [`SubscriptionItem::CaughtUp`], then live events as they are
    /// committed, with no gap, duplicate or reordering. The stream need not
    /// exist yet.
    ///
    /// The subscription survives broken connections and server restarts: on
    /// `UNAVAILABLE` or a dropped connection it resubscribes after the last
    /// revision it delivered, with exponential backoff per the retry policy
    /// (the attempt count resets whenever a message arrives), so the consumer
    /// sees neither a gap nor a duplicate. `CaughtUp` is sent again after
    /// each resubscription. [`SubscribeFrom::End`] is resolved to the
    /// stream's last revision when the subscription starts, so that a
    /// resubscription misses nothing either. The stream ends only after a
    /// non-retryable error (yielded as its last item) or when the retries are
    /// exhausted.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use futures::TryStreamExt;
    /// use strata_client::{SubscribeFrom, SubscriptionItem};
    ///
    /// let mut sub = client.subscribe_to_stream("order-1", SubscribeFrom::Start);
    /// while let Some(item) = sub.try_next().await? {
    ///     match item {
    ///         SubscriptionItem::Event(e) => println!("{} {}", e.revision, e.event_type),
    ///         SubscriptionItem::CaughtUp(_) => println!("now live"),
    ///         SubscriptionItem::Checkpoint(_) => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscribe_to_stream(
        &self,
        stream: impl Into<String>,
        from: SubscribeFrom,
    ) -> impl Stream<Item = Result<SubscriptionItem>> + Unpin + Send + 'static {
        subscribe(self.clone(), SubTarget::Stream(stream.into()), from)
    }

    /// Subscribes to the global log (`$all`), optionally filtered, from
    /// `from` (a global position for [`SubscribeFrom::After`]). Filtered
    /// subscriptions also receive [`SubscriptionItem::Checkpoint`]s (by the
    /// server's default interval). Resubscribes after connection failures
    /// like [`Client::subscribe_to_stream`], from the last position it
    /// delivered or the last checkpoint.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use futures::TryStreamExt;
    /// use strata_client::{Filter, SubscribeFrom, SubscriptionItem};
    ///
    /// let filter = Filter::new().event_type("OrderPlaced");
    /// let mut sub = client.subscribe_to_all(SubscribeFrom::End, filter);
    /// while let Some(item) = sub.try_next().await? {
    ///     if let SubscriptionItem::Event(e) = item {
    ///         println!("{} placed at {}", e.stream, e.position);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscribe_to_all(
        &self,
        from: SubscribeFrom,
        filter: Filter,
    ) -> impl Stream<Item = Result<SubscriptionItem>> + Unpin + Send + 'static {
        self.subscribe_to_all_with_checkpoints(from, filter, 0)
    }

    /// [`Client::subscribe_to_all`] with a checkpoint at least every
    /// `checkpoint_interval` scanned events (0: the server default, 1024).
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) {
    /// use strata_client::{Filter, SubscribeFrom};
    /// let sub = client.subscribe_to_all_with_checkpoints(
    ///     SubscribeFrom::Start, Filter::new().stream_prefix("order-"), 100);
    /// # let _ = sub; }
    /// ```
    pub fn subscribe_to_all_with_checkpoints(
        &self,
        from: SubscribeFrom,
        filter: Filter,
        checkpoint_interval: u32,
    ) -> impl Stream<Item = Result<SubscriptionItem>> + Unpin + Send + 'static {
        subscribe(
            self.clone(),
            SubTarget::All {
                filter,
                checkpoint_interval,
            },
            from,
        )
    }
}

enum SubTarget {
    Stream(String),
    All {
        filter: Filter,
        checkpoint_interval: u32,
    },
}

/// Where a subscription stands: what it follows and where the next
/// (re)subscription starts.
struct SubCursor {
    target: SubTarget,
    /// After the last revision or position delivered (or the last
    /// checkpoint, for `$all`).
    from: SubscribeFrom,
}

impl SubCursor {
    /// Turns `End` into "after the current last revision/position", so that
    /// a resubscription does not lose events committed while disconnected.
    async fn resolve_end(&mut self, client: &Client) -> Result<()> {
        if self.from != SubscribeFrom::End {
            return Ok(());
        }
        self.from = match &self.target {
            SubTarget::Stream(name) => {
                let mut last =
                    client.read_stream(name.clone(), ReadOptions::backwards().max_count(1));
                match futures::StreamExt::next(&mut last).await {
                    Some(Ok(e)) => SubscribeFrom::After(e.revision),
                    // No stream yet, or a soft-deleted one (no visible event;
                    // the server delivers what a recreation appends):
                    // everything from here on is new.
                    None | Some(Err(Error::NotFound { .. } | Error::StreamDeleted { .. })) => {
                        SubscribeFrom::Start
                    }
                    Some(Err(e)) => return Err(e),
                }
            }
            SubTarget::All { .. } => {
                SubscribeFrom::After(client.server_info().await?.head_position)
            }
        };
        Ok(())
    }

    fn request_from_here(&self) -> pb::SubscribeRequest {
        match &self.target {
            SubTarget::Stream(name) => convert::subscribe_stream_to_pb(name, self.from),
            SubTarget::All {
                filter,
                checkpoint_interval,
            } => convert::subscribe_all_to_pb(self.from, filter, *checkpoint_interval),
        }
    }
}

impl Resume for SubCursor {
    type Request = pb::SubscribeRequest;
    type Message = pb::SubscribeResponse;
    /// Converted on arrival: a malformed event ends the subscription before
    /// anything else of its message is delivered.
    type Pending = SubscriptionItem;
    type Item = SubscriptionItem;

    const KIND: &'static str = "subscription";

    async fn request(&mut self, client: &Client) -> Result<Option<pb::SubscribeRequest>> {
        self.resolve_end(client).await?;
        Ok(Some(self.request_from_here()))
    }

    async fn call(
        mut streams: StreamsClient<Transport>,
        request: pb::SubscribeRequest,
    ) -> Result<Response<Streaming<pb::SubscribeResponse>>, Status> {
        streams.subscribe(crate::trace::request(request)).await
    }

    fn unpack(
        &mut self,
        message: pb::SubscribeResponse,
        into: &mut VecDeque<SubscriptionItem>,
    ) -> Result<()> {
        match convert::subscribe_message_from_pb(message) {
            convert::SubscribeMessage::Events(events) => {
                for e in events {
                    into.push_back(SubscriptionItem::Event(convert::recorded_from_pb(e)?));
                }
            }
            convert::SubscribeMessage::CaughtUp(p) => into.push_back(SubscriptionItem::CaughtUp(p)),
            convert::SubscribeMessage::Checkpoint(p) => {
                into.push_back(SubscriptionItem::Checkpoint(p))
            }
            convert::SubscribeMessage::Nothing => {}
        }
        Ok(())
    }

    fn deliver(&mut self, item: SubscriptionItem) -> Result<Delivery<SubscriptionItem>> {
        match (&item, &self.target) {
            (SubscriptionItem::Event(e), SubTarget::Stream(_)) => {
                self.from = SubscribeFrom::After(e.revision)
            }
            (SubscriptionItem::Event(e), SubTarget::All { .. }) => {
                self.from = SubscribeFrom::After(e.position)
            }
            (SubscriptionItem::Checkpoint(p), SubTarget::All { .. }) => {
                let ahead = match self.from {
                    SubscribeFrom::After(cur) => *p > cur,
                    _ => true,
                };
                if ahead {
                    self.from = SubscribeFrom::After(*p);
                }
            }
            _ => {}
        }
        // A subscription never completes; only an error ends it.
        Ok(Delivery {
            item,
            complete: false,
        })
    }

    /// A subscription never ends on its own: the server went away.
    fn closed(&self) -> Option<Status> {
        Some(Status::unavailable("subscription ended by the server"))
    }

    fn resume_point(&self) -> &dyn Debug {
        &self.from
    }
}

fn subscribe(
    client: Client,
    target: SubTarget,
    from: SubscribeFrom,
) -> impl Stream<Item = Result<SubscriptionItem>> + Unpin + Send + 'static {
    resumable(client, SubCursor { target, from })
}
