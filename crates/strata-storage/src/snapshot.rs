//! Snapshots stored beside streams, in their own sled database
//! (`<data-dir>/snapshots/`), separate from the derived stream index: the
//! index may be deleted and rebuilt from the log, snapshots may not.
//!
//! A save is acknowledged only after `sled::Db::flush` (which fsyncs sled's
//! log), so an acknowledged snapshot survives `kill -9`. Each value carries
//! its own CRC-32 so a damaged snapshot is reported as corrupt rather than
//! served; callers fall back to replaying the stream.
//!
//! ```text
//! key:   stream name | 0x00 | revision u64 BE
//! value: offset size field
//!             0    4 crc32            CRC-32 of bytes [4, len)
//!             4    8 created_micros   i64 LE
//!            12    4 schema_version   u32 LE
//!            16    2 type_len         u16 LE
//!            18    . type             UTF-8
//!             .    4 data_len         u32 LE
//!             .    . data
//!             .    4 metadata_len     u32 LE
//!             .    . metadata
//! ```

use crate::error::{Error, Result};
use crate::types::Revision;
use std::path::{Path, PathBuf};

pub use crate::limits::{DEFAULT_SNAPSHOTS_PER_STREAM, MAX_SNAPSHOT_BYTES};

/// A snapshot of a stream's state at a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream.
    pub stream: String,
    /// The stream revision the state includes (events 0..=revision applied).
    pub revision: Revision,
    /// What kind of state this is, e.g. `OrderAggregate`.
    pub snapshot_type: String,
    /// The schema version of `data`, chosen by the application.
    pub schema_version: u32,
    /// The serialized state.
    pub data: Vec<u8>,
    /// Free-form metadata.
    pub metadata: Vec<u8>,
    /// When it was saved, unix microseconds (set by the store).
    pub created_micros: i64,
}

/// Checks what can be checked of a snapshot without the stream: its size
/// and type. (Whether the stream has its revision is the store's check.)
pub(crate) fn check(s: &Snapshot) -> Result<()> {
    crate::validate::validate_stream_name(&s.stream)?;
    let size = s.data.len() + s.metadata.len();
    if size > MAX_SNAPSHOT_BYTES {
        return Err(Error::SnapshotTooLarge {
            size_bytes: size,
            limit_bytes: MAX_SNAPSHOT_BYTES,
        });
    }
    if s.snapshot_type.len() > crate::limits::MAX_TYPE_NAME_BYTES {
        return Err(Error::InvalidEvent("snapshot type over 255 bytes".into()));
    }
    Ok(())
}

fn key(stream: &str, rev: Revision) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 9);
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k.extend_from_slice(&rev.to_be_bytes());
    k
}

fn encode(s: &Snapshot) -> Vec<u8> {
    let mut v = Vec::with_capacity(30 + s.snapshot_type.len() + s.data.len() + s.metadata.len());
    v.extend_from_slice(&[0u8; 4]);
    v.extend_from_slice(&s.created_micros.to_le_bytes());
    v.extend_from_slice(&s.schema_version.to_le_bytes());
    v.extend_from_slice(&(s.snapshot_type.len() as u16).to_le_bytes());
    v.extend_from_slice(s.snapshot_type.as_bytes());
    v.extend_from_slice(&(s.data.len() as u32).to_le_bytes());
    v.extend_from_slice(&s.data);
    v.extend_from_slice(&(s.metadata.len() as u32).to_le_bytes());
    v.extend_from_slice(&s.metadata);
    let crc = crc32fast::hash(&v[4..]);
    v[0..4].copy_from_slice(&crc.to_le_bytes());
    v
}

fn decode(stream: &str, rev: Revision, v: &[u8]) -> std::result::Result<Snapshot, &'static str> {
    let take = |at: &mut usize, n: usize| -> std::result::Result<&[u8], &'static str> {
        let s = v.get(*at..*at + n).ok_or("truncated")?;
        *at += n;
        Ok(s)
    };
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let mut at = 0;
    let crc = u32_of(take(&mut at, 4)?);
    if crc32fast::hash(&v[4..]) != crc {
        return Err("checksum mismatch");
    }
    let created = i64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8 bytes"));
    let schema_version = u32_of(take(&mut at, 4)?);
    let tlen = u16::from_le_bytes(take(&mut at, 2)?.try_into().expect("2 bytes")) as usize;
    let ty = std::str::from_utf8(take(&mut at, tlen)?)
        .map_err(|_| "type not UTF-8")?
        .to_owned();
    let dlen = u32_of(take(&mut at, 4)?) as usize;
    let data = take(&mut at, dlen)?.to_vec();
    let mlen = u32_of(take(&mut at, 4)?) as usize;
    let metadata = take(&mut at, mlen)?.to_vec();
    if at != v.len() {
        return Err("trailing bytes");
    }
    Ok(Snapshot {
        stream: stream.to_owned(),
        revision: rev,
        snapshot_type: ty,
        schema_version,
        data,
        metadata,
        created_micros: created,
    })
}

