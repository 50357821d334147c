//! `ServerFeatures.GetSupportedMethods`: which KurrentDB methods Strata
//! serves, so clients pick the code paths it has (e.g. `BatchAppend` for
//! appends, `$all` persistent subscriptions) and skip the rest.
//!
//! [`SUPPORTED`] is the one list: a service added to this adapter adds
//! its row here. Names are lower-case, as KurrentDB sends them (clients
//! compare them lower-cased with their own method paths). The version is
//! the KurrentDB release whose client protocol Strata follows
//! ([`PROTOCOL_VERSION`]), not Strata's own version. Open without
//! credentials (`api::auth`): clients call it on connect.
//!
//! Not here: serving those methods (their modules).

use strata_proto::kurrent::event_store::client::Empty;
use strata_proto::kurrent::server_features::server_features_server::ServerFeatures;
use strata_proto::kurrent::server_features::{SupportedMethod, SupportedMethods};
use tonic::{Request, Response, Status};

/// The KurrentDB version whose client protocol Strata serves (clients
/// parse it as `major.minor.patch` to choose protocol variants).
pub const PROTOCOL_VERSION: &str = "24.10.0";

/// A method's lower-case name and its features.
pub type Method = (&'static str, &'static [&'static str]);

/// (service, its methods) Strata serves.
pub const SUPPORTED: &[(&str, &[Method])] = &[
    (
        "event_store.client.streams.streams",
        &[
            ("read", &["position", "events"]),
            ("append", &[]),
            ("delete", &[]),
            ("tombstone", &[]),
            ("batchappend", &["deadline_duration"]),
        ],
    ),
    (
        "event_store.client.persistent_subscriptions.persistentsubscriptions",
        &[
            ("create", &["stream", "all"]),
            ("update", &["stream", "all"]),
            ("delete", &["stream", "all"]),
            ("read", &["stream", "all"]),
            ("getinfo", &["stream", "all"]),
            ("list", &["stream", "all"]),
            ("replayparked", &["stream", "all"]),
            ("restartsubsystem", &["stream", "all"]),
        ],
    ),
    ("event_store.client.gossip.gossip", &[("read", &[])]),
    (
        "event_store.client.server_features.serverfeatures",
        &[("getsupportedmethods", &[])],
    ),
];

/// The `ServerFeatures` service.
#[derive(Debug, Clone, Default)]
pub struct FeaturesService;

/// The answer: every row of [`SUPPORTED`].
pub fn supported_methods() -> SupportedMethods {
    SupportedMethods {
        methods: SUPPORTED
            .iter()
            .flat_map(|(service, methods)| {
                methods
                    .iter()
                    .map(move |(method, features)| SupportedMethod {
                        method_name: (*method).to_owned(),
                        service_name: (*service).to_owned(),
                        features: features.iter().map(|f| (*f).to_owned()).collect(),
                    })
            })
            .collect(),
        event_store_server_version: PROTOCOL_VERSION.to_owned(),
    }
}

#[tonic::async_trait]
impl ServerFeatures for FeaturesService {
    #[tracing::instrument(skip_all)]
    async fn get_supported_methods(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<SupportedMethods>, Status> {
        Ok(Response::new(supported_methods()))
    }
}
