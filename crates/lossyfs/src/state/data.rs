//! A file's data as programs change it: open (with truncation), read,
//! write (remembered as pending until an fsync), truncation, attributes and
//! `fallocate`; and the space they may use (`used`, `room`, the capacity
//! fault, `space` for statfs, `pending` for the tests' reports). Every
//! change goes to the current bytes and the pending list.
//!
//! Not here: what an fsync makes durable, directories (`state`).

use super::*;

impl State {
    /// Opens a file (truncating it if asked).
    pub fn open(&mut self, ino: Ino, truncate: bool) -> R<()> {
        if truncate {
            self.set_len(ino, 0)?;
        }
        if let Some(Node::File(f)) = self.nodes.get_mut(&ino) {
            f.open += 1;
        }
        Ok(())
    }

    /// Closes one handle of a file.
    pub fn release(&mut self, ino: Ino) {
        if let Some(Node::File(f)) = self.nodes.get_mut(&ino) {
            f.open = f.open.saturating_sub(1);
            self.collect(ino);
        }
    }

    /// Reads up to `size` bytes at `off` of the current file.
    pub fn read(&mut self, ino: Ino, off: u64, size: u32) -> R<Vec<u8>> {
        let f = self.file_mut(ino)?;
        let end = f.len.min(off.saturating_add(size as u64));
        if off >= end {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; (end - off) as usize];
        f.cur.read_exact_at(&mut buf, off).map_err(errno)?;
        Ok(buf)
    }

    /// Bytes the live files hold (what a space budget counts).
    pub(crate) fn used(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| match n {
                Node::File(f) if f.links > 0 || f.open > 0 => f.len,
                _ => 0,
            })
            .sum()
    }

    /// How far `ino` may grow under the space budget (`u64::MAX`: no budget).
    fn room(&self, ino: Ino) -> u64 {
        match (self.faults.capacity, self.nodes.get(&ino)) {
            (Some(cap), Some(Node::File(f))) => f.len + cap.saturating_sub(self.used()),
            _ => u64::MAX,
        }
    }

    /// Writes `data` at `off`; returns how much was written (less on a
    /// short write or when the space budget runs out).
    pub fn write(&mut self, ino: Ino, off: u64, data: &[u8]) -> R<u32> {
        self.change()?;
        let name = self.name_of(ino);
        if self.faults.write_fails(&name) {
            return Err(libc::EIO);
        }
        let mut n = self.faults.write_len(data.len());
        let room = self.room(ino);
        if off.saturating_add(n as u64) > room {
            self.faults.hits.enospc += 1;
            n = room.saturating_sub(off).min(n as u64) as usize;
            if n == 0 {
                return Err(libc::ENOSPC);
            }
        }
        self.apply_write(ino, off, &data[..n])?;
        Ok(n as u32)
    }

    /// Writes to the current file and remembers the write as pending.
    fn apply_write(&mut self, ino: Ino, off: u64, data: &[u8]) -> R<()> {
        let f = self.file_mut(ino)?;
        f.cur.write_all_at(data, off).map_err(errno)?;
        f.len = f.len.max(off + data.len() as u64);
        f.pending.push(DataOp::Write {
            off,
            data: data.to_vec(),
        });
        f.pending_bytes += data.len() as u64;
        f.meta.mtime = SystemTime::now();
        self.stats.writes += 1;
        self.stats.bytes_written += data.len() as u64;
        Ok(())
    }

    /// Sets a file's length.
    pub fn set_len(&mut self, ino: Ino, len: u64) -> R<()> {
        self.change()?;
        if len > self.room(ino) {
            self.faults.hits.enospc += 1;
            return Err(libc::ENOSPC);
        }
        let f = self.file_mut(ino)?;
        if f.len == len {
            return Ok(());
        }
        f.cur.set_len(len).map_err(errno)?;
        f.len = len;
        f.pending.push(DataOp::SetLen(len));
        f.meta.mtime = SystemTime::now();
        Ok(())
    }

    /// Changes permissions, owner or times (not part of the power-cut
    /// model: kept as set).
    pub fn set_meta(
        &mut self,
        ino: Ino,
        perm: Option<u16>,
        uid: Option<u32>,
        gid: Option<u32>,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> R<()> {
        self.change()?;
        let m = match self.nodes.get_mut(&ino).ok_or(libc::ENOENT)? {
            Node::File(f) => &mut f.meta,
            Node::Dir(d) => &mut d.meta,
        };
        if let Some(p) = perm {
            m.perm = p;
        }
        m.uid = uid.unwrap_or(m.uid);
        m.gid = gid.unwrap_or(m.gid);
        m.atime = atime.unwrap_or(m.atime);
        m.mtime = mtime.unwrap_or(m.mtime);
        m.ctime = SystemTime::now();
        Ok(())
    }

    /// `fallocate`: reserving space changes nothing the model tracks
    /// (checked against the space budget); punching a hole zeroes bytes.
    pub fn fallocate(&mut self, ino: Ino, off: u64, len: u64, mode: i32) -> R<()> {
        self.change()?;
        let end = off.saturating_add(len);
        let f = self.file_mut(ino)?;
        let flen = f.len;
        if mode & libc::FALLOC_FL_PUNCH_HOLE != 0 {
            if mode & libc::FALLOC_FL_KEEP_SIZE == 0 {
                return Err(libc::EOPNOTSUPP);
            }
            let to = end.min(flen);
            if off < to {
                self.apply_write(ino, off, &vec![0u8; (to - off) as usize])?;
            }
            return Ok(());
        }
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return Err(libc::EOPNOTSUPP);
        }
        if let Some(cap) = self.faults.capacity {
            if end > flen && self.used() + (end - flen) > cap {
                self.faults.hits.enospc += 1;
                return Err(libc::ENOSPC);
            }
        }
        if mode & libc::FALLOC_FL_KEEP_SIZE == 0 && end > flen {
            self.set_len(ino, end)?;
        }
        Ok(())
    }

    /// (total, free) bytes for `statfs`.
    pub fn space(&self) -> (u64, u64) {
        let used = self.used();
        match self.faults.capacity {
            Some(cap) => (cap.max(used), cap.saturating_sub(used)),
            None => (used + (64 << 30), 64 << 30),
        }
    }

    /// Unsynced changes right now: (files with pending writes, pending
    /// data bytes, pending directory changes).
    pub fn pending(&self) -> (u64, u64, u64) {
        let mut out = (0, 0, 0);
        for n in self.nodes.values() {
            match n {
                Node::File(f) if !f.pending.is_empty() => {
                    out.0 += 1;
                    out.1 += f.pending_bytes;
                }
                Node::Dir(d) => out.2 += d.pending.len() as u64,
                _ => {}
            }
        }
        out
    }
}
