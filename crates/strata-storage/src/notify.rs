//! The committed log end, and how callers learn that it moved.
//!
//! The writer publishes a new [`Committed`] after every durable group
//! commit; readers bound their scans by it (bytes past it may be written but
//! not yet durable, and are never served). Callers learn of commits by
//! registering a callback — no async runtime is involved.

use crate::types::Position;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The durable end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Committed {
    /// Last committed global position (0 when empty).
    pub head: Position,
    /// Base of the active (last) segment.
    pub seg_base: Position,
    /// Durable length of the active segment, in bytes.
    pub seg_len: u64,
}

/// A callback run on the writer thread after each commit with the new head.
/// It must be cheap and must not block.
pub type CommitListener = Arc<dyn Fn(Position) + Send + Sync>;

pub(crate) struct Notifier {
    state: Mutex<Committed>,
    head: AtomicU64,
    listeners: RwLock<Vec<CommitListener>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("head", &self.head())
            .finish()
    }
}

impl Notifier {
    pub(crate) fn new(initial: Committed) -> Notifier {
        Notifier {
            state: Mutex::new(initial),
            head: AtomicU64::new(initial.head),
            listeners: RwLock::new(Vec::new()),
        }
    }

    pub(crate) fn head(&self) -> Position {
        self.head.load(Ordering::Acquire)
    }

    pub(crate) fn committed(&self) -> Committed {
        *self.state.lock().unwrap()
    }

    /// Makes `c` the committed end readers see (without waking anyone).
    pub(crate) fn set(&self, c: Committed) {
        let mut s = self.state.lock().unwrap();
        *s = c;
        self.head.store(c.head, Ordering::Release);
    }

    /// Runs the listeners with the current head.
    pub(crate) fn notify(&self) {
        let head = self.head();
        for l in self.listeners.read().unwrap().iter() {
            l(head);
        }
    }

    /// `set` then `notify`.
    pub(crate) fn publish(&self, c: Committed) {
        self.set(c);
        self.notify();
    }

    pub(crate) fn add_listener(&self, l: CommitListener) {
        self.listeners.write().unwrap().push(l);
    }
}
