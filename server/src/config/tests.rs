//! Tests of the serve settings: layering (flags > environment > file >
//! defaults), every key's default, and the values refused.

use super::*;

#[test]
fn flags_beat_file_beat_defaults() {
    let file: FileConfig = toml::from_str(
        "data_dir = \"/f\"\nlisten = \"0.0.0.0:9\"\nmax_subscriptions = 5\nlog_level = \"debug\"\n\
         insecure = true",
    )
    .unwrap();
    let cli = ServeSettings {
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
        merge(ServeSettings::default(), file, Some("warn".into()))
            .unwrap()
            .log_level,
        "warn"
    );
    let d = merge(ServeSettings::default(), FileConfig::default(), None).unwrap();
    assert_eq!(d.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(d.log_level, "info");
    assert_eq!(
        d.snapshots_per_stream,
        strata_storage::snapshot::DEFAULT_SNAPSHOTS_PER_STREAM
    );
    let file: FileConfig = toml::from_str("snapshots_per_stream = 7").unwrap();
    assert_eq!(
        merge(ServeSettings::default(), file.clone(), None)
            .unwrap()
            .snapshots_per_stream,
        7
    );
    let cli = ServeSettings {
        snapshots_per_stream: Some(2),
        ..Default::default()
    };
    assert_eq!(merge(cli, file, None).unwrap().snapshots_per_stream, 2);
}

#[test]
fn unknown_keys_and_zero_limits_are_errors() {
    assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
    let cli = ServeSettings {
        max_connections: Some(0),
        ..Default::default()
    };
    assert!(merge(cli, FileConfig::default(), None).is_err());
    let cli = ServeSettings {
        snapshots_per_stream: Some(0),
        ..Default::default()
    };
    assert!(merge(cli, FileConfig::default(), None).is_err());
}

#[test]
fn log_level_flag_beats_rust_log_beats_file() {
    let file: FileConfig = toml::from_str("log_level = \"debug\"").unwrap();
    let flag = ServeSettings {
        log_level: Some("trace".into()),
        ..Default::default()
    };
    let level = |cli, rust_log: Option<&str>| {
        merge(cli, file.clone(), rust_log.map(str::to_owned))
            .unwrap()
            .log_level
    };
    assert_eq!(level(flag.clone(), Some("warn")), "trace");
    assert_eq!(level(ServeSettings::default(), Some("warn")), "warn");
    assert_eq!(level(ServeSettings::default(), Some("")), "debug");
    assert_eq!(level(ServeSettings::default(), None), "debug");
}

#[test]
fn every_setting_has_a_default_and_a_toml_key() {
    // A field in one half but not the other fails here, not in production.
    let all: FileConfig = toml::from_str(
        "data_dir = \"/d\"\nlisten = \"[::1]:1\"\nlog_level = \"warn\"\n\
         segment_max_bytes = 1048576\nindex_cache_bytes = 2097152\n\
         max_subscriptions = 2\n\
         max_connections = 3\nsnapshots_per_stream = 4\n\
         otlp_endpoint = \"http://collector:4317\"\n\
         otlp_sample_ratio = 0.25\ncategory_separator = \"_\"",
    )
    .unwrap();
    let c = merge(ServeSettings::default(), all, None).unwrap();
    assert_eq!(
        c,
        ServeConfig {
            data_dir: "/d".into(),
            listen: "[::1]:1".parse().unwrap(),
            log_level: "warn".into(),
            segment_max_bytes: 1_048_576,
            index_cache_bytes: 2_097_152,
            max_subscriptions: 2,
            max_connections: 3,
            snapshots_per_stream: 4,
            otlp_endpoint: Some("http://collector:4317".into()),
            otlp_sample_ratio: 0.25,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            insecure: false,
            admin_password_file: None,
            metrics_unauthenticated: false,
            category_separator: Some('_'),
        }
    );
    assert_eq!(default::listen().to_string(), DEFAULT_LISTEN);
}

#[test]
fn plaintext_beyond_loopback_is_refused_unless_insecure() {
    let at = |listen: &str, extra: &str| {
        let file: FileConfig = toml::from_str(&format!("listen = \"{listen}\"\n{extra}")).unwrap();
        merge(ServeSettings::default(), file, None)
    };
    let e = at("0.0.0.0:2113", "").unwrap_err();
    assert!(format!("{e:#}").contains("--insecure"), "{e:#}");
    assert!(at("0.0.0.0:2113", "insecure = true").is_ok());
    assert!(at("127.0.0.1:2113", "").is_ok());
    assert!(at("[::1]:2113", "").is_ok());
    assert!(at("0.0.0.0:2113", "tls_cert = \"c\"\ntls_key = \"k\"").is_ok());
    assert!(
        at("127.0.0.1:2113", "tls_cert = \"c\"").is_err(),
        "a cert without a key"
    );
}

#[test]
fn a_category_separator_is_one_printable_character() {
    let sep = |cli: Option<&str>, file: &str| {
        let file: FileConfig = toml::from_str(file).unwrap();
        let cli = ServeSettings {
            category_separator: cli.map(str::to_owned),
            ..Default::default()
        };
        merge(cli, file, None).map(|c| c.category_separator)
    };
    assert_eq!(sep(None, "").unwrap(), None, "unset: the store's own");
    assert_eq!(sep(None, "category_separator = \"→\"").unwrap(), Some('→'));
    assert_eq!(
        sep(Some(":"), "category_separator = \"_\"").unwrap(),
        Some(':')
    );
    for bad in ["", "--", "\t"] {
        let e = sep(Some(bad), "").unwrap_err();
        assert!(
            format!("{e:#}").contains("category_separator must be one printable character"),
            "{bad:?}: {e:#}"
        );
    }
}

#[test]
fn the_index_cache_is_set_by_flag_env_or_file_and_at_least_the_minimum() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeSettings,
    }
    let min = strata_storage::limits::MIN_INDEX_CACHE_BYTES;
    let cache = |cli: ServeSettings, file: &str| {
        let file: FileConfig = toml::from_str(file).unwrap();
        merge(cli, file, None).map(|c| c.index_cache_bytes)
    };
    assert_eq!(
        cache(ServeSettings::default(), "").unwrap(),
        strata_storage::limits::DEFAULT_INDEX_CACHE_BYTES
    );
    let file = "index_cache_bytes = 2097152";
    assert_eq!(cache(ServeSettings::default(), file).unwrap(), 2 << 20);
    let flag = Cli::try_parse_from(["strata", "--index-cache-bytes", "3145728"]).unwrap();
    assert_eq!(flag.serve.index_cache_bytes, Some(3 << 20));
    assert_eq!(cache(flag.serve, file).unwrap(), 3 << 20, "flag over file");
    // The variable is read by clap into the same layer as the flag
    // (so it too beats the file); checked on the declaration rather
    // than by setting it, which would race the other tests' threads.
    let cmd = <Cli as clap::CommandFactory>::command();
    let arg = cmd
        .get_arguments()
        .find(|a| a.get_id() == "index_cache_bytes")
        .unwrap();
    assert_eq!(
        arg.get_env().and_then(|e| e.to_str()),
        Some("STRATA_INDEX_CACHE_BYTES")
    );
    assert_eq!(
        cache(
            ServeSettings::default(),
            &format!("index_cache_bytes = {min}")
        )
        .unwrap(),
        min
    );
    for bad in [
        ServeSettings {
            index_cache_bytes: Some(min - 1),
            ..Default::default()
        },
        ServeSettings {
            index_cache_bytes: Some(0),
            ..Default::default()
        },
    ] {
        let e = cache(bad, "").unwrap_err();
        assert!(
            format!("{e:#}").contains("index_cache_bytes must be at least 1048576"),
            "{e:#}"
        );
    }
}

#[test]
fn a_sample_ratio_outside_zero_to_one_is_refused() {
    let at = |ratio: &str| {
        let file: FileConfig = toml::from_str(&format!("otlp_sample_ratio = {ratio}")).unwrap();
        merge(ServeSettings::default(), file, None)
    };
    for ok in ["0.0", "0.5", "1.0"] {
        assert!(at(ok).is_ok(), "{ok}");
    }
    for bad in ["-0.1", "1.5", "nan"] {
        let e = at(bad).unwrap_err();
        assert!(
            format!("{e:#}").contains("otlp_sample_ratio"),
            "{bad}: {e:#}"
        );
    }
    assert_eq!(
        merge(ServeSettings::default(), FileConfig::default(), None)
            .unwrap()
            .otlp_sample_ratio,
        1.0
    );
}
