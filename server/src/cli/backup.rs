//! `strata backup --to DIR`: an online, consistent backup of a running
//! server through its `Admin.Backup` stream, written into a backup
//! directory (`manifest`), incrementally.
//!
//! The request lists what the directory's manifest holds; the server sends
//! only what is new: segments it holds whole are skipped, a segment that
//! grew since (the previous backup's active one) is sent from where the
//! held copy ends and appended to it, and a scavenged segment (a new
//! generation) or a changed snapshot is sent whole under a new name.
//! Every chunk's CRC-32 is checked as it arrives, every file's as it ends;
//! files are fsynced, then the new manifest is committed, then files no
//! manifest names are removed. The stream must end with `Done`, or
//! nothing is committed and the previous backup stays as it was.
//!
//! Not here: the directory's layout and commit rules (`manifest`), what
//! the server pins (`domain::backup`).

use super::exit::{self, Failure};
use super::manifest::{self, BackupDir, Entry, Kind, Manifest};
use super::{output, progress, Conn, Outcome};
use anyhow::{anyhow, bail, Context};
use clap::Args;
use indicatif::HumanBytes;
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;
use strata_proto::v1 as pb;
use strata_proto::wire::MAX_GRPC_MESSAGE_BYTES;

/// Bytes at the end of a file whose CRC-32 the manifest keeps (as the
/// server's `TAIL_CHECK_BYTES`).
const TAIL_BYTES: u64 = 4096;
/// HTTP/2 flow-control window of the backup's connection (16 MiB).
const WINDOW_BYTES: u32 = 16 * 1024 * 1024;

/// `strata backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup directory (created if needed; an earlier backup there
    /// makes this one incremental).
    #[arg(long)]
    pub to: PathBuf,
    /// Read at most this many bytes per second on the server [default: no
    /// limit].
    #[arg(long)]
    pub max_bytes_per_second: Option<u64>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// What happened to the files.
#[derive(Debug, Default)]
struct Tally {
    copied: u64,
    extended: u64,
    unchanged: u64,
    bytes: u64,
}

/// The file being received.
struct Receiving {
    entry: Entry,
    file: Option<File>,
    hasher: crc32fast::Hasher,
    at: u64,
    expect_crc: Option<u32>,
}

/// CRC-32 of the last `min(length, TAIL_BYTES)` bytes of `file`'s first
/// `length`.
fn tail_crc(file: &File, length: u64) -> std::io::Result<u32> {
    let n = length.min(TAIL_BYTES);
    let mut buf = vec![0u8; n as usize];
    file.read_exact_at(&mut buf, length - n)?;
    Ok(crc32fast::hash(&buf))
}

