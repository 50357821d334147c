//! What the server tells operators about itself: Prometheus metrics
//! ([`metrics`]: live instruments on the request paths, and what is read at
//! scrape time from the store, the groups and `/proc`), and OpenTelemetry
//! traces (`otel`); [`exposition`]: the two text formats `/metrics` speaks.
//!
//! Not here: the HTTP endpoints that expose them (`api::http`), logging
//! setup (`main`).

pub mod exposition;
pub mod metrics;
pub mod otel;
mod process;
pub mod scrape;

pub use metrics::{AppendOutcome, ConnectionGauge, Metrics, PhaseGauge, ReadKind, SessionGauge};
pub use scrape::ScrapeSnapshot;
