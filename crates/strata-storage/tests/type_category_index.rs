//! The event-type and category indexes as callers see them: on random
//! logs (streams in a few categories, random types, deletes and retention,
//! scavenges, reopens), every filtered `$all` read — forwards and
//! backwards, from random positions, with random `max_count`, while the
//! indexer runs — equals the same read by a scan; events not yet indexed
//! are read at once; and the listings of types and categories count what
//! a scan counts. Seeded: a failure prints the seed to replay it with.

mod common;

use common::{ev, seed};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::Duration;
use strata_storage::*;

const CATEGORIES: [&str; 4] = ["order", "user", "cart", "x"];
const TYPES: [&str; 5] = ["A", "B", "C", "Placed", "Rare"];

fn random_stream(rng: &mut StdRng) -> String {
    let c = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
    match rng.random_range(0..10) {
        // A stream without the separator: its own category.
        0 => c.to_owned(),
        1 => format!("{c}-eu-{}", rng.random_range(0..3)),
        _ => format!("{c}-{}", rng.random_range(0..6)),
    }
}

fn random_type(rng: &mut StdRng) -> &'static str {
    match rng.random_range(0..20) {
        0 => "Rare",
        n => TYPES[n % 4],
    }
}

fn random_filter(rng: &mut StdRng) -> Filter {
    let mut f = Filter {
        include_system: rng.random_bool(0.2),
        ..Filter::default()
    };
    if rng.random_bool(0.6) {
        for _ in 0..rng.random_range(1..3) {
            f.event_types
                .push(TYPES[rng.random_range(0..TYPES.len())].to_owned());
        }
        if rng.random_bool(0.1) {
            f.event_types.push("Never".to_owned());
        }
    }
    if rng.random_bool(0.6) || f.event_types.is_empty() {
        let prefixes = [
            "order-",
            "user-",
            "cart-",
            "x-",
            "order-eu-",
            "order-1",
            "ord",
            "$$",
            "",
        ];
        for _ in 0..rng.random_range(1..3) {
            f.stream_prefixes
                .push(prefixes[rng.random_range(0..prefixes.len())].to_owned());
        }
    }
    f
}

/// Appends a random transaction (sometimes over two streams).
fn append_some(s: &Store, rng: &mut StdRng) {
    let mut appends = Vec::new();
    for _ in 0..rng.random_range(1..3) {
        let stream = random_stream(rng);
        if appends.iter().any(|a: &StreamAppend| a.stream == stream) {
            continue;
        }
        let events = (0..rng.random_range(1..6))
            .map(|_| ev(random_type(rng), b"{}"))
            .collect();
        appends.push(StreamAppend {
            stream,
            expected: ExpectedRevision::Any,
            events,
        });
    }
    s.append_multi(appends).unwrap();
}

/// A lifecycle change to a random stream: delete, max_count or truncate.
fn change_lifecycle(s: &Store, rng: &mut StdRng) {
    let stream = random_stream(rng);
    let r = match rng.random_range(0..3) {
        0 => s
            .delete_stream(&stream, ExpectedRevision::Any, false)
            .map(|_| ()),
        1 => s
            .set_stream_metadata(
                &stream,
                ExpectedRevision::Any,
                StreamMetadata {
                    max_count: Some(rng.random_range(1..4)),
                    ..Default::default()
                },
            )
            .map(|_| ()),
        _ => s
            .set_stream_metadata(
                &stream,
                ExpectedRevision::Any,
                StreamMetadata {
                    truncate_before: Some(rng.random_range(0..5)),
                    ..Default::default()
                },
            )
            .map(|_| ()),
    };
    r.unwrap();
}

/// One random read, through the index and by a scan: the pages must be equal.
fn check_read(s: &Store, rng: &mut StdRng, ctx: &str) {
    let f = random_filter(rng);
    let head = s.head();
    let from = match rng.random_range(0..4) {
        0 => AllFrom::Start,
        1 => AllFrom::End,
        _ => AllFrom::Position(rng.random_range(0..=head + 2)),
    };
    let dir = match rng.random_bool(0.5) {
        true => Direction::Forwards,
        false => Direction::Backwards,
    };
    let max = match rng.random_range(0..10) {
        0 => 0,
        1 => usize::MAX,
        _ => rng.random_range(1..40),
    };
    let by_index = s.read_all(from, dir, max, &f).unwrap();
    let by_scan = s.read_all_by_scan(from, dir, max, &f).unwrap();
    assert_eq!(
        by_index,
        by_scan,
        "{ctx}: {f:?} from {from:?} {dir:?} max {max} (head {head}, indexed {})",
        s.indexed_position()
    );
}

