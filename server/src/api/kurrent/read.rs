//! `Streams.Read`: bounded reads and subscriptions of a stream or `$all`,
//! over the domain's read and subscribe plans (so deleted and expired
//! events are invisible exactly as on strata.v1), answered one event per
//! `ReadResp` as KurrentDB answers.
//!
//! Reads: a stream that does not exist, or is soft-deleted, answers one
//! `stream_not_found` message (KurrentDB's shape); a tombstoned one fails
//! with `stream-deleted`. Subscriptions: a `confirmation` first, then
//! events, `caught_up` once the domain reports it, and for filtered `$all`
//! subscriptions a `checkpoint` every `window × multiplier` events
//! examined (from the domain when it filters, counted here when this
//! adapter's predicate filters). A subscription ends with
//! `PERMISSION_DENIED` when the caller's permissions stop covering it.
//!
//! Everything is lazy stream adapters over the domain's bounded channels:
//! the client's pace is the reader's pace, as on strata.v1.
//!
//! Not here: the option parsing (`convert::read_options`), filters
//! (`filter`), error shapes (`errors`).

use super::convert::{self, ReadOptions, ReadRequest};
use super::errors::{self, Op};
use super::filter::{Predicate, SplitFilter};
use crate::api::revocation::until_revoked;
use crate::domain::read::ReadTarget;
use crate::domain::security::{still_covers, Access, Caller, Need, Permission};
use crate::domain::subscribe::{SubscribeTarget, SubscriptionMessage};
use crate::domain::{Error, Node};
use futures::stream::{self, BoxStream, StreamExt};
use std::sync::Arc;
use strata_proto::kurrent::streams as pb;
use strata_proto::kurrent::streams::read_resp::Content;
use strata_storage::{Error as StorageError, RecordedEvent};
use tonic::Status;

/// The response stream of `Read`.
pub type ReadStream = BoxStream<'static, Result<pb::ReadResp, Status>>;

/// Serves one `ReadReq` for `caller`.
pub async fn read(node: Arc<Node>, caller: Caller, req: pb::ReadReq) -> Result<ReadStream, Status> {
    let ReadOptions {
        request,
        structured_ids,
    } = convert::read_options(req)?;
    match request {
        ReadRequest::Read {
            plan,
            filter,
            count,
        } => bounded(node, caller, plan, filter, count, structured_ids).await,
        ReadRequest::Subscribe { plan, filter } => {
            subscription(node, caller, plan, filter, structured_ids).await
        }
    }
}

async fn bounded(
    node: Arc<Node>,
    caller: Caller,
    mut plan: crate::domain::read::ReadPlan,
    filter: SplitFilter,
    count: u64,
    structured_ids: bool,
) -> Result<ReadStream, Status> {
    let stream = match &mut plan.target {
        ReadTarget::Stream(name) => {
            caller
                .check(Need::Stream(Permission::Read, name))
                .map_err(|e| errors::status(e, Op::Read))?;
            Some(name.clone())
        }
        ReadTarget::All(f) => {
            *f = caller.access.restrict(std::mem::take(f), Permission::Read);
            None
        }
    };
    let pages = match node.read(plan).await {
        Ok(p) => p,
        Err(Error::Storage(StorageError::StreamNotFound(_) | StorageError::StreamDeleted(_)))
            if stream.is_some() =>
        {
            let name = stream.unwrap_or_default();
            return Ok(stream::once(async move { Ok(convert::stream_not_found(&name)) }).boxed());
        }
        Err(e) => return Err(errors::status(e, Op::Read)),
    };
    // The predicate's matches are counted here; the domain's limit was
    // left unset for such reads (`convert::read_options`).
    let predicate = filter.predicate;
    let events = pages
        .scan(count, move |left, page| {
            if *left == 0 {
                return std::future::ready(None);
            }
            let kept = page
                .map(|page| {
                    let kept: Vec<RecordedEvent> = page
                        .into_iter()
                        .filter(|e| predicate.as_ref().is_none_or(|p| p.matches(e)))
                        .take(usize::try_from(*left).unwrap_or(usize::MAX))
                        .collect();
                    *left = left.saturating_sub(kept.len() as u64);
                    kept
                })
                .map_err(|e| errors::status(e, Op::Read));
            std::future::ready(Some(kept))
        })
        .flat_map(move |r| match r {
            Ok(events) => stream::iter(
                events
                    .into_iter()
                    .map(move |e| Ok(convert::read_event(e, structured_ids)))
                    .collect::<Vec<_>>(),
            )
            .boxed(),
            Err(s) => stream::once(async move { Err(s) }).boxed(),
        });
    Ok(events.boxed())
}

