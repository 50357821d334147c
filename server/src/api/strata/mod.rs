//! The strata.v1 gRPC adapter: the `Streams`, `Snapshots`, `Admin`,
//! `PersistentSubscriptions` and `Security` services of `proto/strata/v1`, over [`Node`].
//!
//! [`convert`] is the one place protobuf meets domain types: it checks what
//! only the protobuf shape can get wrong (UUID strings, enum numbers, `from`
//! variants that do not fit the target) and applies the wire's defaults.
//! [`streams`], [`snapshots`] and [`admin`] implement the generated service traits:
//! each handler converts, calls one [`Node`] method and converts back,
//! mapping errors through `api::status`; [`session`] serves
//! `Streams.AppendSession` (pipelined appends, answered one by one).
//!
//! Not here: what any request does (`domain`), or the server's lifecycle
//! (`serve`, which mounts what [`services`] returns).

mod admin;
mod convert;
mod persistent;
mod security;
mod session;
mod snapshots;
mod streams;

pub use admin::AdminService;
pub use persistent::PersistentService;
pub use security::SecurityService;
pub use snapshots::SnapshotsService;
pub use streams::StreamsService;

use crate::domain::Node;
use std::sync::Arc;
use strata_proto::v1::admin_server::AdminServer;
use strata_proto::v1::persistent_subscriptions_server::PersistentSubscriptionsServer;
use strata_proto::v1::security_server::SecurityServer;
use strata_proto::v1::snapshots_server::SnapshotsServer;
use strata_proto::v1::streams_server::StreamsServer;
use strata_proto::wire::MAX_GRPC_MESSAGE_BYTES;
use tonic::server::NamedService;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// The strata.v1 services over `node`, accepting and sending messages up
/// to the wire's limit (snapshots carry up to `MAX_SNAPSHOT_BYTES`, 16 MiB,
/// of data + metadata; the same limit leaves room for the rest).
pub fn services(
    node: Arc<Node>,
) -> (
    StreamsServer<StreamsService>,
    SnapshotsServer<SnapshotsService>,
    AdminServer<AdminService>,
    PersistentSubscriptionsServer<PersistentService>,
) {
    let streams = StreamsServer::new(StreamsService::new(node.clone()))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let snapshots = SnapshotsServer::new(SnapshotsService::new(node.clone()))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    // A backup request lists every file of the previous backup.
    let admin = AdminServer::new(AdminService::new(node.clone()))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let persistent = PersistentSubscriptionsServer::new(PersistentService::new(node))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    (streams, snapshots, admin, persistent)
}

/// The `Security` service (users, tokens, grants) over `node`.
pub fn security_service(node: Arc<Node>) -> SecurityServer<SecurityService> {
    SecurityServer::new(SecurityService::new(node))
}

/// Reports the health of the strata.v1 services.
pub async fn report_health(health: &HealthReporter, status: ServingStatus) {
    for name in [
        <StreamsServer<StreamsService> as NamedService>::NAME,
        <SnapshotsServer<SnapshotsService> as NamedService>::NAME,
        <AdminServer<AdminService> as NamedService>::NAME,
        <PersistentSubscriptionsServer<PersistentService> as NamedService>::NAME,
        <SecurityServer<SecurityService> as NamedService>::NAME,
    ] {
        health.set_service_status(name, status).await;
    }
}
