//! Changing streams from a terminal: `strata append` (one event, its data
//! from `--data` or stdin), `strata meta` (show a stream's metadata, or
//! change single settings with `--set`/`--unset`, checked against the
//! metadata revision just read so a concurrent change is a conflict) and
//! `strata delete` (soft, or `--tombstone`).
//!
//! A failed expected-revision check, and any write to a tombstoned
//! stream, exit with `exit::CONFLICT`.
//!
//! Not here: reading (`streams`), bulk import (`import`).

use super::exit::Failure;
use super::{output, Conn, Outcome};
use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use clap::Args;
use serde_json::json;
use std::io::{IsTerminal, Read};
use strata_client::{EventData, ExpectedRevision, StreamMetadata, StreamMetadataInfo};
use uuid::Uuid;

/// `strata append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The stream.
    pub stream: String,
    /// The event type.
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: String,
    /// The data as JSON (content type application/json); without it the
    /// data is read from stdin.
    #[arg(long)]
    pub data: Option<String>,
    /// Content type [default: application/json when the data is JSON,
    /// else application/octet-stream].
    #[arg(long)]
    pub content_type: Option<String>,
    /// Metadata (JSON, or any text).
    #[arg(long)]
    pub metadata: Option<String>,
    /// Expected revision: any, no-stream, exists, or a revision.
    #[arg(long, default_value = "any", value_parser = parse_expected)]
    pub expected: ExpectedRevision,
    /// The event id [default: a new random one]; the same id makes a retry
    /// idempotent.
    #[arg(long)]
    pub id: Option<Uuid>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata meta`.
#[derive(Debug, Args)]
pub struct MetaArgs {
    /// The stream.
    pub stream: String,
    /// Change one setting, keeping the others: max-count=N,
    /// max-age=SECONDS, truncate-before=REVISION, custom=JSON (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove one setting: max-count, max-age, truncate-before, custom
    /// (repeatable).
    #[arg(long, value_name = "KEY")]
    pub unset: Vec<String>,
    /// With --set/--unset: the metadata revision expected (any, no-stream,
    /// exists, or a number) [default: the one just read].
    #[arg(long, value_parser = parse_expected)]
    pub expected: Option<ExpectedRevision>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The stream.
    pub stream: String,
    /// Delete it for good: the name can never be written again.
    #[arg(long)]
    pub tombstone: bool,
    /// Expected revision: any, no-stream, exists, or a revision.
    #[arg(long, default_value = "any", value_parser = parse_expected)]
    pub expected: ExpectedRevision,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// `any`, `no-stream`, `exists` or a revision.
pub fn parse_expected(s: &str) -> Result<ExpectedRevision, String> {
    match s {
        "any" => Ok(ExpectedRevision::Any),
        "no-stream" => Ok(ExpectedRevision::NoStream),
        "exists" | "stream-exists" => Ok(ExpectedRevision::StreamExists),
        n => n
            .parse()
            .map(ExpectedRevision::Exact)
            .map_err(|_| format!("{s:?} is not any, no-stream, exists or a revision")),
    }
}

/// `strata append`.
pub async fn append(a: AppendArgs) -> Outcome {
    let data = match &a.data {
        Some(d) => {
            serde_json::from_str::<serde::de::IgnoredAny>(d)
                .with_context(|| "--data is not JSON (pipe other data in on stdin)")?;
            d.as_bytes().to_vec()
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(
                    anyhow!("give the data with --data JSON, or pipe it in on stdin").into(),
                );
            }
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the data from stdin")?;
            buf
        }
    };
    let content_type = a.content_type.clone().unwrap_or_else(|| {
        let json = serde_json::from_slice::<serde::de::IgnoredAny>(&data).is_ok();
        match json {
            true => strata_client::CONTENT_TYPE_JSON,
            false => strata_client::CONTENT_TYPE_BINARY,
        }
        .to_owned()
    });
    let mut event = EventData::binary(a.event_type.clone(), data).with_content_type(content_type);
    if let Some(id) = a.id {
        event = event.with_id(id);
    }
    if let Some(m) = &a.metadata {
        event = event.with_metadata(m.as_bytes().to_vec());
    }
    let client = a.conn.client().await?;
    let r = client
        .append(a.stream.clone(), a.expected, vec![event])
        .await
        .map_err(|e| Failure::client(e, true))?;
    if a.json {
        output::json_line(&json!({
            "stream": a.stream, "first_revision": r.first_revision,
            "last_revision": r.last_revision, "first_position": r.first_position,
            "last_position": r.last_position, "deduplicated": r.deduplicated,
        }))?;
    } else {
        let again = if r.deduplicated {
            " (already there: a retry of the same event id)"
        } else {
            ""
        };
        output::line(&format!(
            "appended to {}@{} at position {}{again}",
            a.stream, r.last_revision, r.last_position
        ))?;
    }
    Ok(())
}

/// Metadata bytes for people and JSON: as JSON text when they are.
fn custom_json(custom: &[u8]) -> serde_json::Value {
    if custom.is_empty() {
        return serde_json::Value::Null;
    }
    match serde_json::from_slice::<serde_json::Value>(custom) {
        Ok(v) => v,
        Err(_) => json!({
            "base64": base64::engine::general_purpose::STANDARD.encode(custom)
        }),
    }
}

fn show(stream: &str, info: &StreamMetadataInfo, json: bool) -> std::io::Result<()> {
    let m = &info.metadata;
    if json {
        return output::json_line(&json!({
            "stream": stream,
            "metadata_revision": info.metadata_revision,
            "max_count": m.max_count,
            "max_age_seconds": m.max_age_seconds,
            "truncate_before": m.truncate_before,
            "custom": custom_json(&m.custom),
            "deleted": info.deleted,
            "tombstoned": info.tombstoned,
        }));
    }
    let opt = |v: Option<u64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v}{unit}"));
    let custom = match custom_json(&m.custom) {
        serde_json::Value::Null => "-".to_owned(),
        v => v.to_string(),
    };
    let yes = |b: bool| if b { "yes" } else { "no" };
    output::line(&format!(
        "stream:             {stream}\n\
         metadata revision:  {}\n\
         max count:          {}\n\
         max age:            {}\n\
         truncate before:    {}\n\
         custom:             {custom}\n\
         deleted:            {}\n\
         tombstoned:         {}",
        opt(info.metadata_revision, ""),
        opt(m.max_count, ""),
        opt(m.max_age_seconds, " s"),
        opt(m.truncate_before, ""),
        yes(info.deleted),
        yes(info.tombstoned),
    ))
}

/// Applies one `--set KEY=VALUE`.
fn set(m: &mut StreamMetadata, kv: &str) -> anyhow::Result<()> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| anyhow!("--set {kv:?}: expected KEY=VALUE"))?;
    let num = || -> anyhow::Result<u64> {
        v.trim()
            .parse()
            .with_context(|| format!("--set {k}: {v:?} is not a number"))
    };
    match k.trim() {
        "max-count" => m.max_count = Some(num()?),
        "max-age" => m.max_age_seconds = Some(num()?),
        "truncate-before" => m.truncate_before = Some(num()?),
        "custom" => m.custom = v.as_bytes().to_vec(),
        other => {
            bail!("--set: unknown key {other:?} (max-count, max-age, truncate-before, custom)")
        }
    }
    Ok(())
}

/// Applies one `--unset KEY`.
fn unset(m: &mut StreamMetadata, k: &str) -> anyhow::Result<()> {
    match k.trim() {
        "max-count" => m.max_count = None,
        "max-age" => m.max_age_seconds = None,
        "truncate-before" => m.truncate_before = None,
        "custom" => m.custom.clear(),
        other => {
            bail!("--unset: unknown key {other:?} (max-count, max-age, truncate-before, custom)")
        }
    }
    Ok(())
}

/// `strata meta`.
pub async fn meta(a: MetaArgs) -> Outcome {
    let client = a.conn.client().await?;
    let info = client
        .get_stream_metadata(a.stream.clone())
        .await
        .map_err(|e| Failure::client(e, false))?;
    if a.set.is_empty() && a.unset.is_empty() {
        show(&a.stream, &info, a.json)?;
        return Ok(());
    }
    let mut m = info.metadata.clone();
    for kv in &a.set {
        set(&mut m, kv)?;
    }
    for k in &a.unset {
        unset(&mut m, k)?;
    }
    let expected = a.expected.unwrap_or(match info.metadata_revision {
        Some(r) => ExpectedRevision::Exact(r),
        None => ExpectedRevision::NoStream,
    });
    client
        .set_stream_metadata(a.stream.clone(), expected, m)
        .await
        .map_err(|e| Failure::client(e, true))?;
    let info = client
        .get_stream_metadata(a.stream.clone())
        .await
        .map_err(|e| Failure::client(e, false))?;
    show(&a.stream, &info, a.json)?;
    Ok(())
}

/// `strata delete`.
pub async fn delete(a: DeleteArgs) -> Outcome {
    let client = a.conn.client().await?;
    let position = if a.tombstone {
        client.tombstone_stream(a.stream.clone(), a.expected).await
    } else {
        client.delete_stream(a.stream.clone(), a.expected).await
    }
    .map_err(|e| Failure::client(e, true))?;
    if a.json {
        output::json_line(&json!({
            "stream": a.stream, "position": position, "tombstone": a.tombstone,
        }))?;
    } else {
        let how = if a.tombstone {
            "tombstoned (for good)"
        } else {
            "deleted"
        };
        output::line(&format!("{how} {} at position {position}", a.stream))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_revisions_parse() {
        assert_eq!(parse_expected("any"), Ok(ExpectedRevision::Any));
        assert_eq!(parse_expected("no-stream"), Ok(ExpectedRevision::NoStream));
        assert_eq!(parse_expected("exists"), Ok(ExpectedRevision::StreamExists));
        assert_eq!(parse_expected("7"), Ok(ExpectedRevision::Exact(7)));
        assert!(parse_expected("seven").is_err());
    }

    #[test]
    fn set_and_unset_change_one_setting() {
        let mut m = StreamMetadata::new().max_count(5).truncate_before(2);
        set(&mut m, "max-age=60").unwrap();
        set(&mut m, r#"custom={"a":1}"#).unwrap();
        unset(&mut m, "truncate-before").unwrap();
        assert_eq!(m.max_count, Some(5));
        assert_eq!(m.max_age_seconds, Some(60));
        assert_eq!(m.truncate_before, None);
        assert_eq!(m.custom, br#"{"a":1}"#);
        assert!(set(&mut m, "max-count=x").is_err());
        assert!(set(&mut m, "colour=red").is_err());
        assert!(unset(&mut m, "colour").is_err());
    }
}
