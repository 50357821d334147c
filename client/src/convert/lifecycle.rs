//! Protobuf ↔ client types for a stream's lifecycle (metadata, deletes) and
//! for scavenges (the `Admin` service).

use strata_proto::v1 as pb;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::lifecycle::{
    MetadataWritten, ScavengeState, ScavengeStatus, StreamMetadata, StreamMetadataInfo,
};
use crate::types::ExpectedRevision;

/// A metadata change's expected revision (of the metadata, not the
/// stream). `StreamExists` has no meaning there: refused locally.
pub(crate) fn expected_metadata_to_pb(
    e: ExpectedRevision,
) -> Result<pb::set_stream_metadata_request::ExpectedMetadataRevision> {
    use pb::set_stream_metadata_request::ExpectedMetadataRevision as P;
    match e {
        ExpectedRevision::Any => Ok(P::Any(pb::Empty {})),
        ExpectedRevision::NoStream => Ok(P::NoStream(pb::Empty {})),
        ExpectedRevision::Exact(r) => Ok(P::Exact(r)),
        ExpectedRevision::StreamExists => Err(Error::InvalidArgument {
            kind: strata_proto::wire::kind::INVALID_REQUEST.to_owned(),
            message: "a metadata change expects the metadata's revision: any, no stream \
                      (never set) or an exact revision, not \"stream exists\""
                .to_owned(),
        }),
    }
}

pub(crate) fn stream_metadata_to_pb(m: StreamMetadata) -> pb::StreamMetadata {
    pb::StreamMetadata {
        max_count: m.max_count,
        max_age_seconds: m.max_age_seconds,
        truncate_before: m.truncate_before,
        custom: m.custom,
    }
}

pub(crate) fn set_stream_metadata_to_pb(
    stream: String,
    expected: ExpectedRevision,
    metadata: StreamMetadata,
) -> Result<pb::SetStreamMetadataRequest> {
    Ok(pb::SetStreamMetadataRequest {
        stream,
        expected_metadata_revision: Some(expected_metadata_to_pb(expected)?),
        metadata: Some(stream_metadata_to_pb(metadata)),
    })
}

pub(crate) fn metadata_written_from_pb(r: pb::SetStreamMetadataResponse) -> MetadataWritten {
    MetadataWritten {
        metadata_revision: r.metadata_revision,
        position: r.position,
    }
}

/// Absent metadata is the default (no rules, no custom bytes), as in proto3.
pub(crate) fn stream_metadata_from_pb(m: Option<pb::StreamMetadata>) -> StreamMetadata {
    let m = m.unwrap_or_default();
    StreamMetadata {
        max_count: m.max_count,
        max_age_seconds: m.max_age_seconds,
        truncate_before: m.truncate_before,
        custom: m.custom,
    }
}

pub(crate) fn stream_metadata_info_from_pb(r: pb::GetStreamMetadataResponse) -> StreamMetadataInfo {
    StreamMetadataInfo {
        metadata: stream_metadata_from_pb(r.metadata),
        metadata_revision: r.metadata_revision,
        deleted: r.deleted,
        tombstoned: r.tombstoned,
    }
}

pub(crate) fn delete_stream_to_pb(
    stream: String,
    expected: ExpectedRevision,
    tombstone: bool,
) -> pb::DeleteStreamRequest {
    use pb::delete_stream_request::ExpectedRevision as P;
    pb::DeleteStreamRequest {
        stream,
        expected_revision: Some(match expected {
            ExpectedRevision::Any => P::Any(pb::Empty {}),
            ExpectedRevision::NoStream => P::NoStream(pb::Empty {}),
            ExpectedRevision::StreamExists => P::StreamExists(pb::Empty {}),
            ExpectedRevision::Exact(r) => P::Exact(r),
        }),
        tombstone,
    }
}

