//! Catch-up subscriptions: history then live, from every kind of start,
//! filtered checkpoints, a seeded concurrent stress test, and resumption
//! across server restarts without gap or duplicate.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{events, eventually, within, Server};
use futures::{Stream, StreamExt, TryStreamExt};
use rand::{Rng, SeedableRng};
use strata_client::{
    Client, ExpectedRevision, Filter, ReadAllOptions, RecordedEvent, SubscribeFrom,
    SubscriptionItem,
};
use strata_proto::v1 as pb;

const WAIT: Duration = Duration::from_secs(30);

type Sub = Box<dyn Stream<Item = strata_client::Result<SubscriptionItem>> + Unpin + Send>;

/// Next item, with a timeout.
async fn next(sub: &mut Sub) -> SubscriptionItem {
    within(WAIT, "subscription item", sub.next())
        .await
        .expect("subscription ended")
        .expect("subscription error")
}

/// Collects items until `n` events arrived; returns (events, caught-up count).
async fn take_events(sub: &mut Sub, n: usize) -> (Vec<RecordedEvent>, usize) {
    let mut out = Vec::new();
    let mut caught_up = 0;
    while out.len() < n {
        match next(sub).await {
            SubscriptionItem::Event(e) => out.push(e),
            SubscriptionItem::CaughtUp(_) => caught_up += 1,
            SubscriptionItem::Checkpoint(_) => {}
        }
    }
    (out, caught_up)
}

/// Skips to the first CaughtUp, returning the events before it.
async fn until_caught_up(sub: &mut Sub) -> (Vec<RecordedEvent>, u64) {
    let mut out = Vec::new();
    loop {
        match next(sub).await {
            SubscriptionItem::Event(e) => out.push(e),
            SubscriptionItem::CaughtUp(p) => return (out, p),
            SubscriptionItem::Checkpoint(_) => {}
        }
    }
}

fn stream_sub(c: &Client, stream: &str, from: SubscribeFrom) -> Sub {
    Box::new(c.subscribe_to_stream(stream, from))
}

fn all_sub(c: &Client, from: SubscribeFrom, filter: Filter) -> Sub {
    Box::new(c.subscribe_to_all(from, filter))
}

fn revs(v: &[RecordedEvent]) -> Vec<u64> {
    v.iter().map(|e| e.revision).collect()
}

fn poss(v: &[RecordedEvent]) -> Vec<u64> {
    v.iter().map(|e| e.position).collect()
}

#[tokio::test]
async fn stream_subscription_from_start_end_and_after() {
    let server = Server::start();
    let c = server.client().await;
    c.append("s", ExpectedRevision::NoStream, events("E", "h", 5))
        .await
        .unwrap();
    c.append("other", ExpectedRevision::NoStream, events("E", "o", 2))
        .await
        .unwrap();

    let mut from_start = stream_sub(&c, "s", SubscribeFrom::Start);
    let mut from_end = stream_sub(&c, "s", SubscribeFrom::End);
    let mut after2 = stream_sub(&c, "s", SubscribeFrom::After(2));
    let mut later = stream_sub(&c, "not-yet", SubscribeFrom::Start);

    let (hist, head) = until_caught_up(&mut from_start).await;
    assert_eq!(revs(&hist), vec![0, 1, 2, 3, 4]);
    assert!(head >= 7);
    let (hist, _) = until_caught_up(&mut from_end).await;
    assert!(hist.is_empty(), "{hist:?}");
    let (hist, _) = until_caught_up(&mut after2).await;
    assert_eq!(revs(&hist), vec![3, 4]);
    let (hist, _) = until_caught_up(&mut later).await;
    assert!(hist.is_empty());

    // Live events, interleaved with another stream.
    for i in 0..3 {
        c.append(
            "s",
            ExpectedRevision::Any,
            events("Live", &format!("l{i}"), 2),
        )
        .await
        .unwrap();
        c.append("other", ExpectedRevision::Any, events("E", "x", 1))
            .await
            .unwrap();
    }
    c.append("not-yet", ExpectedRevision::NoStream, events("New", "n", 2))
        .await
        .unwrap();
    let (live, cu) = take_events(&mut from_start, 6).await;
    assert_eq!(revs(&live), (5..11).collect::<Vec<_>>());
    assert!(live
        .iter()
        .all(|e| e.stream == "s" && e.event_type == "Live"));
    assert_eq!(cu, 0, "caught-up must be sent once");
    let (live, _) = take_events(&mut from_end, 6).await;
    assert_eq!(revs(&live), (5..11).collect::<Vec<_>>());
    let (live, _) = take_events(&mut after2, 6).await;
    assert_eq!(revs(&live), (5..11).collect::<Vec<_>>());
    let (live, _) = take_events(&mut later, 2).await;
    assert_eq!(revs(&live), vec![0, 1]);
    assert!(live.iter().all(|e| e.stream == "not-yet"));
}

