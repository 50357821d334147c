//! Fuzz target: the record decoder must never panic on arbitrary bytes, and
//! whatever it accepts must re-encode to exactly the bytes it read (so a
//! record that passes the CRC is the record that was written).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_storage::codec::{decode_record, decode_segment_header, encode_record, RecordFields};

fuzz_target!(|data: &[u8]| {
    let _ = decode_segment_header(data);
    if let Ok(v) = decode_record(data) {
        let mut out = Vec::new();
        encode_record(
            &RecordFields {
                batch_index: v.batch_index,
                batch_count: v.batch_count,
                position: v.position,
                revision: v.revision,
                created_micros: v.created_micros,
                id: v.id,
                commit_first: v.commit_first,
                prev: v.prev,
                stream: v.stream,
                event_type: v.event_type,
                content_type: v.content_type,
                data: v.data,
                metadata: v.metadata,
            },
            &mut out,
        );
        assert_eq!(&out[..], &data[..v.len], "decoded record does not re-encode to its bytes");
    }
});
