//! Faults injected on demand: `EIO` on the n-th fsync or write, `ENOSPC`
//! once the files would grow past a budget, short writes, slow fsyncs.
//!
//! A [`FaultPlan`] says what to inject; [`Faults`] is the plan plus the
//! counters that decide when (kept inside the filesystem's state, counted
//! from the moment the plan was set). [`FaultHits`] reports what was
//! actually injected, so a test can check its fault fired.
//!
//! Not here: how a fault reaches the caller (`fuse`), the power cut
//! (`state`).

use std::time::Duration;

/// The n-th matching call (1-based, counted from when the plan is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nth {
    /// Which call fails.
    pub n: u64,
    /// Only calls on a file or directory whose name contains this count
    /// (e.g. `".seg"` for the log's segments); `None`: every call.
    pub name_contains: Option<String>,
    /// Every matching call from the n-th on fails, not just the n-th (a
    /// disk that has died).
    pub sticky: bool,
}

impl Nth {
    /// The n-th call on a name containing `name_contains` fails once.
    pub fn of(n: u64, name_contains: &str) -> Nth {
        Nth {
            n,
            name_contains: Some(name_contains.to_owned()),
            sticky: false,
        }
    }

    /// Makes every matching call from the n-th on fail.
    pub fn sticky(mut self) -> Nth {
        self.sticky = true;
        self
    }

    fn matches(&self, name: &str) -> bool {
        self.name_contains
            .as_deref()
            .is_none_or(|s| name.contains(s))
    }
}

/// What to inject. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// `EIO` from an `fsync`/`fdatasync` (of a file or a directory). The
    /// writes it should have made durable stay unsynced: a later successful
    /// fsync makes them durable, a power cut may lose them.
    pub eio_on_fsync: Option<Nth>,
    /// With `eio_on_fsync`: the failed fsync also loses the file's
    /// unsynced writes for good, as Linux does after a writeback error
    /// ("fsyncgate": the pages are marked clean but stay readable until
    /// evicted). They stay in what programs read, and never reach what a
    /// power cut leaves — not even after a later successful fsync.
    pub eio_loses_pending: bool,
    /// `EIO` from a write; nothing of it is applied. The kernel splits a
    /// program's `pwrite` into several requests (at page boundaries and
    /// `max_write`); when a later one fails the program sees a short write,
    /// not the error — make the fault sticky to be sure it sees `EIO`.
    pub eio_on_write: Option<Nth>,
    /// The files may grow by this many bytes in total (counted from when
    /// the plan is set, shrinking gives space back); a write past it is cut
    /// short to what fits, or fails with `ENOSPC` when nothing fits, and an
    /// `fallocate` past it fails with `ENOSPC`.
    pub enospc_after_bytes: Option<u64>,
    /// Every n-th write of more than one byte is cut to half its length
    /// (the caller must write the rest itself).
    pub short_write_every: Option<u64>,
    /// Every fsync sleeps this long first (without blocking other calls).
    pub slow_fsync: Option<Duration>,
    /// The power goes right after the n-th matching fsync succeeds: the
    /// filesystem freezes (every later change fails with `EIO`), as
    /// [`LossyFs::freeze`](crate::LossyFs::freeze) does. Puts a power cut
    /// at an exact step of a protocol (after a segment's header is synced,
    /// before its directory is).
    pub freeze_after_fsync: Option<Nth>,
}

/// How many faults were actually injected since the plan was set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultHits {
    /// `EIO` returned from fsyncs.
    pub eio_fsyncs: u64,
    /// `EIO` returned from writes.
    pub eio_writes: u64,
    /// Writes refused (`ENOSPC`) or cut short because the budget ran out,
    /// and `fallocate`s refused.
    pub enospc: u64,
    /// Writes cut short by `short_write_every`.
    pub short_writes: u64,
    /// Fsyncs slowed down.
    pub slow_fsyncs: u64,
    /// Freezes by `freeze_after_fsync`.
    pub freezes: u64,
}

