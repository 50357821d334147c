//! Shared harness for the integration tests: runs the real `strata` binary
//! on a temporary data directory and connects clients to it.
#![allow(dead_code)]

pub mod cli;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use strata_client::{Client, RetryPolicy};
use strata_proto::v1::admin_client::AdminClient;
use strata_proto::v1::snapshots_client::SnapshotsClient;
use strata_proto::v1::streams_client::StreamsClient;
use tonic::transport::Channel;

/// The `strata` binary under test.
pub const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// How long the server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a terminated server may take to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or stopped) `strata serve` child process on a temp data dir.
pub struct Server {
    child: Option<Child>,
    /// Where it listens (kept across restarts so clients can reconnect).
    pub addr: SocketAddr,
    data_dir: PathBuf,
    log_dir: PathBuf,
    /// Extra `serve` arguments, passed again on every restart.
    extra_args: Vec<String>,
    starts: u32,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server on a fresh temporary data directory and a free port.
    pub fn start() -> Server {
        Server::start_with_args(&[])
    }

    /// Starts a server on the given data directory (for example one on a
    /// size-capped mount); logs go to a temporary directory.
    pub fn start_on(data_dir: PathBuf) -> Server {
        Server::start_on_with_args(data_dir, &[])
    }

    /// [`Server::start_on`] with extra `strata serve` arguments.
    pub fn start_on_with_args(data_dir: PathBuf, args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir,
            log_dir: tmp.path().to_path_buf(),
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            starts: 0,
            _tmp: Some(tmp),
        };
        s.spawn();
        s
    }

    /// Like [`Server::start`], with extra `strata serve` arguments (kept for
    /// restarts), e.g. `["--snapshots-per-stream", "2"]`.
    pub fn start_with_args(args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        let log_dir = tmp.path().to_path_buf();
        let mut s = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir,
            log_dir,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            starts: 0,
            _tmp: Some(tmp),
        };
        s.spawn();
        s
    }

    /// The gRPC URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    fn log_path(&self, n: u32) -> PathBuf {
        self.log_dir.join(format!("server-{n}.log"))
    }

    /// The stderr of every run so far (for failure messages).
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    fn spawn(&mut self) {
        if let Err(e) = self.try_spawn() {
            panic!("{e}");
        }
    }

    /// Starts the server; `Err` (with its stderr) if it exits or stays
    /// silent instead of reporting its address.
    fn try_spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "server already running");
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("log file");
        let mut child = Command::new(STRATA)
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.addr.to_string())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn strata serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Reads the listening line, then keeps draining stdout.
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
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(a) => a,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                return Err(format!(
                    "strata did not report its address ({e}); exit: {status:?}\nstderr:\n{}",
                    std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
                ));
            }
        };
        self.addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("bad listening address {addr:?}: {e}"));
        self.child = Some(child);
        Ok(())
    }

    /// A client with a retry policy patient enough to ride out a restart.
    pub async fn client(&self) -> Client {
        Client::builder(self.url())
            .retry_policy(
                RetryPolicy::default()
                    .max_attempts(40)
                    .initial_backoff(Duration::from_millis(25))
                    .max_backoff(Duration::from_millis(500)),
            )
            .connect()
            .await
            .expect("connect client")
    }

    /// A client that never retries.
    pub async fn client_no_retry(&self) -> Client {
        Client::builder(self.url())
            .retry_policy(RetryPolicy::none())
            .connect()
            .await
            .expect("connect client")
    }

    /// The raw generated gRPC client, for requests the typed client cannot
    /// express.
    pub async fn raw(&self) -> StreamsClient<Channel> {
        StreamsClient::connect(self.url())
            .await
            .expect("connect raw client")
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    /// The raw generated `Snapshots` client.
    pub async fn raw_snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::connect(self.url())
            .await
            .expect("connect raw snapshots client")
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    /// The raw generated `Admin` client.
    pub async fn raw_admin(&self) -> AdminClient<Channel> {
        AdminClient::connect(self.url())
            .await
            .expect("connect raw admin client")
    }

    /// Sends SIGTERM and waits for the exit. Async, so that the test's
    /// clients keep running (and can answer the server's GOAWAY) meanwhile.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid();
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -TERM {pid} failed");
        let mut child = self.child.take().expect("server is running");
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "strata did not exit within {EXIT_TIMEOUT:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGKILL and waits for the exit.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("server is running");
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
    }

    /// Starts the server again on the same data directory and address.
    pub fn restart(&mut self) {
        self.spawn();
    }

    /// Like [`Server::restart`], but returns the failure (with stderr)
    /// instead of panicking when the server does not come up.
    pub fn try_restart(&mut self) -> Result<(), String> {
        self.try_spawn()
    }

    /// Runs another `strata` command (e.g. `verify`) on this data dir.
    pub fn command(&self, args: &[&str]) -> Output {
        strata(args, &self.data_dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `strata <args> --data-dir <dir>` to completion (bounded by a timeout).
pub fn strata(args: &[&str], data_dir: &Path) -> Output {
    let child = Command::new(STRATA)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata");
    wait_output(child, Duration::from_secs(60))
}

/// Waits for a child's output, killing it after `timeout`.
pub fn wait_output(child: Child, timeout: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("wait for strata"),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!("strata (pid {pid}) did not finish within {timeout:?}");
        }
    }
}

