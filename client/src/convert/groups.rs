//! Protobuf ↔ client types for persistent subscriptions (the
//! `PersistentSubscriptions` service): group definitions and settings, group
//! infos, and the messages of a consumer's `Read` call (options, acks,
//! nacks one way; a confirmation and event batches the other).

use std::time::Duration;

use strata_proto::v1 as pb;
use uuid::Uuid;

use super::{filter_to_pb, recorded_from_pb, ALL_STREAM};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::groups::{
    GroupConsumerInfo, GroupInfo, GroupSettings, GroupSource, GroupStart, GroupState, NackAction,
    Strategy,
};
use crate::types::RecordedEvent;

pub(crate) fn strategy_to_pb(s: Strategy) -> pb::GroupStrategy {
    match s {
        Strategy::RoundRobin => pb::GroupStrategy::RoundRobin,
        Strategy::DispatchToSingle => pb::GroupStrategy::DispatchToSingle,
        Strategy::Pinned => pb::GroupStrategy::Pinned,
        Strategy::OrderedByStream => pb::GroupStrategy::OrderedByStream,
    }
}

/// A strategy from its enum number; one this client does not know is
/// malformed.
pub(crate) fn strategy_from_pb(n: i32) -> Result<Strategy> {
    match pb::GroupStrategy::try_from(n) {
        Ok(pb::GroupStrategy::RoundRobin) => Ok(Strategy::RoundRobin),
        Ok(pb::GroupStrategy::DispatchToSingle) => Ok(Strategy::DispatchToSingle),
        Ok(pb::GroupStrategy::Pinned) => Ok(Strategy::Pinned),
        Ok(pb::GroupStrategy::OrderedByStream) => Ok(Strategy::OrderedByStream),
        Err(_) => Err(Error::MalformedResponse(format!(
            "unknown group strategy {n}"
        ))),
    }
}

/// Whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn settings_to_pb(s: &GroupSettings) -> pb::GroupSettings {
    pb::GroupSettings {
        strategy: strategy_to_pb(s.strategy) as i32,
        max_retry_count: s.max_retry_count,
        message_timeout_ms: s.message_timeout.map(millis),
        max_in_flight: s.max_in_flight,
        checkpoint_after_ms: s.checkpoint_after.map(millis),
        checkpoint_max_count: s.checkpoint_max_count,
        max_subscribers: s.max_subscribers,
        partition_key: s.partition_key.clone().unwrap_or_default(),
    }
}

/// Settings as the server reports them; absent ones stay unset.
pub(crate) fn settings_from_pb(s: Option<pb::GroupSettings>) -> Result<GroupSettings> {
    let s = s.unwrap_or_default();
    Ok(GroupSettings {
        strategy: strategy_from_pb(s.strategy)?,
        max_retry_count: s.max_retry_count,
        message_timeout: s.message_timeout_ms.map(Duration::from_millis),
        max_in_flight: s.max_in_flight,
        checkpoint_after: s.checkpoint_after_ms.map(Duration::from_millis),
        checkpoint_max_count: s.checkpoint_max_count,
        max_subscribers: s.max_subscribers,
        partition_key: (!s.partition_key.is_empty()).then_some(s.partition_key),
    })
}

pub(crate) fn create_group_to_pb(
    group: String,
    source: GroupSource,
    start: GroupStart,
    settings: &GroupSettings,
) -> pb::CreateGroupRequest {
    use pb::create_group_request::StartFrom as S;
    let (stream, filter) = match source {
        GroupSource::Stream(s) => (s, None),
        GroupSource::All(f) => (ALL_STREAM.to_owned(), filter_to_pb(&f)),
    };
    pb::CreateGroupRequest {
        group,
        stream,
        filter,
        start_from: Some(match start {
            GroupStart::Start => S::Start(pb::Empty {}),
            GroupStart::End => S::End(pb::Empty {}),
            GroupStart::AfterPosition(p) => S::AfterPosition(p),
            GroupStart::AfterRevision(r) => S::AfterRevision(r),
        }),
        settings: Some(settings_to_pb(settings)),
    }
}

