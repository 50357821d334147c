//! The dispatch rules under random acks, nacks, timeouts and disconnects
//! (property tests, seeds printed by proptest on failure), and a few exact
//! scenarios.

use super::*;
use proptest::prelude::{prop_assert, prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig};
use proptest::strategy::Strategy as PropStrategy;
use std::time::Duration;

fn event(stream: &str, revision: u64, position: u64) -> Arc<RecordedEvent> {
    Arc::new(RecordedEvent {
        stream: stream.into(),
        revision,
        position,
        id: Uuid::from_u128(position as u128),
        event_type: "E".into(),
        content_type: "application/octet-stream".into(),
        created_micros: 0,
        data: vec![],
        metadata: vec![],
    })
}

fn entry(stream: &str, revision: u64, position: u64) -> Entry {
    Entry {
        event: event(stream, revision, position),
        key: position,
        retry_count: 0,
        partition: Arc::from(stream),
        replay: None,
    }
}

fn settings(strategy: Strategy) -> GroupSettings {
    GroupSettings {
        strategy,
        max_retry_count: 2,
        max_in_flight: 3,
        ..GroupSettings::default()
    }
}

#[test]
fn round_robin_spreads_and_the_checkpoint_waits_for_the_oldest() {
    let mut g = GroupState::new(settings(Strategy::RoundRobin), 0);
    let a = g.join("a".into(), 3, 0);
    let b = g.join("b".into(), 3, 0);
    for p in 1..=4 {
        g.push(entry("s", p - 1, p));
    }
    let now = Instant::now();
    let sent = g.dispatch(now);
    assert_eq!(sent[&a].len(), 2);
    assert_eq!(sent[&b].len(), 2);
    let first_b = sent[&b][0].event.id;
    let first_a = sent[&a][0].event.id;
    g.ack(b, &[first_b]);
    assert_eq!(g.checkpoint(), 0, "position 1 is still out");
    // An ack from the wrong consumer is ignored.
    g.ack(b, &[first_a]);
    assert_eq!(g.checkpoint(), 0);
    g.ack(a, &[first_a]);
    assert_eq!(g.checkpoint(), 2);
}

#[test]
fn retries_park_after_the_limit_and_the_park_frees_the_checkpoint() {
    let mut g = GroupState::new(settings(Strategy::RoundRobin), 0);
    let a = g.join("a".into(), 1, 0);
    g.push(entry("s", 0, 1));
    let mut now = Instant::now();
    // max_retry_count 2: delivered with retry_count 0, 1 and 2, then parked.
    for attempt in 0..2 {
        let sent = g.dispatch(now);
        assert_eq!(sent[&a][0].retry_count, attempt);
        let out = g.nack(a, &[sent[&a][0].event.id], Nack::Retry, "boom");
        assert!(out.is_empty(), "retried, not parked yet");
        now += Duration::from_millis(1);
    }
    let sent = g.dispatch(now);
    assert_eq!(sent[&a][0].retry_count, 2);
    let out = g.nack(a, &[sent[&a][0].event.id], Nack::Retry, "boom");
    let Some(Outcome::Park(e, reason)) = out.into_iter().next() else {
        panic!("expected a park")
    };
    assert!(reason.contains("boom"), "{reason}");
    assert_eq!(g.checkpoint(), 0, "not done until the park is durable");
    g.parked(e, true);
    assert_eq!(g.checkpoint(), 1);
    assert_eq!(g.totals.parked, 1);
}

#[test]
fn a_timed_out_event_goes_to_another_consumer_and_the_late_ack_is_ignored() {
    let mut g = GroupState::new(settings(Strategy::RoundRobin), 0);
    let a = g.join("a".into(), 1, 0);
    g.push(entry("s", 0, 1));
    let t0 = Instant::now();
    let sent = g.dispatch(t0);
    let id = sent[&a][0].event.id;
    let b = g.join("b".into(), 1, 0);
    let later = t0 + g.settings().message_timeout() + Duration::from_millis(1);
    assert!(g.expire(later).is_empty());
    let again = g.dispatch(later);
    let (who, d) = again.iter().next().unwrap();
    assert_eq!(d[0].retry_count, 1);
    let other = if *who == a { b } else { a };
    assert!(g.ack(other, &[id]).is_empty(), "a stale ack does nothing");
    assert_eq!(g.ack(*who, &[id]).len(), 1);
    assert_eq!(g.checkpoint(), 1);
}

