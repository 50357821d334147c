//! The backup directory: its manifest, its lock, the names of the files it
//! stores, and the rules that keep the last complete backup intact
//! whatever happens to a later one.
//!
//! ```text
//! <dir>/MANIFEST.json   the last complete backup (written last, atomically)
//! <dir>/LOCK            flock: exclusive while a backup writes, shared while a restore reads
//! <dir>/log/<first position>-g<generation>-<random>.seg
//! <dir>/snapshots/<stream dir>/<revision>-<random>.snap
//! ```
//!
//! The manifest names, for every file of the data directory the backup
//! holds, where its bytes are stored (`stored`), how many of them count
//! (`length`: a stored file may be longer, never shorter), their CRC-32,
//! and the CRC-32 of their last 4 KiB (so the next backup can extend it).
//! The rules: a file the manifest names is never rewritten, only extended
//! past its `length` (a segment that grew since); new copies get new,
//! random names; the new manifest is written to a temporary file, fsynced
//! and renamed over the old one, and the directory fsynced — only then are
//! files no manifest names removed. So a backup killed at any point
//! leaves the previous manifest and every byte it counts in place.
//!
//! The index and the position maps are not in a backup: they are derived,
//! and the restored store rebuilds them from the log (`rebuild` says so).
//!
//! Not here: talking to the server (`backup`), copying into a data
//! directory (`restore`).

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The manifest's file name.
pub const MANIFEST: &str = "MANIFEST.json";
/// The lock file's name.
pub const LOCK: &str = "LOCK";
/// The manifest format this version writes and reads.
pub const FORMAT: &str = "strata-backup/1";
/// What a restored store rebuilds from the log instead of copying.
pub const REBUILT: [&str; 2] = ["index", "position maps"];

/// What kind of file a manifest entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A log segment.
    Segment,
    /// A snapshot.
    Snapshot,
}

/// One file of the data directory, as the backup holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Where it goes in the data directory, `/`-separated.
    pub path: String,
    /// Segment or snapshot.
    pub kind: Kind,
    /// A segment's generation (0 for snapshots).
    pub generation: u32,
    /// Bytes that count (the stored file may be longer).
    pub length: u64,
    /// CRC-32 of those bytes.
    pub crc32: u32,
    /// CRC-32 of their last min(length, 4096) bytes.
    pub tail_crc32: u32,
    /// Where they are, relative to the backup directory.
    pub stored: String,
}

/// A complete backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// Every record up to this global position is in the backup.
    pub position: u64,
    /// When the backup completed, unix µs.
    pub created_micros: i64,
    /// The server it was taken from.
    pub source: String,
    /// The server's version.
    pub server_version: String,
    /// Derived data a restore rebuilds ([`REBUILT`]).
    pub rebuild: Vec<String>,
    /// Segments in log order, then snapshots.
    pub files: Vec<Entry>,
}

impl Manifest {
    /// Bytes the backup counts.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }
}

/// Checks that a path from a server or a manifest stays where it belongs:
/// relative, under `log/` or `snapshots/`, plain names only.
pub fn check_path(path: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && *p != "."
            && *p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    let ok = match parts.first() {
        Some(&"log") => parts.len() == 2,
        Some(&"snapshots") => parts.len() == 3,
        _ => false,
    } && parts.iter().all(plain);
    if !ok {
        bail!("refusing the unexpected file path {path:?}");
    }
    Ok(())
}

/// A fresh name to store `path` under (never one a manifest names).
pub fn stored_name(path: &str, generation: u32) -> String {
    let (stem, ext) = path.rsplit_once('.').unwrap_or((path, "bin"));
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{stem}-g{generation}-{}.{ext}", &random[..8])
}

/// fsyncs a directory, so that entries created, renamed or removed in it
/// are durable.
pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents, fsyncing each parent.
pub fn create_dir_durably(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durably(parent)?;
        std::fs::create_dir(dir)?;
        fsync_dir(parent)
    } else {
        std::fs::create_dir(dir)
    }
}

/// An open backup directory, locked.
#[derive(Debug)]
pub struct BackupDir {
    /// Its path.
    pub path: PathBuf,
    /// Its manifest, if a backup completed there.
    pub manifest: Option<Manifest>,
    _lock: File,
}

