//! The daemon's lifecycle for `strata serve`: open the store, bind, serve
//! gRPC (Streams, Snapshots, Admin,
//! PersistentSubscriptions, health, reflection) and HTTP (health probes,
//! metrics) until SIGTERM / Ctrl-C, drain, close.
//!
//! Shutdown sequence: on the signal, health turns `NOT_SERVING`, a
//! `watch<bool>` flips to `true` (live subscriptions and long reads end
//! with `UNAVAILABLE` / `shutting-down`), tonic stops accepting and waits
//! for in-flight RPCs; if they have not finished after [`SHUTDOWN_GRACE`]
//! the server stops waiting. Then the store is closed (queued appends
//! finish, the index is flushed) and the process exits 0.
//!
//! Adapters are mounted here, all on one port: the strata.v1 gRPC services
//! (`api::strata`), the KurrentDB client protocol's (`api::kurrent`) and
//! the plain-HTTP routes (`api::http`: health probes,
//! metrics), one axum router served by tonic with HTTP/1.1 accepted beside
//! HTTP/2. The gRPC health status follows the node's readiness (polled
//! every [`READINESS_POLL`]).
//!
//! Not here: command-line parsing, logging setup (`main`), what requests
//! do (`domain`) or how they are encoded (`api`).

use crate::api::auth::AuthLayer;
use crate::config::ServeConfig;
use crate::domain::health::Readiness;
use crate::domain::security::SecurityConfig;
use crate::domain::Node;
use crate::net::{limited_incoming, Conn};
use crate::telemetry::Metrics;
use crate::tls::{Tls, TlsFiles};
use anyhow::{anyhow, Context};
use futures::{Stream, TryStreamExt};
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use strata_storage::{Error, OpenReport, Options, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;

/// Longest the server waits for in-flight RPCs after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Opens a store, turning a held lock into a clear message.
pub fn open_store(data_dir: &std::path::Path, opts: Options) -> anyhow::Result<Store> {
    match Store::open(data_dir, opts) {
        Ok(s) => Ok(s),
        Err(Error::Locked(dir)) => Err(anyhow!(
            "data directory {} is locked by another process: another strata instance is already using it",
            dir.display()
        )),
        Err(e) => Err(anyhow::Error::new(e).context(format!("opening the store in {}", data_dir.display()))),
    }
}

/// Runs the server until shutdown.
pub fn run(cfg: ServeConfig) -> anyhow::Result<()> {
    let opts = Options {
        segment_max_bytes: cfg.segment_max_bytes,
        index_cache_bytes: cfg.index_cache_bytes,
        snapshots_per_stream: cfg.snapshots_per_stream,
        category_separator: cfg.category_separator,
        ..Options::default()
    };
    let store = open_store(&cfg.data_dir, opts)?;
    let report = store.open_report();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("strata-rt")
        .build()
        .context("starting the async runtime")?;
    let served = rt.block_on(serve(store.clone(), &cfg, report));
    // Stragglers (e.g. a blocking read whose client vanished) must not
    // keep the process alive.
    rt.shutdown_timeout(Duration::from_secs(1));
    let closed = store.close().context("closing the store");
    match (&served, &closed) {
        (Ok(()), Ok(())) => tracing::info!("store closed; bye"),
        (_, Err(e)) => tracing::error!(error = %format!("{e:#}"), "closing the store failed"),
        _ => {}
    }
    served.and(closed)
}

/// The first admin's password, when a server that requires
/// authentication has no user: `STRATA_ADMIN_PASSWORD`, else the file.
fn bootstrap_password(cfg: &ServeConfig) -> anyhow::Result<Option<String>> {
    if let Ok(p) = std::env::var("STRATA_ADMIN_PASSWORD") {
        if !p.is_empty() {
            return Ok(Some(p));
        }
    }
    match &cfg.admin_password_file {
        Some(f) => {
            let p = std::fs::read_to_string(f)
                .with_context(|| format!("reading the admin password from {}", f.display()))?;
            Ok(Some(p.trim_end_matches(['\r', '\n']).to_owned()))
        }
        None => Ok(None),
    }
}

async fn serve(store: Store, cfg: &ServeConfig, report: OpenReport) -> anyhow::Result<()> {
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => Some(
            Tls::load(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: cfg.tls_client_ca.clone(),
            })
            .context("loading the TLS certificate")?,
        ),
        _ => None,
    };
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown_tx = Arc::new(shutdown_tx);
    let metrics = Arc::new(Metrics::new());
    let node = Arc::new(Node::new(
        store.clone(),
        shutdown_rx.clone(),
        cfg.max_subscriptions,
        metrics.clone(),
    ));
    let users = node
        .start_security(SecurityConfig {
            auth_required: tls.is_some() || !cfg.listen.ip().is_loopback(),
            bootstrap_admin_password: bootstrap_password(cfg)?,
        })
        .await
        .map_err(|e| anyhow!("{e}"))
        .context("starting security")?;
    let groups = node
        .start_groups()
        .await
        .context("starting the consumer groups")?;
    let (streams, snapshots, admin, persistent) = crate::api::strata::services(node.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    crate::api::strata::report_health(&health, ServingStatus::Serving).await;
    crate::api::kurrent::report_health(&health, ServingStatus::Serving).await;
    health.set_service_status("", ServingStatus::Serving).await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(strata_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(strata_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building the reflection service")?;

    {
        let tx = shutdown_tx.clone();
        tokio::spawn(async move {
            let signal = wait_for_signal().await;
            tracing::info!(
                signal,
                "shutting down: refusing new connections, finishing in-flight requests"
            );
            tx.send_replace(true);
        });
    }
    tokio::spawn(follow_readiness(node.clone(), health.clone()));

    // Scripts and tests learn the port from this one line.
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "strata listening on {addr}")
            .and_then(|()| out.flush())
            .context("writing to stdout")?;
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data_dir = %cfg.data_dir.display(),
        listen = %addr,
        head = report.head,
        truncated_bytes = report.truncated_bytes,
        index_lag = report.head.saturating_sub(report.index_was_at),
        segment_max_bytes = cfg.segment_max_bytes,
        index_cache_bytes = cfg.index_cache_bytes,
        max_connections = cfg.max_connections,
        max_subscriptions = cfg.max_subscriptions,
        snapshots_per_stream = cfg.snapshots_per_stream,
        category_separator = %node.category_separator(),
        consumer_groups = groups,
        tls = tls.is_some(),
        client_certificates = tls.as_ref().is_some_and(Tls::mutual),
        authentication = node.auth_enabled(),
        users,
        "strata started"
    );

    // gRPC and plain HTTP on one port: tonic's routes are an axum router,
    // merged with the HTTP side's; HTTP/1.1 is accepted beside HTTP/2.
    let grpc = Routes::from(axum::Router::new().fallback(crate::api::http::fallback))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(streams)
        .add_service(snapshots)
        .add_service(admin)
        .add_service(persistent)
        .add_service(crate::api::strata::security_service(node.clone()));
    // The KurrentDB client protocol beside strata.v1 (docs/KURRENTDB.md).
    let grpc = crate::api::kurrent::add_services(grpc, node.clone(), addr);
    let routes = Routes::from(
        grpc.into_axum_router()
            .merge(crate::api::http::router(node.clone())),
    )
    .prepare();
    let mut stop_accepting = shutdown_rx.clone();
    let server = Server::builder()
        .accept_http1(true)
        .layer(crate::api::decode_errors::DecodeErrorsLayer)
        .layer(crate::api::trace_context::TraceContextLayer)
        .layer(AuthLayer::new(node.clone(), cfg.metrics_unauthenticated))
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            incoming(listener, cfg.max_connections, metrics, tls),
            async move {
                let _ = stop_accepting.wait_for(|s| *s).await;
            },
        );
    tokio::pin!(server);
    let mut grace = shutdown_rx.clone();
    tokio::select! {
        r = &mut server => r.context("the gRPC server failed")?,
        () = async move {
            let _ = grace.wait_for(|s| *s).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!(grace = ?SHUTDOWN_GRACE, "in-flight requests did not finish in time; stopping anyway"),
    }
    drop(shutdown_tx);
    Ok(())
}

