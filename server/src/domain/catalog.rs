//! What the server holds and allows: the stream listing (paged by name)
//! and the facts a client asks for before it writes (head, index progress,
//! version, input limits).
//!
//! Not here: per-stream metadata or statistics (none are kept yet), or the
//! wire's messages (the adapters).

use super::{blocking, Error, Node};
use strata_storage::{limits, Position, StreamInfo};

/// Page size of a stream listing when the request gives none.
pub const DEFAULT_LIST_PAGE_SIZE: u32 = 100;
/// Largest stream listing page; larger requests are clamped to it (not an error).
pub const MAX_LIST_PAGE_SIZE: u32 = 1000;

/// One page of a stream listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPage {
    /// Streams in name order.
    pub streams: Vec<StreamInfo>,
    /// Where the next page starts (pass as `after`); `None` on the last page.
    pub next_after: Option<String>,
}

/// The server's state and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    /// Last committed position.
    pub head: Position,
    /// Last position the index covers.
    pub indexed: Position,
    /// The server's version.
    pub version: &'static str,
    /// Largest event (data + metadata), in bytes.
    pub max_event_bytes: usize,
    /// Most events in one append.
    pub max_events_per_append: usize,
    /// Largest append, in bytes.
    pub max_append_bytes: usize,
}

impl Node {
    /// Streams whose names start with `prefix`, after the name `after`, in
    /// name order; `page_size` 0 means the default, larger than the
    /// maximum means the maximum.
    pub async fn list_streams(
        &self,
        prefix: String,
        after: Option<String>,
        page_size: u32,
    ) -> Result<StreamPage, Error> {
        let size = match page_size {
            0 => DEFAULT_LIST_PAGE_SIZE,
            n => n.min(MAX_LIST_PAGE_SIZE),
        } as usize;
        let store = self.store.clone();
        // Ask for one more than a page to learn whether another page follows.
        let mut streams =
            blocking(move || store.list_streams(&prefix, after.as_deref(), size + 1)).await?;
        let next_after = if streams.len() > size {
            streams.truncate(size);
            streams.last().map(|s| s.name.clone())
        } else {
            None
        };
        tracing::debug!(
            returned = streams.len(),
            more = next_after.is_some(),
            "listed streams"
        );
        Ok(StreamPage {
            streams,
            next_after,
        })
    }

    /// The server's state and limits, now.
    pub fn facts(&self) -> ServerFacts {
        ServerFacts {
            head: self.store.head(),
            indexed: self.store.indexed_position(),
            version: env!("CARGO_PKG_VERSION"),
            max_event_bytes: limits::MAX_EVENT_BYTES,
            max_events_per_append: limits::MAX_EVENTS_PER_APPEND,
            max_append_bytes: limits::MAX_APPEND_BYTES,
        }
    }
}
