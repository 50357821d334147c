//! Scenario: long streams interleaved with others, read back over every
//! kind of range — from the in-memory tail, from sled's sparse revisions
//! through the per-stream chain of previous events, and across segments —
//! also with sled's page cache at its smallest (`Options::index_cache_bytes`).

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use strata_storage::*;

fn check_ranges(s: &Store, stream: &str, len: u64, rng: &mut impl Rng) {
    let all = s
        .read_stream(stream, StreamFrom::Start, Direction::Forwards, usize::MAX)
        .unwrap();
    assert_eq!(all.len() as u64, len);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.revision, i as u64);
        assert_eq!(e.data, format!("{stream}:{i}").into_bytes());
    }
    for _ in 0..200 {
        let from = rng.random_range(0..len + 3);
        let max = rng.random_range(1..150usize);
        let fwd = s
            .read_stream(stream, StreamFrom::Revision(from), Direction::Forwards, max)
            .unwrap();
        let want: Vec<u64> = (from..len).take(max).collect();
        assert_eq!(
            fwd.iter().map(|e| e.revision).collect::<Vec<_>>(),
            want,
            "fwd from {from} max {max}"
        );
        let back = s
            .read_stream(
                stream,
                StreamFrom::Revision(from),
                Direction::Backwards,
                max,
            )
            .unwrap();
        let top = from.min(len - 1);
        let want: Vec<u64> = (0..=top).rev().take(max).collect();
        assert_eq!(
            back.iter().map(|e| e.revision).collect::<Vec<_>>(),
            want,
            "back from {from} max {max}"
        );
    }
}

#[test]
fn interleaved_streams_read_back_over_every_range() {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let opts = small_segments();
    let s = Store::open(dir.path(), opts.clone()).unwrap();
    let names = ["hot", "warm", "cold"];
    let mut lens = [0u64; 3];
    for round in 0..700u64 {
        let k = match rng.random_range(0..10) {
            0..=5 => 0,
            6..=8 => 1,
            _ => 2,
        };
        let n = rng.random_range(1..4u64);
        let events = (0..n)
            .map(|j| ev("E", format!("{}:{}", names[k], lens[k] + j).as_bytes()))
            .collect();
        s.append(
            names[k],
            ExpectedRevision::Exact(lens[k].wrapping_sub(1)).max_if_new(lens[k]),
            events,
        )
        .unwrap();
        lens[k] += n;
        if round == 350 {
            // Big events to force a segment roll midway.
            for _ in 0..3 {
                s.append(
                    "filler",
                    ExpectedRevision::Any,
                    (0..15)
                        .map(|_| ev("Big", &vec![1u8; 1000 * 1000]))
                        .collect(),
                )
                .unwrap();
            }
        }
    }
    // Fresh: most revisions are still in the tail or just indexed.
    for (k, name) in names.iter().enumerate() {
        check_ranges(&s, name, lens[k], &mut rng);
    }
    drop(s);
    // Reopened: the tail is empty, everything goes through sled and the chains.
    let s = Store::open(dir.path(), opts).unwrap();
    assert!(s.stats().unwrap().segments >= 2);
    for (k, name) in names.iter().enumerate() {
        check_ranges(&s, name, lens[k], &mut rng);
    }
}

#[test]
fn a_store_with_the_smallest_index_cache_reads_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        index_cache_bytes: limits::MIN_INDEX_CACHE_BYTES,
        ..Options::default()
    };
    let s = Store::open(dir.path(), opts.clone()).unwrap();
    // Many streams and a few long ones, so the index spans more pages
    // than the cache holds.
    let streams = 500u64;
    let total = 5_000u64;
    for i in 0..total / 10 {
        let events = (0..10u64)
            .map(|j| {
                let n = i * 10 + j;
                ev("E", format!("s-{}:{}", n % streams, n / streams).as_bytes())
            })
            .collect();
        s.append(&format!("s-{}", i % streams), ExpectedRevision::Any, events)
            .unwrap();
    }
    drop(s);
    assert!(
        Store::open(
            dir.path(),
            Options {
                index_cache_bytes: limits::MIN_INDEX_CACHE_BYTES - 1,
                ..Options::default()
            }
        )
        .is_err(),
        "a cache below the minimum is refused"
    );
    // Reopened: every read goes through the index, not the tail.
    let s = Store::open(dir.path(), opts).unwrap();
    for k in 0..streams {
        let name = format!("s-{k}");
        let got = s
            .read_stream(&name, StreamFrom::Start, Direction::Forwards, usize::MAX)
            .unwrap();
        assert_eq!(got.len() as u64, total / streams, "{name}");
        for (r, e) in got.iter().enumerate() {
            assert_eq!(e.revision, r as u64);
            assert_eq!(e.stream, name);
        }
        let last = s
            .read_stream(&name, StreamFrom::End, Direction::Backwards, 1)
            .unwrap();
        assert_eq!(last[0].revision, total / streams - 1, "{name}");
    }
    let mut seen = 0u64;
    let mut from = AllFrom::Start;
    loop {
        let page = s
            .read_all(from, Direction::Forwards, 1_000, &Filter::default())
            .unwrap();
        for e in &page.events {
            seen += 1;
            assert_eq!(e.position, seen);
        }
        if page.events.is_empty() {
            break;
        }
        from = AllFrom::Position(page.scanned_to + 1);
    }
    assert_eq!(seen, total);
    let f = Filter {
        stream_prefixes: vec!["s-7".into()],
        ..Filter::default()
    };
    assert_eq!(
        s.read_all(AllFrom::Start, Direction::Forwards, 10_000, &f)
            .unwrap(),
        s.read_all_by_scan(AllFrom::Start, Direction::Forwards, 10_000, &f)
            .unwrap()
    );
}

trait MaxIfNew {
    fn max_if_new(self, len: u64) -> ExpectedRevision;
}

impl MaxIfNew for ExpectedRevision {
    /// `Exact(len - 1)`, or `NoStream` when the stream is still empty.
    fn max_if_new(self, len: u64) -> ExpectedRevision {
        if len == 0 {
            ExpectedRevision::NoStream
        } else {
            self
        }
    }
}
