//! `PersistentSubscriptions.Read`: one consumer's bidirectional session.
//!
//! The first client message is `options` (the subscription, the
//! consumer's `buffer_size` = its in-flight limit, the UUID form it wants);
//! the consumer joins the Strata group, gets `subscription_confirmation`
//! and then one `read_event` per delivery with its `retry_count`. A task
//! forwards the client's `ack`s and `nack`s (by event id: Strata's groups
//! track in-flight events by the event's own id, which is what KurrentDB
//! clients send back for events that are not resolved links, and Strata
//! has no links) to the group. The consumer leaves when either side ends
//! or it nacks with `Stop`; its grant being revoked ends it with
//! `PERMISSION_DENIED`.
//!
//! Not here: the group's rules (`domain::groups`), conversions
//! (`convert`), names (`names`).

use super::names::{self, Source};
use super::{convert, errors};
use crate::api::auth;
use crate::api::kurrent::errors::{self as kerrors, Op};
use crate::api::revocation::until_revoked;
use crate::domain::groups::Command;
use crate::domain::security::{Access, Need, Permission};
use crate::domain::{Error, Node};
use futures::stream::{self, BoxStream, StreamExt};
use std::sync::Arc;
use strata_proto::kurrent::persistent_subscriptions as pb;
use strata_proto::kurrent::persistent_subscriptions::read_req::Content as In;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// The request header KurrentDB clients name their connection with.
const CONNECTION_NAME_HEADER: &str = "connection-name";
/// Longest connection name kept as the consumer's name, in bytes.
pub const MAX_CONNECTION_NAME_BYTES: usize = 256;

/// The answers of a `Read`.
pub type ReadStream = BoxStream<'static, Result<pb::ReadResp, Status>>;

/// The consumer's name: its connection name, cut to the limit.
fn connection_name<T>(r: &Request<T>) -> String {
    let name = r
        .metadata()
        .get(CONNECTION_NAME_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<unknown>");
    let mut end = name.len().min(MAX_CONNECTION_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// Serves one `Read`.
pub async fn read(
    node: &Arc<Node>,
    request: Request<Streaming<pb::ReadReq>>,
) -> Result<Response<ReadStream>, Status> {
    use pb::read_req::options::uuid_option::Content as UuidForm;
    use pb::read_req::options::StreamOption;
    let caller = auth::caller(&request)?;
    let consumer = connection_name(&request);
    let mut inbound = request.into_inner();
    let Some(first) = inbound.message().await? else {
        return Err(errors::bad_request("the stream ended before its options"));
    };
    let Some(In::Options(o)) = first.content else {
        return Err(errors::bad_request("the first message must be options"));
    };
    let source = convert::chosen_source(o.stream_option.map(|s| match s {
        StreamOption::StreamIdentifier(id) => Some(id),
        StreamOption::All(_) => None,
    }))?;
    let structured = !matches!(
        o.uuid_option.and_then(|u| u.content),
        Some(UuidForm::String(_))
    );
    let group = o.group_name;
    let (name, _) = names::resolve(node, &source, &group).await?;
    // Consuming needs `subscribe` on the source (`$all`: on every stream,
    // the empty prefix), as strata.v1's Read.
    let scope = match &source {
        Source::All => String::new(),
        Source::Stream(s) => s.clone(),
    };
    caller
        .check(Need::Stream(Permission::Subscribe, &scope))
        .map_err(|e| kerrors::status(e, Op::Other))?;
    let buffer_size = u32::try_from(o.buffer_size).unwrap_or(0);
    let (id, deliveries, to_group) = node
        .join_group(&name, consumer, buffer_size)
        .await
        .map_err(|e| errors::group_status(e, source.name(), &group))?;
    tokio::spawn(forward(inbound, to_group, id));

    let confirmation = convert::confirmation(&source, &group);
    let (stream_name, group_name) = (source.name().to_owned(), group.clone());
    let events = ReceiverStream::new(deliveries).flat_map(move |m| {
        let out: Vec<Result<pb::ReadResp, Status>> = match m {
            Ok(batch) => batch
                .iter()
                .map(|d| Ok(convert::read_event(d, structured)))
                .collect(),
            Err(e) => vec![Err(errors::group_status(e, &stream_name, &group_name))],
        };
        stream::iter(out)
    });
    let node = node.clone();
    let revoked = async move {
        let still = move |a: &Access| a.may(Permission::Subscribe, &scope);
        node.revoked(&caller, still).await
    };
    let answers = stream::once(async { Ok(confirmation) })
        .chain(events)
        .boxed();
    let refusal = || {
        kerrors::status(
            Error::AccessDenied("permissions changed; subscribe again".into()),
            Op::Other,
        )
    };
    Ok(Response::new(
        until_revoked(answers, revoked, refusal).boxed(),
    ))
}

/// Forwards a consumer's acks and nacks until its stream ends or it stops.
async fn forward(mut inbound: Streaming<pb::ReadReq>, group: mpsc::Sender<Command>, id: u64) {
    loop {
        let msg = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) | Err(_) => break,
        };
        let cmd = match msg.content {
            Some(In::Ack(a)) => Command::Ack(id, convert::event_ids(a.ids)),
            Some(In::Nack(n)) => match convert::nack_action(n.action) {
                Ok(Some(action)) => Command::Nack(id, convert::event_ids(n.ids), action, n.reason),
                // Stop, or an action KurrentDB does not have: leave.
                Ok(None) | Err(_) => break,
            },
            Some(In::Options(_)) | None => continue,
        };
        if group.send(cmd).await.is_err() {
            return;
        }
    }
    let _ = group.send(Command::Leave(id)).await;
}
