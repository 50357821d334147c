//! Scenario: the basic contract — appends with every expected-revision case,
//! stream and `$all` reads in both directions, filters, listing, temporal
//! lookups, idempotent retries, limits.

mod common;
use common::*;
use strata_storage::*;

#[test]
fn append_then_read_stream_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let r = s
        .append("order-1", ExpectedRevision::NoStream, evs(3, "Placed"))
        .unwrap();
    assert_eq!(
        (
            r.first_revision,
            r.last_revision,
            r.first_position,
            r.last_position
        ),
        (0, 2, 1, 3)
    );
    let r = s
        .append("order-2", ExpectedRevision::Any, evs(2, "Placed"))
        .unwrap();
    assert_eq!(
        (
            r.first_revision,
            r.last_revision,
            r.first_position,
            r.last_position
        ),
        (0, 1, 4, 5)
    );
    let r = s
        .append("order-1", ExpectedRevision::Exact(2), evs(1, "Shipped"))
        .unwrap();
    assert_eq!((r.first_revision, r.first_position), (3, 6));
    assert_eq!(s.head(), 6);

    let fwd = s
        .read_stream("order-1", StreamFrom::Start, Direction::Forwards, 100)
        .unwrap();
    assert_eq!(
        fwd.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(
        fwd.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 6]
    );
    assert_eq!(fwd[3].event_type, "Shipped");
    let back = s
        .read_stream("order-1", StreamFrom::End, Direction::Backwards, 2)
        .unwrap();
    assert_eq!(
        back.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![3, 2]
    );
    let mid = s
        .read_stream("order-1", StreamFrom::Revision(1), Direction::Forwards, 2)
        .unwrap();
    assert_eq!(
        mid.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(matches!(
        s.read_stream("nope", StreamFrom::Start, Direction::Forwards, 10),
        Err(Error::StreamNotFound(_))
    ));
    // Timestamps never decrease along the log.
    let all = s
        .read_all(AllFrom::Start, Direction::Forwards, 100, &Filter::default())
        .unwrap();
    assert!(all
        .events
        .windows(2)
        .all(|w| w[0].created_micros <= w[1].created_micros));
}

#[test]
fn expected_revision_cases() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let conflict = |r: Result<AppendResult>| match r {
        Err(Error::WrongExpectedRevision { actual, .. }) => actual,
        other => panic!("expected a conflict, got {other:?}"),
    };
    assert_eq!(
        conflict(s.append("a", ExpectedRevision::StreamExists, evs(1, "T"))),
        CurrentRevision::NoStream
    );
    assert_eq!(
        conflict(s.append("a", ExpectedRevision::Exact(0), evs(1, "T"))),
        CurrentRevision::NoStream
    );
    s.append("a", ExpectedRevision::NoStream, evs(1, "T"))
        .unwrap();
    assert_eq!(
        conflict(s.append("a", ExpectedRevision::NoStream, evs(1, "T"))),
        CurrentRevision::Current(0)
    );
    assert_eq!(
        conflict(s.append("a", ExpectedRevision::Exact(5), evs(1, "T"))),
        CurrentRevision::Current(0)
    );
    s.append("a", ExpectedRevision::StreamExists, evs(1, "T"))
        .unwrap();
    s.append("a", ExpectedRevision::Exact(1), evs(1, "T"))
        .unwrap();
    s.append("a", ExpectedRevision::Any, evs(1, "T")).unwrap();
    assert_eq!(s.stream_revision("a").unwrap(), CurrentRevision::Current(3));
    // Nothing was written by the failures: positions are gapless.
    assert_eq!(s.head(), 4);
}

#[test]
fn multi_stream_transactions_are_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.append("acct-1", ExpectedRevision::Any, evs(1, "Opened"))
        .unwrap();
    let tx = |e1, e2| {
        vec![
            StreamAppend {
                stream: "acct-1".into(),
                expected: e1,
                events: evs(1, "Debited"),
            },
            StreamAppend {
                stream: "acct-2".into(),
                expected: e2,
                events: evs(2, "Credited"),
            },
        ]
    };
    assert!(matches!(
        s.append_multi(tx(
            ExpectedRevision::Exact(0),
            ExpectedRevision::StreamExists
        )),
        Err(Error::WrongExpectedRevision { .. })
    ));
    assert_eq!(s.head(), 1);
    assert_eq!(
        s.stream_revision("acct-2").unwrap(),
        CurrentRevision::NoStream
    );
    let r = s
        .append_multi(tx(ExpectedRevision::Exact(0), ExpectedRevision::NoStream))
        .unwrap();
    assert_eq!(r[0].first_position, 2);
    assert_eq!(
        (r[1].first_position, r[1].last_position, r[1].last_revision),
        (3, 4, 1)
    );
    let dup = vec![
        StreamAppend {
            stream: "x".into(),
            expected: ExpectedRevision::Any,
            events: evs(1, "T"),
        },
        StreamAppend {
            stream: "x".into(),
            expected: ExpectedRevision::Any,
            events: evs(1, "T"),
        },
    ];
    assert!(matches!(s.append_multi(dup), Err(Error::InvalidAppend(_))));
}

