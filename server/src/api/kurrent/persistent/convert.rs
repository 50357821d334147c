//! The one place the KurrentDB persistent-subscriptions protobuf meets
//! Strata's consumer-group types: settings (KurrentDB's fields, zeros and
//! ticks to Strata's `GroupSettings`), start points, `$all` filters, the
//! `SubscriptionInfo` of a group and the `ReadEvent` of a delivery.
//!
//! Positions: commit = prepare = Strata's global position. Start points
//! are inclusive in KurrentDB (revision *n* delivers *n* first) and
//! exclusive in Strata (`after`), hence the −1s. Settings Strata has no
//! use for are accepted and reported back at KurrentDB's defaults
//! (docs/KURRENTDB.md, "Persistent subscriptions").
//!
//! No I/O.

use super::errors::bad_request;
use super::names::Source;
use super::regex_filter::{self, Target};
use crate::api::kurrent::convert as kconvert;
use crate::domain::groups::settings::{MAX_IN_FLIGHT_LIMIT, MAX_SUBSCRIBERS_LIMIT};
use crate::domain::groups::{
    Delivery, GroupFilter, GroupInfo, GroupSettings, GroupStatus, Nack, StartFrom, Strategy,
};
use strata_proto::kurrent::persistent_subscriptions as pb;
use strata_proto::kurrent::streams;
use tonic::Status;

/// `live_buffer_size` reported (KurrentDB's default; Strata reads ahead
/// by its own bounds, so the setting is accepted and not kept).
pub const REPORTED_LIVE_BUFFER_SIZE: i32 = 500;
/// `read_batch_size` reported (KurrentDB's default; not kept).
pub const REPORTED_READ_BATCH_SIZE: i32 = 200;
/// `history_buffer_size` reported (KurrentDB's default; not kept).
pub const REPORTED_HISTORY_BUFFER_SIZE: i32 = 500;
/// `min_checkpoint_count` reported (KurrentDB's default; not kept:
/// Strata checkpoints after `checkpoint_after_ms` or the max count).
pub const REPORTED_MIN_CHECKPOINT_COUNT: i32 = 10;
/// 100 ns ticks per millisecond (the `*_ticks` settings).
const TICKS_PER_MS: i64 = 10_000;

/// KurrentDB's settings, one shape for Create and Update.
#[derive(Debug, Default)]
pub struct Settings {
    pub max_retry_count: i32,
    pub max_checkpoint_count: i32,
    pub min_checkpoint_count: i32,
    pub max_subscriber_count: i32,
    /// Milliseconds; `None` when neither ms nor ticks were sent.
    pub message_timeout_ms: Option<i64>,
    pub checkpoint_after_ms: Option<i64>,
    /// The strategy's name (`consumer_strategy`, else the enum's name).
    pub strategy: String,
}

fn ms_of(ms: Option<i32>, ticks: Option<i64>) -> Option<i64> {
    ms.map(i64::from).or(ticks.map(|t| t / TICKS_PER_MS))
}

fn enum_name(n: i32) -> String {
    pb::create_req::ConsumerStrategy::try_from(n)
        .map(|s| s.as_str_name().to_owned())
        .unwrap_or_else(|_| format!("#{n}"))
}

impl Settings {
    pub fn of_create(s: pb::create_req::Settings) -> Settings {
        use pb::create_req::settings::{CheckpointAfter as C, MessageTimeout as M};
        let (mt_ms, mt_ticks) = match s.message_timeout {
            Some(M::MessageTimeoutMs(v)) => (Some(v), None),
            Some(M::MessageTimeoutTicks(t)) => (None, Some(t)),
            None => (None, None),
        };
        let (ca_ms, ca_ticks) = match s.checkpoint_after {
            Some(C::CheckpointAfterMs(v)) => (Some(v), None),
            Some(C::CheckpointAfterTicks(t)) => (None, Some(t)),
            None => (None, None),
        };
        // Older clients send only the (deprecated) enum.
        #[allow(deprecated)]
        let strategy = if s.consumer_strategy.is_empty() {
            enum_name(s.named_consumer_strategy)
        } else {
            s.consumer_strategy
        };
        Settings {
            max_retry_count: s.max_retry_count,
            max_checkpoint_count: s.max_checkpoint_count,
            min_checkpoint_count: s.min_checkpoint_count,
            max_subscriber_count: s.max_subscriber_count,
            message_timeout_ms: ms_of(mt_ms, mt_ticks),
            checkpoint_after_ms: ms_of(ca_ms, ca_ticks),
            strategy,
        }
    }

