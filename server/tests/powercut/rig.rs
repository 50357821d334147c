//! The test rig: a lossyfs mount with the real `strata` binary serving a
//! data directory on it. It starts, kills and restarts the server, cuts
//! the power (freeze, SIGKILL, cut, remount) and runs `strata verify`.
//!
//! Not here: what runs against the server (`workload`), what is checked
//! (`history`). The shared `common::Server` harness is not used because it
//! cannot pass `serve` flags on a data directory of our choosing.

use lossyfs::{CutMode, CutReport, FaultPlan, LossyFs};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use strata_client::{Client, RetryPolicy};

/// The binary under test.
pub const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A client's request timeout: past it the outcome is unknown.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The seed of a test: `STRATA_TEST_SEED` or a random one, printed so a
/// failure can be replayed.
pub fn seed() -> u64 {
    let s = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("seed = {s} (rerun with STRATA_TEST_SEED={s})");
    s
}

/// lossyfs plus a `strata serve` on it. Fields drop in order: the server
/// first, so that the filesystem can unmount.
pub struct Rig {
    child: Option<Child>,
    /// Where the server listens (kept across restarts).
    pub addr: SocketAddr,
    /// The filesystem under the data directory (`None`: a plain directory).
    fs: Option<LossyFs>,
    args: Vec<String>,
    starts: u32,
    cuts: u64,
    /// The test's seed (cuts derive theirs from it).
    pub seed: u64,
    tmp: tempfile::TempDir,
}

impl Rig {
    /// Mounts lossyfs and starts `strata serve` on `<mount>/data` with
    /// `args` (kept for restarts). Fails the test if FUSE is unavailable.
    pub fn start(seed: u64, args: &[&str]) -> Rig {
        if let Err(why) = lossyfs::check_available() {
            panic!("power-cut tests need FUSE ({why}); CI runs them as root with /dev/fuse");
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let fs = LossyFs::mount(&tmp.path().join("store"), &mnt).expect("mount lossyfs");
        Rig::launch(seed, args, Some(fs), tmp)
    }

    /// Like [`Rig::start`] on a plain directory: no lossyfs, no faults, no
    /// power cuts (the concurrency test without faults).
    pub fn start_plain(seed: u64, args: &[&str]) -> Rig {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("mnt")).unwrap();
        Rig::launch(seed, args, None, tmp)
    }

    fn launch(seed: u64, args: &[&str], fs: Option<LossyFs>, tmp: tempfile::TempDir) -> Rig {
        let mut rig = Rig {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            fs,
            args: args.iter().map(|a| a.to_string()).collect(),
            starts: 0,
            cuts: 0,
            seed,
            tmp,
        };
        if let Err(e) = rig.try_start() {
            panic!("seed {seed}: {e}");
        }
        rig
    }

    /// The lossy filesystem (panics for a plain rig).
    pub fn fs(&self) -> &LossyFs {
        self.fs.as_ref().expect("a rig on lossyfs")
    }

    /// The data directory (on the mount).
    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("mnt").join("data")
    }

    /// The gRPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log_path(&self, n: u32) -> PathBuf {
        self.tmp.path().join(format!("server-{n}.log"))
    }

    /// The server's whole stderr of every start, for checks on what it did.
    pub fn full_logs(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect()
    }

    /// The server's stderr of every start, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts {
            let log = std::fs::read_to_string(self.log_path(n)).unwrap_or_default();
            // The last lines of each run are what explain a failure.
            let lines: Vec<&str> = log.lines().collect();
            let from = lines.len().saturating_sub(40);
            out += &format!("--- start {n} ---\n{}\n", lines[from..].join("\n"));
        }
        out
    }

    /// Starts the server; `Err` with its stderr if it does not come up.
    pub fn try_start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "server already running");
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("log file");
        let mut child = Command::new(STRATA)
            .arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(self.addr.to_string())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn strata serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.trim().strip_prefix("strata listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(rest.trim().to_owned());
                    }
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                self.addr = addr.parse().expect("listening address");
                self.child = Some(child);
                Ok(())
            }
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                Err(format!(
                    "strata did not come up ({e}), exit {status:?}\n{}",
                    self.logs()
                ))
            }
        }
    }

    /// Starts the server again, failing the test (with the seed and the
    /// server's stderr) if it does not come up.
    pub fn restart(&mut self) {
        if let Err(e) = self.try_start() {
            panic!("seed {}: restart failed: {e}", self.seed);
        }
    }

    /// Whether the server process is still running.
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// SIGKILL and wait.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (a clean shutdown).
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    /// Cuts the power: the filesystem freezes (nothing the dying server
    /// does counts), the server is killed, `mode` decides what unsynced
    /// state survives, and the filesystem is mounted again. The server is
    /// not restarted. Faults are cleared.
    pub fn power_cut(&mut self, mode: CutMode) -> CutReport {
        self.crash();
        self.cut(mode)
    }

    /// The first half of a power cut: the filesystem freezes and the
    /// server is killed. Stop the clients, then [`Rig::cut`].
    pub fn crash(&mut self) {
        self.fs().freeze();
        self.kill();
    }

    /// The second half of a power cut (after [`Rig::crash`]).
    pub fn cut(&mut self, mode: CutMode) -> CutReport {
        self.cuts += 1;
        let seed = self.seed.wrapping_add(self.cuts.wrapping_mul(0x9e37_79b9));
        let fs = self.fs.as_mut().expect("a rig on lossyfs");
        fs.power_cut(mode, seed)
            .unwrap_or_else(|e| panic!("seed {}: power cut failed: {e}", self.seed))
    }

    /// Injects faults from now on.
    pub fn faults(&self, plan: FaultPlan) {
        self.fs().set_faults(plan);
    }

    /// Runs `strata verify` on the data directory; `Err` with its output.
    pub fn verify(&self) -> Result<String, String> {
        verify(&self.data_dir())
    }

    /// A client that never retries and gives up after [`REQUEST_TIMEOUT`]:
    /// every failure is an outcome the history records.
    pub async fn client(&self) -> Client {
        Client::builder(self.url())
            .retry_policy(RetryPolicy::none())
            .request_timeout(REQUEST_TIMEOUT)
            .connect()
            .await
            .expect("connect client")
    }

    /// A client patient enough to ride out a restart (subscriptions that
    /// resume, reads after a restart).
    pub async fn patient_client(&self) -> Client {
        Client::builder(self.url())
            .retry_policy(
                RetryPolicy::default()
                    .max_attempts(200)
                    .initial_backoff(Duration::from_millis(20))
                    .max_backoff(Duration::from_millis(250)),
            )
            .connect()
            .await
            .expect("connect client")
    }
}

/// `strata verify --data-dir <dir>`: `Ok(stdout)` on exit 0.
pub fn verify(dir: &Path) -> Result<String, String> {
    let out = Command::new(STRATA)
        .arg("verify")
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run strata verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Before the filesystem unmounts (fields drop after this).
        self.kill();
    }
}