#[test]
fn idempotent_retries() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let batch = evs(3, "T");
    let first = s
        .append("s", ExpectedRevision::NoStream, batch.clone())
        .unwrap();
    assert!(!first.deduplicated);
    let again = s
        .append("s", ExpectedRevision::NoStream, batch.clone())
        .unwrap();
    assert!(again.deduplicated);
    assert_eq!(
        (
            again.first_position,
            again.last_position,
            again.last_revision
        ),
        (1, 3, 2)
    );
    let more = evs(2, "U");
    s.append("s", ExpectedRevision::Exact(2), more.clone())
        .unwrap();
    let r = s
        .append("s", ExpectedRevision::Exact(2), more.clone())
        .unwrap();
    assert!(r.deduplicated);
    assert_eq!((r.first_revision, r.last_revision), (3, 4));
    // Any: dedupe by id.
    let any = evs(2, "V");
    let a1 = s.append("s", ExpectedRevision::Any, any.clone()).unwrap();
    let a2 = s.append("s", ExpectedRevision::Any, any.clone()).unwrap();
    assert_eq!(a1.first_position, a2.first_position);
    assert!(a2.deduplicated);
    // Partial overlap is a conflict, not a silent duplicate.
    let mut partial = vec![any[0].clone()];
    partial.extend(evs(1, "W"));
    assert!(matches!(
        s.append("s", ExpectedRevision::Any, partial),
        Err(Error::PartialDuplicate { .. })
    ));
    // With exact, a different event at the position is a conflict.
    assert!(matches!(
        s.append("s", ExpectedRevision::Exact(2), evs(2, "U")),
        Err(Error::WrongExpectedRevision { .. })
    ));
    assert_eq!(s.head(), 7);
    // Retries are recognised after a restart too.
    drop(s);
    let s = open(dir.path());
    assert!(
        s.append("s", ExpectedRevision::Any, any)
            .unwrap()
            .deduplicated
    );
    assert!(
        s.append("s", ExpectedRevision::NoStream, batch)
            .unwrap()
            .deduplicated
    );
    assert_eq!(s.head(), 7);
}

#[test]
fn read_all_forwards_backwards_filters() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for i in 0..50 {
        let stream = if i % 2 == 0 {
            format!("order-{i}")
        } else {
            format!("user-{i}")
        };
        s.append(
            &stream,
            ExpectedRevision::Any,
            vec![ev(if i % 5 == 0 { "Big" } else { "Small" }, b"x")],
        )
        .unwrap();
    }
    let all = s
        .read_all(
            AllFrom::Start,
            Direction::Forwards,
            1000,
            &Filter::default(),
        )
        .unwrap();
    assert_eq!(all.events.len(), 50);
    assert!(all.reached_end);
    assert_eq!(
        all.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=50).collect::<Vec<_>>()
    );
    let back = s
        .read_all(AllFrom::End, Direction::Backwards, 10, &Filter::default())
        .unwrap();
    assert_eq!(
        back.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        (41..=50).rev().collect::<Vec<_>>()
    );
    assert!(!back.reached_end);
    let back = s
        .read_all(
            AllFrom::Position(5),
            Direction::Backwards,
            10,
            &Filter::default(),
        )
        .unwrap();
    assert_eq!(
        back.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![5, 4, 3, 2, 1]
    );
    assert!(back.reached_end);
    let page = s
        .read_all(
            AllFrom::Position(20),
            Direction::Forwards,
            3,
            &Filter::default(),
        )
        .unwrap();
    assert_eq!(
        page.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![20, 21, 22]
    );
    assert_eq!(page.scanned_to, 22);
    let f = Filter {
        stream_prefixes: vec!["order-".into()],
        event_types: vec![],
        ..Default::default()
    };
    let orders = s
        .read_all(AllFrom::Start, Direction::Forwards, 1000, &f)
        .unwrap();
    assert_eq!(orders.events.len(), 25);
    assert!(orders.events.iter().all(|e| e.stream.starts_with("order-")));
    let f = Filter {
        stream_prefixes: vec!["order-".into()],
        event_types: vec!["Big".into()],
        ..Default::default()
    };
    let big = s
        .read_all(AllFrom::Start, Direction::Forwards, 1000, &f)
        .unwrap();
    assert_eq!(
        big.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 11, 21, 31, 41]
    );
    assert!(s
        .read_all(AllFrom::End, Direction::Forwards, 10, &Filter::default())
        .unwrap()
        .events
        .is_empty());
}

