//! `strata serve` settings: where each one is declared, and how the layers
//! that can set it (flags, environment, file, defaults) combine.
//!
//! Precedence, highest first: command-line flags, `STRATA_*` environment
//! variables (clap reads both), the TOML file given by `--config` /
//! `STRATA_CONFIG`, built-in defaults. The log level additionally honours
//! `RUST_LOG` between `STRATA_LOG_LEVEL` and the file.
//!
//! # The pattern: declare a setting once, merge generically
//!
//! A settings group has two halves that sit side by side and name the same
//! fields:
//!
//! - a **layer** struct ([`ServeSettings`]), one `Option` per setting, that
//!   derives both clap's `Args` (flag, `STRATA_*` variable, help text) and
//!   serde (the TOML key is the field name). Each source — the flags and
//!   environment as clap parsed them, the file, `RUST_LOG` — is one value of
//!   this type, `None` where that source is silent;
//! - the **effective** struct ([`ServeConfig`]): the same fields with their
//!   real types and a serde default each.
//!
//! [`to_table`] turns each layer into a TOML table (toml drops `None`
//! fields, so a silent source leaves no key); [`layered`] merges the tables
//! in precedence order (nested tables key by key) and deserializes the
//! result once into the effective struct, whose serde defaults fill what no
//! layer set. There is no per-field merge code. Adding a setting (TLS,
//! auth, an HTTP listener, consumer groups...) is one field in each half,
//! next to each other in this file — the flag, variable, TOML key, type and
//! default all live there, and [`merge`] needs no change. A new group is a
//! new pair of structs: the layer `#[command(flatten)]`ed into
//! [`ServeSettings`], the effective one a field of [`ServeConfig`] (a TOML
//! table). Checks that reject values go in [`ServeConfig::validate`].
//!
//! Both halves `deny_unknown_fields`, so a misspelt key in the file is an
//! error rather than a silently ignored setting.
//!
//! Example file (every key optional; unknown keys are an error):
//! ```toml
//! data_dir = "/var/lib/strata"
//! listen = "0.0.0.0:2113"
//! log_level = "info,strata_storage=debug"
//! segment_max_bytes = 268435456
//! index_cache_bytes = 67108864
//! max_subscriptions = 1024
//! max_connections = 1024
//! snapshots_per_stream = 3
//! otlp_endpoint = "http://127.0.0.1:4317"
//! otlp_sample_ratio = 0.01
//! tls_cert = "/etc/strata/server.pem"
//! tls_key = "/etc/strata/server.key"
//! tls_client_ca = "/etc/strata/clients-ca.pem"
//! insecure = false
//! admin_password_file = "/run/secrets/strata-admin"
//! metrics_unauthenticated = false
//! category_separator = "-"
//! ```
//!
//! Not here: the command line's shape and the other subcommands (`main`),
//! or applying the settings (`serve`).

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./strata-data";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2113";
/// Default log filter when nothing else sets one.
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// One source's view of the `serve` settings (`None` = this source does
/// not set it): the flags and `STRATA_*` variables as clap parsed them, or
/// the TOML file. The TOML key of each setting is its field name.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    /// Data directory [default: ./strata-data].
    #[arg(long, env = "STRATA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:2113].
    #[arg(long, env = "STRATA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// `tracing` filter, e.g. `info` or `warn,strata=debug`. Its flag and
    /// variable are global (`main`'s `--log-level`), so clap skips it here.
    #[arg(skip)]
    pub log_level: Option<String>,
    /// Largest segment file, in bytes [default: 268435456].
    #[arg(long, env = "STRATA_SEGMENT_MAX_BYTES")]
    pub segment_max_bytes: Option<u64>,
    /// The index's page cache, in bytes, at least 1048576; index pages
    /// beyond it are read from the OS page cache [default: 67108864].
    #[arg(long, env = "STRATA_INDEX_CACHE_BYTES")]
    pub index_cache_bytes: Option<u64>,
    /// Most concurrent subscriptions [default: 1024].
    #[arg(long, env = "STRATA_MAX_SUBSCRIPTIONS")]
    pub max_subscriptions: Option<usize>,
    /// Most concurrent client connections [default: 1024].
    #[arg(long, env = "STRATA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Snapshots kept per stream; saving one more drops the oldest [default: 3].
    #[arg(long, env = "STRATA_SNAPSHOTS_PER_STREAM")]
    pub snapshots_per_stream: Option<usize>,
    /// Export traces over OTLP/gRPC (plain HTTP/2) to this collector, e.g.
    /// `http://127.0.0.1:4317` [default: off].
    #[arg(long, env = "STRATA_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Share of traces exported, 0.0–1.0, for requests that come without a
    /// trace context (one that does keeps its caller's decision)
    /// [default: 1.0].
    #[arg(long, env = "STRATA_OTLP_SAMPLE_RATIO")]
    pub otlp_sample_ratio: Option<f64>,
    /// PEM certificate chain: serve TLS (needs --tls-key) [default: off].
    #[arg(long, env = "STRATA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "STRATA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA: require client certificates signed by it (mTLS); the
    /// certificate's common name is the user [default: off].
    #[arg(long, env = "STRATA_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Allow plaintext on a non-loopback address [default: false].
    #[arg(long, env = "STRATA_INSECURE", num_args = 0..=1, default_missing_value = "true")]
    pub insecure: Option<bool>,
    /// File holding the password of the first admin, created when
    /// authentication is required and no user exists (also
    /// STRATA_ADMIN_PASSWORD).
    #[arg(long, env = "STRATA_ADMIN_PASSWORD_FILE")]
    pub admin_password_file: Option<PathBuf>,
    /// Serve /metrics without credentials even when authentication is on
    /// [default: false].
    #[arg(long, env = "STRATA_METRICS_UNAUTHENTICATED", num_args = 0..=1, default_missing_value = "true")]
    pub metrics_unauthenticated: Option<bool>,
    /// One character that ends a stream name's category (`order-42` is in
    /// `order`). Unset: the one the store's index was built with (`-` for a
    /// new store); another one rebuilds the index at this start.
    #[arg(long, env = "STRATA_CATEGORY_SEPARATOR")]
    pub category_separator: Option<String>,
}

