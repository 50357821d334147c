//! The on-disk encoding of one event record and of a segment header.
//!
//! This module is pure: bytes in, bytes out, no I/O. `docs/FORMAT.md`
//! documents the same layout; keep the two in step.
//!
//! ```text
//! Event record (all integers little-endian)
//! offset size field
//!      0    4 record_len        total bytes of the record, this field to the trailer inclusive
//!      4    4 crc32             CRC-32 (IEEE) of bytes [0,4) ++ [8,record_len)
//!      8    1 kind              1 = event
//!      9    1 flags             0 (reserved)
//!     10    2 reserved          0
//!     12    4 batch_index       index of this record within its transaction, from 0
//!     16    4 batch_count       records in its transaction (>= 1)
//!     20    8 position          global position (>= 1)
//!     28    8 revision          stream revision (>= 0)
//!     36    8 created_micros    unix microseconds, i64, non-decreasing along the log
//!     44   16 event_id          UUID, RFC 4122 byte order
//!     60    8 commit_first      position of the first record of the group commit that wrote this one
//!     68    8 prev_position     global position of the stream's previous event, 0 if none
//!     76    4 reserved          0
//!     80    2 stream_len        u16
//!     82    1 type_len          u8
//!     83    1 content_type_len  u8
//!     84    4 data_len          u32
//!     88    4 metadata_len      u32
//!     92    . stream | type | content_type | data | metadata   (UTF-8 / raw bytes)
//! len-4     4 record_len        trailer, equal to the header's, for backward scans
//!
//! Segment header (32 bytes, at offset 0 of every segment file)
//!      0    8 magic             b"STRATASG"
//!      8    4 format_version    2
//!     12    4 generation        0 as the writer wrote it; n after the n-th scavenge rewrote it
//!     16    8 first_position    global position of the segment's first record
//!     24    4 reserved          0
//!     28    4 crc32             CRC-32 of bytes [0,28)
//! ```
//!
//! A transaction of N events is N consecutive records with `batch_index`
//! 0..N and the same `batch_count`; recovery keeps all of them or none.
//! `prev_position` chains each stream's events backwards, so the index
//! needs only every 64th revision of a stream (see `index.rs`). Links are
//! positions, never byte offsets: a scavenge rewrites a segment without
//! invalidating anything that points into it (`posmap.rs` maps positions to
//! offsets). A segment of generation > 0 may have gaps in its positions and
//! hold only part of a transaction: the rest was dropped for good.
//! `commit_first` lets recovery tell a torn last write (never acknowledged)
//! from damage to acknowledged data: a later group can only have been
//! written after the earlier one's fdatasync returned.

use crate::types::{Position, RecordedEvent, Revision};
use uuid::Uuid;

/// Bytes before the variable part of a record.
pub const RECORD_HEADER_BYTES: usize = 92;
/// Bytes of the trailing length.
pub const RECORD_TRAILER_BYTES: usize = 4;
/// Smallest possible record.
pub const MIN_RECORD_BYTES: usize = RECORD_HEADER_BYTES + RECORD_TRAILER_BYTES;
/// Largest possible record: one event of a maximal append.
pub const MAX_RECORD_BYTES: usize = crate::limits::MAX_APPEND_BYTES + MIN_RECORD_BYTES;
/// Record kind of an event.
pub const KIND_EVENT: u8 = 1;

/// Segment header size.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Segment magic.
pub const SEGMENT_MAGIC: &[u8; 8] = b"STRATASG";
/// Current format version.
pub const FORMAT_VERSION: u32 = 2;

/// Why bytes do not decode to a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the record needs; `needed` is the full record length
    /// when known from the header, else the header size.
    Incomplete {
        /// Total bytes the record needs.
        needed: usize,
    },
    /// The bytes are not a valid record.
    Invalid(&'static str),
}

/// A decoded record borrowing from the buffer it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Total encoded length.
    pub len: usize,
    /// Index within the transaction.
    pub batch_index: u32,
    /// Records in the transaction.
    pub batch_count: u32,
    /// Global position.
    pub position: Position,
    /// Stream revision.
    pub revision: Revision,
    /// Commit timestamp.
    pub created_micros: i64,
    /// Event id.
    pub id: Uuid,
    /// First position of the group commit that wrote this record.
    pub commit_first: Position,
    /// Global position of the stream's previous event, if any.
    pub prev: Option<Position>,
    /// Stream name.
    pub stream: &'a str,
    /// Event type.
    pub event_type: &'a str,
    /// Content type.
    pub content_type: &'a str,
    /// Data.
    pub data: &'a [u8],
    /// Metadata.
    pub metadata: &'a [u8],
}

