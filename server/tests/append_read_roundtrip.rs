//! Appending and reading back: every field survives the round trip, reads go
//! both ways, start where asked, stop at max_count, and span many pages.

mod common;

use common::{events, Server};
use futures::TryStreamExt;
use serde_json::json;
use strata_client::{
    Client, EventData, ExpectedRevision, ReadOptions, RecordedEvent, StreamAppend, StreamFrom,
};

async fn read(client: &Client, stream: &str, opts: ReadOptions) -> Vec<RecordedEvent> {
    client
        .read_stream(stream, opts)
        .try_collect()
        .await
        .expect("read")
}

fn revisions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.revision).collect()
}

#[tokio::test]
async fn append_then_read_every_field() {
    let server = Server::start();
    let client = server.client().await;

    let now_micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;

    let sent = vec![
        EventData::json("OrderPlaced", &json!({"order": 1, "total": 12.5})).unwrap(),
        EventData::binary("Blob", vec![0u8, 255, 7]).with_metadata(b"meta-1".to_vec()),
        EventData::json("OrderShipped", &json!({"order": 1}))
            .unwrap()
            .with_metadata(br#"{"by":"ann"}"#.to_vec()),
    ];
    let r = client
        .append("order-1", ExpectedRevision::NoStream, sent.clone())
        .await
        .unwrap();
    assert_eq!((r.first_revision, r.last_revision), (0, 2));
    assert_eq!((r.first_position, r.last_position), (1, 3));
    assert!(!r.deduplicated);

    let got = read(&client, "order-1", ReadOptions::forwards()).await;
    assert_eq!(got.len(), 3);
    for (i, (e, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(e.stream, "order-1");
        assert_eq!(e.revision, i as u64);
        assert_eq!(e.position, i as u64 + 1);
        assert_eq!(e.id, s.id);
        assert_eq!(e.event_type, s.event_type);
        assert_eq!(e.content_type, s.content_type);
        assert_eq!(e.data, s.data);
        assert_eq!(e.metadata, s.metadata);
        // Commit time: after the test started (minus clock slack), not in the future.
        assert!(e.created_micros >= now_micros - 5_000_000, "{e:?}");
        assert!(e.created_micros <= now_micros + 600_000_000, "{e:?}");
    }
    assert!(got
        .windows(2)
        .all(|w| w[0].created_micros <= w[1].created_micros));
    assert_eq!(got[0].content_type, "application/json");
    assert_eq!(got[1].content_type, "application/octet-stream");
    let v: serde_json::Value = got[0].json().unwrap();
    assert_eq!(v, json!({"order": 1, "total": 12.5}));

    let info = client.server_info().await.unwrap();
    assert_eq!(info.head_position, 3);
    assert!(info.indexed_position <= info.head_position);
    assert!(!info.version.is_empty());
    assert_eq!(info.max_event_bytes, 1024 * 1024);
    assert_eq!(info.max_events_per_append, 10_000);
    assert_eq!(info.max_append_bytes, 16 * 1024 * 1024);
}

#[tokio::test]
async fn directions_starts_and_limits() {
    let server = Server::start();
    let client = server.client().await;
    // Interleave two streams so revisions and positions differ.
    for i in 0..5 {
        client
            .append("a", ExpectedRevision::Any, events("A", &format!("a{i}"), 2))
            .await
            .unwrap();
        client
            .append("b", ExpectedRevision::Any, events("B", &format!("b{i}"), 1))
            .await
            .unwrap();
    }
    let fwd = read(&client, "a", ReadOptions::forwards()).await;
    assert_eq!(revisions(&fwd), (0..10).collect::<Vec<_>>());
    // Positions: each round writes a,a,b.
    let expected_pos: Vec<u64> = (0..5u64).flat_map(|i| [3 * i + 1, 3 * i + 2]).collect();
    assert_eq!(
        fwd.iter().map(|e| e.position).collect::<Vec<_>>(),
        expected_pos
    );
    assert!(fwd.iter().all(|e| e.stream == "a" && e.event_type == "A"));

    let bwd = read(&client, "a", ReadOptions::backwards()).await;
    let mut rev = fwd.clone();
    rev.reverse();
    assert_eq!(bwd, rev);

    let from4 = read(
        &client,
        "a",
        ReadOptions::forwards().from(StreamFrom::Revision(4)),
    )
    .await;
    assert_eq!(revisions(&from4), (4..10).collect::<Vec<_>>());
    let from4_3 = read(
        &client,
        "a",
        ReadOptions::forwards()
            .from(StreamFrom::Revision(4))
            .max_count(3),
    )
    .await;
    assert_eq!(revisions(&from4_3), vec![4, 5, 6]);
    let back_from4 = read(
        &client,
        "a",
        ReadOptions::backwards().from(StreamFrom::Revision(4)),
    )
    .await;
    assert_eq!(revisions(&back_from4), vec![4, 3, 2, 1, 0]);
    let last2 = read(&client, "a", ReadOptions::backwards().max_count(2)).await;
    assert_eq!(revisions(&last2), vec![9, 8]);
    let start = read(
        &client,
        "a",
        ReadOptions::forwards().from(StreamFrom::Start).max_count(1),
    )
    .await;
    assert_eq!(revisions(&start), vec![0]);
    let end_back = read(
        &client,
        "a",
        ReadOptions::backwards().from(StreamFrom::End).max_count(1),
    )
    .await;
    assert_eq!(revisions(&end_back), vec![9]);
    let past_end = read(
        &client,
        "a",
        ReadOptions::forwards().from(StreamFrom::Revision(10)),
    )
    .await;
    assert!(past_end.is_empty());

    // Timestamps: forwards from t = everything committed at/after t.
    let t = fwd[5].created_micros;
    let from_t = read(
        &client,
        "a",
        ReadOptions::forwards().from(StreamFrom::Timestamp(t)),
    )
    .await;
    let want: Vec<_> = fwd
        .iter()
        .filter(|e| e.created_micros >= t)
        .cloned()
        .collect();
    assert_eq!(from_t, want);
    let back_t = read(
        &client,
        "a",
        ReadOptions::backwards().from(StreamFrom::Timestamp(t)),
    )
    .await;
    let mut want: Vec<_> = fwd
        .iter()
        .filter(|e| e.created_micros <= t)
        .cloned()
        .collect();
    want.reverse();
    assert_eq!(back_t, want);
}

#[tokio::test]
async fn large_events_and_many_pages() {
    let server = Server::start();
    let client = server.client().await;

    // Exactly at the 1 MiB data + metadata limit is accepted.
    let big = EventData::binary("Big", vec![0xAB; 1024 * 1024 - 10]).with_metadata(vec![1; 10]);
    client
        .append("big", ExpectedRevision::NoStream, vec![big.clone()])
        .await
        .unwrap();
    // Several large events in one append (well below 16 MiB).
    let bigs: Vec<_> = (0..6u8)
        .map(|i| EventData::binary("Big", vec![i; 1024 * 1024]))
        .collect();
    client
        .append("big", ExpectedRevision::Exact(0), bigs.clone())
        .await
        .unwrap();
    let got = read(&client, "big", ReadOptions::forwards()).await;
    assert_eq!(got.len(), 7);
    assert_eq!(got[0].data, big.data);
    assert_eq!(got[0].metadata, big.metadata);
    for (e, s) in got[1..].iter().zip(&bigs) {
        assert_eq!(e.id, s.id);
        assert_eq!(e.data, s.data);
    }

    // Many small events: a single append of 5000, read back through pages.
    let many = events("Small", "m", 5000);
    let r = client
        .append("many", ExpectedRevision::NoStream, many.clone())
        .await
        .unwrap();
    assert_eq!(r.last_revision, 4999);
    assert_eq!(r.last_position - r.first_position, 4999);
    let got = read(&client, "many", ReadOptions::forwards()).await;
    assert_eq!(got.len(), 5000);
    assert!(got
        .iter()
        .zip(&many)
        .all(|(e, s)| e.id == s.id && e.data == s.data));
    assert_eq!(revisions(&got), (0..5000).collect::<Vec<_>>());
    let back = read(&client, "many", ReadOptions::backwards().max_count(2500)).await;
    assert_eq!(revisions(&back), (2500..5000).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn append_multi_is_atomic_and_ordered() {
    let server = Server::start();
    let client = server.client().await;
    let results = client
        .append_multi(vec![
            StreamAppend::new(
                "acct-1",
                ExpectedRevision::NoStream,
                events("Opened", "1", 2),
            ),
            StreamAppend::new(
                "acct-2",
                ExpectedRevision::NoStream,
                events("Opened", "2", 3),
            ),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        (results[0].first_revision, results[0].last_revision),
        (0, 1)
    );
    assert_eq!(
        (results[1].first_revision, results[1].last_revision),
        (0, 2)
    );
    // One transaction: contiguous positions, in request order.
    assert_eq!(
        (results[0].first_position, results[0].last_position),
        (1, 2)
    );
    assert_eq!(
        (results[1].first_position, results[1].last_position),
        (3, 5)
    );

    // One failing check: nothing is written anywhere.
    let err = client
        .append_multi(vec![
            StreamAppend::new(
                "acct-1",
                ExpectedRevision::Exact(1),
                events("Moved", "x", 1),
            ),
            StreamAppend::new(
                "acct-2",
                ExpectedRevision::Exact(0),
                events("Moved", "y", 1),
            ),
        ])
        .await
        .unwrap_err();
    match err {
        strata_client::Error::WrongExpectedRevision {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(stream, "acct-2");
            assert_eq!(expected, ExpectedRevision::Exact(0));
            assert_eq!(actual, strata_client::CurrentRevision::Current(2));
        }
        other => panic!("expected WrongExpectedRevision, got {other:?}"),
    }
    assert_eq!(
        read(&client, "acct-1", ReadOptions::forwards()).await.len(),
        2
    );
    assert_eq!(
        read(&client, "acct-2", ReadOptions::forwards()).await.len(),
        3
    );
    assert_eq!(client.server_info().await.unwrap().head_position, 5);
}