/// Every page of a filtered read, paging with `scanned_to` as a caller does.
fn page_through(
    s: &Store,
    f: &Filter,
    dir: Direction,
    max: usize,
    scan: bool,
) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut from = match dir {
        Direction::Forwards => AllFrom::Start,
        Direction::Backwards => AllFrom::End,
    };
    loop {
        let page = match scan {
            true => s.read_all_by_scan(from, dir, max, f),
            false => s.read_all(from, dir, max, f),
        }
        .unwrap();
        out.extend(page.events.into_iter().map(|e| (e.position, e.stream)));
        if page.reached_end {
            return out;
        }
        from = match dir {
            Direction::Forwards => AllFrom::Position(page.scanned_to + 1),
            Direction::Backwards => AllFrom::Position(page.scanned_to - 1),
        };
    }
}

fn check_paging(s: &Store, rng: &mut StdRng, ctx: &str) {
    let f = random_filter(rng);
    for dir in [Direction::Forwards, Direction::Backwards] {
        let max = rng.random_range(1..30);
        assert_eq!(
            page_through(s, &f, dir, max, false),
            page_through(s, &f, dir, max, true),
            "{ctx}: paging {f:?} {dir:?} by {max}"
        );
    }
}

/// What the listings should say: events per type and per category of
/// every record a raw read of the log returns (application streams only).
fn counted_by_scan(s: &Store) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let (mut types, mut cats) = (BTreeMap::new(), BTreeMap::new());
    let mut from = 1;
    loop {
        let page = s.read_log(from, 10_000).unwrap();
        for e in &page.events {
            if e.stream.starts_with('$') {
                continue;
            }
            *types.entry(e.event_type.clone()).or_default() += 1;
            let cat = e.stream.split('-').next().unwrap().to_owned();
            *cats.entry(cat).or_default() += 1;
        }
        if page.reached_end {
            return (types, cats);
        }
        from = page.scanned_to + 1;
    }
}

fn listed(v: Vec<NameCount>) -> BTreeMap<String, u64> {
    v.into_iter().map(|n| (n.name, n.events)).collect()
}

fn check_listings(s: &Store, ctx: &str) {
    let (types, cats) = counted_by_scan(s);
    assert_eq!(
        listed(s.list_event_types("", None, 100).unwrap()),
        types,
        "{ctx}"
    );
    assert_eq!(
        listed(s.list_categories("", None, 100).unwrap()),
        cats,
        "{ctx}"
    );
    // Paging by name, two at a time.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.list_categories("", after.as_deref(), 2).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        paged.extend(page);
    }
    assert_eq!(listed(paged), cats, "{ctx}: paged");
    // By prefix: the names starting with it, from sled and the tail alike;
    // an `after` before the prefix's names starts at the first of them.
    let firsts = cats.keys().chain(types.keys());
    let firsts = firsts.map(|n| n.chars().take(1).collect::<String>());
    for prefix in firsts.chain(["~".to_owned()]) {
        let only = |all: &BTreeMap<String, u64>| -> BTreeMap<String, u64> {
            let mut m = all.clone();
            m.retain(|n, _| n.starts_with(&prefix));
            m
        };
        let got = s.list_categories(&prefix, Some("!"), 100).unwrap();
        assert_eq!(listed(got), only(&cats), "{ctx}: prefix {prefix}");
        let got = s.list_event_types(&prefix, None, 100).unwrap();
        assert_eq!(listed(got.clone()), only(&types), "{ctx}: prefix {prefix}");
        if let Some(first) = got.first() {
            let rest = s.list_event_types(&prefix, Some(&first.name), 100).unwrap();
            assert_eq!(
                rest[..],
                got[1..],
                "{ctx}: prefix {prefix} after {}",
                first.name
            );
        }
    }
}

