//! Catch-up subscriptions: to a stream (catch up, then live) and to `$all`
//! with server-side filters by event type prefix, stream name prefix and
//! stream name regex.

use crate::streams::Order;
use crate::{R, equal, event, expect, step, within};
use kurrentdb::{
    Client, Position, StreamPosition, StreamState, SubscribeToAllOptions, SubscribeToStreamOptions,
    Subscription, SubscriptionFilter,
};
use serde_json::json;
use uuid::Uuid;

/// The ids of the next `n` events of a catch-up subscription.
async fn take(sub: &mut Subscription, n: usize, what: &str) -> R<Vec<Uuid>> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = within(what, sub.next()).await?;
        out.push(e.get_original_event().id);
    }
    Ok(out)
}

/// Subscribes to the order stream and to `$all` with each kind of filter.
pub async fn catch_up(client: &Client, run: &str, order: &Order, p: &mut u32) {
    let Order {
        stream: order,
        written,
    } = order;

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
}