#[derive(Debug, Clone)]
pub(crate) struct SnapshotStore {
    db: sled::Db,
    path: PathBuf,
    keep: usize,
}

impl SnapshotStore {
    pub(crate) fn open(path: &Path, keep: usize) -> Result<SnapshotStore> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(crate::limits::SNAPSHOT_CACHE_BYTES)
            .open()?;
        Ok(SnapshotStore {
            db,
            path: path.to_owned(),
            keep: keep.max(1),
        })
    }

    /// Stores a snapshot durably and drops the oldest beyond the per-stream limit.
    pub(crate) fn save(&self, s: &Snapshot) -> Result<()> {
        self.db.insert(key(&s.stream, s.revision), encode(s))?;
        let mut prefix = s.stream.as_bytes().to_vec();
        prefix.push(0);
        let keys: Vec<sled::IVec> = self
            .db
            .scan_prefix(&prefix)
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        if keys.len() > self.keep {
            for k in &keys[..keys.len() - self.keep] {
                self.db.remove(k)?;
            }
        }
        self.db.flush()?;
        Ok(())
    }

    /// The newest snapshot at or before `at_or_before` (any revision if `None`).
    pub(crate) fn get(
        &self,
        stream: &str,
        at_or_before: Option<Revision>,
    ) -> Result<Option<Snapshot>> {
        let lo = key(stream, 0);
        let hi = key(stream, at_or_before.unwrap_or(u64::MAX));
        let Some(r) = self.db.range(lo..=hi).next_back() else {
            return Ok(None);
        };
        let (k, v) = r?;
        let rev = u64::from_be_bytes(k[k.len() - 8..].try_into().expect("8 bytes"));
        decode(stream, rev, &v)
            .map(Some)
            .map_err(|reason| Error::Corrupt {
                file: self.path.clone(),
                offset: rev,
                reason: format!("snapshot of '{stream}' at revision {rev}: {reason}"),
            })
    }

    /// (count, bytes of values).
    pub(crate) fn stats(&self) -> (u64, u64) {
        let mut n = 0;
        let mut bytes = 0;
        for (_, v) in self.db.iter().flatten() {
            n += 1;
            bytes += v.len() as u64;
        }
        (n, bytes)
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Test hook: damage a stored snapshot's bytes in place.
    #[cfg(test)]
    pub(crate) fn corrupt_for_test(&self, stream: &str, rev: Revision) {
        let k = key(stream, rev);
        let mut v = self.db.get(&k).unwrap().unwrap().to_vec();
        let last = v.len() - 1;
        v[last] ^= 0xff;
        self.db.insert(k, v).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn value_roundtrip(ty in "[A-Za-z]{0,20}", data in proptest::collection::vec(any::<u8>(), 0..300),
                           meta in proptest::collection::vec(any::<u8>(), 0..30), v in any::<u32>(), ts in any::<i64>(), rev in any::<u64>()) {
            let s = Snapshot { stream: "s".into(), revision: rev, snapshot_type: ty, schema_version: v, data, metadata: meta, created_micros: ts };
            prop_assert_eq!(decode("s", rev, &encode(&s)).unwrap(), s);
        }

        #[test]
        fn any_flip_is_detected(data in proptest::collection::vec(any::<u8>(), 1..100), i in any::<prop::sample::Index>()) {
            let s = Snapshot { stream: "s".into(), revision: 1, snapshot_type: "T".into(), schema_version: 1, data, metadata: vec![], created_micros: 5 };
            let mut b = encode(&s);
            let at = i.index(b.len());
            b[at] ^= 0x10;
            prop_assert!(decode("s", 1, &b).is_err());
        }
    }

    #[test]
    fn keeps_the_latest_and_finds_at_or_before() {
        let dir = tempfile::tempdir().unwrap();
        let st = SnapshotStore::open(dir.path(), 2).unwrap();
        for rev in [10u64, 20, 30] {
            let s = Snapshot {
                stream: "a".into(),
                revision: rev,
                snapshot_type: "T".into(),
                schema_version: 1,
                data: vec![rev as u8],
                metadata: vec![],
                created_micros: 0,
            };
            st.save(&s).unwrap();
        }
        assert_eq!(st.get("a", None).unwrap().unwrap().revision, 30);
        assert_eq!(st.get("a", Some(25)).unwrap().unwrap().revision, 20);
        assert!(
            st.get("a", Some(15)).unwrap().is_none(),
            "revision 10 was dropped (keep 2)"
        );
        assert!(st.get("ab", None).unwrap().is_none());
        st.corrupt_for_test("a", 30);
        assert!(matches!(st.get("a", None), Err(Error::Corrupt { .. })));
        assert_eq!(st.stats().0, 2);
    }
}
