//! Listing streams by prefix, page by page, with each stream's revision.

mod common;

use std::collections::BTreeMap;

use common::{events, Server};
use futures::TryStreamExt;
use strata_client::{Client, ExpectedRevision, StreamSummary};

async fn all_pages(c: &Client, prefix: &str, page_size: u32) -> (Vec<StreamSummary>, usize) {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = c
            .list_streams_page(prefix, token.as_deref(), page_size)
            .await
            .unwrap();
        pages += 1;
        assert!(page.streams.len() <= page_size.max(1) as usize || page_size == 0);
        out.extend(page.streams);
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
        assert!(pages < 100, "paging does not end");
    }
    (out, pages)
}

#[tokio::test]
async fn paging_by_prefix() {
    let server = Server::start();
    let c = server.client().await;
    // name -> (revision, last position)
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut names: Vec<String> = (0..25).map(|i| format!("acct-{i:02}")).collect();
    names.extend((0..5).map(|i| format!("user-{i}")));
    names.push("acct".into());
    names.push("acctx".into());
    names.push("zzz".into());
    // Write in a shuffled-ish order, some streams twice.
    for (k, name) in names.iter().enumerate().rev() {
        let n = 1 + k % 3;
        let r = c
            .append(name.as_str(), ExpectedRevision::Any, events("E", name, n))
            .await
            .unwrap();
        expected.insert(name.clone(), (r.last_revision, r.last_position));
    }
    for name in names.iter().step_by(4) {
        let r = c
            .append(name.as_str(), ExpectedRevision::Any, events("F", name, 1))
            .await
            .unwrap();
        expected.insert(name.clone(), (r.last_revision, r.last_position));
    }

    let check = |got: &[StreamSummary], prefix: &str| {
        let want: Vec<_> = expected
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .collect();
        let got_names: Vec<_> = got.iter().map(|s| s.name.as_str()).collect();
        let want_names: Vec<_> = want.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(got_names, want_names, "prefix {prefix:?}");
        for s in got {
            assert_eq!(
                (s.revision, s.last_position),
                expected[&s.name],
                "{}",
                s.name
            );
        }
    };

    let (got, pages) = all_pages(&c, "acct-", 7).await;
    check(&got, "acct-");
    assert_eq!(pages, 4, "25 streams in pages of 7");
    let (got, _) = all_pages(&c, "acct", 10).await;
    check(&got, "acct");
    assert_eq!(got.len(), 27);
    let (got, pages) = all_pages(&c, "user-", 5).await;
    check(&got, "user-");
    assert!(pages <= 2);
    let (got, pages) = all_pages(&c, "", 0).await;
    check(&got, "");
    assert_eq!(pages, 1, "33 streams fit the default page of 100");
    let (got, pages) = all_pages(&c, "nope", 10).await;
    assert!(got.is_empty());
    assert_eq!(pages, 1);
    let (got, pages) = all_pages(&c, "", 1).await;
    check(&got, "");
    assert!(pages >= 33);

    // The paged helper walks every page.
    let got: Vec<_> = c.list_streams("acct-", 4).try_collect().await.unwrap();
    check(&got, "acct-");
}

#[tokio::test]
async fn page_size_is_capped() {
    let server = Server::start();
    let c = server.client().await;
    let tx: Vec<_> = (0..1005)
        .map(|i| {
            strata_client::StreamAppend::new(
                format!("s-{i:04}"),
                ExpectedRevision::NoStream,
                events("E", "x", 1),
            )
        })
        .collect::<Vec<_>>();
    // At most 100 streams per transaction.
    for chunk in tx.chunks(100) {
        c.append_multi(chunk.to_vec()).await.unwrap();
    }
    let page = c.list_streams_page("s-", None, 5000).await.unwrap();
    assert_eq!(page.streams.len(), 1000);
    let rest = c
        .list_streams_page("s-", page.next_page_token.as_deref(), 5000)
        .await
        .unwrap();
    assert_eq!(rest.streams.len(), 5);
    assert_eq!(rest.next_page_token, None);
    assert_eq!(rest.streams[0].name, "s-1000");
}
