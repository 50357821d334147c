//! The at-least-once checkpoint store: one small file per projection,
//! replaced atomically (write temp, fsync, rename, fsync directory). Also the
//! dead-letter file of such projections. Owns files only; never a read model.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically and durably: a temporary file in the
/// same directory is written and fsynced, renamed over `path`, and the
/// directory is fsynced so the rename itself survives a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(dir)
}

/// fsyncs a directory (makes renames and creations in it durable).
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// A durable checkpoint in a file (`<dir>/<name>.checkpoint`), for
/// at-least-once projections whose effects live outside Strata's stores.
#[derive(Debug, Clone)]
pub struct FileCheckpointStore {
    path: PathBuf,
    dead_letters: PathBuf,
}

impl FileCheckpointStore {
    /// The store of projection `name` under `dir` (created if missing).
    pub fn new(dir: impl AsRef<Path>, name: &str) -> Result<Self> {
        crate::error::check_name(name)?;
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Self {
            path: dir.join(format!("{name}.checkpoint")),
            dead_letters: dir.join(format!("{name}.dead-letters.jsonl")),
        })
    }

    /// The stored checkpoint, `None` before the first one.
    pub fn load(&self) -> Result<Option<u64>> {
        match std::fs::read_to_string(&self.path) {
            Ok(s) => s
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    path: self.path.clone(),
                    detail: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }

    /// Stores `checkpoint` durably (see [`write_atomic`]).
    pub fn save(&self, checkpoint: u64) -> Result<()> {
        write_atomic(&self.path, format!("{checkpoint}\n").as_bytes())
    }

    /// Removes the checkpoint (and the dead letters): the next run replays
    /// from the start.
    pub fn reset(&self) -> Result<()> {
        for p in [&self.path, &self.dead_letters] {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(p, e)),
            }
        }
        Ok(())
    }

    /// Appends a dead letter (one JSON line) and fsyncs it.
    pub fn add_dead_letter(&self, dl: &crate::DeadLetter) -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.dead_letters)
            .map_err(|e| Error::io(&self.dead_letters, e))?;
        let mut line = serde_json::to_vec(dl).map_err(|e| Error::Corrupt {
            path: self.dead_letters.clone(),
            detail: e.to_string(),
        })?;
        line.push(b'\n');
        f.write_all(&line)
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io(&self.dead_letters, e))
    }

    /// Every dead letter recorded so far.
    pub fn dead_letters(&self) -> Result<Vec<crate::DeadLetter>> {
        let text = match std::fs::read_to_string(&self.dead_letters) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.dead_letters, e)),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| Error::Corrupt {
                    path: self.dead_letters.clone(),
                    detail: e.to_string(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_roundtrip_reset_and_dead_letters() {
        let tmp = tempfile::tempdir().unwrap();
        let s = FileCheckpointStore::new(tmp.path(), "p").unwrap();
        assert_eq!(s.load().unwrap(), None);
        s.save(42).unwrap();
        s.save(43).unwrap();
        assert_eq!(s.load().unwrap(), Some(43));
        assert!(!tmp.path().join("p.tmp").exists(), "temp file renamed away");
        let dl = crate::DeadLetter {
            checkpoint: 7,
            position: 7,
            stream: "s".into(),
            revision: 0,
            event_type: "T".into(),
            id: "id".into(),
            error: "boom".into(),
        };
        s.add_dead_letter(&dl).unwrap();
        assert_eq!(s.dead_letters().unwrap(), vec![dl]);
        s.reset().unwrap();
        assert_eq!(s.load().unwrap(), None);
        assert!(s.dead_letters().unwrap().is_empty());
        std::fs::write(tmp.path().join("p.checkpoint"), "x").unwrap();
        assert!(matches!(s.load(), Err(Error::Corrupt { .. })));
        assert!(matches!(
            FileCheckpointStore::new(tmp.path(), "../x"),
            Err(Error::InvalidName(_))
        ));
    }
}
