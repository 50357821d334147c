//! The [`Client`] and its unary calls (appends, listing, server info,
//! snapshots), each run with the request timeout and the retry policy.
//!
//! Not here: connecting (`builder.rs`), the retry policy (`retry.rs`), the
//! calls that return streams — reads (`read.rs`) and subscriptions
//! (`subscription.rs`) — or the lifecycle and scavenge calls (`manage.rs`)
//! and the consumer-group calls (`manage_groups.rs`, `persistent.rs`),
//! which add their methods to [`Client`] there.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::Transport;
use futures::Stream;
use strata_proto::v1 as pb;
use strata_proto::v1::admin_client::AdminClient;
use strata_proto::v1::persistent_subscriptions_client::PersistentSubscriptionsClient;
use strata_proto::v1::security_client::SecurityClient;
use strata_proto::v1::snapshots_client::SnapshotsClient;
use strata_proto::v1::streams_client::StreamsClient;
use tonic::Status;

use crate::builder::ClientBuilder;
use crate::convert;
#[cfg(doc)]
use crate::error::Error; // the `# Errors` sections link to its variants
use crate::error::{self, is_retryable_status, Result};
use crate::retry::RetryPolicy;
use crate::session::Sessions;
use crate::types::{
    AppendResult, EventData, ExpectedRevision, ServerInfo, Snapshot, SnapshotData, StreamAppend,
    StreamSummary, StreamsPage,
};

/// A connection to a Strata server.
///
/// Cheap to clone: clones share one HTTP/2 connection, which multiplexes
/// concurrent calls. Calls that fail because the server is unavailable or
/// the connection broke are retried per the [`RetryPolicy`]; that includes
/// appends, which is safe because every event carries an id and the server
/// recognises a re-sent append by its event ids: it returns the original
/// result with `deduplicated = true` and writes nothing again. Metadata
/// changes and deletes carry no such id, so they are retried only when the
/// request certainly did not reach the writer (see
/// [`Client::set_stream_metadata`]).
///
/// ```no_run
/// # async fn demo() -> strata_client::Result<()> {
/// use futures::TryStreamExt;
/// use strata_client::{Client, EventData, ExpectedRevision, ReadOptions};
///
/// let client = Client::connect("http://127.0.0.1:2113").await?;
/// let placed = EventData::json("OrderPlaced", &serde_json::json!({"order": 1}))?;
/// let result = client.append("order-1", ExpectedRevision::NoStream, vec![placed]).await?;
/// assert_eq!(result.last_revision, 0);
///
/// let events: Vec<_> = client.read_stream("order-1", ReadOptions::forwards()).try_collect().await?;
/// assert_eq!(events.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: StreamsClient<Transport>,
    pub(crate) snapshots: SnapshotsClient<Transport>,
    pub(crate) admin: AdminClient<Transport>,
    pub(crate) persistent: PersistentSubscriptionsClient<Transport>,
    pub(crate) security: SecurityClient<Transport>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    /// The append sessions [`Client::append`] uses; `None`: appends go unary.
    pub(crate) sessions: Option<Arc<Sessions>>,
}