#[test]
fn pinned_keeps_a_stream_on_one_consumer() {
    let mut g = GroupState::new(settings(Strategy::Pinned), 0);
    let a = g.join("a".into(), 3, 0);
    let b = g.join("b".into(), 3, 0);
    for p in 1..=6 {
        let s = if p % 2 == 0 { "x" } else { "y" };
        g.push(entry(s, p, p));
    }
    let sent = g.dispatch(Instant::now());
    for ds in sent.values() {
        let streams: HashSet<_> = ds.iter().map(|d| d.event.stream.clone()).collect();
        assert_eq!(streams.len(), 1, "one stream per consumer");
    }
    assert_eq!(sent[&a].len() + sent[&b].len(), 6);
}

/// What a random run does next.
#[derive(Debug, Clone)]
enum Step {
    Deliver,
    Ack(usize),
    Nack(usize, u8),
    Expire,
    Leave(usize),
    Join,
}

fn step() -> impl PropStrategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Deliver),
        6 => (0usize..64).prop_map(Step::Ack),
        2 => (0usize..64, 0u8..3).prop_map(|(i, a)| Step::Nack(i, a)),
        1 => Just(Step::Expire),
        1 => (0usize..4).prop_map(Step::Leave),
        1 => Just(Step::Join),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// ordered_by_stream: never two events of one stream out at once; each
    /// stream is finished in revision order; the checkpoint only grows and
    /// never passes an unfinished event; in the end everything finishes.
    #[test]
    fn ordered_by_stream_keeps_each_stream_in_order(steps in proptest::collection::vec(step(), 1..300)) {
        let mut g = GroupState::new(settings(Strategy::OrderedByStream), 0);
        let mut consumers = vec![g.join("c0".into(), 3, 0), g.join("c1".into(), 3, 0)];
        let streams = ["a", "b", "c", "d"];
        let total = 40u64;
        for p in 1..=total {
            let s = streams[(p % 4) as usize];
            g.push(entry(s, p / 4, p));
        }
        // Per consumer, what it holds: (id, stream, revision).
        let mut held: Vec<(ConsumerId, Uuid, String, u64)> = Vec::new();
        let mut finished: HashMap<String, Vec<u64>> = HashMap::new();
        let mut done = HashSet::new();
        let mut now = Instant::now();
        let mut last_checkpoint = 0;
        let finish = |out: Vec<Outcome>, g: &mut GroupState, finished: &mut HashMap<String, Vec<u64>>, done: &mut HashSet<u64>| {
            for o in out {
                let e = match o {
                    Outcome::Done(e) => e,
                    Outcome::Park(e, _) => { let c = e.clone(); g.parked(e, true); c }
                };
                finished.entry(e.event.stream.clone()).or_default().push(e.event.revision);
                done.insert(e.key);
            }
        };
        for s in steps.iter().cloned().chain(std::iter::repeat_n(Step::Deliver, 1).chain((0..200).flat_map(|_| [Step::Ack(0), Step::Deliver]))) {
            match s {
                Step::Deliver => {
                    for (c, ds) in g.dispatch(now) {
                        for d in ds {
                            let s = d.event.stream.clone();
                            prop_assert!(!held.iter().any(|h| h.2 == s), "two events of {} out at once", s);
                            held.push((c, d.event.id, s, d.event.revision));
                        }
                    }
                }
                Step::Ack(i) if !held.is_empty() => {
                    let (c, id, _, _) = held.remove(i % held.len());
                    let out = g.ack(c, &[id]);
                    finish(out, &mut g, &mut finished, &mut done);
                }
                Step::Nack(i, a) if !held.is_empty() => {
                    let (c, id, _, _) = held.remove(i % held.len());
                    let action = [Nack::Retry, Nack::Park, Nack::Skip][a as usize];
                    let out = g.nack(c, &[id], action, "test");
                    finish(out, &mut g, &mut finished, &mut done);
                }
                Step::Expire => {
                    now += g.settings().message_timeout() + Duration::from_millis(1);
                    held.clear();
                    let out = g.expire(now);
                    finish(out, &mut g, &mut finished, &mut done);
                }
                Step::Leave(i) if consumers.len() > 1 => {
                    let c = consumers.remove(i % consumers.len());
                    held.retain(|h| h.0 != c);
                    let out = g.leave(c);
                    finish(out, &mut g, &mut finished, &mut done);
                }
                Step::Join if consumers.len() < 4 => consumers.push(g.join("cx".into(), 3, 0)),
                _ => {}
            }
            let cp = g.checkpoint();
            prop_assert!(cp >= last_checkpoint, "checkpoint went back {} -> {}", last_checkpoint, cp);
            prop_assert!((1..=cp).all(|k| done.contains(&k)), "checkpoint {} passes an unfinished event", cp);
            last_checkpoint = cp;
        }
        prop_assert_eq!(g.checkpoint(), total);
        for (s, revs) in finished {
            let mut sorted = revs.clone();
            sorted.sort();
            prop_assert_eq!(revs, sorted, "stream {} finished out of order", s);
        }
    }
}
