//! One server-streaming call turned into a [`futures::Stream`] that survives
//! broken connections: when the call fails with a retryable status, it backs
//! off per the [`RetryPolicy`](crate::RetryPolicy) and reopens the call from
//! right after the last item it delivered, so the consumer sees no gap and no
//! duplicate. Reads (`read.rs`) and subscriptions (`subscription.rs`) are both
//! built on it; this is the only copy of that fail → back off → reopen logic.
//!
//! Not here: what is requested, how messages become items, or where a resume
//! starts — each [`Resume`] implementation owns those.
//!
//! Invariants: the failure count resets whenever a message arrives, so the
//! retry budget is per outage, not per stream; an item counts as delivered
//! (and moves the resume point) only when it is handed to the consumer, never
//! when it is merely buffered.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::future::Future;

use crate::transport::Transport;
use futures::Stream;
use strata_proto::v1::streams_client::StreamsClient;
use tonic::{Response, Status, Streaming};

use crate::client::Client;
use crate::error::{self, is_retryable_status, Error, Result};

/// What a resumable call reads and how it resumes.
pub(crate) trait Resume: Send + 'static {
    /// The request that opens the call.
    type Request: Send;
    /// What the server sends on the call.
    type Message: Send + 'static;
    /// What a message is unpacked into, queued until the consumer takes it.
    type Pending: Send + 'static;
    /// What the consumer gets.
    type Item;

    /// Names the call in traces (`read`, `subscription`).
    const KIND: &'static str;

    /// The request that continues right after the last delivered item, or
    /// `None` when nothing is left to read. An error ends the stream (it is
    /// yielded, not retried here).
    fn request(
        &mut self,
        client: &Client,
    ) -> impl Future<Output = Result<Option<Self::Request>>> + Send;

    /// Opens the call.
    fn call(
        streams: StreamsClient<Transport>,
        request: Self::Request,
    ) -> impl Future<Output = Result<Response<Streaming<Self::Message>>, Status>> + Send;

    /// Queues what one message carries. An error ends the stream and drops
    /// whatever is still queued.
    fn unpack(&mut self, message: Self::Message, into: &mut VecDeque<Self::Pending>) -> Result<()>;

    /// Turns a queued entry into the item handed to the consumer and moves
    /// the resume point past it. `complete` ends the stream after it.
    fn deliver(&mut self, pending: Self::Pending) -> Result<Delivery<Self::Item>>;

    /// What the server closing the call means: `None`, the read is complete;
    /// `Some(status)`, a failure handled like any other.
    fn closed(&self) -> Option<Status>;

    /// Where the next reopen would start, for traces.
    fn resume_point(&self) -> &dyn Debug;
}

/// One item for the consumer.
pub(crate) struct Delivery<I> {
    pub(crate) item: I,
    /// Nothing more is wanted after this item.
    pub(crate) complete: bool,
}

struct Resumable<R: Resume> {
    client: Client,
    cursor: R,
    call: Option<Streaming<R::Message>>,
    pending: VecDeque<R::Pending>,
    /// Consecutive failures since the last message arrived.
    failures: u32,
    done: bool,
}

impl<R: Resume> Resumable<R> {
    /// Ends the stream with `e` as its last item.
    fn finish(&mut self, e: Error) -> Option<Result<R::Item>> {
        self.done = true;
        self.pending.clear();
        Some(Err(e))
    }

    /// Records a failed call; returns the error to yield if it ends the
    /// stream, `None` if the call will be reopened.
    fn fail(&mut self, status: Status) -> Option<Error> {
        self.call = None;
        if is_retryable_status(&status) && self.client.retry.may_retry_after(self.failures + 1) {
            self.failures += 1;
            tracing::debug!(
                kind = R::KIND,
                %status,
                failures = self.failures,
                resume = ?self.cursor.resume_point(),
                "call interrupted; reopening after backoff"
            );
            None
        } else {
            self.done = true;
            Some(error::from_plain_status(status))
        }
    }

    async fn next(&mut self) -> Option<Result<R::Item>> {
        loop {
            if let Some(p) = self.pending.pop_front() {
                return match self.cursor.deliver(p) {
                    Ok(Delivery { item, complete }) => {
                        if complete {
                            self.done = true;
                            self.pending.clear();
                        }
                        Some(Ok(item))
                    }
                    Err(e) => self.finish(e),
                };
            }
            if self.done {
                return None;
            }
            let Some(call) = &mut self.call else {
                if self.failures > 0 {
                    tokio::time::sleep(self.client.retry.backoff(self.failures)).await;
                }
                let request = match self.cursor.request(&self.client).await {
                    Ok(Some(r)) => r,
                    Ok(None) => {
                        self.done = true;
                        return None;
                    }
                    Err(e) => return self.finish(e),
                };
                let opened = R::call(self.client.inner.clone(), request);
                match self.client.timed(opened).await {
                    Ok(r) => self.call = Some(r.into_inner()),
                    Err(s) => {
                        if let Some(e) = self.fail(s) {
                            return Some(Err(e));
                        }
                    }
                }
                continue;
            };
            match call.message().await {
                Ok(Some(m)) => {
                    self.failures = 0;
                    if let Err(e) = self.cursor.unpack(m, &mut self.pending) {
                        return self.finish(e);
                    }
                }
                Ok(None) => match self.cursor.closed() {
                    None => self.done = true,
                    Some(s) => {
                        if let Some(e) = self.fail(s) {
                            return Some(Err(e));
                        }
                    }
                },
                Err(s) => {
                    if let Some(e) = self.fail(s) {
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

/// The items of `cursor`'s call on `client`, resumed after failures per the
/// client's retry policy. Ends after the last item, or after a
/// non-retryable error (yielded as the last item).
pub(crate) fn resumable<R: Resume>(
    client: Client,
    cursor: R,
) -> impl Stream<Item = Result<R::Item>> + Unpin + Send + 'static
where
    R::Item: Send,
{
    let state = Resumable {
        client,
        cursor,
        call: None,
        pending: VecDeque::new(),
        failures: 0,
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut s| async move {
        let item = s.next().await?;
        Some((item, s))
    }))
}
