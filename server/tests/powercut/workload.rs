//! The client side of the scenarios: concurrent appenders of every kind
//! the API has — single events with exact expectations on their own
//! stream, batches on shared streams (some expecting a revision they only
//! guess, to provoke conflicts), atomic multi-stream appends — and `$all`
//! subscribers, every operation and delivery recorded in a `History`.
//! Pipelined appends (an append session) do not exist in Strata yet.
//!
//! Not here: the server and the filesystem (`rig`), the checks (`history`).

use super::history::{History, Outcome, Seen, Sent};
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use strata_client::{
    Client, CurrentRevision, EventData, ExpectedRevision, Filter, StreamAppend, SubscribeFrom,
    SubscriptionItem,
};
use tokio::task::JoinHandle;

/// Every stream the appenders write starts with this.
pub const PREFIX: &str = "h-";

/// What the appenders write.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Appenders of each kind (single, batched, multi-stream).
    pub per_kind: usize,
    /// Event payload sizes, bytes.
    pub payload: (usize, usize),
    /// Largest batch.
    pub max_batch: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            per_kind: 2,
            payload: (8, 3000),
            max_batch: 6,
        }
    }
}

/// Running appenders; stop them with [`Load::stop`].
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// Stops the appenders and waits for them; operations still waiting
    /// for an answer become unknown.
    pub async fn stop(self, h: &History) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            if tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .is_err()
            {
                panic!("an appender did not stop within 30 s");
            }
        }
        h.abandon_pending();
    }
}

fn event(rng: &mut impl Rng, shape: &Shape, tag: &str) -> EventData {
    let len = rng.random_range(shape.payload.0..=shape.payload.1);
    let mut data = vec![0u8; len];
    rng.fill(&mut data[..]);
    let mut e = EventData::binary(format!("T{}", len % 7), data);
    if rng.random_bool(0.3) {
        e = e.with_metadata(tag.as_bytes().to_vec());
    }
    e
}

/// The stream's revision after an outcome, as far as the appender knows.
fn learn(outcome: &Outcome, stream: &str, known: &mut Option<Option<u64>>) {
    match outcome {
        Outcome::Ok(r) => *known = r.first().map(|r| Some(r.last_revision)),
        Outcome::Conflict { stream: s, actual } if s == stream => {
            *known = Some(actual.revision());
        }
        Outcome::Unknown(_) => *known = None,
        _ => {}
    }
}

fn expect(known: Option<Option<u64>>) -> ExpectedRevision {
    match known {
        Some(Some(r)) => ExpectedRevision::Exact(r),
        Some(None) => ExpectedRevision::NoStream,
        None => ExpectedRevision::Any,
    }
}

