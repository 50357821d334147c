//! Reading records back: by location, scanning forwards or backwards along
//! the log, and locating a global position (through the segment's
//! position map, `posmap`).
//!
//! Reads never go past the published committed end ([`Committed`]): bytes
//! beyond it may be written but not yet durable. Every record read is
//! CRC-checked; a bad one is an [`Error::Corrupt`], never served.

use crate::codec::{decode_record, trailer_len, DecodeError, RecordView};
use crate::error::{Error, Result};
use crate::limits::{POINT_READ_BYTES, READ_AHEAD_BYTES, READ_BEHIND_BYTES, SCAN_CHUNK_BYTES};
use crate::notify::{Committed, Notifier};
use crate::posmap::Located;
use crate::segment::FIRST_RECORD_OFFSET;
use crate::segments::{Segment, SegmentSet};
use crate::types::Position;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Where a record lives: the segment (by first position) and byte offset.
/// Only meaningful for the segment generation it was found in, so it is
/// never stored: positions are (see `posmap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Loc {
    pub seg: Position,
    pub offset: u32,
}

/// What became of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Its record is here.
    At(Loc),
    /// A scavenge dropped it: invisible for good.
    Dropped,
    /// Not committed, or no segment holds it.
    Missing,
}

fn corrupt(seg: &Segment, offset: u64, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        file: seg.path.clone(),
        offset,
        reason: reason.into(),
    }
}

/// A read view over the log. Scans stop at the head of one committed
/// snapshot; byte limits follow the live committed end, which only grows
/// (locations found in the tail or sled may be newer than the snapshot).
pub(crate) struct LogReader<'a> {
    /// The segments as they were when the reader was made.
    pub segments: SegmentSet,
    pub notifier: &'a Notifier,
    pub committed: Committed,
}

impl<'a> LogReader<'a> {
    fn segment(&self, base: Position) -> Result<Arc<Segment>> {
        self.segments.by_base(base).ok_or_else(|| Error::Corrupt {
            file: format!("segment {base}").into(),
            offset: 0,
            reason: "index points at a segment that does not exist".into(),
        })
    }

    /// How far readers may read in `seg`: durable bytes only.
    fn limit(&self, seg: &Segment) -> Result<u64> {
        use std::cmp::Ordering::*;
        let live = self.notifier.committed();
        Ok(match seg.base.cmp(&live.seg_base) {
            Equal => live.seg_len,
            Less => seg.len()?,
            Greater => FIRST_RECORD_OFFSET,
        })
    }

    /// What became of global position `pos`.
    pub(crate) fn find(&self, pos: Position) -> Result<Found> {
        if pos == 0 || pos > self.committed.head {
            return Ok(Found::Missing);
        }
        let Some(seg) = self.segments.for_position(pos) else {
            return Ok(Found::Missing);
        };
        Ok(match seg.locate(pos)? {
            Located::At(offset) => Found::At(Loc {
                seg: seg.base,
                offset,
            }),
            Located::Dropped => Found::Dropped,
            Located::Outside => Found::Missing,
        })
    }

    /// Where the record at global position `pos` starts, if it is committed
    /// and kept.
    pub(crate) fn locate(&self, pos: Position) -> Result<Option<Loc>> {
        Ok(match self.find(pos)? {
            Found::At(loc) => Some(loc),
            Found::Dropped | Found::Missing => None,
        })
    }

