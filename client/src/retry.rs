//! [`RetryPolicy`]: how many attempts a call gets and how long to wait
//! between them, and the one retry loop for calls that are simply tried
//! again (connecting, unary calls).
//!
//! Not here: which failures are worth a retry (`error.rs` decides for
//! statuses), or resuming a read or subscription part-way (`resumable.rs`,
//! which uses this policy's counts and backoff).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// How the client retries calls that failed because the server was
/// unavailable (gRPC `UNAVAILABLE`) or the connection broke.
///
/// The delay before retry `n` (1-based) is `initial_backoff * 2^(n-1)`,
/// capped at `max_backoff`. Errors that a retry cannot fix (a failed
/// concurrency check, bad input, a missing stream, ...) are never retried.
///
/// ```
/// use std::time::Duration;
/// use strata_client::RetryPolicy;
///
/// let p = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_backoff(Duration::from_millis(20))
///     .max_backoff(Duration::from_secs(1));
/// assert_eq!(p.backoff(1), Duration::from_millis(20));
/// assert_eq!(p.backoff(3), Duration::from_millis(80));
/// assert_eq!(p.backoff(30), Duration::from_secs(1));
/// assert_eq!(RetryPolicy::none().attempts(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 10 attempts, 50 ms initial backoff, at most 2 s between attempts.
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries: every call is tried once.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets how many times a call is tried in all (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the delay before the first retry.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Sets the longest delay between two attempts.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// How many times a call is tried in all.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay before retry number `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// Whether another attempt is allowed after `failed` consecutive failed
    /// attempts (the one that just failed included).
    pub(crate) fn may_retry_after(&self, failed: u32) -> bool {
        failed < self.max_attempts
    }

    /// Runs `attempt` until it succeeds, fails with an error `retryable`
    /// rejects, or the attempts are used up; sleeps [`Self::backoff`]
    /// between attempts. Returns the last error. `what` names the operation
    /// in the trace.
    pub(crate) async fn run<T, E, F, Fut>(
        &self,
        what: &'static str,
        retryable: impl Fn(&E) -> bool,
        mut attempt: F,
    ) -> Result<T, E>
    where
        E: Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut failed = 0;
        loop {
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    failed += 1;
                    if !(retryable(&e) && self.may_retry_after(failed)) {
                        return Err(e);
                    }
                    let delay = self.backoff(failed);
                    tracing::debug!(op = what, error = %e, attempt = failed, ?delay, "failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}