fn source_from_pb(stream: String, filter: Option<pb::Filter>) -> GroupSource {
    if stream == ALL_STREAM {
        let f = filter.unwrap_or_default();
        GroupSource::All(Filter {
            event_types: f.event_types,
            stream_prefixes: f.stream_prefixes,
            include_system: f.include_system,
        })
    } else {
        GroupSource::Stream(stream)
    }
}

fn consumer_from_pb(c: pb::GroupConsumer) -> GroupConsumerInfo {
    GroupConsumerInfo {
        id: c.id,
        name: c.name,
        in_flight: c.in_flight,
        capacity: c.capacity,
        delivered: c.delivered,
        acked: c.acked,
        nacked: c.nacked,
        connected_micros: c.connected_micros,
    }
}

pub(crate) fn group_info_from_pb(i: pb::GroupInfo) -> Result<GroupInfo> {
    Ok(GroupInfo {
        source: source_from_pb(i.stream, i.filter),
        settings: settings_from_pb(i.settings)?,
        state: GroupState::from_name(&i.state),
        reason: (!i.reason.is_empty()).then_some(i.reason),
        consumers: i.consumers.into_iter().map(consumer_from_pb).collect(),
        group: i.group,
        checkpoint: i.checkpoint,
        head: i.head,
        lag: i.lag,
        in_flight: i.in_flight,
        parked: i.parked,
        delivered: i.delivered,
        acked: i.acked,
        nacked: i.nacked,
        parked_total: i.parked_total,
        redelivered: i.redelivered,
    })
}

pub(crate) fn nack_action_to_pb(a: NackAction) -> pb::NackAction {
    match a {
        NackAction::Retry => pb::NackAction::Retry,
        NackAction::Park => pb::NackAction::Park,
        NackAction::Skip => pb::NackAction::Skip,
        NackAction::Stop => pb::NackAction::Stop,
    }
}

/// The first message of a `Read` call.
pub(crate) fn options_to_pb(
    group: &str,
    buffer_size: u32,
    consumer_name: &str,
) -> pb::GroupReadRequest {
    use pb::group_read_request::{Content, Options};
    pb::GroupReadRequest {
        content: Some(Content::Options(Options {
            group: group.to_owned(),
            buffer_size,
            consumer_name: consumer_name.to_owned(),
        })),
    }
}

fn id_strings(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(|id| id.hyphenated().to_string()).collect()
}

pub(crate) fn ack_to_pb(ids: &[Uuid]) -> pb::GroupReadRequest {
    use pb::group_read_request::{Ack, Content};
    pb::GroupReadRequest {
        content: Some(Content::Ack(Ack {
            ids: id_strings(ids),
        })),
    }
}

pub(crate) fn nack_to_pb(ids: &[Uuid], action: NackAction, reason: &str) -> pb::GroupReadRequest {
    use pb::group_read_request::{Content, Nack};
    pb::GroupReadRequest {
        content: Some(Content::Nack(Nack {
            ids: id_strings(ids),
            action: nack_action_to_pb(action) as i32,
            reason: reason.to_owned(),
        })),
    }
}

/// One delivered event: the event, its retry count, whether a replay of a
/// parked event.
pub(crate) type GroupEvent = (RecordedEvent, u32, bool);

/// What one `GroupReadResponse` carries.
#[derive(Debug)]
pub(crate) enum GroupMessage {
    /// The server took the consumer in, under this id.
    Confirmation(String),
    /// A batch of events, in delivery order.
    Events(Vec<GroupEvent>),
    /// An empty message (no content set): ignored.
    Nothing,
}

