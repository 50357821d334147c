//! JSON API: the live tail of `$all` as Server-Sent Events
//! (`GET /api/v1/tail?types=a,b&prefixes=x-,y-`), what the UI's live tail
//! page reads (with `fetch`, so that it can send credentials;
//! `EventSource` works too where none are needed).
//!
//! It is a catch-up subscription like a gRPC `Subscribe` to `$all` (one
//! `Node::subscribe`, so it takes one of `--max-subscriptions` slots while
//! open), starting at the end of the log — or after the position in the
//! `Last-Event-ID` header, which `EventSource` sends when it reconnects,
//! or in `?after=` — with the event-type and stream-prefix filters of a
//! subscription filter. Frames (each `data` one line of JSON):
//!
//! - `event: events` — `data`: an array of events (payloads cut at
//!   [`TAIL_PAYLOAD_BYTES`]), `id`: the last one's position;
//! - `event: caught-up` / `event: checkpoint` — `data`: `{"position": p}`,
//!   `id`: `p` (a filtered tail moves its resume point past what it skips);
//! - `event: failure` — the JSON API's error body; the stream then ends
//!   (e.g. `shutting-down`). (Not `error`: `EventSource` fires its own
//!   `error` event for a lost connection.) A request refused at once
//!   (`too-many-subscriptions`, a bad parameter) is a plain JSON error;
//! - a comment line every [`KEEP_ALIVE`], so proxies keep the connection.
//!
//! Memory is bounded on both sides: the subscription's channel holds a few
//! messages and the body is produced only as fast as the socket takes it;
//! the page keeps its own last N rows.
//!
//! Not here: the subscription engine (`domain::subscribe`).

use super::errors::{ApiError, ApiResult};
use super::json;
use super::query::Query;
use super::v1::ApiState;
use crate::domain::security::{still_covers, Access, Caller, Permission};
use crate::domain::subscribe::{
    SubscribePlan, SubscribeStart, SubscribeTarget, SubscriptionMessage, SubscriptionMessages,
};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use futures::StreamExt;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use strata_storage::Filter;

/// Most payload bytes per event in the tail (the page shows a preview and
/// links to the event).
pub const TAIL_PAYLOAD_BYTES: usize = 1024;
/// A comment frame after this long without another frame.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long `EventSource` waits before reconnecting (`retry:`), in ms.
const RETRY_MS: u64 = 2_000;
/// A filtered tail reports its resume point at least every this many
/// examined events.
const CHECKPOINT_INTERVAL_EVENTS: u64 = 10_000;

/// `GET /tail`: see the module doc.
pub async fn tail(
    State(st): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = Query::parse(q.as_deref())?;
    let resume = match headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    {
        Some(id) => Some(id.parse::<u64>().map_err(|_| {
            ApiError::invalid(format!("Last-Event-ID must be a position, not {id:?}"))
        })?),
        None => q.u64("after")?,
    };
    let asked = Filter {
        event_types: q.list("types"),
        stream_prefixes: q.list("prefixes"),
        include_system: false,
    };
    let filter = caller.access.restrict(asked.clone(), Permission::Subscribe);
    let used = filter.clone();
    let plan = SubscribePlan {
        target: SubscribeTarget::All {
            filter,
            checkpoint_interval_events: CHECKPOINT_INTERVAL_EVENTS,
        },
        start: resume.map_or(SubscribeStart::End, SubscribeStart::After),
    };
    let messages = st.node.subscribe(plan).await?;
    let node = st.node.clone();
    let revoked = async move {
        let still = move |a: &Access| {
            still_covers(&a.restrict(asked.clone(), Permission::Subscribe), &used)
        };
        node.revoked(&caller, still).await;
    };
    let first =
        futures::stream::once(async { Ok::<_, Infallible>(format!("retry: {RETRY_MS}\n\n")) });
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // Reverse proxies (nginx) would otherwise buffer the stream.
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(first.chain(frames(messages, revoked))),
    )
        .into_response())
}

/// The subscription's messages as SSE frames, with keep-alive comments;
/// ends after an error frame, when the subscription ends, or (after an
/// `access-denied` frame) when `revoked` resolves.
fn frames(
    messages: SubscriptionMessages,
    revoked: impl std::future::Future<Output = ()> + Send + 'static,
) -> impl futures::Stream<Item = Result<String, Infallible>> + Send + 'static {
    let revoked = Box::pin(revoked);
    futures::stream::unfold(Some((messages, revoked)), |state| async move {
        let (mut messages, mut revoked) = state?;
        tokio::select! {
            biased;
            () = &mut revoked => Some((
                Ok(error_frame(ApiError::from(crate::domain::Error::AccessDenied(
                    "permissions changed; open the tail again".into(),
                )))),
                None,
            )),
            m = messages.next() => match m {
                Some(Ok(m)) => Some((Ok(frame(&m)), Some((messages, revoked)))),
                Some(Err(e)) => Some((Ok(error_frame(ApiError::from(e))), None)),
                None => None,
            },
            () = tokio::time::sleep(KEEP_ALIVE) => Some((Ok(": keep-alive\n\n".to_owned()), Some((messages, revoked)))),
        }
    })
}

/// One SSE frame for a subscription message.
pub fn frame(m: &SubscriptionMessage) -> String {
    match m {
        SubscriptionMessage::Events(events) => {
            let id = events.last().map_or(0, |e| e.position);
            let data: Vec<_> = events
                .iter()
                .map(|e| json::event(e, TAIL_PAYLOAD_BYTES))
                .collect();
            format!(
                "event: events\nid: {id}\ndata: {}\n\n",
                serde_json::Value::from(data)
            )
        }
        SubscriptionMessage::CaughtUp { position } => format!(
            "event: caught-up\nid: {position}\ndata: {}\n\n",
            json!({ "position": position })
        ),
        SubscriptionMessage::Checkpoint { position } => format!(
            "event: checkpoint\nid: {position}\ndata: {}\n\n",
            json!({ "position": position })
        ),
    }
}

fn error_frame(e: ApiError) -> String {
    format!("event: failure\ndata: {}\n\n", e.body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_storage::RecordedEvent;

    #[test]
    fn frames_are_one_line_of_json_each() {
        let e = RecordedEvent {
            stream: "a\nb".into(),
            revision: 0,
            position: 7,
            id: uuid::Uuid::nil(),
            event_type: "T".into(),
            content_type: "application/json".into(),
            created_micros: 1,
            data: b"{\n\"x\": 1\n}".to_vec(),
            metadata: Vec::new(),
        };
        let f = frame(&SubscriptionMessage::Events(vec![e]));
        assert!(f.starts_with("event: events\nid: 7\ndata: ["), "{f}");
        assert!(f.ends_with("]\n\n"));
        assert_eq!(f.matches('\n').count(), 4, "{f}");
        let f = frame(&SubscriptionMessage::CaughtUp { position: 9 });
        assert_eq!(f, "event: caught-up\nid: 9\ndata: {\"position\":9}\n\n");
    }
}
