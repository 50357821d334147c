//! Looking at streams from a terminal: `strata ls` (stream names, their
//! last revision and position), `strata read` (a stream or `$all`,
//! forwards or backwards) and `strata tail` (follow a stream or `$all`
//! live, optionally filtered by event type or stream prefix).
//!
//! Each prints events for people (`output::event_human`) or, with
//! `--json`, one `jsonl::EventLine` per line — the same lines `strata
//! export` writes.
//!
//! Not here: writes (`write`), bulk export (`export`).

use super::exit::Failure;
use super::jsonl::EventLine;
use super::{output, Conn, Outcome};
use clap::Args;
use futures::TryStreamExt;
use serde_json::json;
use strata_client::{
    AllFrom, Filter, ReadAllOptions, ReadOptions, RecordedEvent, StreamFrom, SubscribeFrom,
    SubscriptionItem,
};

/// The name of the global log.
pub const ALL: &str = "$all";

/// `strata ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only streams whose names start with this.
    #[arg(default_value = "")]
    pub prefix: String,
    /// At most this many streams (0: all).
    #[arg(long, default_value_t = 0)]
    pub max: u64,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// The stream, or `$all` for the global log.
    pub stream: String,
    /// Start here (inclusive): a revision, or a global position for `$all`
    /// [default: the start, or the end with --backwards].
    #[arg(long)]
    pub from: Option<u64>,
    /// Newest first.
    #[arg(long)]
    pub backwards: bool,
    /// At most this many events (0: all).
    #[arg(long, default_value_t = 0)]
    pub max: u64,
    /// One JSON object per line (the `export` format).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The stream, or `$all` for the global log.
    #[arg(default_value = ALL)]
    pub stream: String,
    /// Only events of this type (repeatable).
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// `$all` only: only streams whose names start with this (repeatable).
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefixes: Vec<String>,
    /// Start after this revision (stream) or position (`$all`) instead of
    /// at the end.
    #[arg(long)]
    pub after: Option<u64>,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<u64>,
    /// One JSON object per line (the `export` format).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// Prints one event in the chosen mode; events for people are separated
/// by a blank line.
fn print_event(e: &RecordedEvent, json: bool, color: bool, first: bool) -> std::io::Result<()> {
    if json {
        return output::json_line(&EventLine::from_event(e));
    }
    if !first {
        output::line("")?;
    }
    output::line(&output::event_human(e, color))
}

/// `strata ls`.
pub async fn ls(a: LsArgs) -> Outcome {
    let client = a.conn.client().await?;
    let mut streams = client.list_streams(a.prefix.clone(), 1000);
    let mut rows = Vec::new();
    let mut n = 0;
    while let Some(s) = streams.try_next().await? {
        if a.json {
            output::json_line(&json!({
                "stream": s.name, "revision": s.revision, "last_position": s.last_position,
            }))?;
        } else {
            rows.push(vec![
                s.name,
                s.revision.to_string(),
                s.last_position.to_string(),
            ]);
        }
        n += 1;
        if a.max > 0 && n >= a.max {
            break;
        }
    }
    if !a.json {
        let color = output::color_stdout();
        output::line(&output::table(
            &["STREAM", "REVISION", "LAST POSITION"],
            &rows,
            color,
        ))?;
    }
    output::flush()?;
    Ok(())
}

/// `strata read`.
pub async fn read(a: ReadArgs) -> Outcome {
    let client = a.conn.client().await?;
    let mut events: Box<
        dyn futures::Stream<Item = strata_client::Result<RecordedEvent>> + Unpin + Send,
    > = if a.stream == ALL {
        let mut o = if a.backwards {
            ReadAllOptions::backwards()
        } else {
            ReadAllOptions::forwards()
        };
        if let Some(p) = a.from {
            o = o.from(AllFrom::Position(p));
        }
        Box::new(client.read_all(o.max_count(a.max)))
    } else {
        let mut o = if a.backwards {
            ReadOptions::backwards()
        } else {
            ReadOptions::forwards()
        };
        if let Some(r) = a.from {
            o = o.from(StreamFrom::Revision(r));
        }
        Box::new(client.read_stream(a.stream.clone(), o.max_count(a.max)))
    };
    let color = output::color_stdout();
    let mut first = true;
    while let Some(e) = events
        .try_next()
        .await
        .map_err(|e| Failure::client(e, false).context(format!("reading {}", a.stream)))?
    {
        print_event(&e, a.json, color, first)?;
        first = false;
    }
    output::flush()?;
    Ok(())
}

/// `strata tail`.
pub async fn tail(a: TailArgs) -> Outcome {
    // A subscription lives as long as the operator wants: no request
    // timeout; reconnects ride out a server restart.
    let client = a
        .conn
        .client_with(strata_client::RetryPolicy::default().max_attempts(20))
        .await?;
    let after = a.after.map_or(SubscribeFrom::End, SubscribeFrom::After);
    let mut sub: Box<
        dyn futures::Stream<Item = strata_client::Result<SubscriptionItem>> + Unpin + Send,
    > = if a.stream == ALL {
        let mut f = Filter::new();
        for t in &a.types {
            f = f.event_type(t.clone());
        }
        for p in &a.prefixes {
            f = f.stream_prefix(p.clone());
        }
        Box::new(client.subscribe_to_all(after, f))
    } else {
        if !a.prefixes.is_empty() {
            return Err(anyhow::anyhow!("--prefix only applies to $all").into());
        }
        Box::new(client.subscribe_to_stream(a.stream.clone(), after))
    };
    let color = output::color_stdout();
    let (mut first, mut n) = (true, 0u64);
    while a.count.is_none_or(|c| n < c) {
        let Some(item) = sub
            .try_next()
            .await
            .map_err(|e| Failure::client(e, false).context(format!("following {}", a.stream)))?
        else {
            break;
        };
        let SubscriptionItem::Event(e) = item else {
            continue;
        };
        // Stream subscriptions have no server-side filter.
        if !a.types.is_empty() && !a.types.contains(&e.event_type) {
            continue;
        }
        print_event(&e, a.json, color, first)?;
        output::flush()?;
        first = false;
        n += 1;
    }
    Ok(())
}
