//! Snapshots: save and fetch snapshots of a stream's state, stored beside
//! the stream by the storage engine.
//!
//! Both are a single blocking storage call (file I/O, fsyncs on save),
//! so they run on tokio's blocking pool. A snapshot is only an optimisation
//! for loaders: nothing here ever touches the stream itself. The store
//! checks the revision against the stream and the size; it keeps the
//! configured number of snapshots per stream.
//!
//! Not here: the wire's request and response messages (the adapters).

use super::{blocking, Error, Node};
use strata_storage::clock::now_micros;
use strata_storage::Snapshot;

impl Node {
    /// Saves `snapshot` (its `created_micros` is ignored: the store stamps
    /// it) and returns the stamp it was saved with.
    pub async fn save_snapshot(&self, snapshot: Snapshot) -> Result<i64, Error> {
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
        self.metrics.snapshot_saved();
        tracing::debug!(created_micros, "snapshot saved");
        Ok(created_micros)
    }

    /// The newest snapshot of `stream` at or before `at_or_before` (any
    /// revision when `None`), or [`Error::SnapshotNotFound`].
    pub async fn get_snapshot(
        &self,
        stream: String,
        at_or_before: Option<u64>,
    ) -> Result<Snapshot, Error> {
        let store = self.store.clone();
        let name = stream.clone();
        match blocking(move || store.get_snapshot(&name, at_or_before)).await? {
            Some(s) => {
                self.metrics.snapshot_loaded(true);
                tracing::debug!(revision = s.revision, "snapshot found");
                Ok(s)
            }
            None => {
                self.metrics.snapshot_loaded(false);
                Err(Error::SnapshotNotFound {
                    stream,
                    at_or_before,
                })
            }
        }
    }
}
