//! The model behind the filesystem: every file and directory as running
//! programs see it (*current*) and as a power cut would leave it
//! (*durable*), with the unsynced changes in between.
//!
//! * A file's current bytes live in `<store>/c<ino>`, its durable bytes in
//!   `<store>/d<ino>`. Every write goes to the current file and is also
//!   remembered, with its data, in the file's `pending` list; an
//!   `fsync`/`fdatasync` applies the pending list to the durable file and
//!   empties it. (Both syncs make data *and* size durable: what
//!   `fdatasync` promises for a size a read needs.)
//! * A directory is a name → inode map, current and durable, plus the
//!   entries created, renamed or removed since its last fsync (`pending`).
//!   Only an fsync *of the directory* makes them durable: a file fsynced
//!   but never linked durably is lost at a power cut, and a rename not
//!   followed by a directory fsync is undone.
//! * An inode lives as long as anything can bring it back: a current or
//!   durable entry, a pending directory change, or an open handle.
//!
//! Every operation returns an errno on failure, as FUSE wants it. While
//! the state is *frozen* (the power is gone) every change fails with `EIO`.
//!
//! File data operations (open, read, write, truncate, fallocate, attributes)
//! and space accounting are in `state/data.rs`; the namespace and fsync
//! here.
//!
//! Not here: choosing what survives a power cut (`cut`), the FUSE protocol
//! (`fuse`), which faults to inject when (`faults`).

mod data;

use crate::faults::Faults;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// An inode number; the root directory is [`ROOT`].
pub type Ino = u64;
/// The root directory's inode (FUSE's fixed root id).
pub const ROOT: Ino = 1;
/// The page size power-cut modes work in.
pub const PAGE: u64 = 4096;

/// An errno, as FUSE replies carry them.
pub type Errno = i32;
/// A result with an errno.
pub type R<T> = Result<T, Errno>;

