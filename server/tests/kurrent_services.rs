//! The rest of the KurrentDB client protocol against the real binary:
//! stream metadata through `$$stream`, BatchAppend, what clients call on
//! connect (Gossip, ServerFeatures), and UNIMPLEMENTED for what Strata does
//! not serve.

mod common;
mod kurrent;

use common::Server;
use futures::StreamExt;
use kurrent::*;
use strata_proto::kurrent::gossip::gossip_client::GossipClient;
use strata_proto::kurrent::gossip::member_info::VNodeState;
use strata_proto::kurrent::server_features::server_features_client::ServerFeaturesClient;
use tonic::transport::Channel;

#[tokio::test]
async fn stream_metadata_round_trips_through_the_dollar_dollar_stream() {
    use pb::read_req::options::stream_options::RevisionOption;
    let server = Server::start();
    let mut c = client(&server).await;
    let body = br#"{"$maxCount":2,"$acl":{"$r":"$all"},"owner":"ann"}"#;
    let (rev, _) = success(
        append(
            &mut c,
            "$$cart-1",
            Expected::NoStream(e()),
            vec![proposed("$metadata", body)],
        )
        .await,
    );
    assert_eq!(rev, 0);
    let got = events(
        &read_all_messages(
            &mut c,
            read_req(
                stream_at("$$cart-1", RevisionOption::End(e())),
                true,
                Some(1),
                None,
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].metadata["type"], "$metadata");
    assert_eq!(got[0].stream_revision, 0);
    let json: serde_json::Value = serde_json::from_slice(&got[0].data).unwrap();
    assert_eq!(json["$maxCount"], 2);
    assert_eq!(json["owner"], "ann");
    assert_eq!(json["$acl"]["$r"], "$all");
    // The rule holds: only the last two events of cart-1 are visible.
    success(
        append(
            &mut c,
            "cart-1",
            Expected::Any(e()),
            vec![
                proposed("A", b"{}"),
                proposed("A", b"{}"),
                proposed("A", b"{}"),
            ],
        )
        .await,
    );
    let visible = events(
        &read_all_messages(
            &mut c,
            read_req(
                stream_at("cart-1", RevisionOption::Start(e())),
                false,
                Some(10),
                None,
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        visible
            .iter()
            .map(|e| e.stream_revision)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    // The metadata's own expected revision is checked.
    match append(
        &mut c,
        "$$cart-1",
        Expected::NoStream(e()),
        vec![proposed("$metadata", b"{}")],
    )
    .await
    {
        pb::append_resp::Result::WrongExpectedVersion(_) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        success(
            append(
                &mut c,
                "$$cart-1",
                Expected::Revision(0),
                vec![proposed("$metadata", b"{}")]
            )
            .await
        )
        .0,
        1
    );
    // A stream with no metadata has no $$ stream.
    let msgs = read_all_messages(
        &mut c,
        read_req(
            stream_at("$$other", RevisionOption::End(e())),
            true,
            Some(1),
            None,
        ),
    )
    .await
    .unwrap();
    assert!(
        matches!(msgs.as_slice(), [pb::read_resp::Content::StreamNotFound(_)]),
        "{msgs:?}"
    );
}

#[tokio::test]
async fn batch_append_answers_each_batch_by_correlation_id() {
    use pb::batch_append_req::options::ExpectedStreamPosition as Pos;
    let server = Server::start();
    let mut c = client(&server).await;
    let msg = |ty: &str| pb::batch_append_req::ProposedMessage {
        id: id(uuid::Uuid::new_v4()),
        metadata: HashMap::from([
            ("type".to_owned(), ty.to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ]),
        custom_metadata: vec![],
        data: b"{}".to_vec(),
    };
    let opts = |s: &str, p: Pos| {
        Some(pb::batch_append_req::Options {
            stream_identifier: sid(s),
            expected_stream_position: Some(p),
            deadline_option: None,
        })
    };
    let (good, bad) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let reqs = vec![
        // One batch in two messages.
        pb::BatchAppendReq {
            correlation_id: id(good),
            options: opts("batched", Pos::NoStream(())),
            proposed_messages: vec![msg("A")],
            is_final: false,
        },
        pb::BatchAppendReq {
            correlation_id: id(good),
            options: None,
            proposed_messages: vec![msg("B")],
            is_final: true,
        },
        pb::BatchAppendReq {
            correlation_id: id(bad),
            options: opts("batched", Pos::StreamPosition(7)),
            proposed_messages: vec![msg("C")],
            is_final: true,
        },
    ];
    let mut answers = c
        .batch_append(futures::stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let mut by_id = HashMap::new();
    while let Some(a) = tokio::time::timeout(WAIT, answers.next())
        .await
        .expect("in time")
    {
        let a = a.unwrap();
        let Some(shared::uuid::Value::String(k)) = a.correlation_id.clone().unwrap().value else {
            panic!()
        };
        by_id.insert(k, a);
    }
    use pb::batch_append_resp::{success::CurrentRevisionOption, Result};
    match &by_id[&good.to_string()].result {
        Some(Result::Success(s)) => assert_eq!(
            s.current_revision_option,
            Some(CurrentRevisionOption::CurrentRevision(1))
        ),
        other => panic!("{other:?}"),
    }
    match &by_id[&bad.to_string()].result {
        Some(Result::Error(s)) => {
            assert_eq!(s.code, 6, "ALREADY_EXISTS, as KurrentDB");
            let d = s.details.as_ref().unwrap();
            assert!(d
                .type_url
                .ends_with("event_store.client.WrongExpectedVersion"));
            let w = <shared::WrongExpectedVersion as prost::Message>::decode(d.value.as_slice())
                .unwrap();
            assert_eq!(w.current_stream_revision_option, Some(shared::wrong_expected_version::CurrentStreamRevisionOption::CurrentStreamRevision(1)));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn gossip_features_and_unimplemented_services() {
    let server = Server::start();
    let info = GossipClient::connect(server.url())
        .await
        .unwrap()
        .read(Empty {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.members.len(), 1);
    let m = &info.members[0];
    assert_eq!(m.state, VNodeState::Leader as i32);
    assert!(m.is_alive);
    assert_eq!(
        m.http_end_point.as_ref().unwrap().port,
        u32::from(server.addr.port())
    );

    let f = ServerFeaturesClient::connect(server.url())
        .await
        .unwrap()
        .get_supported_methods(Empty {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f.event_store_server_version.split('.').count(), 3);
    let has = |svc: &str, m: &str| {
        f.methods
            .iter()
            .any(|x| x.service_name == svc && x.method_name == m)
    };
    assert!(has("event_store.client.streams.streams", "read"));
    assert!(has("event_store.client.streams.streams", "batchappend"));
    assert!(has("event_store.client.gossip.gossip", "read"));

    // What Strata does not serve answers UNIMPLEMENTED.
    let channel = Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/event_store.client.projections.Projections/Statistics",
    );
    let r: Result<tonic::Response<Empty>, _> = grpc
        .unary(
            tonic::Request::new(Empty {}),
            path,
            tonic_prost::ProstCodec::<Empty, Empty>::default(),
        )
        .await;
    assert_eq!(r.unwrap_err().code(), tonic::Code::Unimplemented);
}
