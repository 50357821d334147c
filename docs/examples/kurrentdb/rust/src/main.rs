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

use kurrentdb::{AppendToStreamOptions, PersistentSubscriptionEvent};
use kurrentdb::{
    Client, CurrentRevision, DeletePersistentSubscriptionOptions, DeleteStreamOptions, Error,
    EventData, GetPersistentSubscriptionInfoOptions, ListPersistentSubscriptionsOptions, NakAction,
    PersistentSubscription, PersistentSubscriptionOptions, PersistentSubscriptionToAllOptions,
    Position, ReadAllOptions, ReadStreamOptions, ReplayParkedMessagesOptions, ResolvedEvent,
    StreamMetadata, StreamMetadataResult, StreamPosition, StreamState, SubscribeToAllOptions,
    SubscribeToPersistentSubscriptionOptions, SubscribeToStreamOptions, Subscription,
    SubscriptionFilter, TombstoneStreamOptions,
};
use serde_json::json;
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

/// Every event of a stream read, as (id, revision).
async fn read(
    client: &Client,
    stream: &str,
    options: &ReadStreamOptions,
) -> Result<Vec<(Uuid, u64)>, Error> {
    let mut read = client.read_stream(stream, options).await?;
    let mut out = Vec::new();
    while let Some(e) = read.next().await? {
        let e = e.get_original_event();
        out.push((e.id, e.revision));
    }
    Ok(out)
}

async fn read_all(client: &Client, options: &ReadAllOptions) -> Result<Vec<Uuid>, Error> {
    let mut read = client.read_all(options).await?;
    let mut out = Vec::new();
    while let Some(e) = read.next().await? {
        out.push(e.get_original_event().id);
    }
    Ok(out)
}

/// The ids of the next `n` events of a catch-up subscription.
async fn take(sub: &mut Subscription, n: usize, what: &str) -> R<Vec<Uuid>> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = within(what, sub.next()).await?;
        out.push(e.get_original_event().id);
    }
    Ok(out)
}

/// The next event of a persistent subscription, with its retry count.
async fn next_persistent(
    sub: &mut PersistentSubscription,
    what: &str,
) -> R<(ResolvedEvent, usize)> {
    loop {
        if let PersistentSubscriptionEvent::EventAppeared { event, retry_count } =
            within(what, sub.next_subscription_event()).await?
        {
            return Ok((event, retry_count));
        }
    }
}

/// Acks `ack_me`, nacks `retry_me` once with Retry (then acks the
/// redelivery), nacks `park_me` with Park. Returns the redelivery's retry count.
async fn ack_retry_park(
    sub: &mut PersistentSubscription,
    ack_me: Uuid,
    retry_me: Uuid,
    park_me: Uuid,
) -> R<usize> {
    let (mut acked, mut retried, mut parked, mut redelivered) = (false, false, false, None);
    while !(acked && parked && redelivered.is_some()) {
        let (e, retry_count) = next_persistent(sub, "persistent subscription").await?;
        let id = e.get_original_event().id;
        if id == ack_me {
            sub.ack(&e).await?;
            acked = true;
        } else if id == retry_me && !retried {
            equal(retry_count, 0, "retry count of a first delivery")?;
            sub.nack(&e, NakAction::Retry, "try again").await?;
            retried = true;
        } else if id == retry_me {
            redelivered = Some(retry_count);
            sub.ack(&e).await?;
        } else if id == park_me {
            sub.nack(&e, NakAction::Park, "cannot handle it").await?;
            parked = true;
        } else {
            return mismatch(format!(
                "unexpected event {id} in {}",
                e.get_original_stream_id()
            ));
        }
    }
    Ok(redelivered.unwrap_or_default())
}