impl BackupDir {
    /// Opens (creating) `path` to write a backup: an exclusive lock, or an
    /// error if another backup or a restore uses it.
    pub fn for_backup(path: &Path) -> anyhow::Result<BackupDir> {
        create_dir_durably(path).with_context(|| format!("creating {}", path.display()))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK))
            .with_context(|| format!("opening {}", path.join(LOCK).display()))?;
        if lock.try_lock().is_err() {
            bail!(
                "{} is in use by another backup or a restore",
                path.display()
            );
        }
        Ok(BackupDir {
            path: path.to_owned(),
            manifest: read_manifest(path)?,
            _lock: lock,
        })
    }

    /// Opens `path` to restore from: a shared lock (a backup cannot change
    /// it meanwhile) and its manifest, which must exist.
    pub fn for_restore(path: &Path) -> anyhow::Result<(BackupDir, Manifest)> {
        let lock_path = path.join(LOCK);
        let lock = File::open(&lock_path)
            .with_context(|| format!("{} is not a backup directory", path.display()))?;
        if lock.try_lock_shared().is_err() {
            bail!("{} is being written by a backup", path.display());
        }
        let Some(manifest) = read_manifest(path)? else {
            bail!(
                "{} holds no complete backup (no {MANIFEST})",
                path.display()
            );
        };
        let dir = BackupDir {
            path: path.to_owned(),
            manifest: Some(manifest.clone()),
            _lock: lock,
        };
        Ok((dir, manifest))
    }

    /// Makes `m` the directory's backup, atomically and durably.
    pub fn commit(&mut self, m: Manifest) -> anyhow::Result<()> {
        let tmp = self.path.join(format!("{MANIFEST}.tmp"));
        let text = serde_json::to_vec_pretty(&m).context("encoding the manifest")?;
        let mut f = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&text)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, self.path.join(MANIFEST))?;
        fsync_dir(&self.path)?;
        self.manifest = Some(m);
        Ok(())
    }

    /// Removes the files under `log/` and `snapshots/` that the manifest
    /// does not name (left by an interrupted backup, or superseded);
    /// returns how many.
    pub fn remove_unreferenced(&self) -> anyhow::Result<u64> {
        let keep: std::collections::HashSet<PathBuf> = self
            .manifest
            .iter()
            .flat_map(|m| m.files.iter().map(|f| self.path.join(&f.stored)))
            .collect();
        let mut removed = 0;
        for top in ["log", "snapshots"] {
            removed += remove_under(&self.path.join(top), &keep)?;
        }
        Ok(removed)
    }
}

fn remove_under(dir: &Path, keep: &std::collections::HashSet<PathBuf>) -> anyhow::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut removed = 0;
    for e in entries {
        let p = e?.path();
        if p.is_dir() {
            removed += remove_under(&p, keep)?;
            if std::fs::read_dir(&p)?.next().is_none() {
                std::fs::remove_dir(&p)?;
            }
        } else if !keep.contains(&p) {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            removed += 1;
        }
    }
    if removed > 0 {
        fsync_dir(dir)?;
    }
    Ok(removed)
}

/// The manifest of `dir`, if a backup completed there.
pub fn read_manifest(dir: &Path) -> anyhow::Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let m: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a backup manifest", path.display()))?;
    if m.format != FORMAT {
        bail!(
            "{} has format {:?}; this strata reads {FORMAT:?}",
            path.display(),
            m.format
        );
    }
    for f in &m.files {
        check_path(&f.path)?;
        check_path(&f.stored)?;
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        check_path("log/00000000000000000001.seg").unwrap();
        check_path("snapshots/6f72-00ff/00000000000000000003.snap").unwrap();
        for bad in [
            "../x",
            "/etc/passwd",
            "log/../../x",
            "log/a/b",
            "index/db",
            "snapshots/x",
            "log/",
            "log/a b",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        let s = stored_name("log/00000000000000000001.seg", 2);
        assert!(s.starts_with("log/00000000000000000001-g2-") && s.ends_with(".seg"));
        check_path(&s).unwrap();
        assert_ne!(s, stored_name("log/00000000000000000001.seg", 2));
    }

    #[test]
    fn a_commit_replaces_the_manifest_and_unnamed_files_go() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = BackupDir::for_backup(tmp.path()).unwrap();
        assert!(d.manifest.is_none());
        assert!(BackupDir::for_backup(tmp.path()).is_err(), "locked");
        std::fs::create_dir_all(tmp.path().join("log")).unwrap();
        std::fs::write(tmp.path().join("log/kept-g0-1.seg"), b"abc").unwrap();
        std::fs::write(tmp.path().join("log/junk-g0-2.seg"), b"x").unwrap();
        let m = Manifest {
            format: FORMAT.into(),
            position: 3,
            created_micros: 1,
            source: "s".into(),
            server_version: "v".into(),
            rebuild: vec![],
            files: vec![Entry {
                path: "log/00000000000000000001.seg".into(),
                kind: Kind::Segment,
                generation: 0,
                length: 3,
                crc32: 0,
                tail_crc32: 0,
                stored: "log/kept-g0-1.seg".into(),
            }],
        };
        d.commit(m.clone()).unwrap();
        assert_eq!(d.remove_unreferenced().unwrap(), 1);
        assert!(tmp.path().join("log/kept-g0-1.seg").exists());
        drop(d);
        let (_, read) = BackupDir::for_restore(tmp.path()).unwrap();
        assert_eq!(read, m);
    }
}
