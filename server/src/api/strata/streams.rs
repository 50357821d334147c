//! `strata.v1.Streams` over [`Node`]: append, read, list (streams, event
//! types, categories), subscribe, server info and stream lifecycle
//! (metadata, delete), each a conversion, one domain call and a conversion
//! back. `AppendSession` is handed to
//! `session`, which owns it.
//!
//! Reads and subscriptions are streamed: the domain hands over a bounded
//! channel of message-sized pages, and each becomes one response message
//! here, so the domain's back-pressure reaches the client unchanged.
//!
//! Not here: what the calls do (`domain`), the protobuf ↔ domain
//! conversions (`convert`), or the error mapping (`api::status`).

use super::convert;
use crate::api::revocation::until_revoked;
use crate::api::{auth, status};
use crate::domain::catalog::NameKind;
use crate::domain::read::ReadTarget;
use crate::domain::security::{still_covers, Access, Need, Permission};
use crate::domain::subscribe::SubscribeTarget;
use crate::domain::subscribe::SubscriptionMessage;
use crate::domain::{Error, Node};
use futures::stream::{BoxStream, StreamExt};
use std::sync::Arc;
use strata_proto::v1 as pb;
use strata_proto::v1::streams_server::Streams;
use strata_proto::v1::subscribe_response::Content;
use strata_storage::RecordedEvent;
use tonic::{Request, Response, Status};

/// The `Streams` service implementation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamsService {
    node: Arc<Node>,
}

impl StreamsService {
    /// Serves `node`.
    pub fn new(node: Arc<Node>) -> StreamsService {
        StreamsService { node }
    }
}

fn read_response(page: Result<Vec<RecordedEvent>, Error>) -> Result<pb::ReadResponse, Status> {
    Ok(pb::ReadResponse {
        events: convert::recorded_events(page.map_err(status::from_domain)?),
    })
}

fn subscribe_response(
    msg: Result<SubscriptionMessage, Error>,
) -> Result<pb::SubscribeResponse, Status> {
    let content = match msg.map_err(status::from_domain)? {
        SubscriptionMessage::Events(events) => Content::Events(pb::Events {
            events: convert::recorded_events(events),
        }),
        SubscriptionMessage::CaughtUp { position } => Content::CaughtUp(pb::CaughtUp { position }),
        SubscriptionMessage::Checkpoint { position } => {
            Content::Checkpoint(pb::Checkpoint { position })
        }
    };
    Ok(pb::SubscribeResponse {
        content: Some(content),
    })
}

