//! Segment files: naming, creation (with the fsyncs a new file needs), and
//! the shared, read-only handles that readers use.
//!
//! A segment is named after its first global position, zero-padded to 20
//! digits, so lexical order is log order: `log/00000000000000000001.seg`.
//! Every segment but the last is sealed: fsynced, never appended to again,
//! and changed only by a scavenge, which replaces it whole (same name, next
//! generation) by renaming a rewritten copy over it. Readers that hold the
//! old [`Segment`] keep reading the old file until they let go of it.

use crate::codec::{encode_segment_header, SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::error::Result;
use crate::posmap::{Located, PosMap};
use crate::types::Position;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Sub-directory of the data directory holding segments.
pub(crate) const LOG_DIR: &str = "log";
const SEGMENT_SUFFIX: &str = ".seg";

/// The path of the segment whose first position is `base`.
pub(crate) fn segment_path(log_dir: &Path, base: Position) -> PathBuf {
    log_dir.join(format!("{base:020}{SEGMENT_SUFFIX}"))
}

/// All segment files in `log_dir`, sorted by first position. Files that do
/// not look like segments are ignored.
pub(crate) fn list_segments(log_dir: &Path) -> io::Result<Vec<(Position, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(log_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX) else {
            continue;
        };
        if stem.len() != 20 {
            continue;
        }
        if let Ok(base) = stem.parse::<u64>() {
            out.push((base, entry.path()));
        }
    }
    out.sort_by_key(|(b, _)| *b);
    Ok(out)
}

/// fsyncs a directory so that a created, renamed or removed entry is durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a new segment: header written and fdatasynced, then the directory
/// fsynced, so the segment exists after a crash. Returns it opened read-write.
pub(crate) fn create_segment(log_dir: &Path, base: Position) -> io::Result<File> {
    let path = segment_path(log_dir, base);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let header = SegmentHeader {
        first_position: base,
        generation: 0,
    };
    file.write_all_at(&encode_segment_header(header), 0)?;
    file.sync_all()?;
    fsync_dir(log_dir)?;
    Ok(file)
}

/// Reserves disk blocks for `[offset, offset + len)` without changing the
/// file's size (`fallocate` with `FALLOC_FL_KEEP_SIZE`), so later appends
/// there need no block allocation at fdatasync time. The file length still
/// marks the end of the data, which recovery relies on.
pub(crate) fn reserve(file: &File, offset: u64, len: u64) -> io::Result<()> {
    fallocate(file, libc::FALLOC_FL_KEEP_SIZE, offset, len)
}

/// Gives back reserved blocks past `offset` (punches a hole, size unchanged).
pub(crate) fn release(file: &File, offset: u64, len: u64) -> io::Result<()> {
    fallocate(
        file,
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        offset,
        len,
    )
}

