//! The client's clock helper: the current time in the unit Strata uses for
//! every timestamp (unix microseconds), for time-travel reads and lag.
//!
//! Not here: the server's commit timestamps, which the server assigns; this
//! clock is only the caller's view of "now".

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in unix microseconds: the unit of
/// [`RecordedEvent::created_micros`](crate::RecordedEvent::created_micros),
/// [`StreamFrom::Timestamp`](crate::StreamFrom::Timestamp),
/// [`AllFrom::Timestamp`](crate::AllFrom::Timestamp) and snapshot times.
/// 0 if the system clock is set before 1970.
///
/// ```
/// use strata_client::{now_micros, ReadOptions, StreamFrom};
///
/// let an_hour_ago = now_micros() - 3_600_000_000;
/// let opts = ReadOptions::forwards().from(StreamFrom::Timestamp(an_hour_ago));
/// # let _ = opts;
/// assert!(an_hour_ago > 0);
/// ```
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
