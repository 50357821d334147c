//! Persistent subscriptions, to a stream and to `$all` (filtered): create,
//! ack / nack with retry / nack with park, info and lists, replay of parked
//! messages, delete.

use crate::{R, equal, event, expect, mismatch, step, within};
use kurrentdb::{
    Client, DeletePersistentSubscriptionOptions, Error, EventData,
    GetPersistentSubscriptionInfoOptions, ListPersistentSubscriptionsOptions, NakAction,
    PersistentSubscription, PersistentSubscriptionEvent, PersistentSubscriptionOptions,
    PersistentSubscriptionToAllOptions, Position, ReadAllOptions, ReplayParkedMessagesOptions,
    ResolvedEvent, StreamPosition, StreamState, SubscribeToPersistentSubscriptionOptions,
    SubscriptionFilter,
};
use serde_json::json;
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

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

/// A persistent subscription group on a stream, then one on `$all`.
pub async fn groups(client: &Client, run: &str, p: &mut u32) {
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
}
