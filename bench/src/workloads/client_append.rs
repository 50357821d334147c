//! The append workload through `strata-client` (`append --via client`):
//! what an application gets from `Client::append` — by default its append
//! sessions, with `--unary` plain unary calls. `--clients` tasks each keep
//! `--in-flight` appends going, every one on its own streams so exact
//! expected revisions hold; the tasks share `--connections` `Client`s.
//!
//! Not here: the raw-stub append workload (`append`).

use crate::report::{new_hist, Latency, Report};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_client::{Client, EventData, ExpectedRevision, RetryPolicy};
use tokio::sync::Mutex;

use super::append::AppendArgs;
use super::finish;

pub async fn run(a: AppendArgs, connections: usize) -> Result<Report> {
    let (addr, sec) = super::target().context("no server address")?;
    let mut clients = Vec::new();
    for _ in 0..connections.max(1) {
        let mut b = Client::builder(sec.url(addr))
            .retry_policy(RetryPolicy::none())
            .http2_window_bytes(4 * 1024 * 1024);
        if let Some(pem) = &sec.tls_ca_pem {
            b = b.tls_ca_pem(pem.clone()).tls_domain("localhost");
        }
        if let Some((u, p)) = &sec.basic {
            b = b.basic_auth(u, p);
        }
        if let Some(t) = &sec.token {
            b = b.bearer_token(t);
        }
        let b = match (a.unary, a.sessions) {
            (true, _) => b.unary_appends(),
            (false, Some(n)) => b.append_sessions(n),
            (false, None) => b,
        };
        clients.push(b.connect().await?);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    let hist = Arc::new(Mutex::new(new_hist()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    let in_flight = a.in_flight.max(1);
    for c in 0..a.clients {
        for j in 0..in_flight {
            let client = clients[c % clients.len()].clone();
            let (a, hist) = (a.clone(), hist.clone());
            tasks.push(tokio::spawn(async move {
                let mut h = new_hist();
                let mut revs: Vec<Option<u64>> = vec![None; a.streams_per_client];
                let (mut events, mut reqs, mut errors) = (0u64, 0u64, 0u64);
                let mut i = 0usize;
                while Instant::now() < deadline {
                    let k = i % a.streams_per_client;
                    i += 1;
                    let expected = match (a.expected.as_str(), revs[k]) {
                        ("exact", None) => ExpectedRevision::NoStream,
                        ("exact", Some(r)) => ExpectedRevision::Exact(r),
                        _ => ExpectedRevision::Any,
                    };
                    let batch = (0..a.events_per_append)
                        .map(|_| EventData::binary("BenchEvent", vec![c as u8; a.event_size]))
                        .collect();
                    let t = Instant::now();
                    match client
                        .append(format!("bench-{c}-{j}-{k}"), expected, batch)
                        .await
                    {
                        Ok(r) => {
                            let _ = h.record(t.elapsed().as_micros() as u64);
                            revs[k] = Some(r.last_revision);
                            events += a.events_per_append as u64;
                            reqs += 1;
                        }
                        Err(_) => errors += 1,
                    }
                }
                hist.lock().await.add(&h).ok();
                (events, reqs, errors)
            }));
        }
    }
    let mut r = Report {
        workload: "append".into(),
        params: serde_json::to_value(&a)?,
        ..Default::default()
    };
    for t in tasks {
        let (e, q, x) = t.await?;
        r.events += e;
        r.requests += q;
        r.errors += x;
    }
    r.seconds = start.elapsed().as_secs_f64();
    r.latency = Some(Latency::from_hist(&*hist.lock().await));
    let path = match (a.unary, a.sessions) {
        (true, _) => "unary Append".to_owned(),
        (false, Some(n)) => format!("{n} append session(s) per Client"),
        (false, None) => format!(
            "{} append session(s) per Client (the default)",
            strata_client::DEFAULT_APPEND_SESSIONS
        ),
    };
    r.notes.push(format!(
        "strata-client, {path}; {} Client(s), {in_flight} append(s) in flight per client",
        clients.len()
    ));
    Ok(finish(r, a.event_size))
}
