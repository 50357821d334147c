//! The one place where KurrentDB protobuf messages
//! (`strata_proto::kurrent`) convert to and from domain types: stream
//! identifiers, UUIDs, expected revisions, proposed and recorded events,
//! positions, read options (as domain read and subscribe plans plus this
//! adapter's own filter), and stream metadata ([`metadata`]).
//!
//! The numbering is Strata's, unchanged: a stream's revisions start at 0
//! (as KurrentDB's do), and commit position = prepare position = Strata's
//! global position (gapless, from 1). `created` is KurrentDB's: 100 ns
//! ticks since the Unix epoch, i.e. Strata's commit time in µs × 10.
//!
//! It checks what only the protobuf shape can get wrong (a missing stream
//! identifier, a UUID that does not parse, a missing `type`, an option
//! combination KurrentDB refuses too) and does no I/O.

pub mod metadata;

use super::errors;
use super::filter::{self, Field, SplitFilter, DEFAULT_FILTER_WINDOW_EVENTS};
use crate::domain::read::{ReadPlan, ReadStart, ReadTarget};
use crate::domain::subscribe::{SubscribePlan, SubscribeStart, SubscribeTarget};
use std::collections::HashMap;
use strata_proto::kurrent::event_store::client as shared;
use strata_proto::kurrent::streams as pb;
use strata_storage::lifecycle::{
    decode_state, stream_of_metadata, DELETED_EVENT_TYPE, TOMBSTONE_EVENT_TYPE,
};
use strata_storage::{
    AppendResult, CurrentRevision, Direction, ExpectedRevision, NewEvent, RecordedEvent,
};
use tonic::Status;
use uuid::Uuid;

/// Proposed-message metadata key of the event type.
pub const TYPE_KEY: &str = "type";
/// Proposed-message metadata key of the content type.
pub const CONTENT_TYPE_KEY: &str = "content-type";
/// Recorded-event metadata key of the commit time.
pub const CREATED_KEY: &str = "created";

/// A stream identifier's name (UTF-8, required).
pub fn stream_name(id: Option<shared::StreamIdentifier>) -> Result<String, Status> {
    let id = id.ok_or_else(|| errors::bad_request("stream_identifier is required"))?;
    String::from_utf8(id.stream_name)
        .map_err(|_| errors::bad_request("stream name is not valid UTF-8"))
}

/// A stream identifier for `name`.
pub fn stream_identifier(name: &str) -> shared::StreamIdentifier {
    shared::StreamIdentifier {
        stream_name: name.as_bytes().to_vec(),
    }
}

/// A KurrentDB UUID (text, or two big-endian 64-bit halves).
pub fn uuid(u: Option<shared::Uuid>) -> Result<Uuid, Status> {
    use shared::uuid::Value;
    match u.and_then(|u| u.value) {
        Some(Value::String(s)) => Uuid::try_parse(&s)
            .map_err(|e| errors::bad_request(format!("{s:?} is not a UUID: {e}"))),
        Some(Value::Structured(s)) => Ok(Uuid::from_u64_pair(
            s.most_significant_bits as u64,
            s.least_significant_bits as u64,
        )),
        None => Err(errors::bad_request("an event id is required")),
    }
}

/// `id` in the form the client asked for.
pub fn uuid_out(id: Uuid, structured: bool) -> shared::Uuid {
    use shared::uuid::{Structured, Value};
    let value = if structured {
        let (msb, lsb) = id.as_u64_pair();
        Value::Structured(Structured {
            most_significant_bits: msb as i64,
            least_significant_bits: lsb as i64,
        })
    } else {
        Value::String(id.hyphenated().to_string())
    };
    shared::Uuid { value: Some(value) }
}

/// Unix µs as KurrentDB's `created`: 100 ns ticks since the Unix epoch.
pub fn ticks_since_unix_epoch(micros: i64) -> i64 {
    micros.saturating_mul(10)
}

/// Unix µs as a protobuf timestamp.
pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Now as a protobuf timestamp.
pub fn now() -> prost_types::Timestamp {
    timestamp(strata_storage::clock::now_micros())
}

