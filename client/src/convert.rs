//! The one place where protobuf messages (`strata_proto::v1`) and the
//! client's domain types are converted into each other: events, reads,
//! subscriptions, snapshots and name listings (event types, categories)
//! here, stream lifecycle (metadata, deletes) and scavenges in
//! `convert/lifecycle.rs`, persistent subscriptions (consumer groups) in
//! `convert/groups.rs`.

use strata_proto::v1 as pb;
use uuid::Uuid;

use crate::catalog::{NameCount, NamesPage};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::types::{
    AllFrom, AppendResult, Direction, EventData, ExpectedRevision, RecordedEvent, ServerInfo,
    Snapshot, SnapshotData, StreamAppend, StreamFrom, StreamSummary, StreamsPage, SubscribeFrom,
};

pub(crate) mod groups;
pub(crate) mod lifecycle;

/// The name of the global log in requests.
pub(crate) const ALL_STREAM: &str = "$all";

pub(crate) fn expected_to_pb(e: ExpectedRevision) -> pb::append_request::ExpectedRevision {
    use pb::append_request::ExpectedRevision as P;
    match e {
        ExpectedRevision::Any => P::Any(pb::Empty {}),
        ExpectedRevision::NoStream => P::NoStream(pb::Empty {}),
        ExpectedRevision::StreamExists => P::StreamExists(pb::Empty {}),
        ExpectedRevision::Exact(r) => P::Exact(r),
    }
}

pub(crate) fn event_to_pb(e: EventData) -> pb::ProposedEvent {
    pb::ProposedEvent {
        id: e.id.hyphenated().to_string(),
        r#type: e.event_type,
        content_type: e.content_type,
        data: e.data,
        metadata: e.metadata,
    }
}

pub(crate) fn append_to_pb(
    stream: String,
    expected: ExpectedRevision,
    events: Vec<EventData>,
) -> pb::AppendRequest {
    pb::AppendRequest {
        stream,
        expected_revision: Some(expected_to_pb(expected)),
        events: events.into_iter().map(event_to_pb).collect(),
    }
}

pub(crate) fn stream_append_to_pb(a: StreamAppend) -> pb::AppendRequest {
    append_to_pb(a.stream, a.expected, a.events)
}

pub(crate) fn append_result_from_pb(r: pb::AppendResponse) -> AppendResult {
    AppendResult {
        first_revision: r.first_revision,
        last_revision: r.last_revision,
        first_position: r.first_position,
        last_position: r.last_position,
        deduplicated: r.deduplicated,
    }
}

/// One answer of an append session: the response, or the failure as the
/// status unary `Append` would have returned (code, `strata-error` kind,
/// and for a conflict `strata-stream` and `strata-actual-revision`), so
/// that `error::from_status` reads both paths the same way.
pub(crate) fn session_result_from_pb(
    r: Option<pb::append_session_response::Result>,
) -> std::result::Result<pb::AppendResponse, tonic::Status> {
    use pb::append_session_response::Result as R;
    match r {
        Some(R::Success(ok)) => Ok(ok),
        Some(R::Error(e)) => Err(append_error_to_status(e)),
        None => Err(tonic::Status::internal(
            "an append session answer without a result",
        )),
    }
}

/// An `AppendError` to the status it stands for.
pub(crate) fn append_error_to_status(e: pb::AppendError) -> tonic::Status {
    use pb::append_error::Actual;
    use strata_proto::wire;
    use tonic::metadata::MetadataValue;
    let code = tonic::Code::from_i32(i32::try_from(e.code).unwrap_or(i32::MAX));
    let mut status = tonic::Status::new(code, e.message);
    let md = status.metadata_mut();
    if !e.kind.is_empty() {
        if let Ok(v) = MetadataValue::try_from(e.kind) {
            md.insert(wire::ERROR_KIND_KEY, v);
        }
    }
    if !e.stream.is_empty() {
        if let Ok(v) = MetadataValue::try_from(wire::percent_encode(&e.stream)) {
            md.insert(wire::STREAM_KEY, v);
        }
    }
    let actual = match e.actual {
        Some(Actual::ActualRevision(r)) => Some(r.to_string()),
        Some(Actual::ActualNoStream(_)) => Some(wire::NO_STREAM_VALUE.to_owned()),
        None => None,
    };
    if let Some(v) = actual.and_then(|a| MetadataValue::try_from(a).ok()) {
        md.insert(wire::ACTUAL_REVISION_KEY, v);
    }
    status
}

