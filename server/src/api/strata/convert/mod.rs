//! The one place where protobuf messages (`strata_proto::v1`) convert to
//! and from domain types (the storage engine's, and the request plans of
//! `domain`).
//!
//! It owns request *shape* checks that storage cannot make: event ids must
//! parse as UUIDs, enum values must be known, `from` variants must fit the
//! target (`revision` for streams, `position` for `$all`), filters only on
//! `$all`. It also applies the API's defaults (unset expected revision =
//! any, empty content type = `application/octet-stream`, unset `from` =
//! start forwards / end backwards).
//!
//! It is not where stream names, event types or sizes are validated: the
//! storage engine does that, and `api::status` maps its errors. It does no
//! I/O.

pub mod backup;
pub mod groups;
pub mod security;
pub mod session;

use crate::api::status;
use crate::domain::catalog::ServerFacts;
use crate::domain::read::{ReadPlan, ReadStart, ReadTarget};
use crate::domain::subscribe::{SubscribePlan, SubscribeStart, SubscribeTarget};
use strata_proto::v1 as pb;
use strata_storage as st;
use tonic::Status;

/// The stream name that means "the global log".
pub const ALL_STREAM: &str = "$all";

/// Content type given to events that arrive without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Default (and lower bound) of `SubscribeRequest.checkpoint_interval`, in events scanned.
pub const DEFAULT_CHECKPOINT_INTERVAL_EVENTS: u64 = 1024;

/// One proposed event to a storage event.
pub fn new_event(e: pb::ProposedEvent) -> Result<st::NewEvent, Status> {
    let id = uuid::Uuid::try_parse(&e.id).map_err(|err| {
        status::invalid_event(format!("event id {:?} is not a UUID: {err}", e.id))
    })?;
    let content_type = if e.content_type.is_empty() {
        DEFAULT_CONTENT_TYPE.to_owned()
    } else {
        e.content_type
    };
    Ok(st::NewEvent {
        id,
        event_type: e.r#type,
        content_type,
        data: e.data,
        metadata: e.metadata,
    })
}

/// The proto oneof to a storage expected revision (unset = any).
pub fn expected_revision(e: Option<pb::append_request::ExpectedRevision>) -> st::ExpectedRevision {
    use pb::append_request::ExpectedRevision as E;
    match e {
        None | Some(E::Any(_)) => st::ExpectedRevision::Any,
        Some(E::NoStream(_)) => st::ExpectedRevision::NoStream,
        Some(E::StreamExists(_)) => st::ExpectedRevision::StreamExists,
        Some(E::Exact(r)) => st::ExpectedRevision::Exact(r),
    }
}

/// One append request to one stream's part of a transaction.
pub fn stream_append(r: pb::AppendRequest) -> Result<st::StreamAppend, Status> {
    let expected = expected_revision(r.expected_revision);
    let events = r
        .events
        .into_iter()
        .map(new_event)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(st::StreamAppend {
        stream: r.stream,
        expected,
        events,
    })
}

/// A storage append result to the response message (1:1).
pub fn append_response(r: &st::AppendResult) -> pb::AppendResponse {
    pb::AppendResponse {
        first_revision: r.first_revision,
        last_revision: r.last_revision,
        first_position: r.first_position,
        last_position: r.last_position,
        deduplicated: r.deduplicated,
    }
}

/// Stored events to their messages, in order.
pub fn recorded_events(events: Vec<st::RecordedEvent>) -> Vec<pb::RecordedEvent> {
    events.into_iter().map(recorded_event).collect()
}

/// A stored event to its message.
pub fn recorded_event(e: st::RecordedEvent) -> pb::RecordedEvent {
    pb::RecordedEvent {
        stream: e.stream,
        revision: e.revision,
        position: e.position,
        id: e.id.hyphenated().to_string(),
        r#type: e.event_type,
        content_type: e.content_type,
        created_micros: e.created_micros,
        data: e.data,
        metadata: e.metadata,
    }
}

