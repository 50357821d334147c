//! Slowing down repeated authentication failures from one peer (by IP
//! address): after [`FREE_FAILURES`] failures within [`FAILURE_WINDOW`],
//! each further attempt from that address waits before it is even checked,
//! doubling from [`FIRST_DELAY`] up to [`MAX_DELAY`]. A success clears the
//! address. The table holds at most [`MAX_TRACKED_PEERS`] addresses; when
//! full, entries outside their window go first, then everything.
//!
//! A delay, not a lockout: a lockout would let anyone lock a real user
//! out. Not here: verifying credentials (`passwords`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures within the window before attempts are slowed down.
pub const FREE_FAILURES: u32 = 5;
/// How long a failure counts.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The delay after the first failure beyond the free ones.
pub const FIRST_DELAY: Duration = Duration::from_millis(200);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Most addresses tracked at once.
pub const MAX_TRACKED_PEERS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failure counts by peer address.
#[derive(Debug, Default)]
pub struct Throttle {
    peers: Mutex<HashMap<IpAddr, Failures>>,
}

impl Throttle {
    /// How long an attempt from `ip` must wait now.
    pub fn delay(&self, ip: IpAddr, now: Instant) -> Duration {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        match peers.get(&ip) {
            Some(f) if now.duration_since(f.last) < FAILURE_WINDOW && f.count >= FREE_FAILURES => {
                let doublings = (f.count - FREE_FAILURES).min(16);
                (FIRST_DELAY * 2u32.pow(doublings)).min(MAX_DELAY)
            }
            _ => Duration::ZERO,
        }
    }

    /// Counts a failure from `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= MAX_TRACKED_PEERS && !peers.contains_key(&ip) {
            peers.retain(|_, f| now.duration_since(f.last) < FAILURE_WINDOW);
            if peers.len() >= MAX_TRACKED_PEERS {
                peers.clear();
            }
        }
        let f = peers.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(f.last) >= FAILURE_WINDOW {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
    }

    /// A success from `ip` clears it.
    pub fn succeeded(&self, ip: IpAddr) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_double_and_reset() {
        let t = Throttle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.delay(ip, now), Duration::ZERO);
            t.failed(ip, now);
        }
        assert_eq!(t.delay(ip, now), FIRST_DELAY);
        t.failed(ip, now);
        assert_eq!(t.delay(ip, now), FIRST_DELAY * 2);
        for _ in 0..20 {
            t.failed(ip, now);
        }
        assert_eq!(t.delay(ip, now), MAX_DELAY);
        assert_eq!(
            t.delay(ip, now + FAILURE_WINDOW),
            Duration::ZERO,
            "the window passed"
        );
        t.succeeded(ip);
        assert_eq!(t.delay(ip, now), Duration::ZERO);
    }
}
