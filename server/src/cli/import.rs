//! `strata import < events.jsonl`: appends the events of JSON lines (as
//! `strata export` writes them) to a server, idempotently and resumably.
//!
//! **Revisions, not ids, make it idempotent.** Each event is appended at
//! its revision with an exact expected revision (`NoStream` for revision
//! 0, else the revision before): it can never be written twice, whatever
//! the window of ids the server remembers. Before a stream's first
//! events, the importer asks the target for the stream's last revision;
//! the events the target already has are re-sent in transactions of
//! their own, which the server recognises as retries by their ids at
//! those revisions (nothing written, `deduplicated`) — and refuses as a
//! conflict (`exit::CONFLICT`) if the target holds other events there.
//! So an import interrupted anywhere and run again writes exactly the
//! missing events, and an import run twice writes nothing the second
//! time.
//!
//! A stream whose exported events start after revision 0 (truncated,
//! expired, or recreated after a delete in the source) cannot keep its
//! revisions in a target that lacks the earlier ones: it is renumbered
//! from 0 when the target has no such stream — or when the target's
//! revision 0 is this file's first event of the stream, i.e. a re-run —
//! and refused as a gap otherwise.
//!
//! **Throughput.** Lines are read and parsed on their own thread, in
//! chunks of [`CHUNK_EVENTS`]; a chunk's events are grouped by stream
//! (each stream's order kept) into multi-stream transactions of up to 100
//! streams and [`TXN_BYTES`], sent [`CONCURRENCY`] at a time — in "waves"
//! where a stream has several pieces, so that one stream's pieces are
//! never in flight together. Chunks follow one another. Positions,
//! timestamps and multi-stream transactions of the source are not kept.
//!
//! Not here: the line format (`jsonl`), exporting (`export`).

use super::exit::{Failure, CONFLICT};
use super::jsonl::EventLine;
use super::{output, progress, Conn, Outcome};
use anyhow::{anyhow, Context};
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;
use strata_client::{
    Client, Error as ClientError, EventData, ExpectedRevision, ReadOptions, StreamAppend,
    StreamFrom,
};
use uuid::Uuid;

/// Events read and planned at a time.
pub const CHUNK_EVENTS: usize = 20_000;
/// Bytes of data and metadata read and planned at a time.
pub const CHUNK_BYTES: usize = 32 * 1024 * 1024;
/// Largest transaction sent, in bytes of data and metadata (the server
/// takes up to 16 MiB encoded).
pub const TXN_BYTES: usize = 4 * 1024 * 1024;
/// Most events in one transaction (the server's `MAX_EVENTS_PER_APPEND`).
pub const TXN_EVENTS: usize = 10_000;
/// Most streams in one transaction (the server's `MAX_STREAMS_PER_APPEND`).
pub const TXN_STREAMS: usize = 100;
/// Transactions in flight at once.
pub const CONCURRENCY: usize = 4;
/// Streams whose state is asked for at once.
const LOOKUPS: usize = 32;

/// `strata import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Read this file instead of stdin.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Print the summary as JSON (on stdout).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// One parsed line.
struct Line {
    number: u64,
    stream: String,
    revision: u64,
    event: EventData,
    bytes: usize,
}

/// What the importer knows of a stream.
#[derive(Debug, Clone, Copy)]
struct Known {
    /// The target's next revision.
    next: u64,
    /// Source revision minus target revision (0 unless renumbered).
    offset: u64,
    /// The source revision the file must continue with.
    file_next: u64,
}

/// A run of one stream's events for one transaction.
struct Piece {
    stream: String,
    /// Target revision of the first event.
    first: u64,
    events: Vec<EventData>,
    bytes: usize,
    /// The target has these already (a re-run): a dedupe check.
    present: bool,
}

#[derive(Debug, Default)]
struct Tally {
    read: u64,
    written: u64,
    present: u64,
    streams: u64,
    renumbered: u64,
}

