//! Idempotent appends: re-sending the same event ids returns the original
//! result with `deduplicated = true` and writes nothing; a partial overlap
//! is refused with ALREADY_EXISTS.

mod common;

use common::{error_kind, events, raw_event, Server};
use futures::TryStreamExt;
use strata_client::{
    AppendResult, Client, Error, EventData, ExpectedRevision, ReadOptions, StreamAppend,
};
use strata_proto::v1 as pb;

async fn ids(client: &Client, stream: &str) -> Vec<uuid::Uuid> {
    client
        .read_stream(stream, ReadOptions::forwards())
        .map_ok(|e| e.id)
        .try_collect()
        .await
        .unwrap()
}

fn same_figures(a: &AppendResult, b: &AppendResult) {
    assert_eq!(
        (
            a.first_revision,
            a.last_revision,
            a.first_position,
            a.last_position
        ),
        (
            b.first_revision,
            b.last_revision,
            b.first_position,
            b.last_position
        )
    );
}

async fn head(c: &Client) -> u64 {
    c.server_info().await.unwrap().head_position
}

#[tokio::test]
async fn retry_with_each_expected_revision_is_deduplicated() {
    let server = Server::start();
    let c = server.client().await;
    // Some unrelated history so positions and revisions differ.
    c.append("other", ExpectedRevision::Any, events("O", "o", 3))
        .await
        .unwrap();

    let cases = [
        ("exact", Some(ExpectedRevision::Exact(1))),
        ("nostream", Some(ExpectedRevision::NoStream)),
        ("any", Some(ExpectedRevision::Any)),
        ("exists", Some(ExpectedRevision::StreamExists)),
    ];
    for (stream, expected) in cases {
        let expected = expected.unwrap();
        // Prepare the stream state the expected revision needs.
        match expected {
            ExpectedRevision::Exact(r) => {
                c.append(
                    stream,
                    ExpectedRevision::Any,
                    events("Seed", stream, r as usize + 1),
                )
                .await
                .unwrap();
            }
            ExpectedRevision::StreamExists | ExpectedRevision::Any => {
                c.append(stream, ExpectedRevision::Any, events("Seed", stream, 1))
                    .await
                    .unwrap();
            }
            _ => {}
        }
        let batch = events("Batch", stream, 3);
        let first = c.append(stream, expected, batch.clone()).await.unwrap();
        assert!(!first.deduplicated, "{stream}");
        let before = ids(&c, stream).await;
        let head_before = head(&c).await;

        for _ in 0..2 {
            let again = c.append(stream, expected, batch.clone()).await.unwrap();
            assert!(
                again.deduplicated,
                "{stream}: retry not deduplicated: {again:?}"
            );
            same_figures(&first, &again);
        }
        assert_eq!(
            ids(&c, stream).await,
            before,
            "{stream}: retry wrote events"
        );
        assert_eq!(
            head(&c).await,
            head_before,
            "{stream}: retry moved the head"
        );
        let batch_ids: Vec<_> = batch.iter().map(|e| e.id).collect();
        assert_eq!(&before[before.len() - 3..], &batch_ids[..]);
    }
}

#[tokio::test]
async fn exact_retry_after_the_stream_moved_on() {
    let server = Server::start();
    let c = server.client().await;
    let batch = events("A", "a", 2);
    let first = c
        .append("s", ExpectedRevision::NoStream, batch.clone())
        .await
        .unwrap();
    // Someone else appends after ours.
    c.append("s", ExpectedRevision::Exact(1), events("B", "b", 2))
        .await
        .unwrap();
    // Our (late) retry still recognises the original append.
    let again = c
        .append("s", ExpectedRevision::NoStream, batch.clone())
        .await
        .unwrap();
    assert!(again.deduplicated);
    same_figures(&first, &again);
    // A different append with the old expectation is a genuine conflict.
    let err = c
        .append("s", ExpectedRevision::NoStream, events("A", "new", 2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::WrongExpectedRevision { .. }),
        "{err:?}"
    );
    assert_eq!(ids(&c, "s").await.len(), 4);
}

#[tokio::test]
async fn partial_overlap_is_already_exists() {
    let server = Server::start();
    let c = server.client().await;
    let batch = events("A", "a", 2);
    c.append("p", ExpectedRevision::Any, batch.clone())
        .await
        .unwrap();
    let head_before = head(&c).await;

    // Any: one old id plus one new one.
    let mixed = vec![batch[0].clone(), EventData::binary("A", b"new".to_vec())];
    let err = c
        .append("p", ExpectedRevision::Any, mixed.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PartialDuplicate { .. }), "{err:?}");
    // NoStream (an exact position): some of the ids at that position match,
    // some do not, so it is not a clean retry: ALREADY_EXISTS, nothing written.
    let err = c
        .append("p", ExpectedRevision::NoStream, mixed)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::PartialDuplicate { .. }),
        "expected a partial duplicate, got {err:?}"
    );
    assert_eq!(head(&c).await, head_before);
    assert_eq!(
        ids(&c, "p").await,
        batch.iter().map(|e| e.id).collect::<Vec<_>>()
    );

    // On the wire: ALREADY_EXISTS with strata-error.
    let mut raw = server.raw().await;
    let mut dup = raw_event("A", b"dup");
    dup.id = batch[1].id.to_string();
    let st = raw
        .append(pb::AppendRequest {
            stream: "p".into(),
            expected_revision: None,
            events: vec![dup, raw_event("A", b"fresh")],
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::AlreadyExists, "{st:?}");
    assert!(error_kind(&st).is_some(), "{st:?}");
}

#[tokio::test]
async fn append_multi_retry_is_deduplicated() {
    let server = Server::start();
    let c = server.client().await;
    let tx = vec![
        StreamAppend::new("m-1", ExpectedRevision::NoStream, events("E", "1", 2)),
        StreamAppend::new("m-2", ExpectedRevision::NoStream, events("E", "2", 1)),
    ];
    let first = c.append_multi(tx.clone()).await.unwrap();
    let head_before = head(&c).await;
    let again = c.append_multi(tx).await.unwrap();
    assert_eq!(again.len(), 2);
    for (a, b) in first.iter().zip(&again) {
        assert!(b.deduplicated, "{b:?}");
        same_figures(a, b);
    }
    assert_eq!(head(&c).await, head_before);
}
