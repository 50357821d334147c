//! `strata.v1.Snapshots` over [`Node`]: save and fetch snapshots.
//!
//! Not here: the rules (`domain::snapshots`), the conversions (`convert`),
//! or the mapping of `snapshot-ahead-of-stream`, `snapshot-too-large`,
//! `snapshot-not-found`, `corrupt`, ... to statuses (`api::status`).

use super::convert;
use crate::api::{auth, status};
use crate::domain::security::{Need, Permission};
use crate::domain::Node;
use std::sync::Arc;
use strata_proto::v1 as pb;
use strata_proto::v1::snapshots_server::Snapshots;
use tonic::{Request, Response, Status};

/// The `Snapshots` service implementation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SnapshotsService {
    node: Arc<Node>,
}

impl SnapshotsService {
    /// Serves the snapshots of `node`'s store.
    pub fn new(node: Arc<Node>) -> SnapshotsService {
        SnapshotsService { node }
    }
}

#[tonic::async_trait]
impl Snapshots for SnapshotsService {
    #[tracing::instrument(
        skip_all,
        fields(
            stream = %request.get_ref().stream,
            revision = request.get_ref().revision,
            bytes = request.get_ref().data.len() + request.get_ref().metadata.len()
        )
    )]
    async fn save_snapshot(
        &self,
        request: Request<pb::SaveSnapshotRequest>,
    ) -> Result<Response<pb::SaveSnapshotResponse>, Status> {
        auth::caller(&request)?
            .check(Need::Stream(Permission::Write, &request.get_ref().stream))
            .map_err(status::from_domain)?;
        let snapshot = convert::snapshot_to_save(request.into_inner());
        let created_micros = self
            .node
            .save_snapshot(snapshot)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::SaveSnapshotResponse { created_micros }))
    }

    #[tracing::instrument(
        skip_all,
        fields(stream = %request.get_ref().stream, at_or_before = ?request.get_ref().at_or_before_revision)
    )]
    async fn get_snapshot(
        &self,
        request: Request<pb::GetSnapshotRequest>,
    ) -> Result<Response<pb::GetSnapshotResponse>, Status> {
        auth::caller(&request)?
            .check(Need::Stream(Permission::Read, &request.get_ref().stream))
            .map_err(status::from_domain)?;
        let r = request.into_inner();
        let snapshot = self
            .node
            .get_snapshot(r.stream, r.at_or_before_revision)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(pb::GetSnapshotResponse {
            snapshot: Some(convert::snapshot(snapshot)),
        }))
    }
}