/// Reads lines on a thread and sends them in chunks.
fn reader(
    input: Box<dyn BufRead + Send>,
    tx: tokio::sync::mpsc::Sender<Result<Vec<Line>, anyhow::Error>>,
    bar: indicatif::ProgressBar,
) {
    let mut chunk = Vec::new();
    let mut bytes = 0;
    let mut number = 0u64;
    for text in input.lines() {
        number += 1;
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                let _ = tx.blocking_send(Err(anyhow!("reading line {number}: {e}")));
                return;
            }
        };
        bar.inc(text.len() as u64 + 1);
        if text.trim().is_empty() {
            continue;
        }
        let parsed = EventLine::parse(&text).and_then(EventLine::into_event);
        let (stream, revision, event) = match parsed {
            Ok(x) => x,
            Err(e) => {
                let _ = tx.blocking_send(Err(anyhow!("line {number}: {e}")));
                return;
            }
        };
        let size = event.data.len() + event.metadata.len();
        bytes += size;
        chunk.push(Line {
            number,
            stream,
            revision,
            event,
            bytes: size,
        });
        if chunk.len() >= CHUNK_EVENTS || bytes >= CHUNK_BYTES {
            if tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
                return;
            }
            bytes = 0;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
}

/// The target's last revision of `stream`, `None` if it has none.
async fn last_revision(client: &Client, stream: &str) -> Result<Option<u64>, Failure> {
    let mut r = client.read_stream(stream.to_owned(), ReadOptions::backwards().max_count(1));
    match r.try_next().await {
        Ok(e) => Ok(e.map(|e| e.revision)),
        Err(ClientError::NotFound { .. }) => Ok(None),
        Err(e @ (ClientError::StreamDeleted { .. } | ClientError::StreamTombstoned { .. })) => {
            Err(Failure::new(CONFLICT, e)
                .context(format!("stream {stream} is deleted in the target")))
        }
        Err(e) => Err(Failure::client(e, false)),
    }
}

/// The id of the target's revision 0 of `stream`, if it has one.
async fn first_id(client: &Client, stream: &str) -> Result<Option<Uuid>, Failure> {
    let o = ReadOptions::forwards()
        .from(StreamFrom::Revision(0))
        .max_count(1);
    let mut r = client.read_stream(stream.to_owned(), o);
    match r.try_next().await {
        Ok(e) => Ok(e.filter(|e| e.revision == 0).map(|e| e.id)),
        Err(ClientError::NotFound { .. }) => Ok(None),
        Err(e) => Err(Failure::client(e, false)),
    }
}

/// Decides where a stream's events go, from its first line in the file.
async fn resolve(client: &Client, first: (&str, u64, Uuid)) -> Result<(Known, bool), Failure> {
    let (stream, r0, id) = first;
    let head = last_revision(client, stream).await?;
    let next = head.map_or(0, |h| h + 1);
    let known = |offset| Known {
        next,
        offset,
        file_next: r0,
    };
    if r0 == 0 {
        return Ok((known(0), false));
    }
    // The file starts past revision 0: renumber from 0 when the target has
    // no such stream, or when its revision 0 is this file's first event of
    // it (an earlier run renumbered it); keep the revisions when the
    // target has those before the file's first.
    if head.is_none() || first_id(client, stream).await? == Some(id) {
        return Ok((known(r0), true));
    }
    if r0 <= next {
        return Ok((known(0), false));
    }
    Err(Failure::new(
        CONFLICT,
        anyhow!(
            "stream {stream}: the target ends at revision {}, the file continues at {r0}; \
             the events in between are missing",
            next.saturating_sub(1)
        ),
    ))
}

/// Splits one stream's events of a chunk into pieces: those the target
/// has, then the new ones, each cut to the transaction limits.
fn pieces(stream: &str, k: &mut Known, lines: Vec<Line>) -> Result<Vec<Piece>, Failure> {
    let mut out: Vec<Piece> = Vec::new();
    for l in lines {
        if l.revision != k.file_next {
            return Err(anyhow!(
                "line {}: stream {stream} jumps from revision {} to {} (the file is not an export)",
                l.number,
                k.file_next.saturating_sub(1),
                l.revision
            )
            .into());
        }
        k.file_next += 1;
        let target = l.revision - k.offset;
        let present = target < k.next;
        let fits = out.last().is_some_and(|p| {
            p.present == present && p.events.len() < TXN_EVENTS && p.bytes + l.bytes <= TXN_BYTES
        });
        if !fits {
            out.push(Piece {
                stream: stream.to_owned(),
                first: target,
                events: Vec::new(),
                bytes: 0,
                present,
            });
        }
        let p = out.last_mut().expect("pushed");
        p.events.push(l.event);
        p.bytes += l.bytes;
    }
    Ok(out)
}