/// A scavenge status; an id that is not a UUID, or a state this client
/// does not know (including unspecified), is malformed.
pub(crate) fn scavenge_status_from_pb(s: pb::ScavengeStatus) -> Result<ScavengeStatus> {
    let id = Uuid::parse_str(&s.id)
        .map_err(|err| Error::MalformedResponse(format!("scavenge id {:?}: {err}", s.id)))?;
    let state = match pb::ScavengeState::try_from(s.state) {
        Ok(pb::ScavengeState::Running) => ScavengeState::Running,
        Ok(pb::ScavengeState::Completed) => ScavengeState::Completed,
        Ok(pb::ScavengeState::Stopped) => ScavengeState::Stopped,
        Ok(pb::ScavengeState::Failed) => ScavengeState::Failed,
        Ok(pb::ScavengeState::Unspecified) | Err(_) => {
            return Err(Error::MalformedResponse(format!(
                "scavenge {id}: unknown state {}",
                s.state
            )));
        }
    };
    Ok(ScavengeStatus {
        id,
        state,
        current_segment: s.current_segment,
        segments_done: s.segments_done,
        segments_total: s.segments_total,
        bytes_processed: s.bytes_processed,
        bytes_reclaimed: s.bytes_reclaimed,
        records_dropped: s.records_dropped,
        started_micros: s.started_micros,
        finished_micros: s.finished_micros,
        error: (!s.error.is_empty()).then_some(s.error),
        max_bytes_per_second: s.max_bytes_per_second,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_expectations() {
        use pb::set_stream_metadata_request::ExpectedMetadataRevision as P;
        let to = |e| expected_metadata_to_pb(e).unwrap();
        assert_eq!(to(ExpectedRevision::Any), P::Any(pb::Empty {}));
        assert_eq!(to(ExpectedRevision::NoStream), P::NoStream(pb::Empty {}));
        assert_eq!(to(ExpectedRevision::Exact(4)), P::Exact(4));
        let refused = expected_metadata_to_pb(ExpectedRevision::StreamExists);
        assert!(
            matches!(&refused, Err(Error::InvalidArgument { kind, .. }) if kind == "invalid-request"),
            "{refused:?}"
        );
        assert!(set_stream_metadata_to_pb(
            "s".into(),
            ExpectedRevision::StreamExists,
            StreamMetadata::new()
        )
        .is_err());
    }

    #[test]
    fn metadata_roundtrip() {
        let m = StreamMetadata::new()
            .max_count(10)
            .max_age_seconds(60)
            .truncate_before(3)
            .custom(b"c".to_vec());
        let req =
            set_stream_metadata_to_pb("o-1".into(), ExpectedRevision::Exact(2), m.clone()).unwrap();
        assert_eq!(req.stream, "o-1");
        let sent = req.metadata.clone().unwrap();
        assert_eq!(
            (sent.max_count, sent.max_age_seconds, sent.truncate_before),
            (Some(10), Some(60), Some(3))
        );
        let info = stream_metadata_info_from_pb(pb::GetStreamMetadataResponse {
            metadata: req.metadata,
            metadata_revision: Some(3),
            deleted: true,
            tombstoned: false,
        });
        assert_eq!(info.metadata, m);
        assert_eq!(info.metadata_revision, Some(3));
        assert!(info.deleted && !info.tombstoned);

        let written = metadata_written_from_pb(pb::SetStreamMetadataResponse {
            metadata_revision: 3,
            position: 99,
        });
        assert_eq!((written.metadata_revision, written.position), (3, 99));
    }

    #[test]
    fn metadata_never_set() {
        let info = stream_metadata_info_from_pb(pb::GetStreamMetadataResponse::default());
        assert_eq!(info, StreamMetadataInfo::default());
        assert_eq!(info.metadata_revision, None);
        assert_eq!(info.metadata.max_count, None);
    }

    #[test]
    fn delete_requests() {
        use pb::delete_stream_request::ExpectedRevision as P;
        let r = delete_stream_to_pb("o-1".into(), ExpectedRevision::StreamExists, false);
        assert_eq!(r.expected_revision, Some(P::StreamExists(pb::Empty {})));
        assert!(!r.tombstone);
        let r = delete_stream_to_pb("o-1".into(), ExpectedRevision::Exact(7), true);
        assert_eq!(r.expected_revision, Some(P::Exact(7)));
        assert!(r.tombstone);
        let r = delete_stream_to_pb("o-1".into(), ExpectedRevision::NoStream, false);
        assert_eq!(r.expected_revision, Some(P::NoStream(pb::Empty {})));
        let r = delete_stream_to_pb("o-1".into(), ExpectedRevision::Any, false);
        assert_eq!(r.expected_revision, Some(P::Any(pb::Empty {})));
    }

    fn pb_status(state: pb::ScavengeState) -> pb::ScavengeStatus {
        pb::ScavengeStatus {
            id: "67e55044-10b1-426f-9247-bb680e5fe0c8".into(),
            state: state as i32,
            current_segment: Some(1),
            segments_done: 2,
            segments_total: 5,
            bytes_processed: 100,
            bytes_reclaimed: 40,
            records_dropped: 7,
            started_micros: 11,
            finished_micros: None,
            error: String::new(),
            max_bytes_per_second: Some(1 << 20),
        }
    }

    #[test]
    fn scavenge_status() {
        let s = scavenge_status_from_pb(pb_status(pb::ScavengeState::Running)).unwrap();
        assert_eq!(s.id.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert!(s.is_running());
        assert_eq!((s.segments_done, s.segments_total), (2, 5));
        assert_eq!(
            (s.bytes_processed, s.bytes_reclaimed, s.records_dropped),
            (100, 40, 7)
        );
        assert_eq!((s.current_segment, s.finished_micros), (Some(1), None));
        assert_eq!((s.error, s.max_bytes_per_second), (None, Some(1 << 20)));

        let failed = pb::ScavengeStatus {
            error: "disk".into(),
            finished_micros: Some(12),
            ..pb_status(pb::ScavengeState::Failed)
        };
        let s = scavenge_status_from_pb(failed).unwrap();
        assert_eq!(s.state, ScavengeState::Failed);
        assert_eq!(
            (s.error.as_deref(), s.finished_micros),
            (Some("disk"), Some(12))
        );
        for (p, c) in [
            (pb::ScavengeState::Completed, ScavengeState::Completed),
            (pb::ScavengeState::Stopped, ScavengeState::Stopped),
        ] {
            assert_eq!(scavenge_status_from_pb(pb_status(p)).unwrap().state, c);
        }
    }

    #[test]
    fn malformed_scavenge_status() {
        let unspecified = pb_status(pb::ScavengeState::Unspecified);
        assert!(matches!(
            scavenge_status_from_pb(unspecified),
            Err(Error::MalformedResponse(_))
        ));
        let unknown = pb::ScavengeStatus {
            state: 42,
            ..pb_status(pb::ScavengeState::Running)
        };
        assert!(matches!(
            scavenge_status_from_pb(unknown),
            Err(Error::MalformedResponse(_))
        ));
        let bad_id = pb::ScavengeStatus {
            id: "nope".into(),
            ..pb_status(pb::ScavengeState::Running)
        };
        assert!(matches!(
            scavenge_status_from_pb(bad_id),
            Err(Error::MalformedResponse(_))
        ));
    }
}
