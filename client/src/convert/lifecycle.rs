//! Protobuf ↔ client types for a stream's lifecycle (metadata, deletes).

use strata_proto::v1 as pb;

use crate::error::{Error, Result};
use crate::lifecycle::{MetadataWritten, StreamMetadata, StreamMetadataInfo};
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
}
