//! The management calls of `PersistentSubscriptions`: Create, Update,
//! Delete, GetInfo, List, ReplayParked, TruncateParked and
//! RestartSubsystem, each over the same `Node` call as strata.v1's and
//! with the same check: the `ops` role (strata.v1's auth layer checks it
//! by path; this service's paths are KurrentDB's, so it is checked here).
//! Changes are audited as strata.v1 audits them, under the Strata group
//! name.
//!
//! Not here: the consumer's session (`read`), conversions (`convert`),
//! names (`names`).

use super::names::{self, Source};
use super::{convert, errors};
use crate::api::auth;
use crate::api::kurrent::errors::{self as kerrors, Op};
use crate::domain::security::{Caller, Need};
use crate::domain::Node;
use strata_proto::kurrent::event_store::client::Empty;
use strata_proto::kurrent::persistent_subscriptions as pb;
use tonic::{Request, Status};

/// The caller, if it has the `ops` role.
fn operator<T>(r: &Request<T>) -> Result<Caller, Status> {
    let caller = auth::caller(r)?;
    caller
        .check(Need::Ops)
        .map_err(|e| kerrors::status(e, Op::Other))?;
    Ok(caller)
}

fn options<T>(o: Option<T>) -> Result<T, Status> {
    o.ok_or_else(|| errors::bad_request("options are required"))
}

pub async fn create(
    node: &std::sync::Arc<Node>,
    request: Request<pb::CreateReq>,
) -> Result<pb::CreateResp, Status> {
    let caller = operator(&request)?;
    let mut o = options(request.into_inner().options)?;
    let (source, filter, start) = convert::create_source(&mut o)?;
    let group = o.group_name;
    let settings = convert::Settings::of_create(o.settings.unwrap_or_default())
        .to_group(&convert::new_group_base())?;
    // Also taken: a strata.v1 group that shows under these names.
    match names::resolve(node, &source, &group).await {
        Ok(_) => return Err(errors::exists(source.name(), &group)),
        Err(s) if s.code() == tonic::Code::NotFound => {}
        Err(s) => return Err(s),
    }
    let name = names::strata_name(&source, &group)?;
    let r = node
        .create_group(
            name.clone(),
            source.strata_stream(),
            filter,
            start,
            settings,
        )
        .await;
    node.audited(&caller, "createGroup", &name, r)
        .await
        .map_err(|e| errors::group_status(e, source.name(), &group))?;
    Ok(pb::CreateResp {})
}

pub async fn update(
    node: &Node,
    request: Request<pb::UpdateReq>,
) -> Result<pb::UpdateResp, Status> {
    use pb::update_req::options::StreamOption as O;
    let caller = operator(&request)?;
    let o = options(request.into_inner().options)?;
    // A new start point is not applied: the group keeps its checkpoint
    // (as a KurrentDB group does once it has one).
    // No stream_option: the deprecated top-level stream_identifier, which
    // KurrentDB still reads for older clients.
    #[allow(deprecated)]
    let source = match o.stream_option {
        Some(O::Stream(s)) => convert::source_of(s.stream_identifier)?,
        Some(O::All(_)) => Source::All,
        None => convert::source_of(o.stream_identifier)?,
    };
    let group = o.group_name;
    let (name, info) = names::resolve(node, &source, &group).await?;
    let settings =
        convert::Settings::of_update(o.settings.unwrap_or_default()).to_group(&info.settings)?;
    let r = node.update_group(name.clone(), settings).await;
    node.audited(&caller, "updateGroup", &name, r)
        .await
        .map_err(|e| errors::group_status(e, source.name(), &group))?;
    Ok(pb::UpdateResp {})
}

pub async fn delete(
    node: &Node,
    request: Request<pb::DeleteReq>,
) -> Result<pb::DeleteResp, Status> {
    use pb::delete_req::options::StreamOption as O;
    let caller = operator(&request)?;
    let o = options(request.into_inner().options)?;
    let source = convert::chosen_source(o.stream_option.map(|s| match s {
        O::StreamIdentifier(id) => Some(id),
        O::All(_) => None,
    }))?;
    let (name, _) = names::resolve(node, &source, &o.group_name).await?;
    let r = node.delete_group(name.clone()).await;
    node.audited(&caller, "deleteGroup", &name, r)
        .await
        .map_err(|e| errors::group_status(e, source.name(), &o.group_name))?;
    Ok(pb::DeleteResp {})
}

