//! `ListEventTypes` and `ListCategories` against the real binary: the
//! event types and stream categories of appends across several streams,
//! with their event counts (before and after a restart moves them from the
//! index's tail into sled), by prefix, page by page; the category separator
//! from `--category-separator` (and a changed one rebuilding the index, a
//! bad one refused at start); who may see which names; `strata types` and
//! `strata categories`.

mod common;

use common::cli::{cli, describe};
use common::{events, Server};
use futures::TryStreamExt;
use std::collections::BTreeMap;
use strata_client::{Client, Error, ExpectedRevision, NameCount, Permission, RetryPolicy};

/// The names and counts of a listing.
fn counted(v: Vec<NameCount>) -> BTreeMap<String, u64> {
    v.into_iter().map(|n| (n.name, n.events)).collect()
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

async fn types(c: &Client, prefix: &str) -> BTreeMap<String, u64> {
    counted(c.list_event_types(prefix, 0).try_collect().await.unwrap())
}

async fn categories(c: &Client, prefix: &str) -> BTreeMap<String, u64> {
    counted(c.list_categories(prefix, 0).try_collect().await.unwrap())
}

async fn append(c: &Client, stream: &str, ty: &str, n: usize) {
    c.append(stream, ExpectedRevision::Any, events(ty, stream, n))
        .await
        .unwrap();
}

/// Every category page of `page_size` starting with `prefix`: the pages'
/// lengths and the names.
async fn category_pages(c: &Client, prefix: &str, page_size: u32) -> (Vec<usize>, Vec<String>) {
    let (mut lens, mut names, mut token) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let page = c
            .list_categories_page(prefix, token.as_deref(), page_size)
            .await
            .unwrap();
        assert_eq!(page.separator, Some('-'));
        lens.push(page.names.len());
        names.extend(page.names.into_iter().map(|n| n.name));
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => return (lens, names),
        }
        assert!(lens.len() < 100, "paging does not end");
    }
}

#[tokio::test]
async fn types_and_categories_are_listed_with_counts_by_prefix_and_by_page() {
    let mut server = Server::start();
    let c = server.client().await;
    append(&c, "order-1", "OrderPlaced", 2).await;
    append(&c, "order-1", "OrderShipped", 1).await;
    append(&c, "order-2", "OrderPlaced", 1).await;
    append(&c, "order-eu-3", "OrderPlaced", 1).await;
    append(&c, "invoice-1", "InvoiceIssued", 3).await;
    append(&c, "cart", "CartOpened", 1).await;
    for i in 0..12 {
        append(&c, &format!("c{i:02}-x"), "Ping", 1).await;
    }
    // A deleted stream's events count until a scavenge drops them.
    c.delete_stream("invoice-1", ExpectedRevision::Any)
        .await
        .unwrap();
    let want_types = map(&[
        ("CartOpened", 1),
        ("InvoiceIssued", 3),
        ("OrderPlaced", 4),
        ("OrderShipped", 1),
        ("Ping", 12),
    ]);
    let mut want_cats = map(&[("cart", 1), ("invoice", 3), ("order", 5)]);
    want_cats.extend((0..12).map(|i| (format!("c{i:02}"), 1)));

    // Fresh appends (the index's tail), then the same from sled.
    for round in ["before a restart", "after a restart"] {
        assert_eq!(types(&c, "").await, want_types, "{round}");
        assert_eq!(categories(&c, "").await, want_cats, "{round}");
        assert_eq!(
            types(&c, "Order").await,
            map(&[("OrderPlaced", 4), ("OrderShipped", 1)]),
            "{round}"
        );
        assert_eq!(categories(&c, "c0").await.len(), 10, "{round}");
        assert!(types(&c, "Nothing").await.is_empty(), "{round}");
        server.terminate().await;
        server.restart();
    }

    // 15 categories in pages of 4; a page starts after its token.
    let (lens, names) = category_pages(&c, "", 4).await;
    assert_eq!(lens, [4, 4, 4, 3]);
    assert_eq!(names, want_cats.keys().cloned().collect::<Vec<_>>());
    let (lens, _) = category_pages(&c, "c1", 1).await;
    assert_eq!(lens, [1, 1], "c10, c11");
    let page = c.list_event_types_page("", Some("OrderPlaced"), 2).await;
    let page = page.unwrap();
    assert_eq!(
        counted(page.names),
        map(&[("OrderShipped", 1), ("Ping", 12)])
    );
    assert_eq!(page.next_page_token, None);
    // A token before the prefix's names: from the first of them.
    let page = c
        .list_event_types_page("Order", Some("A"), 0)
        .await
        .unwrap();
    assert_eq!(page.names.len(), 2);
    assert_eq!(page.separator, None);
    // Any page size is clamped, not refused.
    let page = c.list_categories_page("", None, 1_000_000).await.unwrap();
    assert_eq!(page.names.len(), 15);

    // The CLI: a table for people, JSON lines with --json.
    let out = cli(&server.url(), &["types", "Order"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["TYPE", "EVENTS"],
            vec!["OrderPlaced", "4"],
            vec!["OrderShipped", "1"]
        ],
        "{text}"
    );
    let out = cli(&server.url(), &["categories", "--json", "--max", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            serde_json::json!({"category": "c00", "events": 1}),
            serde_json::json!({"category": "c01", "events": 1}),
            serde_json::json!({"category": "c02", "events": 1}),
        ]
    );
}

