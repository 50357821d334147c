//! Segment files: naming, creation (with the fsyncs a new file needs), and
//! the shared, read-only handles that readers use.
//!
//! A segment is named after its first global position, zero-padded to 20
//! digits, so lexical order is log order: `log/00000000000000000001.seg`.
//! Every segment but the last is sealed: fsynced, never appended to again,
//! and changed only by a scavenge, which replaces it whole (same name, next
//! generation) by renaming a rewritten copy over it.
//!
//! Not here: the in-memory list of open segments readers use (`segments`).

use crate::codec::{encode_segment_header, SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::types::Position;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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

/// Bytes available to unprivileged writers on the filesystem of `path`.
#[allow(unsafe_code)]
pub(crate) fn free_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statvfs(3) reads the NUL-terminated path and writes into the
    // zeroed struct we own; both outlive the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
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
        let map = crate::posmap::PosMap::Active(Default::default());
        let seg = crate::segments::Segment::open(1, 0, segment_path(dir.path(), 1), map).unwrap();
        let mut buf = [0u8; 3];
        seg.read_at(&mut buf, FIRST_RECORD_OFFSET).unwrap();
        assert_eq!(&buf, b"abc");
    }
}
