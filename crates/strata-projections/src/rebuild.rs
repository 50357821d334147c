//! Rebuilding a [`KvProjection`]'s read model by replaying the log:
//! [`RebuildMode::Reset`] drops the model and checkpoint and replays into a
//! fresh generation in place; [`RebuildMode::Swap`] replays into a new
//! generation while the current one keeps serving, then switches the
//! `CURRENT` pointer atomically. Shows a progress bar on a terminal. Owns
//! the rebuild sequence only; storage layout is `kv`'s.
//!
//! After a swap, a runner still writing the old generation (in another
//! process) keeps doing so until it is restarted; on restart it opens the new
//! generation, resumes from the checkpoint the rebuild reached, and deletes
//! the old generation.

use crate::error::{Error, Result};
use crate::kv::{ModelDir, SledReadModel};
use crate::projection::{ErrorPolicy, KvProjection};
use crate::runner::{Runner, RunnerConfig};
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};
use strata_client::Client;

/// How to rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RebuildMode {
    /// Drop the serving model and its checkpoint, replay into it.
    Reset,
    /// Replay into a new generation; swap it in when caught up.
    Swap,
}

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    /// The rebuilt model, still open: keep using this handle rather than
    /// reopening the directory in the same process (sled may hold its file
    /// lock for a while after the last handle is dropped).
    pub model: SledReadModel,
    /// The generation now serving.
    pub generation: u64,
    /// Events applied.
    pub events: u64,
    /// The checkpoint reached.
    pub checkpoint: Option<u64>,
    /// Wall time.
    pub elapsed: Duration,
}

impl RebuildReport {
    /// Events applied per second.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Rebuilds projection `p` under `root` (see the module docs). Replays until
/// the projection has caught up with the log as of the start, then commits,
/// flushes and (for `Swap`) switches `CURRENT`. `progress`: draw a bar
/// (only when stderr is a terminal).
pub async fn rebuild_kv<P: KvProjection>(
    client: &Client,
    root: &Path,
    p: P,
    mode: RebuildMode,
    cfg: RunnerConfig,
    progress: bool,
) -> Result<RebuildReport> {
    let dir = ModelDir::new(root, p.name())?;
    let (gen, model) = match mode {
        RebuildMode::Reset => dir.reset()?,
        RebuildMode::Swap => dir.create_next()?,
    };
    let target = client.server_info().await?.head_position;
    let started = Instant::now();
    let mut runner = Runner::new(client.clone(), cfg);
    runner.add_kv(p, model.clone(), ErrorPolicy::default())?;
    let running = runner.start();
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(target);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
        ) {
            b.set_style(style);
        }
        b
    });
    loop {
        let st = running.local_status().remove(0);
        if let Some(b) = &bar {
            // Positions for $all sources; a stream's revisions are fewer.
            b.set_position(st.checkpoint.unwrap_or(0).min(target));
        }
        if st.caught_up || running.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = running.local_status().remove(0);
    running.shutdown().await?;
    if let Some(b) = bar {
        b.finish();
    }
    let elapsed = started.elapsed();
    if !st.caught_up {
        return Err(Error::Task(
            st.name,
            st.last_error
                .unwrap_or_else(|| "stopped before catching up".into()),
        ));
    }
    if mode == RebuildMode::Swap {
        dir.switch_to(gen)?;
    }
    Ok(RebuildReport {
        model,
        generation: gen,
        events: st.events_applied,
        checkpoint: st.checkpoint,
        elapsed,
    })
}
