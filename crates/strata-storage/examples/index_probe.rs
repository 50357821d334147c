//! Indexing throughput: appends EVENTS events in batches of BATCH from
//! THREADS threads (streams in 100 categories, 21 event types, one of them
//! 1% of the events), then times how long the indexer takes to reach the
//! head, and how fast a reopen rebuilds the deleted index from the log:
//! `cargo run --release -p strata-storage --example index_probe -- EVENTS THREADS BATCH`.
//! Uses only APIs older than the event-type and category indexes, so the
//! same file measures a build without them.
use std::time::{Duration, Instant};
use strata_storage::*;

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (events, threads, batch) = (a[0], a[1], a[2]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let per_thread = events / threads / batch;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let store = &store;
            s.spawn(move || {
                for i in 0..per_thread {
                    let n = (i * threads + t) * batch;
                    let stream = format!("cat{}-{}", n % 100, (n / 100) % 50);
                    let evs = (0..batch)
                        .map(|k| NewEvent {
                            id: uuid::Uuid::new_v4(),
                            event_type: match (n + k) % 100 {
                                0 => "Rare".to_owned(),
                                x => format!("T{}", x % 20),
                            },
                            content_type: "application/json".into(),
                            data: vec![b'x'; 100],
                            metadata: vec![],
                        })
                        .collect();
                    store.append(&stream, ExpectedRevision::Any, evs).unwrap();
                }
            });
        }
    });
    let appended = start.elapsed();
    let head = store.head();
    while store.indexed_position() < head {
        std::thread::sleep(Duration::from_millis(1));
    }
    let indexed = start.elapsed();
    println!(
        "{head} events: appended in {:.2} s ({:.0} events/s); indexed through the head {:.2} s after the first append ({:.0} events/s), {:.3} s after the last",
        appended.as_secs_f64(),
        head as f64 / appended.as_secs_f64(),
        indexed.as_secs_f64(),
        head as f64 / indexed.as_secs_f64(),
        (indexed - appended).as_secs_f64()
    );
    store.close().unwrap();
    drop(store);
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let t = Instant::now();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let rebuilt = t.elapsed();
    println!(
        "index rebuilt at open in {:.2} s ({:.0} events/s), index {} bytes on disk",
        rebuilt.as_secs_f64(),
        head as f64 / rebuilt.as_secs_f64(),
        store.stats().unwrap().index_bytes
    );
}
