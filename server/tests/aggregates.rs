//! The client's aggregate `Repository` against the real binary: loading with
//! snapshots gives the same state as replaying everything (random event
//! sequences), concurrent saves conflict, unusable snapshots are ignored,
//! and historical loads (by revision and by time) are right.

mod common;

use common::Server;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use strata_client::{
    Aggregate, Client, Error, ExpectedRevision, Loaded, ReadOptions, Repository, SnapshotData,
    SnapshotPolicy,
};

/// A ledger whose state depends on the order of its events (`digest`), so a
/// replay that skips, repeats or reorders an event is caught.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Ledger {
    balance: i64,
    events: u64,
    notes: Vec<String>,
    digest: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum LedgerEvent {
    Deposited(i64),
    Withdrawn(i64),
    Noted(String),
}

impl Aggregate for Ledger {
    type Event = LedgerEvent;
    const TYPE: &'static str = "Ledger";
    const SCHEMA_VERSION: u32 = 2;

    fn apply(&mut self, e: &LedgerEvent) {
        let x = match e {
            LedgerEvent::Deposited(n) => {
                self.balance += n;
                *n as u64
            }
            LedgerEvent::Withdrawn(n) => {
                self.balance -= n;
                (*n as u64) << 1
            }
            LedgerEvent::Noted(s) => {
                self.notes.push(s.clone());
                s.len() as u64
            }
        };
        self.events += 1;
        self.digest = self.digest.wrapping_mul(1_000_003).wrapping_add(x + 1);
    }

    fn event_type(e: &LedgerEvent) -> &'static str {
        match e {
            LedgerEvent::Deposited(_) => "Deposited",
            LedgerEvent::Withdrawn(_) => "Withdrawn",
            LedgerEvent::Noted(_) => "Noted",
        }
    }
}

fn fold(events: &[LedgerEvent]) -> Ledger {
    let mut l = Ledger::default();
    for e in events {
        l.apply(e);
    }
    l
}

fn random_event(rng: &mut StdRng) -> LedgerEvent {
    match rng.random_range(0..3) {
        0 => LedgerEvent::Deposited(rng.random_range(1..1000)),
        1 => LedgerEvent::Withdrawn(rng.random_range(1..1000)),
        _ => LedgerEvent::Noted(format!("n{}", rng.random_range(0..100_000))),
    }
}

fn seed() -> u64 {
    let seed = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("seed {seed} (rerun with STRATA_TEST_SEED={seed})");
    seed
}

#[tokio::test]
async fn snapshot_loads_equal_full_replay_for_random_histories() {
    let server = Server::start();
    let client = server.client().await;
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let plain = Repository::<Ledger>::new(client.clone(), SnapshotPolicy::Never);
    for case in 0..30 {
        let stream = format!("ledger-{case}");
        let n = rng.random_range(1..=6u64);
        let snapping = Repository::<Ledger>::new(client.clone(), SnapshotPolicy::EveryNEvents(n));
        let mut history = Vec::new();
        let mut loaded = snapping.load(&stream).await.unwrap();
        assert_eq!(loaded, Loaded::default(), "seed {seed} case {case}");
        for _ in 0..rng.random_range(1..=8) {
            let batch: Vec<_> = (0..rng.random_range(1..=5))
                .map(|_| random_event(&mut rng))
                .collect();
            history.extend(batch.iter().cloned());
            snapping.save(&stream, &mut loaded, batch).await.unwrap();
            let expected = fold(&history);
            let last = history.len() as u64 - 1;
            assert_eq!(
                loaded.state, expected,
                "seed {seed} case {case}: saved state"
            );
            assert_eq!(loaded.version, Some(last));

            let with_snapshots = snapping.load(&stream).await.unwrap();
            let replayed = plain.load(&stream).await.unwrap();
            assert_eq!(with_snapshots.state, expected, "seed {seed} case {case}");
            assert_eq!(replayed.state, expected, "seed {seed} case {case}");
            assert_eq!(with_snapshots.version, Some(last));
            assert_eq!(replayed.events_replayed, history.len() as u64);
            assert_eq!(replayed.snapshot_revision, None);
            let raw: Vec<LedgerEvent> = futures::TryStreamExt::try_collect::<Vec<_>>(
                client.read_stream(stream.as_str(), ReadOptions::forwards()),
            )
            .await
            .unwrap()
            .iter()
            .map(|e| e.json().unwrap())
            .collect();
            assert_eq!(raw, history, "seed {seed} case {case}: stored events");
            if history.len() as u64 >= n {
                let s = with_snapshots
                    .snapshot_revision
                    .unwrap_or_else(|| panic!("seed {seed} case {case}: no snapshot used"));
                assert_eq!(with_snapshots.events_replayed, last - s);
            }

            // A random point in the past.
            let r = rng.random_range(0..=last);
            let past = snapping.load_at_revision(&stream, r).await.unwrap();
            assert_eq!(
                past.state,
                fold(&history[..=r as usize]),
                "seed {seed} case {case}: at revision {r}"
            );
            assert_eq!(past.version, Some(r));
            assert!(past.snapshot_revision.is_none_or(|s| s <= r));
        }
    }
}

