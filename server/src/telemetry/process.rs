//! The process's own resource use, read from `/proc/self` at scrape time:
//! CPU seconds, resident memory, open file descriptors, start time.
//!
//! Linux only; elsewhere every figure is absent. Not here: encoding them.

/// What `/proc/self` says now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub start_time_seconds: f64,
}

/// Clock ticks per second of `/proc` times (USER_HZ is 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;
/// Page size for `statm` (4 KiB on the platforms we run on).
const PAGE_BYTES: u64 = 4096;

/// Reads the figures; `None` where `/proc` is missing.
pub fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name, which may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
    let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu_seconds = (num(14)? + num(15)?) / TICKS_PER_SECOND;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok())?;
    Some(ProcessStats {
        cpu_seconds,
        resident_bytes: resident_pages * PAGE_BYTES,
        open_fds,
        start_time_seconds: boot + num(22)? / TICKS_PER_SECOND,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_figures() {
        let p = super::read().expect("/proc is there on Linux");
        assert!(p.resident_bytes > 0 && p.open_fds > 0 && p.start_time_seconds > 1e9);
    }
}