pub(crate) fn recorded_from_pb(e: pb::RecordedEvent) -> Result<RecordedEvent> {
    let id = Uuid::parse_str(&e.id)
        .map_err(|err| Error::MalformedResponse(format!("event id {:?}: {err}", e.id)))?;
    Ok(RecordedEvent {
        stream: e.stream,
        revision: e.revision,
        position: e.position,
        id,
        event_type: e.r#type,
        content_type: e.content_type,
        created_micros: e.created_micros,
        data: e.data,
        metadata: e.metadata,
    })
}

pub(crate) fn direction_to_pb(d: Direction) -> i32 {
    match d {
        Direction::Forwards => pb::Direction::Forwards as i32,
        Direction::Backwards => pb::Direction::Backwards as i32,
    }
}

/// The filter of a request; `None` (the server's default: every
/// application event, no system records) when it sets nothing.
pub(crate) fn filter_to_pb(f: &Filter) -> Option<pb::Filter> {
    if f.is_empty() && !f.include_system {
        None
    } else {
        Some(pb::Filter {
            event_types: f.event_types.clone(),
            stream_prefixes: f.stream_prefixes.clone(),
            include_system: f.include_system,
        })
    }
}

pub(crate) fn stream_from_to_pb(f: StreamFrom) -> pb::read_request::From {
    use pb::read_request::From as P;
    match f {
        StreamFrom::Start => P::Start(pb::Empty {}),
        StreamFrom::End => P::End(pb::Empty {}),
        StreamFrom::Revision(r) => P::Revision(r),
        StreamFrom::Timestamp(t) => P::TimestampMicros(t),
    }
}

pub(crate) fn all_from_to_pb(f: AllFrom) -> pb::read_request::From {
    use pb::read_request::From as P;
    match f {
        AllFrom::Start => P::Start(pb::Empty {}),
        AllFrom::End => P::End(pb::Empty {}),
        AllFrom::Position(p) => P::Position(p),
        AllFrom::Timestamp(t) => P::TimestampMicros(t),
    }
}

pub(crate) fn read_stream_to_pb(
    stream: &str,
    direction: Direction,
    from: Option<StreamFrom>,
    max_count: u64,
) -> pb::ReadRequest {
    pb::ReadRequest {
        stream: stream.to_owned(),
        direction: direction_to_pb(direction),
        from: from.map(stream_from_to_pb),
        max_count,
        filter: None,
    }
}

pub(crate) fn read_all_to_pb(
    direction: Direction,
    from: Option<AllFrom>,
    max_count: u64,
    filter: &Filter,
) -> pb::ReadRequest {
    pb::ReadRequest {
        stream: ALL_STREAM.to_owned(),
        direction: direction_to_pb(direction),
        from: from.map(all_from_to_pb),
        max_count,
        filter: filter_to_pb(filter),
    }
}

pub(crate) fn list_streams_to_pb(
    prefix: &str,
    page_token: Option<&str>,
    page_size: u32,
) -> pb::ListStreamsRequest {
    pb::ListStreamsRequest {
        prefix: prefix.to_owned(),
        page_token: page_token.unwrap_or_default().to_owned(),
        page_size,
    }
}

pub(crate) fn streams_page_from_pb(r: pb::ListStreamsResponse) -> StreamsPage {
    StreamsPage {
        streams: r
            .streams
            .into_iter()
            .map(|s| StreamSummary {
                name: s.name,
                revision: s.revision,
                last_position: s.last_position,
            })
            .collect(),
        next_page_token: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
    }
}

fn name_counts_from_pb(names: Vec<pb::NameCount>) -> Vec<NameCount> {
    names
        .into_iter()
        .map(|n| NameCount {
            name: n.name,
            events: n.events,
        })
        .collect()
}

