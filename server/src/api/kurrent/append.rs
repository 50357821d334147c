//! `Streams.Append` (client-streaming: options, then proposed messages),
//! and [`write`], the one append path `Append` and `BatchAppend` share.
//!
//! A wrong expected revision is an `AppendResp.wrong_expected_version`
//! *response*, as KurrentDB clients expect, not a status. An append to
//! `$$<stream>` is a metadata change: one `$metadata` event whose JSON
//! body becomes the stream's lifecycle metadata (checked against the
//! metadata's revision, needing the `metadata` permission, audited as
//! strata.v1's `SetStreamMetadata` is). An append of no events writes
//! nothing and only checks the expected revision, as KurrentDB does.
//!
//! Collecting an append's messages stops at Strata's limits (events per
//! append, bytes per append), so a client cannot make the server buffer
//! more than one maximal append per call.
//!
//! Not here: protobuf shapes (`convert`), error shapes (`errors`).

use super::convert::{self, metadata, Written};
use super::errors::{self, Op};
use crate::domain::read::{ReadPlan, ReadStart, ReadTarget};
use crate::domain::security::{Caller, Need, Permission};
use crate::domain::{Error, Node};
use futures::StreamExt;
use strata_proto::kurrent::streams as pb;
use strata_storage::lifecycle::stream_of_metadata;
use strata_storage::{
    limits, CurrentRevision, Direction, Error as StorageError, ExpectedRevision, NewEvent,
    StreamAppend,
};
use tonic::{Status, Streaming};

/// Bytes an event counts against [`limits::MAX_APPEND_BYTES`] while an
/// append is collected (its payloads; the store checks the exact size).
pub fn event_bytes(e: &NewEvent) -> usize {
    e.data.len() + e.metadata.len() + e.event_type.len() + e.content_type.len()
}

/// Whether one more event of `bytes` keeps an append within Strata's
/// limits, given `events` and `total` bytes so far.
pub fn within_limits(events: usize, total: usize, bytes: usize) -> Result<(), String> {
    if events + 1 > limits::MAX_EVENTS_PER_APPEND {
        return Err(format!(
            "append has more than {} events",
            limits::MAX_EVENTS_PER_APPEND
        ));
    }
    if total.saturating_add(bytes) > limits::MAX_APPEND_BYTES {
        return Err(format!("append is over {} bytes", limits::MAX_APPEND_BYTES));
    }
    Ok(())
}

/// Serves one `Append` call for `caller`.
pub async fn append(
    node: &Node,
    caller: &Caller,
    mut messages: Streaming<pb::AppendReq>,
) -> Result<pb::AppendResp, Status> {
    use pb::append_req::Content;
    let options = match messages.next().await {
        Some(Ok(pb::AppendReq {
            content: Some(Content::Options(o)),
        })) => o,
        Some(Err(s)) => return Err(s),
        _ => return Err(errors::bad_request("an append starts with its options")),
    };
    let stream = convert::stream_name(options.stream_identifier)?;
    let expected = convert::append_expected(options.expected_stream_revision);
    // Checked before the events arrive, as KurrentDB does.
    check_write(caller, &stream).map_err(|e| errors::status(e, Op::Append))?;
    let (mut events, mut total) = (Vec::new(), 0usize);
    while let Some(m) = messages.next().await {
        let m = match m?.content {
            Some(Content::ProposedMessage(m)) => m,
            _ => {
                return Err(errors::bad_request(
                    "only proposed messages follow the options",
                ))
            }
        };
        let e = convert::new_event(m.id, m.metadata, m.custom_metadata, m.data)?;
        let bytes = event_bytes(&e);
        within_limits(events.len(), total, bytes).map_err(errors::append_over_limit)?;
        total += bytes;
        events.push(e);
    }
    match write(node, caller, stream, expected, events).await {
        Ok(w) => Ok(convert::append_success(w)),
        Err(Error::Storage(StorageError::WrongExpectedRevision {
            expected, actual, ..
        })) => Ok(convert::append_wrong_expected_version(expected, actual)),
        Err(e) => Err(errors::status(e, Op::Append)),
    }
}

/// The permission an append to `stream` needs: `metadata` on the owner
/// for `$$owner`, else `write`.
pub fn check_write(caller: &Caller, stream: &str) -> Result<(), Error> {
    match stream_of_metadata(stream) {
        Some(owner) => caller.check(Need::Stream(Permission::Metadata, owner)),
        None => caller.check(Need::Stream(Permission::Write, stream)),
    }
}

/// Appends `events` to `stream` (a metadata change for `$$owner`, a
/// check only for no events), after the permission check.
pub async fn write(
    node: &Node,
    caller: &Caller,
    stream: String,
    expected: ExpectedRevision,
    mut events: Vec<NewEvent>,
) -> Result<Written, Error> {
    check_write(caller, &stream)?;
    if let Some(owner) = stream_of_metadata(&stream) {
        let owner = owner.to_owned();
        let event = match (events.pop(), events.is_empty()) {
            (Some(e), true) if e.event_type == metadata::METADATA_EVENT_TYPE => e,
            _ => {
                return Err(Error::InvalidRequest(format!(
                    "an append to {stream:?} is one {:?} event (stream metadata)",
                    metadata::METADATA_EVENT_TYPE
                )))
            }
        };
        let md = metadata::from_json(&event.data)
            .map_err(|s| Error::InvalidRequest(s.message().to_owned()))?;
        let written = node.set_stream_metadata(owner.clone(), expected, md).await;
        let written = node
            .audited(caller, "setStreamMetadata", &owner, written)
            .await?;
        return Ok(Written {
            revision: Some(written.metadata_revision),
            position: Some(written.position),
        });
    }
    if events.is_empty() {
        return check_only(node, stream, expected).await;
    }
    let r = node
        .append(StreamAppend {
            stream,
            expected,
            events,
        })
        .await?;
    Ok(Written::from(&r))
}

/// An append of no events: nothing is written; the expected revision is
/// checked against the stream's last visible revision.
async fn check_only(
    node: &Node,
    stream: String,
    expected: ExpectedRevision,
) -> Result<Written, Error> {
    let plan = ReadPlan {
        target: ReadTarget::Stream(stream.clone()),
        direction: Direction::Backwards,
        start: ReadStart::End,
        max_count: Some(1),
    };
    let actual = match node.read(plan).await {
        Ok(mut pages) => match pages.next().await {
            Some(Ok(page)) => page.last().map_or(CurrentRevision::NoStream, |e| {
                CurrentRevision::Current(e.revision)
            }),
            Some(Err(e)) => return Err(e),
            None => CurrentRevision::NoStream,
        },
        Err(Error::Storage(StorageError::StreamNotFound(_) | StorageError::StreamDeleted(_))) => {
            CurrentRevision::NoStream
        }
        Err(e) => return Err(e),
    };
    let holds = match (expected, actual) {
        (ExpectedRevision::Any, _) => true,
        (ExpectedRevision::NoStream, a) => a == CurrentRevision::NoStream,
        (ExpectedRevision::StreamExists, a) => a != CurrentRevision::NoStream,
        (ExpectedRevision::Exact(r), a) => a == CurrentRevision::Current(r),
    };
    if !holds {
        return Err(Error::Storage(StorageError::WrongExpectedRevision {
            stream,
            expected,
            actual,
        }));
    }
    Ok(Written {
        revision: actual.revision(),
        position: None,
    })
}
