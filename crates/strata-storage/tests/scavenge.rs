//! Scavenging in the engine: what it drops and keeps, that the disk space
//! really comes back, that erased data is gone from every file, and that
//! it runs beside appends and reads without changing what they see.

mod common;

use common::{ev, small_segments};
use std::path::Path;
use std::time::Duration;
use strata_storage::*;

fn wait(s: &Store) -> ScavengeStatus {
    for _ in 0..6000 {
        let st = s.scavenge_status().expect("a scavenge ran");
        if st.state != ScavengeState::Running {
            return st;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("scavenge did not finish: {:?}", s.scavenge_status());
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        n += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    n
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

/// Every visible event, by stream then revision: (stream, revision, position, data).
fn visible(s: &Store) -> Vec<(String, u64, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut from = AllFrom::Start;
    loop {
        let page = s
            .read_all(from, Direction::Forwards, 10_000, &Filter::default())
            .unwrap();
        out.extend(
            page.events
                .into_iter()
                .map(|e| (e.stream, e.revision, e.position, e.data)),
        );
        if page.reached_end {
            break;
        }
        from = AllFrom::Position(page.scanned_to + 1);
    }
    out.sort();
    out
}

fn big(ty: &str, fill: u8, kib: usize) -> NewEvent {
    ev(ty, &vec![fill; kib * 1024])
}

#[test]
fn a_scavenge_gives_back_the_space_of_deleted_and_hidden_events_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), small_segments()).unwrap();
    // ~80 MiB over several 32 MiB segments: 40 streams × 20 events × 100 KiB.
    for round in 0..20u8 {
        for i in 0..40 {
            s.append(
                &format!("s-{i}"),
                ExpectedRevision::Any,
                vec![big("E", round, 100)],
            )
            .unwrap();
        }
    }
    for i in 0..20 {
        s.delete_stream(&format!("s-{i}"), ExpectedRevision::Any, i % 5 == 0)
            .unwrap();
    }
    s.set_stream_metadata(
        "s-30",
        ExpectedRevision::Any,
        StreamMetadata {
            max_count: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    s.set_stream_metadata(
        "s-31",
        ExpectedRevision::Any,
        StreamMetadata {
            truncate_before: Some(15),
            ..Default::default()
        },
    )
    .unwrap();
    let before = visible(&s);
    let bytes_before = dir_bytes(&dir.path().join("log"));
    let st = s.start_scavenge(ScavengeOptions::default()).unwrap();
    assert_eq!(st.state, ScavengeState::Running);
    let st = wait(&s);
    assert_eq!(st.state, ScavengeState::Completed, "{st:?}");
    assert!(st.segments_total >= 2);
    // 20 deleted streams × 20 events, 18 + 15 hidden by metadata.
    assert!(st.records_dropped >= 400 + 18 + 15, "{st:?}");
    let bytes_after = dir_bytes(&dir.path().join("log"));
    let freed = bytes_before - bytes_after;
    let payload = (400 + 18 + 15) as u64 * 100 * 1024;
    assert!(
        freed >= payload && st.bytes_reclaimed >= payload,
        "freed {freed} of {bytes_before}: {st:?}"
    );
    assert_eq!(visible(&s), before);
    // Stream reads agree; the last revision of a hidden-by-metadata stream
    // is still the count's carrier.
    let r = s
        .read_stream("s-30", StreamFrom::Start, Direction::Forwards, 100)
        .unwrap();
    assert_eq!(
        r.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![18, 19]
    );
    let r = s.append("s-31", ExpectedRevision::Exact(19), vec![ev("E", b"x")]);
    assert_eq!(r.unwrap().first_revision, 20);
    // Deleted streams keep their revision count; tombstones stay.
    let r = s
        .append("s-1", ExpectedRevision::NoStream, vec![ev("E", b"back")])
        .unwrap();
    assert_eq!(r.first_revision, 20);
    assert!(matches!(
        s.append("s-0", ExpectedRevision::Any, vec![ev("E", b"x")]),
        Err(Error::StreamTombstoned { .. })
    ));
    let after = visible(&s);
    drop(s);
    let report = verify(dir.path(), &mut |_, _| {}).unwrap();
    assert!(report.is_ok(), "{report:?}");
    // The same after a restart, and with the index rebuilt from the log.
    let s = Store::open(dir.path(), small_segments()).unwrap();
    assert_eq!(visible(&s), after);
    drop(s);
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    for e in std::fs::read_dir(dir.path().join("log")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "map") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let s = Store::open(dir.path(), small_segments()).unwrap();
    assert_eq!(visible(&s), after);
    assert!(matches!(
        s.append("s-0", ExpectedRevision::Any, vec![ev("E", b"x")]),
        Err(Error::StreamTombstoned { .. })
    ));
    assert_eq!(
        s.append("s-2", ExpectedRevision::NoStream, vec![ev("E", b"x")])
            .unwrap()
            .first_revision,
        20
    );
}

#[test]
fn after_a_delete_and_a_scavenge_no_byte_of_the_deleted_events_remains() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), small_segments()).unwrap();
    let marker = b"ERASE-ME-4b1d8e0c-7f2a";
    let mut secret = marker.to_vec();
    secret.extend_from_slice(&[b'.'; 1000]);
    s.append(
        "user-42",
        ExpectedRevision::NoStream,
        vec![ev("Registered", &secret)],
    )
    .unwrap();
    s.append(
        "user-42",
        ExpectedRevision::Exact(0),
        vec![ev("Updated", &secret)],
    )
    .unwrap();
    s.append(
        "user-7",
        ExpectedRevision::Any,
        vec![ev("Registered", b"keep me")],
    )
    .unwrap();
    s.save_snapshot(Snapshot {
        stream: "user-42".into(),
        revision: 1,
        snapshot_type: "User".into(),
        schema_version: 1,
        data: secret.clone(),
        metadata: vec![],
        created_micros: 0,
    })
    .unwrap();
    s.delete_stream("user-42", ExpectedRevision::Exact(1), false)
        .unwrap();
    assert!(!files_containing(dir.path(), marker).is_empty());
    s.start_scavenge(ScavengeOptions::default()).unwrap();
    assert_eq!(wait(&s).state, ScavengeState::Completed);
    s.close().unwrap();
    drop(s);
    assert_eq!(files_containing(dir.path(), marker), Vec::<String>::new());
    let s = Store::open(dir.path(), small_segments()).unwrap();
    assert_eq!(
        s.read_stream("user-7", StreamFrom::Start, Direction::Forwards, 10)
            .unwrap()[0]
            .data,
        b"keep me"
    );
}