pub(crate) fn event_types_page_from_pb(r: pb::ListEventTypesResponse) -> NamesPage {
    NamesPage {
        names: name_counts_from_pb(r.event_types),
        next_page_token: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
        separator: None,
    }
}

pub(crate) fn categories_page_from_pb(r: pb::ListCategoriesResponse) -> NamesPage {
    NamesPage {
        names: name_counts_from_pb(r.categories),
        next_page_token: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
        // One character from a server; anything else is not trusted.
        separator: {
            let mut c = r.separator.chars();
            c.next().filter(|_| c.next().is_none())
        },
    }
}

pub(crate) fn server_info_from_pb(r: pb::ServerInfoResponse) -> ServerInfo {
    ServerInfo {
        head_position: r.head_position,
        indexed_position: r.indexed_position,
        version: r.version,
        max_event_bytes: r.max_event_bytes,
        max_events_per_append: r.max_events_per_append,
        max_append_bytes: r.max_append_bytes,
    }
}

pub(crate) fn subscribe_stream_to_pb(stream: &str, from: SubscribeFrom) -> pb::SubscribeRequest {
    use pb::subscribe_request::From as P;
    pb::SubscribeRequest {
        stream: stream.to_owned(),
        from: Some(match from {
            SubscribeFrom::Start => P::Start(pb::Empty {}),
            SubscribeFrom::End => P::End(pb::Empty {}),
            SubscribeFrom::After(r) => P::AfterRevision(r),
        }),
        filter: None,
        checkpoint_interval: 0,
    }
}

pub(crate) fn subscribe_all_to_pb(
    from: SubscribeFrom,
    filter: &Filter,
    checkpoint_interval: u32,
) -> pb::SubscribeRequest {
    use pb::subscribe_request::From as P;
    pb::SubscribeRequest {
        stream: ALL_STREAM.to_owned(),
        from: Some(match from {
            SubscribeFrom::Start => P::Start(pb::Empty {}),
            SubscribeFrom::End => P::End(pb::Empty {}),
            SubscribeFrom::After(p) => P::AfterPosition(p),
        }),
        filter: filter_to_pb(filter),
        checkpoint_interval,
    }
}

/// What one `SubscribeResponse` carries.
pub(crate) enum SubscribeMessage {
    Events(Vec<pb::RecordedEvent>),
    CaughtUp(u64),
    Checkpoint(u64),
    /// An empty message (no content set): ignored.
    Nothing,
}

pub(crate) fn subscribe_message_from_pb(m: pb::SubscribeResponse) -> SubscribeMessage {
    use pb::subscribe_response::Content;
    match m.content {
        Some(Content::Events(e)) => SubscribeMessage::Events(e.events),
        Some(Content::CaughtUp(c)) => SubscribeMessage::CaughtUp(c.position),
        Some(Content::Checkpoint(c)) => SubscribeMessage::Checkpoint(c.position),
        None => SubscribeMessage::Nothing,
    }
}

pub(crate) fn save_snapshot_to_pb(
    stream: String,
    revision: u64,
    s: SnapshotData,
) -> pb::SaveSnapshotRequest {
    pb::SaveSnapshotRequest {
        stream,
        revision,
        r#type: s.snapshot_type,
        schema_version: s.schema_version,
        data: s.data,
        metadata: s.metadata,
    }
}

pub(crate) fn get_snapshot_to_pb(
    stream: String,
    at_or_before_revision: Option<u64>,
) -> pb::GetSnapshotRequest {
    pb::GetSnapshotRequest {
        stream,
        at_or_before_revision,
    }
}

