//! Snapshots stored beside streams as plain files under
//! `<data-dir>/snapshots/`, separate from the derived stream index: the
//! index may be deleted and rebuilt from the log, snapshots may not (they
//! are the application's cached state, not log records).
//!
//! Files rather than an embedded database so that removing a snapshot
//! removes its bytes: after a stream is deleted and scavenged, nothing of
//! its state remains in the data directory (an embedded log-structured
//! database keeps old values in its segments until it compacts them).
//!
//! ```text
//! snapshots/<stream dir>/<revision, 20 digits>.snap
//!   stream dir: the stream name in lowercase hex if it is at most 100 bytes,
//!               else the hex of its first 64 bytes, '-', and the hex FNV-1a-64
//!               of the whole name (file names are limited to 255 bytes)
//!
//! file: offset size field
//!            0    4 crc32            CRC-32 of bytes [4, len)
//!            4    8 created_micros   i64 LE
//!           12    4 schema_version   u32 LE
//!           16    2 stream_len       u16 LE
//!           18    . stream           UTF-8 (must be the stream asked for)
//!            .    2 type_len         u16 LE
//!            .    . type             UTF-8
//!            .    4 data_len         u32 LE
//!            .    . data
//!            .    4 metadata_len     u32 LE
//!            .    . metadata
//! ```
//!
//! A save writes `<revision>.snap.tmp`, fsyncs it, renames it into place
//! and fsyncs the directory (and the stream directory's parent when it was
//! created), so an acknowledged snapshot survives a crash or power loss.
//! Each file carries its own CRC-32: a damaged snapshot is reported as
//! corrupt rather than served, and callers fall back to replaying.

use crate::error::{Error, Result};
use crate::segment::fsync_dir;
use crate::types::Revision;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use crate::limits::{DEFAULT_SNAPSHOTS_PER_STREAM, MAX_SNAPSHOT_BYTES};

const SUFFIX: &str = ".snap";
/// Longest stream name (bytes) kept whole in its directory's name.
const WHOLE_NAME_BYTES: usize = 100;

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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The directory name of a stream's snapshots.
fn stream_dir_name(stream: &str) -> String {
    let b = stream.as_bytes();
    if b.len() <= WHOLE_NAME_BYTES {
        hex(b)
    } else {
        format!("{}-{:016x}", hex(&b[..64]), fnv1a64(b))
    }
}

fn file_name(rev: Revision) -> String {
    format!("{rev:020}{SUFFIX}")
}

fn encode(s: &Snapshot) -> Vec<u8> {
    let mut v = Vec::with_capacity(
        32 + s.stream.len() + s.snapshot_type.len() + s.data.len() + s.metadata.len(),
    );
    v.extend_from_slice(&[0u8; 4]);
    v.extend_from_slice(&s.created_micros.to_le_bytes());
    v.extend_from_slice(&s.schema_version.to_le_bytes());
    v.extend_from_slice(&(s.stream.len() as u16).to_le_bytes());
    v.extend_from_slice(s.stream.as_bytes());
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

fn decode(rev: Revision, v: &[u8]) -> std::result::Result<Snapshot, &'static str> {
    let take = |at: &mut usize, n: usize| -> std::result::Result<&[u8], &'static str> {
        let s = v.get(*at..*at + n).ok_or("truncated")?;
        *at += n;
        Ok(s)
    };
    let u16_of = |b: &[u8]| u16::from_le_bytes(b.try_into().expect("2 bytes")) as usize;
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let mut at = 0;
    let crc = u32_of(take(&mut at, 4)?);
    if crc32fast::hash(&v[4..]) != crc {
        return Err("checksum mismatch");
    }
    let created = i64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8 bytes"));
    let schema_version = u32_of(take(&mut at, 4)?);
    let slen = u16_of(take(&mut at, 2)?);
    let stream = std::str::from_utf8(take(&mut at, slen)?)
        .map_err(|_| "stream not UTF-8")?
        .to_owned();
    let tlen = u16_of(take(&mut at, 2)?);
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
        stream,
        revision: rev,
        snapshot_type: ty,
        schema_version,
        data,
        metadata,
        created_micros: created,
    })
}

