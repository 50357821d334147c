//! The power cut: from the durable state and the unsynced changes, decide
//! what a machine would find after losing power, and make that the new
//! state (current = durable, nothing pending).
//!
//! Modes ([`CutMode`]), chosen by the caller (tests pick one from a seed):
//! * `DropUnsynced` — nothing unsynced survives: the strict reading of
//!   POSIX, and what LazyFS's "clear cache" does.
//! * `KeepPrefix` — for each file a random prefix of its unsynced writes
//!   and length changes, for each directory a random prefix of its
//!   unsynced entry changes (an ordered journal).
//! * `KeepRandomPages` — for each file, each 4 KiB page its unsynced writes
//!   touched holds either its new or its old bytes, independently, and the
//!   length is the one after a random prefix of its changes (so a grown
//!   file may end in zeros: a disk that wrote the size and not the data).
//!   Directories keep a random prefix.
//! * `TearLastPage` — every unsynced change survives except the last write
//!   of each file, whose last page is torn: a random prefix of it is new,
//!   the rest zeros or garbage, the length as written. Directories keep
//!   everything.
//! * `KeepEverything` — a process crash (`kill -9`) rather than a power
//!   cut: the page cache survives.
//!
//! Not here: the model itself (`state`), unmounting and mounting again
//! around a cut (`lib`).

use crate::state::{DataOp, Ino, Node, State, PAGE, ROOT};
use rand::{Rng, RngCore};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;

/// What survives a power cut (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutMode {
    /// Nothing unsynced survives.
    DropUnsynced,
    /// A random prefix of each file's and directory's unsynced changes.
    KeepPrefix,
    /// A random subset of each file's unsynced pages.
    KeepRandomPages,
    /// Everything, but each file's last unsynced write has a torn last page.
    TearLastPage,
    /// Everything (a process crash, not a power cut).
    KeepEverything,
}

impl CutMode {
    /// Every power-cut mode (not `KeepEverything`).
    pub const POWER_CUTS: [CutMode; 4] = [
        CutMode::DropUnsynced,
        CutMode::KeepPrefix,
        CutMode::KeepRandomPages,
        CutMode::TearLastPage,
    ];
}

/// What a cut found and kept.
#[derive(Debug, Clone, Default)]
pub struct CutReport {
    /// The mode used (`None` only in a default report).
    pub mode: Option<CutMode>,
    /// Files with unsynced changes.
    pub files_pending: u64,
    /// Unsynced data changes (writes, length changes) over all files.
    pub data_ops_pending: u64,
    /// Unsynced bytes written.
    pub bytes_pending: u64,
    /// Unsynced directory changes.
    pub dir_ops_pending: u64,
    /// Of those directory changes, how many survived.
    pub dir_ops_kept: u64,
    /// Files that existed before the cut (by their last name) and not after.
    pub files_lost: Vec<String>,
    /// Files whose last page was torn.
    pub torn: Vec<String>,
}

impl fmt::Display for CutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: {} files with {} unsynced changes ({} bytes), {}/{} directory changes kept",
            self.mode,
            self.files_pending,
            self.data_ops_pending,
            self.bytes_pending,
            self.dir_ops_kept,
            self.dir_ops_pending
        )?;
        if !self.files_lost.is_empty() {
            write!(f, ", lost {:?}", self.files_lost)?;
        }
        if !self.torn.is_empty() {
            write!(f, ", torn {:?}", self.torn)?;
        }
        Ok(())
    }
}

/// Copies `len` bytes of `from` to the start of `to`.
fn copy_prefix(from: &File, to: &File, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        from.read_exact_at(&mut buf[..n], at)?;
        to.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
    to.set_len(len)
}

fn apply(out: &File, op: &DataOp) -> io::Result<()> {
    match op {
        DataOp::Write { off, data } => out.write_all_at(data, *off),
        DataOp::SetLen(l) => out.set_len(*l),
    }
}

