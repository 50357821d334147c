//! The built-in exactly-once read model: a sled database per read-model
//! generation with a `data` tree (the model), a `checkpoints` tree and a
//! `dead_letters` tree, written together in one sled transaction; plus the
//! generation directories and the `CURRENT` pointer used by rebuild-and-swap.
//! Owns the on-disk layout under a projection's directory; not the runner.
//!
//! Layout: `<root>/<projection>/CURRENT` holds the name of the serving
//! generation (`gen-000001`, ...), replaced atomically (temp file, fsync,
//! rename, fsync directory); each `gen-*` directory is one sled database.
//!
//! **Durability.** A commit is one sled transaction over the three trees, so
//! the model, the checkpoint and the dead letters change together or not at
//! all. It is on disk after the next `flush` (the runner flushes at a
//! configurable cadence, and on shutdown). A crash before that flush loses
//! the last transactions *together with their checkpoint*: the model rolls
//! back to an older consistent state and the runner replays from there, so
//! every event is still applied exactly once.

use crate::checkpoint::{sync_dir, write_atomic};
use crate::error::{check_name, Error, Result};
use crate::DeadLetter;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::Transactional;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const CHECKPOINT_KEY: &[u8] = b"checkpoint";
/// How long [`SledReadModel::open`] waits for another handle's lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// One generation of a key/value read model (cheap to clone; clones share
/// the open database, so a runner can write while readers query).
#[derive(Debug, Clone)]
pub struct SledReadModel {
    db: sled::Db,
    data: sled::Tree,
    checkpoints: sled::Tree,
    dead: sled::Tree,
    dir: PathBuf,
}

impl SledReadModel {
    /// Opens (or creates) the sled database in `dir`. One process at a time:
    /// while another holds it, waits up to 10 s, then fails.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        // sled releases its file lock only when its background threads let
        // go of a closed database, shortly after the last handle is dropped;
        // wait (bounded) for that instead of failing a reopen.
        let started = std::time::Instant::now();
        let db = loop {
            match sled::Config::new()
                .path(&dir)
                .mode(sled::Mode::HighThroughput)
                .open()
            {
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && started.elapsed() < LOCK_WAIT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => break r?,
            }
        };
        Ok(Self {
            data: db.open_tree("data")?,
            checkpoints: db.open_tree("checkpoints")?,
            dead: db.open_tree("dead_letters")?,
            db,
            dir,
        })
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The committed checkpoint, `None` before the first commit.
    pub fn checkpoint(&self) -> Result<Option<u64>> {
        Ok(self
            .checkpoints
            .get(CHECKPOINT_KEY)?
            .map(|v| decode_u64(&v)))
    }

    /// A value of the model.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.data.get(key)?.map(|v| v.to_vec()))
    }

    /// A JSON value of the model.
    pub fn get_json<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.data.get(key)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    path: self.dir.clone(),
                    detail: format!("value of {:?}: {e}", String::from_utf8_lossy(key)),
                }),
        }
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.data
            .scan_prefix(prefix)
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(Error::from)
            })
            .collect()
    }

    /// The dead letters recorded by skipped events.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        self.dead
            .iter()
            .map(|r| {
                let (_, v) = r?;
                serde_json::from_slice(&v).map_err(|e| Error::Corrupt {
                    path: self.dir.clone(),
                    detail: format!("dead letter: {e}"),
                })
            })
            .collect()
    }

    /// Applies `writes`, `dead_letters` and the new `checkpoint` in one sled
    /// transaction (not yet flushed; see the module docs).
    pub(crate) fn commit(
        &self,
        writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        dead_letters: &[DeadLetter],
        checkpoint: u64,
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in writes {
            match v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
        }
        let mut dl = sled::Batch::default();
        for d in dead_letters {
            let v = serde_json::to_vec(d).map_err(|e| Error::Corrupt {
                path: self.dir.clone(),
                detail: e.to_string(),
            })?;
            dl.insert(&d.checkpoint.to_be_bytes()[..], v);
        }
        (&self.data, &self.checkpoints, &self.dead)
            .transaction(|(data, cps, dead)| {
                data.apply_batch(&batch)?;
                dead.apply_batch(&dl)?;
                cps.insert(CHECKPOINT_KEY, &checkpoint.to_be_bytes()[..])?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => Error::Sled(e),
                sled::transaction::TransactionError::Abort(()) => Error::Corrupt {
                    path: self.dir.clone(),
                    detail: "transaction aborted".into(),
                },
            })
    }

    /// Makes every committed transaction durable.
    pub async fn flush(&self) -> Result<()> {
        self.db.flush_async().await?;
        Ok(())
    }

    pub(crate) fn data_tree(&self) -> &sled::Tree {
        &self.data
    }
}

