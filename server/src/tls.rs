//! TLS on the listening port: rustls (ring), HTTP/2 and HTTP/1.1 by ALPN,
//! optionally requiring client certificates signed by a given CA (mTLS).
//!
//! Certificates are reloaded without a restart: [`Tls::watch`] checks the
//! files' modification times every [`CERT_POLL`] and reloads on SIGHUP; a
//! reload that fails (unreadable file, key not matching) keeps the old
//! configuration and logs why. New connections use the newest
//! configuration; open ones keep theirs.
//!
//! Handshakes run in their own tasks, each bounded by [`HANDSHAKE_TIMEOUT`]
//! and holding its connection permit, so a slow or hostile client never
//! holds up the accept loop.
//!
//! Not here: the accept loop and connection cap (`net`), who a verified
//! client certificate is (the common name, taken here, is looked up by
//! `domain::security`).

use crate::net::{Conn, LimitedConn};
use anyhow::{anyhow, Context};
use futures::{Stream, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// How often the certificate files are checked for changes.
pub const CERT_POLL: Duration = Duration::from_secs(2);
/// Longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections whose handshake finished, waiting for the server to take
/// them.
const HANDSHAKEN_QUEUE: usize = 64;

/// Where the certificate, key and (for mTLS) client CA are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The current server configuration, replaced on reload.
#[derive(Debug, Clone)]
pub struct Tls {
    files: TlsFiles,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a configuration from the files.
fn load(files: &TlsFiles) -> anyhow::Result<ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("reading certificates from {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificates in {}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("no certificate in {}", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the private key from {}", files.key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading client CA {}", ca.display()))?
            {
                roots
                    .add(c.with_context(|| format!("parsing client CA {}", ca.display()))?)
                    .with_context(|| format!("adding client CA {}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .context("building the client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .context("the certificate and the key do not go together")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

fn modified(files: &TlsFiles) -> Vec<Option<SystemTime>> {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut v = vec![mtime(&files.cert), mtime(&files.key)];
    if let Some(ca) = &files.client_ca {
        v.push(mtime(ca));
    }
    v
}

impl Tls {
    /// Loads the files (failing start-up if they do not load).
    pub fn load(files: TlsFiles) -> anyhow::Result<Tls> {
        let cfg = load(&files)?;
        Ok(Tls {
            files,
            current: Arc::new(RwLock::new(Arc::new(cfg))),
        })
    }

    /// Whether client certificates are required.
    pub fn mutual(&self) -> bool {
        self.files.client_ca.is_some()
    }

    fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reloads the files; on failure keeps the old configuration.
    pub fn reload(&self, why: &str) {
        match load(&self.files) {
            Ok(cfg) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cfg);
                tracing::info!(why, cert = %self.files.cert.display(), "TLS certificates reloaded");
            }
            Err(e) => tracing::error!(
                why,
                error = %format!("{e:#}"),
                "reloading TLS certificates failed; keeping the previous ones"
            ),
        }
    }

    /// Reloads on file changes and on SIGHUP, until the process ends.
    pub fn watch(&self) {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut seen = modified(&tls.files);
            #[cfg(unix)]
            let mut hup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                let hup_recv = async {
                    match hup.as_mut() {
                        Some(h) => {
                            h.recv().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hup_recv = std::future::pending::<()>();
                tokio::select! {
                    () = tokio::time::sleep(CERT_POLL) => {
                        let now = modified(&tls.files);
                        if now != seen {
                            seen = now;
                            tls.reload("the certificate files changed");
                        }
                    }
                    () = hup_recv => tls.reload("SIGHUP"),
                }
            }
        });
    }

    /// TLS connections from `accepted`: each handshake in its own task.
    pub fn incoming(
        &self,
        accepted: impl Stream<Item = io::Result<LimitedConn>> + Send + 'static,
    ) -> impl Stream<Item = io::Result<Conn>> {
        let (tx, rx) = mpsc::channel(HANDSHAKEN_QUEUE);
        let tls = self.clone();
        tokio::spawn(async move {
            let mut accepted = std::pin::pin!(accepted);
            while let Some(conn) = accepted.next().await {
                let conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        continue;
                    }
                };
                let (tx, acceptor) = (tx.clone(), tokio_rustls::TlsAcceptor::from(tls.config()));
                tokio::spawn(async move {
                    let peer = conn.peer_addr();
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(conn)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Ok(Conn::tls(stream))).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(?peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(?peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        ReceiverStream::new(rx)
    }
}

/// The subject common name of a DER certificate, if it has one.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}
