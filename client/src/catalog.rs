//! Which event types and stream categories the store holds: the
//! [`Client`]'s `ListEventTypes` / `ListCategories` calls (the server's
//! type and category indexes), one page at a time or as a
//! [`futures::Stream`] over every page, and the types they return.
//!
//! A category is a stream name up to the server's category separator (`-`
//! by default: `order-42` is in `order`). Counts are of the events in the
//! log that no scavenge has dropped, visible or not (a deleted stream's
//! events count until a scavenge drops them); system records are in none.
//!
//! Both calls only read, so they are retried like any read. Not here: the
//! protobuf conversions (`convert.rs`), the retry loop (`client.rs`).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use futures::Stream;
use strata_proto::v1 as pb;

use crate::client::Client;
use crate::convert;
use crate::error::{self, Result};

/// Most names the server returns in one page; a larger `page_size` is cut
/// to it.
pub const MAX_NAMES_PAGE_SIZE: u32 = 1000;

/// An event type or a category, with how many events it has.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NameCount {
    /// The event type or category.
    pub name: String,
    /// Its events in the log that no scavenge has dropped, visible or not.
    pub events: u64,
}

/// One page of [`Client::list_event_types_page`] or
/// [`Client::list_categories_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamesPage {
    /// The names of this page, in name order (by UTF-8 bytes).
    pub names: Vec<NameCount>,
    /// Token for the next page (the last name examined); `None` when there
    /// are no more. A page can be short, or even empty, and still have one
    /// (categories the caller may not read are left out).
    pub next_page_token: Option<String>,
    /// Categories only: the server's category separator.
    pub separator: Option<char>,
}

/// Which listing a pager walks.
#[derive(Debug, Clone, Copy)]
enum Kind {
    EventTypes,
    Categories,
}

impl Client {
    /// Lists one page of the event types whose names start with `prefix`
    /// (`""`: all), after the name `page_token` (`None`: from the first),
    /// with each type's event count; `page_size` 0 means the server default
    /// (100), and at most [`MAX_NAMES_PAGE_SIZE`] are returned.
    ///
    /// Needs read on every stream (a type spans them all); otherwise
    /// [`Error::PermissionDenied`](crate::Error::PermissionDenied).
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// let page = client.list_event_types_page("Order", None, 50).await?;
    /// for t in &page.names {
    ///     println!("{}: {} events", t.name, t.events);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_event_types_page(
        &self,
        prefix: &str,
        page_token: Option<&str>,
        page_size: u32,
    ) -> Result<NamesPage> {
        let request = pb::ListEventTypesRequest {
            prefix: prefix.to_owned(),
            page_token: page_token.unwrap_or_default().to_owned(),
            page_size,
        };
        self.retrying(&self.inner, |mut c| {
            let request = request.clone();
            async move { c.list_event_types(crate::trace::request(request)).await }
        })
        .await
        .map(convert::event_types_page_from_pb)
        .map_err(error::from_plain_status)
    }

    /// Lists one page of the stream categories whose names start with
    /// `prefix`, as [`Client::list_event_types_page`]; the page also says
    /// the server's [`separator`](NamesPage::separator). Only the
    /// categories whose every stream the caller may read are listed.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// let page = client.list_categories_page("", None, 0).await?;
    /// for c in &page.names {
    ///     println!("{}: {} events", c.name, c.events);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_categories_page(
        &self,
        prefix: &str,
        page_token: Option<&str>,
        page_size: u32,
    ) -> Result<NamesPage> {
        let request = pb::ListCategoriesRequest {
            prefix: prefix.to_owned(),
            page_token: page_token.unwrap_or_default().to_owned(),
            page_size,
        };
        self.retrying(&self.inner, |mut c| {
            let request = request.clone();
            async move { c.list_categories(crate::trace::request(request)).await }
        })
        .await
        .map(convert::categories_page_from_pb)
        .map_err(error::from_plain_status)
    }

    /// Every event type whose name starts with `prefix`, in name order,
    /// fetching pages of `page_size` (0: server default) as it goes.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let types: Vec<String> = client
    ///     .list_event_types("", 0)
    ///     .map_ok(|t| t.name)
    ///     .try_collect()
    ///     .await?;
    /// # let _ = types; Ok(()) }
    /// ```
    pub fn list_event_types(
        &self,
        prefix: impl Into<String>,
        page_size: u32,
    ) -> impl Stream<Item = Result<NameCount>> + Unpin + Send + 'static {
        self.names(Kind::EventTypes, prefix.into(), page_size)
    }

    /// Every stream category whose name starts with `prefix` (and whose
    /// streams the caller may all read), in name order, as
    /// [`Client::list_event_types`].
    pub fn list_categories(
        &self,
        prefix: impl Into<String>,
        page_size: u32,
    ) -> impl Stream<Item = Result<NameCount>> + Unpin + Send + 'static {
        self.names(Kind::Categories, prefix.into(), page_size)
    }

    /// The names of every page of one listing, fetched as they are read.
    fn names(
        &self,
        kind: Kind,
        prefix: String,
        page_size: u32,
    ) -> Pin<Box<dyn Stream<Item = Result<NameCount>> + Send>> {
        struct State {
            client: Client,
            kind: Kind,
            prefix: String,
            page_size: u32,
            buf: VecDeque<NameCount>,
            token: Option<String>,
            done: bool,
        }
        fn page(s: &State) -> Pin<Box<dyn Future<Output = Result<NamesPage>> + Send + '_>> {
            let token = s.token.as_deref();
            match s.kind {
                Kind::EventTypes => Box::pin(s.client.list_event_types_page(
                    &s.prefix,
                    token,
                    s.page_size,
                )),
                Kind::Categories => {
                    Box::pin(s.client.list_categories_page(&s.prefix, token, s.page_size))
                }
            }
        }
        let state = State {
            client: self.clone(),
            kind,
            prefix,
            page_size,
            buf: VecDeque::new(),
            token: None,
            done: false,
        };
        Box::pin(futures::stream::unfold(state, |mut s| async move {
            loop {
                if let Some(item) = s.buf.pop_front() {
                    return Some((Ok(item), s));
                }
                if s.done {
                    return None;
                }
                match page(&s).await {
                    Ok(p) => {
                        s.buf.extend(p.names);
                        s.token = p.next_page_token;
                        s.done = s.token.is_none();
                    }
                    Err(e) => {
                        s.done = true;
                        return Some((Err(e), s));
                    }
                }
            }
        }))
    }
}