/// One proposed message (of `Append` or `BatchAppend`) to a storage event.
/// `type` and `content-type` are required, as KurrentDB requires them.
pub fn new_event(
    id: Option<shared::Uuid>,
    mut metadata: HashMap<String, String>,
    custom_metadata: Vec<u8>,
    data: Vec<u8>,
) -> Result<NewEvent, Status> {
    let event_type = metadata
        .remove(TYPE_KEY)
        .ok_or_else(|| errors::missing_metadata_property(TYPE_KEY))?;
    let content_type = metadata
        .remove(CONTENT_TYPE_KEY)
        .ok_or_else(|| errors::missing_metadata_property(CONTENT_TYPE_KEY))?;
    Ok(NewEvent {
        id: uuid(id)?,
        event_type,
        content_type,
        data,
        metadata: custom_metadata,
    })
}

/// `AppendReq.Options`' expected revision (unset = any).
pub fn append_expected(
    e: Option<pb::append_req::options::ExpectedStreamRevision>,
) -> ExpectedRevision {
    use pb::append_req::options::ExpectedStreamRevision as E;
    match e {
        None | Some(E::Any(_)) => ExpectedRevision::Any,
        Some(E::NoStream(_)) => ExpectedRevision::NoStream,
        Some(E::StreamExists(_)) => ExpectedRevision::StreamExists,
        Some(E::Revision(r)) => ExpectedRevision::Exact(r),
    }
}

/// `BatchAppendReq.Options`' expected revision (unset = any).
pub fn batch_expected(
    e: Option<pb::batch_append_req::options::ExpectedStreamPosition>,
) -> ExpectedRevision {
    use pb::batch_append_req::options::ExpectedStreamPosition as E;
    match e {
        None | Some(E::Any(())) => ExpectedRevision::Any,
        Some(E::NoStream(())) => ExpectedRevision::NoStream,
        Some(E::StreamExists(())) => ExpectedRevision::StreamExists,
        Some(E::StreamPosition(r)) => ExpectedRevision::Exact(r),
    }
}

/// The expected revision echoed in a `BatchAppendResp`.
pub fn batch_expected_out(e: ExpectedRevision) -> pb::batch_append_resp::ExpectedStreamPosition {
    use pb::batch_append_resp::ExpectedStreamPosition as E;
    match e {
        ExpectedRevision::Any => E::Any(()),
        ExpectedRevision::NoStream => E::NoStream(()),
        ExpectedRevision::StreamExists => E::StreamExists(()),
        ExpectedRevision::Exact(r) => E::StreamPosition(r),
    }
}

/// `DeleteReq.Options`' expected revision (unset = any).
pub fn delete_expected(
    e: Option<pb::delete_req::options::ExpectedStreamRevision>,
) -> ExpectedRevision {
    use pb::delete_req::options::ExpectedStreamRevision as E;
    match e {
        None | Some(E::Any(_)) => ExpectedRevision::Any,
        Some(E::NoStream(_)) => ExpectedRevision::NoStream,
        Some(E::StreamExists(_)) => ExpectedRevision::StreamExists,
        Some(E::Revision(r)) => ExpectedRevision::Exact(r),
    }
}

/// `TombstoneReq.Options`' expected revision (unset = any).
pub fn tombstone_expected(
    e: Option<pb::tombstone_req::options::ExpectedStreamRevision>,
) -> ExpectedRevision {
    use pb::tombstone_req::options::ExpectedStreamRevision as E;
    match e {
        None | Some(E::Any(_)) => ExpectedRevision::Any,
        Some(E::NoStream(_)) => ExpectedRevision::NoStream,
        Some(E::StreamExists(_)) => ExpectedRevision::StreamExists,
        Some(E::Revision(r)) => ExpectedRevision::Exact(r),
    }
}

/// What an append (or a metadata change through `$$stream`) produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The stream's revision after it; `None` = the stream has no event.
    pub revision: Option<u64>,
    /// Global position of the last record written; `None` = nothing written.
    pub position: Option<u64>,
}

impl From<&AppendResult> for Written {
    fn from(r: &AppendResult) -> Written {
        Written {
            revision: Some(r.last_revision),
            position: Some(r.last_position),
        }
    }
}