/// A proto filter (absent = match all) to a storage filter.
pub fn filter(f: Option<pb::Filter>) -> st::Filter {
    match f {
        None => st::Filter::default(),
        Some(f) => st::Filter {
            event_types: f.event_types,
            stream_prefixes: f.stream_prefixes,
            include_system: f.include_system,
        },
    }
}

/// The proto direction number to a storage direction.
pub fn direction(d: i32) -> Result<st::Direction, Status> {
    match pb::Direction::try_from(d) {
        Ok(pb::Direction::Forwards) => Ok(st::Direction::Forwards),
        Ok(pb::Direction::Backwards) => Ok(st::Direction::Backwards),
        Err(_) => Err(status::invalid_request(format!("unknown direction {d}"))),
    }
}

/// Validates the shape of a read request.
pub fn read_plan(r: pb::ReadRequest) -> Result<ReadPlan, Status> {
    use pb::read_request::From as F;
    let direction = direction(r.direction)?;
    let is_all = r.stream == ALL_STREAM;
    let start = match r.from {
        None => match direction {
            st::Direction::Forwards => ReadStart::Start,
            st::Direction::Backwards => ReadStart::End,
        },
        Some(F::Start(_)) => ReadStart::Start,
        Some(F::End(_)) => ReadStart::End,
        Some(F::Revision(_)) if is_all => {
            return Err(status::invalid_request(
                "from.revision is for stream reads; use from.position on \"$all\"",
            ))
        }
        Some(F::Revision(rev)) => ReadStart::Revision(rev),
        Some(F::Position(_)) if !is_all => {
            return Err(status::invalid_request(
                "from.position is for \"$all\" reads; use from.revision on a stream",
            ))
        }
        Some(F::Position(p)) => ReadStart::Position(p),
        Some(F::TimestampMicros(t)) => ReadStart::Timestamp(t),
    };
    let filter = filter(r.filter);
    let target = if is_all {
        ReadTarget::All(filter)
    } else {
        if !filter.is_empty() {
            return Err(status::invalid_request(
                "filters apply to \"$all\" reads only",
            ));
        }
        ReadTarget::Stream(r.stream)
    };
    let max_count = (r.max_count != 0).then_some(r.max_count);
    Ok(ReadPlan {
        target,
        direction,
        start,
        max_count,
    })
}

/// Validates the shape of a subscribe request.
pub fn subscribe_plan(r: pb::SubscribeRequest) -> Result<SubscribePlan, Status> {
    use pb::subscribe_request::From as F;
    let is_all = r.stream == ALL_STREAM;
    let start = match r.from {
        None | Some(F::Start(_)) => SubscribeStart::Start,
        Some(F::End(_)) => SubscribeStart::End,
        Some(F::AfterRevision(_)) if is_all => {
            return Err(status::invalid_request(
                "from.after_revision is for stream subscriptions; use from.after_position on \"$all\"",
            ))
        }
        Some(F::AfterPosition(_)) if !is_all => {
            return Err(status::invalid_request(
                "from.after_position is for \"$all\" subscriptions; use from.after_revision on a stream",
            ))
        }
        Some(F::AfterRevision(x)) | Some(F::AfterPosition(x)) => SubscribeStart::After(x),
    };
    let filter = filter(r.filter);
    let target = if is_all {
        let checkpoint_interval_events = match r.checkpoint_interval {
            0 => DEFAULT_CHECKPOINT_INTERVAL_EVENTS,
            n => u64::from(n),
        };
        SubscribeTarget::All {
            filter,
            checkpoint_interval_events,
        }
    } else {
        if !filter.is_empty() {
            return Err(status::invalid_request(
                "filters apply to \"$all\" subscriptions only",
            ));
        }
        if r.checkpoint_interval != 0 {
            return Err(status::invalid_request(
                "checkpoint_interval applies to \"$all\" subscriptions only",
            ));
        }
        SubscribeTarget::Stream(r.stream)
    };
    Ok(SubscribePlan { target, start })
}