impl RecordView<'_> {
    /// Copies the view into an owned event.
    pub fn to_event(&self) -> RecordedEvent {
        RecordedEvent {
            stream: self.stream.to_owned(),
            revision: self.revision,
            position: self.position,
            id: self.id,
            event_type: self.event_type.to_owned(),
            content_type: self.content_type.to_owned(),
            created_micros: self.created_micros,
            data: self.data.to_vec(),
            metadata: self.metadata.to_vec(),
        }
    }
}

/// The fields of a record to encode.
#[derive(Debug, Clone, Copy)]
pub struct RecordFields<'a> {
    /// Index within the transaction.
    pub batch_index: u32,
    /// Records in the transaction.
    pub batch_count: u32,
    /// Global position.
    pub position: Position,
    /// Stream revision.
    pub revision: Revision,
    /// Commit timestamp.
    pub created_micros: i64,
    /// Event id.
    pub id: Uuid,
    /// First position of the group commit that writes this record.
    pub commit_first: Position,
    /// Global position of the stream's previous event, if any.
    pub prev: Option<Position>,
    /// Stream name (at most `u16::MAX` bytes).
    pub stream: &'a str,
    /// Event type (at most 255 bytes).
    pub event_type: &'a str,
    /// Content type (at most 255 bytes).
    pub content_type: &'a str,
    /// Data.
    pub data: &'a [u8],
    /// Metadata.
    pub metadata: &'a [u8],
}

/// Encoded size of a record with these variable parts.
pub fn encoded_len(
    stream: usize,
    event_type: usize,
    content_type: usize,
    data: usize,
    metadata: usize,
) -> usize {
    MIN_RECORD_BYTES + stream + event_type + content_type + data + metadata
}

