//! The committed log end, and how callers learn that it moved.
//!
//! The writer publishes a new [`Committed`] after every durable group
//! commit; readers bound their scans by it (bytes past it may be written but
//! not yet durable, and are never served). Waiters block on a condvar or
//! register a callback — no async runtime is involved.

use crate::types::Position;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

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
    cv: Condvar,
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
            cv: Condvar::new(),
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

    /// Wakes waiters and runs listeners with the current head.
    pub(crate) fn notify(&self) {
        let head = self.head();
        self.cv.notify_all();
        for l in self.listeners.read().unwrap().iter() {
            l(head);
        }
    }

    /// `set` then `notify`.
    pub(crate) fn publish(&self, c: Committed) {
        self.set(c);
        self.notify();
    }

    /// Blocks until the head is beyond `pos` or the timeout passes; returns the head.
    pub(crate) fn wait_beyond(&self, pos: Position, timeout: Duration) -> Position {
        let s = self.state.lock().unwrap();
        let (s, _) = self
            .cv
            .wait_timeout_while(s, timeout, |c| c.head <= pos)
            .unwrap();
        s.head
    }

    pub(crate) fn add_listener(&self, l: CommitListener) {
        self.listeners.write().unwrap().push(l);
    }

    /// Wakes every waiter (used at shutdown).
    pub(crate) fn wake_all(&self) {
        self.cv.notify_all();
    }
}