    pub fn of_update(s: pb::update_req::Settings) -> Settings {
        use pb::update_req::settings::{CheckpointAfter as C, MessageTimeout as M};
        let (mt_ms, mt_ticks) = match s.message_timeout {
            Some(M::MessageTimeoutMs(v)) => (Some(v), None),
            Some(M::MessageTimeoutTicks(t)) => (None, Some(t)),
            None => (None, None),
        };
        let (ca_ms, ca_ticks) = match s.checkpoint_after {
            Some(C::CheckpointAfterMs(v)) => (Some(v), None),
            Some(C::CheckpointAfterTicks(t)) => (None, Some(t)),
            None => (None, None),
        };
        Settings {
            max_retry_count: s.max_retry_count,
            max_checkpoint_count: s.max_checkpoint_count,
            min_checkpoint_count: s.min_checkpoint_count,
            max_subscriber_count: s.max_subscriber_count,
            message_timeout_ms: ms_of(mt_ms, mt_ticks),
            checkpoint_after_ms: ms_of(ca_ms, ca_ticks),
            strategy: enum_name(s.named_consumer_strategy),
        }
    }

    /// Strata's settings: `base` (the defaults for a new group, the
    /// group's own on an update) with what KurrentDB says over it. Zeros
    /// mean "the default"; a zero `max_subscriber_count` (KurrentDB:
    /// unlimited) is Strata's most.
    pub fn to_group(&self, base: &GroupSettings) -> Result<GroupSettings, Status> {
        let non_negative = |v: i64, what: &str| {
            u64::try_from(v).map_err(|_| bad_request(format!("{what} must not be negative")))
        };
        let d = GroupSettings::default();
        let mut g = base.clone();
        g.strategy = strategy(&self.strategy)?;
        if g.strategy != Strategy::OrderedByStream {
            g.partition_key.clear();
        }
        g.max_retry_count = u32::try_from(self.max_retry_count)
            .map_err(|_| bad_request("max_retry_count must not be negative"))?;
        non_negative(self.min_checkpoint_count.into(), "min_checkpoint_count")?;
        g.checkpoint_max_count =
            match non_negative(self.max_checkpoint_count.into(), "max_checkpoint_count")? {
                0 => d.checkpoint_max_count,
                n => u32::try_from(n).unwrap_or(u32::MAX),
            };
        g.max_subscribers =
            match non_negative(self.max_subscriber_count.into(), "max_subscriber_count")? {
                0 => MAX_SUBSCRIBERS_LIMIT,
                n => u32::try_from(n).unwrap_or(u32::MAX),
            };
        g.message_timeout_ms = match self.message_timeout_ms {
            None | Some(0) => d.message_timeout_ms,
            Some(v) => non_negative(v, "message_timeout")?,
        };
        g.checkpoint_after_ms = match self.checkpoint_after_ms {
            None | Some(0) => d.checkpoint_after_ms,
            Some(v) => non_negative(v, "checkpoint_after")?,
        };
        Ok(g)
    }
}

/// A new group's base settings: a consumer's `buffer_size` is its
/// in-flight limit, as in KurrentDB, so the group's own is Strata's most.
pub fn new_group_base() -> GroupSettings {
    GroupSettings {
        max_in_flight: MAX_IN_FLIGHT_LIMIT,
        ..GroupSettings::default()
    }
}