/// A successful `AppendResp`.
pub fn append_success(w: Written) -> pb::AppendResp {
    use pb::append_resp::success::{CurrentRevisionOption as R, PositionOption as P};
    pb::AppendResp {
        result: Some(pb::append_resp::Result::Success(pb::append_resp::Success {
            current_revision_option: Some(match w.revision {
                Some(r) => R::CurrentRevision(r),
                None => R::NoStream(shared::Empty {}),
            }),
            position_option: Some(match w.position {
                Some(p) => P::Position(pb::append_resp::Position {
                    commit_position: p,
                    prepare_position: p,
                }),
                None => P::NoPosition(shared::Empty {}),
            }),
        })),
    }
}

/// The `AppendResp` of a failed expected-revision check (both the 20.6.0
/// fields and the current ones, as KurrentDB fills them).
pub fn append_wrong_expected_version(
    expected: ExpectedRevision,
    actual: CurrentRevision,
) -> pb::AppendResp {
    use pb::append_resp::wrong_expected_version::{
        CurrentRevisionOption as C, CurrentRevisionOption2060 as C0, ExpectedRevisionOption as X,
        ExpectedRevisionOption2060 as X0,
    };
    let e = || shared::Empty {};
    let (x, x0) = match expected {
        ExpectedRevision::Any => (X::ExpectedAny(e()), X0::Any2060(e())),
        ExpectedRevision::StreamExists => (X::ExpectedStreamExists(e()), X0::StreamExists2060(e())),
        ExpectedRevision::NoStream => {
            (X::ExpectedNoStream(e()), X0::ExpectedRevision2060(u64::MAX))
        }
        ExpectedRevision::Exact(r) => (X::ExpectedRevision(r), X0::ExpectedRevision2060(r)),
    };
    let (c, c0) = match actual {
        CurrentRevision::NoStream => (C::CurrentNoStream(e()), C0::NoStream2060(e())),
        CurrentRevision::Current(r) => (C::CurrentRevision(r), C0::CurrentRevision2060(r)),
    };
    pb::AppendResp {
        result: Some(pb::append_resp::Result::WrongExpectedVersion(
            pb::append_resp::WrongExpectedVersion {
                current_revision_option_20_6_0: Some(c0),
                expected_revision_option_20_6_0: Some(x0),
                current_revision_option: Some(c),
                expected_revision_option: Some(x),
            },
        )),
    }
}

/// A successful `BatchAppendResp.Success`.
pub fn batch_success(w: Written) -> pb::batch_append_resp::Success {
    use pb::batch_append_resp::success::{CurrentRevisionOption as R, PositionOption as P};
    pb::batch_append_resp::Success {
        current_revision_option: Some(match w.revision {
            Some(r) => R::CurrentRevision(r),
            None => R::NoStream(()),
        }),
        position_option: Some(match w.position {
            Some(p) => P::Position(shared::AllStreamPosition {
                commit_position: p,
                prepare_position: p,
            }),
            None => P::NoPosition(()),
        }),
    }
}

/// A stored event as a `ReadResp`. Records of a `$$stream` (Strata's
/// lifecycle records, binary) are shown as KurrentDB shows them: `$metadata`
/// events with a JSON body.
pub fn read_event(e: RecordedEvent, structured_ids: bool) -> pb::ReadResp {
    let (event_type, content_type, data) = match lifecycle_json(&e) {
        Some(json) => (
            metadata::METADATA_EVENT_TYPE.to_owned(),
            metadata::JSON_CONTENT_TYPE.to_owned(),
            json,
        ),
        None => (e.event_type, e.content_type, e.data),
    };
    let position = e.position;
    let md = HashMap::from([
        (TYPE_KEY.to_owned(), event_type),
        (CONTENT_TYPE_KEY.to_owned(), content_type),
        (
            CREATED_KEY.to_owned(),
            ticks_since_unix_epoch(e.created_micros).to_string(),
        ),
    ]);
    let recorded = pb::read_resp::read_event::RecordedEvent {
        id: Some(uuid_out(e.id, structured_ids)),
        stream_identifier: Some(stream_identifier(&e.stream)),
        stream_revision: e.revision,
        prepare_position: position,
        commit_position: position,
        metadata: md,
        custom_metadata: e.metadata,
        data,
    };
    content(pb::read_resp::Content::Event(pb::read_resp::ReadEvent {
        event: Some(recorded),
        link: None,
        position: Some(pb::read_resp::read_event::Position::CommitPosition(
            position,
        )),
    }))
}