/// The TOML file's contents: the same settings, each optional.
pub type FileConfig = ServeSettings;

impl ServeSettings {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> anyhow::Result<ServeSettings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// The effective `serve` settings: every layer merged, defaults filled in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Data directory.
    #[serde(default = "default::data_dir")]
    pub data_dir: PathBuf,
    /// Address to listen on (port 0 = any free port).
    #[serde(default = "default::listen")]
    pub listen: SocketAddr,
    /// `tracing` filter.
    #[serde(default = "default::log_level")]
    pub log_level: String,
    /// Largest segment file, in bytes.
    #[serde(default = "default::segment_max_bytes")]
    pub segment_max_bytes: u64,
    /// The index's page cache, in bytes (≥
    /// [`strata_storage::limits::MIN_INDEX_CACHE_BYTES`]).
    #[serde(default = "default::index_cache_bytes")]
    pub index_cache_bytes: u64,
    /// Most concurrent subscriptions (≥ 1).
    #[serde(default = "default::max_subscriptions")]
    pub max_subscriptions: usize,
    /// Most concurrent client connections (≥ 1).
    #[serde(default = "default::max_connections")]
    pub max_connections: usize,
    /// Snapshots kept per stream; older ones are dropped on save (≥ 1).
    #[serde(default = "default::snapshots_per_stream")]
    pub snapshots_per_stream: usize,
    /// OTLP/gRPC collector for traces; `None`: no traces exported.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// Share of root traces exported (0.0–1.0); a request's own sampled
    /// flag wins.
    #[serde(default = "default::otlp_sample_ratio")]
    pub otlp_sample_ratio: f64,
    /// TLS certificate chain (PEM); with `tls_key`, the port serves TLS.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// CA of required client certificates (mTLS).
    #[serde(default)]
    pub tls_client_ca: Option<PathBuf>,
    /// Plaintext on a non-loopback address is allowed.
    #[serde(default)]
    pub insecure: bool,
    /// The first admin's password, when one is needed.
    #[serde(default)]
    pub admin_password_file: Option<PathBuf>,
    /// `/metrics` needs no credentials.
    #[serde(default)]
    pub metrics_unauthenticated: bool,
    /// Where a stream name's category ends. The index records the one it
    /// was built with: unset keeps that one (`-` for a new store); another
    /// one rebuilds the whole index from the log (derived data: safe, but it
    /// takes a while on a large store).
    #[serde(default, deserialize_with = "one_character")]
    pub category_separator: Option<char>,
}

/// A setting that must be one printable character (a TOML string, a flag
/// or variable's value), with an error that says so.
fn one_character<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<char>, D::Error> {
    let s = String::deserialize(d)?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if !c.is_control() => Ok(Some(c)),
        _ => Err(serde::de::Error::custom(format!(
            "category_separator must be one printable character, not {s:?}"
        ))),
    }
}

