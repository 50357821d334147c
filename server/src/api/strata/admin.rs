//! `strata.v1.Admin` over [`Node`]: start, follow and stop a scavenge;
//! stream a backup.
//!
//! Not here: what a scavenge does (the storage engine), the conversions
//! (`convert`), the status mapping (`api::status`).

use super::convert;
use crate::api::status;
use crate::domain::Node;
use futures::stream::{BoxStream, StreamExt};
use std::sync::Arc;
use strata_proto::v1 as pb;
use strata_proto::v1::admin_server::Admin;
use strata_storage::limits::DEFAULT_SCAVENGE_BYTES_PER_SECOND;
use strata_storage::ScavengeOptions;
use tonic::{Request, Response, Status};

/// The `Admin` service implementation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AdminService {
    node: Arc<Node>,
}

impl AdminService {
    /// Serves `node`'s maintenance operations.
    pub fn new(node: Arc<Node>) -> AdminService {
        AdminService { node }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    #[tracing::instrument(skip_all, fields(max_bytes_per_second = ?request.get_ref().max_bytes_per_second))]
    async fn start_scavenge(
        &self,
        request: Request<pb::StartScavengeRequest>,
    ) -> Result<Response<pb::ScavengeStatus>, Status> {
        // Unset: the default rate; 0: no limit.
        let opts = ScavengeOptions {
            max_bytes_per_second: match request.into_inner().max_bytes_per_second {
                None => Some(DEFAULT_SCAVENGE_BYTES_PER_SECOND),
                Some(0) => None,
                Some(n) => Some(n),
            },
        };
        let s = self
            .node
            .start_scavenge(opts)
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(convert::scavenge_status(s)))
    }

    async fn get_scavenge(
        &self,
        _request: Request<pb::GetScavengeRequest>,
    ) -> Result<Response<pb::ScavengeStatus>, Status> {
        let s = self.node.scavenge_status().map_err(status::from_domain)?;
        Ok(Response::new(convert::scavenge_status(s)))
    }

    #[tracing::instrument(skip_all)]
    async fn stop_scavenge(
        &self,
        _request: Request<pb::StopScavengeRequest>,
    ) -> Result<Response<pb::ScavengeStatus>, Status> {
        let s = self
            .node
            .stop_scavenge()
            .await
            .map_err(status::from_domain)?;
        Ok(Response::new(convert::scavenge_status(s)))
    }

    type BackupStream = BoxStream<'static, Result<pb::BackupResponse, Status>>;

    #[tracing::instrument(skip_all, fields(held = request.get_ref().held.len()))]
    async fn backup(
        &self,
        request: Request<pb::BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        let plan = convert::backup::backup_plan(request.into_inner());
        let messages = self.node.backup(plan).await.map_err(status::from_domain)?;
        Ok(Response::new(
            messages
                .map(|m| {
                    m.map(convert::backup::backup_response)
                        .map_err(status::from_domain)
                })
                .boxed(),
        ))
    }
}
