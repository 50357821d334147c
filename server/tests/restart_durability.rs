//! Durability across restarts: everything acknowledged survives SIGKILL, in
//! order; SIGTERM shuts down cleanly; a second server on the same data
//! directory is refused.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{events, wait_output, Server, STRATA};
use futures::TryStreamExt;
use strata_client::{
    Client, EventData, ExpectedRevision, ReadAllOptions, ReadOptions, RecordedEvent,
};

async fn read_all(c: &Client) -> Vec<RecordedEvent> {
    c.read_all(ReadAllOptions::forwards())
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn acknowledged_appends_survive_sigkill() {
    let mut server = Server::start();
    let c = server.client().await;
    let mut acked: Vec<(u64, EventData, String)> = Vec::new(); // (position, event, stream)
    for i in 0..60usize {
        let stream = format!("dur-{}", i % 7);
        let batch = events("E", &format!("b{i}"), 1 + i % 4);
        let r = c
            .append(stream.as_str(), ExpectedRevision::Any, batch.clone())
            .await
            .unwrap();
        for (k, e) in batch.into_iter().enumerate() {
            acked.push((r.first_position + k as u64, e, stream.clone()));
        }
    }
    let n = acked.len() as u64;
    let before = read_all(&c).await;

    server.kill();
    server.restart();
    let c = server.client().await;

    assert_eq!(
        c.server_info().await.unwrap().head_position,
        n,
        "{}",
        server.logs()
    );
    let after = read_all(&c).await;
    assert_eq!(after, before, "the log changed across SIGKILL");
    for ((pos, sent, stream), got) in acked.iter().zip(&after) {
        assert_eq!(got.position, *pos);
        assert_eq!(&got.stream, stream);
        assert_eq!(got.id, sent.id);
        assert_eq!(got.data, sent.data);
    }
    // Streams and their revisions are intact, and appends continue.
    for s in 0..7 {
        let name = format!("dur-{s}");
        let evs: Vec<_> = c
            .read_stream(name.as_str(), ReadOptions::forwards())
            .try_collect()
            .await
            .unwrap();
        let want: Vec<_> = acked
            .iter()
            .filter(|(_, _, st)| *st == name)
            .map(|(_, e, _)| e.id)
            .collect();
        assert_eq!(evs.iter().map(|e| e.id).collect::<Vec<_>>(), want);
        let next = c
            .append(
                name.as_str(),
                ExpectedRevision::Exact(want.len() as u64 - 1),
                events("After", "x", 1),
            )
            .await
            .unwrap();
        assert_eq!(next.last_revision, want.len() as u64);
    }
    assert_eq!(c.server_info().await.unwrap().head_position, n + 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_appends_keeps_every_ack() {
    let mut server = Server::start();
    let c = server.client_no_retry().await;
    let acked: Arc<Mutex<Vec<(u64, uuid::Uuid)>>> = Arc::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let c = c.clone();
            let acked = acked.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let batch = events("E", &format!("w{w}-{i}"), 1 + i % 3);
                    match c
                        .append(format!("kill-{w}"), ExpectedRevision::Any, batch.clone())
                        .await
                    {
                        Ok(r) => {
                            let mut a = acked.lock().unwrap();
                            for (k, e) in batch.iter().enumerate() {
                                a.push((r.first_position + k as u64, e.id));
                            }
                        }
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Let some appends through, then kill mid-stream.
    common::eventually(Duration::from_secs(30), "100 acknowledged events", || {
        let n = acked.lock().unwrap().len();
        async move { (n >= 100).then_some(()) }
    })
    .await;
    server.kill();
    for w in writers {
        common::within(Duration::from_secs(30), "writer stops", w)
            .await
            .unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());

    server.restart();
    let c = server.client().await;
    let log = read_all(&c).await;
    // Gapless positions; every acknowledged event at its acknowledged position.
    assert_eq!(
        log.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=log.len() as u64).collect::<Vec<_>>()
    );
    for (pos, id) in &acked {
        let e = log
            .get(*pos as usize - 1)
            .unwrap_or_else(|| panic!("acked position {pos} lost"));
        assert_eq!(e.id, *id, "position {pos}");
    }
    assert_eq!(
        c.server_info().await.unwrap().head_position,
        log.len() as u64
    );
}

#[tokio::test]
async fn sigterm_exits_cleanly_and_keeps_data() {
    let mut server = Server::start();
    let c = server.client().await;
    let r = c
        .append("t", ExpectedRevision::NoStream, events("E", "t", 5))
        .await
        .unwrap();
    let status = server.terminate().await;
    assert!(
        status.success(),
        "SIGTERM exit status {status:?}\n{}",
        server.logs()
    );

    let verify = server.command(&["verify"]);
    assert!(
        verify.status.success(),
        "verify after clean shutdown: {verify:?}"
    );

    server.restart();
    let c = server.client().await;
    let evs: Vec<_> = c
        .read_stream("t", ReadOptions::forwards())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(evs.len(), 5);
    assert_eq!(
        c.server_info().await.unwrap().head_position,
        r.last_position
    );
    let status = server.terminate().await;
    assert!(status.success(), "second SIGTERM exit status {status:?}");
}

#[tokio::test]
async fn second_instance_on_same_dir_is_refused() {
    let server = Server::start();
    let c = server.client().await;
    c.append("lock", ExpectedRevision::NoStream, events("E", "l", 1))
        .await
        .unwrap();

    let child = Command::new(STRATA)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(server.data_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_output(child, Duration::from_secs(30));
    assert!(!out.status.success(), "second instance started: {out:?}");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .to_lowercase();
    assert!(
        text.contains("lock") || text.contains("another instance"),
        "message does not mention the lock: {text}"
    );
    assert!(!text.contains("strata listening on"), "{text}");

    // The first instance is unaffected.
    let r = c
        .append("lock", ExpectedRevision::Exact(0), events("E", "m", 1))
        .await
        .unwrap();
    assert_eq!(r.last_revision, 1);
}
