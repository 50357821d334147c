//! Names and encodings the server and every client must agree on that the
//! `.proto` files cannot express: the metadata keys of error statuses, the
//! `strata-error` kinds, the percent-encoding of a stream name in metadata,
//! the largest gRPC message, and the in-flight limit of an append session.
//!
//! This is the one home of these strings; the server (`status.rs`) writes
//! them and the Rust client (`error.rs`) reads them. Clients in other
//! languages find the same list in `docs/API.md`.
//!
//! Not here: which status code an error gets (the server's `status.rs`) or
//! how a client models it (the client's `error.rs`).

/// Largest gRPC message the server and the Rust client accept or send, in
/// bytes (32 MiB): twice the largest append, so an oversize append up to
/// this size reaches the server's documented `append-too-large` rather than
/// a bare transport error.
pub const MAX_GRPC_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Most appends one `Streams.AppendSession` may have sent and not yet had
/// answered; beyond it the server stops reading the session's requests
/// (HTTP/2 flow control then holds the client back). Clients keep at most
/// this many in flight per session so none waits in transport buffers.
pub const MAX_SESSION_IN_FLIGHT_APPENDS: usize = 256;

/// Metadata key of the kebab-case error kind attached to every error status.
pub const ERROR_KIND_KEY: &str = "strata-error";
/// Metadata key of a stream's actual revision (decimal, or
/// [`NO_STREAM_VALUE`]) on `wrong-expected-revision` and
/// `snapshot-ahead-of-stream`.
pub const ACTUAL_REVISION_KEY: &str = "strata-actual-revision";
/// Metadata key of the (percent-encoded, see [`percent_encode`]) stream name
/// on `wrong-expected-revision` and `snapshot-ahead-of-stream`.
pub const STREAM_KEY: &str = "strata-stream";
/// The value of [`ACTUAL_REVISION_KEY`] for a stream that does not exist.
pub const NO_STREAM_VALUE: &str = "no-stream";

/// The `strata-error` kinds. Each names one cause; `docs/API.md` lists the
/// status code that goes with each.
pub mod kind {
    /// The optimistic-concurrency check failed.
    pub const WRONG_EXPECTED_REVISION: &str = "wrong-expected-revision";
    /// Some, not all, of an append's event ids were already committed.
    pub const PARTIAL_DUPLICATE: &str = "partial-duplicate";
    /// Empty, too long, or control characters in a stream name.
    pub const INVALID_STREAM_NAME: &str = "invalid-stream-name";
    /// A bad event field (type, id, content type).
    pub const INVALID_EVENT: &str = "invalid-event";
    /// A malformed transaction (no streams, a stream twice, no events...).
    pub const INVALID_APPEND: &str = "invalid-append";
    /// A request malformed in a way storage never sees.
    pub const INVALID_REQUEST: &str = "invalid-request";
    /// A write to a name starting with `$`.
    pub const RESERVED_STREAM_NAME: &str = "reserved-stream-name";
    /// One event over the size limit.
    pub const EVENT_TOO_LARGE: &str = "event-too-large";
    /// Too many events in one append.
    pub const TOO_MANY_EVENTS: &str = "too-many-events";
    /// An append over the size limit.
    pub const APPEND_TOO_LARGE: &str = "append-too-large";
    /// A snapshot of a revision the stream does not have.
    pub const SNAPSHOT_AHEAD_OF_STREAM: &str = "snapshot-ahead-of-stream";
    /// A snapshot over the size limit.
    pub const SNAPSHOT_TOO_LARGE: &str = "snapshot-too-large";
    /// No consumer group of that name.
    pub const GROUP_NOT_FOUND: &str = "group-not-found";
    /// A consumer group of that name exists already.
    pub const GROUP_EXISTS: &str = "group-exists";
    /// The consumer group has its maximum of consumers.
    pub const TOO_MANY_CONSUMERS: &str = "too-many-consumers";
    /// No scavenge ran since the server started.
    pub const SCAVENGE_NOT_FOUND: &str = "scavenge-not-found";
    /// The server already streams its limit of concurrent backups.
    pub const TOO_MANY_BACKUPS: &str = "too-many-backups";
    /// No snapshot at or before the requested revision.
    pub const SNAPSHOT_NOT_FOUND: &str = "snapshot-not-found";
    /// The stream has no event.
    pub const STREAM_NOT_FOUND: &str = "stream-not-found";
    /// The stream was soft-deleted and nothing appended since.
    pub const STREAM_DELETED: &str = "stream-deleted";
    /// The stream was tombstoned: deleted for good.
    pub const STREAM_TOMBSTONED: &str = "stream-tombstoned";
    /// Stream metadata that cannot be set (a zero limit, ...).
    pub const INVALID_METADATA: &str = "invalid-metadata";
    /// Custom stream metadata over the size limit.
    pub const METADATA_TOO_LARGE: &str = "metadata-too-large";
    /// A position past the head of the log.
    pub const POSITION_BEYOND_HEAD: &str = "position-beyond-head";
    /// Too many concurrent subscriptions.
    pub const TOO_MANY_SUBSCRIPTIONS: &str = "too-many-subscriptions";
    /// A write failed earlier; the store refuses writes until restarted.
    pub const POISONED: &str = "poisoned";
    /// The disk is full; nothing was written.
    pub const DISK_FULL: &str = "disk-full";
    /// The writer's queue is full; nothing was written, retry later.
    pub const OVERLOADED: &str = "overloaded";
    /// The store is closed.
    pub const CLOSED: &str = "closed";
    /// The server is shutting down.
    pub const SHUTTING_DOWN: &str = "shutting-down";
    /// Stored data failed its checksum.
    pub const CORRUPT: &str = "corrupt";
    /// The data directory is locked by another process.
    pub const LOCKED: &str = "locked";
    /// Invalid server configuration.
    pub const CONFIG: &str = "config";
    /// The index failed.
    pub const INDEX: &str = "index";
    /// Any other I/O failure.
    pub const IO: &str = "io";
    /// A server bug.
    pub const INTERNAL: &str = "internal";
    /// Missing, wrong or expired credentials (`UNAUTHENTICATED`); the same
    /// answer whether or not the user exists.
    pub const AUTHENTICATION_FAILED: &str = "authentication-failed";
    /// The caller may not do this (`PERMISSION_DENIED`); nothing was read
    /// or written.
    pub const ACCESS_DENIED: &str = "access-denied";
    /// A user of that name exists (`ALREADY_EXISTS`).
    pub const USER_EXISTS: &str = "user-exists";
    /// No such user (`NOT_FOUND`).
    pub const USER_NOT_FOUND: &str = "user-not-found";
    /// No such token (`NOT_FOUND`).
    pub const TOKEN_NOT_FOUND: &str = "token-not-found";
    /// No such grant (`NOT_FOUND`).
    pub const GRANT_NOT_FOUND: &str = "grant-not-found";
}

/// Percent-encodes a stream name for a metadata value (which must be
/// visible ASCII): `%`, and every byte outside `0x20..=0x7E`, become `%XX`.
/// A plain ASCII name without `%` is unchanged.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverses [`percent_encode`]; `None` if `s` is not a valid encoding of UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_round_trips() {
        for s in ["order-1", "a%b", "café", "order-ü%1", "tab\there", ""] {
            assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
        }
        assert_eq!(percent_encode("order-ü%1"), "order-%C3%BC%251");
        assert_eq!(percent_decode("bad%2"), None);
    }
}
