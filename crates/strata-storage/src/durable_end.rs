//! The durable end of the log after a failed fsync ("fsyncgate"), and what
//! open does about what the page cache may hold beyond it.
//!
//! On Linux a failed `fdatasync` can leave the failed writes clean in the
//! page cache: readable, never written to the disk, and not retried by a
//! later fsync. A process restart without a reboot would read them back as
//! if they were durable, build on them, and a later power cut would leave
//! zeros under acknowledged records. Two defences, both applied by
//! recovery before anything else reads the log:
//!
//! * **The marker.** When the writer poisons after a failed write, fsync
//!   or segment roll-over, it records the last durable end it knows (the
//!   active segment, its durable length, the head) in `log/durable-end`
//!   (temporary file, fsync, rename, fsync `log/`; best effort — the disk
//!   may be failing). At open, [`cut_to_marker`] cuts the log back to that
//!   end: segments after the marker's are removed (the writer never put a
//!   record in them), the marker's segment is truncated to its durable
//!   length and fsynced, `log/` is fsynced. What is cut was never
//!   acknowledged: its clients got `Poisoned` (a record past the end from
//!   a later group commit proves the marker stale: the open refuses). Recovery removes the marker
//!   ([`remove_marker`]) only after the log it describes was checked.
//! * **Without a marker** (it could not be written, or the process died
//!   first), open cannot tell a poisoned predecessor from a clean one, so it
//!   always makes what it reads durable: [`rewrite_last_group`] writes the
//!   last group commit of the active segment again, byte for byte, and
//!   fsyncs it and `log/`. Only the last group can have been lost that way
//!   (the writer stops at the first failure, and every earlier group's
//!   fsync succeeded), its first position is in its records
//!   (`commit_first`), so this costs one group's write and one fsync per
//!   open. The lost group is then durable rather than cut — allowed, its
//!   outcome was unknown to its clients, and their retries are recognised.
//!   If the disk still fails, the open fails.
//!
//! ```text
//! Durable-end marker, log/durable-end, 44 bytes (integers little-endian)
//! offset size field
//!      0    8 magic          b"STRATADE"
//!      8    4 version        u32 = 1
//!     12    4 reserved       0
//!     16    8 segment_base   u64, first position of the segment the durable log ends in (its file name)
//!     24    8 segment_len    u64, that segment's durable length in bytes (>= 32, its header)
//!     32    8 head           u64, the last durable position (segment_base - 1 if the segment holds none)
//!     40    4 crc32          CRC-32 (IEEE) of bytes [0, 40)
//! ```
//!
//! `docs/FORMAT.md` has the same diagram; change both together.
//!
//! Not here: the torn-tail rules (`scan`, `recovery`), the writer's poison
//! decisions (`writer`, `roll`).

use crate::codec::{decode_record, peek_len};
use crate::error::{Error, Result};
use crate::limits::RECOVERY_READ_BYTES;
use crate::posmap::DROPPED;
use crate::scan::{SegmentScan, MAX_TORN_TAIL_BYTES};
use crate::segment::{fsync_dir, list_segments, FIRST_RECORD_OFFSET};
use crate::types::Position;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// File name of the marker inside `log/`.
pub(crate) const MARKER_FILE: &str = "durable-end";
const MARKER_TMP_FILE: &str = "durable-end.tmp";
const MAGIC: &[u8; 8] = b"STRATADE";
const VERSION: u32 = 1;
/// Size of the marker file.
pub(crate) const MARKER_BYTES: usize = 44;
/// Page size the rewrite aligns to (the unit a page cache loses).
const PAGE_BYTES: u64 = 4096;

/// The last durable end of the log, as the writer knew it when it poisoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurableEnd {
    /// First position of the segment the durable log ends in.
    pub segment_base: Position,
    /// That segment's durable length in bytes.
    pub segment_len: u64,
    /// The last durable position.
    pub head: Position,
}

pub(crate) fn marker_path(log_dir: &Path) -> PathBuf {
    log_dir.join(MARKER_FILE)
}

