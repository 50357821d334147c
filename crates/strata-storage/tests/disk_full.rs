//! Scenario: the disk fills up. On a size-capped tmpfs, appends run until
//! the write fails with ENOSPC: that append (and only it) fails with
//! `DiskFull`, nothing acknowledged is lost, the store is not poisoned, and
//! appends succeed again as soon as space comes back; a reopen verifies.
//!
//! Needs root (to mount tmpfs), as the project's machines and CI have.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use strata_storage::*;

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "mounting a size-capped tmpfs failed: this test needs root"
        );
        Tmpfs(at.to_owned())
    }

    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(st.success(), "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_rejects_appends_cleanly_and_recovers_when_space_returns() {
    let mnt = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(mnt.path(), "12m");
    let dir = mnt.path().join("data");
    let opts = small_segments();
    let s = Store::open(&dir, opts.clone()).unwrap();
    let blob = vec![7u8; 256 * 1024];
    let mut acked = Vec::new();
    let mut full = None;
    for i in 0..200u64 {
        let mut e = ev("Blob", &blob);
        e.metadata = i.to_le_bytes().to_vec();
        match s.append("fill", ExpectedRevision::Any, vec![e]) {
            Ok(r) => acked.push(r),
            Err(Error::DiskFull(m)) => {
                full = Some(m);
                break;
            }
            Err(e) => panic!("expected DiskFull once the disk is full, got {e}"),
        }
    }
    let why = full.expect("the 12 MiB disk never filled");
    assert!(!acked.is_empty());
    assert!(
        s.poisoned().is_none(),
        "a full disk must not poison the store"
    );
    // Still full: still a clean refusal.
    assert!(matches!(
        s.append("fill", ExpectedRevision::Any, vec![ev("Blob", &blob)]),
        Err(Error::DiskFull(_))
    ));
    // Everything acknowledged is intact.
    let events = s
        .read_stream("fill", StreamFrom::Start, Direction::Forwards, usize::MAX)
        .unwrap();
    assert_eq!(events.len(), acked.len());
    assert!(events
        .iter()
        .enumerate()
        .all(|(i, e)| e.metadata == (i as u64).to_le_bytes() && e.data == blob));
    eprintln!("disk full after {} appends: {why}", acked.len());

    // Space comes back: appends continue, positions stay gapless.
    fs.resize("64m");
    let r = s
        .append(
            "fill",
            ExpectedRevision::Exact(acked.len() as u64 - 1),
            vec![ev("After", b"{}")],
        )
        .unwrap();
    assert_eq!(r.first_position, acked.last().unwrap().last_position + 1);
    drop(s);
    let s = Store::open(&dir, opts).unwrap();
    assert_eq!(s.head(), acked.len() as u64 + 1);
    drop(s);
    let report = verify(&dir, &mut |_, _| {}).unwrap();
    assert!(report.is_ok() && report.torn_tail_bytes == 0, "{report:?}");
}
