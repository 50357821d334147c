//! Quick probe of in-process append throughput and group-commit sizes:
//! `cargo run --release -p strata-storage --example append_probe -- THREADS BATCH SIZE SECONDS`.
use std::time::{Duration, Instant};
use strata_storage::*;

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (threads, batch, size, secs) = (a[0], a[1], a[2], a[3] as u64);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let store = &store;
            s.spawn(move || {
                let stream = format!("probe-{t}");
                while start.elapsed() < Duration::from_secs(secs) {
                    let evs = (0..batch)
                        .map(|_| NewEvent {
                            id: uuid::Uuid::new_v4(),
                            event_type: "Probe".into(),
                            content_type: "application/octet-stream".into(),
                            data: vec![1; size],
                            metadata: vec![],
                        })
                        .collect();
                    store.append(&stream, ExpectedRevision::Any, evs).unwrap();
                }
            });
        }
    });
    let el = start.elapsed().as_secs_f64();
    let w = store.writer_stats();
    println!(
        "{threads} threads, {batch}x{size}B: {:.0} events/s, {} groups, {:.1} events/group, {:.3} ms sync/group, sync {:.0}% of wall",
        w.events as f64 / el,
        w.groups,
        w.events as f64 / w.groups as f64,
        w.sync_nanos as f64 / w.groups as f64 / 1e6,
        w.sync_nanos as f64 / 1e9 / el * 100.0
    );
}
