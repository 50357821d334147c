//! The group consumer's task against a scripted in-process server: ack
//! batching, rejoining after `UNAVAILABLE` (acks of the old connection
//! dropped), a deleted group, a refused join, and leaving with a stop nack.
//!
//! The real server's behaviour (redelivery, parking, checkpoints) is tested
//! with the server; here each test plays the server's side of `Read` by
//! hand, one connection at a time.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use strata_client::{Client, Error, GroupDelivery, NackAction, RetryPolicy, ACK_BATCH_MAX_IDS};
use strata_proto::v1 as pb;
use strata_proto::v1::group_read_request::Content as In;
use strata_proto::v1::group_read_response::Content as Out;
use strata_proto::v1::persistent_subscriptions_server::{
    PersistentSubscriptions, PersistentSubscriptionsServer,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// One consumer connection, as the scripted server sees it.
struct Conn {
    options: pb::group_read_request::Options,
    inbound: Streaming<pb::GroupReadRequest>,
    out: mpsc::Sender<Result<pb::GroupReadResponse, Status>>,
}

impl Conn {
    async fn confirm(&self, id: &str) {
        self.send(Out::Confirmation(pb::group_read_response::Confirmation {
            consumer_id: id.into(),
        }))
        .await;
    }

    async fn events(&self, ids: &[uuid::Uuid]) {
        let events = ids
            .iter()
            .map(|id| pb::GroupEvent {
                event: Some(pb::RecordedEvent {
                    id: id.to_string(),
                    stream: "s".into(),
                    r#type: "T".into(),
                    ..Default::default()
                }),
                retry_count: 0,
                replayed: false,
            })
            .collect();
        self.send(Out::Events(pb::group_read_response::Events { events }))
            .await;
    }

    async fn send(&self, content: Out) {
        self.out
            .send(Ok(pb::GroupReadResponse {
                content: Some(content),
            }))
            .await
            .unwrap();
    }

    /// The next ack or nack, `None` when the client closed its side.
    async fn next(&mut self) -> Option<In> {
        match tokio::time::timeout(Duration::from_secs(10), self.inbound.message()).await {
            Ok(Ok(Some(m))) => m.content,
            Ok(Ok(None) | Err(_)) => None,
            Err(_) => panic!("no message from the client within 10 s"),
        }
    }
}

#[derive(Clone)]
struct Scripted {
    conns: mpsc::Sender<Conn>,
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not scripted"))
}

#[tonic::async_trait]
impl PersistentSubscriptions for Scripted {
    async fn create(
        &self,
        _: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::GroupInfo>, Status> {
        unimplemented()
    }
    async fn update(
        &self,
        _: Request<pb::UpdateGroupRequest>,
    ) -> Result<Response<pb::GroupInfo>, Status> {
        unimplemented()
    }
    async fn delete(
        &self,
        _: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        unimplemented()
    }
    async fn list(
        &self,
        _: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        unimplemented()
    }
    async fn get_info(
        &self,
        _: Request<pb::GetGroupInfoRequest>,
    ) -> Result<Response<pb::GroupInfo>, Status> {
        unimplemented()
    }
    async fn replay_parked(
        &self,
        _: Request<pb::ReplayParkedRequest>,
    ) -> Result<Response<pb::ReplayParkedResponse>, Status> {
        unimplemented()
    }

    type ReadStream = ReceiverStream<Result<pb::GroupReadResponse, Status>>;

    async fn read(
        &self,
        request: Request<Streaming<pb::GroupReadRequest>>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let mut inbound = request.into_inner();
        let Some(pb::GroupReadRequest {
            content: Some(In::Options(options)),
        }) = inbound.message().await?
        else {
            return Err(Status::invalid_argument("options first"));
        };
        let (out, rx) = mpsc::channel(16);
        let _ = self
            .conns
            .send(Conn {
                options,
                inbound,
                out,
            })
            .await;
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A scripted server and a client of it (fast retries).
async fn serve() -> (Client, mpsc::Receiver<Conn>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(PersistentSubscriptionsServer::new(Scripted { conns: tx }))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let client = Client::builder(format!("http://{addr}"))
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(10)),
        )
        .connect()
        .await
        .unwrap();
    (client, rx)
}

async fn accept(conns: &mut mpsc::Receiver<Conn>) -> Conn {
    tokio::time::timeout(Duration::from_secs(10), conns.recv())
        .await
        .expect("the client joins within 10 s")
        .expect("the server runs")
}

fn ids(n: usize) -> Vec<uuid::Uuid> {
    (0..n).map(|_| uuid::Uuid::new_v4()).collect()
}

async fn take(
    sub: &mut (impl futures::Stream<Item = strata_client::Result<GroupDelivery>> + Unpin),
    n: usize,
) -> Vec<GroupDelivery> {
    let mut got = Vec::new();
    while got.len() < n {
        let d = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("a delivery within 10 s")
            .expect("the subscription goes on")
            .expect("no error");
        got.push(d);
    }
    got
}

#[tokio::test]
async fn acks_are_batched_and_each_sent_once() {
    let (client, mut conns) = serve().await;
    let mut sub = client
        .persistent("g")
        .consumer_name("w1")
        .buffer_size(500)
        .start();
    let mut conn = accept(&mut conns).await;
    assert_eq!(
        (conn.options.group.as_str(), conn.options.buffer_size),
        ("g", 500)
    );
    assert_eq!(conn.options.consumer_name, "w1");
    conn.confirm("7").await;

    // 5,000 events in batches of 500, the next batch once the previous
    // one's acks are in, as the server's in-flight limit would do.
    let all = ids(5_000);
    let consumer = tokio::spawn(async move {
        let mut n = 0;
        while n < 5_000 {
            for d in take(&mut sub, 1).await {
                d.ack();
                n += 1;
            }
        }
        sub
    });
    let (mut acked, mut messages) = (Vec::new(), 0);
    for batch in all.chunks(500) {
        conn.events(batch).await;
        let want = acked.len() + batch.len();
        while acked.len() < want {
            match conn.next().await {
                Some(In::Ack(a)) => {
                    assert!(a.ids.len() <= ACK_BATCH_MAX_IDS);
                    messages += 1;
                    acked.extend(a.ids);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let sub = consumer.await.unwrap();
    assert_eq!(sub.consumer_id().as_deref(), Some("7"));
    let want: Vec<String> = all.iter().map(|id| id.to_string()).collect();
    assert_eq!(acked, want, "every event acked once, in order");
    eprintln!("{messages} ack messages for 5,000 acks");
    assert!(messages <= 100, "{messages} ack messages for 5,000 acks");
}

#[tokio::test]
async fn a_dropped_connection_is_rejoined_and_its_acks_dropped() {
    let (client, mut conns) = serve().await;
    let mut sub = client.persistent("g").start();
    let first = accept(&mut conns).await;
    first.confirm("1").await;
    let evs = ids(5);
    first.events(&evs).await;
    let old = take(&mut sub, 3).await;
    // The server goes away (shutting down) before the consumer acks; two
    // deliveries were not taken yet.
    first
        .out
        .send(Err(Status::unavailable("shutting down")))
        .await
        .unwrap();
    drop(first);

    let mut second = accept(&mut conns).await;
    second.confirm("2").await;
    // Acks through the old deliveries are not sent on the new connection.
    old.iter().for_each(GroupDelivery::ack);
    old[0].nack(NackAction::Park, "late");
    second.events(&evs).await; // redelivered
                               // The two the consumer had not taken from the old connection are
                               // dropped: the next deliveries are the new connection's.
    let new = take(&mut sub, 5).await;
    let got: Vec<_> = new.iter().map(|d| d.event.id).collect();
    assert_eq!(got, evs);
    assert_eq!(sub.consumer_id().as_deref(), Some("2"));
    new[0].nack(NackAction::Retry, "once more");
    new[1..].iter().for_each(GroupDelivery::ack);
    let mut nacked = None;
    let mut acked = HashSet::new();
    while nacked.is_none() || acked.len() < 4 {
        match second.next().await {
            Some(In::Ack(a)) => acked.extend(a.ids),
            Some(In::Nack(n)) => {
                assert_eq!(n.action, pb::NackAction::Retry as i32);
                assert_eq!(n.reason, "once more");
                assert!(nacked.replace(n.ids).is_none(), "one nack");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(nacked.unwrap(), [evs[0].to_string()]);
    let want: HashSet<String> = evs[1..].iter().map(|id| id.to_string()).collect();
    assert_eq!(acked, want);
}

#[tokio::test]
async fn a_deleted_group_ends_the_subscription() {
    let (client, mut conns) = serve().await;
    let mut sub = client.persistent("g").start();
    let conn = accept(&mut conns).await;
    conn.confirm("1").await;
    let mut status = Status::not_found("consumer group 'g' does not exist");
    status.metadata_mut().insert(
        strata_client::ERROR_KIND_KEY,
        "group-not-found".parse().unwrap(),
    );
    conn.out.send(Err(status)).await.unwrap();
    let end = sub.next().await.expect("an error");
    assert!(matches!(end, Err(Error::GroupNotFound { .. })), "{end:?}");
    assert!(sub.next().await.is_none());
}

#[tokio::test]
async fn a_full_group_refuses_the_consumer() {
    let (client, mut conns) = serve().await;
    let mut sub = client.persistent("g").start();
    let conn = accept(&mut conns).await;
    let mut status = Status::resource_exhausted("group 'g' has its 64 consumers");
    status.metadata_mut().insert(
        strata_client::ERROR_KIND_KEY,
        "too-many-consumers".parse().unwrap(),
    );
    conn.out.send(Err(status)).await.unwrap();
    let end = sub.next().await.expect("an error");
    assert!(
        matches!(end, Err(Error::TooManyConsumers { .. })),
        "{end:?}"
    );
    assert!(sub.next().await.is_none());
}

#[tokio::test]
async fn a_stop_nack_leaves_without_rejoining() {
    let (client, mut conns) = serve().await;
    let mut sub = client.persistent("g").start();
    let mut conn = accept(&mut conns).await;
    conn.confirm("1").await;
    let evs = ids(3);
    conn.events(&evs).await;
    let got = take(&mut sub, 2).await;
    got[0].ack();
    got[1].nack(NackAction::Stop, "bye");
    // The ack goes first, then the stop.
    assert!(matches!(conn.next().await, Some(In::Ack(a)) if a.ids == [evs[0].to_string()]));
    assert!(
        matches!(conn.next().await, Some(In::Nack(n)) if n.action == pb::NackAction::Stop as i32)
    );
    drop(conn); // the server ends the stream
                // The third event, not taken before the stop, is not handed over.
    assert!(sub.next().await.is_none());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), conns.recv())
            .await
            .is_err(),
        "no rejoin"
    );
}

#[tokio::test]
async fn dropping_everything_leaves_after_the_last_acks() {
    let (client, mut conns) = serve().await;
    let mut sub = client.persistent("g").start();
    let mut conn = accept(&mut conns).await;
    conn.confirm("1").await;
    let evs = ids(2);
    conn.events(&evs).await;
    let got = take(&mut sub, 2).await;
    drop(sub);
    // Deliveries taken before the drop still ack.
    got[0].ack();
    drop(got);
    assert!(matches!(conn.next().await, Some(In::Ack(a)) if a.ids == [evs[0].to_string()]));
    assert!(conn.next().await.is_none(), "the client closed its side");
}
