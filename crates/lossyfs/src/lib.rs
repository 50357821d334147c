//! `lossyfs`: a FUSE filesystem for durability tests. It serves files like
//! any filesystem, but keeps apart what has been made durable (`fsync`,
//! `fdatasync`, a directory's fsync) from what has not, and on a simulated
//! power cut throws the unsynced part away — all of it, or a random part
//! of it, as a real disk might ([`CutMode`]). A program that forgot an
//! fsync, fsynced a file but not its directory, or renamed before syncing
//! passes every `kill -9` test (the page cache survives a process) and
//! fails here. It also injects faults on demand ([`FaultPlan`]): `EIO` on
//! the n-th fsync or write, `ENOSPC` past a byte budget, short writes,
//! slow fsyncs.
//!
//! ```no_run
//! # fn demo() -> std::io::Result<()> {
//! use lossyfs::{CutMode, LossyFs};
//! let mut fs = LossyFs::mount("/tmp/store".as_ref(), "/tmp/mnt".as_ref())?;
//! // ... run the program under test on /tmp/mnt, then:
//! fs.freeze();            // the power goes: every change now fails
//! // ... kill the program (SIGKILL) and wait for it ...
//! let report = fs.power_cut(CutMode::KeepRandomPages, 42)?;
//! println!("{report}");   // what was unsynced, what survived
//! // ... start the program again on /tmp/mnt and check what it finds.
//! # Ok(()) }
//! ```
//!
//! Mounting needs root and `/dev/fuse` (no libfuse, no `fusermount`: the
//! mount is made directly). The filesystem runs on threads of the calling
//! process; it is a test tool, not for data anyone keeps.
//!
//! Modules: `state` (the model: current and durable trees, pending
//! changes), `cut` (what survives a power cut), `faults` (what to inject,
//! when), `fuse` (kernel requests to model calls). Not here: anything about
//! the program under test.

mod cut;
mod faults;
mod fuse;
mod state;

pub use cut::{CutMode, CutReport};
pub use faults::{FaultHits, FaultPlan, Nth};
pub use state::{State, Stats};

use fuser::{BackgroundSession, Config, MountOption};
use rand::SeedableRng;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// FUSE worker threads: enough that a slow fsync does not stall others.
const THREADS: usize = 4;

/// A mounted lossy filesystem. Dropping it unmounts it.
#[derive(Debug)]
pub struct LossyFs {
    state: Arc<Mutex<State>>,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
}

/// Whether this machine can mount FUSE filesystems here: `Err` says why not
/// (no `/dev/fuse`, not root). Tests call it to fail with a clear message.
pub fn check_available() -> Result<(), String> {
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse does not exist: lossyfs needs the fuse kernel module".into());
    }
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_err()
    {
        return Err("/dev/fuse cannot be opened: lossyfs needs root".into());
    }
    Ok(())
}

impl LossyFs {
    /// Mounts an empty filesystem at `mountpoint` (an existing directory),
    /// keeping its bytes under `store` (created, and emptied if it exists).
    pub fn mount(store: &Path, mountpoint: &Path) -> io::Result<LossyFs> {
        check_available().map_err(io::Error::other)?;
        let state = Arc::new(Mutex::new(State::new(store)?));
        let mut fs = LossyFs {
            state,
            mountpoint: mountpoint.to_owned(),
            session: None,
        };
        fs.attach()?;
        Ok(fs)
    }

    fn attach(&mut self) -> io::Result<()> {
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("lossyfs".into()),
            MountOption::Subtype("lossyfs".into()),
        ];
        config.n_threads = Some(THREADS);
        let fs = fuse::Fuse {
            state: self.state.clone(),
        };
        self.session = Some(fuser::spawn_mount(fs, &self.mountpoint, &config)?);
        Ok(())
    }

    fn detach(&mut self) -> io::Result<()> {
        match self.session.take().map(BackgroundSession::umount_and_join) {
            Some(Err(e)) => {
                // Busy (a process still has files open): detach it lazily
                // rather than leave a mount behind, and say so.
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(&self.mountpoint)
                    .status();
                Err(io::Error::new(
                    e.kind(),
                    format!("unmounting {}: {e}", self.mountpoint.display()),
                ))
            }
            _ => Ok(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Sets the faults to inject from now on (counters start at zero).
    pub fn set_faults(&self, plan: FaultPlan) {
        let mut st = self.state();
        let used = st.used();
        st.faults.set(plan, used);
    }

    /// Stops injecting faults.
    pub fn clear_faults(&self) {
        self.set_faults(FaultPlan::default());
    }

    /// The faults injected since the plan was set.
    pub fn fault_hits(&self) -> FaultHits {
        self.state().faults.hits
    }

    /// What the filesystem has been asked to do so far.
    pub fn stats(&self) -> Stats {
        self.state().stats
    }

    /// Unsynced changes right now: (files with pending writes, pending
    /// bytes, pending directory changes).
    pub fn pending(&self) -> (u64, u64, u64) {
        self.state().pending()
    }

    /// The power goes: from now on every change fails with `EIO` (reads
    /// still work), until [`LossyFs::power_cut`] brings the machine back.
    /// Freeze, then kill the programs using the mount, then cut: so that
    /// nothing they do while dying changes what the cut sees.
    pub fn freeze(&self) {
        self.state().frozen = true;
    }

    /// Cuts the power (freezing first if not frozen), unmounts, keeps what
    /// `mode` lets survive (random choices from `seed`), and mounts the
    /// result again. Every program with files open on the mount must have
    /// exited: the unmount fails otherwise. Faults are cleared.
    pub fn power_cut(&mut self, mode: CutMode, seed: u64) -> io::Result<CutReport> {
        self.freeze();
        self.detach()?;
        let report = {
            let mut st = self.state();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let report = st.cut(mode, &mut rng)?;
            st.faults = Default::default();
            st.frozen = false;
            report
        };
        self.attach()?;
        Ok(report)
    }

    /// Unmounts for good.
    pub fn unmount(mut self) -> io::Result<()> {
        self.detach()
    }
}

impl Drop for LossyFs {
    fn drop(&mut self) {
        let _ = self.detach();
    }
}
