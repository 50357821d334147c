//! Stream lifecycle in the engine: metadata, soft delete, tombstone, and
//! what every read path shows afterwards — also after a restart and after
//! the index is rebuilt from the log.

mod common;

use common::{evs, open};
use strata_storage::*;

fn read_all_of(s: &Store, stream: &str, include_system: bool) -> Vec<(String, u64)> {
    let f = Filter {
        include_system,
        ..Default::default()
    };
    s.read_all(AllFrom::Start, Direction::Forwards, 100_000, &f)
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.stream == stream)
        .map(|e| (e.stream, e.revision))
        .collect()
}

fn revs(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.revision).collect()
}

fn fwd(s: &Store, stream: &str) -> Result<Vec<u64>> {
    s.read_stream(stream, StreamFrom::Start, Direction::Forwards, 1000)
        .map(|e| revs(&e))
}

#[test]
fn soft_delete_hides_everything_and_a_later_append_continues_the_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.append("order-1", ExpectedRevision::NoStream, evs(3, "Placed"))
        .unwrap();
    s.append("order-2", ExpectedRevision::NoStream, evs(1, "Placed"))
        .unwrap();
    let pos = s
        .delete_stream("order-1", ExpectedRevision::Exact(2), false)
        .unwrap();
    assert!(pos > 4);
    assert!(matches!(fwd(&s, "order-1"), Err(Error::StreamDeleted(_))));
    assert_eq!(
        s.stream_revision("order-1").unwrap(),
        CurrentRevision::NoStream
    );
    assert!(read_all_of(&s, "order-1", false).is_empty());
    let listed: Vec<_> = s
        .list_streams("", None, 100)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(listed, vec!["order-2"]);
    // Checks see no stream: StreamExists fails, Exact fails, NoStream succeeds.
    assert!(matches!(
        s.append("order-1", ExpectedRevision::StreamExists, evs(1, "X")),
        Err(Error::WrongExpectedRevision {
            actual: CurrentRevision::NoStream,
            ..
        })
    ));
    assert!(s
        .append("order-1", ExpectedRevision::Exact(2), evs(1, "X"))
        .is_err());
    let again = evs(2, "Reopened");
    let r = s
        .append("order-1", ExpectedRevision::NoStream, again.clone())
        .unwrap();
    assert_eq!((r.first_revision, r.last_revision), (3, 4));
    // A retry of the recreating append is recognised, not written twice.
    let retry = s
        .append("order-1", ExpectedRevision::NoStream, again)
        .unwrap();
    assert!(retry.deduplicated);
    assert_eq!(fwd(&s, "order-1").unwrap(), vec![3, 4]);
    assert_eq!(read_all_of(&s, "order-1", false).len(), 2);
    // The lifecycle records are in $$order-1, visible only on request.
    assert_eq!(read_all_of(&s, "$$order-1", false).len(), 0);
    assert_eq!(read_all_of(&s, "$$order-1", true).len(), 1);
    let meta = s
        .read_stream("$$order-1", StreamFrom::Start, Direction::Forwards, 10)
        .unwrap();
    assert_eq!(meta[0].event_type, lifecycle::DELETED_EVENT_TYPE);
}

#[test]
fn deleting_a_missing_stream_needs_any() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for e in [
        ExpectedRevision::NoStream,
        ExpectedRevision::StreamExists,
        ExpectedRevision::Exact(0),
    ] {
        assert!(
            matches!(
                s.delete_stream("ghost", e, false),
                Err(Error::StreamNotFound(_))
            ),
            "{e:?}"
        );
    }
    s.delete_stream("ghost", ExpectedRevision::Any, false)
        .unwrap();
    assert!(matches!(fwd(&s, "ghost"), Err(Error::StreamDeleted(_))));
    s.append("ghost", ExpectedRevision::NoStream, evs(1, "A"))
        .unwrap();
    assert_eq!(fwd(&s, "ghost").unwrap(), vec![0]);
    // A wrong expected revision on an existing stream is a conflict.
    assert!(matches!(
        s.delete_stream("ghost", ExpectedRevision::Exact(7), false),
        Err(Error::WrongExpectedRevision { .. })
    ));
}

