//! The files of a segment roll-over: the sealed segment's position map and
//! the next segment, both made durable before the writer swaps them in —
//! or, when the disk is full, neither.
//!
//! [`prepare`] writes the sealed segment's map (temporary file, fsync,
//! rename, fsync `log/`), opens it, and creates the next segment (header,
//! fsync, fsync `log/`). If a step fails with `ENOSPC`/`EDQUOT` it removes
//! what it left half-made — the map's `.tmp`, the next segment's file —
//! fsyncs `log/`, and answers [`Error::DiskFull`]: the writer stays on the
//! old segment, refuses the request that needed the new one, and tries the
//! roll again at the next commit, so writes resume when space returns. A
//! map renamed into place before a failure is harmless (derived, rewritten
//! at the next roll). Any other failure, or a clean-up that fails, is an
//! [`Error::Io`], which poisons the store.
//!
//! Not here: the writer's state and the swap (`writer`), map bytes
//! (`posmap`), segment creation itself (`segment`).

use crate::error::{Error, Result};
use crate::posmap::{map_path, open_map, write_map, PosMap};
use crate::segment::{create_segment, fsync_dir, segment_path, FIRST_RECORD_OFFSET};
use crate::types::Position;
use std::fs::File;
use std::io;
use std::path::Path;

/// What a roll-over made, ready to be swapped in.
pub(crate) struct Prepared {
    /// The sealed segment's map, opened from its file.
    pub map: PosMap,
    /// The next segment, open for writing, its header durable.
    pub file: File,
}

/// The steps of a roll-over (for fault injection in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Writing the sealed segment's map.
    Map,
    /// Creating the next segment.
    Segment,
}

/// Whether an I/O error means the disk (or the quota) is full.
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// Writes the map of the segment `sealed_base` (`sealed_len` bytes, its
/// records at `offsets`) and creates the segment `next_base`. Nothing of the
/// store's state changes here; on `Err(DiskFull)` nothing half-made is left.
pub(crate) fn prepare(
    log_dir: &Path,
    sealed_base: Position,
    sealed_len: u64,
    offsets: &[u32],
    next_base: Position,
) -> Result<Prepared> {
    let map = fault::check(log_dir, Step::Map)
        .map_err(Error::Io)
        .and_then(|()| write_map(log_dir, sealed_base, 0, sealed_len, offsets))
        .and_then(|()| {
            open_map(log_dir, sealed_base, 0, sealed_len, offsets.len() as u64)?.ok_or_else(|| {
                Error::Io(io::Error::other(
                    "a freshly written position map does not open",
                ))
            })
        });
    let tmp = map_path(log_dir, sealed_base).with_extension("map.tmp");
    let map = map.map_err(|e| undo(log_dir, e, &[&tmp]))?;
    let next = segment_path(log_dir, next_base);
    let file = remove_headerless(&next)
        .and_then(|()| fault::check(log_dir, Step::Segment))
        .and_then(|()| create_segment(log_dir, next_base))
        .map_err(|e| undo(log_dir, Error::Io(e), &[&next]))?;
    Ok(Prepared { map, file })
}

/// After a failed step: removes `partial` files (a segment only if it holds
/// no record) and fsyncs `log/`. A full disk whose traces are gone is
/// `DiskFull`; anything else stays an error that poisons.
fn undo(log_dir: &Path, e: Error, partial: &[&Path]) -> Error {
    let full = matches!(&e, Error::Io(io) if is_disk_full(io));
    let cleaned = partial
        .iter()
        .try_for_each(|p| remove_headerless(p))
        .and_then(|()| fsync_dir(log_dir));
    match cleaned {
        Ok(()) if full => Error::DiskFull(format!("no space for the next segment: {e}")),
        Ok(()) => e,
        Err(c) => Error::Io(io::Error::other(format!(
            "{e}; removing its partial files failed too: {c}"
        ))),
    }
}