/// Starts `3 × shape.per_kind` appenders (process ids from `first_process`).
pub fn start(c: &Client, h: &Arc<History>, seed: u64, first_process: usize, shape: Shape) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for k in 0..3 * shape.per_kind {
        let (c, h, stop) = (c.clone(), h.clone(), stop.clone());
        let p = first_process + k;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ ((p as u64) << 32));
        tasks.push(tokio::spawn(async move {
            // The own stream's revision: Some(None) no stream, None unknown.
            let own = format!("{PREFIX}own-{p}");
            let mut known: Option<Option<u64>> = None;
            let mut guess: u64 = 0;
            let mut i = 0u64;
            // An unknown outcome means the server is gone (or poisoned):
            // this appender stops there.
            let mut gone = false;
            while !stop.load(Ordering::SeqCst) && !gone {
                i += 1;
                let tag = format!("p{p}-{i}");
                match k % 3 {
                    0 => {
                        // One event on the own stream, exact expectation.
                        let sent = vec![Sent {
                            stream: own.clone(),
                            expected: expect(known),
                            events: vec![event(&mut rng, &shape, &tag)],
                        }];
                        let out = append(&c, &h, p, sent).await;
                        gone = matches!(out, Outcome::Unknown(_));
                        learn(&out, &own, &mut known);
                    }
                    1 => {
                        // A batch on a shared stream; a third guess the revision.
                        let stream = format!("{PREFIX}batch-{}", rng.random_range(0..3));
                        let n = rng.random_range(2..=shape.max_batch);
                        let expected = if rng.random_bool(0.33) {
                            ExpectedRevision::Exact(guess)
                        } else {
                            ExpectedRevision::Any
                        };
                        let events = (0..n).map(|_| event(&mut rng, &shape, &tag)).collect();
                        let out = append(
                            &c,
                            &h,
                            p,
                            vec![Sent {
                                stream,
                                expected,
                                events,
                            }],
                        )
                        .await;
                        gone = matches!(out, Outcome::Unknown(_));
                        match out {
                            Outcome::Ok(r) => guess = r[0].last_revision,
                            Outcome::Conflict {
                                actual: CurrentRevision::Current(a),
                                ..
                            } => guess = a,
                            _ => {}
                        }
                    }
                    _ => {
                        // An atomic transaction over 2-3 streams.
                        let mut names: Vec<usize> = (0..5).collect();
                        let take = rng.random_range(2..=3);
                        let mut sent = Vec::new();
                        for _ in 0..take {
                            let s = names.swap_remove(rng.random_range(0..names.len()));
                            let expected = match rng.random_range(0..4) {
                                0 => ExpectedRevision::StreamExists,
                                1 => ExpectedRevision::Exact(guess),
                                _ => ExpectedRevision::Any,
                            };
                            let n = rng.random_range(1..=3);
                            sent.push(Sent {
                                stream: format!("{PREFIX}multi-{s}"),
                                expected,
                                events: (0..n).map(|_| event(&mut rng, &shape, &tag)).collect(),
                            });
                        }
                        match append(&c, &h, p, sent).await {
                            Outcome::Ok(r) => guess = r[0].last_revision,
                            Outcome::Unknown(_) => gone = true,
                            _ => {}
                        }
                    }
                }
            }
        }));
    }
    Load { stop, tasks }
}

/// Sends one append (single or multi-stream), recording it.
pub async fn append(c: &Client, h: &History, process: usize, sent: Vec<Sent>) -> Outcome {
    let id = h.invoke(process, sent.clone());
    let r = if sent.len() == 1 {
        let s = sent.into_iter().next().unwrap();
        c.append(s.stream, s.expected, s.events)
            .await
            .map(|r| vec![r])
    } else {
        c.append_multi(
            sent.into_iter()
                .map(|s| StreamAppend::new(s.stream, s.expected, s.events))
                .collect(),
        )
        .await
    };
    h.complete(id, &r)
}

/// Re-sends every operation whose outcome was unknown (from index `from`),
/// unchanged — the same ids and expectations, as a client retrying would.
/// Returns how many were re-sent.
pub async fn retry_unknown(c: &Client, h: &History, from: usize) -> usize {
    let unknown = h.unknown_since(from);
    for (_, op) in &unknown {
        append(c, h, op.process, op.appends.clone()).await;
    }
    unknown.len()
}

/// A `$all` subscription (checked streams only) that records what it
/// delivers into the history until it ends or is aborted. With a patient
/// client it resumes across restarts after the last event delivered.
pub fn subscribe(c: &Client, h: &History, name: &str) -> JoinHandle<()> {
    let log = h.subscription(name, 0, None);
    let sub = c.subscribe_to_all(SubscribeFrom::Start, Filter::new().stream_prefix(PREFIX));
    record(sub, log)
}

/// Like [`subscribe`], following one stream.
pub fn subscribe_stream(c: &Client, h: &History, name: &str, stream: &str) -> JoinHandle<()> {
    let log = h.subscription(name, 0, Some(stream));
    record(c.subscribe_to_stream(stream, SubscribeFrom::Start), log)
}

fn record(
    mut sub: impl futures::Stream<Item = strata_client::Result<SubscriptionItem>>
        + Unpin
        + Send
        + 'static,
    log: Arc<std::sync::Mutex<super::history::SubLog>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(item) = sub.next().await {
            match item {
                Ok(SubscriptionItem::Event(e)) => log.lock().unwrap().seen.push(Seen {
                    position: e.position,
                    stream: e.stream,
                    revision: e.revision,
                    id: e.id,
                }),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    })
}
