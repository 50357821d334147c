//! Starting a `strata` server for a run, and sampling its RSS and CPU.

use crate::report::ServerUsage;
use anyhow::{anyhow, Context, Result};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A server this process started on a temporary data directory.
pub struct Spawned {
    child: tokio::process::Child,
    pub pid: u32,
    pub url: String,
    dir: std::path::PathBuf,
}

impl Spawned {
    /// Starts `bin serve` on a loopback port and a fresh temp dir, with
    /// `extra` appended to its arguments (`--server-arg`).
    pub async fn start(bin: &Path, extra: &[String]) -> Result<Spawned> {
        let dir = std::env::temp_dir().join(format!("strata-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut child = tokio::process::Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("no pid"))?;
        let mut lines =
            BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(l) = lines.next_line().await? {
                if let Some(a) = l.strip_prefix("strata listening on ") {
                    return Ok::<_, anyhow::Error>(a.trim().to_owned());
                }
            }
            Err(anyhow!("server exited before listening"))
        })
        .await
        .context("waiting for the server to listen")??;
        // Keep draining stdout so the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Spawned {
            child,
            pid,
            url: format!("http://{addr}"),
            dir,
        })
    }

    pub async fn stop(mut self) -> Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

fn rss_mib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The process's peak resident set so far (`VmHWM`): what sampling every
/// 100 ms can miss.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Samples a process every 100 ms until finished.
pub struct Probe {
    pid: u32,
    start: Instant,
    ticks0: u64,
    max: Arc<Mutex<f64>>,
    stop: Arc<AtomicBool>,
}

impl Probe {
    pub fn start(pid: u32) -> Probe {
        let max = Arc::new(Mutex::new(0.0f64));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (max.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(r) = rss_mib(pid) {
                    let mut g = m.lock().unwrap();
                    *g = g.max(r);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Probe {
            pid,
            start: Instant::now(),
            ticks0: cpu_ticks(pid).unwrap_or(0),
            max,
            stop,
        }
    }

    pub fn finish(self) -> ServerUsage {
        self.stop.store(true, Ordering::Relaxed);
        let secs = self.start.elapsed().as_secs_f64();
        let ticks = cpu_ticks(self.pid).unwrap_or(self.ticks0) - self.ticks0;
        let end = rss_mib(self.pid).unwrap_or(0.0);
        let max = self
            .max
            .lock()
            .unwrap()
            .max(end)
            .max(peak_rss_mib(self.pid).unwrap_or(0.0));
        // Linux reports CPU in clock ticks of 1/100 s.
        ServerUsage {
            rss_max_mib: max,
            rss_end_mib: end,
            cpu_percent: ticks as f64 / secs,
        }
    }
}