/// Removes `path` if it exists and holds no record (a `.tmp` map, or a
/// segment the writer never wrote into). A longer segment is refused.
fn remove_headerless(path: &Path) -> io::Result<()> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let is_segment = path.extension().is_some_and(|x| x == "seg");
    if is_segment && len > FIRST_RECORD_OFFSET {
        return Err(io::Error::other(format!(
            "{} holds records; not removing it",
            path.display()
        )));
    }
    std::fs::remove_file(path)
}

/// Fault injection for the unit tests: a hook per log directory, run
/// before each step (it may leave partial files, as a real failure would,
/// and return the error). Compiled out of the library.
pub(crate) mod fault {
    use super::Step;
    use std::io;
    use std::path::Path;

    #[cfg(test)]
    type Hook = Box<dyn Fn(Step, &Path) -> io::Result<()> + Send + Sync>;

    #[cfg(test)]
    static HOOKS: std::sync::Mutex<Vec<(std::path::PathBuf, Hook)>> =
        std::sync::Mutex::new(Vec::new());

    /// Runs `hook` before every roll-over step in `log_dir` until cleared.
    #[cfg(test)]
    pub(crate) fn set(
        log_dir: &Path,
        hook: impl Fn(Step, &Path) -> io::Result<()> + Send + Sync + 'static,
    ) {
        let mut hooks = HOOKS.lock().unwrap();
        hooks.retain(|(d, _)| d != log_dir);
        hooks.push((log_dir.to_owned(), Box::new(hook)));
    }

    /// Removes the hook of `log_dir`.
    #[cfg(test)]
    pub(crate) fn clear(log_dir: &Path) {
        HOOKS.lock().unwrap().retain(|(d, _)| d != log_dir);
    }