fn wait_scavenge(s: &Store) {
    for _ in 0..6000 {
        let st = s.scavenge_status().expect("a scavenge ran");
        if st.state != ScavengeState::Running {
            assert_eq!(st.state, ScavengeState::Completed, "{st:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("scavenge did not finish");
}

#[test]
fn index_backed_reads_equal_scans_on_random_logs() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    for scenario in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), Options::default()).unwrap();
        for step in 0..400 {
            let ctx = format!("seed {seed} scenario {scenario} step {step}");
            match rng.random_range(0..100) {
                0..=59 => append_some(&s, &mut rng),
                60..=64 => change_lifecycle(&s, &mut rng),
                65 => {
                    s.start_scavenge(ScavengeOptions::default()).unwrap();
                    wait_scavenge(&s);
                    check_listings(&s, &ctx);
                }
                66 => {
                    drop(s);
                    s = Store::open(dir.path(), Options::default()).unwrap();
                }
                67..=69 => check_paging(&s, &mut rng, &ctx),
                70 => check_listings(&s, &ctx),
                // Let the indexer catch up now and then, so reads see
                // sled, the tail, and both.
                71 => std::thread::sleep(Duration::from_millis(30)),
                _ => check_read(&s, &mut rng, &ctx),
            }
        }
        let ctx = format!("seed {seed} scenario {scenario} end");
        s.start_scavenge(ScavengeOptions::default()).unwrap();
        wait_scavenge(&s);
        for _ in 0..50 {
            check_read(&s, &mut rng, &ctx);
        }
        check_paging(&s, &mut rng, &ctx);
        check_listings(&s, &ctx);
    }
}

#[test]
fn events_not_yet_indexed_are_read_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    let f = Filter {
        event_types: vec!["Fresh".into()],
        ..Filter::default()
    };
    for i in 0..50u64 {
        let r = s
            .append(
                &format!("order-{}", i % 3),
                ExpectedRevision::Any,
                vec![ev("Other", b"{}"), ev("Fresh", b"{}")],
            )
            .unwrap();
        // Before the indexer (which lingers for a batch) has run, usually.
        let page = s
            .read_all(AllFrom::End, Direction::Backwards, 1, &f)
            .unwrap();
        assert_eq!(page.events[0].position, r.last_position);
        let cats = Filter {
            stream_prefixes: vec!["order-".into()],
            ..Filter::default()
        };
        let page = s
            .read_all(
                AllFrom::Position(r.first_position),
                Direction::Forwards,
                10,
                &cats,
            )
            .unwrap();
        assert_eq!(page.events.len(), 2);
        assert!(page.reached_end);
        assert_eq!(
            page_through(&s, &f, Direction::Forwards, 7, false).len(),
            i as usize + 1
        );
    }
}

#[test]
fn a_changed_separator_rebuilds_the_categories_and_none_given_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    for stream in ["order_eu-1", "order_us-2", "order-3"] {
        s.append(stream, ExpectedRevision::Any, vec![ev("E", b"{}")])
            .unwrap();
    }
    let names = |s: &Store| -> Vec<(String, u64)> {
        let l = s.list_categories("", None, 10).unwrap();
        l.into_iter().map(|n| (n.name, n.events)).collect()
    };
    assert_eq!(
        names(&s),
        [
            ("order".into(), 1),
            ("order_eu".into(), 1),
            ("order_us".into(), 1)
        ]
    );
    drop(s);
    let opts = Options {
        category_separator: Some('_'),
        ..Options::default()
    };
    let s = Store::open(dir.path(), opts).unwrap();
    assert_eq!(names(&s), [("order".into(), 2), ("order-3".into(), 1)]);
    let f = Filter {
        stream_prefixes: vec!["order_".into()],
        ..Filter::default()
    };
    let page = s
        .read_all(AllFrom::Start, Direction::Forwards, 10, &f)
        .unwrap();
    assert_eq!(page.events.len(), 2);
    assert_eq!(
        page,
        s.read_all_by_scan(AllFrom::Start, Direction::Forwards, 10, &f)
            .unwrap()
    );
    drop(s);
    // No separator given (a tool opening the store): the index keeps the
    // one it was built with instead of rebuilding.
    let s = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(s.category_separator(), '_');
    assert_eq!(names(&s), [("order".into(), 2), ("order-3".into(), 1)]);
}

#[test]
fn listings_are_cut_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    let events = (0..MAX_LISTED_NAMES + 5)
        .map(|i| ev(&format!("T{i:05}"), b"{}"))
        .collect();
    s.append("many-1", ExpectedRevision::Any, events).unwrap();
    assert_eq!(
        s.list_event_types("", None, usize::MAX).unwrap().len(),
        MAX_LISTED_NAMES
    );
    let rest = s.list_event_types("", Some("T00999"), usize::MAX).unwrap();
    assert_eq!(rest.len(), 5);
    assert_eq!(rest[0].name, "T01000");
    assert!(s.list_event_types("", None, 0).unwrap().is_empty());
}
