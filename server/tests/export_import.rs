//! `strata export` and `strata import` against the real binary: an export
//! imported into an empty store gives the same streams, revisions, ids,
//! types, content types and bytes; importing again, resuming an
//! interrupted import, or importing a later export (`--from`) writes each
//! event exactly once; a target that holds other events is a conflict
//! (exit 4).

mod common;

use common::cli::{cli, describe, import_file};
use common::Server;
use futures::TryStreamExt;
use std::collections::BTreeMap;
use std::path::Path;
use strata_client::{
    Client, EventData, ExpectedRevision, ReadAllOptions, ReadOptions, RecordedEvent, StreamAppend,
    StreamMetadata,
};

/// A source store with the cases that matter: JSON (one line and
/// pretty-printed), binary, empty and text payloads, JSON and binary
/// metadata, a non-ASCII stream name, multi-stream transactions, a
/// truncated stream (exported from revision 4: renumbered), a deleted one
/// (not exported) and, last, a long stream (several transactions per
/// chunk). In the export: lines 1-5 `order-1`, 6-45 the transactions,
/// 46-51 `trunc`, then `many`.
async fn source(c: &Client) {
    let json = EventData::json(
        "OrderPlaced",
        &serde_json::json!({"total": 42, "é": [1.50, null]}),
    )
    .unwrap()
    .with_metadata(br#"{"user":"ann"}"#.to_vec());
    let pretty = EventData::binary("Pretty", b"{\n  \"a\": 1\n}".to_vec())
        .with_content_type("application/json");
    let binary = EventData::binary("Blob", vec![0, 159, 255, 10, 13]).with_metadata(vec![1, 2]);
    let empty = EventData::binary("Empty", Vec::new());
    let text = EventData::binary("Note", "ünïcode\ttext".as_bytes().to_vec())
        .with_content_type("text/plain; charset=utf-8");
    c.append(
        "order-1",
        ExpectedRevision::NoStream,
        vec![json, pretty, binary, empty, text],
    )
    .await
    .unwrap();
    for i in 0..20u64 {
        let parts = vec![
            StreamAppend::new(
                "customer-é",
                ExpectedRevision::Any,
                vec![EventData::json("Visited", &i).unwrap()],
            ),
            StreamAppend::new(
                format!("cart-{}", i % 3),
                ExpectedRevision::Any,
                vec![EventData::json("Added", &i).unwrap()],
            ),
        ];
        c.append_multi(parts).await.unwrap();
    }
    let trunc = (0..10).map(|i| EventData::json("T", &i).unwrap()).collect();
    c.append("trunc", ExpectedRevision::NoStream, trunc)
        .await
        .unwrap();
    c.set_stream_metadata(
        "trunc",
        ExpectedRevision::Any,
        StreamMetadata::new().truncate_before(4),
    )
    .await
    .unwrap();
    let gone = vec![EventData::json("G", &0).unwrap()];
    c.append("gone", ExpectedRevision::NoStream, gone)
        .await
        .unwrap();
    c.delete_stream("gone", ExpectedRevision::Any)
        .await
        .unwrap();
    for i in 0..12u64 {
        let events = (0..1000)
            .map(|k| EventData::json("Tick", &(i * 1000 + k)).unwrap())
            .collect();
        c.append("many", ExpectedRevision::Any, events)
            .await
            .unwrap();
    }
}

/// `strata export [args] > <file>`.
fn export(url: &str, file: &Path, args: &[&str]) {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let out = cli(url, &all);
    assert_eq!(out.status.code(), Some(0), "export: {}", describe(&out));
    std::fs::write(file, &out.stdout).unwrap();
}

/// Every application event of a store, by stream (in revision order).
async fn by_stream(c: &Client) -> BTreeMap<String, Vec<RecordedEvent>> {
    let all: Vec<RecordedEvent> = c
        .read_all(ReadAllOptions::forwards())
        .try_collect()
        .await
        .unwrap();
    let mut out: BTreeMap<String, Vec<RecordedEvent>> = BTreeMap::new();
    for e in all {
        out.entry(e.stream.clone()).or_default().push(e);
    }
    out
}

/// What must survive an export and an import, revisions shifted by `by`.
fn essence(e: &RecordedEvent, by: u64) -> (u64, uuid::Uuid, &str, &str, &[u8], &[u8]) {
    (
        e.revision - by,
        e.id,
        &e.event_type,
        &e.content_type,
        &e.data,
        &e.metadata,
    )
}

fn assert_same_events(
    source: &BTreeMap<String, Vec<RecordedEvent>>,
    target: &BTreeMap<String, Vec<RecordedEvent>>,
) {
    assert_eq!(
        source.keys().collect::<Vec<_>>(),
        target.keys().collect::<Vec<_>>()
    );
    for (stream, events) in source {
        // A truncated stream is renumbered from 0 in the target.
        let by = events[0].revision;
        let want: Vec<_> = events.iter().map(|e| essence(e, by)).collect();
        let got: Vec<_> = target[stream].iter().map(|e| essence(e, 0)).collect();
        assert!(want == got, "stream {stream} differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_into_an_empty_store_keeps_streams_revisions_ids_types_and_bytes() {
    let from = Server::start();
    let c = from.client().await;
    source(&c).await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("events.jsonl");
    export(&from.url(), &file, &[]);
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count(), 5 + 40 + 12_000 + 6);
    assert!(
        lines.contains(r#""data":{"total":42,"é":[1.5,null]}"#),
        "JSON data verbatim"
    );
    assert!(
        !lines.contains("\"gone\""),
        "a deleted stream is not exported"
    );

    let to = Server::start();
    let summary = import_file(&to.url(), &file);
    assert_eq!(summary["written"], 5 + 40 + 12_000 + 6, "{summary}");
    assert_eq!(summary["renumbered_streams"], 1, "{summary}");
    let tc = to.client().await;
    let source = by_stream(&c).await;
    let target = by_stream(&tc).await;
    assert_same_events(&source, &target);
    // A single stream, from a revision.
    let part = tmp.path().join("many.jsonl");
    export(&from.url(), &part, &["--stream", "many", "--from", "11990"]);
    let text = std::fs::read_to_string(&part).unwrap();
    assert_eq!(text.lines().count(), 10);
    assert!(text.lines().next().unwrap().contains(r#""revision":11990"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_again_resuming_and_importing_a_later_export_write_each_event_once() {
    let from = Server::start();
    let c = from.client().await;
    source(&c).await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("events.jsonl");
    export(&from.url(), &file, &[]);
    let text = std::fs::read_to_string(&file).unwrap();
    let total = text.lines().count() as u64;

    // Imports interrupted in the middle of the renumbered stream, then of
    // the long one.
    let to = Server::start();
    for (n, written) in [(48, 48), (7_000, 7_000 - 48)] {
        let cut: Vec<&str> = text.lines().take(n).collect();
        let part = tmp.path().join(format!("first-{n}.jsonl"));
        std::fs::write(&part, cut.join("\n") + "\n").unwrap();
        let first = import_file(&to.url(), &part);
        assert_eq!(first["written"], written, "{first}");
    }

    let resumed = import_file(&to.url(), &file);
    assert_eq!(
        resumed["written"].as_u64(),
        Some(total - 7_000),
        "{resumed}"
    );
    assert_eq!(resumed["already_present"], 7_000, "{resumed}");
    let again = import_file(&to.url(), &file);
    assert_eq!(again["written"], 0, "{again}");
    assert_eq!(again["already_present"].as_u64(), Some(total), "{again}");

    // New events in the source, exported from where the first export ended.
    let tc = to.client().await;
    let head = c.server_info().await.unwrap().head_position;
    for s in ["order-1", "new-stream"] {
        let e = EventData::json("Later", &s).unwrap();
        c.append(s, ExpectedRevision::Any, vec![e]).await.unwrap();
    }
    let later = tmp.path().join("later.jsonl");
    export(&from.url(), &later, &["--from", &(head + 1).to_string()]);
    let more = import_file(&to.url(), &later);
    assert_eq!(more["written"], 2, "{more}");
    assert_same_events(&by_stream(&c).await, &by_stream(&tc).await);
    let count: Vec<RecordedEvent> = tc
        .read_all(ReadAllOptions::forwards())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(count.len() as u64, total + 2, "no event twice");
}

#[tokio::test]
async fn an_import_into_a_store_with_other_events_is_a_conflict() {
    let from = Server::start();
    let c = from.client().await;
    source(&c).await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("events.jsonl");
    export(&from.url(), &file, &["--stream", "order-1"]);

    let to = Server::start();
    let tc = to.client().await;
    let other = EventData::json("Other", &1).unwrap();
    tc.append("order-1", ExpectedRevision::NoStream, vec![other])
        .await
        .unwrap();
    let out = cli(&to.url(), &["import", "--file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds other events"),
        "{}",
        describe(&out)
    );
    let events: Vec<RecordedEvent> = tc
        .read_stream("order-1", ReadOptions::forwards())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "nothing was written");

    // A stream whose export starts at revision 4 cannot follow a target
    // stream of other events that ends before it.
    let trunc = tmp.path().join("trunc.jsonl");
    export(&from.url(), &trunc, &["--stream", "trunc"]);
    tc.append(
        "trunc",
        ExpectedRevision::NoStream,
        vec![EventData::json("X", &0).unwrap()],
    )
    .await
    .unwrap();
    let out = cli(&to.url(), &["import", "--file", trunc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing"),
        "{}",
        describe(&out)
    );
    // A line that is not an event: exit 1, with its number.
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"stream\":\"x\"}\n").unwrap();
    let out = cli(&to.url(), &["import", "--file", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1"),
        "{}",
        describe(&out)
    );
}