fn decode_u64(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[8 - n..].copy_from_slice(&v[v.len() - n..]);
    u64::from_be_bytes(b)
}

/// The handler's transactional view of a [`SledReadModel`] while a batch of
/// events is applied: reads see the batch's own uncommitted writes, and
/// writes are buffered until the runner commits them together with the
/// checkpoint. The writes of an event whose handler fails are discarded.
#[derive(Debug)]
pub struct KvTxn<'a> {
    tree: &'a sled::Tree,
    batch: &'a mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    event: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> KvTxn<'a> {
    pub(crate) fn new(
        tree: &'a sled::Tree,
        batch: &'a mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Self {
        Self {
            tree,
            batch,
            event: BTreeMap::new(),
        }
    }

    /// The current value of `key`, including uncommitted writes of this batch.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, crate::HandlerError> {
        if let Some(v) = self.event.get(key).or_else(|| self.batch.get(key)) {
            return Ok(v.clone());
        }
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    /// [`KvTxn::get`], decoded from JSON.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, crate::HandlerError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        }
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.event.insert(key.into(), Some(value.into()));
    }

    /// Sets `key` to `value` encoded as JSON.
    pub fn insert_json<T: Serialize>(
        &mut self,
        key: impl Into<Vec<u8>>,
        value: &T,
    ) -> Result<(), crate::HandlerError> {
        let v = serde_json::to_vec(value)?;
        self.insert(key, v);
        Ok(())
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.event.insert(key.into(), None);
    }

    /// Keeps this event's writes in the batch.
    pub(crate) fn keep(self) {
        let KvTxn { batch, event, .. } = self;
        batch.extend(event);
    }
}

/// A projection's directory of read-model generations and its `CURRENT`
/// pointer (see the module docs).
#[derive(Debug, Clone)]
pub struct ModelDir {
    dir: PathBuf,
}

impl ModelDir {
    /// The directory of projection `name` under `root` (created if missing).
    pub fn new(root: impl AsRef<Path>, name: &str) -> Result<Self> {
        check_name(name)?;
        let dir = root.as_ref().join(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self { dir })
    }

