//! Offline and operator commands: `strata verify`, `strata stats` and
//! `strata health`. Each prints a human summary (or JSON) to stdout and
//! reports success as a boolean for the exit code.
//!
//! `verify` takes no lock and only reads, so it may run beside a live
//! server. `stats` opens the store, so it needs the data directory's lock
//! (it refuses while a server runs there) and, like any open, recovers a
//! torn tail. `health` is a gRPC client of `grpc.health.v1`, for container
//! health checks.
//!
//! Not here: the server itself (`serve`).

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;
use strata_storage::{Error, Options, Store};
use tonic::transport::{Certificate, ClientTlsConfig};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

fn require_dir(data_dir: &Path) -> anyhow::Result<()> {
    if !data_dir.is_dir() {
        bail!("no data directory at {}", data_dir.display());
    }
    Ok(())
}

/// Checks every record; prints the report. `Ok(true)` when no corruption.
pub fn verify(data_dir: &Path) -> anyhow::Result<bool> {
    require_dir(data_dir)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let style = ProgressStyle::with_template(
            "verifying {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::new(0).with_style(style)
    });
    let mut progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let report = strata_storage::verify(data_dir, &mut progress)
        .with_context(|| format!("verifying {}", data_dir.display()))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    println!("data dir:       {}", data_dir.display());
    println!("segments:       {}", report.segments);
    println!("records:        {}", report.records);
    println!("bytes:          {}", report.bytes);
    println!("last position:  {}", report.last_position);
    println!(
        "torn tail:      {} bytes{}",
        report.torn_tail_bytes,
        if report.torn_tail_bytes > 0 {
            " (an unacknowledged write; the next open cuts it off)"
        } else {
            ""
        }
    );
    println!("problems:       {}", report.problems.len());
    for p in &report.problems {
        println!(
            "  {} at offset {}: {}",
            p.file.display(),
            p.offset,
            p.reason
        );
    }
    let ok = report.is_ok();
    println!("result:         {}", if ok { "OK" } else { "CORRUPT" });
    Ok(ok)
}

/// Opens the store and prints its statistics.
pub fn stats(data_dir: &Path, json: bool) -> anyhow::Result<()> {
    require_dir(data_dir)?;
    let store = match Store::open(data_dir, Options::default()) {
        Ok(s) => s,
        Err(Error::Locked(dir)) => bail!(
            "data directory {} is locked: a strata server (or another command) is using it. \
             Stop it first, or ask the running server (ServerInfo RPC); `strata verify` works without the lock",
            dir.display()
        ),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("opening the store in {}", data_dir.display()))),
    };
    let s = store.stats().context("reading statistics")?;
    store.close().context("closing the store")?;
    if json {
        let v = serde_json::json!({
            "data_dir": data_dir.display().to_string(),
            "events": s.head,
            "head_position": s.head,
            "streams": s.streams,
            "segments": s.segments,
            "log_bytes": s.log_bytes,
            "index_bytes": s.index_bytes,
            "indexed_position": s.indexed_through,
            "snapshots": s.snapshots,
            "snapshot_bytes": s.snapshot_bytes,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).context("encoding JSON")?
        );
    } else {
        println!("data dir:          {}", data_dir.display());
        println!("events (head):     {}", s.head);
        println!("streams:           {}", s.streams);
        println!("segments:          {}", s.segments);
        println!("log bytes:         {}", s.log_bytes);
        println!("index bytes:       {}", s.index_bytes);
        println!("indexed position:  {}", s.indexed_through);
        println!("snapshots:         {}", s.snapshots);
        println!("snapshot bytes:    {}", s.snapshot_bytes);
    }
    Ok(())
}

/// Asks a server's `grpc.health.v1.Health/Check`; `Ok(true)` when SERVING.
/// Over TLS for an `https://` address or when `tls_ca` is given (the
/// health service needs no credentials).
pub fn health(
    addr: &str,
    tls_ca: Option<&std::path::Path>,
    service: &str,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let mut uri = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let mut tls = None;
    if let Some(ca) = tls_ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        tls = Some(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)));
        if let Some(rest) = uri.strip_prefix("http://") {
            uri = format!("https://{rest}");
        }
    } else if uri.starts_with("https://") {
        tls = Some(ClientTlsConfig::new().with_native_roots());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        let check = async {
            let mut endpoint = tonic::transport::Endpoint::from_shared(uri.clone())
                .with_context(|| format!("bad address {uri}"))?;
            if let Some(tls) = tls {
                endpoint = endpoint.tls_config(tls).context("TLS settings")?;
            }
            let channel = endpoint
                .connect_timeout(timeout)
                .timeout(timeout)
                .connect()
                .await
                .with_context(|| format!("connecting to {uri}"))?;
            let resp = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: service.to_owned(),
                })
                .await
                .context("health check failed")?;
            anyhow::Ok(resp.into_inner().status())
        };
        let status = tokio::time::timeout(timeout, check)
            .await
            .context("health check timed out")??;
        println!("{}", status.as_str_name());
        Ok(status == ServingStatus::Serving)
    })
}
