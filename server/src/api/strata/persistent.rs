//! `strata.v1.PersistentSubscriptions` over [`Node`]: consumer group
//! management, and `Read`, the bidirectional stream a consumer joins with.
//!
//! `Read` takes the first client message as the consumer's options, joins
//! the group, answers a confirmation and then the group's delivery batches;
//! a task forwards the client's acks and nacks to the group. The consumer
//! leaves when either side ends (or it nacks with `stop`).
//!
//! Not here: the group's rules (`domain::groups`), conversions (`convert`).

use super::convert::groups as convert;
use crate::api::{auth, status};
use crate::domain::groups::Command;
use crate::domain::security::{Access, Need, Permission};
use crate::domain::Node;
use futures::stream::{self, BoxStream, StreamExt};
use std::sync::Arc;
use strata_proto::v1 as pb;
use strata_proto::v1::group_read_request::Content as In;
use strata_proto::v1::persistent_subscriptions_server::PersistentSubscriptions;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// The `PersistentSubscriptions` service implementation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PersistentService {
    node: Arc<Node>,
}

impl PersistentService {
    /// Serves `node`'s consumer groups.
    pub fn new(node: Arc<Node>) -> PersistentService {
        PersistentService { node }
    }
}

/// Forwards a consumer's acks and nacks until its stream ends or it stops.
async fn forward(
    mut inbound: Streaming<pb::GroupReadRequest>,
    group: tokio::sync::mpsc::Sender<Command>,
    id: u64,
) {
    loop {
        let msg = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) | Err(_) => break,
        };
        let cmd = match msg.content {
            Some(In::Ack(a)) => Command::Ack(id, convert::event_ids(&a.ids)),
            Some(In::Nack(n)) => match convert::nack_action(n.action) {
                Ok(Some(action)) => Command::Nack(id, convert::event_ids(&n.ids), action, n.reason),
                // stop, or an action this server does not know: leave.
                Ok(None) | Err(_) => break,
            },
            Some(In::Options(_)) | None => continue,
        };
        if group.send(cmd).await.is_err() {
            return;
        }
    }
    let _ = group.send(Command::Leave(id)).await;
}

#[tonic::async_trait]
impl PersistentSubscriptions for PersistentService {
    #[tracing::instrument(skip_all, fields(group = %request.get_ref().group, stream = %request.get_ref().stream))]
    async fn create(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::GroupInfo>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let (stream, filter, start) = convert::group_source(&r)?;
        let settings = convert::group_settings(r.settings)?;
        let group = r.group.clone();
        let info = self
            .node
            .create_group(r.group, stream, filter, start, settings)
            .await;
        let info = self
            .node
            .audited(&caller, "createGroup", &group, info)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(convert::group_info(info)))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().group))]
    async fn update(
        &self,
        request: Request<pb::UpdateGroupRequest>,
    ) -> Result<Response<pb::GroupInfo>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let settings = convert::group_settings(r.settings)?;
        let group = r.group.clone();
        let info = self.node.update_group(r.group, settings).await;
        let info = self
            .node
            .audited(&caller, "updateGroup", &group, info)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(convert::group_info(info)))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().group))]
    async fn delete(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        let caller = auth::caller(&request)?;
        let group = request.into_inner().group;
        let r = self.node.delete_group(group.clone()).await;
        self.node
            .audited(&caller, "deleteGroup", &group, r)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::DeleteGroupResponse {}))
    }

    async fn list(
        &self,
        _request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        let groups = self.node.list_groups().await.map_err(status::from_domain)?;
        Ok(Response::new(pb::ListGroupsResponse {
            groups: groups.into_iter().map(convert::group_info).collect(),
        }))
    }

    async fn get_info(
        &self,
        request: Request<pb::GetGroupInfoRequest>,
    ) -> Result<Response<pb::GroupInfo>, Status> {
        let info = self
            .node
            .group_info(&request.into_inner().group)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(convert::group_info(info)))
    }

    type ReadStream = BoxStream<'static, Result<pb::GroupReadResponse, Status>>;

    #[tracing::instrument(skip_all)]
    async fn read(
        &self,
        request: Request<Streaming<pb::GroupReadRequest>>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let caller = auth::caller(&request)?;
        let mut inbound = request.into_inner();
        let Some(first) = inbound.message().await? else {
            return Err(status::invalid_request(
                "the stream ended before its options",
            ));
        };
        let Some(In::Options(o)) = first.content else {
            return Err(status::invalid_request("the first message must be options"));
        };
        // Consuming needs `subscribe` on the group's source (`$all`: on
        // every stream, the empty prefix).
        let source = self
            .node
            .group_info(&o.group)
            .await
            .map_err(status::from_domain)?
            .spec
            .stream;
        let source = if source == "$all" {
            String::new()
        } else {
            source
        };
        caller
            .check(Need::Stream(Permission::Subscribe, &source))
            .map_err(status::from_domain)?;
        let (id, deliveries, group) = self
            .node
            .join_group(&o.group, o.consumer_name, o.buffer_size)
            .await
            .map_err(status::from_domain)?;
        tokio::spawn(forward(inbound, group, id));
        let confirmation = pb::GroupReadResponse {
            content: Some(pb::group_read_response::Content::Confirmation(
                pb::group_read_response::Confirmation {
                    consumer_id: id.to_string(),
                },
            )),
        };
        let events = ReceiverStream::new(deliveries).map(|m| match m {
            Ok(batch) => Ok(convert::deliveries(batch)),
            Err(e) => Err(status::from_domain(e)),
        });
        let node = self.node.clone();
        let revoked = async move {
            let still = move |a: &Access| a.may(Permission::Subscribe, &source);
            node.revoked(&caller, still).await
        };
        Ok(Response::new(
            crate::api::revocation::until_revoked(
                stream::once(async { Ok(confirmation) })
                    .chain(events)
                    .boxed(),
                revoked,
                super::streams::revoked_status,
            )
            .boxed(),
        ))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().group))]
    async fn replay_parked(
        &self,
        request: Request<pb::ReplayParkedRequest>,
    ) -> Result<Response<pb::ReplayParkedResponse>, Status> {
        let caller = auth::caller(&request)?;
        let r = request.into_inner();
        let queued = self.node.replay_parked(&r.group, r.max_count).await;
        let queued = self
            .node
            .audited(&caller, "replayParked", &r.group, queued)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::ReplayParkedResponse { queued }))
    }
}
