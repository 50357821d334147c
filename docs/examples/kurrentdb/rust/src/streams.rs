//! Streams: appends with every expected state, wrong expected versions,
//! reads of a stream and of `$all` both ways, stream metadata, deletes and
//! tombstones.

use crate::{equal, event, expect, mismatch, step};
use kurrentdb::{
    Client, CurrentRevision, DeleteStreamOptions, Error, ReadAllOptions, ReadStreamOptions,
    StreamMetadata, StreamMetadataResult, StreamPosition, StreamState, SubscriptionFilter,
    TombstoneStreamOptions,
};
use serde_json::json;
use uuid::Uuid;

/// The order stream the first section writes, which later sections read.
pub struct Order {
    pub stream: String,
    /// The ids of its events, in the order they were written.
    pub written: Vec<Uuid>,
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

/// Appends with each expected state, the wrong expected versions, and reads.
pub async fn appends_and_reads(client: &Client, run: &str, p: &mut u32) -> Order {
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
            read(client, &order, &Default::default()).await?.len(),
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
        let forwards = read(client, &order, &ReadStreamOptions::default().forwards()).await?;
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
            client,
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
                read(client, &order, &options)
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
            match read(client, &format!("never-{run}"), &Default::default()).await {
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
                read_all(client, &options).await?,
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
            read_all(client, &options).await?,
            vec![line1_id, line2_id],
            "only LineAdded events",
        )
    })
    .await;

    Order {
        stream: order,
        written,
    }
}

/// Stream metadata, soft deletes and tombstones.
pub async fn metadata_and_deletes(client: &Client, run: &str, order: &Order, p: &mut u32) {
    let order = &order.stream;

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
            read(client, &order, &Default::default()).await?.len(),
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
        match read(client, &cart, &Default::default()).await {
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
            read(client, &cart, &Default::default()).await?,
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
            match read(client, &account, &Default::default()).await {
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
}