/// Packs one wave's pieces into transactions (present and new apart).
fn transactions(wave: Vec<Piece>) -> Vec<Vec<Piece>> {
    let mut out: Vec<Vec<Piece>> = Vec::new();
    let (mut present, mut new): (Vec<Piece>, Vec<Piece>) =
        wave.into_iter().partition(|p| p.present);
    for group in [&mut present, &mut new] {
        let mut txn: Vec<Piece> = Vec::new();
        let (mut events, mut bytes) = (0, 0);
        for p in group.drain(..) {
            if !txn.is_empty()
                && (txn.len() >= TXN_STREAMS
                    || events + p.events.len() > TXN_EVENTS
                    || bytes + p.bytes > TXN_BYTES)
            {
                out.push(std::mem::take(&mut txn));
                (events, bytes) = (0, 0);
            }
            events += p.events.len();
            bytes += p.bytes;
            txn.push(p);
        }
        if !txn.is_empty() {
            out.push(txn);
        }
    }
    out
}

/// Sends one transaction; returns (written, already present) events.
async fn send(client: &Client, txn: Vec<Piece>) -> Result<(u64, u64), Failure> {
    let present = txn[0].present;
    let count: u64 = txn.iter().map(|p| p.events.len() as u64).sum();
    let what: Vec<String> = txn
        .iter()
        .map(|p| format!("{}@{}", p.stream, p.first))
        .collect();
    let appends = txn
        .into_iter()
        .map(|p| {
            let expected = match p.first {
                0 => ExpectedRevision::NoStream,
                r => ExpectedRevision::Exact(r - 1),
            };
            StreamAppend::new(p.stream, expected, p.events)
        })
        .collect();
    match client.append_multi(appends).await {
        Ok(_) if present => Ok((0, count)),
        Ok(_) => Ok((count, 0)),
        Err(
            e @ (ClientError::WrongExpectedRevision { .. } | ClientError::PartialDuplicate { .. }),
        ) => Err(Failure::new(CONFLICT, e).context(format!(
            "the target holds other events than the file at {}",
            what.join(", ")
        ))),
        Err(e) => Err(Failure::client(e, true)),
    }
}