impl Client {
    /// Connects to `url` (e.g. `http://127.0.0.1:2113`, or `https://…` for
    /// TLS trusting the system's roots) with default settings; see
    /// [`Client::builder`] for credentials, a CA, or a connection string.
    ///
    /// ```no_run
    /// # async fn demo() -> strata_client::Result<()> {
    /// let client = strata_client::Client::connect("http://127.0.0.1:2113").await?;
    /// println!("server head: {}", client.server_info().await?.head_position);
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: impl Into<String>) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// A builder to configure timeouts and retries before connecting.
    ///
    /// ```no_run
    /// # async fn demo() -> strata_client::Result<()> {
    /// let client = strata_client::Client::builder("http://127.0.0.1:2113").connect().await?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// The generated `Admin` client over this client's connection, TLS and
    /// credentials, for the calls this crate does not wrap (the `Backup`
    /// stream, which `strata backup` drives chunk by chunk).
    pub fn admin_client(&self) -> AdminClient<Transport> {
        self.admin.clone()
    }

    /// The retry policy in use.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Runs one `Streams` call with the request timeout and the retry policy.
    async fn unary<T, F, Fut>(&self, call: F) -> std::result::Result<T, Status>
    where
        F: FnMut(StreamsClient<Transport>) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, Status>>,
    {
        self.retrying(&self.inner, call).await
    }

    /// Runs one call on a clone of `client` with the request timeout and
    /// the retry policy.
    pub(crate) async fn retrying<C, T, F, Fut>(
        &self,
        client: &C,
        call: F,
    ) -> std::result::Result<T, Status>
    where
        C: Clone,
        F: FnMut(C) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, Status>>,
    {
        self.retrying_if(client, is_retryable_status, call).await
    }

    /// Like [`Self::retrying`], but retries only the failures `retryable`
    /// accepts (still within the retry policy's attempts and backoff).
    pub(crate) async fn retrying_if<C, T, F, Fut>(
        &self,
        client: &C,
        retryable: fn(&Status) -> bool,
        mut call: F,
    ) -> std::result::Result<T, Status>
    where
        C: Clone,
        F: FnMut(C) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, Status>>,
    {
        self.retry
            .run("call", retryable, || self.timed(call(client.clone())))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Runs `fut` under the request timeout, if one is set; a timeout is
    /// `DEADLINE_EXCEEDED`, which is not retried.
    pub(crate) async fn timed<T>(
        &self,
        fut: impl Future<Output = std::result::Result<T, Status>>,
    ) -> std::result::Result<T, Status> {
        match self.request_timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .unwrap_or_else(|_| Err(Status::deadline_exceeded("client request timeout"))),
            None => fut.await,
        }
    }

    /// Appends events to one stream, atomically, if the stream is in the
    /// `expected` state. Returns once the events are durable.
    ///
    /// Sent over one of the client's append sessions
    /// (`Streams.AppendSession`) unless the builder turned them off
    /// ([`ClientBuilder::append_sessions`]) or the server has none: many
    /// `append` calls from concurrent tasks share a few sessions and so
    /// the server's group commits, each still checked and answered on its
    /// own. Nothing waits to batch: an append is sent at once.
    ///
    /// Retried automatically when the server is unavailable (or the
    /// session carrying it broke): the server deduplicates by event id, so
    /// a retry of an append that had in fact been committed returns the
    /// original result with [`deduplicated`](AppendResult::deduplicated)
    /// set.
    ///
    /// # Errors
    ///
    /// [`Error::WrongExpectedRevision`] if the check fails (carries the
    /// stream's actual revision), [`Error::PartialDuplicate`] if only some of
    /// the event ids were already committed, [`Error::InvalidArgument`],
    /// [`Error::PermissionDenied`] (reserved `$` names) or
    /// [`Error::ResourceExhausted`] (limits) for bad input.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use strata_client::{EventData, ExpectedRevision};
    ///
    /// let e = EventData::binary("Deposited", b"100".to_vec());
    /// let r = client.append("account-9", ExpectedRevision::Any, vec![e]).await?;
    /// println!("revision {}, position {}", r.last_revision, r.last_position);
    /// # Ok(()) }
    /// ```
    pub async fn append(
        &self,
        stream: impl Into<String>,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult> {
        let stream = stream.into();
        let request = convert::append_to_pb(stream.clone(), expected, events);
        let answer = match &self.sessions {
            Some(sessions) if sessions.usable() => {
                self.retry
                    .run("append", is_retryable_status, || {
                        self.timed(self.append_once(sessions, request.clone()))
                    })
                    .await
            }
            _ => {
                self.unary(|mut c| {
                    let request = request.clone();
                    async move { c.append(crate::trace::request(request)).await }
                })
                .await
            }
        };
        answer
            .map(convert::append_result_from_pb)
            .map_err(|s| error::from_status(s, &|name| (name == stream).then_some(expected)))
    }

    /// One attempt of an append: over a session, or unary once the server
    /// turned out to have no sessions (`UNIMPLEMENTED` at opening, when
    /// nothing was appended).
    async fn append_once(
        &self,
        sessions: &Sessions,
        request: pb::AppendRequest,
    ) -> std::result::Result<pb::AppendResponse, Status> {
        if sessions.usable() {
            match sessions.append(request.clone()).await {
                Err(s) if s.code() == tonic::Code::Unimplemented => sessions.mark_unsupported(),
                answer => return answer,
            }
        }
        let mut c = self.inner.clone();
        c.append(crate::trace::request(request))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Appends to several streams in one atomic transaction: every stream's
    /// check passes and all events are written, or nothing is. Each stream
    /// may appear once. Returns one result per entry, in order.
    ///
    /// Retried like [`Client::append`].
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use strata_client::{EventData, ExpectedRevision, StreamAppend};
    ///
    /// let results = client.append_multi(vec![
    ///     StreamAppend::new("account-1", ExpectedRevision::Exact(4),
    ///         vec![EventData::binary("Withdrawn", b"10".to_vec())]),
    ///     StreamAppend::new("account-2", ExpectedRevision::Exact(7),
    ///         vec![EventData::binary("Deposited", b"10".to_vec())]),
    /// ]).await?;
    /// assert_eq!(results.len(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn append_multi(&self, appends: Vec<StreamAppend>) -> Result<Vec<AppendResult>> {
        let expected: Vec<(String, ExpectedRevision)> = appends
            .iter()
            .map(|a| (a.stream.clone(), a.expected))
            .collect();
        let request = pb::AppendMultiRequest {
            appends: appends
                .into_iter()
                .map(convert::stream_append_to_pb)
                .collect(),
        };
        self.unary(|mut c| {
            let request = request.clone();
            async move { c.append_multi(crate::trace::request(request)).await }
        })
        .await
        .map(|r| {
            r.results
                .into_iter()
                .map(convert::append_result_from_pb)
                .collect()
        })
        .map_err(|s| {
            error::from_status(s, &|name| {
                expected.iter().find(|(n, _)| n == name).map(|(_, e)| *e)
            })
        })
    }

    /// Lists one page of stream names starting with `prefix`, in name order.
    /// Pass the previous page's token to get the next page; `page_size` 0
    /// means the server default (100), and at most 1000 are returned.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// let mut token = None;
    /// loop {
    ///     let page = client.list_streams_page("order-", token.as_deref(), 50).await?;
    ///     for s in &page.streams {
    ///         println!("{} at revision {}", s.name, s.revision);
    ///     }
    ///     match page.next_page_token {
    ///         Some(t) => token = Some(t),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_streams_page(
        &self,
        prefix: &str,
        page_token: Option<&str>,
        page_size: u32,
    ) -> Result<StreamsPage> {
        let request = convert::list_streams_to_pb(prefix, page_token, page_size);
        self.unary(|mut c| {
            let request = request.clone();
            async move { c.list_streams(crate::trace::request(request)).await }
        })
        .await
        .map(convert::streams_page_from_pb)
        .map_err(error::from_plain_status)
    }

    /// Lists all streams whose name starts with `prefix`, in name order,
    /// fetching pages of `page_size` (0: server default) as it goes.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let names: Vec<String> = client
    ///     .list_streams("order-", 100)
    ///     .map_ok(|s| s.name)
    ///     .try_collect()
    ///     .await?;
    /// # let _ = names; Ok(()) }
    /// ```
    pub fn list_streams(
        &self,
        prefix: impl Into<String>,
        page_size: u32,
    ) -> impl Stream<Item = Result<StreamSummary>> + Unpin + Send + 'static {
        struct State {
            client: Client,
            prefix: String,
            page_size: u32,
            buf: VecDeque<StreamSummary>,
            token: Option<String>,
            done: bool,
        }
        let state = State {
            client: self.clone(),
            prefix: prefix.into(),
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
                match s
                    .client
                    .list_streams_page(&s.prefix, s.token.as_deref(), s.page_size)
                    .await
                {
                    Ok(page) => {
                        s.buf.extend(page.streams);
                        s.token = page.next_page_token;
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

    /// Cheap facts about the server: the log head, version and limits.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// let info = client.server_info().await?;
    /// println!("strata {} at position {}", info.version, info.head_position);
    /// # Ok(()) }
    /// ```
    pub async fn server_info(&self) -> Result<ServerInfo> {
        self.unary(|mut c| async move {
            c.server_info(crate::trace::request(pb::ServerInfoRequest {}))
                .await
        })
        .await
        .map(convert::server_info_from_pb)
        .map_err(error::from_plain_status)
    }

    /// Saves a snapshot of `stream`'s state as of `revision` (events
    /// `0..=revision` applied). Returns when it is durable, with the time the
    /// server stored it (unix microseconds).
    ///
    /// The server keeps the newest few snapshots per stream (its
    /// `--snapshots-per-stream`, default 3) and drops older ones. Saving the
    /// same snapshot twice just stores it again, so the call is retried when
    /// the server is unavailable, like an append.
    ///
    /// # Errors
    ///
    /// [`Error::FailedPrecondition`] (`snapshot-ahead-of-stream`) if the
    /// stream has no event at `revision` yet; [`Error::ResourceExhausted`]
    /// (`snapshot-too-large`) if data + metadata exceed 16 MiB;
    /// [`Error::InvalidArgument`] or [`Error::PermissionDenied`] for a bad or
    /// reserved stream name or a type over 255 bytes.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use strata_client::SnapshotData;
    ///
    /// let state = serde_json::to_vec(&serde_json::json!({"total": 12}))?;
    /// client.save_snapshot("order-1", 41, SnapshotData::new("Order", 1, state)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn save_snapshot(
        &self,
        stream: impl Into<String>,
        revision: u64,
        snapshot: SnapshotData,
    ) -> Result<i64> {
        let request = convert::save_snapshot_to_pb(stream.into(), revision, snapshot);
        self.retrying(&self.snapshots, |mut c| {
            let request = request.clone();
            async move { c.save_snapshot(crate::trace::request(request)).await }
        })
        .await
        .map(|r| r.created_micros)
        .map_err(error::from_plain_status)
    }

    /// The newest snapshot of `stream` at or before `at_or_before` (the
    /// newest of all when `None`); `Ok(None)` when there is none. Retried
    /// when the server is unavailable.
    ///
    /// # Errors
    ///
    /// [`Error::DataLoss`] if the stored snapshot is damaged: replay the
    /// stream from the start instead (the stream itself is unaffected).
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// match client.get_snapshot("order-1", None).await? {
    ///     Some(s) => println!("state at revision {}: {} bytes", s.revision, s.data.len()),
    ///     None => println!("no snapshot; replay from the start"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_snapshot(
        &self,
        stream: impl Into<String>,
        at_or_before: Option<u64>,
    ) -> Result<Option<Snapshot>> {
        let request = convert::get_snapshot_to_pb(stream.into(), at_or_before);
        let result = self
            .retrying(&self.snapshots, |mut c| {
                let request = request.clone();
                async move { c.get_snapshot(crate::trace::request(request)).await }
            })
            .await;
        match result {
            Ok(r) => convert::snapshot_from_pb(r).map(Some),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(error::from_plain_status(s)),
        }
    }
}
