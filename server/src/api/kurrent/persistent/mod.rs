//! `event_store.client.persistent_subscriptions.PersistentSubscriptions`
//! over Strata's consumer groups (`domain::groups`), the same groups
//! strata.v1's `PersistentSubscriptions` manages.
//!
//! A KurrentDB subscription — (stream, group), or `$all` and a group — is
//! one Strata group whose name [`names`] derives reversibly; [`convert`]
//! is the one place this protobuf meets the group types (with
//! [`regex_filter`] reading clients' `$all` filter regexes); [`errors`] gives
//! failures KurrentDB's shapes, naming KurrentDB's stream and group;
//! [`read`] is a consumer's session; [`manage`] everything else. The
//! mapping for users is docs/KURRENTDB.md, "Persistent subscriptions".
//!
//! Not here: the groups' rules (`domain::groups`), the Streams service
//! and shared conversions (`super`).

mod convert;
mod errors;
mod manage;
mod names;
mod read;
mod regex_filter;

use crate::domain::Node;
use std::sync::Arc;
use strata_proto::kurrent::event_store::client::Empty;
use strata_proto::kurrent::persistent_subscriptions as pb;
use strata_proto::kurrent::persistent_subscriptions::persistent_subscriptions_server::PersistentSubscriptions;
use tonic::{Request, Response, Status, Streaming};

/// The service. Cheap to clone.
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

#[tonic::async_trait]
impl PersistentSubscriptions for PersistentService {
    #[tracing::instrument(skip_all)]
    async fn create(
        &self,
        request: Request<pb::CreateReq>,
    ) -> Result<Response<pb::CreateResp>, Status> {
        manage::create(&self.node, request).await.map(Response::new)
    }

    #[tracing::instrument(skip_all)]
    async fn update(
        &self,
        request: Request<pb::UpdateReq>,
    ) -> Result<Response<pb::UpdateResp>, Status> {
        manage::update(&self.node, request).await.map(Response::new)
    }

    #[tracing::instrument(skip_all)]
    async fn delete(
        &self,
        request: Request<pb::DeleteReq>,
    ) -> Result<Response<pb::DeleteResp>, Status> {
        manage::delete(&self.node, request).await.map(Response::new)
    }

    type ReadStream = read::ReadStream;

    #[tracing::instrument(skip_all)]
    async fn read(
        &self,
        request: Request<Streaming<pb::ReadReq>>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        read::read(&self.node, request).await
    }

    async fn get_info(
        &self,
        request: Request<pb::GetInfoReq>,
    ) -> Result<Response<pb::GetInfoResp>, Status> {
        manage::get_info(&self.node, request)
            .await
            .map(Response::new)
    }

    #[tracing::instrument(skip_all)]
    async fn replay_parked(
        &self,
        request: Request<pb::ReplayParkedReq>,
    ) -> Result<Response<pb::ReplayParkedResp>, Status> {
        manage::replay_parked(&self.node, request)
            .await
            .map(Response::new)
    }

    async fn truncate_parked(
        &self,
        request: Request<pb::TruncateParkedReq>,
    ) -> Result<Response<pb::TruncateParkedResp>, Status> {
        manage::truncate_parked(request).await.map(Response::new)
    }

    async fn list(&self, request: Request<pb::ListReq>) -> Result<Response<pb::ListResp>, Status> {
        manage::list(&self.node, request).await.map(Response::new)
    }

    async fn restart_subsystem(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        manage::restart_subsystem(request).await.map(Response::new)
    }
}
