//! Scenario: many threads race on the same stream with exact expected
//! revisions. Exactly one writer wins each revision; every loser gets the
//! conflict error naming the actual revision; nothing is lost or doubled.

mod common;
use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use strata_storage::*;

#[test]
fn one_winner_per_revision() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let wins = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (s, wins, conflicts) = (s.clone(), wins.clone(), conflicts.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let expected = match s.stream_revision("contended").unwrap() {
                        CurrentRevision::NoStream => ExpectedRevision::NoStream,
                        CurrentRevision::Current(r) => ExpectedRevision::Exact(r),
                    };
                    match s.append("contended", expected, evs(1, "T")) {
                        Ok(r) => {
                            assert!(!r.deduplicated);
                            if let ExpectedRevision::Exact(e) = expected {
                                assert_eq!(r.first_revision, e + 1);
                            }
                            wins.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::WrongExpectedRevision { stream, actual, .. }) => {
                            assert_eq!(stream, "contended");
                            assert!(
                                actual != CurrentRevision::NoStream
                                    || expected != ExpectedRevision::NoStream
                            );
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("unexpected error {e}"),
                    }
                    // Independent streams never conflict.
                    s.append(
                        &format!("own-{:?}", std::thread::current().id()),
                        ExpectedRevision::Any,
                        evs(1, "U"),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let wins = wins.load(Ordering::Relaxed);
    assert_eq!(wins + conflicts.load(Ordering::Relaxed), 8 * 200);
    let events = s
        .read_stream("contended", StreamFrom::Start, Direction::Forwards, 10_000)
        .unwrap();
    assert_eq!(events.len() as u64, wins);
    assert!(events
        .iter()
        .enumerate()
        .all(|(i, e)| e.revision == i as u64));
    assert_eq!(s.head(), wins + 8 * 200);
}

#[test]
fn concurrent_transactions_over_shared_streams_stay_consistent() {
    // Transfers between accounts with exact revisions: conflicting
    // transactions fail whole; the log stays gapless and per-stream contiguous.
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for a in 0..4 {
        s.append(
            &format!("acct-{a}"),
            ExpectedRevision::NoStream,
            evs(1, "Opened"),
        )
        .unwrap();
    }
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..100u64 {
                    let (a, b) = ((t + i) % 4, (t + i + 1) % 4);
                    let rev = |n: u64| match s.stream_revision(&format!("acct-{n}")).unwrap() {
                        CurrentRevision::Current(r) => ExpectedRevision::Exact(r),
                        CurrentRevision::NoStream => unreachable!(),
                    };
                    let tx = vec![
                        StreamAppend {
                            stream: format!("acct-{a}"),
                            expected: rev(a),
                            events: evs(1, "Debited"),
                        },
                        StreamAppend {
                            stream: format!("acct-{b}"),
                            expected: rev(b),
                            events: evs(1, "Credited"),
                        },
                    ];
                    match s.append_multi(tx) {
                        Ok(r) => assert_eq!(r[1].first_position, r[0].last_position + 1),
                        Err(Error::WrongExpectedRevision { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut debits = 0;
    let mut credits = 0;
    for a in 0..4 {
        let ev = s
            .read_stream(
                &format!("acct-{a}"),
                StreamFrom::Start,
                Direction::Forwards,
                100_000,
            )
            .unwrap();
        assert!(ev.iter().enumerate().all(|(i, e)| e.revision == i as u64));
        debits += ev.iter().filter(|e| e.event_type == "Debited").count();
        credits += ev.iter().filter(|e| e.event_type == "Credited").count();
    }
    assert_eq!(debits, credits, "a transaction was half-applied");
}
