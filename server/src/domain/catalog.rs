//! What the server holds and allows: the stream listing (paged by name),
//! the event types and categories the secondary indexes know (paged by
//! name, with their event counts), and the facts a client asks for before
//! it writes (head, index progress, version, input limits).
//!
//! Who may see which names is the adapters' check (`security`), as for the
//! stream listing: a page here holds every name.
//!
//! Not here: per-stream metadata or statistics (none are kept yet), or the
//! wire's messages (the adapters).

use super::{blocking, Error, Node};
use strata_storage::{limits, NameCount, Position, StreamInfo};

/// Page size of a stream listing when the request gives none.
pub const DEFAULT_LIST_PAGE_SIZE: u32 = 100;
/// Largest stream listing page; larger requests are clamped to it (not an error).
pub const MAX_LIST_PAGE_SIZE: u32 = 1000;

/// Page size of an event-type or category listing when the request gives none.
pub const DEFAULT_NAME_PAGE_SIZE: u32 = 100;
/// Largest event-type or category listing page; larger requests are
/// clamped to it (not an error). The store's own cap per call.
pub const MAX_NAME_PAGE_SIZE: u32 = limits::MAX_LISTED_NAMES as u32;

/// Which secondary index a name listing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// Event types of application events.
    EventType,
    /// Stream categories (a name up to the first category separator).
    Category,
}

/// One page of an event-type or category listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePage {
    /// Names in name order, with their event counts.
    pub names: Vec<NameCount>,
    /// Where the next page starts (pass as `after`); `None` on the last
    /// page. A full page of [`MAX_NAME_PAGE_SIZE`] always has one (the
    /// page after may be empty).
    pub next_after: Option<String>,
}

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

    /// Event types or categories (`kind`) whose names start with `prefix`,
    /// after the name `after`, in name order, each with its event count;
    /// `page_size` as for [`Node::list_streams`], at most
    /// [`MAX_NAME_PAGE_SIZE`].
    pub async fn list_names(
        &self,
        kind: NameKind,
        prefix: String,
        after: Option<String>,
        page_size: u32,
    ) -> Result<NamePage, Error> {
        let size = match page_size {
            0 => DEFAULT_NAME_PAGE_SIZE,
            n => n.min(MAX_NAME_PAGE_SIZE),
        } as usize;
        // One more than a page tells whether another follows, except at
        // the store's cap, where a full page must assume one does.
        let ask = (size + 1).min(limits::MAX_LISTED_NAMES);
        let store = self.store.clone();
        let mut names = blocking(move || {
            let after = after.as_deref();
            match kind {
                NameKind::EventType => store.list_event_types(&prefix, after, ask),
                NameKind::Category => store.list_categories(&prefix, after, ask),
            }
        })
        .await?;
        let more = names.len() > size || (ask == size && names.len() == size);
        names.truncate(size);
        let next_after = more.then(|| names.last().map(|n| n.name.clone())).flatten();
        tracing::debug!(?kind, returned = names.len(), more, "listed names");
        Ok(NamePage { names, next_after })
    }

    /// The character that ends a stream name's category (the store's).
    pub fn category_separator(&self) -> char {
        self.store.category_separator()
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