pub async fn get_info(
    node: &Node,
    request: Request<pb::GetInfoReq>,
) -> Result<pb::GetInfoResp, Status> {
    use pb::get_info_req::options::StreamOption as O;
    operator(&request)?;
    let o = options(request.into_inner().options)?;
    let source = convert::chosen_source(o.stream_option.map(|s| match s {
        O::StreamIdentifier(id) => Some(id),
        O::All(_) => None,
    }))?;
    let (_, info) = names::resolve(node, &source, &o.group_name).await?;
    Ok(pb::GetInfoResp {
        subscription_info: Some(convert::subscription_info(
            info,
            source.name().to_owned(),
            o.group_name,
        )),
    })
}

pub async fn list(node: &Node, request: Request<pb::ListReq>) -> Result<pb::ListResp, Status> {
    use pb::list_req::options::ListOption as L;
    use pb::list_req::stream_option::StreamOption as S;
    operator(&request)?;
    let o = options(request.into_inner().options)?;
    let only = match o.list_option {
        None | Some(L::ListAllSubscriptions(_)) => None,
        Some(L::ListForStream(s)) => Some(match s.stream_option {
            Some(S::Stream(id)) => convert::source_of(Some(id))?,
            Some(S::All(_)) => Source::All,
            None => return Err(errors::bad_request("list_for_stream needs a stream or all")),
        }),
    };
    let groups = node
        .list_groups()
        .await
        .map_err(|e| kerrors::status(e, Op::Other))?;
    let subscriptions: Vec<pb::SubscriptionInfo> = groups
        .into_iter()
        .filter_map(|i| {
            let (stream, group) = names::kurrent_names(&i.group, &i.spec.stream);
            let wanted = only.as_ref().is_none_or(|s| s.name() == stream);
            wanted.then(|| convert::subscription_info(i, stream, group))
        })
        .collect();
    // KurrentDB: a stream without subscriptions is "not found".
    if let Some(s) = only.filter(|_| subscriptions.is_empty()) {
        return Err(errors::does_not_exist(s.name(), ""));
    }
    Ok(pb::ListResp { subscriptions })
}

pub async fn replay_parked(
    node: &Node,
    request: Request<pb::ReplayParkedReq>,
) -> Result<pb::ReplayParkedResp, Status> {
    use pb::replay_parked_req::options::{StopAtOption as Stop, StreamOption as O};
    let caller = operator(&request)?;
    let o = options(request.into_inner().options)?;
    let source = convert::chosen_source(o.stream_option.map(|s| match s {
        O::StreamIdentifier(id) => Some(id),
        O::All(_) => None,
    }))?;
    let (name, _) = names::resolve(node, &source, &o.group_name).await?;
    // Strata replays the oldest `max_count` parked events (0: all);
    // KurrentDB's `stop_at` bounds the same run by the parked stream's
    // event number, equal to a count while none were replayed before.
    let max_count = match o.stop_at_option {
        None | Some(Stop::NoLimit(_)) => 0,
        Some(Stop::StopAt(n)) if n <= 0 => return Ok(pb::ReplayParkedResp {}),
        Some(Stop::StopAt(n)) => n.unsigned_abs(),
    };
    let r = node.replay_parked(&name, max_count).await;
    node.audited(&caller, "replayParked", &name, r)
        .await
        .map_err(|e| errors::group_status(e, source.name(), &o.group_name))?;
    Ok(pb::ReplayParkedResp {})
}

pub async fn truncate_parked(
    request: Request<pb::TruncateParkedReq>,
) -> Result<pb::TruncateParkedResp, Status> {
    operator(&request)?;
    Err(Status::unimplemented(
        "TruncateParked is not supported by Strata: parked events leave by ReplayParked or with their group",
    ))
}

/// Strata's groups have no subsystem to restart: every group runs while
/// the server does. Answered as done, for clients that call it.
pub async fn restart_subsystem(request: Request<Empty>) -> Result<Empty, Status> {
    operator(&request)?;
    Ok(Empty {})
}
