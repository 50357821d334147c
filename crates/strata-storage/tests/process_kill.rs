//! Scenario: `kill -9` while appending. A child process appends in a loop
//! from several threads and prints every acknowledged append; the parent
//! SIGKILLs it at random moments, reopens the store, and checks that every
//! acknowledged event is there, once, in order, with gapless revisions and
//! positions, and that `verify` passes.

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_storage::*;

const CHILD_ENV: &str = "STRATA_KILL_TEST_DIR";

/// The child's body: runs only when the parent starts this binary with
/// `CHILD_ENV` set; as a plain test it is skipped by `#[ignore]`.
#[test]
#[ignore = "entry point of process_kill's child process, started by the parent test"]
fn kill_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let s = Store::open(&dir, Options::default()).unwrap();
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let stream = format!("s-{t}-{}", i % 3);
                    let n = 1 + (i % 3) as usize;
                    let events = evs(n, "K");
                    if let Ok(r) = s.append(&stream, ExpectedRevision::Any, events.clone()) {
                        let mut o = out.lock().unwrap();
                        for (k, e) in events.iter().enumerate() {
                            writeln!(
                                o,
                                "ACK {stream} {} {} {}",
                                r.first_revision + k as u64,
                                r.first_position + k as u64,
                                e.id
                            )
                            .unwrap();
                        }
                        o.flush().unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // (stream, revision) -> (position, id)
    let mut acked: HashMap<(String, u64), (u64, String)> = HashMap::new();
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill_child_entry",
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
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("ACK ") {
                    l2.lock().unwrap().push(line);
                }
            }
        });
        // Let it get going, then kill at a random moment.
        let start = Instant::now();
        while lines.lock().unwrap().is_empty() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(20..300)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let lines = lines.lock().unwrap();
        assert!(
            !lines.is_empty(),
            "round {round}: the child acknowledged nothing"
        );
        for line in lines.iter() {
            let p: Vec<&str> = line.split(' ').collect();
            acked.insert(
                (p[1].to_owned(), p[2].parse().unwrap()),
                (p[3].parse().unwrap(), p[4].to_owned()),
            );
        }

        let s = open(dir.path());
        let mut streams: HashMap<&str, Vec<RecordedEvent>> = HashMap::new();
        for ((stream, rev), (pos, id)) in &acked {
            let events = streams.entry(stream.as_str()).or_insert_with(|| {
                s.read_stream(stream, StreamFrom::Start, Direction::Forwards, usize::MAX)
                    .unwrap()
            });
            let e = events
                .get(*rev as usize)
                .unwrap_or_else(|| panic!("round {round}: {stream}@{rev} missing"));
            assert_eq!(
                (&e.id.to_string(), e.position, e.revision),
                (id, *pos, *rev),
                "round {round}: {stream}@{rev}"
            );
        }
        // $all is gapless 1..=head and every stream's revisions are contiguous.
        let mut next = 1;
        let mut revs: HashMap<String, u64> = HashMap::new();
        loop {
            let page = s
                .read_all(
                    AllFrom::Position(next),
                    Direction::Forwards,
                    10_000,
                    &Filter::default(),
                )
                .unwrap();
            for e in &page.events {
                assert_eq!(e.position, next);
                next += 1;
                let r = revs.entry(e.stream.clone()).or_insert(0);
                assert_eq!(e.revision, *r, "revision gap in {}", e.stream);
                *r += 1;
            }
            if page.reached_end {
                break;
            }
        }
        assert_eq!(next - 1, s.head());
        drop(s);
        let report = verify(dir.path(), &mut |_, _| {}).unwrap();
        assert!(report.is_ok(), "round {round}: {report:?}");
        eprintln!(
            "round {round}: {} acknowledged so far, head {}",
            acked.len(),
            next - 1
        );
    }
}