#[tokio::test]
async fn concurrent_saves_conflict_and_the_loser_retries() {
    let server = Server::start();
    let a = Repository::<Ledger>::new(server.client().await, SnapshotPolicy::EveryNEvents(2));
    let b = Repository::<Ledger>::new(server.client().await, SnapshotPolicy::EveryNEvents(2));
    let stream = "ledger-shared";
    let mut first = a.load(stream).await.unwrap();
    a.save(stream, &mut first, vec![LedgerEvent::Deposited(100)])
        .await
        .unwrap();

    for round in 0..5 {
        let mut la = a.load(stream).await.unwrap();
        let mut lb = b.load(stream).await.unwrap();
        assert_eq!(la.version, lb.version);
        let before = la.clone();
        let (ra, rb) = tokio::join!(
            a.save(stream, &mut la, vec![LedgerEvent::Withdrawn(10)]),
            b.save(stream, &mut lb, vec![LedgerEvent::Deposited(1)]),
        );
        let (winner, loser_repo, loser_state, loser_err, loser_event) = match (ra, rb) {
            (Ok(_), Err(e)) => (la, &b, lb, e, LedgerEvent::Deposited(1)),
            (Err(e), Ok(_)) => (lb, &a, la, e, LedgerEvent::Withdrawn(10)),
            other => panic!("round {round}: exactly one save must win, got {other:?}"),
        };
        match loser_err {
            Error::WrongExpectedRevision {
                expected, actual, ..
            } => {
                assert_eq!(expected, ExpectedRevision::Exact(before.version.unwrap()));
                assert_eq!(actual.revision(), winner.version);
            }
            e => panic!("round {round}: expected WrongExpectedRevision, got {e:?}"),
        }
        assert_eq!(loser_state, before, "a failed save leaves the state alone");
        let mut reloaded = loser_repo.load(stream).await.unwrap();
        assert_eq!(reloaded.state, winner.state);
        loser_repo
            .save(stream, &mut reloaded, vec![loser_event])
            .await
            .unwrap();
        assert_eq!(reloaded.version, Some(before.version.unwrap() + 2));
    }
    let end = a.load(stream).await.unwrap();
    assert_eq!(end.state.balance, 100 + 5 * (1 - 10));
    assert_eq!(end.state.events, 11);
    // Creating a stream that exists is a conflict too (expected NoStream).
    let mut fresh = Loaded::<Ledger>::default();
    assert!(matches!(
        b.save(stream, &mut fresh, vec![LedgerEvent::Deposited(1)])
            .await,
        Err(Error::WrongExpectedRevision { .. })
    ));
}

#[tokio::test]
async fn unusable_snapshots_are_ignored() {
    let server = Server::start();
    let client: Client = server.client().await;
    // A policy that reads snapshots but takes none by itself here.
    let repo = Repository::<Ledger>::new(client.clone(), SnapshotPolicy::EveryNEvents(1000));
    let stream = "ledger-bad-snapshots";
    let history: Vec<_> = (1..=7).map(LedgerEvent::Deposited).collect();
    let mut l = repo.load(stream).await.unwrap();
    repo.save(stream, &mut l, history[..4].to_vec())
        .await
        .unwrap();
    repo.save(stream, &mut l, history[4..].to_vec())
        .await
        .unwrap();
    let expected = fold(&history);

    // A wrong snapshot claims a state that is not the real one: if it were
    // used, the balance would be off.
    let wrong_state = serde_json::to_vec(&Ledger {
        balance: -1,
        ..Ledger::default()
    })
    .unwrap();
    let bad = [
        (
            "other schema version",
            SnapshotData::new("Ledger", 1, wrong_state.clone()),
        ),
        (
            "other type",
            SnapshotData::new("Order", 2, wrong_state.clone()),
        ),
        (
            "not JSON",
            SnapshotData::new("Ledger", 2, b"\x00not json".to_vec()),
        ),
        (
            "wrong shape",
            SnapshotData::new("Ledger", 2, b"{\"balance\":\"x\"}".to_vec()),
        ),
    ];
    for (what, s) in bad {
        client.save_snapshot(stream, 5, s).await.unwrap();
        let loaded = repo.load(stream).await.unwrap();
        assert_eq!(loaded.state, expected, "{what}");
        assert_eq!(loaded.snapshot_revision, None, "{what}: must replay fully");
        assert_eq!(loaded.events_replayed, 7, "{what}");
    }

    // A good snapshot is used.
    repo.save_snapshot(stream, &repo.load_at_revision(stream, 5).await.unwrap())
        .await
        .unwrap();
    let loaded = repo.load(stream).await.unwrap();
    assert_eq!(loaded.state, expected);
    assert_eq!(loaded.snapshot_revision, Some(5));
    assert_eq!(loaded.events_replayed, 1);
}

