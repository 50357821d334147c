//! Reading the global log: gapless positions, both directions, starting
//! positions and timestamps, max_count and filters.

mod common;

use common::Server;
use futures::TryStreamExt;
use strata_client::{
    AllFrom, Client, EventData, ExpectedRevision, Filter, ReadAllOptions, RecordedEvent,
};

async fn read_all(c: &Client, opts: ReadAllOptions) -> Vec<RecordedEvent> {
    c.read_all(opts).try_collect().await.expect("read $all")
}

fn positions(v: &[RecordedEvent]) -> Vec<u64> {
    v.iter().map(|e| e.position).collect()
}

/// Writes 60 appends over 4 streams and 3 types; returns (stream, type) per
/// position.
async fn populate(c: &Client) -> Vec<(String, String)> {
    let streams = ["order-1", "order-2", "user-1", "orders-x"];
    let types = ["Placed", "Shipped", "Noted"];
    let mut written = Vec::new();
    for i in 0..60usize {
        let stream = streams[i % 4];
        let n = 1 + i % 3;
        let batch: Vec<_> = (0..n)
            .map(|j| EventData::binary(types[(i + j) % 3], format!("{i}-{j}").into_bytes()))
            .collect();
        for e in &batch {
            written.push((stream.to_owned(), e.event_type.clone()));
        }
        let r = c
            .append(stream, ExpectedRevision::Any, batch)
            .await
            .unwrap();
        assert_eq!(r.last_position as usize, written.len());
    }
    written
}

#[tokio::test]
async fn forwards_backwards_positions_and_limits() {
    let server = Server::start();
    let c = server.client().await;
    assert!(read_all(&c, ReadAllOptions::forwards()).await.is_empty());
    let written = populate(&c).await;
    let n = written.len() as u64;

    let all = read_all(&c, ReadAllOptions::forwards()).await;
    assert_eq!(positions(&all), (1..=n).collect::<Vec<_>>());
    for (e, (stream, ty)) in all.iter().zip(&written) {
        assert_eq!((&e.stream, &e.event_type), (stream, ty));
    }
    // Per-stream revisions are contiguous along the log.
    for s in ["order-1", "order-2", "user-1", "orders-x"] {
        let revs: Vec<u64> = all
            .iter()
            .filter(|e| e.stream == s)
            .map(|e| e.revision)
            .collect();
        assert_eq!(revs, (0..revs.len() as u64).collect::<Vec<_>>(), "{s}");
    }
    assert!(all
        .windows(2)
        .all(|w| w[0].created_micros <= w[1].created_micros));

    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(read_all(&c, ReadAllOptions::backwards()).await, rev);
    assert_eq!(
        read_all(&c, ReadAllOptions::backwards().from(AllFrom::End)).await,
        rev
    );

    let from = read_all(&c, ReadAllOptions::forwards().from(AllFrom::Position(50))).await;
    assert_eq!(positions(&from), (50..=n).collect::<Vec<_>>());
    let from = read_all(&c, ReadAllOptions::backwards().from(AllFrom::Position(50))).await;
    assert_eq!(positions(&from), (1..=50).rev().collect::<Vec<_>>());
    let first5 = read_all(&c, ReadAllOptions::forwards().max_count(5)).await;
    assert_eq!(positions(&first5), vec![1, 2, 3, 4, 5]);
    let last5 = read_all(&c, ReadAllOptions::backwards().max_count(5)).await;
    assert_eq!(positions(&last5), (n - 4..=n).rev().collect::<Vec<_>>());
    let mid = read_all(
        &c,
        ReadAllOptions::forwards()
            .from(AllFrom::Position(10))
            .max_count(7),
    )
    .await;
    assert_eq!(positions(&mid), (10..17).collect::<Vec<_>>());
    let start = read_all(
        &c,
        ReadAllOptions::forwards().from(AllFrom::Start).max_count(1),
    )
    .await;
    assert_eq!(positions(&start), vec![1]);
    let past = read_all(
        &c,
        ReadAllOptions::forwards().from(AllFrom::Position(n + 1)),
    )
    .await;
    assert!(past.is_empty());
}

