//! Connecting the workloads to the server: HTTP/2 channels with wide
//! windows, TLS when a CA is given (`--tls-ca`), and credentials on every
//! call (`--user`/`--password` or `--token`) through an interceptor, so
//! every workload runs unchanged against a server with TLS and
//! authentication on.
//!
//! Not here: what the workloads send.

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// What a workload talks through: a channel whose calls carry the run's
/// credentials (none when the server runs without authentication).
pub type Channel = InterceptedService<tonic::transport::Channel, Auth>;

/// How to reach the server: the address, the CA to trust (TLS), and the
/// credentials to send.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// PEM of the CA that signed the server's certificate; `None`: plain
    /// HTTP/2.
    pub tls_ca_pem: Option<Vec<u8>>,
    /// User name and password (basic credentials).
    pub basic: Option<(String, String)>,
    /// A bearer token.
    pub token: Option<String>,
}

impl Security {
    /// From the command line: `--tls-ca`, `--user` with `--password`, or
    /// `--token`.
    pub fn from_args(
        tls_ca: Option<&std::path::Path>,
        user: Option<&str>,
        password: Option<&str>,
        token: Option<&str>,
    ) -> Result<Security> {
        let tls_ca_pem = match tls_ca {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        };
        let (basic, token) = match (user, password, token) {
            (Some(u), Some(p), None) => (Some((u.to_owned(), p.to_owned())), None),
            (None, None, Some(t)) => (None, Some(t.to_owned())),
            (None, None, None) => (None, None),
            _ => anyhow::bail!("give --user with --password, or --token, not both"),
        };
        Ok(Security {
            tls_ca_pem,
            basic,
            token,
        })
    }

    /// The `Authorization` header value, if any.
    fn authorization(&self) -> Option<String> {
        match (&self.basic, &self.token) {
            (Some((u, p)), _) => Some(format!("Basic {}", STANDARD.encode(format!("{u}:{p}")))),
            (None, Some(t)) => Some(format!("Bearer {t}")),
            (None, None) => None,
        }
    }

    /// `addr` with the scheme TLS needs (`https://` when a CA is given).
    pub fn url(&self, addr: &str) -> String {
        match (&self.tls_ca_pem, addr.strip_prefix("http://")) {
            (Some(_), Some(rest)) => format!("https://{rest}"),
            _ => addr.to_owned(),
        }
    }
}

/// Adds the run's `Authorization` header to every call.
#[derive(Clone, Debug)]
pub struct Auth(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// `n` channels (HTTP/2 connections) to `addr`.
pub async fn connect(addr: &str, n: usize, sec: &Security) -> Result<Vec<Channel>> {
    let auth = Auth(match &sec.authorization() {
        Some(a) => Some(a.parse().context("credentials are not a valid header")?),
        None => None,
    });
    let url = sec.url(addr);
    let mut v = Vec::new();
    for _ in 0..n.max(1) {
        let mut ep = Endpoint::from_shared(url.clone())?
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .initial_connection_window_size(Some(8 * 1024 * 1024))
            .initial_stream_window_size(Some(4 * 1024 * 1024));
        if let Some(pem) = &sec.tls_ca_pem {
            // The dev certificate names localhost; the bench dials 127.0.0.1.
            ep = ep.tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(pem))
                    .domain_name("localhost"),
            )?;
        }
        v.push(InterceptedService::new(ep.connect().await?, auth.clone()));
    }
    Ok(v)
}