#[test]
fn appends_and_reads_carry_on_during_a_scavenge() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), small_segments()).unwrap();
    for round in 0..8u8 {
        for i in 0..40 {
            s.append(
                &format!("old-{i}"),
                ExpectedRevision::Any,
                vec![big("E", round, 100)],
            )
            .unwrap();
        }
    }
    for i in 0..40 {
        if i % 2 == 0 {
            s.delete_stream(&format!("old-{i}"), ExpectedRevision::Any, false)
                .unwrap();
        }
    }
    let kept_before: Vec<_> = visible(&s);
    s.start_scavenge(ScavengeOptions {
        max_bytes_per_second: Some(64 * 1024 * 1024),
    })
    .unwrap();
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while s.scavenge_status().unwrap().state == ScavengeState::Running || n < 50 {
                let expected = match n {
                    0 => ExpectedRevision::NoStream,
                    n => ExpectedRevision::Exact(n - 1),
                };
                s.append("live", expected, vec![ev("L", &n.to_le_bytes())])
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    let mut reads = 0;
    while s.scavenge_status().unwrap().state == ScavengeState::Running {
        for i in (1..40).step_by(2) {
            let e = s
                .read_stream(
                    &format!("old-{i}"),
                    StreamFrom::Start,
                    Direction::Forwards,
                    100,
                )
                .unwrap();
            assert_eq!(e.len(), 8);
        }
        reads += 1;
    }
    let n = writer.join().unwrap();
    assert_eq!(wait(&s).state, ScavengeState::Completed);
    let live = s
        .read_stream("live", StreamFrom::Start, Direction::Forwards, 100_000)
        .unwrap();
    assert_eq!(live.len() as u64, n);
    assert!(live.iter().enumerate().all(|(i, e)| e.revision == i as u64));
    let old: Vec<_> = visible(&s)
        .into_iter()
        .filter(|e| e.0.starts_with("old-"))
        .collect();
    assert_eq!(old, kept_before);
    eprintln!("{reads} read rounds during the scavenge, {n} appends");
}

#[test]
fn a_stopped_scavenge_keeps_what_it_rewrote_and_a_new_one_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), small_segments()).unwrap();
    for round in 0..12u8 {
        for i in 0..40 {
            s.append(
                &format!("x-{i}"),
                ExpectedRevision::Any,
                vec![big("E", round, 100)],
            )
            .unwrap();
        }
    }
    for i in 0..40 {
        s.delete_stream(&format!("x-{i}"), ExpectedRevision::Any, false)
            .unwrap();
    }
    s.start_scavenge(ScavengeOptions {
        max_bytes_per_second: Some(8 * 1024 * 1024),
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let st = s.stop_scavenge().unwrap();
    assert_eq!(st.state, ScavengeState::Stopped, "{st:?}");
    assert!(st.segments_done < st.segments_total);
    assert_eq!(
        s.start_scavenge(ScavengeOptions::default()).unwrap().state,
        ScavengeState::Running
    );
    let st = wait(&s);
    assert_eq!(st.state, ScavengeState::Completed);
    let history = s
        .read_stream("$scavenges", StreamFrom::Start, Direction::Forwards, 10)
        .unwrap();
    let types: Vec<_> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "$scavengeStarted",
            "$scavengeStopped",
            "$scavengeStarted",
            "$scavengeCompleted"
        ]
    );
    drop(s);
    assert!(verify(dir.path(), &mut |_, _| {}).unwrap().is_ok());
}

#[test]
fn a_scavenge_interrupted_by_closing_the_store_runs_again_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), small_segments()).unwrap();
    for round in 0..8u8 {
        for i in 0..40 {
            s.append(
                &format!("y-{i}"),
                ExpectedRevision::Any,
                vec![big("E", round, 100)],
            )
            .unwrap();
        }
    }
    for i in 0..20 {
        s.delete_stream(&format!("y-{i}"), ExpectedRevision::Any, false)
            .unwrap();
    }
    s.start_scavenge(ScavengeOptions {
        max_bytes_per_second: Some(4 * 1024 * 1024),
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.close().unwrap();
    drop(s);
    let s = Store::open(dir.path(), small_segments()).unwrap();
    let resumed = s.scavenge_status().expect("restarted at open");
    assert_eq!(resumed.max_bytes_per_second, Some(4 * 1024 * 1024));
    s.stop_scavenge();
    s.start_scavenge(ScavengeOptions::default()).unwrap();
    assert_eq!(wait(&s).state, ScavengeState::Completed);
    let kinds: Vec<_> = s
        .read_stream("$scavenges", StreamFrom::Start, Direction::Forwards, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        kinds,
        vec![
            "$scavengeStarted",
            "$scavengeStarted",
            "$scavengeStopped",
            "$scavengeStarted",
            "$scavengeCompleted"
        ]
    );
}