#[tokio::test]
async fn all_subscription_from_start_end_and_after() {
    let server = Server::start();
    let c = server.client().await;
    for i in 0..4 {
        c.append(
            format!("a-{i}"),
            ExpectedRevision::NoStream,
            events("E", "h", 3),
        )
        .await
        .unwrap();
    }
    let mut from_start = all_sub(&c, SubscribeFrom::Start, Filter::new());
    let mut from_end = all_sub(&c, SubscribeFrom::End, Filter::new());
    let mut after7 = all_sub(&c, SubscribeFrom::After(7), Filter::new());

    let (hist, head) = until_caught_up(&mut from_start).await;
    assert_eq!(poss(&hist), (1..=12).collect::<Vec<_>>());
    assert_eq!(head, 12);
    let (hist, _) = until_caught_up(&mut from_end).await;
    assert!(hist.is_empty());
    let (hist, _) = until_caught_up(&mut after7).await;
    assert_eq!(poss(&hist), (8..=12).collect::<Vec<_>>());

    for i in 0..5 {
        c.append(format!("b-{i}"), ExpectedRevision::Any, events("L", "l", 2))
            .await
            .unwrap();
    }
    for sub in [&mut from_start, &mut from_end, &mut after7] {
        let (live, _) = take_events(sub, 10).await;
        assert_eq!(poss(&live), (13..=22).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn server_side_start_positions_over_the_raw_api() {
    // The typed client resolves `End` itself; check the server's own
    // handling of every `from`, and that caught-up comes exactly once.
    use pb::subscribe_request::From as F;
    use pb::subscribe_response::Content;
    let server = Server::start();
    let c = server.client().await;
    c.append("r", ExpectedRevision::NoStream, events("E", "h", 3))
        .await
        .unwrap();
    c.append("q", ExpectedRevision::NoStream, events("E", "h", 2))
        .await
        .unwrap();
    let mut raw = server.raw().await;
    let cases: Vec<(&str, Option<F>, Vec<u64>)> = vec![
        ("r", None, vec![1, 2, 3]),
        ("r", Some(F::Start(pb::Empty {})), vec![1, 2, 3]),
        ("r", Some(F::End(pb::Empty {})), vec![]),
        ("r", Some(F::AfterRevision(0)), vec![2, 3]),
        ("$all", None, vec![1, 2, 3, 4, 5]),
        ("$all", Some(F::End(pb::Empty {})), vec![]),
        ("$all", Some(F::AfterPosition(4)), vec![5]),
    ];
    let mut subs = Vec::new();
    for (stream, from, want) in cases {
        let req = pb::SubscribeRequest {
            stream: stream.into(),
            from,
            ..Default::default()
        };
        let mut s = raw.subscribe(req.clone()).await.unwrap().into_inner();
        let mut got = Vec::new();
        loop {
            let m = within(WAIT, "raw message", s.message())
                .await
                .unwrap()
                .unwrap();
            match m.content {
                Some(Content::Events(e)) => got.extend(e.events.iter().map(|e| e.position)),
                Some(Content::CaughtUp(cu)) => {
                    assert_eq!(cu.position, 5);
                    break;
                }
                other => panic!("{req:?}: unexpected {other:?}"),
            }
        }
        assert_eq!(got, want, "{req:?}");
        subs.push((stream, s));
    }
    c.append("r", ExpectedRevision::Exact(2), events("E", "l", 1))
        .await
        .unwrap();
    for (stream, mut s) in subs {
        let m = within(WAIT, "live raw message", s.message())
            .await
            .unwrap()
            .unwrap();
        match m.content {
            Some(Content::Events(e)) => {
                assert_eq!(e.events.len(), 1, "{stream}");
                assert_eq!(e.events[0].position, 6, "{stream}");
            }
            other => panic!("{stream}: expected the live event, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn filtered_all_subscription_sends_checkpoints() {
    let server = Server::start();
    let c = server.client().await;
    // 100 non-matching events, a few matching ones in between.
    for i in 0..10 {
        c.append(
            format!("noise-{i}"),
            ExpectedRevision::Any,
            events("Noise", "n", 10),
        )
        .await
        .unwrap();
        c.append(
            "order-1",
            ExpectedRevision::Any,
            events("Placed", &format!("p{i}"), 1),
        )
        .await
        .unwrap();
    }
    let filter = Filter::new().stream_prefix("order-");
    let mut sub: Sub =
        Box::new(c.subscribe_to_all_with_checkpoints(SubscribeFrom::Start, filter.clone(), 8));
    let mut got = Vec::new();
    let mut checkpoints = Vec::new();
    let mut last_seen = 0u64; // highest position delivered or checkpointed
    loop {
        match next(&mut sub).await {
            SubscriptionItem::Event(e) => {
                assert!(
                    e.position > last_seen,
                    "event {} after checkpoint {last_seen}",
                    e.position
                );
                last_seen = e.position;
                got.push(e);
            }
            SubscriptionItem::Checkpoint(p) => {
                assert!(p >= last_seen, "checkpoint {p} went back from {last_seen}");
                assert!(p <= 110);
                last_seen = p;
                checkpoints.push(p);
            }
            SubscriptionItem::CaughtUp(head) => {
                assert_eq!(head, 110);
                break;
            }
        }
    }
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|e| e.stream == "order-1"));
    assert_eq!(revs(&got), (0..10).collect::<Vec<_>>());
    assert!(
        !checkpoints.is_empty(),
        "no checkpoint while scanning 100 filtered-out events"
    );

    // Live: checkpoints keep coming while only noise is written.
    for i in 0..4 {
        c.append(
            "noise-x",
            ExpectedRevision::Any,
            events("Noise", &format!("x{i}"), 10),
        )
        .await
        .unwrap();
    }
    c.append(
        "order-2",
        ExpectedRevision::Any,
        events("Placed", "late", 1),
    )
    .await
    .unwrap();
    let mut live_checkpoints = 0;
    loop {
        match next(&mut sub).await {
            SubscriptionItem::Event(e) => {
                assert_eq!(e.stream, "order-2");
                assert_eq!(e.position, 151);
                assert!(e.position > last_seen);
                break;
            }
            SubscriptionItem::Checkpoint(p) => {
                assert!(p >= last_seen && p <= 151);
                last_seen = p;
                live_checkpoints += 1;
            }
            SubscriptionItem::CaughtUp(_) => panic!("second caught-up"),
        }
    }
    assert!(
        live_checkpoints > 0,
        "no checkpoint over 40 live filtered-out events"
    );
}

/// What a stress subscriber watches.
#[derive(Debug, Clone)]
enum Target {
    Stream(String),
    All(Filter),
}

impl Target {
    fn matches(&self, e: &RecordedEvent) -> bool {
        match self {
            Target::Stream(s) => e.stream == *s,
            Target::All(f) => f.matches(&e.stream, &e.event_type),
        }
    }
}

struct Watcher {
    target: Target,
    from: SubscribeFrom,
    events: Arc<Mutex<Vec<RecordedEvent>>>,
    caught_up: Arc<Mutex<bool>>,
    error: Arc<Mutex<Option<String>>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_concurrent_writers_and_random_subscribers() {
    let seed: u64 = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("stress seed = {seed} (rerun with STRATA_TEST_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let server = Server::start();
    let c = server.client().await;
    const WRITERS: usize = 4;
    const APPENDS: usize = 100;
    const SUBSCRIBERS: usize = 16;

    // Each writer: a seeded plan of (stream, type, batch size).
    let plans: Vec<Vec<(String, &'static str, usize)>> = (0..WRITERS)
        .map(|w| {
            (0..APPENDS)
                .map(|_| {
                    let stream = format!("w{w}-{}", rng.random_range(0..3));
                    let ty = if rng.random_bool(0.5) {
                        "Alpha"
                    } else {
                        "Beta"
                    };
                    (stream, ty, rng.random_range(1..=4))
                })
                .collect()
        })
        .collect();
    // When (in total appends done) each subscriber starts.
    let mut starts: Vec<usize> = (0..SUBSCRIBERS)
        .map(|_| rng.random_range(0..WRITERS * APPENDS))
        .collect();
    starts.sort_unstable();

    let done_appends = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = plans
        .into_iter()
        .map(|plan| {
            let c = c.clone();
            let done = done_appends.clone();
            tokio::spawn(async move {
                for (stream, ty, n) in plan {
                    c.append(stream, ExpectedRevision::Any, events(ty, "s", n))
                        .await
                        .unwrap();
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    let mut watchers = Vec::new();
    for start_at in starts {
        eventually(WAIT, "writer progress", || {
            let d = done_appends.load(std::sync::atomic::Ordering::SeqCst);
            async move { (d >= start_at).then_some(()) }
        })
        .await;
        let target = match rng.random_range(0..4) {
            0 => Target::All(Filter::new()),
            1 => Target::All(Filter::new().event_type("Alpha")),
            2 => Target::All(
                Filter::new().stream_prefix(format!("w{}-", rng.random_range(0..WRITERS))),
            ),
            _ => Target::Stream(format!(
                "w{}-{}",
                rng.random_range(0..WRITERS),
                rng.random_range(0..3)
            )),
        };
        // `End` only for unfiltered `$all`, which is sure to see the final
        // sentinel event (so the test knows when its suffix is complete).
        let unfiltered = matches!(&target, Target::All(f) if f.is_empty());
        let from = match rng.random_range(0..3) {
            0 => SubscribeFrom::Start,
            1 if unfiltered => SubscribeFrom::End,
            1 => SubscribeFrom::Start,
            _ => match &target {
                Target::All(_) => {
                    let head = c.server_info().await.unwrap().head_position;
                    SubscribeFrom::After(rng.random_range(0..=head))
                }
                Target::Stream(s) => {
                    let last = c
                        .read_stream(
                            s.as_str(),
                            strata_client::ReadOptions::backwards().max_count(1),
                        )
                        .try_collect::<Vec<_>>()
                        .await
                        .ok()
                        .and_then(|v| v.first().map(|e| e.revision));
                    match last {
                        Some(r) => SubscribeFrom::After(rng.random_range(0..=r)),
                        None => SubscribeFrom::Start,
                    }
                }
            },
        };
        let w = Watcher {
            target: target.clone(),
            from,
            events: Arc::default(),
            caught_up: Arc::default(),
            error: Arc::default(),
        };
        let mut sub: Sub = match &target {
            Target::All(f) => all_sub(&c, from, f.clone()),
            Target::Stream(s) => stream_sub(&c, s, from),
        };
        let (events_out, cu, err) = (w.events.clone(), w.caught_up.clone(), w.error.clone());
        tokio::spawn(async move {
            while let Some(item) = sub.next().await {
                match item {
                    Ok(SubscriptionItem::Event(e)) => events_out.lock().unwrap().push(e),
                    Ok(SubscriptionItem::CaughtUp(_)) => *cu.lock().unwrap() = true,
                    Ok(SubscriptionItem::Checkpoint(_)) => {}
                    Err(e) => {
                        *err.lock().unwrap() = Some(e.to_string());
                        return;
                    }
                }
            }
        });
        watchers.push(w);
    }
    for w in writers {
        within(WAIT, "writer", w).await.unwrap();
    }
    // Every subscriber is live; then one last event that `End` subscribers
    // are sure to see.
    for (i, w) in watchers.iter().enumerate() {
        let cu = w.caught_up.clone();
        eventually(
            WAIT,
            &format!("subscriber {i} caught up (seed {seed})"),
            || {
                let ok = *cu.lock().unwrap();
                async move { ok.then_some(()) }
            },
        )
        .await;
    }
    c.append(
        "zz-sentinel",
        ExpectedRevision::NoStream,
        events("Sentinel", "end", 1),
    )
    .await
    .unwrap();

    let committed: Vec<RecordedEvent> = c
        .read_all(ReadAllOptions::forwards())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        poss(&committed),
        (1..=committed.len() as u64).collect::<Vec<_>>()
    );
    for (i, w) in watchers.iter().enumerate() {
        let matching: Vec<&RecordedEvent> =
            committed.iter().filter(|e| w.target.matches(e)).collect();
        let expected: Vec<RecordedEvent> = match (w.from, &w.target) {
            (SubscribeFrom::Start, _) => matching.into_iter().cloned().collect(),
            (SubscribeFrom::After(p), Target::All(_)) => matching
                .into_iter()
                .filter(|e| e.position > p)
                .cloned()
                .collect(),
            (SubscribeFrom::After(r), Target::Stream(_)) => matching
                .into_iter()
                .filter(|e| e.revision > r)
                .cloned()
                .collect(),
            // End (unfiltered `$all` only): a suffix of the log that ends
            // with the sentinel and starts where the first received event is.
            (SubscribeFrom::End, _) => {
                let ev = w.events.clone();
                let first = eventually(
                    WAIT,
                    &format!("subscriber {i} sees the sentinel (seed {seed})"),
                    || {
                        let got = ev.lock().unwrap();
                        let r = (got.last().map(|e| e.stream.as_str()) == Some("zz-sentinel"))
                            .then(|| got[0].position);
                        async move { r }
                    },
                )
                .await;
                matching
                    .into_iter()
                    .filter(|e| e.position >= first)
                    .cloned()
                    .collect()
            }
        };
        let label = format!(
            "subscriber {i} {:?} from {:?} (seed {seed})",
            w.target, w.from
        );
        let want_len = expected.len();
        let (ev, er) = (w.events.clone(), w.error.clone());
        eventually(WAIT, &format!("{label}: {want_len} events"), || {
            let n = ev.lock().unwrap().len();
            if let Some(e) = er.lock().unwrap().as_ref() {
                panic!("{label}: subscription failed: {e}");
            }
            async move { (n >= want_len).then_some(()) }
        })
        .await;
        let got = w.events.lock().unwrap().clone();
        assert_eq!(poss(&got), poss(&expected), "{label}");
        assert_eq!(got, expected, "{label}");
    }
}

#[tokio::test]
async fn subscriptions_resume_across_restarts_without_gap_or_duplicate() {
    let mut server = Server::start();
    let c = server.client().await;
    c.append("r-1", ExpectedRevision::NoStream, events("E", "a", 10))
        .await
        .unwrap();
    c.append("r-2", ExpectedRevision::NoStream, events("E", "b", 5))
        .await
        .unwrap();

    let mut all = all_sub(&c, SubscribeFrom::Start, Filter::new());
    let mut one = stream_sub(&c, "r-1", SubscribeFrom::Start);
    let mut filtered = all_sub(
        &c,
        SubscribeFrom::After(3),
        Filter::new().stream_prefix("r-2"),
    );
    let (hist, _) = until_caught_up(&mut all).await;
    assert_eq!(poss(&hist), (1..=15).collect::<Vec<_>>());
    let (hist, _) = until_caught_up(&mut one).await;
    assert_eq!(revs(&hist), (0..10).collect::<Vec<_>>());
    let (hist, _) = until_caught_up(&mut filtered).await;
    assert_eq!(poss(&hist), (11..=15).collect::<Vec<_>>());

    let mut all_got = Vec::new();
    let mut one_got = Vec::new();
    let mut filtered_got = Vec::new();
    for (round, graceful) in [(0, true), (1, false)] {
        // Live events, then a restart; more events while the subscribers
        // are disconnected, then more after.
        c.append(
            "r-1",
            ExpectedRevision::Any,
            events("E", &format!("x{round}"), 3),
        )
        .await
        .unwrap();
        c.append(
            "r-2",
            ExpectedRevision::Any,
            events("E", &format!("y{round}"), 2),
        )
        .await
        .unwrap();
        if graceful {
            let st = server.terminate().await;
            assert!(
                st.success(),
                "SIGTERM with open subscriptions: {st:?}\n{}",
                server.logs()
            );
        } else {
            server.kill();
        }
        server.restart();
        c.append(
            "r-1",
            ExpectedRevision::Any,
            events("E", &format!("z{round}"), 4),
        )
        .await
        .unwrap();
        c.append(
            "r-2",
            ExpectedRevision::Any,
            events("E", &format!("w{round}"), 1),
        )
        .await
        .unwrap();
        all_got.extend(take_events(&mut all, 10).await.0);
        one_got.extend(take_events(&mut one, 7).await.0);
        filtered_got.extend(take_events(&mut filtered, 3).await.0);
    }
    let committed: Vec<RecordedEvent> = c
        .read_all(ReadAllOptions::forwards())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(committed.len(), 35);
    assert_eq!(all_got, committed[15..].to_vec());
    let r1: Vec<_> = committed
        .iter()
        .filter(|e| e.stream == "r-1" && e.revision >= 10)
        .cloned()
        .collect();
    assert_eq!(one_got, r1);
    let r2: Vec<_> = committed
        .iter()
        .filter(|e| e.stream == "r-2" && e.position > 15)
        .cloned()
        .collect();
    assert_eq!(filtered_got, r2);

    // Nothing further (no duplicate) is pending: a new event is the next item.
    c.append("r-1", ExpectedRevision::Any, events("E", "final", 1))
        .await
        .unwrap();
    let (last, _) = take_events(&mut all, 1).await;
    assert_eq!(last[0].position, 36);
    let (last, _) = take_events(&mut one, 1).await;
    assert_eq!(last[0].revision, 24);
}