    /// The first kept record at or after position `pos` (up to the head):
    /// where a forward scan from `pos` starts.
    pub(crate) fn locate_at_or_after(&self, pos: Position) -> Result<Option<Loc>> {
        let head = self.committed.head;
        let mut p = pos.max(1);
        while p <= head {
            let Some(seg) = self.segments.for_position(p) else {
                return Ok(None);
            };
            if let Some((found, offset)) = seg.map.locate_at_or_after(seg.base, p)? {
                return Ok((found <= head).then_some(Loc {
                    seg: seg.base,
                    offset,
                }));
            }
            match self.segments.next_after(seg.base) {
                Some(next) => p = next.base,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Where a backward scan from position `pos` starts: the segment and the
    /// byte end of the last kept record at or before `pos`.
    pub(crate) fn backward_start(&self, pos: Position) -> Result<Option<(Position, u64)>> {
        let pos = pos.min(self.committed.head);
        let Some(seg) = self.segments.for_position(pos) else {
            return Ok(None);
        };
        let end = match seg.locate(pos)? {
            Located::At(offset) => {
                let loc = Loc {
                    seg: seg.base,
                    offset,
                };
                PointReader::new(self).with_record(loc, |v| offset as u64 + v.len as u64)?
            }
            // Dropped: everything kept before it ends where the next kept
            // record of this segment starts (or at the segment's end).
            Located::Dropped | Located::Outside => {
                match seg.map.locate_at_or_after(seg.base, pos + 1)? {
                    Some((_, offset)) => offset as u64,
                    None => self.limit(&seg)?,
                }
            }
        };
        Ok(Some((seg.base, end)))
    }

    /// Calls `f` for each record from `start` on, in log order, up to the head.
    pub(crate) fn scan_forward(
        &self,
        start: Loc,
        mut f: impl FnMut(&RecordView<'_>, Loc) -> ControlFlow<()>,
    ) -> Result<()> {
        let head = self.committed.head;
        let mut seg = self.segment(start.seg)?;
        let mut off = start.offset as u64;
        let mut buf = vec![0u8; SCAN_CHUNK_BYTES];
        loop {
            let limit = self.limit(&seg)?;
            while off < limit {
                let want = ((limit - off) as usize).min(buf.len());
                let n = seg.read_at(&mut buf[..want], off)?;
                if n < want {
                    return Err(corrupt(
                        &seg,
                        off + n as u64,
                        "segment shorter than committed length",
                    ));
                }
                let mut i = 0;
                while i < n {
                    match decode_record(&buf[i..n]) {
                        Ok(v) => {
                            if v.position > head {
                                return Ok(());
                            }
                            let loc = Loc {
                                seg: seg.base,
                                offset: (off + i as u64) as u32,
                            };
                            if f(&v, loc).is_break() {
                                return Ok(());
                            }
                            i += v.len;
                        }
                        Err(DecodeError::Incomplete { needed }) => {
                            if off + i as u64 + needed as u64 > limit {
                                return Err(corrupt(
                                    &seg,
                                    off + i as u64,
                                    "record runs past the committed end",
                                ));
                            }
                            if needed > buf.len() {
                                buf.resize(needed, 0);
                            }
                            break;
                        }
                        Err(DecodeError::Invalid(r)) => {
                            return Err(corrupt(&seg, off + i as u64, r))
                        }
                    }
                }
                off += i as u64;
            }
            if seg.base >= self.committed.seg_base {
                return Ok(());
            }
            match self.segments.next_after(seg.base) {
                Some(next) => {
                    seg = next;
                    off = FIRST_RECORD_OFFSET;
                }
                None => return Ok(()),
            }
        }
    }

    /// Calls `f` for each record ending at or before byte `end` of segment
    /// `seg_base`, newest first, across earlier segments down to position 1.
    pub(crate) fn scan_backward(
        &self,
        seg_base: Position,
        end: u64,
        mut f: impl FnMut(&RecordView<'_>, Loc) -> ControlFlow<()>,
    ) -> Result<()> {
        let mut seg = self.segment(seg_base)?;
        let mut end = end;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let mut want = SCAN_CHUNK_BYTES;
            while end > FIRST_RECORD_OFFSET {
                let start = end.saturating_sub(want as u64).max(FIRST_RECORD_OFFSET);
                let len = (end - start) as usize;
                buf.resize(len, 0);
                let n = seg.read_at(&mut buf, start)?;
                if n < len {
                    return Err(corrupt(
                        &seg,
                        start + n as u64,
                        "segment shorter than expected",
                    ));
                }
                let mut e = end;
                while e > FIRST_RECORD_OFFSET {
                    if e - start < 4 {
                        break;
                    }
                    let t = (e - start) as usize;
                    let l = trailer_len(&buf[..t])
                        .ok()
                        .map(|l| l as u64)
                        .filter(|l| e - l >= FIRST_RECORD_OFFSET)
                        .ok_or_else(|| corrupt(&seg, e - 4, "bad record trailer"))?;
                    if e - l < start {
                        want = want.max(l as usize);
                        break;
                    }
                    let r0 = (e - l - start) as usize;
                    let v = decode_record(&buf[r0..t])
                        .map_err(|err| corrupt(&seg, e - l, format!("{err:?}")))?;
                    e -= l;
                    if v.position <= self.committed.head {
                        let loc = Loc {
                            seg: seg.base,
                            offset: e as u32,
                        };
                        if f(&v, loc).is_break() {
                            return Ok(());
                        }
                    }
                }
                end = e;
            }
            match self.segments.prev_before(seg.base) {
                Some(prev) => {
                    end = prev.len()?;
                    seg = prev;
                }
                None => return Ok(()),
            }
        }
    }
}

/// Reads single records by location, reading ahead when consecutive reads
/// are adjacent in the file (as a stream's events often are).
pub(crate) struct PointReader<'r, 'a> {
    log: &'r LogReader<'a>,
    seg: Option<Arc<Segment>>,
    buf: Vec<u8>,
    buf_start: u64,
    last_end: u64,
}

impl<'r, 'a> PointReader<'r, 'a> {
    pub(crate) fn new(log: &'r LogReader<'a>) -> Self {
        PointReader {
            log,
            seg: None,
            buf: Vec::new(),
            buf_start: 0,
            last_end: u64::MAX,
        }
    }

    /// The log view this reader reads.
    pub(crate) fn log(&self) -> &'r LogReader<'a> {
        self.log
    }

    /// Calls `f` with the record at `loc`, reading ahead of it on a miss.
    pub(crate) fn with_record<T>(
        &mut self,
        loc: Loc,
        f: impl FnOnce(&RecordView<'_>) -> T,
    ) -> Result<T> {
        self.read(loc, false, f)
    }

    /// Like [`Self::with_record`], but on a miss reads the bytes *before*
    /// `loc` too, for walking a stream's chain of previous events.
    pub(crate) fn with_record_backwards<T>(
        &mut self,
        loc: Loc,
        f: impl FnOnce(&RecordView<'_>) -> T,
    ) -> Result<T> {
        self.read(loc, true, f)
    }

    fn read<T>(
        &mut self,
        loc: Loc,
        backwards: bool,
        f: impl FnOnce(&RecordView<'_>) -> T,
    ) -> Result<T> {
        let off = loc.offset as u64;
        let same_seg = self.seg.as_ref().is_some_and(|s| s.base == loc.seg);
        if !same_seg {
            self.seg = Some(self.log.segment(loc.seg)?);
            self.buf.clear();
        }
        let seg = self.seg.clone().expect("set above");
        let sequential = same_seg && off == self.last_end;
        // Serve from the buffer if the whole record is in it.
        let in_buf =
            same_seg && off >= self.buf_start && off < self.buf_start + self.buf.len() as u64;
        if in_buf {
            let i = (off - self.buf_start) as usize;
            if let Ok(v) = decode_record(&self.buf[i..]) {
                self.last_end = off + v.len as u64;
                return Ok(f(&v));
            }
        }
        let limit = self.log.limit(&seg)?;
        if off >= limit {
            return Err(corrupt(&seg, off, "location beyond the committed end"));
        }
        let mut want = if sequential {
            READ_AHEAD_BYTES
        } else {
            POINT_READ_BYTES
        };
        // Walking backwards, the next record wanted lies before this one.
        let behind = if backwards {
            (off - FIRST_RECORD_OFFSET).min(READ_BEHIND_BYTES as u64)
        } else {
            0
        };
        loop {
            let len = want.min((limit - off) as usize);
            self.buf.resize(behind as usize + len, 0);
            let n = seg.read_at(&mut self.buf, off - behind)?;
            self.buf.truncate(n);
            self.buf_start = off - behind;
            if n < behind as usize {
                return Err(corrupt(&seg, off, "segment shorter than expected"));
            }
            match decode_record(&self.buf[behind as usize..]) {
                Ok(v) => {
                    self.last_end = off + v.len as u64;
                    return Ok(f(&v));
                }
                Err(DecodeError::Incomplete { needed })
                    if needed > len && off + needed as u64 <= limit =>
                {
                    want = needed
                }
                Err(e) => return Err(corrupt(&seg, off, format!("{e:?}"))),
            }
        }
    }
}