/// A stream listing entry to its message.
pub fn stream_summary(s: st::StreamInfo) -> pb::StreamSummary {
    pb::StreamSummary {
        name: s.name,
        revision: s.revision,
        last_position: s.last_position,
    }
}

/// Listed event types or categories to their messages.
pub fn name_counts(names: impl IntoIterator<Item = st::NameCount>) -> Vec<pb::NameCount> {
    names
        .into_iter()
        .map(|n| pb::NameCount {
            name: n.name,
            events: n.events,
        })
        .collect()
}

/// The server's facts to the `ServerInfo` response.
pub fn server_info(f: ServerFacts) -> pb::ServerInfoResponse {
    pb::ServerInfoResponse {
        head_position: f.head,
        indexed_position: f.indexed,
        version: f.version.to_owned(),
        max_event_bytes: f.max_event_bytes as u64,
        max_events_per_append: f.max_events_per_append as u64,
        max_append_bytes: f.max_append_bytes as u64,
    }
}

/// Stream metadata from its message (absent = no rules, no custom data).
pub fn stream_metadata(m: Option<pb::StreamMetadata>) -> st::StreamMetadata {
    let m = m.unwrap_or_default();
    st::StreamMetadata {
        max_count: m.max_count,
        max_age_seconds: m.max_age_seconds,
        truncate_before: m.truncate_before,
        custom: m.custom,
    }
}

/// The metadata's expected revision (unset = any).
pub fn expected_metadata_revision(
    e: Option<pb::set_stream_metadata_request::ExpectedMetadataRevision>,
) -> st::ExpectedRevision {
    use pb::set_stream_metadata_request::ExpectedMetadataRevision as E;
    match e {
        None | Some(E::Any(_)) => st::ExpectedRevision::Any,
        Some(E::NoStream(_)) => st::ExpectedRevision::NoStream,
        Some(E::Exact(r)) => st::ExpectedRevision::Exact(r),
    }
}

/// The delete's expected revision (unset = any).
pub fn expected_delete_revision(
    e: Option<pb::delete_stream_request::ExpectedRevision>,
) -> st::ExpectedRevision {
    use pb::delete_stream_request::ExpectedRevision as E;
    match e {
        None | Some(E::Any(_)) => st::ExpectedRevision::Any,
        Some(E::NoStream(_)) => st::ExpectedRevision::NoStream,
        Some(E::StreamExists(_)) => st::ExpectedRevision::StreamExists,
        Some(E::Exact(r)) => st::ExpectedRevision::Exact(r),
    }
}

/// What `GetStreamMetadata` answers.
pub fn stream_metadata_response(i: st::StreamMetadataInfo) -> pb::GetStreamMetadataResponse {
    let m = i.metadata;
    pb::GetStreamMetadataResponse {
        metadata: Some(pb::StreamMetadata {
            max_count: m.max_count,
            max_age_seconds: m.max_age_seconds,
            truncate_before: m.truncate_before,
            custom: m.custom,
        }),
        metadata_revision: i.metadata_revision,
        deleted: i.deleted,
        tombstoned: i.tombstoned,
    }
}

/// A scavenge's status to its message.
pub fn scavenge_status(s: st::ScavengeStatus) -> pb::ScavengeStatus {
    let state = match s.state {
        st::ScavengeState::Running => pb::ScavengeState::Running,
        st::ScavengeState::Completed => pb::ScavengeState::Completed,
        st::ScavengeState::Stopped => pb::ScavengeState::Stopped,
        st::ScavengeState::Failed => pb::ScavengeState::Failed,
    };
    pb::ScavengeStatus {
        id: s.id.hyphenated().to_string(),
        state: state as i32,
        current_segment: s.current_segment,
        segments_done: s.segments_done,
        segments_total: s.segments_total,
        bytes_processed: s.bytes_processed,
        bytes_reclaimed: s.bytes_reclaimed,
        records_dropped: s.records_dropped,
        started_micros: s.started_micros,
        finished_micros: s.finished_micros,
        error: s.error.unwrap_or_default(),
        max_bytes_per_second: s.max_bytes_per_second,
    }
}