#[allow(unsafe_code)]
fn fallocate(file: &File, mode: libc::c_int, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(off), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: fallocate(2) takes a file descriptor and integers only; the
    // descriptor is borrowed from `file`, so it stays open for the call.
    let r = unsafe { libc::fallocate(file.as_raw_fd(), mode, off, len) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One segment as readers see it.
#[derive(Debug)]
pub(crate) struct Segment {
    /// First global position.
    pub base: Position,
    /// 0 as written; n after the n-th scavenge rewrote it.
    pub generation: u32,
    /// Path, for error messages.
    pub path: PathBuf,
    /// Read handle; `pread` needs no seeking so it is shared.
    pub file: File,
    /// Where each of its positions is.
    pub map: PosMap,
}

impl Segment {
    pub(crate) fn open(
        base: Position,
        generation: u32,
        path: PathBuf,
        map: PosMap,
    ) -> io::Result<Segment> {
        let file = File::open(&path)?;
        Ok(Segment {
            base,
            generation,
            path,
            file,
            map,
        })
    }

    /// Where position `pos` is in this segment.
    pub(crate) fn locate(&self, pos: Position) -> Result<Located> {
        self.map.locate(self.base, pos)
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many (short at EOF).
    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// File length now.
    pub(crate) fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

/// An immutable list of segments in log order: what one reader sees for
/// its whole life. A reader that located a record in a segment reads it
/// from the same segment object (and file), even if a scavenge has
/// replaced that segment since.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegmentSet(Arc<Vec<Arc<Segment>>>);

impl SegmentSet {
    /// The segment holding `pos`: the last one whose base is at most `pos`.
    pub(crate) fn for_position(&self, pos: Position) -> Option<Arc<Segment>> {
        let i = self.0.partition_point(|s| s.base <= pos);
        (i > 0).then(|| self.0[i - 1].clone())
    }

    /// The segment starting at `base`.
    pub(crate) fn by_base(&self, base: Position) -> Option<Arc<Segment>> {
        self.0
            .binary_search_by_key(&base, |s| s.base)
            .ok()
            .map(|i| self.0[i].clone())
    }

    /// The segment after the one starting at `base`.
    pub(crate) fn next_after(&self, base: Position) -> Option<Arc<Segment>> {
        let i = self.0.partition_point(|s| s.base <= base);
        self.0.get(i).cloned()
    }

    /// The segment before the one starting at `base`.
    pub(crate) fn prev_before(&self, base: Position) -> Option<Arc<Segment>> {
        let i = self.0.partition_point(|s| s.base < base);
        (i > 0).then(|| self.0[i - 1].clone())
    }

    /// The last (active) segment.
    pub(crate) fn last(&self) -> Option<Arc<Segment>> {
        self.0.last().cloned()
    }

    pub(crate) fn all(&self) -> &[Arc<Segment>] {
        &self.0
    }
}

/// The current segment list, shared by the writer (which adds and seals),
/// the scavenger (which replaces) and readers (which take a [`SegmentSet`]).
/// Changes copy the list: they are rare, reads are not.
#[derive(Debug, Default)]
pub(crate) struct Segments {
    list: RwLock<SegmentSet>,
}

impl Segments {
    /// The list as it is now.
    pub(crate) fn current(&self) -> SegmentSet {
        self.list.read().unwrap().clone()
    }

    pub(crate) fn push(&self, seg: Segment) {
        let mut list = self.list.write().unwrap();
        let mut v = list.0.as_ref().clone();
        v.push(Arc::new(seg));
        *list = SegmentSet(Arc::new(v));
    }

    /// Puts `seg` in place of the segment with the same base (sealing the
    /// active one, or a scavenge's rewrite). Readers holding the old one
    /// finish with it.
    pub(crate) fn replace(&self, seg: Segment) {
        let mut list = self.list.write().unwrap();
        let mut v = list.0.as_ref().clone();
        if let Ok(i) = v.binary_search_by_key(&seg.base, |s| s.base) {
            v[i] = Arc::new(seg);
        }
        *list = SegmentSet(Arc::new(v));
    }

    /// The last (active) segment.
    pub(crate) fn last(&self) -> Option<Arc<Segment>> {
        self.current().last()
    }

    pub(crate) fn count(&self) -> usize {
        self.current().0.len()
    }
}

/// First byte after the header, where records start.
pub(crate) const FIRST_RECORD_OFFSET: u64 = SEGMENT_HEADER_BYTES as u64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserving_blocks_keeps_the_file_length_as_the_end_of_data() {
        let dir = tempfile::tempdir().unwrap();
        let f = create_segment(dir.path(), 1).unwrap();
        reserve(&f, FIRST_RECORD_OFFSET, 1 << 20).unwrap();
        assert_eq!(f.metadata().unwrap().len(), FIRST_RECORD_OFFSET);
        f.write_all_at(b"abc", FIRST_RECORD_OFFSET).unwrap();
        assert_eq!(f.metadata().unwrap().len(), FIRST_RECORD_OFFSET + 3);
        release(&f, FIRST_RECORD_OFFSET + 3, 1 << 20).unwrap();
        assert_eq!(f.metadata().unwrap().len(), FIRST_RECORD_OFFSET + 3);
        let map = PosMap::Active(Default::default());
        let seg = Segment::open(1, 0, segment_path(dir.path(), 1), map).unwrap();
        let mut buf = [0u8; 3];
        seg.read_at(&mut buf, FIRST_RECORD_OFFSET).unwrap();
        assert_eq!(&buf, b"abc");
    }
}