/// Appends the encoding of `r` to `out`. The caller has validated lengths.
pub fn encode_record(r: &RecordFields<'_>, out: &mut Vec<u8>) {
    let len = encoded_len(
        r.stream.len(),
        r.event_type.len(),
        r.content_type.len(),
        r.data.len(),
        r.metadata.len(),
    );
    debug_assert!(len <= u32::MAX as usize);
    let start = out.len();
    out.reserve(len);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]); // crc, patched below
    out.push(KIND_EVENT);
    out.push(0);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&r.batch_index.to_le_bytes());
    out.extend_from_slice(&r.batch_count.to_le_bytes());
    out.extend_from_slice(&r.position.to_le_bytes());
    out.extend_from_slice(&r.revision.to_le_bytes());
    out.extend_from_slice(&r.created_micros.to_le_bytes());
    out.extend_from_slice(r.id.as_bytes());
    out.extend_from_slice(&r.commit_first.to_le_bytes());
    out.extend_from_slice(&r.prev.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(r.stream.len() as u16).to_le_bytes());
    out.push(r.event_type.len() as u8);
    out.push(r.content_type.len() as u8);
    out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(r.metadata.len() as u32).to_le_bytes());
    out.extend_from_slice(r.stream.as_bytes());
    out.extend_from_slice(r.event_type.as_bytes());
    out.extend_from_slice(r.content_type.as_bytes());
    out.extend_from_slice(r.data);
    out.extend_from_slice(r.metadata);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    debug_assert_eq!(out.len() - start, len);
    let crc = record_crc(&out[start..start + len]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn record_crc(record: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&record[0..4]);
    h.update(&record[8..]);
    h.finalize()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Reads the length field of a record starting at `buf[0]`, if 4 bytes are there.
pub fn peek_len(buf: &[u8]) -> Option<usize> {
    (buf.len() >= 4).then(|| u32_at(buf, 0) as usize)
}

/// The length stored in the trailer of the record that ends where `before`
/// ends (its last [`RECORD_TRAILER_BYTES`] bytes), checked to be a possible
/// record length. Backward scans use it to find where that record starts.
pub fn trailer_len(before: &[u8]) -> Result<usize, DecodeError> {
    let Some(at) = before.len().checked_sub(RECORD_TRAILER_BYTES) else {
        return Err(DecodeError::Incomplete {
            needed: RECORD_TRAILER_BYTES,
        });
    };
    let len = u32_at(before, at) as usize;
    if !(MIN_RECORD_BYTES..=MAX_RECORD_BYTES).contains(&len) {
        return Err(DecodeError::Invalid("bad record trailer"));
    }
    Ok(len)
}

/// Decodes the record at the start of `buf`, checking its CRC and framing.
pub fn decode_record(buf: &[u8]) -> Result<RecordView<'_>, DecodeError> {
    if buf.len() < 8 {
        return Err(DecodeError::Incomplete {
            needed: RECORD_HEADER_BYTES,
        });
    }
    let len = u32_at(buf, 0) as usize;
    if len < MIN_RECORD_BYTES {
        return Err(DecodeError::Invalid("record length below minimum"));
    }
    if len > MAX_RECORD_BYTES {
        return Err(DecodeError::Invalid("record length above maximum"));
    }
    if buf.len() < len {
        return Err(DecodeError::Incomplete { needed: len });
    }
    let rec = &buf[..len];
    let crc = u32_at(rec, 4);
    if record_crc(rec) != crc {
        return Err(DecodeError::Invalid("checksum mismatch"));
    }
    if rec[8] != KIND_EVENT {
        return Err(DecodeError::Invalid("unknown record kind"));
    }
    if u32_at(rec, len - 4) as usize != len {
        return Err(DecodeError::Invalid("trailer length mismatch"));
    }
    let batch_index = u32_at(rec, 12);
    let batch_count = u32_at(rec, 16);
    if batch_count == 0 || batch_index >= batch_count {
        return Err(DecodeError::Invalid("bad batch index"));
    }
    let position = u64_at(rec, 20);
    if position == 0 {
        return Err(DecodeError::Invalid("position 0"));
    }
    let revision = u64_at(rec, 28);
    let created_micros = u64_at(rec, 36) as i64;
    let mut id = [0u8; 16];
    id.copy_from_slice(&rec[44..60]);
    let commit_first = u64_at(rec, 60);
    if commit_first == 0 || commit_first > position {
        return Err(DecodeError::Invalid("bad commit position"));
    }
    let pseg = u64_at(rec, 68);
    let prev = (pseg != 0).then_some(pseg);
    if pseg >= position {
        return Err(DecodeError::Invalid("previous event not before this one"));
    }
    let stream_len = u16_at(rec, 80) as usize;
    let type_len = rec[82] as usize;
    let ct_len = rec[83] as usize;
    let data_len = u32_at(rec, 84) as usize;
    let meta_len = u32_at(rec, 88) as usize;
    let var = stream_len
        .checked_add(type_len)
        .and_then(|v| v.checked_add(ct_len))
        .and_then(|v| v.checked_add(data_len))
        .and_then(|v| v.checked_add(meta_len));
    if var != Some(len - MIN_RECORD_BYTES) {
        return Err(DecodeError::Invalid("field lengths do not add up"));
    }
    let mut at = RECORD_HEADER_BYTES;
    let mut take = |n: usize| {
        let s = &rec[at..at + n];
        at += n;
        s
    };
    let stream = std::str::from_utf8(take(stream_len))
        .map_err(|_| DecodeError::Invalid("stream not UTF-8"))?;
    let event_type =
        std::str::from_utf8(take(type_len)).map_err(|_| DecodeError::Invalid("type not UTF-8"))?;
    let content_type = std::str::from_utf8(take(ct_len))
        .map_err(|_| DecodeError::Invalid("content type not UTF-8"))?;
    let data = take(data_len);
    let metadata = take(meta_len);
    Ok(RecordView {
        len,
        batch_index,
        batch_count,
        position,
        revision,
        created_micros,
        id: Uuid::from_bytes(id),
        commit_first,
        prev,
        stream,
        event_type,
        content_type,
        data,
        metadata,
    })
}

/// What a segment header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Global position of the segment's first record (as first written).
    pub first_position: Position,
    /// 0 as the writer wrote it; n after the n-th scavenge rewrote it.
    pub generation: u32,
}

