//! `strata restore --from DIR --data-dir D`: a backup directory's last
//! complete backup into a new data directory, offline — then the index
//! rebuilt from the log and every record verified, with progress bars.
//!
//! The data directory must not exist or be empty. While files are copied
//! it holds the `RESTORING` marker (so `strata serve` refuses it: a log
//! cut short by an interrupted restore must never be served) and its
//! `LOCK` (so no server starts on it meanwhile). Every file's CRC-32 is
//! checked against the manifest as it is copied; files and directories
//! are fsynced before the marker goes. The restored store's head must be
//! the backup's position: it serves exactly the events the backup holds.
//!
//! Not here: the backup directory's format (`manifest`), taking a backup
//! (`backup`).

use super::exit::{Failure, NOT_FOUND};
use super::manifest::{self, BackupDir};
use super::{output, progress, Outcome};
use anyhow::{anyhow, bail, Context};
use clap::Args;
use indicatif::HumanBytes;
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use strata_storage::{OpenProgress, Options, Store, RESTORING_MARKER};

/// Bytes copied at a time.
const COPY_BYTES: usize = 1024 * 1024;

/// `strata restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory.
    #[arg(long)]
    pub from: PathBuf,
    /// The data directory to create (must not exist, or be empty).
    #[arg(long, env = "STRATA_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Leave the index to be rebuilt by the first `strata serve`, and skip
    /// the verification.
    #[arg(long)]
    pub no_rebuild: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `strata restore`.
pub async fn run(a: RestoreArgs) -> Outcome {
    tokio::task::spawn_blocking(move || restore(&a))
        .await
        .map_err(|e| anyhow!("the restore task failed: {e}"))?
}

/// Copies `length` bytes of `from` to a new file `to`, fsynced; returns
/// their CRC-32.
fn copy_file(
    from: &Path,
    length: u64,
    to: &Path,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<u32> {
    let mut src = File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let have = src.metadata()?.len();
    if have < length {
        bail!(
            "{} holds {have} bytes, the manifest counts {length}",
            from.display()
        );
    }
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .with_context(|| format!("creating {}", to.display()))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; COPY_BYTES];
    let mut left = length;
    while left > 0 {
        let n = left.min(COPY_BYTES as u64) as usize;
        src.read_exact(&mut buf[..n])
            .with_context(|| format!("reading {}", from.display()))?;
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])
            .with_context(|| format!("writing {}", to.display()))?;
        left -= n as u64;
        bar.inc(n as u64);
    }
    dst.sync_all()?;
    Ok(hasher.finalize())
}

/// The target directory, created (or found empty).
fn prepare(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{} is not a directory", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty: restore into a new data directory",
                dir.display()
            );
        }
        return Ok(());
    }
    manifest::create_dir_durably(dir).with_context(|| format!("creating {}", dir.display()))
}

fn restore(a: &RestoreArgs) -> Outcome {
    let began = Instant::now();
    let (_backup, m) = match BackupDir::for_restore(&a.from) {
        Ok(x) => x,
        Err(e) if !a.from.join(manifest::MANIFEST).exists() => {
            return Err(Failure::new(NOT_FOUND, e));
        }
        Err(e) => return Err(e.into()),
    };
    let d = &a.data_dir;
    prepare(d)?;
    let marker = d.join(RESTORING_MARKER);
    File::create(&marker)?.sync_all()?;
    manifest::fsync_dir(d)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(d.join("LOCK"))?;
    if lock.try_lock().is_err() {
        return Err(anyhow!("{} is locked by another process", d.display()).into());
    }

    let bar = progress::bytes("restore", m.bytes());
    let mut dirs: Vec<PathBuf> = Vec::new();
    for f in &m.files {
        let to = d.join(&f.path);
        let parent = to.parent().unwrap_or(d).to_owned();
        if !dirs.contains(&parent) {
            manifest::create_dir_durably(&parent)?;
            dirs.push(parent);
        }
        let crc = copy_file(&a.from.join(&f.stored), f.length, &to, &bar)?;
        if crc != f.crc32 {
            return Err(anyhow!(
                "{} does not match its checksum in the manifest: the backup is damaged",
                f.stored
            )
            .into());
        }
    }
    bar.finish_and_clear();
    // Deepest first: a directory's entry is durable once its parent's is.
    dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for dir in &dirs {
        manifest::fsync_dir(dir)?;
    }
    if d.join("snapshots").is_dir() {
        manifest::fsync_dir(&d.join("snapshots"))?;
    }
    std::fs::remove_file(&marker)?;
    manifest::fsync_dir(d)?;
    drop(lock);
    let copied_secs = began.elapsed().as_secs_f64();

    let mut checked = None;
    if !a.no_rebuild {
        rebuild(d, m.position)?;
        checked = Some(verify(d)?);
    }
    let secs = began.elapsed().as_secs_f64();
    let rate = m.bytes() as f64 / copied_secs.max(1e-6);
    if a.json {
        output::json_line(&json!({
            "data_dir": d.display().to_string(), "position": m.position,
            "files": m.files.len(), "bytes": m.bytes(), "copy_seconds": copied_secs,
            "seconds": secs, "records": checked,
        }))?;
    } else {
        let verified = match checked {
            Some(n) => format!("; index rebuilt, {n} records verified"),
            None => String::new(),
        };
        output::line(&format!(
            "restored position {} into {}: {} files, {} in {copied_secs:.1} s ({}/s){verified}",
            m.position,
            d.display(),
            m.files.len(),
            HumanBytes(m.bytes()),
            HumanBytes(rate as u64),
        ))?;
    }
    Ok(())
}

/// Opens the restored store once, so its index and position maps are
/// rebuilt now (with a bar) rather than at the first `serve`; checks its
/// head is the backup's position.
fn rebuild(dir: &Path, position: u64) -> anyhow::Result<()> {
    let bar = Arc::new(progress::count("index", position, "positions"));
    let b = bar.clone();
    let opts = Options {
        resume_interrupted_scavenge: false,
        open_progress: Some(OpenProgress(Arc::new(move |done, _| b.set_position(done)))),
        ..Options::default()
    };
    let store = Store::open(dir, opts)
        .with_context(|| format!("opening the restored store in {}", dir.display()))?;
    bar.finish_and_clear();
    let head = store.head();
    store.close().context("closing the restored store")?;
    if head != position {
        bail!("the restored store ends at position {head}, the backup at {position}");
    }
    Ok(())
}

/// Checks every record of the restored store; returns how many.
fn verify(dir: &Path) -> anyhow::Result<u64> {
    let bar = progress::bytes("verify", 0);
    let mut p = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = strata_storage::verify(dir, &mut p)
        .with_context(|| format!("verifying {}", dir.display()))?;
    bar.finish_and_clear();
    if let Some(p) = report.problems.first() {
        bail!(
            "the restored store does not verify ({} problems; first: {} at {}: {})",
            report.problems.len(),
            p.file.display(),
            p.offset,
            p.reason
        );
    }
    Ok(report.records)
}
