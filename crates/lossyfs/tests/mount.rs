//! lossyfs mounted for real (root and /dev/fuse needed; the test fails, it
//! does not skip, without them): ordinary file operations pass through,
//! and a power cut keeps exactly what was synced — a file's bytes after its
//! fsync, an entry after its directory's fsync — while unsynced writes,
//! creations, renames and removals are undone. Each partial mode keeps a
//! state between the durable and the current one. Faults: EIO on the n-th
//! fsync and write, ENOSPC past a budget, short writes that `write_all`
//! completes, slow fsyncs.

use lossyfs::{CutMode, FaultPlan, LossyFs, Nth};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Mounted {
    fs: LossyFs,
    _tmp: tempfile::TempDir,
}

impl Mounted {
    fn new() -> Mounted {
        if let Err(why) = lossyfs::check_available() {
            panic!("lossyfs tests need FUSE: {why}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let mnt = tmp.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let fs = LossyFs::mount(&tmp.path().join("store"), &mnt).expect("mount lossyfs");
        Mounted { fs, _tmp: tmp }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.fs.mountpoint().join(rel)
    }

    fn cut(&mut self, mode: CutMode, seed: u64) {
        let r = self.fs.power_cut(mode, seed).expect("power cut");
        eprintln!("{r}");
    }
}

fn fsync_dir(p: &Path) {
    File::open(p).unwrap().sync_all().unwrap();
}

fn write_file(p: &Path, data: &[u8], sync: bool) {
    let mut f = File::create(p).unwrap();
    f.write_all(data).unwrap();
    if sync {
        f.sync_all().unwrap();
    }
}

#[test]
fn files_and_directories_behave_like_a_filesystem() {
    let m = Mounted::new();
    fs::create_dir_all(m.p("a/b")).unwrap();
    write_file(&m.p("a/b/f"), b"hello world", false);
    assert_eq!(fs::read(m.p("a/b/f")).unwrap(), b"hello world");
    let f = OpenOptions::new().write(true).open(m.p("a/b/f")).unwrap();
    f.write_all_at(b"W", 6).unwrap();
    f.set_len(7).unwrap();
    drop(f);
    assert_eq!(fs::read(m.p("a/b/f")).unwrap(), b"hello W");
    fs::rename(m.p("a/b/f"), m.p("a/g")).unwrap();
    assert!(!m.p("a/b/f").exists());
    let mut names: Vec<_> = fs::read_dir(m.p("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["b", "g"]);
    assert_eq!(
        fs::remove_dir(m.p("a")).unwrap_err().kind(),
        ErrorKind::DirectoryNotEmpty
    );
    fs::remove_file(m.p("a/g")).unwrap();
    fs::remove_dir(m.p("a/b")).unwrap();
    fs::remove_dir(m.p("a")).unwrap();
    assert!(fs::read_dir(m.fs.mountpoint()).unwrap().next().is_none());
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    write_file(&m.p("big"), &big, true);
    assert_eq!(fs::read(m.p("big")).unwrap(), big);
}

#[test]
fn a_power_cut_keeps_what_was_synced_and_undoes_the_rest() {
    let mut m = Mounted::new();
    // Synced file, synced entry.
    write_file(&m.p("kept"), b"durable", true);
    // Synced file and entry.
    write_file(&m.p("synced"), b"x", true);
    // Entry synced, bytes not: an empty file.
    write_file(&m.p("empty"), b"not synced", false);
    fsync_dir(m.fs.mountpoint());
    // Unsynced append to a synced file: gone.
    let f = OpenOptions::new().append(true).open(m.p("kept")).unwrap();
    (&f).write_all(b" + unsynced").unwrap();
    drop(f);
    // Rename and removal without a directory fsync: undone.
    write_file(&m.p("old"), b"old", true);
    write_file(&m.p("victim"), b"victim", true);
    fsync_dir(m.fs.mountpoint());
    fs::rename(m.p("old"), m.p("new")).unwrap();
    fs::remove_file(m.p("victim")).unwrap();
    write_file(&m.p("orphan"), b"x", true);
    m.cut(CutMode::DropUnsynced, 1);
    assert_eq!(fs::read(m.p("kept")).unwrap(), b"durable");
    assert!(m.p("synced").exists(), "synced before the dir fsync");
    assert!(!m.p("orphan").exists(), "file synced, entry never synced");
    assert_eq!(fs::read(m.p("empty")).unwrap(), b"");
    assert_eq!(fs::read(m.p("old")).unwrap(), b"old");
    assert!(!m.p("new").exists());
    assert_eq!(fs::read(m.p("victim")).unwrap(), b"victim");
    // After the cut everything is durable: another cut changes nothing.
    m.cut(CutMode::DropUnsynced, 2);
    assert_eq!(fs::read(m.p("kept")).unwrap(), b"durable");
    // A synced rename (tmp, fsync, rename, fsync dir) survives.
    write_file(&m.p("f.tmp"), b"v2", true);
    fs::rename(m.p("f.tmp"), m.p("old")).unwrap();
    fsync_dir(m.fs.mountpoint());
    m.cut(CutMode::DropUnsynced, 3);
    assert_eq!(fs::read(m.p("old")).unwrap(), b"v2");
    assert!(!m.p("f.tmp").exists());
    assert!(m.fs.stats().cuts == 3 && m.fs.stats().dir_fsyncs == 3);
}

#[test]
fn a_process_crash_keeps_everything() {
    let mut m = Mounted::new();
    fs::create_dir(m.p("d")).unwrap();
    write_file(&m.p("d/f"), b"page cache", false);
    m.cut(CutMode::KeepEverything, 1);
    assert_eq!(fs::read(m.p("d/f")).unwrap(), b"page cache");
}

/// Appends 40 unsynced 1000-byte records to a synced file and cuts with
/// `mode`: what remains must start with the synced part, and every
/// record must be either wholly new, or (pages, torn) zeros/garbage.
fn partial(mode: CutMode, seed: u64) -> Vec<u8> {
    let mut m = Mounted::new();
    write_file(&m.p("log"), &[7u8; 100], true);
    fsync_dir(m.fs.mountpoint());
    let f = OpenOptions::new().append(true).open(m.p("log")).unwrap();
    for i in 0..40u8 {
        (&f).write_all(&[i + 1; 1000]).unwrap();
    }
    drop(f);
    m.cut(mode, seed);
    let got = fs::read(m.p("log")).unwrap();
    assert_eq!(
        &got[..100],
        &[7u8; 100],
        "{mode:?} seed {seed}: synced bytes changed"
    );
    assert!(got.len() <= 40_100, "{mode:?}: grew");
    got
}

#[test]
fn partial_modes_keep_states_between_durable_and_current() {
    for seed in 0..6 {
        // A prefix of the writes the kernel sent (it splits a write that
        // crosses a page boundary), then nothing.
        let got = partial(CutMode::KeepPrefix, seed);
        for (at, b) in got.iter().enumerate().skip(100) {
            assert_eq!(*b, ((at - 100) / 1000) as u8 + 1, "seed {seed}: byte {at}");
        }
        // Pages: every byte is its new value or zero.
        let got = partial(CutMode::KeepRandomPages, seed);
        for (at, b) in got.iter().enumerate().skip(100) {
            let new = ((at - 100) / 1000) as u8 + 1;
            assert!(*b == new || *b == 0, "seed {seed}: byte {at} is {b}");
        }
        // Torn: everything but the last page of the last write is new.
        let got = partial(CutMode::TearLastPage, seed);
        assert_eq!(got.len(), 40_100, "seed {seed}: torn keeps the length");
        let last_page = (40_099 / 4096) * 4096;
        let intact_to = last_page.max(39_100);
        for (at, b) in got.iter().enumerate().take(intact_to).skip(100) {
            assert_eq!(*b, ((at - 100) / 1000) as u8 + 1, "seed {seed}: byte {at}");
        }
    }
    // Dropping keeps just the durable part.
    assert_eq!(partial(CutMode::DropUnsynced, 0).len(), 100);
}

#[test]
fn eio_on_the_nth_fsync_and_write_leaves_data_unsynced() {
    let mut m = Mounted::new();
    write_file(&m.p("a.seg"), b"synced", true);
    fsync_dir(m.fs.mountpoint());
    m.fs.set_faults(FaultPlan {
        eio_on_fsync: Some(Nth::of(2, ".seg")),
        eio_on_write: Some(Nth::of(3, ".seg")),
        ..FaultPlan::default()
    });
    let f = OpenOptions::new().append(true).open(m.p("a.seg")).unwrap();
    (&f).write_all(b"1").unwrap();
    f.sync_data().unwrap();
    (&f).write_all(b"2").unwrap();
    let e = f.sync_data().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    let e = (&f).write_all(b"3").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    assert_eq!(m.fs.fault_hits().eio_fsyncs, 1);
    assert_eq!(m.fs.fault_hits().eio_writes, 1);
    drop(f);
    assert_eq!(fs::read(m.p("a.seg")).unwrap(), b"synced12");
    m.cut(CutMode::DropUnsynced, 1);
    assert_eq!(fs::read(m.p("a.seg")).unwrap(), b"synced1");
    // Linux's way: a failed fsync loses its writes for good, though they
    // stay readable; a later fsync does not bring them back.
    m.fs.set_faults(FaultPlan {
        eio_on_fsync: Some(Nth::of(1, ".seg")),
        eio_loses_pending: true,
        ..FaultPlan::default()
    });
    let f = OpenOptions::new().append(true).open(m.p("a.seg")).unwrap();
    (&f).write_all(b"L").unwrap();
    assert!(f.sync_data().is_err());
    (&f).write_all(b"K").unwrap();
    f.sync_data().unwrap();
    drop(f);
    assert_eq!(fs::read(m.p("a.seg")).unwrap(), b"synced1LK");
    m.cut(CutMode::DropUnsynced, 3);
    assert_eq!(fs::read(m.p("a.seg")).unwrap(), b"synced1\0K");
    fs::write(m.p("a.seg"), b"synced1").unwrap();
    File::open(m.p("a.seg")).unwrap().sync_all().unwrap();
    // The power goes right after the second fsync of a ".seg" file.
    m.fs.set_faults(FaultPlan {
        freeze_after_fsync: Some(Nth::of(2, ".seg")),
        ..FaultPlan::default()
    });
    let f = OpenOptions::new().append(true).open(m.p("a.seg")).unwrap();
    for b in [b"a", b"b"] {
        (&f).write_all(b).unwrap();
        f.sync_data().unwrap();
    }
    let e = (&f).write_all(b"c").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "frozen");
    assert_eq!(m.fs.fault_hits().freezes, 1);
    drop(f);
    m.cut(CutMode::KeepPrefix, 2);
    assert_eq!(fs::read(m.p("a.seg")).unwrap(), b"synced1ab");
}

#[test]
fn enospc_short_writes_and_slow_fsyncs() {
    let m = Mounted::new();
    m.fs.set_faults(FaultPlan {
        enospc_after_bytes: Some(10_000),
        ..FaultPlan::default()
    });
    let mut f = File::create(m.p("full")).unwrap();
    let e = f.write_all(&[1u8; 20_000]).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(fs::metadata(m.p("full")).unwrap().len(), 10_000);
    // Space comes back when the file shrinks.
    f.set_len(0).unwrap();
    f.write_all_at(&[2u8; 5_000], 0).unwrap();
    drop(f);
    m.fs.set_faults(FaultPlan {
        short_write_every: Some(1),
        slow_fsync: Some(Duration::from_millis(200)),
        ..FaultPlan::default()
    });
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let mut f = File::create(m.p("short")).unwrap();
    f.write_all(&data).unwrap();
    let t = Instant::now();
    f.sync_all().unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(fs::read(m.p("short")).unwrap(), data);
    let hits = m.fs.fault_hits();
    assert!(hits.short_writes > 1 && hits.slow_fsyncs == 1, "{hits:?}");
}
