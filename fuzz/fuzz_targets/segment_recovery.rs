//! Fuzz target: the segment scan used by recovery and `verify` must never
//! panic, whatever follows a valid segment header — garbage, truncated
//! records, valid records in the wrong order — and opening a store on such a
//! log must either succeed or fail with a typed error, never panic or serve
//! a record that does not check out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_storage::codec::{encode_segment_header, SegmentHeader};
use strata_storage::{verify, AllFrom, Direction, Filter, Options, Store};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    std::fs::create_dir_all(&log).expect("mkdir");
    let mut bytes = encode_segment_header(SegmentHeader {
        first_position: 1,
        generation: 0,
    })
    .to_vec();
    bytes.extend_from_slice(data);
    std::fs::write(log.join("00000000000000000001.seg"), &bytes).expect("write segment");
    let report = verify(dir.path(), &mut |_, _| {}).expect("verify runs");
    if let Ok(store) = Store::open(dir.path(), Options { dedupe_window_events: 16, ..Options::default() }) {
        // Whatever survived recovery reads back without error, up to the head.
        let page = store
            .read_all(AllFrom::Start, Direction::Forwards, 10_000, &Filter::default())
            .expect("recovered log reads back");
        assert_eq!(page.events.len() as u64, store.head().min(10_000));
        assert!(report.records >= store.head());
    }
});
