//! Operator commands that talk to a running server over gRPC:
//! `strata scavenge` (start or stop a scavenge and follow it with a
//! progress bar until it ends).
//!
//! Not here: offline commands on a data directory (`admin`), the server.

use crate::cli::Conn;
use anyhow::{bail, Context};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;
use strata_client::{RetryPolicy, Transport};
use strata_proto::v1 as pb;
use strata_proto::v1::admin_client::AdminClient;

/// How often `strata scavenge` asks for progress.
const SCAVENGE_POLL: Duration = Duration::from_millis(200);

/// What `strata scavenge` should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScavengeAction {
    /// Start one (or join the running one); follow it unless `wait` is false.
    Start {
        max_bytes_per_second: Option<u64>,
        wait: bool,
    },
    /// Stop the running one.
    Stop,
    /// Print the running or last one.
    Status,
}

async fn connect(conn: &Conn) -> anyhow::Result<AdminClient<Transport>> {
    let client = conn
        .client_with(RetryPolicy::default().max_attempts(3))
        .await?;
    Ok(client.admin_client())
}

fn state(s: &pb::ScavengeStatus) -> pb::ScavengeState {
    pb::ScavengeState::try_from(s.state).unwrap_or(pb::ScavengeState::Unspecified)
}

fn summary(s: &pb::ScavengeStatus) -> String {
    let secs = s
        .finished_micros
        .map(|f| (f - s.started_micros) as f64 / 1e6)
        .map(|d| format!(" in {d:.1} s"))
        .unwrap_or_default();
    let mut line = format!(
        "scavenge {} {}: {}/{} segments, {} records dropped, {} reclaimed{secs}",
        s.id,
        state(s)
            .as_str_name()
            .trim_start_matches("SCAVENGE_STATE_")
            .to_lowercase(),
        s.segments_done,
        s.segments_total,
        s.records_dropped,
        HumanBytes(s.bytes_reclaimed),
    );
    if !s.error.is_empty() {
        line.push_str(&format!(" (error: {})", s.error));
    }
    line
}

/// Runs `strata scavenge`; `Ok(true)` when the scavenge completed (for
/// `Stop`: when it is stopped or had completed; for `Status` and a start
/// without waiting: when the request succeeded).
pub fn scavenge(conn: &Conn, action: ScavengeAction) -> anyhow::Result<bool> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        let mut admin = connect(conn).await?;
        let status = match action {
            ScavengeAction::Start {
                max_bytes_per_second,
                wait,
            } => {
                let s = admin
                    .start_scavenge(pb::StartScavengeRequest {
                        max_bytes_per_second,
                    })
                    .await
                    .context("starting the scavenge")?
                    .into_inner();
                if !wait {
                    println!("{}", summary(&s));
                    return Ok(true);
                }
                follow(&mut admin, s).await?
            }
            ScavengeAction::Stop => {
                let s = admin
                    .stop_scavenge(pb::StopScavengeRequest {})
                    .await
                    .context("stopping the scavenge")?
                    .into_inner();
                println!("{}", summary(&s));
                return Ok(matches!(
                    state(&s),
                    pb::ScavengeState::Stopped | pb::ScavengeState::Completed
                ));
            }
            ScavengeAction::Status => {
                let s = admin
                    .get_scavenge(pb::GetScavengeRequest {})
                    .await
                    .context("asking for the scavenge")?
                    .into_inner();
                println!("{}", summary(&s));
                return Ok(true);
            }
        };
        println!("{}", summary(&status));
        Ok(state(&status) == pb::ScavengeState::Completed)
    })
}

/// Polls until the scavenge ends, drawing a bar on a terminal.
async fn follow(
    admin: &mut AdminClient<Transport>,
    mut s: pb::ScavengeStatus,
) -> anyhow::Result<pb::ScavengeStatus> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let style = ProgressStyle::with_template(
            "scavenging {bar:40} {pos}/{len} segments, {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::new(0).with_style(style)
    });
    let id = s.id.clone();
    while state(&s) == pb::ScavengeState::Running {
        if let Some(b) = &bar {
            b.set_length(s.segments_total);
            b.set_position(s.segments_done);
            b.set_message(format!(
                "{} reclaimed, {} read",
                HumanBytes(s.bytes_reclaimed),
                HumanBytes(s.bytes_processed)
            ));
        }
        tokio::time::sleep(SCAVENGE_POLL).await;
        s = admin
            .get_scavenge(pb::GetScavengeRequest {})
            .await
            .context("asking for progress")?
            .into_inner();
        if s.id != id {
            bail!("another scavenge ({}) replaced {id}", s.id);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(s)
}