/// The connections to serve: plain, or TLS ones after their handshake
/// (certificates reloaded as they change).
fn incoming(
    listener: TcpListener,
    max_connections: usize,
    metrics: Arc<Metrics>,
    tls: Option<Tls>,
) -> Pin<Box<dyn Stream<Item = std::io::Result<Conn>> + Send>> {
    let accepted = limited_incoming(listener, max_connections, metrics);
    match tls {
        Some(tls) => {
            tls.watch();
            Box::pin(tls.incoming(accepted))
        }
        None => Box::pin(accepted.map_ok(Conn::Plain)),
    }
}

/// How often the gRPC health status is brought in line with readiness.
const READINESS_POLL: Duration = Duration::from_secs(1);

/// Keeps the gRPC health service's status equal to the node's readiness
/// (`NOT_SERVING` while poisoned, out of disk space or shutting down), and
/// logs each change. Ends once shutting down.
async fn follow_readiness(node: Arc<Node>, health: tonic_health::server::HealthReporter) {
    let mut was = Readiness::Ready;
    let mut shutdown = node.shutdown_signal();
    loop {
        let now = node.readiness();
        if now != was {
            let status = if now.is_ready() {
                tracing::info!("ready again: serving");
                ServingStatus::Serving
            } else {
                tracing::warn!(reason = %now.reason(), "not ready: health reports NOT_SERVING");
                ServingStatus::NotServing
            };
            crate::api::strata::report_health(&health, status).await;
            crate::api::kurrent::report_health(&health, status).await;
            health.set_service_status("", status).await;
            was = now;
        }
        if was == Readiness::ShuttingDown {
            return;
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => {}
            () = tokio::time::sleep(READINESS_POLL) => {}
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT); returns the signal's name.
async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => return "SIGTERM",
                    r = tokio::signal::ctrl_c() => {
                        if let Err(e) = r {
                            tracing::error!(error = %e, "cannot listen for Ctrl-C");
                            std::future::pending::<()>().await;
                        }
                        return "SIGINT";
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server")
            }
        }
    }
    match tokio::signal::ctrl_c().await {
        Ok(()) => "SIGINT",
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for Ctrl-C either; stop the server with SIGKILL");
            std::future::pending().await
        }
    }
}
