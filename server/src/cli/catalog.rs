//! What the store holds, from a terminal: `strata types` (event types) and
//! `strata categories` (stream categories), each with its event count, from
//! the server's type and category indexes. A table for people, or with
//! `--json` one object per line.
//!
//! Not here: stream names (`streams`, `strata ls`).

use super::{output, Conn, Outcome};
use clap::Args;
use futures::TryStreamExt;
use serde_json::json;

/// Names asked for per page (the server's maximum).
const PAGE_SIZE: u32 = strata_client::MAX_NAMES_PAGE_SIZE;

/// `strata types` and `strata categories`.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Only names that start with this.
    #[arg(default_value = "")]
    pub prefix: String,
    /// At most this many names (0: all).
    #[arg(long, default_value_t = 0)]
    pub max: u64,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata types`.
pub async fn types(a: NamesArgs) -> Outcome {
    let client = a.conn.client().await?;
    let names = client.list_event_types(a.prefix.clone(), PAGE_SIZE);
    print(names, "type", a.max, a.json).await
}

/// `strata categories`.
pub async fn categories(a: NamesArgs) -> Outcome {
    let client = a.conn.client().await?;
    let names = client.list_categories(a.prefix.clone(), PAGE_SIZE);
    print(names, "category", a.max, a.json).await
}

/// Prints up to `max` (0: all) names of a listing: JSON lines keyed by
/// `what`, or a table.
async fn print(
    mut names: impl futures::Stream<Item = strata_client::Result<strata_client::NameCount>> + Unpin,
    what: &str,
    max: u64,
    json: bool,
) -> Outcome {
    let mut rows = Vec::new();
    let mut n = 0;
    while let Some(c) = names.try_next().await? {
        if json {
            output::json_line(&json!({ what: c.name, "events": c.events }))?;
        } else {
            rows.push(vec![c.name, c.events.to_string()]);
        }
        n += 1;
        if max > 0 && n >= max {
            break;
        }
    }
    if !json {
        let color = output::color_stdout();
        let header = what.to_uppercase();
        output::line(&output::table(&[&header, "EVENTS"], &rows, color))?;
    }
    output::flush()?;
    Ok(())
}
