//! The open segments as readers and the writer see them: each [`Segment`]
//! with its read handle and position map, the copy-on-write list of them
//! ([`Segments`]), and the immutable snapshot a reader holds for its whole
//! life ([`SegmentSet`]). Readers that hold a segment a scavenge has since
//! replaced keep reading the old file until they let go of it.
//!
//! Not here: creating, naming and syncing segment files (`segment`).

use crate::error::Result;
use crate::posmap::{Located, PosMap};
use crate::types::Position;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

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