    /// The projection's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn gen_dir(&self, gen: u64) -> PathBuf {
        self.dir.join(format!("gen-{gen:06}"))
    }

    /// The serving generation, `None` if there is none yet.
    pub fn current(&self) -> Result<Option<u64>> {
        let p = self.dir.join("CURRENT");
        match std::fs::read_to_string(&p) {
            Ok(s) => s
                .trim()
                .strip_prefix("gen-")
                .and_then(|n| n.parse().ok())
                .map(Some)
                .ok_or_else(|| Error::Corrupt {
                    path: p,
                    detail: format!("unexpected content {s:?}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    /// Every generation directory present, ascending.
    pub fn generations(&self) -> Result<Vec<u64>> {
        let mut gens = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            if let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("gen-"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                gens.push(n);
            }
        }
        gens.sort_unstable();
        Ok(gens)
    }

    /// Points `CURRENT` at `gen`, atomically and durably.
    pub fn switch_to(&self, gen: u64) -> Result<()> {
        write_atomic(
            &self.dir.join("CURRENT"),
            format!("gen-{gen:06}\n").as_bytes(),
        )
    }

    /// Opens the serving generation, creating generation 1 on first use.
    /// Generations that are neither current nor newer (left over by a swap
    /// whose old generation was still open) are deleted.
    pub fn open_current(&self) -> Result<(u64, SledReadModel)> {
        let gen = match self.current()? {
            Some(g) => g,
            None => {
                let g = self.generations()?.last().map_or(1, |g| g + 1);
                self.switch_to(g)?;
                g
            }
        };
        for old in self.generations()?.into_iter().filter(|g| *g < gen) {
            self.remove_generation(old)?;
        }
        Ok((gen, SledReadModel::open(self.gen_dir(gen))?))
    }

    /// Creates a new, empty generation (not serving until [`ModelDir::switch_to`]).
    pub fn create_next(&self) -> Result<(u64, SledReadModel)> {
        let next = self
            .generations()?
            .last()
            .copied()
            .max(self.current()?)
            .map_or(1, |g| g + 1);
        let model = SledReadModel::open(self.gen_dir(next))?;
        sync_dir(&self.dir)?;
        Ok((next, model))
    }

    /// Deletes a generation's directory (it must not be open).
    pub fn remove_generation(&self, gen: u64) -> Result<()> {
        let d = self.gen_dir(gen);
        match std::fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(d, e)),
        }
    }

    /// Drops the read model and its checkpoint: a fresh empty generation
    /// becomes current and the old ones are deleted. The serving model must
    /// not be open.
    pub fn reset(&self) -> Result<(u64, SledReadModel)> {
        let (gen, model) = self.create_next()?;
        self.switch_to(gen)?;
        for old in self.generations()?.into_iter().filter(|g| *g != gen) {
            self.remove_generation(old)?;
        }
        Ok((gen, model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_reads_its_writes_and_commits_with_the_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let m = SledReadModel::open(tmp.path().join("db")).unwrap();
        let mut batch = BTreeMap::new();
        let mut t = KvTxn::new(m.data_tree(), &mut batch);
        t.insert("a", "1");
        assert_eq!(t.get(b"a").unwrap(), Some(b"1".to_vec()));
        t.keep();
        let mut t = KvTxn::new(m.data_tree(), &mut batch);
        t.insert("b", "2");
        drop(t); // a failed event: its writes are discarded
        let mut t = KvTxn::new(m.data_tree(), &mut batch);
        assert_eq!(t.get(b"b").unwrap(), None);
        assert_eq!(t.get(b"a").unwrap(), Some(b"1".to_vec()));
        t.remove("a");
        t.insert("c", "3");
        t.keep();
        assert_eq!(m.get(b"c").unwrap(), None, "nothing before the commit");
        m.commit(&batch, &[], 9).unwrap();
        assert_eq!(m.checkpoint().unwrap(), Some(9));
        assert_eq!(m.get(b"a").unwrap(), None);
        assert_eq!(m.get(b"c").unwrap(), Some(b"3".to_vec()));
    }

    #[test]
    fn generations_and_current_pointer() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ModelDir::new(tmp.path(), "p").unwrap();
        assert_eq!(dir.current().unwrap(), None);
        let (g1, _m1) = dir.open_current().unwrap();
        assert_eq!((g1, dir.current().unwrap()), (1, Some(1)));
        let (g2, _m2) = dir.create_next().unwrap();
        assert_eq!(g2, 2);
        assert_eq!(
            dir.current().unwrap(),
            Some(1),
            "not serving before the swap"
        );
        dir.switch_to(g2).unwrap();
        assert_eq!(dir.current().unwrap(), Some(2));
        assert_eq!(dir.generations().unwrap(), vec![1, 2]);
        std::fs::write(dir.path().join("CURRENT"), "nonsense").unwrap();
        assert!(matches!(dir.current(), Err(Error::Corrupt { .. })));
        assert!(ModelDir::new(tmp.path(), "").is_err());
    }
}
