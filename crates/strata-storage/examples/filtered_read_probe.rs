//! Filtered `$all` reads through the event-type and category indexes
//! versus a scan of the log: builds a log of EVENTS events (SIZE-byte
//! payloads, streams in 100 categories, 21 types, `Rare` 1% of the
//! events), then reads every `Rare` event, and every event of one
//! category, page by page (MAX_COUNT per page), both ways, forwards and
//! backwards, ROUNDS times each (warm page cache):
//! `cargo run --release -p strata-storage --example filtered_read_probe -- EVENTS MAX_COUNT ROUNDS SIZE`.
use std::time::{Duration, Instant};
use strata_storage::*;

fn read_all(s: &Store, f: &Filter, dir: Direction, max: usize, scan: bool) -> (usize, usize) {
    let (mut events, mut pages) = (0, 0);
    let mut from = match dir {
        Direction::Forwards => AllFrom::Start,
        Direction::Backwards => AllFrom::End,
    };
    loop {
        let page = match scan {
            true => s.read_all_by_scan(from, dir, max, f),
            false => s.read_all(from, dir, max, f),
        }
        .unwrap();
        events += page.events.len();
        pages += 1;
        if page.reached_end {
            return (events, pages);
        }
        from = match dir {
            Direction::Forwards => AllFrom::Position(page.scanned_to + 1),
            Direction::Backwards => AllFrom::Position(page.scanned_to - 1),
        };
    }
}

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (events, max, rounds, size) = (a[0], a[1], a[2], a[3]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let (threads, batch) = (4, 100);
    let t = Instant::now();
    std::thread::scope(|s| {
        for th in 0..threads {
            let store = &store;
            s.spawn(move || {
                for i in 0..events / threads / batch {
                    let n = (i * threads + th) * batch;
                    let stream = format!("cat{}-{}", (n / batch) % 100, n % 7);
                    let evs = (0..batch)
                        .map(|k| NewEvent {
                            id: uuid::Uuid::new_v4(),
                            event_type: match (n + k) % 100 {
                                0 => "Rare".to_owned(),
                                x => format!("T{}", x % 20),
                            },
                            content_type: "application/json".into(),
                            data: vec![b'x'; size],
                            metadata: vec![],
                        })
                        .collect();
                    store.append(&stream, ExpectedRevision::Any, evs).unwrap();
                }
            });
        }
    });
    while store.indexed_position() < store.head() {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "{} events written and indexed in {:.1} s",
        store.head(),
        t.elapsed().as_secs_f64()
    );
    let rare = Filter {
        event_types: vec!["Rare".into()],
        ..Filter::default()
    };
    let category = Filter {
        stream_prefixes: vec!["cat7-".into()],
        ..Filter::default()
    };
    for (name, f) in [("type Rare", &rare), ("category cat7", &category)] {
        for dir in [Direction::Forwards, Direction::Backwards] {
            let mut best = [f64::MAX; 2];
            let mut found = [(0, 0); 2];
            for _ in 0..rounds {
                for (i, scan) in [false, true].into_iter().enumerate() {
                    let t = Instant::now();
                    found[i] = read_all(&store, f, dir, max, scan);
                    best[i] = best[i].min(t.elapsed().as_secs_f64());
                }
            }
            assert_eq!(found[0].0, found[1].0, "the index and the scan disagree");
            println!(
                "{name} {dir:?}: {} events; index {:.1} ms ({} pages), scan {:.1} ms ({} pages): {:.0}x",
                found[0].0,
                best[0] * 1e3,
                found[0].1,
                best[1] * 1e3,
                found[1].1,
                best[1] / best[0]
            );
        }
    }
}