/// A `GetSnapshot` response to the snapshot; a response without one is
/// malformed (the server answers NOT_FOUND instead).
pub(crate) fn snapshot_from_pb(r: pb::GetSnapshotResponse) -> Result<Snapshot> {
    let s = r.snapshot.ok_or_else(|| {
        Error::MalformedResponse("GetSnapshot response without a snapshot".to_owned())
    })?;
    Ok(Snapshot {
        stream: s.stream,
        revision: s.revision,
        snapshot_type: s.r#type,
        schema_version: s.schema_version,
        data: s.data,
        metadata: s.metadata,
        created_micros: s.created_micros,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_append_error_reads_like_the_unary_status() {
        let conflict = pb::AppendError {
            code: tonic::Code::Aborted as u32,
            kind: "wrong-expected-revision".into(),
            message: "m".into(),
            stream: "order-ü%1".into(),
            actual: Some(pb::append_error::Actual::ActualRevision(7)),
        };
        let e = crate::error::from_status(append_error_to_status(conflict), &|s| {
            (s == "order-ü%1").then_some(ExpectedRevision::Exact(3))
        });
        assert!(
            matches!(&e, Error::WrongExpectedRevision { stream, actual, .. }
                if stream == "order-ü%1" && *actual == crate::CurrentRevision::Current(7)),
            "{e:?}"
        );
        let denied = pb::AppendError {
            code: tonic::Code::PermissionDenied as u32,
            kind: "access-denied".into(),
            message: "no".into(),
            ..Default::default()
        };
        let s = append_error_to_status(denied);
        assert!(!crate::error::is_retryable_status(&s));
        assert!(matches!(
            crate::error::from_plain_status(s),
            Error::PermissionDenied { .. }
        ));
        let ok = session_result_from_pb(Some(pb::append_session_response::Result::Success(
            pb::AppendResponse {
                last_position: 4,
                ..Default::default()
            },
        )));
        assert_eq!(ok.unwrap().last_position, 4);
    }

    #[test]
    fn event_roundtrip() {
        let e = EventData::binary("T", vec![1, 2]).with_metadata(vec![3]);
        let id = e.id;
        let p = event_to_pb(e);
        assert_eq!(p.id, id.to_string());
        let rec = recorded_from_pb(pb::RecordedEvent {
            stream: "s".into(),
            revision: 1,
            position: 2,
            id: p.id,
            r#type: p.r#type,
            content_type: p.content_type,
            created_micros: 5,
            data: p.data,
            metadata: p.metadata,
        })
        .unwrap();
        assert_eq!(rec.id, id);
        assert_eq!(rec.event_type, "T");
        assert_eq!(rec.data, [1, 2]);
        assert_eq!(rec.metadata, [3]);
    }

    #[test]
    fn snapshot_roundtrip() {
        let req = save_snapshot_to_pb(
            "s".into(),
            3,
            SnapshotData::new("T", 2, vec![1]).with_metadata(vec![9]),
        );
        let stored = pb::Snapshot {
            stream: req.stream,
            revision: req.revision,
            r#type: req.r#type,
            schema_version: req.schema_version,
            data: req.data,
            metadata: req.metadata,
            created_micros: 5,
        };
        let s = snapshot_from_pb(pb::GetSnapshotResponse {
            snapshot: Some(stored),
        })
        .unwrap();
        assert_eq!((s.revision, s.schema_version, s.created_micros), (3, 2, 5));
        assert_eq!((s.data, s.metadata), (vec![1], vec![9]));
        assert!(matches!(
            snapshot_from_pb(pb::GetSnapshotResponse { snapshot: None }),
            Err(Error::MalformedResponse(_))
        ));
    }

    #[test]
    fn bad_id_is_malformed() {
        let r = recorded_from_pb(pb::RecordedEvent {
            id: "nope".into(),
            ..Default::default()
        });
        assert!(matches!(r, Err(Error::MalformedResponse(_))));
    }

    #[test]
    fn empty_filter_is_unset() {
        assert!(filter_to_pb(&Filter::new()).is_none());
        assert!(filter_to_pb(&Filter::new().event_type("x")).is_some());
        assert!(filter_to_pb(&Filter::new().include_system(false)).is_none());
    }

    #[test]
    fn include_system_is_sent_even_without_conditions() {
        let p = filter_to_pb(&Filter::new().include_system(true)).unwrap();
        assert!(p.include_system);
        assert!(p.event_types.is_empty() && p.stream_prefixes.is_empty());
        let p = filter_to_pb(&Filter::new().stream_prefix("o-")).unwrap();
        assert!(!p.include_system);
    }

    #[test]
    fn empty_page_token_is_none() {
        let p = streams_page_from_pb(pb::ListStreamsResponse::default());
        assert_eq!(p.next_page_token, None);
    }
}
