//! Scenario: snapshots beside streams — saved durably, found at or before a
//! revision, bounded per stream, refused ahead of the stream, kept across
//! a restart.

mod common;
use common::*;
use strata_storage::*;

fn snap(stream: &str, rev: u64, data: &[u8]) -> Snapshot {
    Snapshot {
        stream: stream.into(),
        revision: rev,
        snapshot_type: "Counter".into(),
        schema_version: 2,
        data: data.to_vec(),
        metadata: b"m".to_vec(),
        created_micros: 0,
    }
}

#[test]
fn save_get_bound_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert!(matches!(
        s.save_snapshot(snap("c", 0, b"x")),
        Err(Error::SnapshotAheadOfStream {
            actual: CurrentRevision::NoStream,
            ..
        })
    ));
    s.append("c", ExpectedRevision::NoStream, evs(10, "Inc"))
        .unwrap();
    assert!(matches!(
        s.save_snapshot(snap("c", 10, b"x")),
        Err(Error::SnapshotAheadOfStream { .. })
    ));
    for rev in [1u64, 3, 5, 7, 9] {
        s.save_snapshot(snap("c", rev, format!("state@{rev}").as_bytes()))
            .unwrap();
    }
    let latest = s.get_snapshot("c", None).unwrap().unwrap();
    assert_eq!(
        (
            latest.revision,
            latest.data.as_slice(),
            latest.schema_version
        ),
        (9, &b"state@9"[..], 2)
    );
    assert!(latest.created_micros > 0);
    assert_eq!(s.get_snapshot("c", Some(6)).unwrap().unwrap().revision, 5);
    // Default keeps the latest 3: 5, 7, 9.
    assert!(s.get_snapshot("c", Some(4)).unwrap().is_none());
    assert!(s.get_snapshot("other", None).unwrap().is_none());
    let big = vec![0u8; snapshot::MAX_SNAPSHOT_BYTES + 1];
    assert!(matches!(
        s.save_snapshot(snap("c", 1, &big)),
        Err(Error::SnapshotTooLarge { .. })
    ));
    assert_eq!(s.stats().unwrap().snapshots, 3);
    drop(s);
    let s = open(dir.path());
    assert_eq!(s.get_snapshot("c", None).unwrap().unwrap().data, b"state@9");
}
