//! `strata export [--stream S | $all] [--from P] > events.jsonl`: events
//! as JSON lines (`jsonl::EventLine`), one per line, in log order (a
//! stream's in revision order), with a progress bar on stderr and a
//! summary there when done (stdout carries only the events).
//!
//! From `$all` it exports the application events the server shows — what
//! deletes, truncation and retention hide is left out, and so are system
//! streams (`$$…` metadata, `$scavenges`, consumer groups' records): an
//! export moves events, not a store (`strata backup` copies a store).
//!
//! Not here: the line format (`jsonl`), importing (`import`).

use super::jsonl::EventLine;
use super::streams::ALL;
use super::{progress, Conn, Outcome};
use anyhow::Context;
use clap::Args;
use futures::TryStreamExt;
use std::io::Write;
use std::time::Instant;
use strata_client::{AllFrom, ReadAllOptions, ReadOptions, RecordedEvent, StreamFrom};

/// `strata export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The stream to export, or `$all` for every application event.
    #[arg(long, default_value = ALL)]
    pub stream: String,
    /// Start here (inclusive): a global position for `$all`, a revision
    /// for a stream.
    #[arg(long)]
    pub from: Option<u64>,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata export`.
pub async fn run(a: ExportArgs) -> Outcome {
    let began = Instant::now();
    let client = a
        .conn
        .client_with(strata_client::RetryPolicy::default())
        .await?;
    let (mut events, bar): (
        Box<dyn futures::Stream<Item = strata_client::Result<RecordedEvent>> + Unpin + Send>,
        _,
    ) = if a.stream == ALL {
        let head = client.server_info().await?.head_position;
        let from = a.from.unwrap_or(1);
        let bar = progress::count("export", head, "positions");
        bar.set_position(from.saturating_sub(1));
        let o = ReadAllOptions::forwards().from(AllFrom::Position(from));
        (Box::new(client.read_all(o)), bar)
    } else {
        let o = ReadOptions::forwards().from(StreamFrom::Revision(a.from.unwrap_or(0)));
        let bar = progress::spinner("export", "events");
        (Box::new(client.read_stream(a.stream.clone(), o)), bar)
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut n = 0u64;
    let mut last_position = None;
    while let Some(e) = events.try_next().await.map_err(|e| {
        super::exit::Failure::client(e, false).context(format!("reading {}", a.stream))
    })? {
        serde_json::to_writer(&mut out, &EventLine::from_event(&e)).context("encoding an event")?;
        out.write_all(b"\n")?;
        n += 1;
        last_position = Some(e.position);
        if a.stream == ALL {
            bar.set_position(e.position);
        } else {
            bar.inc(1);
        }
    }
    out.flush()?;
    drop(out);
    bar.finish_and_clear();
    let secs = began.elapsed().as_secs_f64();
    let next = match (a.stream == ALL, last_position) {
        (true, Some(p)) => format!("; continue with --from {}", p + 1),
        _ => String::new(),
    };
    eprintln!(
        "exported {n} events from {} in {secs:.1} s ({:.0} events/s){next}",
        a.stream,
        n as f64 / secs.max(1e-6)
    );
    Ok(())
}