pub(crate) fn errno(e: io::Error) -> Errno {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// File or directory (the only kinds this filesystem has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// What `stat` shows of an inode.
#[derive(Debug, Clone)]
pub struct Attr {
    /// Inode number.
    pub ino: Ino,
    /// File or directory.
    pub kind: Kind,
    /// Current length (files) or entry count (directories).
    pub size: u64,
    /// Permission bits.
    pub perm: u16,
    /// Current links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last access.
    pub atime: SystemTime,
    /// Last change of the data.
    pub mtime: SystemTime,
    /// Last change of the inode.
    pub ctime: SystemTime,
}

/// One unsynced change of a file's bytes or length, in call order.
#[derive(Debug, Clone)]
pub(crate) enum DataOp {
    Write { off: u64, data: Vec<u8> },
    SetLen(u64),
}

/// One unsynced change of a directory's entries, in call order. A rename
/// within one directory is one change (it is atomic); across directories
/// it is an unlink in one and a link in the other.
#[derive(Debug, Clone)]
pub(crate) enum DirOp {
    Link(OsString, Ino),
    Unlink(OsString),
    Rename {
        from: OsString,
        to: OsString,
        ino: Ino,
    },
}

/// Every inode a directory's durable entries or pending changes name.
fn mentioned(d: &DirNode) -> Vec<Ino> {
    let mut v: Vec<Ino> = d.durable.values().copied().collect();
    for op in &d.pending {
        if let DirOp::Link(_, i) | DirOp::Rename { ino: i, .. } = op {
            v.push(*i);
        }
    }
    v
}

impl DirOp {
    pub(crate) fn apply(&self, m: &mut BTreeMap<OsString, Ino>) {
        match self {
            DirOp::Link(name, ino) => {
                m.insert(name.clone(), *ino);
            }
            DirOp::Unlink(name) => {
                m.remove(name);
            }
            DirOp::Rename { from, to, ino } => {
                m.remove(from);
                m.insert(to.clone(), *ino);
            }
        }
    }

    fn names(&self, ino: Ino) -> bool {
        matches!(self, DirOp::Link(_, i) | DirOp::Rename { ino: i, .. } if *i == ino)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

impl Meta {
    fn new(perm: u16, uid: u32, gid: u32) -> Meta {
        let now = SystemTime::now();
        Meta {
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }
}

#[derive(Debug)]
pub(crate) struct FileNode {
    pub meta: Meta,
    /// The last name it was given (fault filters, reports).
    pub name: OsString,
    pub cur: File,
    pub len: u64,
    pub durable: Option<File>,
    pub durable_len: u64,
    pub pending: Vec<DataOp>,
    pub pending_bytes: u64,
    pub links: u32,
    pub open: u32,
}

#[derive(Debug)]
pub(crate) struct DirNode {
    pub meta: Meta,
    pub name: OsString,
    pub entries: BTreeMap<OsString, Ino>,
    pub durable: BTreeMap<OsString, Ino>,
    pub pending: Vec<DirOp>,
    /// Has a current entry in a parent (the root always has).
    pub linked: bool,
}

#[derive(Debug)]
pub(crate) enum Node {
    File(FileNode),
    Dir(DirNode),
}

/// Counters of what the filesystem was asked to do (since it was created).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Writes applied.
    pub writes: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Successful fsyncs of files.
    pub fsyncs: u64,
    /// Successful fsyncs of directories.
    pub dir_fsyncs: u64,
    /// Power cuts (and plain remounts).
    pub cuts: u64,
    /// Changes refused because the state was frozen.
    pub refused_frozen: u64,
}

/// The whole filesystem.
#[derive(Debug)]
pub struct State {
    pub(crate) store: PathBuf,
    pub(crate) nodes: BTreeMap<Ino, Node>,
    next_ino: Ino,
    pub(crate) frozen: bool,
    pub(crate) faults: Faults,
    pub(crate) stats: Stats,
}

impl State {
    /// An empty filesystem keeping its bytes in `store` (created if needed;
    /// whatever is in it is removed).
    pub fn new(store: &Path) -> io::Result<State> {
        if store.exists() {
            std::fs::remove_dir_all(store)?;
        }
        std::fs::create_dir_all(store)?;
        let mut nodes = BTreeMap::new();
        nodes.insert(
            ROOT,
            Node::Dir(DirNode {
                meta: Meta::new(0o755, 0, 0),
                name: OsString::from("/"),
                entries: BTreeMap::new(),
                durable: BTreeMap::new(),
                pending: Vec::new(),
                linked: true,
            }),
        );
        Ok(State {
            store: store.to_owned(),
            nodes,
            next_ino: ROOT + 1,
            frozen: false,
            faults: Faults::default(),
            stats: Stats::default(),
        })
    }

    pub(crate) fn cur_path(&self, ino: Ino) -> PathBuf {
        self.store.join(format!("c{ino}"))
    }

    pub(crate) fn durable_path(&self, ino: Ino) -> PathBuf {
        self.store.join(format!("d{ino}"))
    }

    fn change(&mut self) -> R<()> {
        if self.frozen {
            self.stats.refused_frozen += 1;
            return Err(libc::EIO);
        }
        Ok(())
    }

    fn dir(&self, ino: Ino) -> R<&DirNode> {
        match self.nodes.get(&ino) {
            Some(Node::Dir(d)) => Ok(d),
            Some(Node::File(_)) => Err(libc::ENOTDIR),
            None => Err(libc::ENOENT),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> R<&mut DirNode> {
        match self.nodes.get_mut(&ino) {
            Some(Node::Dir(d)) => Ok(d),
            Some(Node::File(_)) => Err(libc::ENOTDIR),
            None => Err(libc::ENOENT),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> R<&mut FileNode> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => Ok(f),
            Some(Node::Dir(_)) => Err(libc::EISDIR),
            None => Err(libc::ENOENT),
        }
    }

    /// The name of an inode (for fault filters).
    pub(crate) fn name_of(&self, ino: Ino) -> String {
        match self.nodes.get(&ino) {
            Some(Node::File(f)) => f.name.to_string_lossy().into_owned(),
            Some(Node::Dir(d)) => d.name.to_string_lossy().into_owned(),
            None => String::new(),
        }
    }

    /// `stat` of an inode.
    pub fn attr(&self, ino: Ino) -> R<Attr> {
        let (kind, size, nlink, m) = match self.nodes.get(&ino).ok_or(libc::ENOENT)? {
            Node::File(f) => (Kind::File, f.len, f.links, &f.meta),
            Node::Dir(d) => (Kind::Dir, d.entries.len() as u64, 2, &d.meta),
        };
        Ok(Attr {
            ino,
            kind,
            size,
            perm: m.perm,
            nlink,
            uid: m.uid,
            gid: m.gid,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
        })
    }

    /// Looks `name` up in `parent`.
    pub fn lookup(&self, parent: Ino, name: &OsStr) -> R<Attr> {
        let ino = *self.dir(parent)?.entries.get(name).ok_or(libc::ENOENT)?;
        self.attr(ino)
    }

    fn link_new(&mut self, parent: Ino, name: &OsStr, node: Node) -> R<Attr> {
        self.change()?;
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, node);
        let d = self.dir_mut(parent)?;
        d.entries.insert(name.to_owned(), ino);
        d.pending.push(DirOp::Link(name.to_owned(), ino));
        d.meta.mtime = SystemTime::now();
        self.attr(ino)
    }

    /// Creates an empty file (opened once when `open`).
    pub fn create_file(
        &mut self,
        parent: Ino,
        name: &OsStr,
        perm: u16,
        uid: u32,
        gid: u32,
        open: bool,
    ) -> R<Attr> {
        self.change()?;
        let ino = self.next_ino;
        let cur = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.cur_path(ino))
            .map_err(errno)?;
        self.link_new(
            parent,
            name,
            Node::File(FileNode {
                meta: Meta::new(perm, uid, gid),
                name: name.to_owned(),
                cur,
                len: 0,
                durable: None,
                durable_len: 0,
                pending: Vec::new(),
                pending_bytes: 0,
                links: 1,
                open: u32::from(open),
            }),
        )
    }

    /// Creates an empty directory.
    pub fn mkdir(&mut self, parent: Ino, name: &OsStr, perm: u16, uid: u32, gid: u32) -> R<Attr> {
        self.link_new(
            parent,
            name,
            Node::Dir(DirNode {
                meta: Meta::new(perm, uid, gid),
                name: name.to_owned(),
                entries: BTreeMap::new(),
                durable: BTreeMap::new(),
                pending: Vec::new(),
                linked: true,
            }),
        )
    }

    /// Removes the entry `name` of `parent`, which must be a file (`dir`
    /// false) or an empty directory (`dir` true).
    pub fn remove(&mut self, parent: Ino, name: &OsStr, dir: bool) -> R<()> {
        self.change()?;
        let ino = *self.dir(parent)?.entries.get(name).ok_or(libc::ENOENT)?;
        match (self.nodes.get(&ino), dir) {
            (Some(Node::Dir(d)), true) if !d.entries.is_empty() => return Err(libc::ENOTEMPTY),
            (Some(Node::Dir(_)), false) => return Err(libc::EISDIR),
            (Some(Node::File(_)), true) => return Err(libc::ENOTDIR),
            _ => {}
        }
        let d = self.dir_mut(parent)?;
        d.entries.remove(name);
        d.pending.push(DirOp::Unlink(name.to_owned()));
        d.meta.mtime = SystemTime::now();
        self.unlinked(ino);
        Ok(())
    }

    /// One current entry naming `ino` went.
    fn unlinked(&mut self, ino: Ino) {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => f.links = f.links.saturating_sub(1),
            Some(Node::Dir(d)) => d.linked = false,
            None => {}
        }
        self.collect(ino);
    }

    /// Renames `parent/name` to `newparent/newname`, replacing a file (or an
    /// empty directory) there unless `noreplace`.
    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        newparent: Ino,
        newname: &OsStr,
        noreplace: bool,
    ) -> R<()> {
        self.change()?;
        let ino = *self.dir(parent)?.entries.get(name).ok_or(libc::ENOENT)?;
        let target = self.dir(newparent)?.entries.get(newname).copied();
        if target == Some(ino) {
            return Ok(());
        }
        let src_dir = matches!(self.nodes.get(&ino), Some(Node::Dir(_)));
        if let Some(t) = target {
            if noreplace {
                return Err(libc::EEXIST);
            }
            match (self.nodes.get(&t), src_dir) {
                (Some(Node::Dir(d)), true) if !d.entries.is_empty() => return Err(libc::ENOTEMPTY),
                (Some(Node::Dir(_)), false) => return Err(libc::EISDIR),
                (Some(Node::File(_)), true) => return Err(libc::ENOTDIR),
                _ => {}
            }
        }
        let now = SystemTime::now();
        if parent == newparent {
            let d = self.dir_mut(parent)?;
            d.entries.remove(name);
            d.entries.insert(newname.to_owned(), ino);
            d.pending.push(DirOp::Rename {
                from: name.to_owned(),
                to: newname.to_owned(),
                ino,
            });
            d.meta.mtime = now;
        } else {
            let d = self.dir_mut(parent)?;
            d.entries.remove(name);
            d.pending.push(DirOp::Unlink(name.to_owned()));
            d.meta.mtime = now;
            let nd = self.dir_mut(newparent)?;
            nd.entries.insert(newname.to_owned(), ino);
            nd.pending.push(DirOp::Link(newname.to_owned(), ino));
            nd.meta.mtime = now;
        }
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => f.name = newname.to_owned(),
            Some(Node::Dir(d)) => d.name = newname.to_owned(),
            None => {}
        }
        if let Some(t) = target {
            self.unlinked(t);
        }
        Ok(())
    }

    /// Whether anything can still bring `ino` back: a current entry, an
    /// open handle, a durable entry or a pending directory change.
    fn referenced(&self, ino: Ino) -> bool {
        let live = match self.nodes.get(&ino) {
            Some(Node::File(f)) => f.links > 0 || f.open > 0,
            Some(Node::Dir(d)) => d.linked,
            None => return false,
        };
        live || self.nodes.values().any(|n| match n {
            Node::Dir(d) => {
                d.durable.values().any(|i| *i == ino) || d.pending.iter().any(|op| op.names(ino))
            }
            Node::File(_) => false,
        })
    }

    /// Forgets `ino` (and its bytes) if nothing can bring it back.
    fn collect(&mut self, ino: Ino) {
        if ino == ROOT || self.referenced(ino) {
            return;
        }
        let dropped = self.nodes.remove(&ino);
        if let Some(Node::Dir(d)) = dropped {
            // What only it could bring back goes with it.
            for child in mentioned(&d) {
                self.collect(child);
            }
        } else if dropped.is_some() {
            let _ = std::fs::remove_file(self.cur_path(ino));
            let _ = std::fs::remove_file(self.durable_path(ino));
        }
    }

    /// `fsync`/`fdatasync` of a file, or of a directory (`fsyncdir`): what
    /// was pending becomes durable. `Err(EIO)` leaves it pending.
    pub fn fsync(&mut self, ino: Ino) -> R<()> {
        self.change()?;
        let name = self.name_of(ino);
        if self.faults.fsync_fails(&name) {
            if self.faults.plan.eio_loses_pending {
                if let Some(Node::File(f)) = self.nodes.get_mut(&ino) {
                    f.pending.clear();
                    f.pending_bytes = 0;
                }
            }
            return Err(libc::EIO);
        }
        let durable_path = self.durable_path(ino);
        match self.nodes.get_mut(&ino).ok_or(libc::ENOENT)? {
            Node::File(f) => {
                if f.durable.is_none() {
                    let d = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&durable_path)
                        .map_err(errno)?;
                    f.durable = Some(d);
                }
                let d = f.durable.as_ref().expect("opened above");
                for op in f.pending.drain(..) {
                    match op {
                        DataOp::Write { off, data } => d.write_all_at(&data, off),
                        DataOp::SetLen(l) => d.set_len(l),
                    }
                    .map_err(errno)?;
                }
                d.set_len(f.len).map_err(errno)?;
                f.durable_len = f.len;
                f.pending_bytes = 0;
                self.stats.fsyncs += 1;
            }
            Node::Dir(d) => {
                let gone = mentioned(d);
                d.durable = d.entries.clone();
                d.pending.clear();
                self.stats.dir_fsyncs += 1;
                for ino in gone {
                    self.collect(ino);
                }
            }
        }
        if self.faults.freeze_after(&name) {
            self.frozen = true;
        }
        Ok(())
    }

    /// The entries of a directory.
    pub fn readdir(&self, ino: Ino) -> R<Vec<(Ino, Kind, OsString)>> {
        let d = self.dir(ino)?;
        Ok(d.entries
            .iter()
            .map(|(name, i)| {
                let kind = match self.nodes.get(i) {
                    Some(Node::Dir(_)) => Kind::Dir,
                    _ => Kind::File,
                };
                (*i, kind, name.clone())
            })
            .collect())
    }
}
