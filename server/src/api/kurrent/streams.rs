//! `event_store.client.streams.Streams` over [`Node`]: each method takes
//! the caller the auth layer authenticated and hands over to the module
//! that owns it — `read` (reads and subscriptions), `append`, `batch`
//! (`BatchAppend`), `delete` (`Delete`, `Tombstone`).
//!
//! Not here: what the calls do (`domain`), conversions (`convert`).

use super::{append, batch, delete, read};
use crate::api::auth;
use crate::domain::Node;
use std::sync::Arc;
use strata_proto::kurrent::streams as pb;
use strata_proto::kurrent::streams::streams_server::Streams;
use tonic::{Request, Response, Status, Streaming};

/// The KurrentDB `Streams` service. Cheap to clone.
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

#[tonic::async_trait]
impl Streams for StreamsService {
    type ReadStream = read::ReadStream;

    #[tracing::instrument(skip_all, fields(protocol = "kurrentdb"))]
    async fn read(
        &self,
        request: Request<pb::ReadReq>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let caller = auth::caller(&request)?;
        let answers = read::read(self.node.clone(), caller, request.into_inner()).await?;
        Ok(Response::new(answers))
    }

    #[tracing::instrument(skip_all, fields(protocol = "kurrentdb"))]
    async fn append(
        &self,
        request: Request<Streaming<pb::AppendReq>>,
    ) -> Result<Response<pb::AppendResp>, Status> {
        let caller = auth::caller(&request)?;
        let r = append::append(&self.node, &caller, request.into_inner()).await?;
        Ok(Response::new(r))
    }

    #[tracing::instrument(skip_all, fields(protocol = "kurrentdb"))]
    async fn delete(
        &self,
        request: Request<pb::DeleteReq>,
    ) -> Result<Response<pb::DeleteResp>, Status> {
        let caller = auth::caller(&request)?;
        let r = delete::soft(&self.node, &caller, request.into_inner()).await?;
        Ok(Response::new(r))
    }

    #[tracing::instrument(skip_all, fields(protocol = "kurrentdb"))]
    async fn tombstone(
        &self,
        request: Request<pb::TombstoneReq>,
    ) -> Result<Response<pb::TombstoneResp>, Status> {
        let caller = auth::caller(&request)?;
        let r = delete::tombstone(&self.node, &caller, request.into_inner()).await?;
        Ok(Response::new(r))
    }

    type BatchAppendStream = batch::BatchStream;

    #[tracing::instrument(skip_all, fields(protocol = "kurrentdb"))]
    async fn batch_append(
        &self,
        request: Request<Streaming<pb::BatchAppendReq>>,
    ) -> Result<Response<Self::BatchAppendStream>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(batch::serve(
            self.node.clone(),
            caller,
            request.into_inner(),
        )))
    }
}
