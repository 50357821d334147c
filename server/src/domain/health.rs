//! Whether this node should take traffic: the readiness that `/health/ready`
//! and the gRPC health service report.
//!
//! Live is simply "the process answers". Ready additionally needs a store
//! that accepts writes: not shutting down, not poisoned (a failed write or
//! fsync, which only a restart clears), and not out of disk space (clears
//! by itself once a write succeeds again). Reads keep working while not
//! ready; a load balancer should still send writers elsewhere.
//!
//! Not here: how it is exposed (`api::http`, `serve`).

use super::Node;

/// Why a node is not ready, or that it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    ShuttingDown,
    /// The store refuses writes until restarted; the reason.
    Poisoned(String),
    /// The last write failed for want of disk space.
    DiskFull,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        *self == Readiness::Ready
    }

    /// A short reason for operators (`ready` when ready).
    pub fn reason(&self) -> String {
        match self {
            Readiness::Ready => "ready".into(),
            Readiness::ShuttingDown => "shutting down".into(),
            Readiness::Poisoned(why) => format!("store poisoned: {why}"),
            Readiness::DiskFull => "disk full: the last write failed for want of space".into(),
        }
    }
}

impl Node {
    /// This node's readiness now (cheap: a few atomic loads).
    pub fn readiness(&self) -> Readiness {
        if *self.shutdown.borrow() {
            Readiness::ShuttingDown
        } else if let Some(why) = self.store.poisoned() {
            Readiness::Poisoned(why)
        } else if self.store.is_disk_full() {
            Readiness::DiskFull
        } else {
            Readiness::Ready
        }
    }
}
