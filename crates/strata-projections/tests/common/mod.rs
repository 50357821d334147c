//! Shared harness: runs the real `strata` server binary (built by the
//! workspace; built here if missing), the `strata-project` runner binary,
//! demo event appenders, and the from-scratch folds the read models are
//! compared against.
#![allow(dead_code)]

use futures::TryStreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use strata_client::{
    Client, ExpectedRevision, ReadAllOptions, RecordedEvent, RetryPolicy, StreamAppend,
};
use strata_projections::demo::{self, Placed, Totals};
use strata_projections::SledReadModel;

/// The `strata` server binary: `$CARGO_TARGET_DIR` or `<workspace>/target`,
/// `debug/strata`; built with `cargo build -p strata-server` if missing.
pub fn strata_bin() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_relative() {
                workspace.join(t)
            } else {
                t
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let bin = target.join("debug").join("strata");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "strata-server"])
            .current_dir(&workspace)
            .status()
            .expect("run cargo build -p strata-server");
        assert!(st.success(), "cargo build -p strata-server failed");
    }
    assert!(
        bin.exists(),
        "strata server binary not found at {} (run `cargo build -p strata-server`)",
        bin.display()
    );
    bin
}

/// The runner binary of this crate.
pub const RUNNER: &str = env!("CARGO_BIN_EXE_strata-project");

/// A `strata serve` child on a temp data dir.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    data_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir: tmp.path().join("data"),
            _tmp: tmp,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut child = Command::new(strata_bin())
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("strata did not report its address");
        self.addr = addr.parse().unwrap();
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn client(&self) -> Client {
        Client::builder(self.url())
            .retry_policy(
                RetryPolicy::default()
                    .max_attempts(60)
                    .initial_backoff(Duration::from_millis(25))
                    .max_backoff(Duration::from_millis(250)),
            )
            .connect()
            .await
            .expect("connect")
    }

    /// SIGKILL, then start again on the same data dir and address.
    pub fn kill_and_restart(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
        self.spawn();
    }

    /// SIGTERM and wait, then start again.
    pub fn terminate_and_restart(&mut self) {
        let mut c = self.child.take().unwrap();
        sigterm(&c);
        wait_exit(&mut c, Duration::from_secs(30));
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn sigterm(c: &Child) {
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(c.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
}

/// Waits (bounded polling) for a child to exit.
pub fn wait_exit(c: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st;
        }
        if std::time::Instant::now() > deadline {
            let _ = c.kill();
            panic!("process {} did not exit within {timeout:?}", c.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Seed from `TEST_SEED` or random; printed.
pub fn seed() -> u64 {
    let s = std::env::var("TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("seed {s} (rerun with TEST_SEED={s})");
    s
}

/// Appends `n` demo orders starting at `first` (placed, maybe cancelled or
/// shipped), `per_call` orders per atomic multi-stream append.
pub async fn append_orders(client: &Client, first: u64, n: u64, per_call: u64) {
    let mut order = first;
    while order < first + n {
        let mut batch = Vec::new();
        while order < first + n && (batch.len() as u64) < per_call {
            let customer = format!("cust-{}", order % 7);
            let amount = (order % 13) as i64 * 100 + 5;
            let mut evs = vec![demo::placed(order, &customer, amount)];
            match order % 5 {
                0 => evs.push(demo::cancelled(order, &customer, amount)),
                1 | 2 => evs.push(demo::shipped(order)),
                _ => {}
            }
            batch.push(StreamAppend::new(
                demo::stream_of(order),
                ExpectedRevision::Any,
                evs,
            ));
            order += 1;
        }
        client
            .append_multi(batch)
            .await
            .expect("append demo orders");
    }
}

/// A background appender of demo orders until stopped.
pub struct Appender {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl Appender {
    pub fn start(client: Client, first: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let mut next = first;
            while !s.load(Ordering::Relaxed) {
                append_orders(&client, next, 5, 5).await;
                next += 5;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            next
        });
        Self { stop, task }
    }

    /// Stops and returns the next unused order id.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// Every event in `$all`.
pub async fn all_events(client: &Client) -> Vec<RecordedEvent> {
    client
        .read_all(ReadAllOptions::forwards())
        .try_collect()
        .await
        .unwrap()
}

/// Expected customer-totals model from the order events with position <=
/// `upto`, computed independently of the crate.
pub fn fold_totals(events: &[RecordedEvent], upto: u64) -> BTreeMap<String, String> {
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e.position <= upto && e.stream.starts_with("order-"))
    {
        match e.event_type.as_str() {
            "OrderPlaced" => {
                let p: Placed = serde_json::from_slice(&e.data).unwrap();
                let t = totals.entry(p.customer).or_default();
                t.total += p.amount;
                t.orders += 1;
            }
            "OrderCancelled" => {
                let c: demo::Cancelled = serde_json::from_slice(&e.data).unwrap();
                let t = totals.entry(c.customer).or_default();
                t.total -= c.amount;
                t.orders -= 1;
            }
            _ => {}
        }
    }
    totals
        .into_iter()
        .map(|(c, t)| (format!("c/{c}"), serde_json::to_string(&t).unwrap()))
        .collect()
}

/// Expected open-orders model from events with position <= `upto`.
pub fn fold_open(events: &[RecordedEvent], upto: u64) -> BTreeMap<String, String> {
    let mut open = BTreeMap::new();
    for e in events.iter().filter(|e| e.position <= upto) {
        match e.event_type.as_str() {
            "OrderPlaced" => {
                let p: Placed = serde_json::from_slice(&e.data).unwrap();
                open.insert(
                    format!("{:020}", p.order),
                    serde_json::to_string(&p).unwrap(),
                );
            }
            "OrderCancelled" | "OrderShipped" => {
                let r: demo::OrderRef = serde_json::from_slice(&e.data).unwrap();
                open.remove(&format!("{:020}", r.order));
            }
            _ => {}
        }
    }
    open
}

/// A read model's contents as text (values re-encoded canonically).
pub fn contents(model: &SledReadModel) -> BTreeMap<String, String> {
    model
        .scan_prefix(b"")
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            let v: serde_json::Value = serde_json::from_slice(&v).unwrap();
            (String::from_utf8(k).unwrap(), v.to_string())
        })
        .collect()
}

/// Canonical form of expected values (same JSON re-encoding as `contents`).
pub fn canonical(m: BTreeMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter()
        .map(|(k, v)| {
            (
                k,
                serde_json::from_str::<serde_json::Value>(&v)
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

/// Positions listed in the order log file (first token of complete lines).
pub fn order_log_positions(path: &Path) -> (BTreeSet<u64>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut set = BTreeSet::new();
    let mut lines = 0;
    for l in text.lines() {
        let mut parts = l.split_whitespace();
        if let (Some(p), Some(_), Some(_)) = (parts.next(), parts.next(), parts.next()) {
            if let Ok(p) = p.parse() {
                set.insert(p);
                lines += 1;
            }
        }
    }
    (set, lines)
}
