//! Generated protobuf messages and gRPC client/server code for Strata's
//! public API (`strata.v1`, from `proto/strata/v1/`: streams, snapshots
//! and admin).
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

pub mod wire;

/// Encoded `google.protobuf.FileDescriptorSet` for `strata.v1`, for serving
/// gRPC reflection (`tonic-reflection`).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("strata_descriptor");
