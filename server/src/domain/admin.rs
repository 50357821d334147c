//! Operations on the whole store: starting, following and stopping a
//! scavenge.
//!
//! The scavenge itself runs on the storage engine's own thread; starting it
//! (which appends a history record) and stopping it (which waits for the
//! thread) are blocking calls, run on the blocking pool.
//!
//! Not here: what a scavenge does (the storage engine's `scavenge`).

use super::{blocking, Error, Node};
use strata_storage::{ScavengeOptions, ScavengeStatus};

impl Node {
    /// Starts a scavenge, or returns the one already running.
    pub async fn start_scavenge(&self, opts: ScavengeOptions) -> Result<ScavengeStatus, Error> {
        let store = self.store.clone();
        let s = blocking(move || store.start_scavenge(opts)).await?;
        tracing::info!(id = %s.id, max_bytes_per_second = ?s.max_bytes_per_second, "scavenge started");
        Ok(s)
    }

    /// The running scavenge or the last one since start, else
    /// [`Error::ScavengeNotFound`].
    pub fn scavenge_status(&self) -> Result<ScavengeStatus, Error> {
        self.store.scavenge_status().ok_or(Error::ScavengeNotFound)
    }

    /// Stops a running scavenge and waits until it has.
    pub async fn stop_scavenge(&self) -> Result<ScavengeStatus, Error> {
        let store = self.store.clone();
        let stopped = tokio::task::spawn_blocking(move || store.stop_scavenge())
            .await
            .map_err(|e| Error::Internal(format!("stopping the scavenge failed: {e}")))?;
        stopped.ok_or(Error::ScavengeNotFound)
    }
}
