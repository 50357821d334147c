//! The workloads. Each one drives the server through the generated
//! `strata.v1` client (the append workload optionally through
//! `strata-client`; append and catch-up optionally through the KurrentDB
//! protocol, `kurrent`) and returns a [`Report`]. Also the shared plumbing they
//! use: channels, a client with the wire's message limit, event ids.
//! Not here: starting the server or printing reports.

mod aggregate;
mod append;
mod client_append;
mod conn;
mod group;
mod kurrent;
mod read;
mod scavenge;
mod subscribe;
#[cfg(feature = "umadb")]
pub mod umadb;

pub use aggregate::AggregateArgs;
pub use append::{AppendArgs, MixedArgs};
pub use group::GroupArgs;
pub use read::ReadArgs;
pub use scavenge::ScavengeArgs;
pub use subscribe::{CatchupArgs, SubscribeArgs};

use crate::report::Report;
use anyhow::Result;
pub use conn::{Channel, Security};
use std::sync::atomic::{AtomicU64, Ordering};
use strata_proto::v1::streams_client::StreamsClient;
use strata_proto::v1::ProposedEvent;
use strata_proto::wire::MAX_GRPC_MESSAGE_BYTES;

pub enum Workload {
    Append(AppendArgs),
    Read(ReadArgs),
    Subscribe(SubscribeArgs),
    Catchup(CatchupArgs),
    Mixed(MixedArgs),
    Aggregate(AggregateArgs),
    Scavenge(ScavengeArgs),
    Group(GroupArgs),
}

/// The server address and security the channels were connected with, for
/// workloads that connect their own `strata-client` (`client_append`).
static TARGET: std::sync::OnceLock<(String, Security)> = std::sync::OnceLock::new();

/// The address and security [`connect`] was given.
pub fn target() -> Option<&'static (String, Security)> {
    TARGET.get()
}

/// `n` channels to `addr` (TLS and credentials as `sec` says).
pub async fn connect(addr: &str, n: usize, sec: &Security) -> Result<Vec<Channel>> {
    let _ = TARGET.set((addr.to_owned(), sec.clone()));
    conn::connect(addr, n, sec).await
}

pub fn client(channels: &[Channel], i: usize) -> StreamsClient<Channel> {
    StreamsClient::new(channels[i % channels.len()].clone())
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES)
}

pub async fn run(w: Workload, channels: &[Channel]) -> Result<Report> {
    match w {
        Workload::Append(a) => append::run(a, channels).await,
        Workload::Read(a) => read::run(a, channels).await,
        Workload::Subscribe(a) => subscribe::run_live(a, channels).await,
        Workload::Catchup(a) => subscribe::run_catchup(a, channels).await,
        Workload::Mixed(a) => append::run_mixed(a, channels).await,
        Workload::Aggregate(a) => aggregate::run(a, channels).await,
        Workload::Scavenge(a) => scavenge::run(a, channels).await,
        Workload::Group(a) => group::run(a, channels).await,
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A unique event id without a syscall per event: a random run prefix
/// (one v4 UUID per process) plus a counter.
pub fn next_id() -> String {
    static PREFIX: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let p = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u128() & !(u64::MAX as u128));
    uuid::Uuid::from_u128(p | NEXT_ID.fetch_add(1, Ordering::Relaxed) as u128).to_string()
}

pub fn event(size: usize, fill: u8) -> ProposedEvent {
    ProposedEvent {
        id: next_id(),
        r#type: "BenchEvent".into(),
        content_type: "application/octet-stream".into(),
        data: vec![fill; size],
        metadata: Vec::new(),
    }
}

pub fn finish(mut r: Report, bytes_per_event: usize) -> Report {
    r.events_per_s = r.events as f64 / r.seconds;
    r.requests_per_s = r.requests as f64 / r.seconds;
    r.mb_per_s = r.events_per_s * bytes_per_event as f64 / 1e6;
    r
}