/// The serde defaults of [`ServeConfig`], each the owning module's constant.
mod default {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    pub fn data_dir() -> PathBuf {
        PathBuf::from(super::DEFAULT_DATA_DIR)
    }
    pub fn listen() -> SocketAddr {
        super::DEFAULT_LISTEN
            .parse()
            .expect("DEFAULT_LISTEN is a socket address")
    }
    pub fn log_level() -> String {
        super::DEFAULT_LOG_LEVEL.to_owned()
    }
    pub fn segment_max_bytes() -> u64 {
        strata_storage::limits::DEFAULT_SEGMENT_MAX_BYTES
    }
    pub fn index_cache_bytes() -> u64 {
        strata_storage::limits::DEFAULT_INDEX_CACHE_BYTES
    }
    pub fn max_subscriptions() -> usize {
        crate::domain::DEFAULT_MAX_SUBSCRIPTIONS
    }
    pub fn max_connections() -> usize {
        crate::net::DEFAULT_MAX_CONNECTIONS
    }
    pub fn snapshots_per_stream() -> usize {
        strata_storage::snapshot::DEFAULT_SNAPSHOTS_PER_STREAM
    }
    pub fn otlp_sample_ratio() -> f64 {
        crate::telemetry::otel::DEFAULT_SAMPLE_RATIO
    }
}

impl ServeConfig {
    /// Rejects values the server cannot run with.
    pub fn validate(self) -> anyhow::Result<ServeConfig> {
        if self.max_subscriptions == 0 {
            bail!("max_subscriptions must be at least 1");
        }
        if self.max_connections == 0 {
            bail!("max_connections must be at least 1");
        }
        if self.snapshots_per_stream == 0 {
            bail!("snapshots_per_stream must be at least 1");
        }
        let min_cache = strata_storage::limits::MIN_INDEX_CACHE_BYTES;
        if self.index_cache_bytes < min_cache {
            bail!(
                "index_cache_bytes must be at least {min_cache} (1 MiB), not {}",
                self.index_cache_bytes
            );
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                bail!("tls_cert and tls_key go together: give both or neither")
            }
            _ => {}
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            bail!("tls_client_ca needs tls_cert and tls_key");
        }
        if self.tls_cert.is_none() && !self.insecure && !self.listen.ip().is_loopback() {
            bail!(
                "refusing to listen on {} without TLS: give --tls-cert and --tls-key \
                 (`strata certs dev --out DIR` makes a local pair), or --insecure to accept \
                 plaintext on a non-loopback address",
                self.listen
            );
        }
        if !(0.0..=1.0).contains(&self.otlp_sample_ratio) {
            bail!(
                "otlp_sample_ratio must be between 0.0 and 1.0, not {}",
                self.otlp_sample_ratio
            );
        }
        if let Some(e) = &self.otlp_endpoint {
            // TLS to the collector is not built in; a local agent or
            // collector sidecar is the usual setup.
            if !e.starts_with("http://") {
                bail!("otlp_endpoint must be an http:// URL, not {e:?}");
            }
        }
        Ok(self)
    }
}

/// Merges flags/env over `RUST_LOG` over the file over defaults, and
/// validates the result. `rust_log` is the value of `RUST_LOG`, if set.
pub fn merge(
    cli: ServeSettings,
    file: FileConfig,
    rust_log: Option<String>,
) -> anyhow::Result<ServeConfig> {
    let rust_log = ServeSettings {
        log_level: rust_log.filter(|s| !s.is_empty()),
        ..ServeSettings::default()
    };
    layered::<ServeConfig>(vec![
        to_table(&file)?,
        to_table(&rust_log)?,
        to_table(&cli)?,
    ])?
    .validate()
}

/// Merges `layers` (lowest precedence first) key by key and deserializes
/// the result once into `T`, whose serde defaults fill the unset keys.
pub fn layered<T: DeserializeOwned>(layers: Vec<toml::Table>) -> anyhow::Result<T> {
    let mut merged = toml::Table::new();
    for layer in layers {
        merge_tables(&mut merged, layer);
    }
    toml::Value::Table(merged)
        .try_into()
        .context("combining the settings")
}

/// One layer as a TOML table; its `None` fields leave no key.
pub fn to_table(layer: &impl Serialize) -> anyhow::Result<toml::Table> {
    match toml::Value::try_from(layer).context("encoding a settings layer")? {
        toml::Value::Table(t) => Ok(t),
        other => bail!("a settings layer must be a table, not {}", other.type_str()),
    }
}

/// Copies `over` into `base`; nested tables merge, anything else replaces.
fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests;