/// Polls `check` every 10 ms until it returns `Some`, or panics after
/// `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits `fut`, failing the test if it takes longer than `timeout`.
pub async fn within<T>(
    timeout: Duration,
    what: &str,
    fut: impl std::future::Future<Output = T>,
) -> T {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {timeout:?}: {what}"))
}

/// `n` binary events of type `ty` whose payloads are `"{tag}-{i}"`.
pub fn events(ty: &str, tag: &str, n: usize) -> Vec<strata_client::EventData> {
    (0..n)
        .map(|i| strata_client::EventData::binary(ty, format!("{tag}-{i}").into_bytes()))
        .collect()
}

/// A well-formed raw proposed event.
pub fn raw_event(ty: &str, data: &[u8]) -> strata_proto::v1::ProposedEvent {
    strata_proto::v1::ProposedEvent {
        id: uuid::Uuid::new_v4().to_string(),
        r#type: ty.to_owned(),
        content_type: "application/octet-stream".to_owned(),
        data: data.to_vec(),
        metadata: Vec::new(),
    }
}

/// The `strata-error` metadata value of a status, if any.
pub fn error_kind(status: &tonic::Status) -> Option<String> {
    status
        .metadata()
        .get("strata-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Every event of a raw read, flattened (panics on a failed read).
pub async fn read_raw(
    raw: &mut StreamsClient<Channel>,
    req: strata_proto::v1::ReadRequest,
) -> Result<Vec<strata_proto::v1::RecordedEvent>, tonic::Status> {
    let mut out = Vec::new();
    let mut pages = raw.read(req).await?.into_inner();
    while let Some(page) = pages.message().await? {
        out.extend(page.events);
    }
    Ok(out)
}

/// Bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = e.metadata().expect("metadata");
        n += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    n
}

/// A plain-HTTP answer: status, headers (lower-case names), body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` over HTTP/1.1 on a fresh TCP connection, as curl or a
/// Prometheus scraper would send it (`Connection: close`, no chunking
/// expected from the server for these small bodies, but handled).
pub fn http_get(addr: SocketAddr, path: &str, accept: &str) -> HttpResponse {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8(raw).expect("a UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let mut lines = head.lines();
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").expect("chunk size");
        let n = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// A size-capped tmpfs mounted for a test (needs root, as the project's
/// machines and CI have); unmounted on drop.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "mounting a size-capped tmpfs failed: this test needs root"
        );
        Tmpfs(at.to_owned())
    }

    pub fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
