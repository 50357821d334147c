//! Criterion benches of the storage engine, in-process, fsync on.
//!
//! - `codec/*`: encode and decode one record.
//! - `append/<threads>t/<batch>x<size>B`: durable appends by N concurrent
//!   appenders, each to its own stream, throughput in events.
//! - `read/all_256B`: sequential `$all` reads of 256-byte events.
//! - `read/stream_1KiB`: forward read of a 10,000-event stream.
//! - `open/<N>_events`: reopening a store with an up-to-date index
//!   (N from `STRATA_BENCH_OPEN_EVENTS`, default 1,000,000).
//!
//! Run: `cargo bench -p strata-storage --bench storage` (see docs/BENCHMARKS.md).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};
use strata_storage::codec::{decode_record, encode_record, RecordFields};
use strata_storage::*;
use uuid::Uuid;

fn events(n: usize, size: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|_| NewEvent {
            id: Uuid::new_v4(),
            event_type: "BenchEvent".into(),
            content_type: "application/octet-stream".into(),
            data: vec![0x42; size],
            metadata: Vec::new(),
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let data = vec![7u8; 1024];
    let fields = RecordFields {
        batch_index: 0,
        batch_count: 1,
        position: 42,
        revision: 7,
        created_micros: 1,
        id: Uuid::new_v4(),
        commit_first: 40,
        prev: Some(1),
        stream: "order-12345",
        event_type: "OrderPlaced",
        content_type: "application/json",
        data: &data,
        metadata: b"{}",
    };
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode_1KiB", |b| {
        let mut buf = Vec::with_capacity(2048);
        b.iter(|| {
            buf.clear();
            encode_record(&fields, &mut buf);
        })
    });
    let mut buf = Vec::new();
    encode_record(&fields, &mut buf);
    g.bench_function("decode_1KiB", |b| {
        b.iter(|| decode_record(&buf).unwrap().position)
    });
    g.finish();
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.measurement_time(Duration::from_secs(4)).sample_size(10);
    for threads in [1usize, 64] {
        for (batch, size) in [
            (1usize, 100usize),
            (1, 1024),
            (10, 100),
            (10, 1024),
            (100, 100),
            (100, 1024),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), Options::default()).unwrap();
            let payload: Vec<Vec<NewEvent>> = (0..threads).map(|_| events(batch, size)).collect();
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(
                BenchmarkId::new(format!("{threads}t"), format!("{batch}x{size}B")),
                |b| {
                    b.iter_custom(|iters| {
                        let per_thread = iters.div_ceil(threads as u64);
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for (t, template) in payload.iter().enumerate() {
                                let store = &store;
                                s.spawn(move || {
                                    let stream = format!("bench-{t}");
                                    for _ in 0..per_thread {
                                        let evs = template
                                            .iter()
                                            .map(|e| NewEvent {
                                                id: Uuid::new_v4(),
                                                ..e.clone()
                                            })
                                            .collect();
                                        store.append(&stream, ExpectedRevision::Any, evs).unwrap();
                                    }
                                });
                            }
                        });
                        // Scale to the requested iteration count.
                        start
                            .elapsed()
                            .mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
                    })
                },
            );
        }
    }
    g.finish();
}

fn fill(store: &Store, stream_count: usize, total: usize, size: usize) {
    let mut done = 0;
    let mut i = 0;
    while done < total {
        let n = 100.min(total - done);
        store
            .append(
                &format!("s-{}", i % stream_count),
                ExpectedRevision::Any,
                events(n, size),
            )
            .unwrap();
        done += n;
        i += 1;
    }
}

fn read(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    g.measurement_time(Duration::from_secs(4)).sample_size(10);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let total = 1_000_000;
    fill(&store, 1000, total, 256);
    let page = MAX_SCAN_EVENTS_PER_READ;
    g.throughput(Throughput::Elements(page as u64));
    let mut from = 1u64;
    g.bench_function("all_256B", |b| {
        b.iter(|| {
            let p = store
                .read_all(
                    AllFrom::Position(from),
                    Direction::Forwards,
                    page,
                    &Filter::default(),
                )
                .unwrap();
            from = if p.reached_end { 1 } else { p.scanned_to + 1 };
            p.events.len()
        })
    });
    store
        .append("one-stream", ExpectedRevision::Any, events(10, 1024))
        .unwrap();
    for _ in 0..999 {
        store
            .append("one-stream", ExpectedRevision::Any, events(10, 1024))
            .unwrap();
    }
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("stream_1KiB", |b| {
        b.iter(|| {
            store
                .read_stream("one-stream", StreamFrom::Start, Direction::Forwards, 10_000)
                .unwrap()
                .len()
        })
    });
    g.finish();
}

fn open(c: &mut Criterion) {
    let n: usize = std::env::var("STRATA_BENCH_OPEN_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), Options::default()).unwrap();
        fill(&store, 10_000, n, 256);
        store.close().unwrap();
    }
    let mut g = c.benchmark_group("open");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function(format!("{n}_events"), |b| {
        b.iter(|| {
            let s = Store::open(dir.path(), Options::default()).unwrap();
            let h = s.head();
            drop(s);
            h
        })
    });
    g.finish();
}

criterion_group!(benches, codec, append, read, open);
criterion_main!(benches);