pub(crate) fn encode(end: &DurableEnd) -> [u8; MARKER_BYTES] {
    let mut b = [0u8; MARKER_BYTES];
    b[0..8].copy_from_slice(MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_le_bytes());
    b[16..24].copy_from_slice(&end.segment_base.to_le_bytes());
    b[24..32].copy_from_slice(&end.segment_len.to_le_bytes());
    b[32..40].copy_from_slice(&end.head.to_le_bytes());
    let crc = crc32fast::hash(&b[0..40]);
    b[40..44].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Decodes a marker; `None` if it is not one (wrong size, magic, version,
/// CRC, or values that cannot describe a log end).
pub(crate) fn decode(b: &[u8]) -> Option<DurableEnd> {
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    if b.len() != MARKER_BYTES || &b[0..8] != MAGIC || u32_at(8) != VERSION || u32_at(12) != 0 {
        return None;
    }
    if crc32fast::hash(&b[0..40]) != u32_at(40) {
        return None;
    }
    let end = DurableEnd {
        segment_base: u64_at(16),
        segment_len: u64_at(24),
        head: u64_at(32),
    };
    let sane = end.segment_base >= 1
        && end.segment_len >= FIRST_RECORD_OFFSET
        && end.head >= end.segment_base - 1;
    sane.then_some(end)
}

/// Writes the marker durably: temporary file, fsync, rename, fsync `log/`.
pub(crate) fn write_marker(log_dir: &Path, end: &DurableEnd) -> io::Result<()> {
    let tmp = log_dir.join(MARKER_TMP_FILE);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(&encode(end))?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, marker_path(log_dir))?;
    fsync_dir(log_dir)
}

/// Removes the marker once the log it describes is recovered, durably.
pub(crate) fn remove_marker(log_dir: &Path) -> Result<()> {
    match std::fs::remove_file(marker_path(log_dir)) {
        Ok(()) => Ok(fsync_dir(log_dir)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads the marker: `None` if there is none, or if it is damaged (then
/// it is removed and the rewrite of the last group covers its case).
fn read_marker(log_dir: &Path) -> Result<Option<DurableEnd>> {
    let tmp = log_dir.join(MARKER_TMP_FILE);
    if tmp.exists() {
        // Never renamed: the marker was not written; the rewrite covers it.
        std::fs::remove_file(&tmp)?;
        fsync_dir(log_dir)?;
    }
    let bytes = match std::fs::read(marker_path(log_dir)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match decode(&bytes) {
        Some(end) => Ok(Some(end)),
        None => {
            tracing::warn!(
                path = %marker_path(log_dir).display(),
                "ignoring a damaged durable-end marker; the log's last group is made durable instead"
            );
            remove_marker(log_dir)?;
            Ok(None)
        }
    }
}

/// At open, before anything reads the log: if a marker says where the
/// durable log ended when the writer poisoned, cuts the log back to it
/// (durably) and returns it; the caller checks the recovered head against
/// it and then calls [`remove_marker`]. Also returns the bytes cut.
pub(crate) fn cut_to_marker(log_dir: &Path) -> Result<Option<(DurableEnd, u64)>> {
    let Some(end) = read_marker(log_dir)? else {
        return Ok(None);
    };
    let marker = marker_path(log_dir);
    let bad = |file: &Path, offset: u64, reason: String| Error::Corrupt {
        file: file.to_owned(),
        offset,
        reason,
    };
    let listed = list_segments(log_dir)?;
    let Some((_, path)) = listed.iter().find(|(b, _)| *b == end.segment_base) else {
        return Err(bad(
            &marker,
            0,
            format!(
                "the durable-end marker names segment {}, which does not exist",
                end.segment_base
            ),
        ));
    };
    // Segments after it: the writer poisoned before writing a record there.
    let later: Vec<&PathBuf> = listed
        .iter()
        .filter(|(b, _)| *b > end.segment_base)
        .map(|(_, p)| p)
        .collect();
    for p in &later {
        let len = std::fs::metadata(p)?.len();
        if len > FIRST_RECORD_OFFSET {
            return Err(bad(
                p,
                FIRST_RECORD_OFFSET,
                format!(
                    "holds records, but the durable-end marker says the log ends in segment {} \
                     at byte {}; run `strata verify`",
                    end.segment_base, end.segment_len
                ),
            ));
        }
    }
    let len = std::fs::metadata(path)?.len();
    if len < end.segment_len {
        return Err(bad(
            path,
            len,
            format!(
                "the segment is shorter than the durable end a failed fsync recorded ({} bytes)",
                end.segment_len
            ),
        ));
    }
    check_past_end(path, &end, len)?;
    tracing::warn!(
        segment = %path.display(),
        durable_len = end.segment_len,
        cut_bytes = len - end.segment_len,
        removed_segments = later.len(),
        "a failed fsync left the log's durable end in log/durable-end: cutting back to it"
    );
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(end.segment_len)?;
    f.sync_all()?;
    let mut cut = len - end.segment_len;
    for p in later {
        cut += std::fs::metadata(p)?.len();
        std::fs::remove_file(p)?;
    }
    fsync_dir(log_dir)?;
    Ok(Some((end, cut)))
}

/// What lies past the marker's end can only be the group whose fsync
/// failed: at most one group commit, every intact record of it written by
/// the group that starts right after `head`. A record of a later group
/// means appends were acknowledged after this marker should have been
/// removed (a stale marker): refuse rather than cut them.
fn check_past_end(path: &Path, end: &DurableEnd, len: u64) -> Result<()> {
    let stale = |offset: u64, reason: String| Error::Corrupt {
        file: path.to_owned(),
        offset,
        reason: format!(
            "{reason}, past the durable end recorded by a failed fsync \
             (log/durable-end: {} bytes, position {}); the marker looks stale, \
             so nothing is cut; run `strata verify`",
            end.segment_len, end.head
        ),
    };
    let past = len - end.segment_len;
    if past > MAX_TORN_TAIL_BYTES {
        return Err(stale(end.segment_len, format!("{past} bytes")));
    }
    let mut bytes = vec![0u8; past as usize];
    File::open(path)?.read_exact_at(&mut bytes, end.segment_len)?;
    let mut at = 0usize;
    while let Ok(r) = decode_record(&bytes[at..]) {
        if r.commit_first != end.head + 1 {
            let offset = end.segment_len + at as u64;
            return Err(stale(
                offset,
                format!(
                    "a record of the group commit at position {}",
                    r.commit_first
                ),
            ));
        }
        at += peek_len(&bytes[at..]).expect("a decoded record has a length");
    }
    Ok(())
}

/// Writes the last group commit of the active segment again, byte for
/// byte, and fsyncs it and `log/`, so that what the page cache shows —
/// what recovery just read and will build on — is on the disk. Only
/// bytes `[.., scan.valid_end)` are rewritten (recovery cut the rest).
pub(crate) fn rewrite_last_group(
    log_dir: &Path,
    path: &Path,
    base: Position,
    scan: &SegmentScan,
) -> Result<()> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let end = scan.valid_end;
    let start = last_group_start(&file, path, base, scan)?;
    let from = start / PAGE_BYTES * PAGE_BYTES;
    let mut buf = vec![0u8; RECOVERY_READ_BYTES.min((end - from) as usize)];
    let mut at = from;
    while at < end {
        let n = buf.len().min((end - at) as usize);
        file.read_exact_at(&mut buf[..n], at)?;
        file.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
    file.sync_all()?;
    fsync_dir(log_dir)?;
    Ok(())
}

/// Byte offset where the segment's last group commit starts: the record of
/// the last record's `commit_first`; the header when it holds no record.
fn last_group_start(file: &File, path: &Path, base: Position, scan: &SegmentScan) -> Result<u64> {
    let kept = |o: &&u32| **o != DROPPED;
    let Some(&last) = scan.offsets.iter().rev().find(kept) else {
        return Ok(0);
    };
    let mut rec = vec![0u8; (scan.valid_end - u64::from(last)) as usize];
    file.read_exact_at(&mut rec, u64::from(last))?;
    let commit_first = decode_record(&rec)
        .map(|r| r.commit_first)
        .map_err(|e| Error::Corrupt {
            file: path.to_owned(),
            offset: u64::from(last),
            reason: format!("the last record, just scanned, no longer decodes: {e:?}"),
        })?;
    let first = commit_first
        .checked_sub(base)
        .and_then(|i| scan.offsets.get(i as usize))
        .filter(|o| **o != DROPPED);
    // A group never spans segments; if the map cannot say, rewrite it all.
    Ok(first.map_or(0, |o| u64::from(*o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan_segment;
    use crate::segment::{create_segment, segment_path, LOG_DIR};
    use crate::store::{Options, Store};
    use crate::types::{ExpectedRevision, NewEvent};

    fn ev(i: u64) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::new_v4(),
            event_type: "T".into(),
            content_type: "application/json".into(),
            data: format!("{{\"i\":{i}}}").into_bytes(),
            metadata: vec![],
        }
    }

    /// A store with `n` single-event appends, closed: (log dir, head, length
    /// of the first segment).
    fn store_with(dir: &Path, n: u64) -> (PathBuf, Position, u64) {
        let s = Store::open(dir, Options::default()).unwrap();
        for i in 0..n {
            s.append("s", ExpectedRevision::Any, vec![ev(i)]).unwrap();
        }
        let head = s.head();
        s.close().unwrap();
        let log = dir.join(LOG_DIR);
        let len = std::fs::metadata(segment_path(&log, 1)).unwrap().len();
        (log, head, len)
    }

    #[test]
    fn a_marker_round_trips_and_any_damage_is_refused() {
        let end = DurableEnd {
            segment_base: 262_145,
            segment_len: 1 << 20,
            head: 300_000,
        };
        let b = encode(&end);
        assert_eq!(&b[0..8], b"STRATADE");
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 262_145);
        assert_eq!(decode(&b), Some(end));
        for i in 0..MARKER_BYTES {
            let mut bad = b;
            bad[i] ^= 0x40;
            assert_eq!(decode(&bad), None, "byte {i} flipped");
        }
        assert_eq!(decode(&b[..MARKER_BYTES - 1]), None);
        assert_eq!(decode(&[b.as_slice(), &[0]].concat()), None);
        // Well-formed but impossible: a length shorter than the header.
        let short = DurableEnd {
            segment_len: 10,
            ..end
        };
        assert_eq!(decode(&encode(&short)), None);

        let dir = tempfile::tempdir().unwrap();
        write_marker(dir.path(), &end).unwrap();
        assert!(!dir.path().join(MARKER_TMP_FILE).exists());
        assert_eq!(read_marker(dir.path()).unwrap(), Some(end));
        remove_marker(dir.path()).unwrap();
        assert_eq!(read_marker(dir.path()).unwrap(), None);
        remove_marker(dir.path()).unwrap();
    }

    #[test]
    fn open_cuts_the_log_back_to_the_marker_and_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let (log, head, len) = store_with(dir.path(), 5);
        // What the page cache would show past the durable end: the group
        // whose fsync failed (never acknowledged) and the header of a next
        // segment from a roll-over that failed.
        let s = Store::open(dir.path(), Options::default()).unwrap();
        s.append("s", ExpectedRevision::Any, (5..9).map(ev).collect())
            .unwrap();
        s.close().unwrap();
        drop(s);
        let longer = std::fs::metadata(segment_path(&log, 1)).unwrap().len();
        assert!(longer > len);
        create_segment(&log, head + 5).unwrap();
        let end = DurableEnd {
            segment_base: 1,
            segment_len: len,
            head,
        };
        write_marker(&log, &end).unwrap();

        let s = Store::open(dir.path(), Options::default()).unwrap();
        assert_eq!(s.head(), head);
        assert_eq!(s.open_report().head, head);
        assert_eq!(
            s.open_report().truncated_bytes,
            longer - len + FIRST_RECORD_OFFSET
        );
        assert_eq!(std::fs::metadata(segment_path(&log, 1)).unwrap().len(), len);
        assert!(!segment_path(&log, head + 5).exists());
        assert!(!marker_path(&log).exists());
        let events = s
            .read_stream(
                "s",
                crate::StreamFrom::Start,
                crate::Direction::Forwards,
                100,
            )
            .unwrap();
        assert_eq!(events.len() as u64, head);
        // The store goes on from there, and a second open has nothing to cut.
        s.append("s", ExpectedRevision::Exact(head - 1), vec![ev(99)])
            .unwrap();
        s.close().unwrap();
        drop(s);
        let s = Store::open(dir.path(), Options::default()).unwrap();
        assert_eq!(s.head(), head + 1);
        assert_eq!(s.open_report().truncated_bytes, 0);
    }

    #[test]
    fn a_log_that_contradicts_its_marker_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let (log, head, len) = store_with(dir.path(), 3);
        let cases = [
            // Longer than the segment: durable bytes are missing.
            DurableEnd {
                segment_base: 1,
                segment_len: len + 1,
                head,
            },
            // A segment that does not exist.
            DurableEnd {
                segment_base: head + 1,
                segment_len: len,
                head,
            },
            // The right length, the wrong head.
            DurableEnd {
                segment_base: 1,
                segment_len: len,
                head: head + 1,
            },
        ];
        for end in cases {
            write_marker(&log, &end).unwrap();
            match Store::open(dir.path(), Options::default()) {
                Err(Error::Corrupt { .. }) => {}
                other => panic!("{end:?}: expected Corrupt, got {:?}", other.map(|_| ())),
            }
            assert!(marker_path(&log).exists(), "{end:?}: the marker stays");
            assert_eq!(
                std::fs::metadata(segment_path(&log, 1)).unwrap().len(),
                len,
                "{end:?}: nothing was cut"
            );
        }
        // A marker before a segment that holds records: refused, not removed.
        let (log2, head2, len2) = store_with(&dir.path().join("two"), 2);
        let next = create_segment(&log2, head2 + 1).unwrap();
        next.write_all_at(&[1; 100], FIRST_RECORD_OFFSET).unwrap();
        let end = DurableEnd {
            segment_base: 1,
            segment_len: len2,
            head: head2,
        };
        write_marker(&log2, &end).unwrap();
        assert!(matches!(
            Store::open(dir.path().join("two"), Options::default()),
            Err(Error::Corrupt { .. })
        ));
        assert!(segment_path(&log2, head2 + 1).exists());
        // A stale marker: past its end, besides the group right after it,
        // a later group commit (acknowledged appends) — refused, not cut.
        let three = dir.path().join("three");
        let (log3, head3, len3) = store_with(&three, 1);
        let s = Store::open(&three, Options::default()).unwrap();
        for i in 0..2 {
            s.append("s", ExpectedRevision::Any, vec![ev(i)]).unwrap();
        }
        s.close().unwrap();
        drop(s);
        let grown = std::fs::metadata(segment_path(&log3, 1)).unwrap().len();
        let end = DurableEnd {
            segment_base: 1,
            segment_len: len3,
            head: head3,
        };
        write_marker(&log3, &end).unwrap();
        match Store::open(&three, Options::default()) {
            Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("stale"), "{reason}"),
            other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
        }
        assert_eq!(
            std::fs::metadata(segment_path(&log3, 1)).unwrap().len(),
            grown
        );
        // Only the group right after it (the one whose fsync failed): cut.
        let second = {
            let scan = crate::scan::scan_segment(&segment_path(&log3, 1), 1, &mut |_| {}).unwrap();
            u64::from(scan.offsets[2])
        };
        write_marker(
            &log3,
            &DurableEnd {
                segment_base: 1,
                segment_len: second,
                head: 2,
            },
        )
        .unwrap();
        let s = Store::open(&three, Options::default()).unwrap();
        assert_eq!(s.head(), 2);
        assert_eq!(s.open_report().truncated_bytes, grown - second);
    }

    #[test]
    fn a_damaged_marker_is_removed_and_the_log_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (log, head, len) = store_with(dir.path(), 4);
        std::fs::write(marker_path(&log), b"STRATADE but torn").unwrap();
        std::fs::write(log.join(MARKER_TMP_FILE), b"half").unwrap();
        let s = Store::open(dir.path(), Options::default()).unwrap();
        assert_eq!(s.head(), head);
        assert_eq!(s.open_report().truncated_bytes, 0);
        assert!(!marker_path(&log).exists());
        assert!(!log.join(MARKER_TMP_FILE).exists());
        drop(s);
        assert_eq!(std::fs::metadata(segment_path(&log, 1)).unwrap().len(), len);
    }

    #[test]
    fn the_last_group_is_found_by_commit_first_and_rewritten_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), Options::default()).unwrap();
        s.append("a", ExpectedRevision::Any, vec![ev(0), ev(1)])
            .unwrap();
        s.append("b", ExpectedRevision::Any, vec![ev(2), ev(3), ev(4)])
            .unwrap();
        s.close().unwrap();
        drop(s);
        let log = dir.path().join(LOG_DIR);
        let path = segment_path(&log, 1);
        let scan = scan_segment(&path, 1, &mut |_| {}).unwrap();
        let file = File::open(&path).unwrap();
        // The second append was its own group: it starts at position 3.
        assert_eq!(
            last_group_start(&file, &path, 1, &scan).unwrap(),
            u64::from(scan.offsets[2])
        );
        let before = std::fs::read(&path).unwrap();
        rewrite_last_group(&log, &path, 1, &scan).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // A segment with no record: its header is the last thing written.
        let empty = create_segment(&log, 6).unwrap();
        drop(empty);
        let path = segment_path(&log, 6);
        let scan = scan_segment(&path, 6, &mut |_| {}).unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(last_group_start(&file, &path, 6, &scan).unwrap(), 0);
        let before = std::fs::read(&path).unwrap();
        rewrite_last_group(&log, &path, 6, &scan).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
