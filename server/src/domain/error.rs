//! Why a request failed, in the server's own terms: a storage error, or a
//! failure the server detects itself (a malformed plan, no snapshot, no
//! subscription slot, shutdown, a bug).
//!
//! Not here: how a failure looks on a wire (`api::status` for gRPC). Each
//! variant is one cause, so an adapter can map it without inspecting
//! messages; the `Display` text is the human message adapters send.

/// A request that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store refused or failed.
    #[error(transparent)]
    Storage(#[from] strata_storage::Error),
    /// The request is malformed in a way the store never sees.
    #[error("{0}")]
    InvalidRequest(String),
    /// No snapshot of `stream` (at or before `at_or_before`).
    #[error("stream '{stream}' has no snapshot{}", at_or_before.map(|r| format!(" at or before revision {r}")).unwrap_or_default())]
    SnapshotNotFound {
        /// The stream asked about.
        stream: String,
        /// The newest revision acceptable, if the request named one.
        at_or_before: Option<u64>,
    },
    /// Every subscription slot is taken.
    #[error(
        "the server already serves its limit of {limit} concurrent subscriptions; retry later"
    )]
    TooManySubscriptions {
        /// The configured limit.
        limit: usize,
    },
    /// No consumer group of that name.
    #[error("consumer group '{0}' does not exist")]
    GroupNotFound(String),
    /// A consumer group of that name exists.
    #[error("consumer group '{0}' exists already")]
    GroupExists(String),
    /// The group has its maximum of consumers.
    #[error("consumer group '{group}' already has its limit of {limit} consumers")]
    TooManyConsumers {
        /// The group.
        group: String,
        /// Its max_subscribers.
        limit: usize,
    },
    /// No scavenge ran since the server started.
    #[error(
        "no scavenge has run since the server started (see the \"$scavenges\" stream for history)"
    )]
    ScavengeNotFound,
    /// Every backup slot is taken.
    #[error("the server already streams its limit of {limit} concurrent backups; retry later")]
    TooManyBackups {
        /// The limit (`domain::backup::MAX_CONCURRENT_BACKUPS`).
        limit: usize,
    },
    /// The server is shutting down; the client should reconnect and resume.
    #[error("the server is shutting down; reconnect and resume")]
    ShuttingDown,
    /// Missing, wrong or expired credentials (the same whether or not the
    /// user exists).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The caller lacks a role or grant; nothing was read or written.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// A user of that name exists.
    #[error("user '{0}' exists already")]
    UserExists(String),
    /// No user of that name.
    #[error("user '{0}' does not exist")]
    UserNotFound(String),
    /// No token with that id.
    #[error("token '{0}' does not exist")]
    TokenNotFound(String),
    /// No grant with that id.
    #[error("grant '{0}' does not exist")]
    GrantNotFound(String),
    /// A server bug (e.g. a panicked blocking task).
    #[error("{0}")]
    Internal(String),
}