#[tonic::async_trait]
impl Streams for StreamsService {
    #[tracing::instrument(skip_all, fields(stream = %request.get_ref().stream, events = request.get_ref().events.len()))]
    async fn append(
        &self,
        request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller
            .check(Need::Stream(Permission::Write, &request.get_ref().stream))
            .map_err(status::from_domain)?;
        let append = convert::stream_append(request.into_inner())?;
        let result = self
            .node
            .append(append)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(convert::append_response(&result)))
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
        let caller = auth::caller(&request)?;
        for a in &request.get_ref().appends {
            caller
                .check(Need::Stream(Permission::Write, &a.stream))
                .map_err(status::from_domain)?;
        }
        let appends = request
            .into_inner()
            .appends
            .into_iter()
            .map(convert::stream_append)
            .collect::<Result<Vec<_>, _>>()?;
        let results = self
            .node
            .append_multi(appends)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::AppendMultiResponse {
            results: results.iter().map(convert::append_response).collect(),
        }))
    }

    type AppendSessionStream = super::session::Answers;

    /// Pipelined appends: each one checked (`write` on its stream), queued
    /// and answered on its own (see `session`).
    async fn append_session(
        &self,
        request: Request<tonic::Streaming<pb::AppendSessionRequest>>,
    ) -> Result<Response<Self::AppendSessionStream>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(super::session::serve(
            self.node.clone(),
            caller,
            request.into_inner(),
        )))
    }

    type ReadStream = BoxStream<'static, Result<pb::ReadResponse, Status>>;

    #[tracing::instrument(
        skip_all,
        fields(stream = %request.get_ref().stream, direction = request.get_ref().direction, max_count = request.get_ref().max_count)
    )]
    async fn read(
        &self,
        request: Request<pb::ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let caller = auth::caller(&request)?;
        let mut plan = convert::read_plan(request.into_inner())?;
        match &mut plan.target {
            ReadTarget::Stream(name) => caller
                .check(Need::Stream(Permission::Read, name))
                .map_err(status::from_domain)?,
            ReadTarget::All(filter) => {
                *filter = caller
                    .access
                    .restrict(std::mem::take(filter), Permission::Read)
            }
        }
        let pages = self.node.read(plan).await.map_err(status::from_domain)?;
        Ok(Response::new(pages.map(read_response).boxed()))
    }

    #[tracing::instrument(skip_all, fields(prefix = %request.get_ref().prefix, page_size = request.get_ref().page_size))]
    async fn list_streams(
        &self,
        request: Request<pb::ListStreamsRequest>,
    ) -> Result<Response<pb::ListStreamsResponse>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let after = (!r.page_token.is_empty()).then_some(r.page_token);
        let page = self
            .node
            .list_streams(r.prefix, after, r.page_size)
            .await
            .map_err(status::from_domain)?;
        // Only the streams the caller may read (a page may come out short;
        // its token still continues after the last stream examined).
        Ok(Response::new(pb::ListStreamsResponse {
            streams: page
                .streams
                .into_iter()
                .filter(|s| caller.access.may(Permission::Read, &s.name))
                .map(convert::stream_summary)
                .collect(),
            next_page_token: page.next_after.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(prefix = %request.get_ref().prefix, page_size = request.get_ref().page_size))]
    async fn list_event_types(
        &self,
        request: Request<pb::ListEventTypesRequest>,
    ) -> Result<Response<pb::ListEventTypesResponse>, Status> {
        let caller = auth::caller(&request)?;
        // A type's count sums events of any stream: read on them all.
        caller
            .check(Need::Streams(Permission::Read, ""))
            .map_err(status::from_domain)?;
        let r = request.into_inner();
        let after = (!r.page_token.is_empty()).then_some(r.page_token);
        let page = self
            .node
            .list_names(NameKind::EventType, r.prefix, after, r.page_size)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::ListEventTypesResponse {
            event_types: convert::name_counts(page.names),
            next_page_token: page.next_after.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(prefix = %request.get_ref().prefix, page_size = request.get_ref().page_size))]
    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let after = (!r.page_token.is_empty()).then_some(r.page_token);
        let page = self
            .node
            .list_names(NameKind::Category, r.prefix, after, r.page_size)
            .await
            .map_err(status::from_domain)?;
        // As `list_streams`: only the categories the caller may read whole
        // (every stream in one starts with its name); a page may come out
        // short, its token continuing after the last category examined.
        let readable = page
            .names
            .into_iter()
            .filter(|n| caller.access.covers(Permission::Read, &n.name));
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: convert::name_counts(readable),
            next_page_token: page.next_after.unwrap_or_default(),
            separator: self.node.category_separator().to_string(),
        }))
    }

    type SubscribeStream = BoxStream<'static, Result<pb::SubscribeResponse, Status>>;

    #[tracing::instrument(skip_all, fields(stream = %request.get_ref().stream))]
    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = auth::caller(&request)?;
        let mut plan = convert::subscribe_plan(request.into_inner())?;
        // What must keep holding for the subscription to stay open.
        let still: Box<dyn Fn(&Access) -> bool + Send + Sync> = match &mut plan.target {
            SubscribeTarget::Stream(name) => {
                caller
                    .check(Need::Stream(Permission::Subscribe, name))
                    .map_err(status::from_domain)?;
                let name = name.clone();
                Box::new(move |a: &Access| a.may(Permission::Subscribe, &name))
            }
            SubscribeTarget::All { filter, .. } => {
                let asked = filter.clone();
                *filter = caller
                    .access
                    .restrict(std::mem::take(filter), Permission::Subscribe);
                let used = filter.clone();
                Box::new(move |a: &Access| {
                    still_covers(&a.restrict(asked.clone(), Permission::Subscribe), &used)
                })
            }
        };
        let messages = self
            .node
            .subscribe(plan)
            .await
            .map_err(status::from_domain)?;
        let node = self.node.clone();
        let revoked = async move { node.revoked(&caller, still).await };
        Ok(Response::new(
            until_revoked(messages.map(subscribe_response), revoked, revoked_status).boxed(),
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn server_info(
        &self,
        request: Request<pb::ServerInfoRequest>,
    ) -> Result<Response<pb::ServerInfoResponse>, Status> {
        auth::caller(&request)?;
        Ok(Response::new(convert::server_info(self.node.facts())))
    }

    #[tracing::instrument(skip_all, fields(stream = %request.get_ref().stream))]
    async fn set_stream_metadata(
        &self,
        request: Request<pb::SetStreamMetadataRequest>,
    ) -> Result<Response<pb::SetStreamMetadataResponse>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        caller
            .check(Need::Stream(Permission::Metadata, &r.stream))
            .map_err(status::from_domain)?;
        let stream = r.stream.clone();
        let written = self
            .node
            .set_stream_metadata(
                r.stream,
                convert::expected_metadata_revision(r.expected_metadata_revision),
                convert::stream_metadata(r.metadata),
            )
            .await;
        let written = self
            .node
            .audited(&caller, "setStreamMetadata", &stream, written)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::SetStreamMetadataResponse {
            metadata_revision: written.metadata_revision,
            position: written.position,
        }))
    }

    #[tracing::instrument(skip_all, fields(stream = %request.get_ref().stream))]
    async fn get_stream_metadata(
        &self,
        request: Request<pb::GetStreamMetadataRequest>,
    ) -> Result<Response<pb::GetStreamMetadataResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller
            .check(Need::Stream(Permission::Read, &request.get_ref().stream))
            .map_err(status::from_domain)?;
        let info = self
            .node
            .get_stream_metadata(request.into_inner().stream)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(convert::stream_metadata_response(info)))
    }

    #[tracing::instrument(skip_all, fields(stream = %request.get_ref().stream, tombstone = request.get_ref().tombstone))]
    async fn delete_stream(
        &self,
        request: Request<pb::DeleteStreamRequest>,
    ) -> Result<Response<pb::DeleteStreamResponse>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        caller
            .check(Need::Stream(Permission::Delete, &r.stream))
            .map_err(status::from_domain)?;
        let (stream, action) = (
            r.stream.clone(),
            if r.tombstone {
                "tombstoneStream"
            } else {
                "deleteStream"
            },
        );
        let position = self
            .node
            .delete_stream(
                r.stream,
                convert::expected_delete_revision(r.expected_revision),
                r.tombstone,
            )
            .await;
        let position = self
            .node
            .audited(&caller, action, &stream, position)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::DeleteStreamResponse { position }))
    }
}

/// What a stream opened over strata.v1 ends with when the caller's
/// credentials are revoked: `PERMISSION_DENIED` / `access-denied`.
pub(super) fn revoked_status() -> Status {
    status::from_domain(Error::AccessDenied(
        "permissions changed; subscribe again".into(),
    ))
}