/// The snapshot files of one directory: (revision, path), ascending.
fn list(dir: &Path) -> Result<Vec<(Revision, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(rev) = name.strip_suffix(SUFFIX).and_then(|r| r.parse().ok()) {
            out.push((rev, path));
        }
    }
    out.sort();
    Ok(out)
}

/// A snapshot file as a backup lists it (`SnapshotStore::files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotFile {
    /// `snapshots/<stream dir>/<revision>.snap`.
    pub relative_path: String,
    /// The stream its header names; `None` when the header does not read.
    pub stream: Option<String>,
    pub revision: Revision,
    pub path: PathBuf,
    pub length: u64,
}

/// The stream a snapshot file's header names (its first bytes only).
fn stream_of_file(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 18];
    let mut f = std::fs::File::open(path).ok()?;
    f.read_exact(&mut head).ok()?;
    let len = u16::from_le_bytes([head[16], head[17]]) as usize;
    let mut name = vec![0u8; len];
    f.read_exact(&mut name).ok()?;
    String::from_utf8(name).ok()
}

#[derive(Debug, Clone)]
pub(crate) struct SnapshotStore {
    root: PathBuf,
    keep: usize,
    /// Saves and removals of files are serialised (they are rare).
    lock: Arc<Mutex<()>>,
}

impl SnapshotStore {
    pub(crate) fn open(root: &Path, keep: usize) -> Result<SnapshotStore> {
        if !root.exists() {
            std::fs::create_dir_all(root)?;
            if let Some(parent) = root.parent() {
                fsync_dir(parent)?;
            }
        }
        // Unfinished saves of a crash are not snapshots.
        for stream_dir in std::fs::read_dir(root)? {
            let stream_dir = stream_dir?.path();
            if stream_dir.is_dir() {
                for f in std::fs::read_dir(&stream_dir)? {
                    let f = f?.path();
                    if f.extension().is_some_and(|x| x == "tmp") {
                        std::fs::remove_file(f)?;
                    }
                }
            }
        }
        Ok(SnapshotStore {
            root: root.to_owned(),
            keep: keep.max(1),
            lock: Arc::new(Mutex::new(())),
        })
    }

    fn dir_of(&self, stream: &str) -> PathBuf {
        self.root.join(stream_dir_name(stream))
    }

