//! Scenario: the server is stopped (SIGTERM) and killed (SIGKILL) and
//! restarted while the runner follows and orders keep arriving. The runner
//! resumes from its checkpoints by itself: the at-least-once projection sees
//! every order event in log order without a gap, and the exactly-once model
//! equals the from-scratch fold.

mod common;
use common::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_client::RecordedEvent;
use strata_projections::demo::CustomerTotals;
use strata_projections::{
    ErrorPolicy, FileCheckpointStore, HandlerError, ModelDir, Projection, Runner, RunnerConfig,
    Source,
};

/// Records the positions it sees.
struct Recorder(Arc<Mutex<Vec<u64>>>);

impl Projection for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn source(&self) -> Source {
        Source::Category("order-".into())
    }
    async fn handle(&mut self, e: &RecordedEvent) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(e.position);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_resumes_without_gap_across_server_restarts() {
    let mut server = Server::start();
    let client = server.client().await;
    let tmp = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (_, totals) = ModelDir::new(tmp.path(), "customer-totals")
        .unwrap()
        .open_current()
        .unwrap();
    let cfg = RunnerConfig {
        batch_size: 50,
        reconnect_initial: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        ..RunnerConfig::default()
    };
    let mut runner = Runner::new(client.clone(), cfg);
    runner
        .add_kv(CustomerTotals, totals.clone(), ErrorPolicy::default())
        .unwrap();
    runner
        .add(
            Recorder(seen.clone()),
            FileCheckpointStore::new(tmp.path(), "recorder").unwrap(),
            ErrorPolicy::default(),
        )
        .unwrap();
    let running = runner.start();
    append_orders(&client, 1, 200, 20).await;
    let appender = Appender::start(client.clone(), 1_000);
    for restart in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = seen.lock().unwrap().len();
        if restart % 2 == 0 {
            server.terminate_and_restart();
        } else {
            server.kill_and_restart();
        }
        // Bounded polling: the runner makes progress again after the restart.
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().len() <= before {
            assert!(
                Instant::now() < deadline,
                "no progress after restart {restart}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!(
            "restart {restart}: {} events seen",
            seen.lock().unwrap().len()
        );
    }
    appender.stop().await;
    let head = client.server_info().await.unwrap().head_position;
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
    running.shutdown().await.unwrap();
    let events = all_events(&client).await;
    let expected: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(
        *seen.lock().unwrap(),
        expected,
        "every event once, in order, no gap"
    );
    assert_eq!(contents(&totals), canonical(fold_totals(&events, u64::MAX)));
}
