//! Wire adapters: each turns one wire protocol's requests into calls on
//! [`crate::domain::Node`] and its results back into that protocol's
//! responses. An adapter owns decoding, shape checks only its wire can make,
//! defaults of its fields and the response encoding — never the rules of
//! what a request does, which live once in `domain`.
//!
//! - [`strata`]: the strata.v1 gRPC services (`Streams`, `Snapshots`, `Admin`);
//! - [`status`]: the one mapping of domain and storage errors to
//!   `tonic::Status`, shared by every gRPC adapter;
//! - [`decode_errors`]: a tower layer turning tonic's "cannot decode"
//!   `INTERNAL` into `INVALID_ARGUMENT`, for every gRPC service;
//! - [`auth`]: a tower layer authenticating every request (the `Caller`
//!   in its extensions) and checking the roles whole services need;
//! - [`trace_context`]: a tower layer opening each gRPC request's server
//!   span under the caller's `traceparent` (only while traces are exported);
//! - [`revocation`]: ending a long-lived response stream when the
//!   caller's credentials are revoked or expire, for every gRPC adapter;
//! - [`http`]: the plain-HTTP routes (health probes, `/metrics`), an axum
//!   router served on the same port as the gRPC services.
//!
//! - [`kurrent`]: the KurrentDB client protocol's gRPC services (Streams,
//!   Gossip, ServerFeatures), its own protobuf conversion and error shapes
//!   over the same [`crate::domain::Node`] calls.
//!
//! Not here: listeners, signals and process lifecycle (`serve`), and the
//! connection cap (`net`).

pub mod auth;
pub mod decode_errors;
pub mod http;
pub mod kurrent;
pub mod revocation;
pub mod status;
pub mod strata;
pub mod trace_context;
