//! Online backup support: a consistent, pinned view of the files that make
//! up the store as of one committed position ([`BackupView`]), for a backup
//! to copy while the store keeps serving; and the marker a restore leaves
//! in a data directory until it has finished ([`RESTORING_MARKER`]).
//!
//! What a view holds: every segment up to the one that was active at the
//! pin — sealed segments whole, the active one up to its committed (durable)
//! length — and the snapshot files whose revision was committed by then.
//! What it leaves out: the sled index and the position maps (derived; the
//! next open rebuilds them from the log), the `LOCK` file, and anything a
//! crash left behind (`*.tmp`, `*.scavenge`).
//!
//! Pinning: each segment is held through the same [`Segment`] the store
//! reads (an open file handle). A scavenge replaces a sealed segment by
//! renaming a rewritten copy over its path, never by writing into it; the
//! writer only appends to the active segment, past the committed length.
//! So the pinned handles keep reading exactly the bytes of the pin for as
//! long as the view lives, whatever happens to the paths meanwhile (an old
//! generation's inode lives on until the view is dropped). Snapshot files
//! are listed at the pin and read when sent: one removed meanwhile (pruned
//! by a newer save or a scavenge) is simply left out, and one re-saved at
//! the same revision is an equally valid snapshot of that revision.
//!
//! Not here: checksums, the wire protocol and the backup directory's
//! layout (the server's `domain::backup` and `strata backup`/`restore`).

use crate::error::{Error, Result};
use crate::segment::LOG_DIR;
use crate::segments::Segment;
use crate::shared::Shared;
use crate::snapshot::SnapshotStore;
use crate::types::Position;
use std::path::PathBuf;
use std::sync::Arc;

/// A file a restore writes first into the data directory and removes last:
/// while it exists the directory is an unfinished copy, and
/// [`Store::open`](crate::Store::open) refuses it (a server must never
/// serve a log cut short by an interrupted restore).
pub const RESTORING_MARKER: &str = "RESTORING";

/// How many times a pin retries when the writer rolled to a new segment
/// between reading the segment list and the committed end (rare: a roll
/// takes a few milliseconds every few hundred MiB).
const PIN_ATTEMPTS: usize = 100;

/// What kind of file a [`BackupFile`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupFileKind {
    /// A log segment (`log/<first position, 20 digits>.seg`).
    Segment,
    /// A snapshot (`snapshots/<stream dir>/<revision, 20 digits>.snap`).
    Snapshot,
}

enum Source {
    Segment(Arc<Segment>),
    File(PathBuf),
}

/// One file of a [`BackupView`].
pub struct BackupFile {
    /// Where it goes, relative to the data directory, `/`-separated.
    pub path: String,
    /// Segment or snapshot.
    pub kind: BackupFileKind,
    /// A segment's generation (0 as written, n after the n-th scavenge
    /// rewrote it); 0 for snapshots. A segment's bytes up to a length are
    /// the same for a given path and generation, whenever they are read.
    pub generation: u32,
    /// Bytes the backup holds: exact for segments; for snapshots the size
    /// at the pin (the file is read whole when sent).
    pub length: u64,
    source: Source,
}

impl std::fmt::Debug for BackupFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupFile")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("generation", &self.generation)
            .field("length", &self.length)
            .finish()
    }
}

impl BackupFile {
    /// Reads up to `buf.len()` bytes at `offset`, never past
    /// [`BackupFile::length`]; returns how many (0 at the end). For a
    /// snapshot this reads the file as it is now.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let want = (self.length.saturating_sub(offset)).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        match &self.source {
            Source::Segment(seg) => {
                let n = seg.read_at(&mut buf[..want], offset)?;
                if n < want {
                    return Err(Error::Corrupt {
                        file: seg.path.clone(),
                        offset: offset + n as u64,
                        reason: "a pinned segment is shorter than its committed length".into(),
                    });
                }
                Ok(n)
            }
            Source::File(path) => {
                use std::os::unix::fs::FileExt;
                Ok(std::fs::File::open(path)?.read_at(&mut buf[..want], offset)?)
            }
        }
    }

    /// A snapshot file's bytes as they are now, or `None` if it was removed
    /// since the pin. For a segment, its pinned bytes.
    pub fn read_whole(&self) -> Result<Option<Vec<u8>>> {
        match &self.source {
            Source::File(path) => match std::fs::read(path) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            Source::Segment(_) => {
                let mut buf = vec![0u8; self.length as usize];
                let n = self.read_at(&mut buf, 0)?;
                buf.truncate(n);
                Ok(Some(buf))
            }
        }
    }
}

