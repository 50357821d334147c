//! The indexer: moves committed events from the in-memory tail into sled,
//! in batches, on its own thread, off the commit path; and, at open, brings
//! sled up to the log synchronously.
//!
//! Invariant: sled is written *before* the tail is pruned, so a reader that
//! misses in the tail finds the event in sled. A failed sled write is
//! retried; reads are served from the tail meanwhile. The secondary
//! indexes' lock is held from the sled write to the prune, so a listing of
//! event types or categories (which holds it too) sees every event once.
//!
//! Not here: what sled holds and how (`index`), the tail (`tail`).

use crate::error::Result;
use crate::index::IndexEntry;
use crate::limits::{
    INDEXER_IDLE_WAIT, INDEX_BATCH_EVENTS, INDEX_LINGER, INDEX_MIN_BATCH_EVENTS, INDEX_RETRY_DELAY,
};
use crate::shared::Shared;
use crate::types::{Position, Revision};
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;

/// One event to index, owned (read from the log at open): stream, event
/// type, revision, position.
type Owned = (String, String, Revision, Position);

/// Indexes the log from `indexed + 1` to the head, synchronously (at open),
/// telling `progress` after every batch.
pub(crate) fn catch_up(
    sh: &Shared,
    indexed: Position,
    progress: Option<&crate::engine::OpenProgress>,
) -> Result<()> {
    let log = sh.reader();
    let head = log.committed.head;
    if indexed >= head {
        return Ok(());
    }
    tracing::info!(
        from = indexed + 1,
        to = head,
        "catching the index up with the log"
    );
    let Some(loc) = log.locate_at_or_after(indexed + 1)? else {
        return Ok(());
    };
    let mut batch: Vec<Owned> = Vec::with_capacity(INDEX_BATCH_EVENTS);
    let mut err = None;
    let flush = |batch: &mut Vec<Owned>| -> Result<()> {
        let entries: Vec<IndexEntry<'_>> = batch
            .iter()
            .map(|(s, t, r, p)| IndexEntry {
                stream: s,
                event_type: t,
                revision: *r,
                position: *p,
            })
            .collect();
        if let Some(last) = entries.last() {
            let held = sh.index.secondary().lock();
            sh.index.apply(&held, &entries, last.position)?;
            if let Some(p) = progress {
                (p.0)(last.position, head);
            }
        }
        batch.clear();
        Ok(())
    };
    log.scan_forward(loc, |v, _| {
        batch.push((
            v.stream.to_owned(),
            v.event_type.to_owned(),
            v.revision,
            v.position,
        ));
        if batch.len() >= INDEX_BATCH_EVENTS {
            if let Err(e) = flush(&mut batch) {
                err = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    flush(&mut batch)?;
    sh.index.flush()?;
    Ok(())
}

/// The indexer loop: moves committed events from the tail into sled until
/// shutdown is signalled and nothing is left.
pub(crate) fn run(sh: &Shared) {
    loop {
        let from = sh.indexed.load(Ordering::Acquire) + 1;
        let mut batch = sh.tail.read().unwrap().slice(from, INDEX_BATCH_EVENTS);
        if !batch.is_empty()
            && batch.len() < INDEX_MIN_BATCH_EVENTS
            && !sh.index_signal.lock().unwrap().shutdown
        {
            // Let a batch build up: sled's per-batch cost dominates small batches.
            std::thread::sleep(INDEX_LINGER);
            batch = sh.tail.read().unwrap().slice(from, INDEX_BATCH_EVENTS);
        }
        if batch.is_empty() {
            let g = sh.index_signal.lock().unwrap();
            if g.shutdown {
                return;
            }
            let _ = sh.index_cv.wait_timeout(g, INDEXER_IDLE_WAIT).unwrap();
            continue;
        }
        let entries: Vec<IndexEntry<'_>> = batch
            .iter()
            .map(|(p, e)| IndexEntry {
                stream: &e.stream,
                event_type: &e.event_type,
                revision: e.revision,
                position: *p,
            })
            .collect();
        let through = batch.last().map(|(p, _)| *p).expect("non-empty");
        let held = sh.index.secondary().lock();
        if let Err(e) = sh.index.apply(&held, &entries, through) {
            drop(held);
            // The log is intact; reads are served from the tail meanwhile.
            tracing::error!(error = %e, "index write failed; retrying");
            std::thread::sleep(INDEX_RETRY_DELAY);
            continue;
        }
        sh.indexed.store(through, Ordering::Release);
        sh.tail.write().unwrap().prune_through(through);
        drop(held);
        // The writer may be waiting for room in the tail.
        sh.wake_indexer();
    }
}
