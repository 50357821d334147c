//! The gRPC services over the store: `strata.v1.Streams` here and in the
//! submodules below, `strata.v1.Snapshots` in [`snapshots`].
//!
//! This module owns the handler wiring ([`StreamsService`] implements the
//! generated trait), the shared state handlers need (store, head watch,
//! shutdown signal, subscription permits) and the small unary RPCs
//! (`ListStreams`, `ServerInfo`). The larger ones live in submodules:
//! [`append`], [`read`], [`subscribe`]; [`paging`] holds the message-size
//! rules shared by reads and subscriptions; [`snapshots`] is the separate
//! `Snapshots` service ([`SnapshotsService`]).
//!
//! It is not where protobuf ↔ domain conversion happens (`convert`) nor
//! where errors become statuses (`status`), and it knows nothing of
//! listeners, signals or process lifecycle (`serve`).

mod append;
mod live;
mod paging;
mod read;
mod snapshots;
mod subscribe;

pub use snapshots::SnapshotsService;

use crate::{convert, status};
use std::sync::Arc;
use strata_proto::v1 as pb;
use strata_proto::v1::streams_server::Streams;
use strata_storage::{limits, Store};
use tokio::sync::{watch, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Default most concurrent subscriptions (`--max-subscriptions`).
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 1024;
/// `ListStreams` page size when the request says 0.
pub const DEFAULT_LIST_PAGE_SIZE: u32 = 100;
/// Largest `ListStreams` page; larger requests are clamped to it (not an error).
pub const MAX_LIST_PAGE_SIZE: u32 = 1000;

/// State shared by all handlers and the tasks they spawn.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    /// Latest committed head, fed by one `on_commit` listener.
    pub head: watch::Receiver<u64>,
    /// Becomes `true` when the server begins shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// One permit per live subscription.
    pub subscriptions: Arc<Semaphore>,
    pub max_subscriptions: usize,
    /// Recent events read once and shared by caught-up subscriptions.
    pub live: Arc<live::LiveFeed>,
}

/// The `Streams` service implementation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamsService {
    shared: Arc<Shared>,
}

impl StreamsService {
    /// Wraps `store`, registering the single commit listener that feeds
    /// every subscription. `shutdown` turning `true` ends live streams.
    pub fn new(
        store: Store,
        shutdown: watch::Receiver<bool>,
        max_subscriptions: usize,
    ) -> StreamsService {
        let (head_tx, head_rx) = watch::channel(store.head());
        // Runs on the writer thread: `send_replace` never blocks and works
        // even with no receiver left.
        store.on_commit(move |head| {
            head_tx.send_replace(head);
        });
        let max_subscriptions = max_subscriptions.max(1);
        let live = live::LiveFeed::start(store.clone(), head_rx.clone(), shutdown.clone());
        StreamsService {
            shared: Arc::new(Shared {
                store,
                head: head_rx,
                live,
                shutdown,
                subscriptions: Arc::new(Semaphore::new(max_subscriptions)),
                max_subscriptions,
            }),
        }
    }
}

/// Runs a blocking storage call on tokio's blocking pool and maps its error.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: FnOnce() -> strata_storage::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(status::storage),
        Err(e) => Err(status::internal(format!("storage task failed: {e}"))),
    }
}

#[tonic::async_trait]
impl Streams for StreamsService {
    #[tracing::instrument(skip_all, fields(stream = %request.get_ref().stream, events = request.get_ref().events.len()))]
    async fn append(
        &self,
        request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        append::append(&self.shared, request.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(
        skip_all,
        fields(
            streams = request.get_ref().appends.len(),
            events = request.get_ref().appends.iter().map(|a| a.events.len()).sum::<usize>()
        )
    )]
    async fn append_multi(
        &self,
        request: Request<pb::AppendMultiRequest>,
    ) -> Result<Response<pb::AppendMultiResponse>, Status> {
        append::append_multi(&self.shared, request.into_inner())
            .await
            .map(Response::new)
    }

    type ReadStream = ReceiverStream<Result<pb::ReadResponse, Status>>;

    #[tracing::instrument(
        skip_all,
        fields(stream = %request.get_ref().stream, direction = request.get_ref().direction, max_count = request.get_ref().max_count)
    )]
    async fn read(
        &self,
        request: Request<pb::ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let plan = convert::read_plan(request.into_inner())?;
        read::read(&self.shared, plan).await.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(prefix = %request.get_ref().prefix, page_size = request.get_ref().page_size))]
    async fn list_streams(
        &self,
        request: Request<pb::ListStreamsRequest>,
    ) -> Result<Response<pb::ListStreamsResponse>, Status> {
        let r = request.into_inner();
        let size = match r.page_size {
            0 => DEFAULT_LIST_PAGE_SIZE,
            n => n.min(MAX_LIST_PAGE_SIZE),
        } as usize;
        let store = self.shared.store.clone();
        let (prefix, token) = (r.prefix, r.page_token);
        // Ask for one more than a page to learn whether another page follows.
        let mut streams = blocking(move || {
            let after = (!token.is_empty()).then_some(token.as_str());
            store.list_streams(&prefix, after, size + 1)
        })
        .await?;
        let next_page_token = if streams.len() > size {
            streams.truncate(size);
            streams.last().map(|s| s.name.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        tracing::debug!(
            returned = streams.len(),
            more = !next_page_token.is_empty(),
            "listed streams"
        );
        Ok(Response::new(pb::ListStreamsResponse {
            streams: streams.into_iter().map(convert::stream_summary).collect(),
            next_page_token,
        }))
    }

    type SubscribeStream = ReceiverStream<Result<pb::SubscribeResponse, Status>>;

    #[tracing::instrument(skip_all, fields(stream = %request.get_ref().stream))]
    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let plan = convert::subscribe_plan(request.into_inner())?;
        subscribe::subscribe(&self.shared, plan)
            .await
            .map(Response::new)
    }

    #[tracing::instrument(skip_all)]
    async fn server_info(
        &self,
        _request: Request<pb::ServerInfoRequest>,
    ) -> Result<Response<pb::ServerInfoResponse>, Status> {
        let store = &self.shared.store;
        Ok(Response::new(pb::ServerInfoResponse {
            head_position: store.head(),
            indexed_position: store.indexed_position(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            max_event_bytes: limits::MAX_EVENT_BYTES as u64,
            max_events_per_append: limits::MAX_EVENTS_PER_APPEND as u64,
            max_append_bytes: limits::MAX_APPEND_BYTES as u64,
        }))
    }
}