/// A consistent copy-to-be of the store as of [`BackupView::position`]:
/// restoring its files gives a store whose log ends exactly there. Holding
/// it keeps its segments' bytes readable (see the module docs); drop it
/// when done.
#[derive(Debug)]
pub struct BackupView {
    /// The last committed global position the files hold.
    pub position: Position,
    /// Segments in log order, then snapshots.
    pub files: Vec<BackupFile>,
}

/// Pins the store's files as of its committed end now.
pub(crate) fn pin(shared: &Shared, snapshots: &SnapshotStore) -> Result<BackupView> {
    // The list first, then the end: a segment active at the end was in the
    // list already, as the same file (never rewritten while active). If
    // the writer rolled in between, the end names a segment the list does
    // not have yet: try again.
    let mut attempts = 0;
    let (set, committed) = loop {
        let set = shared.segments.current();
        let committed = shared.notifier.committed();
        if set.by_base(committed.seg_base).is_some() {
            break (set, committed);
        }
        attempts += 1;
        if attempts == PIN_ATTEMPTS {
            return Err(Error::Io(std::io::Error::other(
                "the active segment kept changing while pinning a backup",
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let mut files = Vec::new();
    for seg in set.all() {
        use std::cmp::Ordering::*;
        let length = match seg.base.cmp(&committed.seg_base) {
            Less => seg.len()?,
            Equal => committed.seg_len,
            Greater => break,
        };
        let name = seg
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        files.push(BackupFile {
            path: format!("{LOG_DIR}/{name}"),
            kind: BackupFileKind::Segment,
            generation: seg.generation,
            length,
            source: Source::Segment(seg.clone()),
        });
    }
    let log = shared.reader();
    let position_of = |stream: &str, rev| -> Result<Option<Position>> {
        let locs = shared.stream_locs(&log, stream, rev, rev)?;
        Ok(locs.first().map(|(_, p, _)| *p))
    };
    files.extend(snapshot_files(
        snapshots.files()?,
        committed.head,
        position_of,
    )?);
    Ok(BackupView {
        position: committed.head,
        files,
    })
}

/// The snapshot files to back up with a log that ends at `head`:
/// `position_of(stream, revision)` says where a revision was committed (or
/// `None` if it is not in the log any more). A snapshot of a revision
/// committed after `head` would be ahead of the restored stream: left out.
/// One whose stream cannot be read from its header is copied as it is
/// (evidence, not garbage).
fn snapshot_files(
    listed: Vec<crate::snapshot::SnapshotFile>,
    head: Position,
    mut position_of: impl FnMut(&str, u64) -> Result<Option<Position>>,
) -> Result<Vec<BackupFile>> {
    let mut out = Vec::new();
    for s in listed {
        if let Some(stream) = &s.stream {
            if position_of(stream, s.revision)?.is_none_or(|p| p > head) {
                continue;
            }
        }
        out.push(BackupFile {
            path: s.relative_path,
            kind: BackupFileKind::Snapshot,
            generation: 0,
            length: s.length,
            source: Source::File(s.path),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::limits::MIN_SEGMENT_MAX_BYTES;
    use crate::snapshot::Snapshot;
    use crate::types::*;
    use crate::{BackupFileKind, Options, ScavengeOptions, ScavengeState, Store};

    fn ev(data: Vec<u8>) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::new_v4(),
            event_type: "T".into(),
            content_type: "application/octet-stream".into(),
            data,
            metadata: vec![],
        }
    }

    fn bytes_of(v: &crate::BackupView) -> Vec<(String, Vec<u8>)> {
        v.files
            .iter()
            .map(|f| (f.path.clone(), f.read_whole().unwrap().unwrap()))
            .collect()
    }

    #[test]
    fn a_pinned_view_keeps_its_bytes_through_appends_and_a_scavenge() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            segment_max_bytes: MIN_SEGMENT_MAX_BYTES,
            ..Options::default()
        };
        let s = Store::open(dir.path(), opts).unwrap();
        // Two sealed segments' worth, half of it in a stream deleted below.
        for i in 0..80 {
            let stream = if i % 2 == 0 { "keep" } else { "gone" };
            s.append(
                stream,
                ExpectedRevision::Any,
                vec![ev(vec![i as u8; 1 << 20])],
            )
            .unwrap();
        }
        s.save_snapshot(Snapshot {
            stream: "keep".into(),
            revision: 3,
            snapshot_type: "S".into(),
            schema_version: 1,
            data: b"state".to_vec(),
            metadata: vec![],
            created_micros: 0,
        })
        .unwrap();
        let view = s.backup_view().unwrap();
        assert_eq!(view.position, s.head());
        let segments: Vec<_> = view
            .files
            .iter()
            .filter(|f| f.kind == BackupFileKind::Segment)
            .collect();
        assert!(segments.len() >= 3, "{view:?}");
        assert!(view
            .files
            .iter()
            .any(|f| f.kind == BackupFileKind::Snapshot
                && f.path.ends_with("00000000000000000003.snap")));
        let before = bytes_of(&view);

        // A snapshot of a revision committed after the pin is not in a new
        // view taken before it... and appends, a delete and a completed
        // scavenge change nothing the old view reads.
        s.append("keep", ExpectedRevision::Any, vec![ev(vec![9; 100])])
            .unwrap();
        s.delete_stream("gone", ExpectedRevision::Any, false)
            .unwrap();
        s.start_scavenge(ScavengeOptions::default()).unwrap();
        while s.scavenge_status().unwrap().state == ScavengeState::Running {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let done = s.scavenge_status().unwrap();
        assert_eq!(done.state, ScavengeState::Completed, "{done:?}");
        assert!(done.bytes_reclaimed > 0, "{done:?}");
        assert_eq!(bytes_of(&view), before);

        // A new view sees the rewritten generations and the later head.
        let after = s.backup_view().unwrap();
        assert!(after.position > view.position);
        assert!(after.files.iter().any(|f| f.generation > 0), "{after:?}");
        s.close().unwrap();
    }

    #[test]
    fn snapshots_ahead_of_the_pin_are_left_out() {
        use crate::snapshot::SnapshotFile;
        let file = |stream: Option<&str>, revision| SnapshotFile {
            relative_path: format!("snapshots/x/{revision:020}.snap"),
            stream: stream.map(str::to_owned),
            revision,
            path: "/nowhere".into(),
            length: 10,
        };
        let listed = vec![
            file(Some("a"), 0),
            file(Some("a"), 1),
            file(Some("dropped"), 0),
            file(None, 7),
        ];
        // a@0 at position 5, a@1 at 9; "dropped" is no longer in the log.
        let kept = super::snapshot_files(listed, 8, |stream, rev| {
            Ok(match (stream, rev) {
                ("a", 0) => Some(5),
                ("a", 1) => Some(9),
                _ => None,
            })
        })
        .unwrap();
        let paths: Vec<_> = kept.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "snapshots/x/00000000000000000000.snap",
                "snapshots/x/00000000000000000007.snap"
            ]
        );
    }

    #[test]
    fn a_directory_with_an_unfinished_restore_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::RESTORING_MARKER), b"").unwrap();
        let e = Store::open(dir.path(), Options::default()).unwrap_err();
        assert!(e.to_string().contains("unfinished restore"), "{e}");
        std::fs::remove_file(dir.path().join(crate::RESTORING_MARKER)).unwrap();
        Store::open(dir.path(), Options::default()).unwrap();
    }
}