#[tokio::test]
async fn filters() {
    let server = Server::start();
    let c = server.client().await;
    populate(&c).await;
    let all = read_all(&c, ReadAllOptions::forwards()).await;

    let filters = [
        Filter::new().event_type("Placed"),
        Filter::new().event_type("Placed").event_type("Noted"),
        Filter::new().stream_prefix("order-"),
        Filter::new().stream_prefix("orders").stream_prefix("user-"),
        Filter::new().stream_prefix("order").event_type("Shipped"),
        Filter::new().event_type("NoSuchType"),
    ];
    for f in filters {
        let want: Vec<_> = all
            .iter()
            .filter(|e| f.matches(&e.stream, &e.event_type))
            .cloned()
            .collect();
        let got = read_all(&c, ReadAllOptions::forwards().filter(f.clone())).await;
        assert_eq!(got, want, "forwards {f:?}");

        let mut back = want.clone();
        back.reverse();
        let got = read_all(&c, ReadAllOptions::backwards().filter(f.clone())).await;
        assert_eq!(got, back, "backwards {f:?}");

        // max_count counts matching events; a start position is inclusive.
        let got = read_all(
            &c,
            ReadAllOptions::forwards().filter(f.clone()).max_count(3),
        )
        .await;
        assert_eq!(
            got,
            want.iter().take(3).cloned().collect::<Vec<_>>(),
            "max 3 {f:?}"
        );
        let got = read_all(
            &c,
            ReadAllOptions::backwards()
                .filter(f.clone())
                .from(AllFrom::Position(40))
                .max_count(4),
        )
        .await;
        let expect: Vec<_> = back
            .iter()
            .filter(|e| e.position <= 40)
            .take(4)
            .cloned()
            .collect();
        assert_eq!(got, expect, "backwards from 40, max 4, {f:?}");
    }
}

#[tokio::test]
async fn timestamps() {
    let server = Server::start();
    let c = server.client().await;
    populate(&c).await;
    let all = read_all(&c, ReadAllOptions::forwards()).await;

    for idx in [0usize, 17, 55, all.len() - 1] {
        let t = all[idx].created_micros;
        let got = read_all(&c, ReadAllOptions::forwards().from(AllFrom::Timestamp(t))).await;
        let want: Vec<_> = all
            .iter()
            .filter(|e| e.created_micros >= t)
            .cloned()
            .collect();
        assert_eq!(got, want, "forwards from t of #{idx}");
        assert!(got.iter().any(|e| e.position == all[idx].position));

        let got = read_all(&c, ReadAllOptions::backwards().from(AllFrom::Timestamp(t))).await;
        let mut want: Vec<_> = all
            .iter()
            .filter(|e| e.created_micros <= t)
            .cloned()
            .collect();
        want.reverse();
        assert_eq!(got, want, "backwards from t of #{idx}");
    }
    let got = read_all(&c, ReadAllOptions::forwards().from(AllFrom::Timestamp(0))).await;
    assert_eq!(got, all);
    let future = all.last().unwrap().created_micros + 3_600_000_000;
    let got = read_all(
        &c,
        ReadAllOptions::forwards().from(AllFrom::Timestamp(future)),
    )
    .await;
    assert!(got.is_empty());
    let got = read_all(
        &c,
        ReadAllOptions::backwards()
            .from(AllFrom::Timestamp(future))
            .max_count(2),
    )
    .await;
    assert_eq!(
        positions(&got),
        vec![all.len() as u64, all.len() as u64 - 1]
    );
    let got = read_all(&c, ReadAllOptions::backwards().from(AllFrom::Timestamp(0))).await;
    assert!(
        got.is_empty(),
        "nothing was committed at or before t=0: {got:?}"
    );
}

#[tokio::test]
async fn many_pages_with_filter() {
    let server = Server::start();
    let c = server.client().await;
    // 6000 events in 3 appends; only every third is of type "Keep".
    for round in 0..3 {
        let batch: Vec<_> = (0..2000)
            .map(|i| {
                EventData::binary(
                    if i % 3 == 0 { "Keep" } else { "Skip" },
                    format!("{round}-{i}"),
                )
            })
            .collect();
        c.append(format!("bulk-{round}"), ExpectedRevision::NoStream, batch)
            .await
            .unwrap();
    }
    let all = read_all(&c, ReadAllOptions::forwards()).await;
    assert_eq!(positions(&all), (1..=6000).collect::<Vec<_>>());
    let keep = read_all(
        &c,
        ReadAllOptions::forwards().filter(Filter::new().event_type("Keep")),
    )
    .await;
    let want: Vec<_> = all
        .iter()
        .filter(|e| e.event_type == "Keep")
        .cloned()
        .collect();
    assert_eq!(keep.len(), 3 * 667);
    assert_eq!(keep, want);
}