#[test]
fn a_tombstone_refuses_every_operation_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.append("gone", ExpectedRevision::Any, evs(2, "A"))
        .unwrap();
    s.delete_stream("gone", ExpectedRevision::Any, true)
        .unwrap();
    let refused = |r: Result<()>| {
        assert!(
            matches!(r, Err(Error::StreamTombstoned { write: true, .. })),
            "{r:?}"
        )
    };
    refused(
        s.append("gone", ExpectedRevision::Any, evs(1, "A"))
            .map(|_| ()),
    );
    refused(
        s.append("gone", ExpectedRevision::NoStream, evs(1, "A"))
            .map(|_| ()),
    );
    refused(
        s.set_stream_metadata("gone", ExpectedRevision::Any, StreamMetadata::default())
            .map(|_| ()),
    );
    refused(
        s.delete_stream("gone", ExpectedRevision::Any, false)
            .map(|_| ()),
    );
    refused(
        s.delete_stream("gone", ExpectedRevision::Any, true)
            .map(|_| ()),
    );
    assert!(matches!(
        fwd(&s, "gone"),
        Err(Error::StreamTombstoned { write: false, .. })
    ));
    let info = s.get_stream_metadata("gone").unwrap();
    assert!(info.tombstoned && !info.deleted);
    drop(s);
    // Still refused after a restart, and with a rebuilt index.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let s = open(dir.path());
    assert!(matches!(
        s.append("gone", ExpectedRevision::Any, evs(1, "A")),
        Err(Error::StreamTombstoned { write: true, .. })
    ));
}

#[test]
fn metadata_has_optimistic_concurrency_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let m = StreamMetadata {
        max_count: Some(3),
        custom: br#"{"owner":"team-a"}"#.to_vec(),
        ..Default::default()
    };
    // Allowed before the stream has any event.
    let r = s
        .set_stream_metadata("cart-1", ExpectedRevision::NoStream, m.clone())
        .unwrap();
    assert_eq!(r.first_revision, 0);
    assert!(matches!(
        s.set_stream_metadata("cart-1", ExpectedRevision::NoStream, m.clone()),
        Err(Error::WrongExpectedRevision { .. })
    ));
    assert!(matches!(
        s.set_stream_metadata("cart-1", ExpectedRevision::Exact(5), m.clone()),
        Err(Error::WrongExpectedRevision {
            actual: CurrentRevision::Current(0),
            ..
        })
    ));
    s.set_stream_metadata("cart-1", ExpectedRevision::Exact(0), m.clone())
        .unwrap();
    let info = s.get_stream_metadata("cart-1").unwrap();
    assert_eq!(
        (info.metadata.clone(), info.metadata_revision),
        (m.clone(), Some(1))
    );
    assert_eq!(
        s.get_stream_metadata("never").unwrap(),
        StreamMetadataInfo::default()
    );
    for bad in [
        StreamMetadata {
            max_count: Some(0),
            ..Default::default()
        },
        StreamMetadata {
            max_age_seconds: Some(0),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            s.set_stream_metadata("cart-1", ExpectedRevision::Any, bad),
            Err(Error::InvalidMetadata(_))
        ));
    }
    let huge = StreamMetadata {
        custom: vec![0; limits::MAX_METADATA_CUSTOM_BYTES + 1],
        ..Default::default()
    };
    assert!(matches!(
        s.set_stream_metadata("cart-1", ExpectedRevision::Any, huge),
        Err(Error::MetadataTooLarge { .. })
    ));
    assert!(matches!(
        s.set_stream_metadata("$x", ExpectedRevision::Any, m.clone()),
        Err(Error::ReservedStreamName(_))
    ));
    drop(s);
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let s = open(dir.path());
    let info = s.get_stream_metadata("cart-1").unwrap();
    assert_eq!((info.metadata, info.metadata_revision), (m, Some(1)));
}