#[tokio::test]
async fn historical_loads_by_revision_and_time() {
    let server = Server::start();
    let client = server.client().await;
    let repo = Repository::<Ledger>::new(client.clone(), SnapshotPolicy::EveryNEvents(3));
    let stream = "ledger-history";
    assert_eq!(
        repo.load_at_time(stream, i64::MAX).await.unwrap(),
        Loaded::default(),
        "no stream: default state"
    );

    let mut history = Vec::new();
    let mut l = repo.load(stream).await.unwrap();
    // Ten saves of 1 or 2 events, a few milliseconds apart, so that they
    // carry distinct commit times.
    for i in 0..10i64 {
        let batch: Vec<_> = (0..1 + i % 2)
            .map(|k| LedgerEvent::Deposited(10 * i + k))
            .collect();
        history.extend(batch.iter().cloned());
        repo.save(stream, &mut l, batch).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let recorded: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(
        client.read_stream(stream, ReadOptions::forwards()),
    )
    .await
    .unwrap();
    assert_eq!(recorded.len(), history.len());

    let mut used_snapshot = false;
    for r in 0..history.len() as u64 {
        let past = repo.load_at_revision(stream, r).await.unwrap();
        assert_eq!(past.state, fold(&history[..=r as usize]), "revision {r}");
        assert_eq!(past.version, Some(r));
        used_snapshot |= past.snapshot_revision.is_some();
    }
    assert!(
        used_snapshot,
        "some historical load should start from a snapshot"
    );
    let beyond = repo.load_at_revision(stream, 1000).await.unwrap();
    assert_eq!(beyond.state, fold(&history));

    let first = recorded[0].created_micros;
    assert_eq!(
        repo.load_at_time(stream, first - 1).await.unwrap(),
        Loaded::default(),
        "before the first event"
    );
    for e in &recorded {
        let t = e.created_micros;
        // Everything committed at or before t (a transaction shares one time).
        let upto = recorded.iter().filter(|x| x.created_micros <= t).count();
        let at = repo.load_at_time(stream, t).await.unwrap();
        assert_eq!(at.state, fold(&history[..upto]), "at time {t}");
        assert_eq!(at.version, Some(upto as u64 - 1));
    }
    let now = repo.load_at_time(stream, i64::MAX).await.unwrap();
    assert_eq!(now.state, fold(&history));
}

#[tokio::test]
async fn a_stream_recreated_after_a_soft_delete_loads_as_a_new_history() {
    let server = Server::start();
    let client = server.client().await;
    let repo: Repository<Ledger> = Repository::new(client.clone(), SnapshotPolicy::EveryNEvents(2));
    let mut l = repo.load("ledger-9").await.unwrap();
    for n in 1..=5 {
        repo.save("ledger-9", &mut l, vec![LedgerEvent::Deposited(n)])
            .await
            .unwrap();
    }
    assert_eq!(l.state.balance, 15);
    client
        .delete_stream("ledger-9", ExpectedRevision::Exact(4))
        .await
        .unwrap();
    let gone = repo.load("ledger-9").await.unwrap();
    assert_eq!(gone.version, None, "deleted: nothing, and no old snapshot");
    let mut again = gone;
    repo.save("ledger-9", &mut again, vec![LedgerEvent::Deposited(100)])
        .await
        .unwrap();
    repo.save("ledger-9", &mut again, vec![LedgerEvent::Withdrawn(1)])
        .await
        .unwrap();
    let reloaded = repo.load("ledger-9").await.unwrap();
    assert_eq!(reloaded.state.balance, 99);
    assert_eq!(reloaded.state.events, 2);
    assert_eq!(
        reloaded.version,
        Some(6),
        "revisions continue after the delete"
    );
    assert_eq!(
        (reloaded.state.clone(), reloaded.version),
        (again.state.clone(), again.version)
    );
    let at5 = repo.load_at_revision("ledger-9", 5).await.unwrap();
    assert_eq!((at5.state.balance, at5.version), (100, Some(5)));
}
