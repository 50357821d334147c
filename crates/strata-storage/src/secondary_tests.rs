//! Tests of the index (stream and secondary trees) that need the crate's
//! inside: the index rebuilt from the log equals the incrementally built
//! one byte for byte (over segment roll-overs, after a scavenge, and after
//! a crash that left
//! the index's `indexed_through` behind the blocks it had written), and
//! reads of events the indexer has not reached are served from the tail.
//! The behaviour seen through `Store` is in `tests/type_category_index.rs`.

use crate::index::Index;
use crate::limits::{DEFAULT_INDEX_CACHE_BYTES, MIN_SEGMENT_MAX_BYTES};
use crate::scavenge::{ScavengeOptions, ScavengeState};
use crate::store::{Options, Store};
use crate::types::*;
use std::path::Path;
use std::time::Duration;

fn ev(ty: &str) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::new_v4(),
        event_type: ty.to_owned(),
        content_type: "application/json".into(),
        data: b"{}".to_vec(),
        metadata: vec![],
    }
}

/// Every index entry, the index closed.
fn dump(dir: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    Index::open(&dir.join("index"), Some('-'), DEFAULT_INDEX_CACHE_BYTES)
        .unwrap()
        .dump()
}

/// Event `i` of the stream index's rebuild test: types T0..T2.
fn ev_n(i: u64) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::new_v4(),
        event_type: format!("T{}", i % 3),
        content_type: "application/json".into(),
        data: format!("{{\"i\":{i}}}").into_bytes(),
        metadata: vec![],
    }
}

fn secondary_entries(d: &[(String, Vec<u8>, Vec<u8>)]) -> usize {
    d.iter().filter(|(t, _, _)| t == "secondary").count()
}

/// A log over several blocks: many types and categories, deletes.
fn fill(s: &Store) {
    for i in 0..1_000u64 {
        let events = (0..(1 + i % 300))
            .map(|k| ev(&format!("T{}", (i + k) % 7)))
            .collect();
        let stream = match i % 5 {
            0 => format!("solo{}", i % 3),
            _ => format!("cat{}-{}", i % 13, i % 29),
        };
        s.append(&stream, ExpectedRevision::Any, events).unwrap();
    }
    assert!(s.head() > 2 * crate::secondary::BLOCK_POSITIONS);
    s.delete_stream("cat1-1", ExpectedRevision::Any, false)
        .unwrap();
    s.set_stream_metadata(
        "cat2-2",
        ExpectedRevision::Any,
        StreamMetadata {
            max_count: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
}

fn rebuilt(dir: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    std::fs::remove_dir_all(dir.join("index")).unwrap();
    let s = Store::open(dir, Options::default()).unwrap();
    assert_eq!(s.open_report().index_was_at, 0);
    drop(s);
    dump(dir)
}

#[test]
fn a_rebuilt_index_equals_the_incremental_one_also_after_a_scavenge() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    fill(&s);
    drop(s);
    let incremental = dump(dir.path());
    assert!(secondary_entries(&incremental) > 40);
    assert_eq!(rebuilt(dir.path()), incremental);

    let s = Store::open(dir.path(), Options::default()).unwrap();
    let before = s.list_event_types("", None, 100).unwrap();
    s.start_scavenge(ScavengeOptions::default()).unwrap();
    while s.scavenge_status().unwrap().state == ScavengeState::Running {
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = s.scavenge_status().unwrap();
    assert_eq!(st.state, ScavengeState::Completed, "{st:?}");
    assert!(st.records_dropped > 0);
    let after = s.list_event_types("", None, 100).unwrap();
    let total = |v: &[NameCount]| v.iter().map(|n| n.events).sum::<u64>();
    // Dropped records leave the counts ($$ records are in none).
    assert!(total(&after) < total(&before));
    drop(s);
    let scavenged = dump(dir.path());
    assert_eq!(rebuilt(dir.path()), scavenged);
}

#[test]
fn re_indexing_after_a_crash_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    fill(&s);
    drop(s);
    let original = dump(dir.path());
    // A crash after sled kept the blocks of later batches but not the
    // `indexed_through` that vouches for them: the open re-indexes them.
    for back_to in [0, 1, 70_000, 100_001] {
        let index = Index::open(
            &dir.path().join("index"),
            Some('-'),
            DEFAULT_INDEX_CACHE_BYTES,
        )
        .unwrap();
        index.set_indexed_through(back_to).unwrap();
        drop(index);
        let s = Store::open(dir.path(), Options::default()).unwrap();
        assert_eq!(s.open_report().index_was_at, back_to);
        drop(s);
        assert_eq!(dump(dir.path()), original, "re-indexed from {back_to}");
    }
}

#[test]
fn reads_take_what_the_indexer_has_not_reached_from_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    for i in 0..100u64 {
        let stream = format!("order-{}", i % 4);
        s.append(
            &stream,
            ExpectedRevision::Any,
            vec![ev("Placed"), ev("Other")],
        )
        .unwrap();
    }
    while s.indexed_position() < s.head() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let indexed = s.indexed_position();
    // The indexer cannot write while the lock is held.
    let sh = s.shared().clone();
    let held = sh.index.secondary().lock();
    for i in 0..100u64 {
        let stream = format!("order-{}", i % 4);
        s.append(
            &stream,
            ExpectedRevision::Any,
            vec![ev("Placed"), ev("Other")],
        )
        .unwrap();
    }
    assert_eq!(s.indexed_position(), indexed);
    let f = Filter {
        event_types: vec!["Placed".into()],
        ..Filter::default()
    };
    for dir in [Direction::Forwards, Direction::Backwards] {
        for from in [AllFrom::Start, AllFrom::End, AllFrom::Position(indexed)] {
            for max in [1, 7, 500] {
                let got = s.read_all(from, dir, max, &f).unwrap();
                let want = s.read_all_by_scan(from, dir, max, &f).unwrap();
                assert_eq!(got, want, "{from:?} {dir:?} {max}");
            }
        }
    }
    let all = s
        .read_all(AllFrom::Start, Direction::Forwards, 1000, &f)
        .unwrap();
    assert_eq!(all.events.len(), 200);
    assert!(all.events.iter().any(|e| e.position > indexed));
    drop(held);
    while s.indexed_position() < s.head() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let again = s
        .read_all(AllFrom::Start, Direction::Forwards, 1000, &f)
        .unwrap();
    assert_eq!(again, all);
}

