//! Rebuilds: a reset rebuild and a rebuild-and-swap produce the same read
//! model as the live runner; during a swap rebuild the old generation keeps
//! serving reads. Also the handler error policies (stop, dead-letter).

mod common;
use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_client::{EventData, ExpectedRevision, RecordedEvent};
use strata_projections::demo::{CustomerTotals, OpenOrders};
use strata_projections::{
    rebuild_kv, ErrorPolicy, HandlerError, KvProjection, KvTxn, ModelDir, RebuildMode, Runner,
    RunnerConfig, RunningRunner, Source,
};

async fn wait_caught_up(running: &RunningRunner, head: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !running
        .local_status()
        .iter()
        .all(|s| s.checkpoint >= Some(head))
    {
        assert!(
            Instant::now() < deadline,
            "not caught up: {:?}",
            running.local_status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_matches_live_model_and_swap_keeps_serving() {
    let server = Server::start();
    let client = server.client().await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    append_orders(&client, 1, 1500, 100).await;

    // Live runner, in batches of 100 while more events arrive.
    let (live_gen, totals) = ModelDir::new(root, "customer-totals")
        .unwrap()
        .open_current()
        .unwrap();
    let (_, open) = ModelDir::new(root, "open-orders")
        .unwrap()
        .open_current()
        .unwrap();
    let cfg = RunnerConfig {
        batch_size: 100,
        ..RunnerConfig::default()
    };
    let mut runner = Runner::new(client.clone(), cfg.clone());
    runner
        .add_kv(CustomerTotals, totals.clone(), ErrorPolicy::default())
        .unwrap();
    runner
        .add_kv(OpenOrders, open.clone(), ErrorPolicy::default())
        .unwrap();
    let running = runner.start();
    append_orders(&client, 10_000, 500, 7).await;
    let head = client.server_info().await.unwrap().head_position;
    wait_caught_up(&running, head).await;
    let status = running.status().await.unwrap();
    assert!(
        status
            .iter()
            .all(|s| s.lag_events == 0 && s.local.last_error.is_none()),
        "{status:?}"
    );
    let live_totals = contents(&totals);
    let live_open = contents(&open);
    assert_eq!(
        live_totals,
        canonical(fold_totals(&all_events(&client).await, u64::MAX))
    );

    // Rebuild-and-swap while the live generation keeps serving reads.
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let totals = totals.clone();
        let reads = reads.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                assert!(totals.get(b"c/cust-1").unwrap().is_some());
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let report = rebuild_kv(
        &client,
        root,
        CustomerTotals,
        RebuildMode::Swap,
        cfg.clone(),
        true,
    )
    .await
    .unwrap();
    reader.await.unwrap();
    assert!(reads.load(Ordering::Relaxed) == 50);
    assert_eq!(report.generation, live_gen + 1);
    assert_eq!(report.checkpoint, Some(head));
    let dir = ModelDir::new(root, "customer-totals").unwrap();
    assert_eq!(dir.current().unwrap(), Some(report.generation));
    running.shutdown().await.unwrap();
    drop((totals, open));
    assert_eq!(
        contents(&report.model),
        live_totals,
        "swapped rebuild equals the live model"
    );
    assert_eq!(report.model.checkpoint().unwrap(), Some(head));

    // Reset rebuild in place.
    let report = rebuild_kv(&client, root, OpenOrders, RebuildMode::Reset, cfg, false)
        .await
        .unwrap();
    assert_eq!(report.checkpoint, Some(head));
    assert_eq!(
        contents(&report.model),
        live_open,
        "reset rebuild equals the live model"
    );
    assert_eq!(report.model.checkpoint().unwrap(), Some(head));
    let dir = ModelDir::new(root, "open-orders").unwrap();
    assert_eq!(dir.current().unwrap(), Some(report.generation));
    assert_eq!(
        dir.generations().unwrap(),
        vec![report.generation],
        "old generation dropped"
    );
}

/// Fails on every `Poison` event; counts the others.
struct Picky;

impl KvProjection for Picky {
    fn name(&self) -> &str {
        "picky"
    }
    fn source(&self) -> Source {
        Source::Stream("picky-1".into())
    }
    async fn apply(&mut self, e: &RecordedEvent, m: &mut KvTxn<'_>) -> Result<(), HandlerError> {
        let n: u64 = m.get_json(b"count")?.unwrap_or(0);
        m.insert_json("count", &(n + 1))?;
        if e.event_type == "Poison" {
            return Err(HandlerError::new("poisoned"));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_errors_stop_or_dead_letter_never_drop() {
    let server = Server::start();
    let client = server.client().await;
    let ev = |t: &str| EventData::binary(t, b"x".to_vec());
    client
        .append(
            "picky-1",
            ExpectedRevision::NoStream,
            vec![ev("Ok"), ev("Ok"), ev("Poison"), ev("Ok")],
        )
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fast = ErrorPolicy {
        retries: 2,
        initial_backoff: Duration::from_millis(5),
        ..ErrorPolicy::default()
    };

    // Default policy: stop before the poison event, after the retries.
    let (_, model) = ModelDir::new(tmp.path(), "picky")
        .unwrap()
        .open_current()
        .unwrap();
    let mut runner = Runner::new(client.clone(), RunnerConfig::default());
    runner.add_kv(Picky, model.clone(), fast).unwrap();
    let err = runner.start().wait().await.unwrap_err();
    assert!(err.to_string().contains("poisoned"), "{err}");
    assert_eq!(
        model.checkpoint().unwrap(),
        Some(1),
        "stopped before revision 2"
    );
    assert_eq!(
        model.get_json::<u64>(b"count").unwrap(),
        Some(2),
        "failed writes discarded"
    );

    // Dead-letter policy: skip and record it, go on.
    let mut runner = Runner::new(client.clone(), RunnerConfig::default());
    runner
        .add_kv(
            Picky,
            model.clone(),
            ErrorPolicy {
                on_failure: strata_projections::OnFailure::DeadLetter,
                ..fast
            },
        )
        .unwrap();
    let running = runner.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    while model.checkpoint().unwrap() != Some(3) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let st = running.status().await.unwrap().remove(0);
    assert_eq!((st.local.dead_letters, st.lag_events), (1, 0));
    assert!(st
        .local
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("poisoned"));
    running.shutdown().await.unwrap();
    let dl = model.dead_letters().unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!(
        (
            dl[0].stream.as_str(),
            dl[0].revision,
            dl[0].event_type.as_str()
        ),
        ("picky-1", 2, "Poison")
    );
    assert_eq!(model.get_json::<u64>(b"count").unwrap(), Some(3));
}

/// Subscribes to a reserved stream name, which the server always refuses.
struct Reserved;

impl KvProjection for Reserved {
    fn name(&self) -> &str {
        "reserved"
    }
    fn source(&self) -> Source {
        Source::Stream("$reserved".into())
    }
    async fn apply(&mut self, _: &RecordedEvent, _: &mut KvTxn<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_subscription_stops_instead_of_retrying_forever() {
    let server = Server::start();
    let client = server.client().await;
    let tmp = tempfile::tempdir().unwrap();
    let (_, model) = ModelDir::new(tmp.path(), "reserved")
        .unwrap()
        .open_current()
        .unwrap();
    let mut runner = Runner::new(client, RunnerConfig::default());
    runner
        .add_kv(Reserved, model, ErrorPolicy::default())
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), runner.start().wait())
        .await
        .expect("runner stops")
        .unwrap_err();
    assert!(
        matches!(
            err,
            strata_projections::Error::Client(strata_client::Error::PermissionDenied { .. })
        ),
        "{err}"
    );
}
