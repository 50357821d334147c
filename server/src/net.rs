//! The listening side: a TCP accept stream with a hard cap on concurrent
//! connections, for `serve_with_incoming_shutdown`.
//!
//! Each accepted connection takes a permit from a semaphore of
//! `max_connections` permits; the permit travels inside [`LimitedConn`] and
//! is released when hyper drops the connection. When no permit is free the
//! new connection is closed at once (the client sees a transport error,
//! i.e. `UNAVAILABLE`, and may retry): no gRPC exchange has happened yet,
//! so there is no way to answer it with a status, and holding it open
//! would defeat the cap. Accept errors (e.g. out of file descriptors) are
//! logged and retried after a short pause instead of spinning.
//!
//! [`Conn`] is what the server serves: a plain or a TLS connection (the
//! handshake is `tls`'s), whose [`PeerInfo`] — the peer's address and, with
//! mTLS, the client certificate's common name — tonic puts into every
//! request's extensions.
//!
//! Not here: TLS configuration, HTTP/2 settings, or anything about requests.

use crate::telemetry::{ConnectionGauge, Metrics};
use futures::Stream;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Default most concurrent client connections (`--max-connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Pause after a failed `accept` before trying again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// An accepted connection holding one of the listener's permits.
#[derive(Debug)]
pub struct LimitedConn {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
    /// Counts the connection in `strata_connections_open` while it lives.
    _gauge: ConnectionGauge,
}

impl LimitedConn {
    /// The peer's address, if the socket still knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.io.peer_addr().ok()
    }
}

impl Connected for LimitedConn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// Who is on the other end of a connection; in every request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub addr: Option<SocketAddr>,
    /// The verified client certificate's subject common name (mTLS).
    pub client_cert_name: Option<String>,
    pub tls: bool,
}

/// A connection the server serves: plain, or TLS after its handshake.
#[derive(Debug)]
pub enum Conn {
    Plain(LimitedConn),
    Tls(Box<tokio_rustls::server::TlsStream<LimitedConn>>, PeerInfo),
}

impl Conn {
    /// A connection whose TLS handshake finished.
    pub fn tls(stream: tokio_rustls::server::TlsStream<LimitedConn>) -> Conn {
        let (io, session) = stream.get_ref();
        let info = PeerInfo {
            addr: io.peer_addr(),
            client_cert_name: session
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| crate::tls::common_name(c.as_ref())),
            tls: true,
        };
        Conn::Tls(Box::new(stream), info)
    }
}

impl Connected for Conn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        match self {
            Conn::Plain(c) => PeerInfo {
                addr: c.peer_addr(),
                client_cert_name: None,
                tls: false,
            },
            Conn::Tls(_, info) => info.clone(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_read(cx, buf),
            Conn::Tls(c, _) => Pin::new(c.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_write(cx, buf),
            Conn::Tls(c, _) => Pin::new(c.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_flush(cx),
            Conn::Tls(c, _) => Pin::new(c.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_shutdown(cx),
            Conn::Tls(c, _) => Pin::new(c.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_write_vectored(cx, bufs),
            Conn::Tls(c, _) => Pin::new(c.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(c) => c.is_write_vectored(),
            Conn::Tls(c, _) => c.is_write_vectored(),
        }
    }
}

impl AsyncRead for LimitedConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Accepts connections from `listener`, at most `max_connections` at once.
pub fn limited_incoming(
    listener: TcpListener,
    max_connections: usize,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = io::Result<LimitedConn>> {
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    futures::stream::unfold((listener, permits), move |(listener, permits)| {
        let metrics = metrics.clone();
        async move {
            loop {
                match listener.accept().await {
                    Ok((io, peer)) => match permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            if let Err(e) = io.set_nodelay(true) {
                                tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
                            }
                            tracing::debug!(%peer, "connection accepted");
                            return Some((
                                Ok(LimitedConn {
                                    io,
                                    _permit: permit,
                                    _gauge: ConnectionGauge::new(metrics),
                                }),
                                (listener, permits),
                            ));
                        }
                        Err(_) => {
                            tracing::warn!(%peer, max_connections, "connection limit reached; closing the new connection");
                            metrics.connection_refused();
                            drop(io);
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed; retrying");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                }
            }
        }
    })
}