/// Encodes a segment header.
pub fn encode_segment_header(h: SegmentHeader) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut b = [0u8; SEGMENT_HEADER_BYTES];
    b[0..8].copy_from_slice(SEGMENT_MAGIC);
    b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&h.generation.to_le_bytes());
    b[16..24].copy_from_slice(&h.first_position.to_le_bytes());
    let crc = crc32fast::hash(&b[0..28]);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Decodes a segment header.
pub fn decode_segment_header(h: &[u8]) -> Result<SegmentHeader, DecodeError> {
    if h.len() < SEGMENT_HEADER_BYTES {
        return Err(DecodeError::Incomplete {
            needed: SEGMENT_HEADER_BYTES,
        });
    }
    if &h[0..8] != SEGMENT_MAGIC {
        return Err(DecodeError::Invalid("bad segment magic"));
    }
    if crc32fast::hash(&h[0..28]) != u32_at(h, 28) {
        return Err(DecodeError::Invalid("segment header checksum mismatch"));
    }
    if u32_at(h, 8) != FORMAT_VERSION {
        return Err(DecodeError::Invalid(
            "unsupported segment format version (this Strata reads format 2)",
        ));
    }
    let first_position = u64_at(h, 16);
    if first_position == 0 {
        return Err(DecodeError::Invalid("segment first position 0"));
    }
    Ok(SegmentHeader {
        first_position,
        generation: u32_at(h, 12),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields<'a>(
        stream: &'a str,
        ty: &'a str,
        data: &'a [u8],
        meta: &'a [u8],
        pos: u64,
        rev: u64,
        ts: i64,
    ) -> RecordFields<'a> {
        RecordFields {
            batch_index: 0,
            batch_count: 1,
            position: pos,
            revision: rev,
            created_micros: ts,
            id: Uuid::from_u128(pos as u128 * 7919),
            commit_first: pos,
            prev: (pos > 1).then_some(pos - 1),
            stream,
            event_type: ty,
            content_type: "application/json",
            data,
            metadata: meta,
        }
    }

    proptest! {
        #[test]
        fn roundtrip(stream in "[a-zA-Z0-9_-]{1,40}", ty in "[a-zA-Z]{1,30}", data in proptest::collection::vec(any::<u8>(), 0..2048),
                     meta in proptest::collection::vec(any::<u8>(), 0..64), pos in 1u64.., rev in any::<u64>(), ts in any::<i64>()) {
            let mut buf = Vec::new();
            encode_record(&fields(&stream, &ty, &data, &meta, pos, rev, ts), &mut buf);
            let v = decode_record(&buf).unwrap();
            prop_assert_eq!(v.len, buf.len());
            prop_assert_eq!(v.stream, stream.as_str());
            prop_assert_eq!(v.event_type, ty.as_str());
            prop_assert_eq!(v.data, &data[..]);
            prop_assert_eq!(v.metadata, &meta[..]);
            prop_assert_eq!(v.position, pos);
            prop_assert_eq!(v.revision, rev);
            prop_assert_eq!(v.created_micros, ts);
        }

        #[test]
        fn any_single_bit_flip_is_detected(data in proptest::collection::vec(any::<u8>(), 0..512), bit in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            encode_record(&fields("order-1", "Placed", &data, b"m", 3, 2, 99), &mut buf);
            let i = bit.index(buf.len() * 8);
            buf[i / 8] ^= 1 << (i % 8);
            prop_assert!(decode_record(&buf).is_err());
        }

        #[test]
        fn truncation_is_incomplete_or_invalid(data in proptest::collection::vec(any::<u8>(), 0..512), cut in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            encode_record(&fields("s", "T", &data, b"", 1, 0, 0), &mut buf);
            let n = cut.index(buf.len());
            prop_assert!(decode_record(&buf[..n]).is_err());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_record(&bytes);
            let _ = decode_segment_header(&bytes);
        }
    }

    #[test]
    fn segment_header_roundtrip() {
        let want = SegmentHeader {
            first_position: 42,
            generation: 3,
        };
        let h = encode_segment_header(want);
        assert_eq!(decode_segment_header(&h).unwrap(), want);
        let mut bad = h;
        bad[17] ^= 1;
        assert!(decode_segment_header(&bad).is_err());
    }
}