/// A lifecycle record's JSON, if `e` is one.
fn lifecycle_json(e: &RecordedEvent) -> Option<Vec<u8>> {
    stream_of_metadata(&e.stream)?;
    let t = e.event_type.as_str();
    if t != metadata::METADATA_EVENT_TYPE && t != DELETED_EVENT_TYPE && t != TOMBSTONE_EVENT_TYPE {
        return None;
    }
    decode_state(&e.data).map(|s| metadata::to_json(&s))
}

/// A `ReadResp` with `c`.
pub fn content(c: pb::read_resp::Content) -> pb::ReadResp {
    pb::ReadResp { content: Some(c) }
}

/// The `stream_not_found` answer of a read.
pub fn stream_not_found(stream: &str) -> pb::ReadResp {
    content(pb::read_resp::Content::StreamNotFound(
        pb::read_resp::StreamNotFound {
            stream_identifier: Some(stream_identifier(stream)),
        },
    ))
}

/// What a `ReadReq` asks for, as domain plans plus this adapter's part.
#[derive(Debug)]
pub enum ReadRequest {
    /// A bounded read of a stream or `$all`.
    Read {
        /// The domain's read (its `max_count` unset when `filter` has a
        /// predicate: the adapter counts the matches then).
        plan: ReadPlan,
        /// The filter (`$all` only).
        filter: SplitFilter,
        /// Most events to send.
        count: u64,
    },
    /// A subscription to a stream or `$all`.
    Subscribe {
        /// The domain's subscription.
        plan: SubscribePlan,
        /// The filter (`$all` only).
        filter: SplitFilter,
    },
}

/// A parsed `ReadReq`.
#[derive(Debug)]
pub struct ReadOptions {
    /// What to read.
    pub request: ReadRequest,
    /// Send ids as two 64-bit halves rather than text.
    pub structured_ids: bool,
}

/// The filter of a `$all` read or subscription.
fn split_filter(f: Option<pb::read_req::options::FilterOption>) -> Result<SplitFilter, Status> {
    use pb::read_req::options::filter_options::{Filter, Window};
    use pb::read_req::options::FilterOption;
    let f = match f {
        None | Some(FilterOption::NoFilter(_)) => return Ok(SplitFilter::default()),
        Some(FilterOption::Filter(f)) => f,
    };
    let window = match f.window {
        Some(Window::Max(m)) => u64::from(m),
        Some(Window::Count(_)) | None => DEFAULT_FILTER_WINDOW_EVENTS,
    };
    let (field, expr) = match f.filter {
        Some(Filter::StreamIdentifier(e)) => (Field::StreamName, e),
        Some(Filter::EventType(e)) => (Field::EventType, e),
        None => {
            return Err(errors::bad_request(
                "filter needs stream_identifier or event_type",
            ))
        }
    };
    filter::split(
        field,
        &expr.regex,
        expr.prefix,
        window,
        f.checkpoint_interval_multiplier,
    )
    .map_err(errors::bad_request)
}

