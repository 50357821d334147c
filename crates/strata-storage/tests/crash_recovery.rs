//! Scenario: the process died mid-write. Cut the last segment at every byte
//! offset inside the last transaction, or flip any one of its bytes, and
//! reopen: the store opens, keeps every earlier transaction intact, drops
//! exactly the broken one, and accepts appends again at the next position.
//! Also: corruption before the tail is never served and `verify` finds it.

mod common;
use common::*;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use strata_storage::*;

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    // Segments only: sealed ones have a position map (`.map`) beside them.
    let mut v: Vec<_> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

/// Builds a store with four intact transactions and a last one of two
/// events; returns (segment path, length before the last, full length).
fn build(dir: &Path) -> (PathBuf, u64, u64) {
    let s = open(dir);
    s.append("a", ExpectedRevision::NoStream, evs(1, "One"))
        .unwrap();
    s.append("b", ExpectedRevision::NoStream, evs(3, "Three"))
        .unwrap();
    s.append_multi(vec![
        StreamAppend {
            stream: "a".into(),
            expected: ExpectedRevision::Exact(0),
            events: evs(1, "Multi"),
        },
        StreamAppend {
            stream: "c".into(),
            expected: ExpectedRevision::NoStream,
            events: evs(2, "Multi"),
        },
    ])
    .unwrap();
    s.append("b", ExpectedRevision::Exact(2), evs(1, "Four"))
        .unwrap();
    drop(s);
    let seg = segment_files(dir).pop().unwrap();
    let before = std::fs::metadata(&seg).unwrap().len();
    let s = open(dir);
    s.append(
        "d",
        ExpectedRevision::NoStream,
        vec![ev("Last", b"{\"k\":1}"), ev("Last", b"{\"k\":2}")],
    )
    .unwrap();
    drop(s);
    let full = std::fs::metadata(&seg).unwrap().len();
    (seg, before, full)
}

const INTACT_HEAD: u64 = 8;

fn check_reopen(dir: &Path, what: &str) {
    let s = open(dir);
    assert_eq!(s.head(), INTACT_HEAD, "{what}: head after recovery");
    let all = s
        .read_all(AllFrom::Start, Direction::Forwards, 100, &Filter::default())
        .unwrap();
    assert_eq!(
        all.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=INTACT_HEAD).collect::<Vec<_>>(),
        "{what}"
    );
    assert!(
        matches!(
            s.read_stream("d", StreamFrom::Start, Direction::Forwards, 10),
            Err(Error::StreamNotFound(_))
        ),
        "{what}"
    );
    assert_eq!(
        s.stream_revision("b").unwrap(),
        CurrentRevision::Current(3),
        "{what}"
    );
    let r = s
        .append("d", ExpectedRevision::NoStream, evs(1, "After"))
        .unwrap();
    assert_eq!(r.first_position, INTACT_HEAD + 1, "{what}");
    drop(s);
    let report = verify(dir, &mut |_, _| {}).unwrap();
    assert!(
        report.is_ok() && report.torn_tail_bytes == 0,
        "{what}: {report:?}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn cut_at_every_offset_of_the_last_transaction() {
    let base = tempfile::tempdir().unwrap();
    let (seg, before, full) = build(base.path());
    assert!(full > before);
    let rel = seg.strip_prefix(base.path()).unwrap().to_owned();
    for cut in before..full {
        let work = tempfile::tempdir().unwrap();
        copy_dir(base.path(), work.path());
        // Alternate between keeping the index (which then runs ahead of the
        // log and must be rebuilt) and deleting it.
        if cut % 2 == 0 {
            std::fs::remove_dir_all(work.path().join("index")).unwrap();
        }
        OpenOptions::new()
            .write(true)
            .open(work.path().join(&rel))
            .unwrap()
            .set_len(cut)
            .unwrap();
        let torn = verify(work.path(), &mut |_, _| {}).unwrap();
        assert!(torn.is_ok(), "a torn tail is not corruption: {torn:?}");
        assert_eq!(torn.torn_tail_bytes, cut - before, "cut at {cut}");
        check_reopen(work.path(), &format!("cut at {cut}"));
    }
}