/// A `Read` response; an event without its event, or with an id that is not
/// a UUID (it could never be acked), is malformed.
pub(crate) fn group_message_from_pb(m: pb::GroupReadResponse) -> Result<GroupMessage> {
    use pb::group_read_response::Content;
    Ok(match m.content {
        Some(Content::Confirmation(c)) => GroupMessage::Confirmation(c.consumer_id),
        Some(Content::Events(batch)) => GroupMessage::Events(
            batch
                .events
                .into_iter()
                .map(|g| {
                    let e = g.event.ok_or_else(|| {
                        Error::MalformedResponse("a group delivery without its event".to_owned())
                    })?;
                    Ok((recorded_from_pb(e)?, g.retry_count, g.replayed))
                })
                .collect::<Result<_>>()?,
        ),
        None => GroupMessage::Nothing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::group_read_request::Content as In;

    #[test]
    fn unset_settings_stay_unset() {
        let p = settings_to_pb(&GroupSettings::new());
        assert_eq!(p, pb::GroupSettings::default());
        assert_eq!(settings_from_pb(None).unwrap(), GroupSettings::new());
    }

    #[test]
    fn settings_roundtrip() {
        for strategy in [
            Strategy::RoundRobin,
            Strategy::DispatchToSingle,
            Strategy::Pinned,
            Strategy::OrderedByStream,
        ] {
            let s = GroupSettings::new()
                .strategy(strategy)
                .max_retry_count(3)
                .message_timeout(Duration::from_millis(2_500))
                .max_in_flight(8)
                .checkpoint_after(Duration::from_secs(2))
                .checkpoint_max_count(50)
                .max_subscribers(4)
                .partition_key("correlationId");
            let p = settings_to_pb(&s);
            assert_eq!(p.message_timeout_ms, Some(2_500));
            assert_eq!(p.checkpoint_after_ms, Some(2_000));
            assert_eq!(p.partition_key, "correlationId");
            assert_eq!(settings_from_pb(Some(p)).unwrap(), s);
        }
        // Sub-millisecond parts are dropped; huge durations saturate.
        let p = settings_to_pb(&GroupSettings::new().message_timeout(Duration::from_micros(1_999)));
        assert_eq!(p.message_timeout_ms, Some(1));
        let p = settings_to_pb(&GroupSettings::new().message_timeout(Duration::MAX));
        assert_eq!(p.message_timeout_ms, Some(u64::MAX));
    }

    #[test]
    fn unknown_strategy_is_malformed() {
        let p = pb::GroupSettings {
            strategy: 42,
            ..Default::default()
        };
        assert!(matches!(
            settings_from_pb(Some(p)),
            Err(Error::MalformedResponse(_))
        ));
    }

    #[test]
    fn create_requests() {
        use pb::create_group_request::StartFrom as S;
        let r = create_group_to_pb(
            "g".into(),
            GroupSource::stream("order-1"),
            GroupStart::AfterRevision(4),
            &GroupSettings::new(),
        );
        assert_eq!((r.group.as_str(), r.stream.as_str()), ("g", "order-1"));
        assert_eq!((r.filter, r.start_from), (None, Some(S::AfterRevision(4))));
        let r = create_group_to_pb(
            "g".into(),
            GroupSource::all(Filter::new().stream_prefix("o-")),
            GroupStart::AfterPosition(9),
            &GroupSettings::new().strategy(Strategy::Pinned),
        );
        assert_eq!(r.stream, "$all");
        assert_eq!(r.filter.unwrap().stream_prefixes, ["o-"]);
        assert_eq!(r.start_from, Some(S::AfterPosition(9)));
        assert_eq!(
            r.settings.unwrap().strategy,
            pb::GroupStrategy::Pinned as i32
        );
        let r = create_group_to_pb(
            "g".into(),
            GroupSource::all(Filter::new()),
            GroupStart::End,
            &GroupSettings::new(),
        );
        assert_eq!((r.filter, r.start_from), (None, Some(S::End(pb::Empty {}))));
        let r = create_group_to_pb(
            "g".into(),
            GroupSource::stream("s"),
            GroupStart::Start,
            &GroupSettings::new(),
        );
        assert_eq!(r.start_from, Some(S::Start(pb::Empty {})));
    }

    #[test]
    fn group_info() {
        let info = group_info_from_pb(pb::GroupInfo {
            group: "g".into(),
            stream: "$all".into(),
            filter: Some(pb::Filter {
                event_types: vec!["T".into()],
                ..Default::default()
            }),
            settings: Some(pb::GroupSettings {
                strategy: pb::GroupStrategy::OrderedByStream as i32,
                max_in_flight: Some(64),
                ..Default::default()
            }),
            state: "consumers-full".into(),
            reason: String::new(),
            consumers: vec![pb::GroupConsumer {
                id: "7".into(),
                name: "worker".into(),
                in_flight: 3,
                capacity: 10,
                delivered: 5,
                acked: 2,
                nacked: 0,
                connected_micros: 99,
            }],
            checkpoint: 10,
            head: 15,
            lag: 5,
            in_flight: 3,
            parked: 1,
            delivered: 5,
            acked: 2,
            nacked: 0,
            parked_total: 1,
            redelivered: 4,
        })
        .unwrap();
        assert_eq!(info.group, "g");
        assert_eq!(info.source, GroupSource::all(Filter::new().event_type("T")));
        assert_eq!(info.settings.strategy, Strategy::OrderedByStream);
        assert_eq!(info.settings.max_in_flight, Some(64));
        assert_eq!((info.state, info.reason), (GroupState::ConsumersFull, None));
        let c = &info.consumers[0];
        assert_eq!((c.id.as_str(), c.name.as_str()), ("7", "worker"));
        assert_eq!((c.in_flight, c.capacity, c.connected_micros), (3, 10, 99));
        assert_eq!((info.checkpoint, info.head, info.lag), (10, 15, 5));
        assert_eq!((info.parked, info.redelivered), (1, 4));

        let failing = group_info_from_pb(pb::GroupInfo {
            stream: "order-1".into(),
            state: "failing".into(),
            reason: "disk".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(failing.source, GroupSource::stream("order-1"));
        assert_eq!(failing.reason.as_deref(), Some("disk"));
    }

    #[test]
    fn read_requests() {
        let o = options_to_pb("g", 16, "w1");
        let Some(In::Options(o)) = o.content else {
            panic!("{o:?}")
        };
        assert_eq!(
            (o.group.as_str(), o.buffer_size, o.consumer_name.as_str()),
            ("g", 16, "w1")
        );

        let ids = [Uuid::new_v4(), Uuid::new_v4()];
        let Some(In::Ack(a)) = ack_to_pb(&ids).content else {
            panic!()
        };
        assert_eq!(a.ids, [ids[0].to_string(), ids[1].to_string()]);
        for (action, p) in [
            (NackAction::Retry, pb::NackAction::Retry),
            (NackAction::Park, pb::NackAction::Park),
            (NackAction::Skip, pb::NackAction::Skip),
            (NackAction::Stop, pb::NackAction::Stop),
        ] {
            let Some(In::Nack(n)) = nack_to_pb(&ids[..1], action, "bad").content else {
                panic!()
            };
            assert_eq!(
                (n.ids.len(), n.action, n.reason.as_str()),
                (1, p as i32, "bad")
            );
        }
    }

    #[test]
    fn read_responses() {
        use pb::group_read_response::{Confirmation, Content, Events};
        let m = group_message_from_pb(pb::GroupReadResponse {
            content: Some(Content::Confirmation(Confirmation {
                consumer_id: "3".into(),
            })),
        })
        .unwrap();
        assert!(matches!(m, GroupMessage::Confirmation(id) if id == "3"));
        let id = Uuid::new_v4();
        let event = |id: String| pb::GroupEvent {
            event: Some(pb::RecordedEvent {
                id,
                stream: "s".into(),
                revision: 2,
                ..Default::default()
            }),
            retry_count: 1,
            replayed: true,
        };
        let m = group_message_from_pb(pb::GroupReadResponse {
            content: Some(Content::Events(Events {
                events: vec![event(id.to_string())],
            })),
        })
        .unwrap();
        let GroupMessage::Events(events) = m else {
            panic!("{m:?}")
        };
        assert_eq!((events[0].0.id, events[0].0.revision), (id, 2));
        assert_eq!((events[0].1, events[0].2), (1, true));

        for bad in [
            event("nope".into()),
            pb::GroupEvent {
                event: None,
                ..Default::default()
            },
        ] {
            let m = group_message_from_pb(pb::GroupReadResponse {
                content: Some(Content::Events(Events { events: vec![bad] })),
            });
            assert!(matches!(m, Err(Error::MalformedResponse(_))), "{m:?}");
        }
        let m = group_message_from_pb(pb::GroupReadResponse::default()).unwrap();
        assert!(matches!(m, GroupMessage::Nothing));
    }
}