    /// Stores a snapshot durably and drops the oldest beyond the per-stream limit.
    pub(crate) fn save(&self, s: &Snapshot) -> Result<()> {
        let _g = self.lock.lock().unwrap();
        let dir = self.dir_of(&s.stream);
        if !dir.exists() {
            std::fs::create_dir(&dir)?;
            fsync_dir(&self.root)?;
        }
        let path = dir.join(file_name(s.revision));
        let tmp = path.with_extension("snap.tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&encode(s))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        let files = list(&dir)?;
        if files.len() > self.keep {
            for (_, old) in &files[..files.len() - self.keep] {
                std::fs::remove_file(old)?;
            }
        }
        fsync_dir(&dir)?;
        Ok(())
    }

    /// The newest snapshot at or before `at_or_before` (any revision if `None`).
    pub(crate) fn get(
        &self,
        stream: &str,
        at_or_before: Option<Revision>,
    ) -> Result<Option<Snapshot>> {
        let files = list(&self.dir_of(stream))?;
        let limit = at_or_before.unwrap_or(u64::MAX);
        let Some((rev, path)) = files.into_iter().rev().find(|(r, _)| *r <= limit) else {
            return Ok(None);
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // Removed since listed (a concurrent save pruned it).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let corrupt = |reason: String| Error::Corrupt {
            file: path.clone(),
            offset: 0,
            reason: format!("snapshot of '{stream}' at revision {rev}: {reason}"),
        };
        let snap = decode(rev, &bytes).map_err(|r| corrupt(r.to_owned()))?;
        if snap.stream != stream {
            return Err(corrupt(format!(
                "the file belongs to stream '{}'",
                snap.stream
            )));
        }
        Ok(Some(snap))
    }

    /// Removes every snapshot for which `keep(stream, revision)` is false;
    /// returns how many went. A file that does not decode is left alone
    /// (`get` reports it as corrupt; it is evidence, not garbage).
    pub(crate) fn retain(&self, mut keep: impl FnMut(&str, Revision) -> bool) -> Result<u64> {
        let _g = self.lock.lock().unwrap();
        let mut removed = 0;
        for stream_dir in std::fs::read_dir(&self.root)? {
            let dir = stream_dir?.path();
            if !dir.is_dir() {
                continue;
            }
            let mut left = 0;
            for (rev, path) in list(&dir)? {
                let bytes = std::fs::read(&path)?;
                let stream = decode(rev, &bytes).map(|s| s.stream).ok();
                match stream {
                    Some(stream) if !keep(&stream, rev) => {
                        std::fs::remove_file(&path)?;
                        removed += 1;
                    }
                    _ => left += 1,
                }
            }
            if left == 0 {
                std::fs::remove_dir(&dir)?;
            } else {
                fsync_dir(&dir)?;
            }
        }
        fsync_dir(&self.root)?;
        Ok(removed)
    }

    /// Every snapshot file, by directory then revision, with the stream its
    /// header names (for backups; a file removed while listing is skipped).
    pub(crate) fn files(&self) -> Result<Vec<SnapshotFile>> {
        let mut out = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.root)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
            for (revision, path) in list(&dir)? {
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                out.push(SnapshotFile {
                    relative_path: format!("snapshots/{dir_name}/{}", file_name(revision)),
                    stream: stream_of_file(&path),
                    revision,
                    path,
                    length: meta.len(),
                });
            }
        }
        Ok(out)
    }

    /// (count, bytes of snapshot files).
    pub(crate) fn stats(&self) -> (u64, u64) {
        let mut n = 0;
        let mut bytes = 0;
        for dir in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            for (_, path) in list(&dir.path()).unwrap_or_default() {
                n += 1;
                bytes += std::fs::metadata(path).map_or(0, |m| m.len());
            }
        }
        (n, bytes)
    }

    /// Test hook: damage a stored snapshot's bytes in place.
    #[cfg(test)]
    pub(crate) fn corrupt_for_test(&self, stream: &str, rev: Revision) {
        let path = self.dir_of(stream).join(file_name(rev));
        let mut v = std::fs::read(&path).unwrap();
        let last = v.len() - 1;
        v[last] ^= 0xff;
        std::fs::write(path, v).unwrap();
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
            prop_assert_eq!(decode(rev, &encode(&s)).unwrap(), s);
        }

        #[test]
        fn any_flip_is_detected(data in proptest::collection::vec(any::<u8>(), 1..100), i in any::<prop::sample::Index>()) {
            let s = Snapshot { stream: "s".into(), revision: 1, snapshot_type: "T".into(), schema_version: 1, data, metadata: vec![], created_micros: 5 };
            let mut b = encode(&s);
            let at = i.index(b.len());
            b[at] ^= 0x10;
            prop_assert!(decode(1, &b).is_err());
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
        let long = "x".repeat(255);
        let s = Snapshot {
            stream: long.clone(),
            revision: 1,
            snapshot_type: "T".into(),
            schema_version: 1,
            data: vec![1],
            metadata: vec![],
            created_micros: 0,
        };
        st.save(&s).unwrap();
        assert_eq!(st.get(&long, None).unwrap().unwrap(), s);
        assert_eq!(st.retain(|stream, _| stream != long).unwrap(), 1);
        assert!(st.get(&long, None).unwrap().is_none());
    }
}