#[test]
fn list_streams_by_prefix_paged() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for name in ["a-1", "a-2", "a-3", "b-1", "a-4"] {
        s.append(name, ExpectedRevision::Any, evs(2, "T")).unwrap();
    }
    let page1 = s.list_streams("a-", None, 2).unwrap();
    assert_eq!(
        page1.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        vec!["a-1", "a-2"]
    );
    assert_eq!(page1[0].revision, 1);
    let page2 = s.list_streams("a-", Some("a-2"), 10).unwrap();
    assert_eq!(
        page2.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        vec!["a-3", "a-4"]
    );
    assert_eq!(s.list_streams("", None, 100).unwrap().len(), 5);
}

#[test]
fn temporal_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.append("t", ExpectedRevision::Any, evs(5, "Early"))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let cut = s
        .read_all(AllFrom::End, Direction::Backwards, 1, &Filter::default())
        .unwrap()
        .events[0]
        .created_micros
        + 1;
    std::thread::sleep(std::time::Duration::from_millis(5));
    s.append("t", ExpectedRevision::Any, evs(3, "Late"))
        .unwrap();
    assert_eq!(s.position_at_or_after(cut).unwrap(), Some(6));
    assert_eq!(s.position_at_or_after(0).unwrap(), Some(1));
    assert_eq!(s.position_at_or_after(i64::MAX).unwrap(), None);
    assert_eq!(s.stream_revision_at_or_after("t", cut).unwrap(), Some(5));
}

#[test]
fn bad_input_is_rejected_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let big = ev("T", &vec![0u8; limits::MAX_EVENT_BYTES + 1]);
    assert!(matches!(
        s.append("s", ExpectedRevision::Any, vec![big]),
        Err(Error::EventTooLarge { .. })
    ));
    assert!(matches!(
        s.append(
            "s",
            ExpectedRevision::Any,
            evs(limits::MAX_EVENTS_PER_APPEND + 1, "T")
        ),
        Err(Error::TooManyEvents { .. })
    ));
    let many_mid: Vec<_> = (0..20)
        .map(|_| ev("T", &vec![0u8; 1024 * 1024 - 16]))
        .collect();
    assert!(matches!(
        s.append("s", ExpectedRevision::Any, many_mid),
        Err(Error::AppendTooLarge { .. })
    ));
    assert!(matches!(
        s.append("", ExpectedRevision::Any, evs(1, "T")),
        Err(Error::InvalidStreamName { .. })
    ));
    assert!(matches!(
        s.append("$system", ExpectedRevision::Any, evs(1, "T")),
        Err(Error::ReservedStreamName(_))
    ));
    assert!(matches!(
        s.append("a\0b", ExpectedRevision::Any, evs(1, "T")),
        Err(Error::InvalidStreamName { .. })
    ));
    assert!(matches!(
        s.append(&"x".repeat(256), ExpectedRevision::Any, evs(1, "T")),
        Err(Error::InvalidStreamName { .. })
    ));
    assert!(matches!(
        s.append("s", ExpectedRevision::Any, vec![]),
        Err(Error::InvalidAppend(_))
    ));
    assert!(matches!(
        s.append("s", ExpectedRevision::Any, vec![ev("", b"")]),
        Err(Error::InvalidEvent(_))
    ));
    let e = ev("T", b"");
    assert!(matches!(
        s.append("s", ExpectedRevision::Any, vec![e.clone(), e]),
        Err(Error::InvalidAppend(_))
    ));
    assert_eq!(s.head(), 0);
}

#[test]
fn segments_roll_and_reads_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), small_segments()).unwrap();
    // 32 MiB segments; 40 appends of ~1 MiB cross at least one boundary.
    for i in 0..40u64 {
        let data = vec![i as u8; 1000 * 1000];
        s.append(
            &format!("big-{}", i % 3),
            ExpectedRevision::Any,
            vec![ev("Blob", &data)],
        )
        .unwrap();
    }
    assert!(s.stats().unwrap().segments >= 2);
    let all = s
        .read_all(
            AllFrom::Start,
            Direction::Forwards,
            1000,
            &Filter::default(),
        )
        .unwrap();
    assert_eq!(all.events.len(), 40);
    assert!(all
        .events
        .iter()
        .enumerate()
        .all(|(i, e)| e.data[0] == i as u8 && e.position == i as u64 + 1));
    let back = s
        .read_all(AllFrom::End, Direction::Backwards, 1000, &Filter::default())
        .unwrap();
    assert_eq!(
        back.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=40).rev().collect::<Vec<_>>()
    );
    drop(s);
    let s = Store::open(dir.path(), small_segments()).unwrap();
    assert_eq!(s.head(), 40);
    let st = s
        .read_stream("big-1", StreamFrom::Start, Direction::Forwards, 100)
        .unwrap();
    assert_eq!(st.len(), 13);
    let report = verify(dir.path(), &mut |_, _| {}).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, 40);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _s = open(dir.path());
    assert!(matches!(
        Store::open(dir.path(), Options::default()),
        Err(Error::Locked(_))
    ));
}