/// What a subscription's adapter half keeps between domain messages.
#[derive(Debug)]
struct Follow {
    predicate: Option<Predicate>,
    /// Checkpoint every this many events examined (filtered `$all` only).
    checkpoint_every: Option<u64>,
    /// Events examined since the last checkpoint.
    since_checkpoint: u64,
    /// The last event examined (position) and delivered (revision).
    last_position: Option<u64>,
    last_revision: Option<u64>,
    is_all: bool,
    structured_ids: bool,
}

impl Follow {
    fn checkpoint(&mut self, position: u64) -> pb::ReadResp {
        self.since_checkpoint = 0;
        convert::content(Content::Checkpoint(pb::read_resp::Checkpoint {
            commit_position: position,
            prepare_position: position,
            timestamp: Some(convert::now()),
        }))
    }

    /// One domain message as the `ReadResp`s it becomes.
    fn answer(&mut self, m: SubscriptionMessage) -> Vec<pb::ReadResp> {
        match m {
            SubscriptionMessage::Events(events) => {
                let mut out = Vec::with_capacity(events.len());
                for e in events {
                    self.since_checkpoint += 1;
                    self.last_position = Some(e.position);
                    if self.predicate.as_ref().is_none_or(|p| p.matches(&e)) {
                        self.last_revision = Some(e.revision);
                        out.push(convert::read_event(e, self.structured_ids));
                    }
                }
                // Counted here only when this adapter filters; the domain
                // counts (and sends Checkpoint) when it filters.
                if let (Some(every), Some(_), Some(pos)) =
                    (self.checkpoint_every, &self.predicate, self.last_position)
                {
                    if self.since_checkpoint >= every {
                        out.push(self.checkpoint(pos));
                    }
                }
                out
            }
            SubscriptionMessage::CaughtUp { position } => {
                let (stream_revision, position) = if self.is_all {
                    let p = (position > 0).then_some(pb::read_resp::Position {
                        commit_position: position,
                        prepare_position: position,
                    });
                    (None, p)
                } else {
                    (self.last_revision.and_then(|r| i64::try_from(r).ok()), None)
                };
                vec![convert::content(Content::CaughtUp(
                    pb::read_resp::CaughtUp {
                        timestamp: Some(convert::now()),
                        stream_revision,
                        position,
                    },
                ))]
            }
            SubscriptionMessage::Checkpoint { position } => {
                if self.checkpoint_every.is_some() {
                    vec![self.checkpoint(position)]
                } else {
                    Vec::new()
                }
            }
        }
    }
}

async fn subscription(
    node: Arc<Node>,
    caller: Caller,
    mut plan: crate::domain::subscribe::SubscribePlan,
    filter: SplitFilter,
    structured_ids: bool,
) -> Result<ReadStream, Status> {
    // What must keep holding for the subscription to stay open (as on
    // strata.v1: the same checks, the same revocation).
    let still: Box<dyn Fn(&Access) -> bool + Send + Sync> = match &mut plan.target {
        SubscribeTarget::Stream(name) => {
            caller
                .check(Need::Stream(Permission::Subscribe, name))
                .map_err(|e| errors::status(e, Op::Read))?;
            let name = name.clone();
            Box::new(move |a: &Access| a.may(Permission::Subscribe, &name))
        }
        SubscribeTarget::All { filter, .. } => {
            let asked = filter.clone();
            *filter = caller
                .access
                .restrict(std::mem::take(filter), Permission::Subscribe);
            let used = filter.clone();
            Box::new(move |a: &Access| {
                still_covers(&a.restrict(asked.clone(), Permission::Subscribe), &used)
            })
        }
    };
    let is_all = matches!(plan.target, SubscribeTarget::All { .. });
    let messages = node
        .subscribe(plan)
        .await
        .map_err(|e| errors::status(e, Op::Read))?;
    let mut follow = Follow {
        predicate: filter.predicate,
        checkpoint_every: filter.checkpoint_interval_events,
        since_checkpoint: 0,
        last_position: None,
        last_revision: None,
        is_all,
        structured_ids,
    };
    let answers = messages.flat_map(move |m| match m {
        Ok(m) => stream::iter(follow.answer(m).into_iter().map(Ok).collect::<Vec<_>>()).boxed(),
        Err(e) => stream::once(async move { Err(errors::status(e, Op::Read)) }).boxed(),
    });
    let confirmation = convert::content(Content::Confirmation(
        pb::read_resp::SubscriptionConfirmation {
            subscription_id: uuid::Uuid::new_v4().to_string(),
        },
    ));
    let revoked = async move { node.revoked(&caller, still).await };
    Ok(stream::once(async move { Ok(confirmation) })
        .chain(until_revoked(answers.boxed(), revoked, || {
            errors::status(
                Error::AccessDenied("permissions changed; subscribe again".into()),
                Op::Read,
            )
        }))
        .boxed())
}