#[tokio::test]
async fn the_separator_comes_from_the_flag_a_change_rebuilds_and_a_bad_one_is_refused() {
    let mut server = Server::start_with_args(&["--category-separator", "_"]);
    let c = server.client().await;
    append(&c, "order_1", "Placed", 2).await;
    append(&c, "order-2", "Placed", 1).await;
    let page = c.list_categories_page("", None, 0).await.unwrap();
    assert_eq!(page.separator, Some('_'));
    assert_eq!(counted(page.names), map(&[("order", 2), ("order-2", 1)]));
    server.terminate().await;

    // Restarted without the flag: the store keeps its separator, no rebuild.
    let mut kept = Server::start_on(server.data_dir().to_path_buf());
    let c = kept.client().await;
    let page = c.list_categories_page("", None, 0).await.unwrap();
    assert_eq!(page.separator, Some('_'));
    assert_eq!(counted(page.names), map(&[("order", 2), ("order-2", 1)]));
    assert!(
        !kept.logs().contains("category separator changed"),
        "{}",
        kept.logs()
    );
    kept.terminate().await;

    // Another separator: the index is rebuilt.
    let again = Server::start_on_with_args(
        server.data_dir().to_path_buf(),
        &["--category-separator", "-"],
    );
    let c = again.client().await;
    let page = c.list_categories_page("", None, 0).await.unwrap();
    assert_eq!(page.separator, Some('-'));
    assert_eq!(counted(page.names), map(&[("order", 1), ("order_1", 2)]));
    assert!(
        again.logs().contains("category separator changed"),
        "{}",
        again.logs()
    );
    drop(again);

    // Not one printable character: refused before anything opens.
    for bad in ["::", ""] {
        let out = common::strata(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--category-separator",
                bad,
            ],
            server.data_dir(),
        );
        assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("category_separator must be one printable character"),
            "{bad:?}: {err}"
        );
    }
}

/// A client of `user`, whose password is `<user>-password`.
async fn login(url: &str, user: &str) -> Client {
    Client::builder(url)
        .basic_auth(user, &format!("{user}-password"))
        .retry_policy(RetryPolicy::none())
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn categories_are_shown_to_whoever_may_read_them_whole_and_types_need_every_stream() {
    let server = Server::start();
    let anon = server.client_no_retry().await;
    append(&anon, "order", "Opened", 1).await;
    append(&anon, "order-1", "Placed", 2).await;
    append(&anon, "invoice-1", "Issued", 1).await;
    // The first user turns authentication on.
    anon.add_user("root", "root-password", &["admin"])
        .await
        .unwrap();
    let url = server.url();
    let login = |user: &'static str| login(&url, user);
    let root = login("root").await;
    for (user, prefix) in [("orders", "order"), ("lines", "order-"), ("all", "")] {
        root.add_user(user, &format!("{user}-password"), &[])
            .await
            .unwrap();
        root.grant(&format!("user:{user}"), prefix, &[Permission::Read])
            .await
            .unwrap();
    }
    root.add_user("writer", "writer-password", &[])
        .await
        .unwrap();
    root.grant("user:writer", "", &[Permission::Write])
        .await
        .unwrap();

    let everything = map(&[("invoice", 1), ("order", 3)]);
    assert_eq!(categories(&root, "").await, everything);
    assert_eq!(categories(&login("all").await, "").await, everything);
    // Read on "order…" covers the whole category; on "order-…" it misses
    // the stream "order", so the category is not shown.
    let orders = login("orders").await;
    assert_eq!(categories(&orders, "").await, map(&[("order", 3)]));
    let lines = login("lines").await;
    assert!(categories(&lines, "").await.is_empty());
    // A page without a readable name still continues.
    let page = lines.list_categories_page("", None, 1).await.unwrap();
    assert!(page.names.is_empty());
    assert_eq!(page.next_page_token.as_deref(), Some("invoice"));

    // Types span every stream: read on all of them, or refused.
    let all_types = map(&[("Issued", 1), ("Opened", 1), ("Placed", 2)]);
    assert_eq!(types(&login("all").await, "").await, all_types);
    assert_eq!(types(&root, "").await, all_types);
    for c in [orders, login("writer").await] {
        let e = c.list_event_types_page("", None, 0).await.unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
        assert!(e.to_string().contains("read on every stream"), "{e}");
    }
    let anon = server.client_no_retry().await;
    let e = anon.list_categories_page("", None, 0).await.unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
}