#[test]
fn retention_rules_hide_exactly_the_right_events_on_every_read_path() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.append("a", ExpectedRevision::Any, evs(10, "E")).unwrap();
    s.append("b", ExpectedRevision::Any, evs(10, "E")).unwrap();
    let set = |stream: &str, m: StreamMetadata| {
        s.set_stream_metadata(stream, ExpectedRevision::Any, m)
            .unwrap();
    };
    set(
        "a",
        StreamMetadata {
            max_count: Some(4),
            ..Default::default()
        },
    );
    set(
        "b",
        StreamMetadata {
            truncate_before: Some(7),
            ..Default::default()
        },
    );
    assert_eq!(fwd(&s, "a").unwrap(), vec![6, 7, 8, 9]);
    assert_eq!(fwd(&s, "b").unwrap(), vec![7, 8, 9]);
    let back = s
        .read_stream("a", StreamFrom::End, Direction::Backwards, 100)
        .unwrap();
    assert_eq!(revs(&back), vec![9, 8, 7, 6]);
    let from2 = s
        .read_stream("a", StreamFrom::Revision(2), Direction::Forwards, 2)
        .unwrap();
    assert_eq!(revs(&from2), vec![6, 7]);
    let below = s
        .read_stream("b", StreamFrom::Revision(3), Direction::Backwards, 5)
        .unwrap();
    assert!(below.is_empty());
    assert_eq!(read_all_of(&s, "a", false).len(), 4);
    assert_eq!(read_all_of(&s, "b", false).len(), 3);
    // Appending moves a max_count window.
    s.append("a", ExpectedRevision::Any, evs(2, "E")).unwrap();
    assert_eq!(fwd(&s, "a").unwrap(), vec![8, 9, 10, 11]);
    assert_eq!(
        s.stream_revision("a").unwrap(),
        CurrentRevision::Current(11),
        "checks use the last revision, not the visible window"
    );
    // max_age: everything written before is older than a second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.append("c", ExpectedRevision::Any, evs(3, "Old")).unwrap();
    set(
        "c",
        StreamMetadata {
            max_age_seconds: Some(1),
            ..Default::default()
        },
    );
    assert_eq!(fwd(&s, "c").unwrap(), vec![0, 1, 2]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.append("c", ExpectedRevision::Any, evs(2, "New")).unwrap();
    assert_eq!(fwd(&s, "c").unwrap(), vec![3, 4]);
    assert_eq!(
        read_all_of(&s, "c", false),
        vec![("c".into(), 3), ("c".into(), 4)]
    );
    // Relaxing the metadata shows the events again (until a scavenge).
    set("a", StreamMetadata::default());
    assert_eq!(fwd(&s, "a").unwrap().len(), 12);
}

#[test]
fn snapshots_of_deleted_or_hidden_revisions_are_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.append("acc", ExpectedRevision::Any, evs(10, "E"))
        .unwrap();
    let snap = |rev| Snapshot {
        stream: "acc".into(),
        revision: rev,
        snapshot_type: "Acc".into(),
        schema_version: 1,
        data: b"state".to_vec(),
        metadata: vec![],
        created_micros: 0,
    };
    s.save_snapshot(snap(3)).unwrap();
    assert!(s.get_snapshot("acc", None).unwrap().is_some());
    s.set_stream_metadata(
        "acc",
        ExpectedRevision::Any,
        StreamMetadata {
            truncate_before: Some(5),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(s.get_snapshot("acc", None).unwrap().is_none());
    s.save_snapshot(snap(8)).unwrap();
    assert_eq!(s.get_snapshot("acc", None).unwrap().unwrap().revision, 8);
    s.delete_stream("acc", ExpectedRevision::Any, false)
        .unwrap();
    assert!(s.get_snapshot("acc", None).unwrap().is_none());
    assert!(matches!(
        s.save_snapshot(snap(9)),
        Err(Error::SnapshotAheadOfStream { .. })
    ));
}
