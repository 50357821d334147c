//! The `strata.v1.Snapshots` gRPC service: save and fetch snapshots of a
//! stream's state, stored beside the stream by the storage engine.
//!
//! Both RPCs are a single blocking storage call (sled, plus an fsync on
//! save), so they run on tokio's blocking pool. A snapshot is only an
//! optimisation for loaders: nothing here ever touches the stream itself.
//!
//! Not here: request/response conversion (`convert`) and the mapping of
//! storage errors (`snapshot-ahead-of-stream`, `snapshot-too-large`,
//! `corrupt`, ...) to statuses (`status`).

use super::blocking;
use crate::{convert, status};
use strata_proto::v1 as pb;
use strata_proto::v1::snapshots_server::Snapshots;
use strata_storage::Store;
use tonic::{Request, Response, Status};

/// The `Snapshots` service implementation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SnapshotsService {
    store: Store,
}

impl SnapshotsService {
    /// Serves the snapshots of `store`.
    pub fn new(store: Store) -> SnapshotsService {
        SnapshotsService { store }
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
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
        let snapshot = convert::snapshot_to_save(request.into_inner());
        let (stream, revision) = (snapshot.stream.clone(), snapshot.revision);
        let store = self.store.clone();
        let created_micros = blocking(move || {
            store.save_snapshot(snapshot)?;
            // The store stamps the snapshot; read the stamp back. If the
            // stream already keeps its limit of newer snapshots, this one was
            // dropped at once and there is nothing to read: the save time is
            // then the best answer.
            Ok(match store.get_snapshot(&stream, Some(revision)) {
                Ok(Some(s)) if s.revision == revision => s.created_micros,
                _ => now_micros(),
            })
        })
        .await?;
        tracing::debug!(created_micros, "snapshot saved");
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
        let r = request.into_inner();
        let store = self.store.clone();
        let (stream, at_or_before) = (r.stream, r.at_or_before_revision);
        let name = stream.clone();
        let found = blocking(move || store.get_snapshot(&name, at_or_before)).await?;
        match found {
            Some(s) => {
                tracing::debug!(revision = s.revision, "snapshot found");
                Ok(Response::new(pb::GetSnapshotResponse {
                    snapshot: Some(convert::snapshot(s)),
                }))
            }
            None => Err(status::snapshot_not_found(&stream, at_or_before)),
        }
    }
}
