//! Online backups: streaming a consistent copy of the store's files while
//! the server keeps serving (what `strata backup` asks for).
//!
//! [`Node::backup`] pins the files as of the committed end
//! ([`Store::backup_view`](strata_storage::Store::backup_view): segments,
//! the active one up to its durable length, and the snapshots committed by
//! then), decides what the client still needs from what it says it holds,
//! and hands back a bounded channel of [`BackupMessage`]s fed by one task:
//! `Started`, then per file a `File` and its `Chunk`s, then `Done`. The pin
//! lives as long as that task, so a scavenge that rewrites a segment
//! meanwhile changes nothing of what is sent. Reads run on the blocking
//! pool, one chunk at a time, paced by the request's rate limit.
//!
//! What the client holds counts only when it is certainly a prefix of
//! what would be sent: a segment's path and generation match, the held
//! length is not beyond the pinned one, and the CRC-32 of the held prefix's
//! last [`TAIL_CHECK_BYTES`] matches the same bytes here (records carry
//! random ids and timestamps, so another store's segment never matches);
//! a snapshot's length and CRC-32 match.
//!
//! Not here: the wire messages (`api::strata::convert::backup`), the
//! backup directory and its manifest (`cli::backup`), what the view pins
//! (the storage engine's `backup`).

use super::{blocking, Error, Node};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_storage::{BackupFileKind, BackupView, Position};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;

/// Backups streamed at once; one more is `Error::TooManyBackups`. Each
/// holds a pin on the log's files and reads them as fast as its client
/// takes them.
pub const MAX_CONCURRENT_BACKUPS: usize = 2;
/// Bytes of file data in one message (1 MiB).
pub const BACKUP_CHUNK_BYTES: usize = 1024 * 1024;
/// Messages queued for the client before the reader waits.
pub const BACKUP_BUFFER_MESSAGES: usize = 4;
/// Bytes at the end of a held segment prefix compared before it is
/// trusted (see the module docs).
pub const TAIL_CHECK_BYTES: u64 = 4096;

/// What the client holds of one file (from its previous backup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// As in [`BackupMessage::File`]'s `path`.
    pub path: String,
    /// A segment's generation.
    pub generation: u32,
    /// Bytes held, from the start of the file.
    pub length: u64,
    /// CRC-32 of the held bytes.
    pub crc32: u32,
    /// CRC-32 of the last `min(length, TAIL_CHECK_BYTES)` held bytes.
    pub tail_crc32: u32,
}

/// A backup request: what the client holds, how fast to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupPlan {
    /// Files held from an earlier backup.
    pub held: Vec<Held>,
    /// Read at most this many bytes per second (`None`: no limit).
    pub max_bytes_per_second: Option<u64>,
}

/// What a backup sends, in this order: `Started`, per file a `File` and
/// its `Chunk`s, `Done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupMessage {
    /// The copy holds every record up to `position`, and none after it.
    Started {
        /// The log's committed end at the pin.
        position: Position,
        /// Files that follow, at most.
        files: u64,
        /// Bytes of chunks that follow (an estimate for snapshots).
        bytes: u64,
    },
    /// One file; its chunks follow, from `offset` to `length`.
    File {
        /// Relative to the data directory, `/`-separated.
        path: String,
        /// Segment or snapshot.
        kind: BackupFileKind,
        /// A segment's generation; 0 for snapshots.
        generation: u32,
        /// Its length in the copy.
        length: u64,
        /// Where its chunks start: the held length when the client's copy
        /// is a prefix of this one, else 0.
        offset: u64,
        /// CRC-32 of the whole file, when known without reading it again
        /// (snapshots).
        crc32: Option<u32>,
    },
    /// The next bytes of the last file.
    Chunk {
        /// The bytes.
        data: Vec<u8>,
        /// Their CRC-32.
        crc32: u32,
    },
    /// The copy is complete.
    Done {
        /// Files described.
        files: u64,
        /// Bytes of chunks sent.
        bytes: u64,
    },
}