/// A strategy by KurrentDB's name.
fn strategy(name: &str) -> Result<Strategy, Status> {
    match name {
        "RoundRobin" => Ok(Strategy::RoundRobin),
        "DispatchToSingle" => Ok(Strategy::DispatchToSingle),
        "Pinned" => Ok(Strategy::Pinned),
        "PinnedByCorrelation" => Err(bad_request(
            "the PinnedByCorrelation strategy is not supported by Strata \
             (Pinned pins by stream; Strata's ordered_by_stream strategy can \
             partition by a metadata key over strata.v1)",
        )),
        other => Err(bad_request(format!("unknown consumer strategy {other:?}"))),
    }
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::RoundRobin => "RoundRobin",
        Strategy::DispatchToSingle => "DispatchToSingle",
        Strategy::Pinned => "Pinned",
        Strategy::OrderedByStream => "OrderedByStream",
    }
}

/// A Create's source, filter and start point.
pub fn create_source(
    o: &mut pb::create_req::Options,
) -> Result<(Source, GroupFilter, StartFrom), Status> {
    use pb::create_req::all_options::{AllOption as A, FilterOption as F};
    use pb::create_req::options::StreamOption as O;
    use pb::create_req::stream_options::RevisionOption as R;
    match o.stream_option.take() {
        Some(O::Stream(s)) => {
            let source = Source::stream(kconvert::stream_name(s.stream_identifier)?);
            let start = match s.revision_option {
                None | Some(R::Start(_)) => StartFrom::Start,
                Some(R::End(_)) => StartFrom::End,
                Some(R::Revision(r)) => revision_start(r),
            };
            Ok((source, GroupFilter::default(), start))
        }
        Some(O::All(a)) => {
            let start = match a.all_option {
                None | Some(A::Start(_)) => StartFrom::Start,
                Some(A::End(_)) => StartFrom::End,
                Some(A::Position(p)) => position_start(p.commit_position),
            };
            let filter = match a.filter_option {
                None | Some(F::NoFilter(_)) => GroupFilter::default(),
                Some(F::Filter(f)) => all_filter(f)?,
            };
            Ok((Source::All, filter, start))
        }
        None => {
            // The deprecated shape: stream_identifier and settings.revision.
            #[allow(deprecated)]
            let source = Source::stream(kconvert::stream_name(o.stream_identifier.take())?);
            #[allow(deprecated)]
            let r = o.settings.as_ref().map_or(0, |s| s.revision);
            Ok((source, GroupFilter::default(), revision_start(r)))
        }
    }
}

/// KurrentDB starts *at* revision `r`; Strata after `r − 1`.
fn revision_start(r: u64) -> StartFrom {
    match r.checked_sub(1) {
        None => StartFrom::Start,
        Some(after) => StartFrom::AfterRevision(after),
    }
}

/// KurrentDB starts *at* commit position `p`; Strata after `p − 1`.
fn position_start(p: u64) -> StartFrom {
    match p.checked_sub(1) {
        None => StartFrom::Start,
        Some(after) => StartFrom::AfterPosition(after),
    }
}

/// A `$all` filter Strata's groups can keep: stream-name prefixes, exact
/// event types, or none; the regexes clients build from plain names are
/// read back into those ([`regex_filter`]). Event-type prefixes (Strata
/// matches types exactly) and other regexes are refused.
fn all_filter(f: pb::create_req::all_options::FilterOptions) -> Result<GroupFilter, Status> {
    use pb::create_req::all_options::filter_options::Filter as F;
    match f.filter {
        None => Ok(GroupFilter::default()),
        Some(F::StreamIdentifier(e)) if e.regex.is_empty() => Ok(GroupFilter {
            event_types: Vec::new(),
            // An empty prefix matches every stream: no filter.
            stream_prefixes: if e.prefix.iter().any(String::is_empty) {
                Vec::new()
            } else {
                e.prefix
            },
        }),
        Some(F::StreamIdentifier(e)) => {
            regex_filter::translate(Target::StreamName, &e.regex).map_err(bad_request)
        }
        Some(F::EventType(e)) if e.regex.is_empty() && e.prefix.is_empty() => {
            Ok(GroupFilter::default())
        }
        Some(F::EventType(e)) if e.regex.is_empty() => Err(bad_request(format!(
            "{} (event types match whole names in Strata, not by prefix)",
            regex_filter::ACCEPTED
        ))),
        Some(F::EventType(e)) => {
            regex_filter::translate(Target::EventType, &e.regex).map_err(bad_request)
        }
    }
}

