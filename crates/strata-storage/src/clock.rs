//! The wall clock as the store uses it: unix microseconds.
//!
//! One function so that every timestamp the store writes (commit times,
//! snapshot times) and every age it computes agree on the clock and unit.

/// Now, in microseconds since the unix epoch (0 if the clock is before it).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