/// The stream of a backup's messages; an `Err` ends it.
pub type BackupMessages = ReceiverStream<Result<BackupMessage, Error>>;
type Tx = mpsc::Sender<Result<BackupMessage, Error>>;

impl Node {
    /// Starts a backup: pins the files now and returns the channel its
    /// task fills. [`Error::TooManyBackups`] when
    /// [`MAX_CONCURRENT_BACKUPS`] run already.
    pub async fn backup(&self, plan: BackupPlan) -> Result<BackupMessages, Error> {
        let permit =
            self.backups
                .clone()
                .try_acquire_owned()
                .map_err(|_| Error::TooManyBackups {
                    limit: MAX_CONCURRENT_BACKUPS,
                })?;
        let store = self.store.clone();
        let view = Arc::new(blocking(move || store.backup_view()).await?);
        let starts = {
            let (view, held) = (view.clone(), plan.held.clone());
            blocking(move || start_offsets(&view, &held)).await?
        };
        let (tx, rx) = mpsc::channel(BACKUP_BUFFER_MESSAGES);
        let job = Job {
            view,
            starts,
            held: plan.held.into_iter().map(|h| (h.path.clone(), h)).collect(),
            pace: Pace::new(plan.max_bytes_per_second),
            tx,
            shutdown: self.shutdown.clone(),
            _permit: permit,
        };
        tokio::spawn(job.run());
        Ok(ReceiverStream::new(rx))
    }
}

/// CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Where each segment's chunks start (snapshots are decided when read).
fn start_offsets(view: &BackupView, held: &[Held]) -> strata_storage::Result<Vec<u64>> {
    let held: HashMap<&str, &Held> = held.iter().map(|h| (h.path.as_str(), h)).collect();
    let mut out = Vec::with_capacity(view.files.len());
    for f in &view.files {
        let start = match held.get(f.path.as_str()) {
            Some(h)
                if f.kind == BackupFileKind::Segment
                    && h.generation == f.generation
                    && h.length > 0
                    && h.length <= f.length =>
            {
                let n = h.length.min(TAIL_CHECK_BYTES);
                let mut tail = vec![0u8; n as usize];
                let read = f.read_at(&mut tail, h.length - n)?;
                if read as u64 == n && crc32(&tail) == h.tail_crc32 {
                    h.length
                } else {
                    0
                }
            }
            _ => 0,
        };
        out.push(start);
    }
    Ok(out)
}

/// Paces reads to a byte rate.
struct Pace {
    bytes_per_second: Option<u64>,
    started: Instant,
    bytes: u64,
}