/// A stream subscription's source.
pub fn source_of(
    stream: Option<strata_proto::kurrent::event_store::client::StreamIdentifier>,
) -> Result<Source, Status> {
    Ok(Source::stream(kconvert::stream_name(stream)?))
}

/// The source a Read, Delete, GetInfo or ReplayParked names with its
/// `stream_option` (each request has its own oneof type; the caller maps
/// it): a stream (`Some(Some(id))`), `$all` (`Some(None)`), or nothing,
/// which is refused.
pub fn chosen_source(
    choice: Option<Option<strata_proto::kurrent::event_store::client::StreamIdentifier>>,
) -> Result<Source, Status> {
    match choice {
        Some(Some(id)) => source_of(Some(id)),
        Some(None) => Ok(Source::All),
        None => Err(bad_request("options need a stream_identifier or all")),
    }
}

/// A nack's action; `None` for `Stop` (the consumer leaves). `Unknown`
/// retries, as KurrentDB does.
pub fn nack_action(n: i32) -> Result<Option<Nack>, Status> {
    use pb::read_req::nack::Action as A;
    match A::try_from(n) {
        Ok(A::Unknown | A::Retry) => Ok(Some(Nack::Retry)),
        Ok(A::Park) => Ok(Some(Nack::Park)),
        Ok(A::Skip) => Ok(Some(Nack::Skip)),
        Ok(A::Stop) => Ok(None),
        Err(_) => Err(bad_request(format!("unknown nack action {n}"))),
    }
}

/// The event ids of an ack or nack (ids that do not parse cannot be in
/// flight: they are ignored).
pub fn event_ids(ids: Vec<strata_proto::kurrent::event_store::client::Uuid>) -> Vec<uuid::Uuid> {
    ids.into_iter()
        .filter_map(|u| kconvert::uuid(Some(u)).ok())
        .collect()
}

/// One delivery as a `ReadResp` (its event mapped as Streams.Read maps it).
pub fn read_event(d: &Delivery, structured_ids: bool) -> pb::ReadResp {
    use pb::read_resp::read_event::{Count, Position, RecordedEvent};
    let position = d.event.position;
    let streamed = kconvert::read_event(
        strata_storage::RecordedEvent::clone(&d.event),
        structured_ids,
    );
    let event = match streamed.content {
        Some(streams::read_resp::Content::Event(e)) => e.event.map(|r| RecordedEvent {
            id: r.id,
            stream_identifier: r.stream_identifier,
            stream_revision: r.stream_revision,
            prepare_position: r.prepare_position,
            commit_position: r.commit_position,
            metadata: r.metadata,
            custom_metadata: r.custom_metadata,
            data: r.data,
        }),
        _ => None,
    };
    pb::ReadResp {
        content: Some(pb::read_resp::Content::Event(pb::read_resp::ReadEvent {
            event,
            link: None,
            position: Some(Position::CommitPosition(position)),
            count: Some(Count::RetryCount(
                i32::try_from(d.retry_count).unwrap_or(i32::MAX),
            )),
        })),
    }
}

/// The confirmation a consumer gets first (KurrentDB's subscription id:
/// `<stream>::<group>`).
pub fn confirmation(source: &Source, group: &str) -> pb::ReadResp {
    pb::ReadResp {
        content: Some(pb::read_resp::Content::SubscriptionConfirmation(
            pb::read_resp::SubscriptionConfirmation {
                subscription_id: format!("{}::{group}", source.name()),
            },
        )),
    }
}

