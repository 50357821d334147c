//! The official KurrentDB Rust client (the `kurrentdb` crate) against Strata.
//!
//! Strata speaks the KurrentDB client protocol on its ordinary port, so the
//! client needs nothing but a connection string:
//!
//!     kurrentdb://HOST:PORT?tls=false
//!
//! This walk-through is what a user of the crate would write: appends with
//! every expected state, reads of a stream and of `$all` both ways, catch-up
//! subscriptions (with server-side filters), stream metadata, deletes and
//! tombstones, persistent subscriptions with ack / nack / park / replay, and
//! the errors the client returns when things go wrong. Every step checks
//! what it got and the program stops, exit status 1, at the first surprise.
//!
//!     STRATA_ADDR=127.0.0.1:2113 cargo run
//!
//! Names carry a random run id, so it can run again and again against the
//! same server.

mod persistent;
mod streams;
mod subscriptions;

use kurrentdb::{AppendToStreamOptions, Client, Error, EventData, StreamState};
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const TIMEOUT: Duration = Duration::from_secs(20);

/// What the walk-through expected and what it got differ.
fn mismatch<T>(what: impl Into<String>) -> R<T> {
    Err(what.into().into())
}

fn equal<T: PartialEq + std::fmt::Debug>(got: T, expected: T, what: &str) -> R<()> {
    if got == expected {
        Ok(())
    } else {
        mismatch(format!("{what}: expected {expected:?}, got {got:?}"))
    }
}

/// Runs one step; on failure says which and exits 1.
async fn step<T>(passed: &mut u32, name: &str, body: impl Future<Output = R<T>>) -> T {
    match body.await {
        Ok(v) => {
            *passed += 1;
            println!("ok [rust] {name}");
            v
        }
        Err(e) => {
            eprintln!("FAILED [rust] {name}: {e}");
            std::process::exit(1);
        }
    }
}

/// Awaits `f`, failing with `what` after TIMEOUT.
async fn within<T>(what: &str, f: impl Future<Output = Result<T, Error>>) -> R<T> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(r) => Ok(r?),
        Err(_) => mismatch(format!("{what}: nothing within {TIMEOUT:?}")),
    }
}

fn event(kind: &str, data: serde_json::Value) -> (EventData, Uuid) {
    let id = Uuid::new_v4();
    (EventData::json(kind, &data).expect("JSON").id(id), id)
}

fn expect(state: StreamState) -> AppendToStreamOptions {
    AppendToStreamOptions::default().stream_state(state)
}

#[tokio::main]
async fn main() {
    let addr = std::env::var("STRATA_ADDR").unwrap_or_else(|_| "127.0.0.1:2113".into());
    let run = &Uuid::new_v4().simple().to_string()[..8];
    let mut n = 0u32;
    let p = &mut n;

    // --- connecting ----------------------------------------------------------

    let client = step(p, "connect with kurrentdb://…?tls=false", async {
        let settings = format!("kurrentdb://{addr}?tls=false").parse()?;
        let client = Client::new(settings)?;
        let info = client.server_info().await?;
        println!("   (server version {:?})", info.version());
        Ok(client)
    })
    .await;

    let order = streams::appends_and_reads(&client, run, p).await;
    subscriptions::catch_up(&client, run, &order, p).await;
    streams::metadata_and_deletes(&client, run, &order, p).await;
    persistent::groups(&client, run, p).await;

    println!("rust walk-through: all {n} steps passed against {addr}");
}
