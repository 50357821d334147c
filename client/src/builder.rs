//! [`ClientBuilder`]: the connection settings (timeouts, keep-alive, message
//! limit, retry policy, TLS, credentials, append sessions, or all of it
//! from a connection string) and connecting, eagerly or lazily.
//!
//! Not here: the calls themselves (`client.rs`) or what is retried after a
//! connection exists (`retry.rs`, `resumable.rs`).

use std::sync::Arc;
use std::time::Duration;

use strata_proto::v1::admin_client::AdminClient;
use strata_proto::v1::persistent_subscriptions_client::PersistentSubscriptionsClient;
use strata_proto::v1::security_client::SecurityClient;
use strata_proto::v1::snapshots_client::SnapshotsClient;
use strata_proto::v1::streams_client::StreamsClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::session::{Sessions, DEFAULT_APPEND_SESSIONS};
use crate::transport::Credentials;

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
    credentials: Credentials,
    tls: Option<Tls>,
    window_bytes: Option<u32>,
    append_sessions: usize,
}

/// TLS settings; with none given, the system's roots are trusted.
#[derive(Debug, Clone, Default)]
struct Tls {
    ca_pem: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    domain: Option<String>,
}

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::TlsFile {
        path: path.to_owned(),
        source,
    })
}

impl ClientBuilder {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Some(Duration::from_secs(30)),
            retry: RetryPolicy::default(),
            credentials: Credentials::none(),
            tls: None,
            window_bytes: None,
            append_sessions: DEFAULT_APPEND_SESSIONS,
        }
    }

    /// A builder from a connection string:
    /// `strata://[USER[:PASSWORD]@]HOST[:PORT][?OPTIONS]`, port 2113 by
    /// default, user and password percent-encoded. Options (`&`-separated):
    /// `tls=true|false`, `ca=PATH` (implies TLS), `cert=PATH` and
    /// `key=PATH` (a client certificate, implies TLS), `domain=NAME` (the
    /// name to verify the server's certificate against), `token=TOKEN` (a
    /// bearer token instead of a password).
    ///
    /// ```
    /// let b = strata_client::ClientBuilder::from_connection_string(
    ///     "strata://ann:s3cret@db.example.com:2113?tls=true",
    /// )?;
    /// # let _ = b; Ok::<(), strata_client::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConnectionString`] for a malformed string,
    /// [`Error::TlsFile`] for an unreadable file.
    pub fn from_connection_string(s: &str) -> Result<Self> {
        let bad = |m: &str| Error::InvalidConnectionString(format!("{m}: {s:?}"));
        let rest = s
            .strip_prefix("strata://")
            .ok_or_else(|| bad("it must start with strata://"))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let has_port = if host.starts_with('[') {
            host.contains("]:")
        } else {
            host.contains(':')
        };
        let host = if has_port {
            host.to_owned()
        } else {
            format!("{host}:2113")
        };
        let decode = |v: &str| {
            strata_proto::wire::percent_decode(v).ok_or_else(|| bad("bad percent-encoding"))
        };
        let mut tls: Option<Tls> = None;
        let mut token = None;
        let (mut cert, mut key) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad("an option without '='"))?;
            let v = decode(v)?;
            match k {
                "tls" => match v.as_str() {
                    "true" => {
                        tls.get_or_insert_with(Tls::default);
                    }
                    "false" => tls = None,
                    _ => return Err(bad("tls is true or false")),
                },
                "ca" => tls.get_or_insert_with(Tls::default).ca_pem = Some(read(&v)?),
                "domain" => tls.get_or_insert_with(Tls::default).domain = Some(v),
                "cert" => cert = Some(v),
                "key" => key = Some(v),
                "token" => token = Some(v),
                other => return Err(bad(&format!("unknown option {other:?}"))),
            }
        }
        match (cert, key) {
            (Some(c), Some(k)) => {
                tls.get_or_insert_with(Tls::default).identity = Some((read(&c)?, read(&k)?))
            }
            (None, None) => {}
            _ => return Err(bad("cert and key go together")),
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut b = ClientBuilder::new(format!("{scheme}://{host}"));
        b.tls = tls;
        b.credentials = match (userinfo, token) {
            (_, Some(t)) => Credentials::bearer(&t),
            (Some(u), None) => {
                let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                Credentials::basic(&decode(user)?, &decode(pass)?)
            }
            (None, None) => Credentials::none(),
        };
        Ok(b)
    }

    /// Sends these credentials with every call.
    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = c;
        self
    }

    /// Sends a user name and password (HTTP basic) with every call.
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        self.credentials(Credentials::basic(user, password))
    }

    /// Sends a bearer token with every call.
    pub fn bearer_token(self, token: &str) -> Self {
        self.credentials(Credentials::bearer(token))
    }

    /// Uses TLS, trusting this CA (PEM) instead of the system's roots.
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.get_or_insert_with(Tls::default).ca_pem = Some(pem.into());
        self
    }

    /// Uses TLS, trusting the CA in this PEM file.
    ///
    /// # Errors
    ///
    /// [`Error::TlsFile`] if it cannot be read.
    pub fn tls_ca_file(self, path: &str) -> Result<Self> {
        Ok(self.tls_ca_pem(read(path)?))
    }

    /// Uses TLS and presents this client certificate and key (PEM), for
    /// servers that require them.
    pub fn tls_client_identity(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.get_or_insert_with(Tls::default).identity =
            Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Uses TLS and verifies the server's certificate against this name
    /// (default: the URL's host).
    pub fn tls_domain(mut self, name: impl Into<String>) -> Self {
        self.tls.get_or_insert_with(Tls::default).domain = Some(name.into());
        self
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

    /// HTTP/2 flow-control windows of the connection and of each call, in
    /// bytes (default: the transport's 64 KiB). Wider windows let the
    /// server keep more of a large stream (a backup) in flight.
    pub fn http2_window_bytes(mut self, bytes: u32) -> Self {
        self.window_bytes = Some(bytes);
        self
    }

    /// How many append sessions (`Streams.AppendSession`) the client
    /// multiplexes its [`Client::append`] calls over (default
    /// [`DEFAULT_APPEND_SESSIONS`]); `0` sends every append as a unary
    /// `Append` call instead. Sessions open on first use over the same
    /// connection, credentials and TLS as every other call.
    pub fn append_sessions(mut self, n: usize) -> Self {
        self.append_sessions = n;
        self
    }

    /// Sends every append as a unary `Append` call (no sessions): the same
    /// as `append_sessions(0)`.
    pub fn unary_appends(self) -> Self {
        self.append_sessions(0)
    }

    fn endpoint(&self) -> Result<Endpoint> {
        let url = match (&self.tls, self.url.strip_prefix("http://")) {
            (Some(_), Some(rest)) => format!("https://{rest}"),
            _ => self.url.clone(),
        };
        let mut endpoint = Endpoint::from_shared(url.clone())?;
        if self.tls.is_some() || url.starts_with("https://") {
            let t = self.tls.clone().unwrap_or_default();
            let mut cfg = ClientTlsConfig::new();
            cfg = match t.ca_pem {
                Some(pem) => cfg.ca_certificate(Certificate::from_pem(pem)),
                None => cfg.with_native_roots(),
            };
            if let Some((cert, key)) = t.identity {
                cfg = cfg.identity(Identity::from_pem(cert, key));
            }
            if let Some(d) = t.domain {
                cfg = cfg.domain_name(d);
            }
            endpoint = endpoint.tls_config(cfg)?;
        }
        if let Some(w) = self.window_bytes {
            endpoint = endpoint
                .initial_stream_window_size(w)
                .initial_connection_window_size(w);
        }
        Ok(endpoint
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true))
    }

    fn client(&self, channel: Channel) -> Client {
        let channel = InterceptedService::new(channel, self.credentials.clone());
        let streams = StreamsClient::new(channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Client {
            sessions: (self.append_sessions > 0)
                .then(|| Arc::new(Sessions::new(streams.clone(), self.append_sessions))),
            inner: streams,
            snapshots: SnapshotsClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            persistent: PersistentSubscriptionsClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            admin: AdminClient::new(channel.clone()),
            security: SecurityClient::new(channel),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_parse_into_url_tls_and_credentials() {
        let b = ClientBuilder::from_connection_string(
            "strata://ann:p%40ss@db:1234?tls=true&domain=db.local",
        )
        .unwrap();
        assert_eq!(b.url, "https://db:1234");
        assert_eq!(b.tls.as_ref().unwrap().domain.as_deref(), Some("db.local"));
        assert_eq!(
            format!("{:?}", b.credentials),
            format!("{:?}", Credentials::basic("ann", "p@ss"))
        );
        let b = ClientBuilder::from_connection_string("strata://localhost").unwrap();
        assert_eq!(b.url, "http://localhost:2113");
        assert!(b.tls.is_none());
        let b = ClientBuilder::from_connection_string("strata://[::1]?token=t1").unwrap();
        assert_eq!(b.url, "http://[::1]:2113");
        assert_eq!(
            format!("{:?}", b.credentials),
            format!("{:?}", Credentials::bearer("t1"))
        );
        for bad in [
            "http://x",
            "strata://",
            "strata://h?tls=maybe",
            "strata://h?zip=1",
            "strata://h?cert=a",
        ] {
            assert!(
                matches!(
                    ClientBuilder::from_connection_string(bad),
                    Err(Error::InvalidConnectionString(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            ClientBuilder::from_connection_string("strata://h?ca=/no/such/file"),
            Err(Error::TlsFile { .. })
        ));
    }
}
