//! JSON API: streams — the listing by prefix, a stream's events (newest
//! first by default, paged), one event whole, a stream's metadata and
//! snapshots, and soft delete / tombstone. Each handler is one or a few
//! `Node` calls (`list_streams`, `read`, `get_stream_metadata`,
//! `get_snapshot`, `delete_stream`) — exactly what the gRPC `Streams` and
//! `Snapshots` services call.
//!
//! System streams that clients may read (`$scavenges`, `$groups`,
//! `$parked-<group>`, `$$<stream>`, ...) are read through the same routes,
//! by name: the UI's scavenge history and parked lists are such reads.
//!
//! Not here: the JSON shapes (`json`), errors (`errors`), routing (`v1`).

use super::errors::{ApiError, ApiResult};
use super::json::{self, PAGE_PAYLOAD_BYTES};
use super::query::{self, Query};
use super::v1::ApiState;
use crate::domain::catalog::MAX_LIST_PAGE_SIZE;
use crate::domain::read::{ReadPlan, ReadStart, ReadTarget};
use crate::domain::security::{Caller, Permission};
use crate::domain::{self, Node};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::Extension;
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use strata_storage::{Direction, ExpectedRevision, RecordedEvent};

/// Streams per listing page when the request says none.
pub const DEFAULT_STREAMS_PAGE: u64 = 50;
/// Events per page when the request says none.
pub const DEFAULT_EVENTS_PAGE: u64 = 20;
/// Most stream names one listing request examines for a caller who may
/// read only some streams.
pub const MAX_LISTING_SCAN: usize = 10_000;
/// Largest page of events.
pub const MAX_EVENTS_PAGE: u64 = 500;
/// Snapshots listed per stream when the request says none, and at most.
pub const DEFAULT_SNAPSHOTS: u64 = 5;
const MAX_SNAPSHOTS: u64 = 50;

/// `GET /streams?prefix=&after=&limit=`: streams whose names start with
/// `prefix`, in name order, after the name `after`; `next_after` is the
/// cursor of the next page (`null` on the last). Only the streams the
/// caller may read: for a caller who is not an admin the store's listing
/// is read on, up to [`MAX_LISTING_SCAN`] names per request, until the page
/// is full (a page may still come out short, with a `next_after`).
pub async fn list(
    State(st): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = Query::parse(q.as_deref())?;
    let limit = q.u64("limit")?.unwrap_or(DEFAULT_STREAMS_PAGE);
    let limit = u32::try_from(limit).unwrap_or(u32::MAX);
    let prefix = q.str("prefix").unwrap_or("").to_owned();
    let mut after = q.str("after").map(str::to_owned);
    if caller.access.admin {
        let page = st.node.list_streams(prefix, after, limit).await?;
        return Ok(json::ok(json!({
            "streams": page.streams.iter().map(json::stream_info).collect::<Vec<_>>(),
            "next_after": page.next_after,
        })));
    }
    let want = match limit {
        0 => DEFAULT_STREAMS_PAGE as usize,
        n => n.min(MAX_LIST_PAGE_SIZE) as usize,
    };
    let mut found = Vec::new();
    let mut scanned = 0;
    let next_after = loop {
        let page = st
            .node
            .list_streams(prefix.clone(), after.clone(), MAX_LIST_PAGE_SIZE)
            .await?;
        for s in page.streams {
            scanned += 1;
            if caller.access.may(Permission::Read, &s.name) {
                found.push(s);
                if found.len() == want {
                    break;
                }
            }
        }
        if found.len() == want {
            break found.last().map(|s| s.name.clone());
        }
        match page.next_after {
            None => break None,
            Some(n) if scanned >= MAX_LISTING_SCAN => break Some(n),
            Some(n) => after = Some(n),
        }
    };
    Ok(json::ok(json!({
        "streams": found.iter().map(json::stream_info).collect::<Vec<_>>(),
        "next_after": next_after,
    })))
}

/// Reads at most `max` events of `plan` (cancelling the rest of the read).
pub async fn read_events(
    node: &Node,
    plan: ReadPlan,
    max: usize,
) -> Result<Vec<RecordedEvent>, domain::Error> {
    let mut messages = node.read(plan).await?;
    let mut out = Vec::new();
    while out.len() < max {
        match messages.next().await {
            Some(page) => out.extend(page?),
            None => break,
        }
    }
    out.truncate(max);
    Ok(out)
}

