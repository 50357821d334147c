//! [`ClientBuilder`]: the connection settings (timeouts, keep-alive, message
//! limit, retry policy) and connecting, eagerly or lazily.
//!
//! Not here: the calls themselves (`client.rs`) or what is retried after a
//! connection exists (`retry.rs`, `resumable.rs`).

use std::time::Duration;

use strata_proto::v1::admin_client::AdminClient;
use strata_proto::v1::persistent_subscriptions_client::PersistentSubscriptionsClient;
use strata_proto::v1::snapshots_client::SnapshotsClient;
use strata_proto::v1::streams_client::StreamsClient;
use tonic::transport::{Channel, Endpoint};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// Largest gRPC message the client sends or accepts, in bytes (32 MiB; the
/// server accepts appends of up to 16 MiB of event data). The same value as
/// `strata_proto::wire::MAX_GRPC_MESSAGE_BYTES`, which the server uses too.
pub const MAX_MESSAGE_BYTES: usize = strata_proto::wire::MAX_GRPC_MESSAGE_BYTES;

/// Configures and connects a [`Client`].
///
/// ```no_run
/// # async fn demo() -> strata_client::Result<()> {
/// use std::time::Duration;
/// use strata_client::{Client, RetryPolicy};
///
/// let client = Client::builder("http://127.0.0.1:2113")
///     .connect_timeout(Duration::from_secs(2))
///     .request_timeout(Duration::from_secs(10))
///     .retry_policy(RetryPolicy::default().max_attempts(3))
///     .connect()
///     .await?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
    retry: RetryPolicy,
}

impl ClientBuilder {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Some(Duration::from_secs(30)),
            retry: RetryPolicy::default(),
        }
    }

    /// How long one attempt to open a connection may take (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long a unary call (append, list, server info, metadata, delete,
    /// scavenge control, group management), or the start of a read or of a
    /// group consumer's call, may take per attempt (default 30 s).
    /// Subscriptions are not limited once open.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = Some(d);
        self
    }

    /// Removes the request timeout.
    pub fn no_request_timeout(mut self) -> Self {
        self.request_timeout = None;
        self
    }

    /// How unavailable servers and broken connections are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    fn endpoint(&self) -> Result<Endpoint> {
        Ok(Endpoint::from_shared(self.url.clone())?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true))
    }

    fn client(&self, channel: Channel) -> Client {
        Client {
            inner: StreamsClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            snapshots: SnapshotsClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            persistent: PersistentSubscriptionsClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            admin: AdminClient::new(channel),
            request_timeout: self.request_timeout,
            retry: self.retry,
        }
    }

    /// Connects now, retrying refused or failed connections per the retry
    /// policy.
    pub async fn connect(self) -> Result<Client> {
        let endpoint = self.endpoint()?;
        // Every connection failure is worth another try: the server may be
        // starting up.
        let channel = self
            .retry
            .run("connect", |_| true, || endpoint.connect())
            .await
            .map_err(Error::Transport)?;
        Ok(self.client(channel))
    }

    /// Returns a client that connects on its first call (and reconnects
    /// whenever the connection is lost). Fails only on a malformed URL.
    pub fn connect_lazy(self) -> Result<Client> {
        let channel = self.endpoint()?.connect_lazy();
        Ok(self.client(channel))
    }
}