#[test]
fn flip_any_byte_of_the_last_transaction() {
    let base = tempfile::tempdir().unwrap();
    let (seg, before, full) = build(base.path());
    let rel = seg.strip_prefix(base.path()).unwrap().to_owned();
    for at in before..full {
        let work = tempfile::tempdir().unwrap();
        copy_dir(base.path(), work.path());
        std::fs::remove_dir_all(work.path().join("index")).unwrap();
        let path = work.path().join(&rel);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at as usize] ^= 0x5a;
        std::fs::write(&path, &bytes).unwrap();
        check_reopen(work.path(), &format!("flip at {at}"));
    }
}

#[test]
fn garbage_appended_after_the_last_transaction_is_cut() {
    let base = tempfile::tempdir().unwrap();
    let (seg, _, _) = build(base.path());
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &[0xAB; 1000]).unwrap();
    drop(f);
    let s = open(base.path());
    assert_eq!(s.head(), INTACT_HEAD + 2);
    assert_eq!(s.open_report().truncated_bytes, 1000);
}

#[test]
fn corruption_before_the_tail_is_never_served_and_verify_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), small_segments()).unwrap();
    for i in 0..40u64 {
        s.append(
            "blob",
            ExpectedRevision::Any,
            vec![ev("Blob", &vec![i as u8; 1000 * 1000])],
        )
        .unwrap();
    }
    drop(s);
    let segs = segment_files(dir.path());
    assert!(segs.len() >= 2);
    // Flip a byte inside the data of the second record of the first (sealed) segment.
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    let second = 32 + 1000 * 1000 + 76 + 4 + 1 + 16 + 500;
    bytes[second] ^= 1;
    std::fs::write(&segs[0], &bytes).unwrap();
    let report = verify(dir.path(), &mut |_, _| {}).unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.problems[0].file, segs[0]);
    // Opening reads the recent past to rebuild the dedupe window: with the
    // default window that includes the bad record, and opening fails loudly.
    assert!(matches!(
        Store::open(dir.path(), small_segments()),
        Err(Error::Corrupt { .. })
    ));
    // With a window that skips it, the store opens but never serves it.
    let s = Store::open(
        dir.path(),
        Options {
            dedupe_window_events: 5,
            ..small_segments()
        },
    )
    .unwrap();
    assert!(matches!(
        s.read_stream("blob", StreamFrom::Revision(1), Direction::Forwards, 1),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        s.read_all(AllFrom::Start, Direction::Forwards, 10, &Filter::default()),
        Err(Error::Corrupt { .. })
    ));
    // Intact records are still served.
    assert_eq!(
        s.read_stream("blob", StreamFrom::Revision(0), Direction::Forwards, 1)
            .unwrap()[0]
            .data[0],
        0
    );
    assert_eq!(
        s.read_stream("blob", StreamFrom::Revision(39), Direction::Forwards, 1)
            .unwrap()[0]
            .data[0],
        39
    );
}

#[test]
fn a_flipped_byte_followed_by_later_commits_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for i in 0..35u64 {
        s.append(
            "acked",
            ExpectedRevision::Any,
            vec![ev("E", format!("{{\"i\":{i}}}").as_bytes())],
        )
        .unwrap();
    }
    drop(s);
    let seg = segment_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    // Flip a byte in the data of roughly the 25th record: ten acknowledged
    // group commits follow it.
    let at = bytes.len() * 25 / 35;
    bytes[at] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    let report = verify(dir.path(), &mut |_, _| {}).unwrap();
    assert!(!report.is_ok(), "{report:?}");
    assert_eq!(report.torn_tail_bytes, 0);
    match Store::open(dir.path(), Options::default()) {
        Err(Error::Corrupt { file, .. }) => assert_eq!(file, seg),
        other => panic!("expected a corruption error, got {other:?}"),
    }
    // Nothing was cut: the file is as it was.
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
}

#[test]
fn a_segment_creation_torn_by_a_crash_is_not_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _, _) = build(dir.path());
    let s = open(dir.path());
    let head = s.head();
    drop(s);
    // The writer was creating the next segment when the power went: the
    // file exists, its header never reached the disk.
    for torn in [&b""[..], &b"STRATA"[..]] {
        let next = seg.with_file_name(format!("{:020}.seg", head + 1));
        std::fs::write(&next, torn).unwrap();
        let report = verify(dir.path(), &mut |_, _| {}).unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.torn_tail_bytes, torn.len() as u64);
        let s = open(dir.path());
        assert_eq!(s.head(), head);
        assert!(!next.exists(), "recovery removes the torn segment");
        drop(s);
    }
}