    #[cfg(test)]
    pub(super) fn check(log_dir: &Path, step: Step) -> io::Result<()> {
        let hooks = HOOKS.lock().unwrap();
        match hooks.iter().find(|(d, _)| d == log_dir) {
            Some((_, hook)) => hook(step, log_dir),
            None => Ok(()),
        }
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub(super) fn check(_log_dir: &Path, _step: Step) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable_end::{marker_path, DurableEnd};
    use crate::limits::MIN_SEGMENT_MAX_BYTES;
    use crate::segment::{list_segments, LOG_DIR};
    use crate::store::{Options, Store};
    use crate::types::{Direction, ExpectedRevision, NewEvent, StreamFrom};

    fn ev(bytes: usize) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::new_v4(),
            event_type: "T".into(),
            content_type: "application/octet-stream".into(),
            data: vec![7; bytes],
            metadata: vec![],
        }
    }

    /// Eight events of 1 MiB: never fits what is left of a full segment.
    fn big() -> Vec<NewEvent> {
        (0..8).map(|_| ev(1 << 20)).collect()
    }

    fn errno(e: i32) -> io::Error {
        io::Error::from_raw_os_error(e)
    }

    /// A store with 32 MiB segments whose first segment has between 4 and
    /// 8 MiB left: (store, log dir).
    fn nearly_full(dir: &Path) -> (Store, std::path::PathBuf) {
        let opts = Options {
            segment_max_bytes: MIN_SEGMENT_MAX_BYTES,
            ..Options::default()
        };
        let s = Store::open(dir, opts).unwrap();
        let log = dir.join(LOG_DIR);
        let seg = segment_path(&log, 1);
        let fill = || (0..4).map(|_| ev(1 << 20)).collect();
        while std::fs::metadata(&seg).unwrap().len()
            < MIN_SEGMENT_MAX_BYTES - (8 << 20) - (64 << 10)
        {
            s.append("fill", ExpectedRevision::Any, fill()).unwrap();
        }
        assert_eq!(list_segments(&log).unwrap().len(), 1);
        (s, log)
    }

    fn names(log: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(log)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn count(s: &Store, stream: &str) -> usize {
        s.read_stream(stream, StreamFrom::Start, Direction::Forwards, 10_000)
            .map_or(0, |v| v.len())
    }

    #[test]
    fn a_full_disk_at_a_roll_over_is_refused_cleanly_and_retried() {
        let dir = tempfile::tempdir().unwrap();
        let (s, log) = nearly_full(dir.path());
        let before = names(&log);
        let filled = count(&s, "fill");
        // ENOSPC while writing the map, after part of its .tmp was written.
        fault::set(&log, |step, log| match step {
            Step::Map => {
                std::fs::write(log.join("00000000000000000001.map.tmp"), [1; 10])?;
                Err(errno(libc::ENOSPC))
            }
            Step::Segment => Ok(()),
        });
        let e = s.append("big", ExpectedRevision::Any, big()).unwrap_err();
        assert!(matches!(e, Error::DiskFull(_)), "{e}");
        assert!(s.poisoned().is_none());
        assert!(s.is_disk_full());
        assert_eq!(names(&log), before, "the partial map is gone");
        // What still fits the old segment is written meanwhile.
        s.append("small", ExpectedRevision::Any, vec![ev(100)])
            .unwrap();
        // The map fits now, the next segment's header does not (EDQUOT).
        fault::set(&log, |step, _| match step {
            Step::Map => Ok(()),
            Step::Segment => Err(errno(libc::EDQUOT)),
        });
        let e = s.append("big", ExpectedRevision::Any, big()).unwrap_err();
        assert!(matches!(e, Error::DiskFull(_)), "{e}");
        assert!(s.poisoned().is_none());
        assert_eq!(list_segments(&log).unwrap().len(), 1);
        // A half-made next segment (a real creation failing) is removed too.
        let head = s.head();
        fault::set(&log, move |step, log| match step {
            Step::Map => Ok(()),
            Step::Segment => {
                std::fs::write(segment_path(log, head + 1), [0; 5])?;
                Err(errno(libc::ENOSPC))
            }
        });
        let e = s.append("big", ExpectedRevision::Any, big()).unwrap_err();
        assert!(matches!(e, Error::DiskFull(_)), "{e}");
        assert!(!segment_path(&log, head + 1).exists());
        assert_eq!(count(&s, "big"), 0);
        // Space returns: the roll happens at the next commit.
        fault::clear(&log);
        s.append("big", ExpectedRevision::Any, big()).unwrap();
        assert!(!s.is_disk_full());
        assert_eq!(list_segments(&log).unwrap().len(), 2);
        s.close().unwrap();
        drop(s);
        let s = Store::open(dir.path(), Options::default()).unwrap();
        assert_eq!(count(&s, "fill"), filled);
        assert_eq!(count(&s, "small"), 1);
        assert_eq!(count(&s, "big"), 8);
        let report = crate::verify::verify(dir.path(), &mut |_, _| {}).unwrap();
        assert!(report.problems.is_empty(), "{report:?}");
    }

    #[test]
    fn another_failure_at_a_roll_over_poisons_and_records_the_durable_end() {
        let dir = tempfile::tempdir().unwrap();
        let (s, log) = nearly_full(dir.path());
        let head = s.head();
        let len = std::fs::metadata(segment_path(&log, 1)).unwrap().len();
        fault::set(&log, |step, log| match step {
            Step::Map => Ok(()),
            Step::Segment => {
                create_segment(log, 1 << 40)?;
                Err(errno(libc::EIO))
            }
        });
        let e = s.append("big", ExpectedRevision::Any, big()).unwrap_err();
        assert!(matches!(e, Error::Poisoned(_)), "{e}");
        assert!(s.poisoned().is_some());
        fault::clear(&log);
        let bytes = std::fs::read(marker_path(&log)).unwrap();
        assert_eq!(
            crate::durable_end::decode(&bytes),
            Some(DurableEnd {
                segment_base: 1,
                segment_len: len,
                head,
            })
        );
        drop(s);
        // The open cuts back to it: the stray segment after it goes.
        let opts = Options {
            segment_max_bytes: MIN_SEGMENT_MAX_BYTES,
            ..Options::default()
        };
        let s = Store::open(dir.path(), opts).unwrap();
        assert_eq!(s.head(), head);
        assert!(!marker_path(&log).exists());
        assert_eq!(list_segments(&log).unwrap().len(), 1);
        s.append("big", ExpectedRevision::Any, big()).unwrap();
        assert_eq!(list_segments(&log).unwrap().len(), 2);
    }
}