/// Opens the stored file for `f`: a new one, or the held one to extend.
fn open_target(dir: &Path, f: &pb::BackupFile, held: Option<&Entry>) -> anyhow::Result<Receiving> {
    manifest::check_path(&f.path)?;
    let kind = match pb::BackupFileKind::try_from(f.kind) {
        Ok(pb::BackupFileKind::Segment) => Kind::Segment,
        Ok(pb::BackupFileKind::Snapshot) => Kind::Snapshot,
        _ => bail!("{}: unknown file kind {}", f.path, f.kind),
    };
    let snapshot_crc = (kind == Kind::Snapshot).then_some(f.crc32);
    let mut entry = Entry {
        path: f.path.clone(),
        kind,
        generation: f.generation,
        length: f.length,
        crc32: 0,
        tail_crc32: 0,
        stored: String::new(),
    };
    if f.offset > 0 {
        let held = held
            .filter(|h| h.generation == f.generation && h.length == f.offset)
            .ok_or_else(|| {
                anyhow!(
                    "the server continues {} at {}, which this directory does not hold",
                    f.path,
                    f.offset
                )
            })?;
        entry.stored = held.stored.clone();
        if f.offset == f.length {
            // Current already.
            return Ok(Receiving {
                entry: held.clone(),
                file: None,
                hasher: crc32fast::Hasher::new(),
                at: f.length,
                expect_crc: None,
            });
        }
        let path = dir.join(&entry.stored);
        let mut file = OpenOptions::new()
            .write(true)
            .read(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // Bytes past the held length are an interrupted backup's.
        file.set_len(f.offset)?;
        file.seek(SeekFrom::End(0))?;
        return Ok(Receiving {
            entry,
            file: Some(file),
            hasher: crc32fast::Hasher::new_with_initial_len(held.crc32, held.length),
            at: f.offset,
            expect_crc: snapshot_crc,
        });
    }
    entry.stored = manifest::stored_name(&f.path, f.generation);
    let path = dir.join(&entry.stored);
    if let Some(parent) = path.parent() {
        manifest::create_dir_durably(parent)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(Receiving {
        entry,
        file: Some(file),
        hasher: crc32fast::Hasher::new(),
        at: 0,
        expect_crc: snapshot_crc,
    })
}

/// Finishes the file being received: complete, checked, fsynced.
fn finish(r: Receiving, dirs: &mut Vec<PathBuf>, dir: &Path) -> anyhow::Result<Entry> {
    let mut entry = r.entry;
    let Some(mut file) = r.file else {
        return Ok(entry);
    };
    if r.at != entry.length {
        bail!(
            "{}: the server sent {} of {} bytes",
            entry.path,
            r.at,
            entry.length
        );
    }
    entry.crc32 = r.hasher.finalize();
    if r.expect_crc.is_some_and(|c| c != entry.crc32) {
        bail!("{}: the file's checksum does not match", entry.path);
    }
    file.flush()?;
    file.sync_all()?;
    entry.tail_crc32 = tail_crc(&file, entry.length)?;
    if let Some(parent) = dir.join(&entry.stored).parent() {
        if !dirs.iter().any(|d| d == parent) {
            dirs.push(parent.to_owned());
        }
    }
    Ok(entry)
}

/// `strata backup`.
pub async fn run(a: BackupArgs) -> Outcome {
    let began = Instant::now();
    let mut dir = BackupDir::for_backup(&a.to)?;
    let old = dir.manifest.clone();
    let held: Vec<Entry> = old.as_ref().map(|m| m.files.clone()).unwrap_or_default();
    // Wide HTTP/2 windows: the server can keep several 1 MiB chunks in
    // flight instead of waiting for window updates.
    let client = a
        .conn
        .connect(
            a.conn
                .builder()?
                .http2_window_bytes(WINDOW_BYTES)
                .retry_policy(strata_client::RetryPolicy::default().max_attempts(3)),
        )
        .await?;
    let mut admin = client
        .admin_client()
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let request = pb::BackupRequest {
        held: held
            .iter()
            .map(|h| pb::BackupHeld {
                path: h.path.clone(),
                generation: h.generation,
                length: h.length,
                crc32: h.crc32,
                tail_crc32: h.tail_crc32,
            })
            .collect(),
        max_bytes_per_second: a.max_bytes_per_second,
    };
    let mut stream = admin
        .backup(request)
        .await
        .map_err(|s| {
            let code = match s.code() {
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => exit::REFUSED,
                _ => exit::OTHER,
            };
            Failure::new(code, anyhow!("starting the backup: {}", s.message()))
        })?
        .into_inner();
    let receive_failed = |s: tonic::Status| anyhow!("the backup stream failed: {}", s.message());
    use pb::backup_response::Content;
    let started = match stream.message().await.map_err(receive_failed)? {
        Some(pb::BackupResponse {
            content: Some(Content::Started(s)),
        }) => s,
        other => return Err(anyhow!("the server did not start a backup: {other:?}").into()),
    };
    let bar = progress::bytes("backup", started.bytes);
    let mut tally = Tally::default();
    let mut entries = Vec::new();
    let mut dirs = Vec::new();
    let mut current: Option<Receiving> = None;
    let done = loop {
        let Some(msg) = stream.message().await.map_err(receive_failed)? else {
            break None;
        };
        match msg.content {
            Some(Content::File(f)) => {
                if let Some(r) = current.take() {
                    entries.push(tokio::task::block_in_place(|| {
                        finish(r, &mut dirs, &dir.path)
                    })?);
                }
                let h = held.iter().find(|h| h.path == f.path);
                let r = tokio::task::block_in_place(|| open_target(&dir.path, &f, h))?;
                match f.offset {
                    0 => tally.copied += 1,
                    o if o == f.length => tally.unchanged += 1,
                    _ => tally.extended += 1,
                }
                current = Some(r);
            }
            Some(Content::Chunk(c)) => {
                let r = current
                    .as_mut()
                    .ok_or_else(|| anyhow!("the server sent data before a file"))?;
                if crc32fast::hash(&c.data) != c.crc32 {
                    return Err(
                        anyhow!("{}: a chunk's checksum does not match", r.entry.path).into(),
                    );
                }
                let Some(file) = r.file.as_mut() else {
                    return Err(anyhow!("{}: data for a file held already", r.entry.path).into());
                };
                tokio::task::block_in_place(|| file.write_all(&c.data))
                    .with_context(|| format!("writing {}", r.entry.stored))?;
                r.hasher.update(&c.data);
                r.at += c.data.len() as u64;
                tally.bytes += c.data.len() as u64;
                bar.inc(c.data.len() as u64);
            }
            Some(Content::Done(d)) => break Some(d),
            Some(Content::Started(_)) | None => {
                return Err(anyhow!("unexpected message in a backup stream").into())
            }
        }
    };
    if done.is_none() {
        return Err(anyhow!(
            "the server ended the backup early; the previous backup in {} is unchanged",
            a.to.display()
        )
        .into());
    }
    if let Some(r) = current.take() {
        entries.push(tokio::task::block_in_place(|| {
            finish(r, &mut dirs, &dir.path)
        })?);
    }
    bar.finish_and_clear();
    for d in &dirs {
        manifest::fsync_dir(d)?;
    }
    for top in ["log", "snapshots"] {
        let p = dir.path.join(top);
        if p.is_dir() {
            manifest::fsync_dir(&p)?;
        }
    }
    let m = Manifest {
        format: manifest::FORMAT.to_owned(),
        position: started.position,
        created_micros: strata_client::now_micros(),
        source: a.conn.display_addr(),
        server_version: started.version,
        rebuild: manifest::REBUILT.iter().map(|s| s.to_string()).collect(),
        files: entries,
    };
    let total = m.bytes();
    let files = m.files.len();
    tokio::task::block_in_place(|| dir.commit(m))?;
    let removed = tokio::task::block_in_place(|| dir.remove_unreferenced())?;
    let secs = began.elapsed().as_secs_f64();
    let rate = tally.bytes as f64 / secs.max(1e-6);
    if a.json {
        output::json_line(&json!({
            "dir": a.to.display().to_string(), "position": started.position,
            "files": files, "copied": tally.copied, "extended": tally.extended,
            "unchanged": tally.unchanged, "removed": removed, "bytes_received": tally.bytes,
            "backup_bytes": total, "seconds": secs,
        }))?;
    } else {
        output::line(&format!(
            "backup of position {} in {}: {files} files ({} copied, {} extended, {} unchanged), \
             {} received in {secs:.1} s ({}/s); {} in the backup",
            started.position,
            a.to.display(),
            tally.copied,
            tally.extended,
            tally.unchanged,
            HumanBytes(tally.bytes),
            HumanBytes(rate as u64),
            HumanBytes(total),
        ))?;
    }
    Ok(())
}