/// The pages (indices) an op touches; `len` is the file's length before it.
fn pages_of(op: &DataOp, len: u64) -> std::ops::Range<u64> {
    let (a, b) = match op {
        DataOp::Write { off, data } => (*off, off + data.len() as u64),
        DataOp::SetLen(l) => (len.min(*l), len.max(*l)),
    };
    if a == b {
        return 0..0;
    }
    a / PAGE..b.div_ceil(PAGE)
}

impl State {
    /// Cuts the power: keeps what `mode` (with `rng`) lets survive, makes
    /// it the whole state, and forgets everything else. Callers unmount
    /// first, so that nothing changes meanwhile.
    pub fn cut(&mut self, mode: CutMode, rng: &mut dyn RngCore) -> io::Result<CutReport> {
        let mut report = CutReport {
            mode: Some(mode),
            ..CutReport::default()
        };
        let names_before = self.file_names();
        // Directories: durable entries plus the surviving changes.
        let mut dirs: BTreeMap<Ino, BTreeMap<OsString, Ino>> = BTreeMap::new();
        for (&ino, node) in &self.nodes {
            let Node::Dir(d) = node else { continue };
            let n = d.pending.len();
            let k = match mode {
                CutMode::DropUnsynced => 0,
                CutMode::KeepEverything | CutMode::TearLastPage => n,
                CutMode::KeepPrefix | CutMode::KeepRandomPages => rng.random_range(0..=n),
            };
            let mut m = d.durable.clone();
            for op in &d.pending[..k] {
                op.apply(&mut m);
            }
            report.dir_ops_pending += n as u64;
            report.dir_ops_kept += k as u64;
            dirs.insert(ino, m);
        }
        // What can be reached from the root, and each file's link count.
        let mut reachable: BTreeSet<Ino> = BTreeSet::new();
        let mut links: BTreeMap<Ino, u32> = BTreeMap::new();
        let mut stack = vec![ROOT];
        while let Some(d) = stack.pop() {
            if !reachable.insert(d) {
                continue;
            }
            for child in dirs[&d].values() {
                match self.nodes.get(child) {
                    Some(Node::Dir(_)) => stack.push(*child),
                    Some(Node::File(_)) => {
                        reachable.insert(*child);
                        *links.entry(*child).or_default() += 1;
                    }
                    None => {
                        return Err(io::Error::other(format!(
                            "lossyfs: an entry names inode {child}, which was forgotten"
                        )))
                    }
                }
            }
        }
        // Files: their surviving bytes, into `n<ino>`.
        for &ino in &reachable {
            if let Some(Node::File(_)) = self.nodes.get(&ino) {
                self.cut_file(ino, mode, rng, &mut report)?;
            }
        }
        // The result becomes the whole state.
        let gone: Vec<Ino> = self
            .nodes
            .keys()
            .copied()
            .filter(|i| !reachable.contains(i))
            .collect();
        for ino in gone {
            if let Some(Node::File(_)) = self.nodes.remove(&ino) {
                let _ = std::fs::remove_file(self.cur_path(ino));
                let _ = std::fs::remove_file(self.durable_path(ino));
            }
        }
        for &ino in &reachable {
            let (cur_path, dur_path, new_path) = (
                self.cur_path(ino),
                self.durable_path(ino),
                self.store.join(format!("n{ino}")),
            );
            match self.nodes.get_mut(&ino).expect("reachable") {
                Node::Dir(d) => {
                    d.entries = dirs.remove(&ino).expect("every directory");
                    d.durable = d.entries.clone();
                    d.pending.clear();
                    d.linked = true;
                }
                Node::File(f) => {
                    std::fs::rename(&new_path, &cur_path)?;
                    std::fs::copy(&cur_path, &dur_path)?;
                    let rw = |p| OpenOptions::new().read(true).write(true).open(p);
                    f.cur = rw(&cur_path)?;
                    f.durable = Some(rw(&dur_path)?);
                    f.len = f.cur.metadata()?.len();
                    f.durable_len = f.len;
                    f.pending.clear();
                    f.pending_bytes = 0;
                    f.links = links[&ino];
                    f.open = 0;
                }
            }
        }
        let names_after = self.file_names();
        report.files_lost = names_before.difference(&names_after).cloned().collect();
        self.stats.cuts += 1;
        Ok(report)
    }