impl Pace {
    fn new(bytes_per_second: Option<u64>) -> Pace {
        Pace {
            bytes_per_second: bytes_per_second.filter(|b| *b > 0),
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// Counts `n` bytes and waits until the rate allows them.
    async fn consume(&mut self, n: u64) {
        self.bytes += n;
        if let Some(rate) = self.bytes_per_second {
            let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// One backup's task: owns the pin (the view) and the concurrency permit.
struct Job {
    view: Arc<BackupView>,
    starts: Vec<u64>,
    held: HashMap<String, Held>,
    pace: Pace,
    tx: Tx,
    shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

/// Why a backup stopped early.
enum Stop {
    /// The client went away: nothing to tell anyone.
    Gone,
    /// Tell the client (if it still listens).
    Failed(Error),
}

impl Job {
    async fn run(mut self) {
        let began = Instant::now();
        let position = self.view.position;
        match self.send_all().await {
            Ok((files, bytes)) => tracing::info!(
                position,
                files,
                bytes,
                seconds = began.elapsed().as_secs_f64(),
                "backup streamed"
            ),
            Err(Stop::Gone) => tracing::info!(position, "backup ended by its client"),
            Err(Stop::Failed(e)) => {
                tracing::warn!(position, error = %e, "backup failed");
                let _ = self.tx.send(Err(e)).await;
            }
        }
    }

    /// Sends `msg` unless the client is gone or the server shuts down.
    async fn send(&mut self, msg: BackupMessage) -> Result<(), Stop> {
        if *self.shutdown.borrow() {
            return Err(Stop::Failed(Error::ShuttingDown));
        }
        tokio::select! {
            sent = self.tx.send(Ok(msg)) => sent.map_err(|_| Stop::Gone),
            _ = self.shutdown.wait_for(|s| *s) => Err(Stop::Failed(Error::ShuttingDown)),
        }
    }

    async fn send_all(&mut self) -> Result<(u64, u64), Stop> {
        let view = self.view.clone();
        let bytes: u64 = view
            .files
            .iter()
            .zip(&self.starts)
            .map(|(f, s)| f.length - s.min(&f.length))
            .sum();
        self.send(BackupMessage::Started {
            position: view.position,
            files: view.files.len() as u64,
            bytes,
        })
        .await?;
        let (mut files, mut sent) = (0u64, 0u64);
        for (i, f) in view.files.iter().enumerate() {
            let n = match f.kind {
                BackupFileKind::Segment => self.send_segment(&view, i).await?,
                BackupFileKind::Snapshot => match self.send_snapshot(&view, i).await? {
                    Some(n) => n,
                    None => continue,
                },
            };
            files += 1;
            sent += n;
        }
        self.send(BackupMessage::Done { files, bytes: sent })
            .await?;
        Ok((files, sent))
    }

    /// Sends segment `i` from its start offset; returns the bytes sent.
    async fn send_segment(&mut self, view: &Arc<BackupView>, i: usize) -> Result<u64, Stop> {
        let f = &view.files[i];
        let mut offset = self.starts[i];
        self.send(BackupMessage::File {
            path: f.path.clone(),
            kind: f.kind,
            generation: f.generation,
            length: f.length,
            offset,
            crc32: None,
        })
        .await?;
        let mut sent = 0;
        while offset < f.length {
            let want = (f.length - offset).min(BACKUP_CHUNK_BYTES as u64) as usize;
            self.pace.consume(want as u64).await;
            let v = view.clone();
            let data = blocking(move || {
                let mut buf = vec![0u8; want];
                let n = v.files[i].read_at(&mut buf, offset)?;
                buf.truncate(n);
                Ok(buf)
            })
            .await
            .map_err(Stop::Failed)?;
            if data.is_empty() {
                return Err(Stop::Failed(Error::Internal(format!(
                    "{} ended at {offset} of {} bytes",
                    f.path, f.length
                ))));
            }
            offset += data.len() as u64;
            sent += data.len() as u64;
            let crc32 = crc32(&data);
            self.send(BackupMessage::Chunk { data, crc32 }).await?;
        }
        Ok(sent)
    }

    /// Sends a snapshot file (nothing of it if the client holds the same
    /// bytes); `None` if it was removed since the pin.
    async fn send_snapshot(
        &mut self,
        view: &Arc<BackupView>,
        i: usize,
    ) -> Result<Option<u64>, Stop> {
        let f = &view.files[i];
        let v = view.clone();
        let bytes = blocking(move || v.files[i].read_whole())
            .await
            .map_err(Stop::Failed)?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let crc = crc32(&bytes);
        let length = bytes.len() as u64;
        let current = self
            .held
            .get(&f.path)
            .is_some_and(|h| h.length == length && h.crc32 == crc);
        self.send(BackupMessage::File {
            path: f.path.clone(),
            kind: f.kind,
            generation: 0,
            length,
            offset: if current { length } else { 0 },
            crc32: Some(crc),
        })
        .await?;
        if current {
            return Ok(Some(0));
        }
        for chunk in bytes.chunks(BACKUP_CHUNK_BYTES) {
            self.pace.consume(chunk.len() as u64).await;
            self.send(BackupMessage::Chunk {
                data: chunk.to_vec(),
                crc32: crc32(chunk),
            })
            .await?;
        }
        Ok(Some(length))
    }
}
