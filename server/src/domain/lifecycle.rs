//! Stream lifecycle: setting and reading a stream's metadata, soft deletes
//! and tombstones.
//!
//! Each change is one writer request (a record in the stream's `$$`
//! metadata stream), so it waits for queue room and durability exactly as
//! an append does (`append::submit_write`). Reading the metadata is an
//! in-memory lookup plus the stream's head, run on the blocking pool.
//!
//! Not here: the rules (the storage engine's `lifecycle`), wire messages.

use super::{blocking, Error, Node};
use strata_storage::{ExpectedRevision, StreamMetadata, StreamMetadataInfo, Write};

/// What a metadata change produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataWritten {
    /// The metadata's new revision.
    pub metadata_revision: u64,
    /// Global position of the metadata record.
    pub position: u64,
}

impl Node {
    /// Replaces `stream`'s metadata after checking `expected` against the
    /// metadata's revision.
    pub async fn set_stream_metadata(
        &self,
        stream: String,
        expected: ExpectedRevision,
        metadata: StreamMetadata,
    ) -> Result<MetadataWritten, Error> {
        let write = Write::SetMetadata {
            stream,
            expected,
            metadata,
        };
        let r = one(self.submit_write(write).await?)?;
        tracing::debug!(
            metadata_revision = r.first_revision,
            position = r.first_position,
            "metadata set"
        );
        Ok(MetadataWritten {
            metadata_revision: r.first_revision,
            position: r.first_position,
        })
    }

    /// Soft-deletes or tombstones `stream`; the position of the record.
    pub async fn delete_stream(
        &self,
        stream: String,
        expected: ExpectedRevision,
        tombstone: bool,
    ) -> Result<u64, Error> {
        let write = Write::Delete {
            stream,
            expected,
            tombstone,
        };
        let r = one(self.submit_write(write).await?)?;
        tracing::info!(position = r.first_position, tombstone, "stream deleted");
        Ok(r.first_position)
    }

    /// `stream`'s metadata, its revision and whether it is deleted.
    pub async fn get_stream_metadata(&self, stream: String) -> Result<StreamMetadataInfo, Error> {
        let store = self.store.clone();
        blocking(move || store.get_stream_metadata(&stream)).await
    }
}

fn one(results: Vec<strata_storage::AppendResult>) -> Result<strata_storage::AppendResult, Error> {
    results.into_iter().next().ok_or_else(|| {
        Error::Internal("the store returned no result for a lifecycle change".into())
    })
}