fn i32_of(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stream's checkpoint key (last done revision + 1) or an `$all`
/// position as KurrentDB writes event positions; "" for none.
fn position_text(all: bool, key: u64) -> String {
    match (all, key) {
        (_, 0) => String::new(),
        (true, p) => format!("C:{p}/P:{p}"),
        (false, k) => (k - 1).to_string(),
    }
}

/// KurrentDB's status words for a group's state.
fn status_text(s: GroupStatus) -> &'static str {
    match s {
        GroupStatus::CatchingUp => "CatchingUp",
        GroupStatus::Failing => "NotReady",
        GroupStatus::Live
        | GroupStatus::WaitingForConsumers
        | GroupStatus::ConsumersFull
        | GroupStatus::PartitionsBlocked => "Live",
    }
}

/// A group's `SubscriptionInfo`, named by KurrentDB's (`stream`, `group`).
pub fn subscription_info(i: GroupInfo, stream: String, group: String) -> pb::SubscriptionInfo {
    use pb::subscription_info::ConnectionInfo;
    let all = i.spec.is_all();
    let s = &i.settings;
    // What KurrentDB reports as start_from: its inclusive start.
    let start_from = if all {
        let p = if i.spec.start == 0 {
            0
        } else {
            i.spec.start + 1
        };
        format!("C:{p}/P:{p}")
    } else {
        i.spec.start.to_string()
    };
    let connections = i
        .consumers
        .iter()
        .map(|c| ConnectionInfo {
            from: c.name.clone(),
            username: String::new(),
            average_items_per_second: 0,
            total_items: i64_of(c.delivered),
            count_since_last_measurement: 0,
            observed_measurements: Vec::new(),
            available_slots: i32_of(u64::from(c.capacity.saturating_sub(c.in_flight))),
            in_flight_messages: i32_of(u64::from(c.in_flight)),
            connection_name: c.name.clone(),
        })
        .collect();
    pb::SubscriptionInfo {
        event_source: stream,
        group_name: group,
        status: status_text(i.status).to_owned(),
        connections,
        average_per_second: 0,
        total_items: i64_of(i.totals.delivered),
        count_since_last_measurement: 0,
        last_checkpointed_event_position: position_text(all, i.checkpoint),
        last_known_event_position: position_text(all, i.head),
        resolve_link_tos: false,
        start_from,
        message_timeout_milliseconds: i32_of(s.message_timeout_ms),
        extra_statistics: false,
        max_retry_count: i32_of(s.max_retry_count.into()),
        live_buffer_size: REPORTED_LIVE_BUFFER_SIZE,
        buffer_size: REPORTED_HISTORY_BUFFER_SIZE,
        read_batch_size: REPORTED_READ_BATCH_SIZE,
        check_point_after_milliseconds: i32_of(s.checkpoint_after_ms),
        min_check_point_count: REPORTED_MIN_CHECKPOINT_COUNT
            .min(i32_of(s.checkpoint_max_count.into())),
        max_check_point_count: i32_of(s.checkpoint_max_count.into()),
        read_buffer_count: 0,
        live_buffer_count: 0,
        retry_buffer_count: 0,
        total_in_flight_messages: i32_of(i.in_flight),
        outstanding_messages_count: i32_of(i.in_flight),
        named_consumer_strategy: strategy_name(s.strategy).to_owned(),
        // Strata's most stands for KurrentDB's 0 (unlimited) it came from.
        max_subscriber_count: if s.max_subscribers == MAX_SUBSCRIBERS_LIMIT {
            0
        } else {
            i32_of(s.max_subscribers.into())
        },
        parked_message_count: i64_of(i.parked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_take_the_defaults_and_ticks_are_milliseconds() {
        let s = Settings::of_create(pb::create_req::Settings {
            max_retry_count: 3,
            message_timeout: Some(
                pb::create_req::settings::MessageTimeout::MessageTimeoutTicks(20_000_000),
            ),
            consumer_strategy: "RoundRobin".into(),
            ..Default::default()
        });
        let g = s.to_group(&new_group_base()).unwrap();
        assert_eq!(g.strategy, Strategy::RoundRobin);
        assert_eq!(g.max_retry_count, 3);
        assert_eq!(g.message_timeout_ms, 2_000);
        assert_eq!(
            g.checkpoint_after_ms,
            GroupSettings::default().checkpoint_after_ms
        );
        assert_eq!(g.max_subscribers, MAX_SUBSCRIBERS_LIMIT);
        assert_eq!(g.max_in_flight, MAX_IN_FLIGHT_LIMIT);
    }

    #[test]
    #[allow(deprecated)] // the enum older clients send
    fn the_enum_names_the_strategy_when_the_string_is_empty() {
        let s = Settings::of_create(pb::create_req::Settings {
            named_consumer_strategy: pb::create_req::ConsumerStrategy::Pinned as i32,
            ..Default::default()
        });
        assert_eq!(
            s.to_group(&new_group_base()).unwrap().strategy,
            Strategy::Pinned
        );
        let bad = Settings {
            strategy: "PinnedByCorrelation".into(),
            ..Default::default()
        };
        assert!(bad.to_group(&new_group_base()).is_err());
        let neg = Settings {
            strategy: "RoundRobin".into(),
            max_retry_count: -1,
            ..Default::default()
        };
        assert!(neg.to_group(&new_group_base()).is_err());
    }

    #[test]
    fn starts_are_inclusive_in_kurrentdb() {
        assert_eq!(revision_start(0), StartFrom::Start);
        assert_eq!(revision_start(5), StartFrom::AfterRevision(4));
        assert_eq!(position_start(10), StartFrom::AfterPosition(9));
        assert_eq!(position_text(true, 7), "C:7/P:7");
        assert_eq!(position_text(false, 7), "6");
        assert_eq!(position_text(false, 0), "");
    }

    #[test]
    fn unknown_nacks_retry_and_stop_leaves() {
        use pb::read_req::nack::Action as A;
        assert_eq!(nack_action(A::Unknown as i32).unwrap(), Some(Nack::Retry));
        assert_eq!(nack_action(A::Stop as i32).unwrap(), None);
        assert!(nack_action(9).is_err());
    }

    #[test]
    fn all_filters_by_kind() {
        use pb::create_req::all_options::filter_options::{Expression, Filter as F};
        use pb::create_req::all_options::FilterOptions;
        let of = |f: F| {
            all_filter(FilterOptions {
                filter: Some(f),
                ..Default::default()
            })
        };
        let ex = |regex: &str, prefix: &[&str]| Expression {
            regex: regex.into(),
            prefix: prefix.iter().map(|p| (*p).to_owned()).collect(),
        };
        let none = GroupFilter::default();
        assert_eq!(
            of(F::StreamIdentifier(ex("", &["a-"])))
                .unwrap()
                .stream_prefixes,
            ["a-"]
        );
        assert_eq!(of(F::StreamIdentifier(ex("", &["a-", ""]))).unwrap(), none);
        assert_eq!(
            of(F::StreamIdentifier(ex("^a-.*$", &[])))
                .unwrap()
                .stream_prefixes,
            ["a-"]
        );
        assert_eq!(of(F::EventType(ex("", &[]))).unwrap(), none);
        assert_eq!(
            of(F::EventType(ex(
                r"^(?!(\$.+$|PersistentConfig\d+$|Result$))",
                &[]
            )))
            .unwrap(),
            none
        );
        assert_eq!(
            of(F::EventType(ex("^A|B$", &[]))).unwrap().event_types,
            ["A", "B"]
        );
        for refused in [
            F::EventType(ex("", &["Order"])),
            F::EventType(ex("^Order.*$", &[])),
            F::StreamIdentifier(ex("^order-1$", &[])),
        ] {
            let e = of(refused).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        }
    }
}