/// `GET /streams/{stream}/events?direction=&from=&limit=`: a page of the
/// stream's events, newest first (`direction=backwards`, the default) or
/// oldest first (`forwards`), from revision `from` inclusive (default: the
/// last, or the first forwards); `next_from` starts the next page.
pub async fn events(
    State(st): State<Arc<ApiState>>,
    Path(stream): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = Query::parse(q.as_deref())?;
    let limit = q
        .u64("limit")?
        .unwrap_or(DEFAULT_EVENTS_PAGE)
        .clamp(1, MAX_EVENTS_PAGE);
    let direction = match q.str("direction") {
        None | Some("backwards") => Direction::Backwards,
        Some("forwards") => Direction::Forwards,
        Some(d) => {
            return Err(ApiError::invalid(format!(
                "direction must be forwards or backwards, not {d:?}"
            )))
        }
    };
    let start = match (q.u64("from")?, direction) {
        (Some(r), _) => ReadStart::Revision(r),
        (None, Direction::Backwards) => ReadStart::End,
        (None, Direction::Forwards) => ReadStart::Start,
    };
    let plan = ReadPlan {
        target: ReadTarget::Stream(stream.clone()),
        direction,
        start,
        // One more than a page, to know whether another page follows.
        max_count: Some(limit + 1),
    };
    let mut events = read_events(&st.node, plan, (limit + 1) as usize).await?;
    let next_from = if events.len() as u64 > limit {
        events.pop().map(|e| e.revision)
    } else {
        None
    };
    Ok(json::ok(json!({
        "stream": stream,
        "events": events.iter().map(|e| json::event(e, PAGE_PAYLOAD_BYTES)).collect::<Vec<_>>(),
        "next_from": next_from,
    })))
}

/// `GET /streams/{stream}/events/{revision}`: one event with its whole
/// payloads, or `{"event": null}` when the stream has no visible event at
/// that revision.
pub async fn event(
    State(st): State<Arc<ApiState>>,
    Path((stream, revision)): Path<(String, String)>,
) -> ApiResult {
    let revision: u64 = revision
        .parse()
        .map_err(|_| ApiError::invalid(format!("revision must be a number, not {revision:?}")))?;
    let plan = ReadPlan {
        target: ReadTarget::Stream(stream),
        direction: Direction::Forwards,
        start: ReadStart::Revision(revision),
        max_count: Some(1),
    };
    let found = read_events(&st.node, plan, 1)
        .await?
        .into_iter()
        .find(|e| e.revision == revision);
    Ok(json::ok(json!({
        "event": found.map(|e| json::event(&e, usize::MAX)),
    })))
}

/// `GET /streams/{stream}/metadata`: retention settings, custom metadata,
/// deleted / tombstoned.
pub async fn metadata(State(st): State<Arc<ApiState>>, Path(stream): Path<String>) -> ApiResult {
    let m = st.node.get_stream_metadata(stream.clone()).await?;
    let mut body = json::metadata(&m);
    body["stream"] = stream.into();
    Ok(json::ok(body))
}

/// `GET /streams/{stream}/snapshots?limit=`: the newest snapshots, newest
/// first (each found as "the newest at or before the previous one's
/// revision - 1", with `Node::get_snapshot`).
pub async fn snapshots(
    State(st): State<Arc<ApiState>>,
    Path(stream): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = Query::parse(q.as_deref())?;
    let limit = q
        .u64("limit")?
        .unwrap_or(DEFAULT_SNAPSHOTS)
        .clamp(1, MAX_SNAPSHOTS);
    let mut found = Vec::new();
    let mut at_or_before = None;
    while (found.len() as u64) < limit {
        match st.node.get_snapshot(stream.clone(), at_or_before).await {
            Ok(s) => {
                at_or_before = s.revision.checked_sub(1);
                found.push(json::snapshot(&s, PAGE_PAYLOAD_BYTES));
                if at_or_before.is_none() {
                    break;
                }
            }
            Err(domain::Error::SnapshotNotFound { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(json::ok(json!({ "stream": stream, "snapshots": found })))
}

/// `POST /streams/{stream}/delete` with `{"tombstone": bool,
/// "expected_revision": n}`: soft-deletes (appending recreates the
/// stream) or tombstones (for good) the stream, if its last revision is
/// still `expected_revision` (omitted or `null`: whatever it is). Audited
/// in `$audit` with the caller's name, as over gRPC.
pub async fn delete(
    State(st): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(stream): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = query::json_body(&body)?;
    let tombstone = query::body_bool(&body, "tombstone")?;
    let expected = query::body_u64(&body, "expected_revision")?
        .map_or(ExpectedRevision::Any, ExpectedRevision::Exact);
    let position = st
        .node
        .delete_stream(stream.clone(), expected, tombstone)
        .await;
    let action = if tombstone {
        "tombstoneStream"
    } else {
        "deleteStream"
    };
    // Audited as the gRPC DeleteStream is.
    let position = st.node.audited(&caller, action, &stream, position).await?;
    Ok(json::ok(json!({
        "stream": stream,
        "tombstoned": tombstone,
        "position": position,
    })))
}
