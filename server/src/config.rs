//! `strata serve` configuration: the TOML file format and how it merges
//! with flags and environment variables.
//!
//! Precedence, highest first: command-line flags, `STRATA_*` environment
//! variables (both parsed by clap into [`ServeOverrides`]), the TOML file
//! given by `--config` / `STRATA_CONFIG`, built-in defaults. The log level
//! additionally honours `RUST_LOG` between `STRATA_LOG_LEVEL` and the file.
//!
//! Example file (every key optional; unknown keys are an error):
//! ```toml
//! data_dir = "/var/lib/strata"
//! listen = "0.0.0.0:2113"
//! log_level = "info,strata_storage=debug"
//! segment_max_bytes = 268435456
//! max_subscriptions = 1024
//! max_connections = 1024
//! snapshots_per_stream = 3
//! ```
//!
//! Not here: parsing the command line (`main`) or applying the settings.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./strata-data";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2113";
/// Default log filter when nothing else sets one.
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// The TOML file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Address to listen on, `host:port`.
    pub listen: Option<SocketAddr>,
    /// `tracing` filter, e.g. `info` or `warn,strata=debug`.
    pub log_level: Option<String>,
    /// Largest segment file, in bytes.
    pub segment_max_bytes: Option<u64>,
    /// Most concurrent subscriptions.
    pub max_subscriptions: Option<usize>,
    /// Most concurrent client connections.
    pub max_connections: Option<usize>,
    /// Snapshots kept per stream.
    pub snapshots_per_stream: Option<usize>,
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// What flags and environment variables set (`None` = not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeOverrides {
    /// `--data-dir` / `STRATA_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--listen` / `STRATA_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--log-level` / `STRATA_LOG_LEVEL`.
    pub log_level: Option<String>,
    /// `--segment-max-bytes` / `STRATA_SEGMENT_MAX_BYTES`.
    pub segment_max_bytes: Option<u64>,
    /// `--max-subscriptions` / `STRATA_MAX_SUBSCRIPTIONS`.
    pub max_subscriptions: Option<usize>,
    /// `--max-connections` / `STRATA_MAX_CONNECTIONS`.
    pub max_connections: Option<usize>,
    /// `--snapshots-per-stream` / `STRATA_SNAPSHOTS_PER_STREAM`.
    pub snapshots_per_stream: Option<usize>,
}

/// The effective `serve` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Address to listen on (port 0 = any free port).
    pub listen: SocketAddr,
    /// `tracing` filter.
    pub log_level: String,
    /// Largest segment file, in bytes.
    pub segment_max_bytes: u64,
    /// Most concurrent subscriptions (≥ 1).
    pub max_subscriptions: usize,
    /// Most concurrent client connections (≥ 1).
    pub max_connections: usize,
    /// Snapshots kept per stream; older ones are dropped on save (≥ 1).
    pub snapshots_per_stream: usize,
}

/// Merges flags/env over the file over defaults. `rust_log` is the value of
/// `RUST_LOG`, if set.
pub fn merge(
    cli: ServeOverrides,
    file: FileConfig,
    rust_log: Option<String>,
) -> anyhow::Result<ServeConfig> {
    let listen = match cli.listen.or(file.listen) {
        Some(a) => a,
        None => DEFAULT_LISTEN
            .parse()
            .context("parsing the default listen address")?,
    };
    let cfg = ServeConfig {
        data_dir: cli
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        listen,
        log_level: cli
            .log_level
            .or(rust_log.filter(|s| !s.is_empty()))
            .or(file.log_level)
            .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned()),
        segment_max_bytes: cli
            .segment_max_bytes
            .or(file.segment_max_bytes)
            .unwrap_or(strata_storage::limits::DEFAULT_SEGMENT_MAX_BYTES),
        max_subscriptions: cli
            .max_subscriptions
            .or(file.max_subscriptions)
            .unwrap_or(crate::service::DEFAULT_MAX_SUBSCRIPTIONS),
        max_connections: cli
            .max_connections
            .or(file.max_connections)
            .unwrap_or(crate::net::DEFAULT_MAX_CONNECTIONS),
        snapshots_per_stream: cli
            .snapshots_per_stream
            .or(file.snapshots_per_stream)
            .unwrap_or(strata_storage::snapshot::DEFAULT_SNAPSHOTS_PER_STREAM),
    };
    if cfg.max_subscriptions == 0 {
        bail!("max_subscriptions must be at least 1");
    }
    if cfg.max_connections == 0 {
        bail!("max_connections must be at least 1");
    }
    if cfg.snapshots_per_stream == 0 {
        bail!("snapshots_per_stream must be at least 1");
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let file: FileConfig = toml::from_str(
            "data_dir = \"/f\"\nlisten = \"0.0.0.0:9\"\nmax_subscriptions = 5\nlog_level = \"debug\"",
        )
        .unwrap();
        let cli = ServeOverrides {
            data_dir: Some("/c".into()),
            ..Default::default()
        };
        let c = merge(cli, file.clone(), None).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/c"));
        assert_eq!(c.listen.to_string(), "0.0.0.0:9");
        assert_eq!(c.max_subscriptions, 5);
        assert_eq!(c.max_connections, crate::net::DEFAULT_MAX_CONNECTIONS);
        assert_eq!(c.log_level, "debug");
        assert_eq!(
            merge(ServeOverrides::default(), file, Some("warn".into()))
                .unwrap()
                .log_level,
            "warn"
        );
        let d = merge(ServeOverrides::default(), FileConfig::default(), None).unwrap();
        assert_eq!(d.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(d.log_level, "info");
        assert_eq!(
            d.snapshots_per_stream,
            strata_storage::snapshot::DEFAULT_SNAPSHOTS_PER_STREAM
        );
        let file: FileConfig = toml::from_str("snapshots_per_stream = 7").unwrap();
        assert_eq!(
            merge(ServeOverrides::default(), file.clone(), None)
                .unwrap()
                .snapshots_per_stream,
            7
        );
        let cli = ServeOverrides {
            snapshots_per_stream: Some(2),
            ..Default::default()
        };
        assert_eq!(merge(cli, file, None).unwrap().snapshots_per_stream, 2);
    }

    #[test]
    fn unknown_keys_and_zero_limits_are_errors() {
        assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
        let cli = ServeOverrides {
            max_connections: Some(0),
            ..Default::default()
        };
        assert!(merge(cli, FileConfig::default(), None).is_err());
        let cli = ServeOverrides {
            snapshots_per_stream: Some(0),
            ..Default::default()
        };
        assert!(merge(cli, FileConfig::default(), None).is_err());
    }
}
