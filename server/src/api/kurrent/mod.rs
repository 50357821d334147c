//! The KurrentDB client protocol (`proto/kurrentdb/`), served beside
//! strata.v1 on the same port over the same [`Node`], so that a KurrentDB
//! client given `kurrentdb://host:port?tls=false` works against Strata.
//! docs/KURRENTDB.md is the user-facing mapping; this module is its code.
//!
//! Services: `event_store.client.streams.Streams` ([`streams`], handing
//! over to [`read`], [`append`], [`batch`], [`delete`]),
//! `event_store.client.persistent_subscriptions.PersistentSubscriptions`
//! ([`persistent`], over the consumer groups),
//! `event_store.client.gossip.Gossip` ([`gossip`]) and
//! `event_store.client.server_features.ServerFeatures` ([`features`]).
//! Anything else KurrentDB has (projections, users, operations, cluster,
//! monitoring) is not mounted, so tonic answers `UNIMPLEMENTED`.
//!
//! [`convert`] is the one place KurrentDB protobuf meets domain types;
//! [`errors`] the one place domain failures take KurrentDB's shapes
//! (`exception` trailers, `google.rpc.Status`); [`filter`] KurrentDB's
//! `$all` filters. Handlers check permissions exactly as strata.v1's do
//! (the same `Caller::check`, `Access::restrict`, revocation and audit)
//! and call the same domain methods.
//!
//! Adding a service: its module, one `.add_service` line in
//! [`add_services`], its name in [`SERVICE_NAMES`] and its row in
//! `features::SUPPORTED`.
//!
//! Not here: what requests do (`domain`), the server's lifecycle
//! (`serve`, which calls [`add_services`]).

mod append;
mod batch;
pub mod convert;
mod delete;
pub mod errors;
pub mod features;
pub mod filter;
mod gossip;
mod persistent;
mod read;
mod streams;

pub use features::FeaturesService;
pub use gossip::GossipService;
pub use persistent::PersistentService;
pub use streams::StreamsService;

use crate::domain::Node;
use std::net::SocketAddr;
use std::sync::Arc;
use strata_proto::kurrent::gossip::gossip_server::GossipServer;
use strata_proto::kurrent::persistent_subscriptions::persistent_subscriptions_server::PersistentSubscriptionsServer;
use strata_proto::kurrent::server_features::server_features_server::ServerFeaturesServer;
use strata_proto::kurrent::streams::streams_server::StreamsServer;
use strata_proto::wire::MAX_GRPC_MESSAGE_BYTES;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// The KurrentDB services' gRPC names, for health reporting.
pub const SERVICE_NAMES: &[&str] = &[
    <StreamsServer<StreamsService> as NamedService>::NAME,
    <GossipServer<GossipService> as NamedService>::NAME,
    <PersistentSubscriptionsServer<PersistentService> as NamedService>::NAME,
    <ServerFeaturesServer<FeaturesService> as NamedService>::NAME,
];

/// `routes` with the KurrentDB services over `node` added; `listen` is
/// the address gossip reports. Messages are bounded as strata.v1's are.
pub fn add_services(routes: Routes, node: Arc<Node>, listen: SocketAddr) -> Routes {
    routes
        .add_service(
            StreamsServer::new(StreamsService::new(node.clone()))
                .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES),
        )
        .add_service(
            PersistentSubscriptionsServer::new(PersistentService::new(node))
                .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES),
        )
        .add_service(GossipServer::new(GossipService::new(listen)))
        .add_service(ServerFeaturesServer::new(FeaturesService))
}

/// Reports the health of the KurrentDB services.
pub async fn report_health(health: &HealthReporter, status: ServingStatus) {
    for name in SERVICE_NAMES {
        health.set_service_status(*name, status).await;
    }
}