/// `strata import`.
pub async fn run(a: ImportArgs) -> Outcome {
    let began = Instant::now();
    let client = a
        .conn
        .client_with(strata_client::RetryPolicy::default())
        .await?;
    let (input, size): (Box<dyn BufRead + Send>, Option<u64>) = match &a.file {
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            let size = f.metadata().ok().map(|m| m.len());
            (
                Box::new(std::io::BufReader::with_capacity(1 << 20, f)),
                size,
            )
        }
        None => {
            let size = std::fs::metadata("/dev/stdin")
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            let stdin = std::io::stdin();
            (
                Box::new(std::io::BufReader::with_capacity(1 << 20, stdin)),
                size,
            )
        }
    };
    let bar = match size {
        Some(s) => progress::bytes("import", s),
        None => progress::spinner("import", "bytes"),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let b = bar.clone();
    let reading = std::thread::spawn(move || reader(input, tx, b));
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut tally = Tally::default();
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        tally.read += chunk.len() as u64;
        // Group by stream, each stream's lines in file order.
        let mut order: Vec<String> = Vec::new();
        let mut by_stream: HashMap<String, Vec<Line>> = HashMap::new();
        for l in chunk {
            if !by_stream.contains_key(&l.stream) {
                order.push(l.stream.clone());
            }
            by_stream.entry(l.stream.clone()).or_default().push(l);
        }
        // Streams seen for the first time: where do their events go?
        let firsts: Vec<(String, u64, Uuid)> = order
            .iter()
            .filter(|s| !known.contains_key(*s))
            .map(|s| {
                let l = &by_stream[s][0];
                (s.clone(), l.revision, l.event.id)
            })
            .collect();
        let resolved: Vec<(String, (Known, bool))> = futures::stream::iter(firsts)
            .map(|(s, r0, id)| {
                let client = client.clone();
                async move {
                    let k = resolve(&client, (&s, r0, id)).await?;
                    Ok::<_, Failure>((s, k))
                }
            })
            .buffer_unordered(LOOKUPS)
            .try_collect()
            .await?;
        for (s, (k, renumbered)) in resolved {
            tally.streams += 1;
            tally.renumbered += u64::from(renumbered);
            known.insert(s, k);
        }
        // Pieces per stream; wave i holds each stream's i-th piece.
        let mut waves: Vec<Vec<Piece>> = Vec::new();
        for s in &order {
            let lines = by_stream.remove(s).unwrap_or_default();
            let k = known.get_mut(s).expect("resolved");
            for (i, p) in pieces(s, k, lines)?.into_iter().enumerate() {
                if waves.len() <= i {
                    waves.push(Vec::new());
                }
                waves[i].push(p);
            }
        }
        for wave in waves {
            let news: Vec<(String, u64)> = wave
                .iter()
                .filter(|p| !p.present)
                .map(|p| (p.stream.clone(), p.first + p.events.len() as u64))
                .collect();
            let counts: Vec<(u64, u64)> = futures::stream::iter(transactions(wave))
                .map(|txn| {
                    let client = client.clone();
                    async move { send(&client, txn).await }
                })
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await?;
            for (w, p) in counts {
                tally.written += w;
                tally.present += p;
            }
            for (s, next) in news {
                if let Some(k) = known.get_mut(&s) {
                    k.next = next;
                }
            }
        }
    }
    let _ = reading.join();
    bar.finish_and_clear();
    let secs = began.elapsed().as_secs_f64();
    if a.json {
        output::json_line(&json!({
            "events": tally.read, "written": tally.written, "already_present": tally.present,
            "streams": tally.streams, "renumbered_streams": tally.renumbered, "seconds": secs,
        }))?;
    } else {
        let renumbered = match tally.renumbered {
            0 => String::new(),
            n => format!("; {n} streams renumbered from revision 0 (their history started later)"),
        };
        eprintln!(
            "imported {} events into {} streams: {} written, {} already there, in {secs:.1} s \
             ({:.0} events/s){renumbered}",
            tally.read,
            tally.streams,
            tally.written,
            tally.present,
            tally.read as f64 / secs.max(1e-6)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stream: &str, revision: u64, size: usize) -> Line {
        Line {
            number: revision + 1,
            stream: stream.into(),
            revision,
            event: EventData::binary("T", vec![0; size]),
            bytes: size,
        }
    }

    #[test]
    fn a_stream_splits_into_present_then_new_pieces() {
        let mut k = Known {
            next: 3,
            offset: 0,
            file_next: 1,
        };
        let lines = (1..6).map(|r| line("s", r, 10)).collect();
        let p = pieces("s", &mut k, lines).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p[0].present && !p[1].present);
        assert_eq!((p[0].first, p[0].events.len()), (1, 2));
        assert_eq!((p[1].first, p[1].events.len()), (3, 3));
        assert_eq!(k.file_next, 6);
        // A gap in the file is refused.
        assert!(pieces("s", &mut k, vec![line("s", 9, 1)]).is_err());
    }

    #[test]
    fn renumbered_streams_and_size_limits() {
        let mut k = Known {
            next: 0,
            offset: 100,
            file_next: 100,
        };
        let lines = (100..103).map(|r| line("s", r, TXN_BYTES / 2)).collect();
        let p = pieces("s", &mut k, lines).unwrap();
        assert_eq!(p.iter().map(|p| p.first).collect::<Vec<_>>(), [0, 2]);
        assert!(p.iter().all(|p| !p.present));
    }

    #[test]
    fn transactions_keep_present_and_new_apart_and_within_limits() {
        let piece = |s: usize, present| Piece {
            stream: format!("s{s}"),
            first: 0,
            events: vec![EventData::binary("T", vec![])],
            bytes: 1,
            present,
        };
        let wave: Vec<Piece> = (0..250).map(|i| piece(i, i % 5 == 0)).collect();
        let t = transactions(wave);
        assert!(t.iter().all(|t| t.len() <= TXN_STREAMS));
        assert!(t
            .iter()
            .all(|t| t.iter().all(|p| p.present == t[0].present)));
        assert_eq!(t.iter().map(Vec::len).sum::<usize>(), 250);
        assert_eq!(t.len(), 1 + 2);
    }
}
