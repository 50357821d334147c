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
//! Not here: TLS, HTTP/2 settings, or anything about requests.

use crate::telemetry::{ConnectionGauge, Metrics};
use futures::Stream;
use std::io;
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

impl Connected for LimitedConn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
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