/// A `ReadReq` to what it asks for; combinations KurrentDB refuses
/// (filters on streams, backwards subscriptions) are refused here too.
pub fn read_options(r: pb::ReadReq) -> Result<ReadOptions, Status> {
    use pb::read_req::options::{
        all_options::AllOption, stream_options::RevisionOption, uuid_option, CountOption,
        ReadDirection, StreamOption,
    };
    let o = r
        .options
        .ok_or_else(|| errors::bad_request("options are required"))?;
    let structured_ids = matches!(
        o.uuid_option.and_then(|u| u.content),
        Some(uuid_option::Content::Structured(_))
    );
    let direction = match ReadDirection::try_from(o.read_direction) {
        Ok(ReadDirection::Forwards) => Direction::Forwards,
        Ok(ReadDirection::Backwards) => Direction::Backwards,
        Err(_) => return Err(errors::bad_request("unknown read_direction")),
    };
    let filtered = matches!(
        o.filter_option,
        Some(pb::read_req::options::FilterOption::Filter(_))
    );
    let count = match o.count_option {
        Some(CountOption::Count(n)) => Some(n),
        Some(CountOption::Subscription(_)) => None,
        None => return Err(errors::bad_request("count or subscription is required")),
    };
    let request = match (o.stream_option, count) {
        (Some(StreamOption::Stream(s)), count) => {
            if filtered {
                return Err(errors::bad_request("filters apply to $all only"));
            }
            let name = stream_name(s.stream_identifier)?;
            match count {
                Some(n) => ReadRequest::Read {
                    plan: ReadPlan {
                        target: ReadTarget::Stream(name),
                        direction,
                        start: match s.revision_option {
                            Some(RevisionOption::Revision(r)) => ReadStart::Revision(r),
                            Some(RevisionOption::End(_)) => ReadStart::End,
                            Some(RevisionOption::Start(_)) | None => match direction {
                                Direction::Forwards => ReadStart::Start,
                                Direction::Backwards => ReadStart::End,
                            },
                        },
                        max_count: Some(n),
                    },
                    filter: SplitFilter::default(),
                    count: n,
                },
                None => {
                    if direction == Direction::Backwards {
                        return Err(errors::bad_request("subscriptions read forwards only"));
                    }
                    ReadRequest::Subscribe {
                        plan: SubscribePlan {
                            target: SubscribeTarget::Stream(name),
                            start: match s.revision_option {
                                Some(RevisionOption::Revision(r)) => SubscribeStart::After(r),
                                Some(RevisionOption::End(_)) => SubscribeStart::End,
                                Some(RevisionOption::Start(_)) | None => SubscribeStart::Start,
                            },
                        },
                        filter: SplitFilter::default(),
                    }
                }
            }
        }
        (Some(StreamOption::All(a)), count) => {
            let filter = split_filter(o.filter_option)?;
            match count {
                Some(n) => ReadRequest::Read {
                    plan: ReadPlan {
                        target: ReadTarget::All(filter.domain.clone()),
                        direction,
                        start: match a.all_option {
                            Some(AllOption::Position(p)) => ReadStart::Position(p.commit_position),
                            Some(AllOption::End(_)) => ReadStart::End,
                            Some(AllOption::Start(_)) | None => match direction {
                                Direction::Forwards => ReadStart::Start,
                                Direction::Backwards => ReadStart::End,
                            },
                        },
                        max_count: filter.predicate.is_none().then_some(n),
                    },
                    filter,
                    count: n,
                },
                None => {
                    if direction == Direction::Backwards {
                        return Err(errors::bad_request("subscriptions read forwards only"));
                    }
                    ReadRequest::Subscribe {
                        plan: SubscribePlan {
                            target: SubscribeTarget::All {
                                filter: filter.domain.clone(),
                                checkpoint_interval_events: filter
                                    .checkpoint_interval_events
                                    .unwrap_or(u64::MAX),
                            },
                            start: match a.all_option {
                                Some(AllOption::Position(p)) => {
                                    SubscribeStart::After(p.commit_position)
                                }
                                Some(AllOption::End(_)) => SubscribeStart::End,
                                Some(AllOption::Start(_)) | None => SubscribeStart::Start,
                            },
                        },
                        filter,
                    }
                }
            }
        }
        (None, _) => return Err(errors::bad_request("stream or all is required")),
    };
    Ok(ReadOptions {
        request,
        structured_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_uuids_are_the_big_endian_halves() {
        let id = Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap();
        let out = uuid_out(id, true);
        match out.value.clone().unwrap() {
            shared::uuid::Value::Structured(s) => {
                assert_eq!(s.most_significant_bits, 0x0011_2233_4455_6677);
                assert_eq!(s.least_significant_bits as u64, 0x8899_aabb_ccdd_eeff);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(uuid(Some(out)).unwrap(), id);
        assert_eq!(uuid(Some(uuid_out(id, false))).unwrap(), id);
    }

    #[test]
    fn created_is_ticks_since_the_unix_epoch() {
        assert_eq!(
            ticks_since_unix_epoch(1_700_000_000_000_000),
            17_000_000_000_000_000
        );
    }

    #[test]
    fn proposed_events_need_type_and_content_type() {
        let id = Some(uuid_out(Uuid::new_v4(), false));
        let md = HashMap::from([(TYPE_KEY.to_owned(), "T".to_owned())]);
        let e = new_event(id, md, vec![], vec![]).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            e.metadata().get(errors::EXCEPTION_KEY).unwrap(),
            "missing-required-metadata-property"
        );
    }
}