async fn wait_for<F, Fut>(what: &str, mut condition: F) -> R<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R<bool>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if condition().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return mismatch(format!("{what}: not within 10 s"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

    // --- appending with each expected state ------------------------------------

    let order = format!("order-{run}");
    let (placed, placed_id) = event("OrderPlaced", json!({"order": order, "total": 42}));
    let (line1, line1_id) = event("LineAdded", json!({"sku": "apple", "qty": 3}));
    let (line2, line2_id) = event("LineAdded", json!({"sku": "pear", "qty": 1}));
    let (paid, paid_id) = event("OrderPaid", json!({"amount": 42}));
    let (shipped, shipped_id) = event("OrderShipped", json!({"carrier": "post"}));
    let written = vec![placed_id, line1_id, line2_id, paid_id, shipped_id];

    let pos_placed = step(p, "append to a new stream expecting no stream", async {
        let r = client
            .append_to_stream(order.as_str(), &expect(StreamState::NoStream), placed)
            .await?;
        equal(r.next_expected_version, 0, "next expected version")?;
        Ok(r.position)
    })
    .await;

    let pos_lines = step(p, "append two events expecting revision 0", async {
        let r = client
            .append_to_stream(
                order.as_str(),
                &expect(StreamState::StreamRevision(0)),
                vec![line1.clone(), line2.clone()],
            )
            .await?;
        equal(r.next_expected_version, 2, "next expected version")?;
        if r.position.commit <= pos_placed.commit {
            return mismatch(format!(
                "commit positions grow: {pos_placed} then {}",
                r.position
            ));
        }
        Ok(r.position)
    })
    .await;

    step(p, "retrying the same append is idempotent", async {
        let r = client
            .append_to_stream(
                order.as_str(),
                &expect(StreamState::StreamRevision(0)),
                vec![line1, line2],
            )
            .await?;
        equal(r.position, pos_lines, "position of the retried append")?;
        equal(
            read(&client, &order, &Default::default()).await?.len(),
            3,
            "events after the retry",
        )
    })
    .await;

    step(p, "append expecting the stream exists", async {
        let r = client
            .append_to_stream(order.as_str(), &expect(StreamState::StreamExists), paid)
            .await?;
        equal(r.next_expected_version, 3, "next expected version")
    })
    .await;

    step(p, "append expecting any state", async {
        let r = client
            .append_to_stream(order.as_str(), &expect(StreamState::Any), shipped)
            .await?;
        equal(r.next_expected_version, 4, "next expected version")
    })
    .await;

    // --- wrong expected versions -------------------------------------------------

    step(
        p,
        "wrong exact revision: Error::WrongExpectedVersion",
        async {
            match client
                .append_to_stream(
                    order.as_str(),
                    &expect(StreamState::StreamRevision(1)),
                    event("Late", json!({})).0,
                )
                .await
            {
                Err(Error::WrongExpectedVersion { expected, current }) => equal(
                    (expected, current),
                    (StreamState::StreamRevision(1), CurrentRevision::Current(4)),
                    "versions",
                ),
                other => mismatch(format!("expected WrongExpectedVersion, got {other:?}")),
            }
        },
    )
    .await;

    step(
        p,
        "stream expected to exist, but it does not: Error::WrongExpectedVersion",
        async {
            match client
                .append_to_stream(
                    format!("ghost-{run}"),
                    &expect(StreamState::StreamExists),
                    event("Boo", json!({})).0,
                )
                .await
            {
                Err(Error::WrongExpectedVersion { current, .. }) => {
                    equal(current, CurrentRevision::NoStream, "current")
                }
                other => mismatch(format!("expected WrongExpectedVersion, got {other:?}")),
            }
        },
    )
    .await;

    // --- reading ------------------------------------------------------------------

    step(p, "read the stream forwards and backwards", async {
        let forwards = read(&client, &order, &ReadStreamOptions::default().forwards()).await?;
        equal(
            forwards.iter().map(|e| e.0).collect::<Vec<_>>(),
            written.clone(),
            "event ids",
        )?;
        equal(
            forwards.iter().map(|e| e.1).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4],
            "revisions",
        )?;
        let backwards = read(
            &client,
            &order,
            &ReadStreamOptions::default()
                .backwards()
                .position(StreamPosition::End),
        )
        .await?;
        let mut reversed = written.clone();
        reversed.reverse();
        equal(
            backwards.iter().map(|e| e.0).collect::<Vec<_>>(),
            reversed,
            "event ids, newest first",
        )
    })
    .await;

    step(
        p,
        "read from a revision, with a limit; the data is what was written",
        async {
            let options = ReadStreamOptions::default()
                .position(StreamPosition::Position(1))
                .max_count(2);
            equal(
                read(&client, &order, &options)
                    .await?
                    .iter()
                    .map(|e| e.0)
                    .collect::<Vec<_>>(),
                vec![line1_id, line2_id],
                "revisions 1..2",
            )?;
            let mut one = client
                .read_stream(order.as_str(), &ReadStreamOptions::default().max_count(1))
                .await?;
            let first = one.next().await?.ok_or("no first event")?;
            let first = first.get_original_event();
            equal(first.event_type.as_str(), "OrderPlaced", "type")?;
            equal(
                first.as_json::<serde_json::Value>()?,
                json!({"order": order, "total": 42}),
                "data",
            )
        },
    )
    .await;

    step(
        p,
        "reading a stream that never existed: Error::ResourceNotFound",
        async {
            match read(&client, &format!("never-{run}"), &Default::default()).await {
                Err(Error::ResourceNotFound) => Ok(()),
                other => mismatch(format!("expected ResourceNotFound, got {other:?}")),
            }
        },
    )
    .await;

    step(
        p,
        "read $all forwards from a position, and backwards",
        async {
            let options = ReadAllOptions::default()
                .position(StreamPosition::Position(pos_placed))
                .max_count(5);
            equal(
                read_all(&client, &options).await?,
                written.clone(),
                "the order's events",
            )?;
            let newest = read_all(
                &client,
                &ReadAllOptions::default()
                    .backwards()
                    .position(StreamPosition::End)
                    .max_count(1),
            )
            .await?;
            equal(newest, vec![shipped_id], "the newest event")
        },
    )
    .await;

    step(p, "read $all filtered by event type prefix", async {
        let options = ReadAllOptions::default()
            .position(StreamPosition::Position(pos_placed))
            .filter(SubscriptionFilter::on_event_type().add_prefix("LineAdd"));
        equal(
            read_all(&client, &options).await?,
            vec![line1_id, line2_id],
            "only LineAdded events",
        )
    })
    .await;

    // --- catch-up subscriptions ---------------------------------------------------

    step(
        p,
        "subscribe to a stream: catch up, then receive live events",
        async {
            let mut sub = client
                .subscribe_to_stream(
                    order.as_str(),
                    &SubscribeToStreamOptions::default().start_from(StreamPosition::Start),
                )
                .await;
            equal(
                take(&mut sub, 5, "catch-up").await?,
                written.clone(),
                "caught-up events",
            )?;
            let (delivered, delivered_id) = event("OrderDelivered", json!({}));
            client
                .append_to_stream(
                    order.as_str(),
                    &expect(StreamState::StreamRevision(4)),
                    delivered,
                )
                .await?;
            equal(
                take(&mut sub, 1, "live").await?,
                vec![delivered_id],
                "the live event",
            )
        },
    )
    .await;

    let mark: Position = client
        .append_to_stream(
            format!("marker-{run}"),
            &expect(StreamState::Any),
            event("Marker", json!({})).0,
        )
        .await
        .expect("append the marker")
        .position;
    let (invoice, customer) = (format!("invoice-{run}"), format!("customer-{run}"));
    let mut ids = Vec::new();
    for (stream, kind) in [
        (&invoice, "InvoiceIssued"),
        (&customer, "CustomerRegistered"),
        (&invoice, "InvoicePaid"),
    ] {
        let (e, id) = event(kind, json!({}));
        client
            .append_to_stream(stream.as_str(), &expect(StreamState::Any), e)
            .await
            .expect("append");
        ids.push(id);
    }

    step(
        p,
        "subscribe to $all filtered by event type prefix",
        async {
            let options = SubscribeToAllOptions::default()
                .position(StreamPosition::Position(mark))
                .filter(SubscriptionFilter::on_event_type().add_prefix("Invoice"));
            let mut sub = client.subscribe_to_all(&options).await;
            equal(
                take(&mut sub, 2, "Invoice* events").await?,
                vec![ids[0], ids[2]],
                "Invoice* events",
            )
        },
    )
    .await;

    step(
        p,
        "subscribe to $all filtered by stream name prefix, then live",
        async {
            let options = SubscribeToAllOptions::default()
                .position(StreamPosition::Position(mark))
                .filter(SubscriptionFilter::on_stream_name().add_prefix("customer-"));
            let mut sub = client.subscribe_to_all(&options).await;
            equal(
                take(&mut sub, 1, "customer-* streams").await?,
                vec![ids[1]],
                "customer events",
            )?;
            client
                .append_to_stream(
                    invoice.as_str(),
                    &expect(StreamState::Any),
                    event("InvoiceVoided", json!({})).0,
                )
                .await?;
            let (moved, moved_id) = event("CustomerMoved", json!({"city": "Lyon"}));
            client
                .append_to_stream(customer.as_str(), &expect(StreamState::Any), moved)
                .await?;
            equal(
                take(&mut sub, 1, "live customer-* event").await?,
                vec![moved_id],
                "the live event",
            )
        },
    )
    .await;

    step(
        p,
        "subscribe to $all filtered by stream name regex",
        async {
            let options = SubscribeToAllOptions::default()
                .position(StreamPosition::Position(mark))
                .filter(
                    SubscriptionFilter::on_stream_name()
                        .regex(format!("^(invoice|customer)-{run}$")),
                );
            let mut sub = client.subscribe_to_all(&options).await;
            equal(
                take(&mut sub, 3, "regex streams").await?,
                ids.clone(),
                "events of both streams, in order",
            )
        },
    )
    .await;

    // --- stream metadata ----------------------------------------------------------

    step(
        p,
        "stream metadata: none yet, then set and read back",
        async {
            match client
                .get_stream_metadata(order.as_str(), &Default::default())
                .await?
            {
                StreamMetadataResult::NotFound => {}
                other => return mismatch(format!("expected NotFound, got {other:?}")),
            }
            let metadata: StreamMetadata = StreamMetadata::builder()
                .max_count(3)
                .insert_custom_property("owner", "billing")
                .build();
            client
                .set_stream_metadata(order.as_str(), &expect(StreamState::NoStream), &metadata)
                .await?;
            match client
                .get_stream_metadata(order.as_str(), &Default::default())
                .await?
            {
                StreamMetadataResult::Success(m) => {
                    equal(m.version(), 0, "metadata version")?;
                    equal(m.metadata().max_count, Some(3), "$maxCount")?;
                    equal(
                        m.metadata().custom_properties.get("owner"),
                        Some(&json!("billing")),
                        "custom property",
                    )
                }
                other => mismatch(format!("expected metadata, got {other:?}")),
            }
        },
    )
    .await;

    step(p, "$maxCount keeps only the newest events", async {
        equal(
            read(&client, &order, &Default::default()).await?.len(),
            3,
            "visible events",
        )
    })
    .await;

    // --- delete and tombstone -----------------------------------------------------

    let cart = format!("cart-{run}");
    client
        .append_to_stream(
            cart.as_str(),
            &expect(StreamState::NoStream),
            vec![
                event("ItemAdded", json!({})).0,
                event("ItemAdded", json!({})).0,
            ],
        )
        .await
        .expect("append to the cart");

    step(
        p,
        "delete with a wrong revision fails (FAILED_PRECONDITION)",
        async {
            let options =
                DeleteStreamOptions::default().stream_state(StreamState::StreamRevision(0));
            match client.delete_stream(cart.as_str(), &options).await {
                // This client maps only an append's wrong expected version to
                // Error::WrongExpectedVersion; a delete's comes as the raw status.
                Err(Error::Grpc {
                    code: tonic_code,
                    message,
                }) if format!("{tonic_code:?}") == "FailedPrecondition" => {
                    if message.contains("WrongExpectedVersion") {
                        Ok(())
                    } else {
                        mismatch(format!("message: {message}"))
                    }
                }
                other => mismatch(format!(
                    "expected a FailedPrecondition error, got {other:?}"
                )),
            }
        },
    )
    .await;

    step(p, "delete (soft), then append: revisions continue", async {
        client
            .delete_stream(
                cart.as_str(),
                &DeleteStreamOptions::default().stream_state(StreamState::StreamRevision(1)),
            )
            .await?;
        match read(&client, &cart, &Default::default()).await {
            Err(Error::ResourceNotFound) => {}
            other => {
                return mismatch(format!(
                    "reading a deleted stream: expected ResourceNotFound, got {other:?}"
                ));
            }
        }
        let (again, again_id) = event("ItemAdded", json!({}));
        client
            .append_to_stream(cart.as_str(), &expect(StreamState::NoStream), again)
            .await?;
        equal(
            read(&client, &cart, &Default::default()).await?,
            vec![(again_id, 2)],
            "only the new event, at revision 2",
        )
    })
    .await;

    step(
        p,
        "tombstone: reads and appends fail with Error::ResourceDeleted",
        async {
            let account = format!("account-{run}");
            client
                .append_to_stream(
                    account.as_str(),
                    &expect(StreamState::NoStream),
                    event("AccountOpened", json!({})).0,
                )
                .await?;
            client
                .tombstone_stream(account.as_str(), &TombstoneStreamOptions::default())
                .await?;
            match read(&client, &account, &Default::default()).await {
                Err(Error::ResourceDeleted) => {}
                other => {
                    return mismatch(format!("reading: expected ResourceDeleted, got {other:?}"));
                }
            }
            match client
                .append_to_stream(
                    account.as_str(),
                    &expect(StreamState::Any),
                    event("AccountReopened", json!({})).0,
                )
                .await
            {
                Err(Error::ResourceDeleted) => Ok(()),
                other => mismatch(format!(
                    "appending: expected ResourceDeleted, got {other:?}"
                )),
            }
        },
    )
    .await;

    // --- persistent subscriptions ---------------------------------------------------

    let work = format!("work-{run}");
    let jobs: Vec<(EventData, Uuid)> = (1..=3)
        .map(|n| event("JobQueued", json!({"n": n})))
        .collect();
    let job_ids: Vec<Uuid> = jobs.iter().map(|j| j.1).collect();
    client
        .append_to_stream(
            work.as_str(),
            &expect(StreamState::NoStream),
            jobs.into_iter().map(|j| j.0).collect::<Vec<_>>(),
        )
        .await
        .expect("append the jobs");
    let group = format!("workers-{run}");

    step(
        p,
        "create a persistent subscription to a stream; again: ResourceAlreadyExists",
        async {
            let options =
                PersistentSubscriptionOptions::default().start_from(StreamPosition::Start);
            client
                .create_persistent_subscription(work.as_str(), &group, &options)
                .await?;
            match client
                .create_persistent_subscription(work.as_str(), &group, &options)
                .await
            {
                Err(Error::ResourceAlreadyExists) => Ok(()),
                other => mismatch(format!("expected ResourceAlreadyExists, got {other:?}")),
            }
        },
    )
    .await;

    let mut psub = step(
        p,
        "read it: ack, nack with retry (redelivered), nack with park",
        async {
            let mut sub = client
                .subscribe_to_persistent_subscription(
                    work.as_str(),
                    &group,
                    &SubscribeToPersistentSubscriptionOptions::default(),
                )
                .await?;
            let redelivered = ack_retry_park(&mut sub, job_ids[0], job_ids[1], job_ids[2]).await?;
            equal(redelivered, 1, "retry count of the redelivered event")?;
            Ok(sub)
        },
    )
    .await;

    step(
        p,
        "info and lists show the group and the parked event",
        async {
            let info = client
                .get_persistent_subscription_info(
                    &work,
                    &group,
                    &GetPersistentSubscriptionInfoOptions::default(),
                )
                .await?;
            equal(
                (info.group_name.as_str(), info.event_source.as_str()),
                (group.as_str(), work.as_str()),
                "group and source",
            )?;
            let listed = client
                .list_persistent_subscriptions_for_stream(
                    &work,
                    &ListPersistentSubscriptionsOptions::default(),
                )
                .await?;
            equal(
                listed
                    .iter()
                    .map(|i| i.group_name.clone())
                    .collect::<Vec<_>>(),
                vec![group.clone()],
                "groups of the stream",
            )?;
            wait_for("parked message count 1", || async {
                Ok(client
                    .get_persistent_subscription_info(&work, &group, &Default::default())
                    .await?
                    .stats
                    .parked_message_count
                    == 1)
            })
            .await
        },
    )
    .await;

    step(
        p,
        "replay parked messages: the parked event comes back",
        async {
            client
                .replay_parked_messages(&work, &group, &ReplayParkedMessagesOptions::default())
                .await?;
            let (e, _) = next_persistent(&mut psub, "replayed event").await?;
            let replayed = e.event.as_ref().map(|e| e.id);
            equal(replayed, Some(job_ids[2]), "replayed event id")?;
            psub.ack(&e).await?; // acks the link's id when the event comes back as a link
            Ok(())
        },
    )
    .await;

    step(
        p,
        "delete the persistent subscription; then it is not found",
        async {
            client
                .delete_persistent_subscription(
                    work.as_str(),
                    &group,
                    &DeletePersistentSubscriptionOptions::default(),
                )
                .await?;
            match client
                .get_persistent_subscription_info(&work, &group, &Default::default())
                .await
            {
                Err(Error::ResourceNotFound) => Ok(()),
                other => mismatch(format!("expected ResourceNotFound, got {other:?}")),
            }
        },
    )
    .await;
    drop(psub);

    let audit = format!("audit-{run}");
    let newest = {
        let mut r = client
            .read_all(
                &ReadAllOptions::default()
                    .backwards()
                    .position(StreamPosition::End)
                    .max_count(1),
            )
            .await
            .expect("read $all");
        r.next()
            .await
            .expect("read $all")
            .and_then(|e| e.commit_position)
            .unwrap_or(0)
    };
    let mut recs = Vec::new();
    for n in 1..=3 {
        let (e, id) = event("Audited", json!({"n": n}));
        client
            .append_to_stream(audit.as_str(), &expect(StreamState::Any), e)
            .await
            .expect("append");
        recs.push(id);
    }
    client
        .append_to_stream(
            format!("noise-{run}"),
            &expect(StreamState::Any),
            event("Noise", json!({})).0,
        )
        .await
        .expect("append");
    let all_group = format!("auditors-{run}");

    step(
        p,
        "create a persistent subscription to $all, filtered by stream name prefix",
        async {
            let options = PersistentSubscriptionToAllOptions::default()
                .start_from(StreamPosition::Position(Position {
                    commit: newest,
                    prepare: newest,
                }))
                .filter(SubscriptionFilter::on_stream_name().add_prefix(&audit));
            client
                .create_persistent_subscription_to_all(&all_group, &options)
                .await?;
            Ok(())
        },
    )
    .await;

    step(
        p,
        "read it ($all): ack, nack retry, nack park; replay; info; delete",
        async {
            let mut sub = client
                .subscribe_to_persistent_subscription_to_all(
                    &all_group,
                    &SubscribeToPersistentSubscriptionOptions::default(),
                )
                .await?;
            equal(
                ack_retry_park(&mut sub, recs[0], recs[1], recs[2]).await?,
                1,
                "retry count of the redelivered event",
            )?;
            let info = client
                .get_persistent_subscription_info_to_all(&all_group, &Default::default())
                .await?;
            equal(info.event_source.as_str(), "$all", "event source")?;
            wait_for("parked message count 1", || async {
                Ok(client
                    .get_persistent_subscription_info_to_all(&all_group, &Default::default())
                    .await?
                    .stats
                    .parked_message_count
                    == 1)
            })
            .await?;
            client
                .replay_parked_messages_to_all(&all_group, &Default::default())
                .await?;
            let (e, _) = next_persistent(&mut sub, "replayed event").await?;
            equal(
                e.event.as_ref().map(|e| e.id),
                Some(recs[2]),
                "replayed event id",
            )?;
            sub.ack(&e).await?;
            client
                .delete_persistent_subscription_to_all(&all_group, &Default::default())
                .await?;
            match client
                .get_persistent_subscription_info_to_all(&all_group, &Default::default())
                .await
            {
                Err(Error::ResourceNotFound) => Ok(()),
                other => mismatch(format!("expected ResourceNotFound, got {other:?}")),
            }
        },
    )
    .await;

    println!("rust walk-through: all {n} steps passed against {addr}");
}
