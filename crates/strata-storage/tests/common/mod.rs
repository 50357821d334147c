//! Helpers shared by the storage integration tests.
#![allow(dead_code)]

use strata_storage::{NewEvent, Options, Store};
use uuid::Uuid;

pub fn ev(ty: &str, data: &[u8]) -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: ty.to_owned(),
        content_type: "application/json".to_owned(),
        data: data.to_vec(),
        metadata: b"{}".to_vec(),
    }
}

pub fn evs(n: usize, ty: &str) -> Vec<NewEvent> {
    (0..n)
        .map(|i| ev(ty, format!("{{\"i\":{i}}}").as_bytes()))
        .collect()
}

pub fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, Options::default()).expect("open store")
}

pub fn small_segments() -> Options {
    Options {
        segment_max_bytes: strata_storage::limits::MIN_SEGMENT_MAX_BYTES,
        ..Options::default()
    }
}

/// A seed from STRATA_TEST_SEED or the clock, printed so failures can be replayed.
pub fn seed() -> u64 {
    let s = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed = {s} (rerun with STRATA_TEST_SEED={s})");
    s
}
