//! Protobuf ↔ domain for consumer groups (`PersistentSubscriptions`):
//! settings with the wire's defaults, start points, infos and deliveries.
//!
//! Part of the one conversion module of the strata.v1 adapter.

use crate::api::status;
use crate::domain::groups::{
    Delivery, GroupFilter, GroupInfo, GroupSettings, Nack, StartFrom, Strategy,
};
use strata_proto::v1 as pb;
use tonic::Status;

/// A strategy from its enum number.
fn strategy(n: i32) -> Result<Strategy, Status> {
    use pb::GroupStrategy as S;
    match S::try_from(n) {
        Ok(S::RoundRobin) => Ok(Strategy::RoundRobin),
        Ok(S::DispatchToSingle) => Ok(Strategy::DispatchToSingle),
        Ok(S::Pinned) => Ok(Strategy::Pinned),
        Ok(S::OrderedByStream) => Ok(Strategy::OrderedByStream),
        Err(_) => Err(status::invalid_request(format!("unknown strategy {n}"))),
    }
}

fn strategy_number(s: Strategy) -> i32 {
    use pb::GroupStrategy as S;
    let s = match s {
        Strategy::RoundRobin => S::RoundRobin,
        Strategy::DispatchToSingle => S::DispatchToSingle,
        Strategy::Pinned => S::Pinned,
        Strategy::OrderedByStream => S::OrderedByStream,
    };
    s as i32
}

/// Settings from the wire, unset fields taking their defaults.
pub fn group_settings(s: Option<pb::GroupSettings>) -> Result<GroupSettings, Status> {
    let s = s.unwrap_or_default();
    let d = GroupSettings::default();
    Ok(GroupSettings {
        strategy: strategy(s.strategy)?,
        max_retry_count: s.max_retry_count.unwrap_or(d.max_retry_count),
        message_timeout_ms: s.message_timeout_ms.unwrap_or(d.message_timeout_ms),
        max_in_flight: s.max_in_flight.unwrap_or(d.max_in_flight),
        checkpoint_after_ms: s.checkpoint_after_ms.unwrap_or(d.checkpoint_after_ms),
        checkpoint_max_count: s.checkpoint_max_count.unwrap_or(d.checkpoint_max_count),
        max_subscribers: s.max_subscribers.unwrap_or(d.max_subscribers),
        partition_key: s.partition_key,
    })
}

fn settings_message(s: &GroupSettings) -> pb::GroupSettings {
    pb::GroupSettings {
        strategy: strategy_number(s.strategy),
        max_retry_count: Some(s.max_retry_count),
        message_timeout_ms: Some(s.message_timeout_ms),
        max_in_flight: Some(s.max_in_flight),
        checkpoint_after_ms: Some(s.checkpoint_after_ms),
        checkpoint_max_count: Some(s.checkpoint_max_count),
        max_subscribers: Some(s.max_subscribers),
        partition_key: s.partition_key.clone(),
    }
}

/// A create request's source: (stream, filter, start).
pub fn group_source(
    r: &pb::CreateGroupRequest,
) -> Result<(String, GroupFilter, StartFrom), Status> {
    use pb::create_group_request::StartFrom as S;
    let filter = match &r.filter {
        None => GroupFilter::default(),
        Some(f) if f.include_system => {
            return Err(status::invalid_request(
                "a group cannot follow system records (its own checkpoints would feed it)",
            ))
        }
        Some(f) => GroupFilter {
            event_types: f.event_types.clone(),
            stream_prefixes: f.stream_prefixes.clone(),
        },
    };
    let start = match r.start_from {
        None | Some(S::Start(_)) => StartFrom::Start,
        Some(S::End(_)) => StartFrom::End,
        Some(S::AfterPosition(p)) => StartFrom::AfterPosition(p),
        Some(S::AfterRevision(v)) => StartFrom::AfterRevision(v),
    };
    Ok((r.stream.clone(), filter, start))
}

/// A group's info to its message.
pub fn group_info(i: GroupInfo) -> pb::GroupInfo {
    let filter = (!i.spec.filter.event_types.is_empty()
        || !i.spec.filter.stream_prefixes.is_empty())
    .then(|| pb::Filter {
        event_types: i.spec.filter.event_types.clone(),
        stream_prefixes: i.spec.filter.stream_prefixes.clone(),
        include_system: false,
    });
    pb::GroupInfo {
        group: i.group,
        stream: i.spec.stream.clone(),
        filter,
        settings: Some(settings_message(&i.settings)),
        state: i.status.as_str().to_owned(),
        reason: i.reason,
        consumers: i
            .consumers
            .into_iter()
            .map(|c| pb::GroupConsumer {
                id: c.id.to_string(),
                name: c.name,
                in_flight: c.in_flight,
                capacity: c.capacity,
                delivered: c.delivered,
                acked: c.acked,
                nacked: c.nacked,
                connected_micros: c.connected_micros,
            })
            .collect(),
        checkpoint: i.checkpoint,
        head: i.head,
        lag: i.head.saturating_sub(i.checkpoint),
        in_flight: i.in_flight,
        parked: i.parked,
        delivered: i.totals.delivered,
        acked: i.totals.acked,
        nacked: i.totals.nacked,
        parked_total: i.totals.parked,
        redelivered: i.totals.redelivered,
    }
}

/// A nack action from its enum number; `None` for stop (the consumer leaves).
pub fn nack_action(n: i32) -> Result<Option<Nack>, Status> {
    use pb::NackAction as A;
    match A::try_from(n) {
        Ok(A::Retry) => Ok(Some(Nack::Retry)),
        Ok(A::Park) => Ok(Some(Nack::Park)),
        Ok(A::Skip) => Ok(Some(Nack::Skip)),
        Ok(A::Stop) => Ok(None),
        Err(_) => Err(status::invalid_request(format!("unknown nack action {n}"))),
    }
}

/// Event ids of an ack or nack (ids that are not UUIDs cannot be in
/// flight: they are ignored).
pub fn event_ids(ids: &[String]) -> Vec<uuid::Uuid> {
    ids.iter()
        .filter_map(|s| uuid::Uuid::try_parse(s).ok())
        .collect()
}

/// A batch of deliveries to its message.
pub fn deliveries(batch: Vec<Delivery>) -> pb::GroupReadResponse {
    let events = batch
        .into_iter()
        .map(|d| pb::GroupEvent {
            event: Some(super::recorded_event(strata_storage::RecordedEvent::clone(
                &d.event,
            ))),
            retry_count: d.retry_count,
            replayed: d.replayed,
        })
        .collect();
    pb::GroupReadResponse {
        content: Some(pb::group_read_response::Content::Events(
            pb::group_read_response::Events { events },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_settings_take_the_defaults_and_bad_enums_are_refused() {
        assert_eq!(group_settings(None).unwrap(), GroupSettings::default());
        let s = pb::GroupSettings {
            strategy: 99,
            ..Default::default()
        };
        assert!(group_settings(Some(s)).is_err());
        assert!(nack_action(42).is_err());
        assert_eq!(nack_action(pb::NackAction::Stop as i32).unwrap(), None);
        assert_eq!(
            event_ids(&["x".into(), uuid::Uuid::nil().to_string()]).len(),
            1
        );
    }
}