#[test]
fn which_filters_the_indexes_serve() {
    use crate::by_index::plan;
    use crate::secondary::Kind;
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    for (stream, ty) in [
        ("order-1", "Placed"),
        ("order-2", "Placed"),
        ("user-1", "Rare"),
    ] {
        s.append(stream, ExpectedRevision::Any, vec![ev(ty)])
            .unwrap();
    }
    // The choice between two indexes goes by their counts in sled.
    while s.indexed_position() < s.head() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let sh = s.shared();
    let f = |types: &[&str], prefixes: &[&str], include_system: bool| Filter {
        event_types: types.iter().map(|t| t.to_string()).collect(),
        stream_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        include_system,
    };
    let kind = |f: Filter| plan(sh, &f).unwrap().map(|p| (p.kind, p.names));
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(kind(f(&[], &[], false)), None);
    assert_eq!(
        kind(f(&["B", "A", "B"], &[], false)),
        Some((Kind::EventType, names(&["A", "B"])))
    );
    // System records are in no index.
    assert_eq!(kind(f(&["A"], &[], true)), None);
    assert_eq!(
        kind(f(&[], &["order-", "order-eu-", "user-"], true)),
        Some((Kind::Category, names(&["order", "user"])))
    );
    assert_eq!(kind(f(&[], &["order-", "ord"], false)), None);
    assert_eq!(kind(f(&["A"], &["ord"], false)).unwrap().0, Kind::EventType);
    // Both usable: the one holding fewer events.
    assert_eq!(
        kind(f(&["Placed"], &["user-"], false)).unwrap().0,
        Kind::Category
    );
    assert_eq!(
        kind(f(&["Rare"], &["order-"], false)).unwrap().0,
        Kind::EventType
    );
}

#[test]
fn deleting_the_index_rebuilds_an_identical_one() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        segment_max_bytes: MIN_SEGMENT_MAX_BYTES,
        ..Options::default()
    };
    let s = Store::open(dir.path(), opts.clone()).unwrap();
    for i in 0..3000u64 {
        let n = 1 + (i % 4) as usize;
        let events: Vec<_> = (0..n as u64).map(ev_n).collect();
        s.append(&format!("stream-{}", i % 97), ExpectedRevision::Any, events)
            .unwrap();
    }
    for _ in 0..3 {
        s.append(
            "big",
            ExpectedRevision::Any,
            (0..15)
                .map(|_| NewEvent {
                    data: vec![7; 1 << 20],
                    ..ev_n(0)
                })
                .collect(),
        )
        .unwrap();
    }
    s.append("after-roll", ExpectedRevision::Any, vec![ev_n(1)])
        .unwrap();
    assert!(s.stats().unwrap().segments >= 2);
    let head = s.head();
    s.close().unwrap();
    drop(s);
    let original = dump(dir.path());
    assert!(!original.is_empty());
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let s = Store::open(dir.path(), opts).unwrap();
    assert_eq!(s.open_report().index_was_at, 0);
    assert_eq!(s.indexed_position(), head);
    drop(s);
    assert_eq!(dump(dir.path()), original);
}