/// A `SaveSnapshot` request to a storage snapshot (`created_micros` is set
/// by the store).
pub fn snapshot_to_save(r: pb::SaveSnapshotRequest) -> st::Snapshot {
    st::Snapshot {
        stream: r.stream,
        revision: r.revision,
        snapshot_type: r.r#type,
        schema_version: r.schema_version,
        data: r.data,
        metadata: r.metadata,
        created_micros: 0,
    }
}

/// A stored snapshot to its message (1:1).
pub fn snapshot(s: st::Snapshot) -> pb::Snapshot {
    pb::Snapshot {
        stream: s.stream,
        revision: s.revision,
        r#type: s.snapshot_type,
        schema_version: s.schema_version,
        data: s.data,
        metadata: s.metadata,
        created_micros: s.created_micros,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn ev(id: &str, ct: &str) -> pb::ProposedEvent {
        pb::ProposedEvent {
            id: id.into(),
            r#type: "T".into(),
            content_type: ct.into(),
            data: vec![1],
            metadata: vec![],
        }
    }

    #[test]
    fn event_defaults_and_bad_ids() {
        let e = new_event(ev("8c0e7e5c-3f6a-4f0e-9a55-2f4f1b1e2d3c", "")).unwrap();
        assert_eq!(e.content_type, DEFAULT_CONTENT_TYPE);
        let err = new_event(ev("not-a-uuid", "x")).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(
            new_event(ev("", "x")).unwrap_err().code(),
            Code::InvalidArgument
        );
    }

    #[test]
    fn snapshot_fields_carry_over() {
        let req = pb::SaveSnapshotRequest {
            stream: "s".into(),
            revision: 4,
            r#type: "T".into(),
            schema_version: 2,
            data: vec![1, 2],
            metadata: vec![3],
        };
        let st = snapshot_to_save(req);
        assert_eq!((st.revision, st.schema_version), (4, 2));
        let back = snapshot(st);
        assert_eq!(back.r#type, "T");
        assert_eq!((back.data, back.metadata), (vec![1, 2], vec![3]));
    }

    #[test]
    fn unset_expected_is_any() {
        assert_eq!(expected_revision(None), st::ExpectedRevision::Any);
    }

    #[test]
    fn read_from_must_fit_target() {
        use pb::read_request::From as F;
        let req = |stream: &str, from| pb::ReadRequest {
            stream: stream.into(),
            from,
            ..Default::default()
        };
        assert!(read_plan(req("$all", Some(F::Revision(1)))).is_err());
        assert!(read_plan(req("s", Some(F::Position(1)))).is_err());
        assert_eq!(
            read_plan(req("s", Some(F::Revision(1)))).unwrap().start,
            ReadStart::Revision(1)
        );
        let mut r = req("s", None);
        r.direction = 7;
        assert_eq!(read_plan(r).unwrap_err().code(), Code::InvalidArgument);
        let mut r = req("s", None);
        r.filter = Some(pb::Filter {
            event_types: vec!["x".into()],
            ..Default::default()
        });
        assert!(read_plan(r).is_err());
        let mut r = req("s", None);
        r.direction = pb::Direction::Backwards as i32;
        assert_eq!(read_plan(r).unwrap().start, ReadStart::End);
    }

    #[test]
    fn subscribe_from_must_fit_target() {
        use pb::subscribe_request::From as F;
        let req = |stream: &str, from| pb::SubscribeRequest {
            stream: stream.into(),
            from,
            ..Default::default()
        };
        assert!(subscribe_plan(req("$all", Some(F::AfterRevision(1)))).is_err());
        assert!(subscribe_plan(req("s", Some(F::AfterPosition(1)))).is_err());
        let p = subscribe_plan(req("$all", None)).unwrap();
        assert_eq!(p.start, SubscribeStart::Start);
        assert_eq!(
            p.target,
            SubscribeTarget::All {
                filter: st::Filter::default(),
                checkpoint_interval_events: 1024
            }
        );
    }
}
