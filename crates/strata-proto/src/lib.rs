//! Generated protobuf messages and gRPC client/server code for Strata's
//! public API (`strata.v1`, from `proto/strata/v1/`: streams, snapshots
//! and admin) and for the KurrentDB client protocol Strata also serves
//! ([`kurrent`], from `proto/kurrentdb/`).
//!
//! This crate owns the generated code, the encoded file descriptor set (for
//! gRPC reflection), and [`wire`]: the metadata names, error kinds and
//! message limit that the server and clients must agree on beyond what the
//! `.proto` files say. It holds no conversions or business logic: the
//! server's adapters and the client crate map these types to their own
//! domain types.

/// The `strata.v1` package: messages, `streams_client` and `streams_server`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    rust_2018_idioms
)]
pub mod v1 {
    tonic::include_proto!("strata.v1");
}

/// The KurrentDB (EventStoreDB) client protocol, from `proto/kurrentdb/`:
/// modules nest as the protobuf packages do, so the generated code's
/// relative paths (`super::super::...`) resolve. Served beside `strata.v1`
/// by the server's `api::kurrent` adapter (docs/KURRENTDB.md).
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    rust_2018_idioms
)]
pub mod kurrent {
    /// `event_store.client` and its services' packages.
    pub mod event_store {
        /// Shared types (`event_store.client`) and one module per service.
        pub mod client {
            tonic::include_proto!("event_store.client");
            /// `event_store.client.streams`: Read, Append, BatchAppend,
            /// Delete, Tombstone.
            pub mod streams {
                tonic::include_proto!("event_store.client.streams");
            }
            /// `event_store.client.persistent_subscriptions`.
            pub mod persistent_subscriptions {
                tonic::include_proto!("event_store.client.persistent_subscriptions");
            }
            /// `event_store.client.gossip`: cluster members.
            pub mod gossip {
                tonic::include_proto!("event_store.client.gossip");
            }
            /// `event_store.client.server_features`: supported methods.
            pub mod server_features {
                tonic::include_proto!("event_store.client.server_features");
            }
        }
    }
    /// `google.rpc`: `Status` and `Code` as BatchAppend carries them.
    pub mod google {
        /// `google.rpc`.
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
    pub use event_store::client::{gossip, persistent_subscriptions, server_features, streams};

    /// Encoded `google.protobuf.FileDescriptorSet` of the KurrentDB files.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("kurrent_descriptor");
}

pub mod wire;

/// Encoded `google.protobuf.FileDescriptorSet` for `strata.v1`, for serving
/// gRPC reflection (`tonic-reflection`).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("strata_descriptor");
