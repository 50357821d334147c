//! Protobuf ⇄ domain for `Admin.Backup`: the request's held files to a
//! [`BackupPlan`], and each [`BackupMessage`] to a `BackupResponse`.
//!
//! Not here: what a backup sends or why (`domain::backup`).

use crate::domain::backup::{BackupMessage, BackupPlan, Held};
use strata_proto::v1 as pb;
use strata_storage::BackupFileKind;

/// A `BackupRequest` to the domain's plan (a rate of 0 means no limit).
pub fn backup_plan(r: pb::BackupRequest) -> BackupPlan {
    BackupPlan {
        held: r
            .held
            .into_iter()
            .map(|h| Held {
                path: h.path,
                generation: h.generation,
                length: h.length,
                crc32: h.crc32,
                tail_crc32: h.tail_crc32,
            })
            .collect(),
        max_bytes_per_second: r.max_bytes_per_second.filter(|r| *r > 0),
    }
}

/// One backup message to its response.
pub fn backup_response(m: BackupMessage) -> pb::BackupResponse {
    use pb::backup_response::Content;
    let content = match m {
        BackupMessage::Started {
            position,
            files,
            bytes,
        } => Content::Started(pb::BackupStarted {
            position,
            files,
            bytes,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }),
        BackupMessage::File {
            path,
            kind,
            generation,
            length,
            offset,
            crc32,
        } => Content::File(pb::BackupFile {
            path,
            kind: match kind {
                BackupFileKind::Segment => pb::BackupFileKind::Segment,
                BackupFileKind::Snapshot => pb::BackupFileKind::Snapshot,
            } as i32,
            generation,
            length,
            offset,
            crc32: crc32.unwrap_or(0),
        }),
        BackupMessage::Chunk { data, crc32 } => Content::Chunk(pb::BackupChunk { data, crc32 }),
        BackupMessage::Done { files, bytes } => Content::Done(pb::BackupDone { files, bytes }),
    };
    pb::BackupResponse {
        content: Some(content),
    }
}
