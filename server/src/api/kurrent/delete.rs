//! `Streams.Delete` (a soft delete: the stream reads as absent and may be
//! written again, continuing its revisions) and `Streams.Tombstone` (for
//! good), over the domain's `delete_stream`, with strata.v1's permission
//! (`delete`) and audit. KurrentDB answers a wrong expected revision here
//! with a `wrong-expected-version` *status* (unlike `Append`), and
//! deleting an absent stream as a wrong expected version with actual
//! version -1; `errors` shapes both.
//!
//! KurrentDB refuses soft-deleting a stream that never existed (whatever
//! the expected revision: clients report "not found") and soft-deleting a
//! deleted stream while expecting it to exist ("is deleted"), where
//! Strata's own delete would write a record; the stream's state is read
//! first to answer as KurrentDB does (a check, then the delete: a stream
//! created in between is still refused). Deleting a deleted stream again
//! with `any`, and tombstoning a stream that never existed, succeed in
//! both.
//!
//! Not here: the lifecycle rules (storage), error shapes (`errors`).

use super::convert;
use super::errors::{self, Op};
use crate::domain::read::{ReadPlan, ReadStart, ReadTarget};
use crate::domain::security::{Caller, Need, Permission};
use crate::domain::{Error, Node};
use strata_storage::{CurrentRevision, Direction, Error as StorageError, ExpectedRevision};
use tonic::Status;

/// Deletes (`tombstone` false) or tombstones `stream`; the position of
/// the lifecycle record.
pub async fn delete(
    node: &Node,
    caller: &Caller,
    stream: String,
    expected: ExpectedRevision,
    tombstone: bool,
) -> Result<u64, Status> {
    let op = if tombstone { Op::Tombstone } else { Op::Delete };
    caller
        .check(Need::Stream(Permission::Delete, &stream))
        .map_err(|e| errors::status(e, op))?;
    let action = if tombstone {
        "tombstoneStream"
    } else {
        "deleteStream"
    };
    if !tombstone {
        match node.read(last_event(&stream)).await {
            Err(Error::Storage(StorageError::StreamNotFound(_))) => {
                return Err(errors::wrong_expected_version(
                    op,
                    &stream,
                    expected,
                    CurrentRevision::NoStream,
                ))
            }
            Err(Error::Storage(StorageError::StreamDeleted(_)))
                if expected == ExpectedRevision::StreamExists =>
            {
                return Err(errors::stream_deleted(&stream))
            }
            // Anything else is the delete's own business (tombstoned:
            // refused by it as `stream-deleted`).
            _ => {}
        }
    }
    let r = node
        .delete_stream(stream.clone(), expected, tombstone)
        .await;
    node.audited(caller, action, &stream, r)
        .await
        .map_err(|e| errors::status(e, op))
}

/// A read of `stream`'s last event: what tells never-existed, deleted and
/// live streams apart.
fn last_event(stream: &str) -> ReadPlan {
    ReadPlan {
        target: ReadTarget::Stream(stream.to_owned()),
        direction: Direction::Backwards,
        start: ReadStart::End,
        max_count: Some(1),
    }
}

/// Serves `Delete`.
pub async fn soft(
    node: &Node,
    caller: &Caller,
    r: strata_proto::kurrent::streams::DeleteReq,
) -> Result<strata_proto::kurrent::streams::DeleteResp, Status> {
    use strata_proto::kurrent::streams::delete_resp::{Position, PositionOption};
    let o = r
        .options
        .ok_or_else(|| errors::bad_request("options are required"))?;
    let stream = convert::stream_name(o.stream_identifier)?;
    let p = delete(
        node,
        caller,
        stream,
        convert::delete_expected(o.expected_stream_revision),
        false,
    )
    .await?;
    Ok(strata_proto::kurrent::streams::DeleteResp {
        position_option: Some(PositionOption::Position(Position {
            commit_position: p,
            prepare_position: p,
        })),
    })
}

/// Serves `Tombstone`.
pub async fn tombstone(
    node: &Node,
    caller: &Caller,
    r: strata_proto::kurrent::streams::TombstoneReq,
) -> Result<strata_proto::kurrent::streams::TombstoneResp, Status> {
    use strata_proto::kurrent::streams::tombstone_resp::{Position, PositionOption};
    let o = r
        .options
        .ok_or_else(|| errors::bad_request("options are required"))?;
    let stream = convert::stream_name(o.stream_identifier)?;
    let p = delete(
        node,
        caller,
        stream,
        convert::tombstone_expected(o.expected_stream_revision),
        true,
    )
    .await?;
    Ok(strata_proto::kurrent::streams::TombstoneResp {
        position_option: Some(PositionOption::Position(Position {
            commit_position: p,
            prepare_position: p,
        })),
    })
}
