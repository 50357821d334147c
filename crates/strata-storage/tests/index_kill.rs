//! Scenario: `kill -9` while the indexer is writing the event-type and
//! category indexes. A child process appends from several threads (many
//! types and categories, so every indexer batch touches many blocks); the
//! parent SIGKILLs it at random moments, reopens the store (which re-indexes
//! from the index's `indexed_through`), and checks that every filtered
//! read through the indexes equals the same read by a scan, and that the
//! listings count what the log holds: nothing lost, nothing counted twice.

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use strata_storage::*;

const CHILD_ENV: &str = "STRATA_INDEX_KILL_TEST_DIR";

/// The child's body: runs only when the parent starts this binary with
/// `CHILD_ENV` set; as a plain test it is skipped by `#[ignore]`.
#[test]
#[ignore = "entry point of index_kill's child process, started by the parent test"]
fn index_kill_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let s = Store::open(&dir, Options::default()).unwrap();
    println!("OPEN");
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let stream = format!("c{}-{}", (i + t) % 37, i % 11);
                    let events = (0..10)
                        .map(|k| ev(&format!("T{}", (i * 10 + k) % 101), b"{}"))
                        .collect();
                    let _ = s.append(&stream, ExpectedRevision::Any, events);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn all(s: &Store, f: &Filter, scan: bool) -> Vec<u64> {
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let page = match scan {
            true => s.read_all_by_scan(AllFrom::Position(from), Direction::Forwards, 5_000, f),
            false => s.read_all(AllFrom::Position(from), Direction::Forwards, 5_000, f),
        }
        .unwrap();
        out.extend(page.events.iter().map(|e| e.position));
        if page.reached_end {
            return out;
        }
        from = page.scanned_to + 1;
    }
}

#[test]
fn a_kill_during_indexing_loses_nothing() {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "index_kill_child_entry",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            match lines.next() {
                // libtest prints it after the test's name, on one line.
                Some(Ok(l)) if l.ends_with("OPEN") => break,
                Some(Ok(_)) => continue,
                _ => break,
            }
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(100..600)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let s = open(dir.path());
        let head = s.head();
        assert!(head > 0, "seed {seed} round {round}: nothing was written");
        // Counts from the log itself.
        let (mut types, mut cats) = (BTreeMap::new(), BTreeMap::new());
        let mut from = 1;
        loop {
            let page = s.read_log(from, 10_000).unwrap();
            for e in &page.events {
                *types.entry(e.event_type.clone()).or_insert(0u64) += 1;
                let c = e.stream.split('-').next().unwrap().to_owned();
                *cats.entry(c).or_insert(0u64) += 1;
            }
            if page.reached_end {
                break;
            }
            from = page.scanned_to + 1;
        }
        let listed = |v: Vec<NameCount>| -> BTreeMap<String, u64> {
            v.into_iter().map(|n| (n.name, n.events)).collect()
        };
        assert_eq!(
            listed(s.list_event_types("", None, 1000).unwrap()),
            types,
            "seed {seed} round {round}"
        );
        assert_eq!(
            listed(s.list_categories("", None, 1000).unwrap()),
            cats,
            "seed {seed} round {round}"
        );
        for _ in 0..5 {
            let f = Filter {
                event_types: vec![format!("T{}", rng.random_range(0..101))],
                ..Filter::default()
            };
            let got = all(&s, &f, false);
            assert_eq!(
                got.len() as u64,
                types[&f.event_types[0]],
                "seed {seed} round {round}"
            );
            assert_eq!(got, all(&s, &f, true), "seed {seed} round {round}: {f:?}");
            let f = Filter {
                stream_prefixes: vec![format!("c{}-", rng.random_range(0..37))],
                ..Filter::default()
            };
            assert_eq!(
                all(&s, &f, false),
                all(&s, &f, true),
                "seed {seed} round {round}: {f:?}"
            );
        }
        eprintln!("round {round}: head {head}, {} types", types.len());
    }
}