    /// The paths of every current file (for reports).
    fn file_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![(ROOT, String::new())];
        while let Some((d, prefix)) = stack.pop() {
            let Some(Node::Dir(dir)) = self.nodes.get(&d) else {
                continue;
            };
            for (name, ino) in &dir.entries {
                let path = format!("{prefix}/{}", name.to_string_lossy());
                match self.nodes.get(ino) {
                    Some(Node::Dir(_)) => stack.push((*ino, path)),
                    _ => {
                        out.insert(path);
                    }
                }
            }
        }
        out
    }

    /// Writes what survives of file `ino` to `<store>/n<ino>`.
    fn cut_file(
        &self,
        ino: Ino,
        mode: CutMode,
        rng: &mut dyn RngCore,
        report: &mut CutReport,
    ) -> io::Result<()> {
        let out = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.store.join(format!("n{ino}")))?;
        let Some(Node::File(f)) = self.nodes.get(&ino) else {
            return Ok(());
        };
        let ops = &f.pending;
        if !ops.is_empty() {
            report.files_pending += 1;
            report.data_ops_pending += ops.len() as u64;
            report.bytes_pending += f.pending_bytes;
        }
        if mode == CutMode::KeepEverything {
            return copy_prefix(&f.cur, &out, f.len);
        }
        match &f.durable {
            Some(d) => copy_prefix(d, &out, f.durable_len)?,
            None => out.set_len(0)?,
        }
        let n = ops.len();
        match mode {
            CutMode::KeepEverything | CutMode::DropUnsynced => {}
            CutMode::KeepPrefix => {
                let k = rng.random_range(0..=n);
                for op in &ops[..k] {
                    apply(&out, op)?;
                }
            }
            CutMode::TearLastPage => {
                let Some((last, before)) = ops.split_last() else {
                    return Ok(());
                };
                for op in before {
                    apply(&out, op)?;
                }
                match last {
                    DataOp::Write { off, data } if !data.is_empty() => {
                        let end = off + data.len() as u64;
                        let page_start = ((end - 1) / PAGE * PAGE).max(*off);
                        let keep_to = rng.random_range(page_start..end);
                        out.write_all_at(&data[..(keep_to - off) as usize], *off)?;
                        let mut rest = vec![0u8; (end - keep_to) as usize];
                        if rng.random_bool(0.5) {
                            rng.fill_bytes(&mut rest);
                        }
                        out.write_all_at(&rest, keep_to)?;
                        report.torn.push(f.name.to_string_lossy().into_owned());
                    }
                    op => apply(&out, op)?,
                }
            }
            CutMode::KeepRandomPages => {
                let k = rng.random_range(0..=n);
                let mut len = f.durable_len;
                let mut final_len = len;
                let mut pages = BTreeSet::new();
                for (i, op) in ops.iter().enumerate() {
                    pages.extend(pages_of(op, len));
                    len = match op {
                        DataOp::Write { off, data } => len.max(off + data.len() as u64),
                        DataOp::SetLen(l) => *l,
                    };
                    if i + 1 == k {
                        final_len = len;
                    }
                }
                let mut buf = vec![0u8; PAGE as usize];
                for p in pages {
                    let at = p * PAGE;
                    if at >= final_len || !rng.random_bool(0.5) {
                        continue;
                    }
                    // The page's newest bytes (zeros past the current end).
                    buf.fill(0);
                    let have = f.len.saturating_sub(at).min(PAGE) as usize;
                    f.cur.read_exact_at(&mut buf[..have], at)?;
                    out.write_all_at(&buf, at)?;
                }
                out.set_len(final_len)?;
            }
        }
        Ok(())
    }
}