/// A plan and its counters.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub plan: FaultPlan,
    pub hits: FaultHits,
    fsyncs_seen: u64,
    freeze_fsyncs_seen: u64,
    writes_seen: u64,
    all_writes: u64,
    /// Total file bytes the files may reach (set with the plan).
    pub capacity: Option<u64>,
}

impl Faults {
    /// Replaces the plan; `used` is the bytes the files hold now.
    pub fn set(&mut self, plan: FaultPlan, used: u64) {
        let capacity = plan.enospc_after_bytes.map(|b| used.saturating_add(b));
        *self = Faults {
            capacity,
            plan,
            ..Faults::default()
        };
    }

    /// Whether this fsync (of `name`) fails.
    pub fn fsync_fails(&mut self, name: &str) -> bool {
        let Some(nth) = &self.plan.eio_on_fsync else {
            return false;
        };
        if !nth.matches(name) {
            return false;
        }
        self.fsyncs_seen += 1;
        let fail = self.fsyncs_seen == nth.n || (nth.sticky && self.fsyncs_seen > nth.n);
        if fail {
            self.hits.eio_fsyncs += 1;
        }
        fail
    }

    /// Whether the power goes after this successful fsync (of `name`).
    pub fn freeze_after(&mut self, name: &str) -> bool {
        let Some(nth) = &self.plan.freeze_after_fsync else {
            return false;
        };
        if !nth.matches(name) {
            return false;
        }
        self.freeze_fsyncs_seen += 1;
        let freeze = self.freeze_fsyncs_seen == nth.n;
        if freeze {
            self.hits.freezes += 1;
        }
        freeze
    }

    /// Whether this write (to `name`) fails.
    pub fn write_fails(&mut self, name: &str) -> bool {
        let Some(nth) = &self.plan.eio_on_write else {
            return false;
        };
        if !nth.matches(name) {
            return false;
        }
        self.writes_seen += 1;
        let fail = self.writes_seen == nth.n || (nth.sticky && self.writes_seen > nth.n);
        if fail {
            self.hits.eio_writes += 1;
        }
        fail
    }

    /// How many of `len` bytes this write may take (short writes only;
    /// space is checked by the caller).
    pub fn write_len(&mut self, len: usize) -> usize {
        self.all_writes += 1;
        match self.plan.short_write_every {
            Some(n) if n > 0 && len > 1 && self.all_writes.is_multiple_of(n) => {
                self.hits.short_writes += 1;
                len / 2
            }
            _ => len,
        }
    }

    /// How long this fsync sleeps first.
    pub fn fsync_delay(&mut self) -> Option<Duration> {
        let d = self.plan.slow_fsync?;
        self.hits.slow_fsyncs += 1;
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nth_matching_fsync_fails_once_or_from_then_on() {
        let mut f = Faults::default();
        f.set(
            FaultPlan {
                eio_on_fsync: Some(Nth::of(2, ".seg")),
                ..FaultPlan::default()
            },
            0,
        );
        let got: Vec<bool> = ["a.seg", "log", "b.seg", "c.seg"]
            .iter()
            .map(|n| f.fsync_fails(n))
            .collect();
        assert_eq!(got, [false, false, true, false]);
        f.set(
            FaultPlan {
                eio_on_write: Some(Nth::of(1, "x").sticky()),
                ..FaultPlan::default()
            },
            0,
        );
        assert!(f.write_fails("x1") && f.write_fails("x2") && !f.write_fails("y"));
        assert_eq!(f.hits.eio_writes, 2);
    }

    #[test]
    fn every_nth_write_is_cut_in_half_and_the_budget_is_absolute() {
        let mut f = Faults::default();
        f.set(
            FaultPlan {
                short_write_every: Some(2),
                enospc_after_bytes: Some(10),
                ..FaultPlan::default()
            },
            100,
        );
        assert_eq!(f.capacity, Some(110));
        assert_eq!((f.write_len(8), f.write_len(8), f.write_len(1)), (8, 4, 1));
        assert_eq!(f.hits.short_writes, 1);
    }
}
