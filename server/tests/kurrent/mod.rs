//! Shared helpers of the KurrentDB protocol tests: the generated KurrentDB
//! client (`strata_proto::kurrent`) and short builders for its requests.
#![allow(dead_code)]

use crate::common::Server;
use futures::StreamExt;
pub use std::collections::HashMap;
pub use std::time::Duration;
pub use strata_proto::kurrent::event_store::client::{self as shared, Empty};
pub use strata_proto::kurrent::streams as pb;
use strata_proto::kurrent::streams::streams_client::StreamsClient;
use tonic::transport::Channel;

pub type Client = StreamsClient<Channel>;

pub const WAIT: Duration = Duration::from_secs(20);

pub async fn client(s: &Server) -> Client {
    StreamsClient::connect(s.url()).await.expect("connect")
}

pub fn sid(name: &str) -> Option<shared::StreamIdentifier> {
    Some(shared::StreamIdentifier {
        stream_name: name.as_bytes().to_vec(),
    })
}

pub fn id(u: uuid::Uuid) -> Option<shared::Uuid> {
    Some(shared::Uuid {
        value: Some(shared::uuid::Value::String(u.to_string())),
    })
}

pub fn proposed(ty: &str, data: &[u8]) -> pb::append_req::ProposedMessage {
    proposed_with_id(uuid::Uuid::new_v4(), ty, data)
}

pub fn proposed_with_id(u: uuid::Uuid, ty: &str, data: &[u8]) -> pb::append_req::ProposedMessage {
    pb::append_req::ProposedMessage {
        id: id(u),
        metadata: HashMap::from([
            ("type".to_owned(), ty.to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ]),
        custom_metadata: b"{}".to_vec(),
        data: data.to_vec(),
    }
}

pub type Expected = pb::append_req::options::ExpectedStreamRevision;

pub async fn append(
    c: &mut Client,
    stream: &str,
    expected: Expected,
    events: Vec<pb::append_req::ProposedMessage>,
) -> pb::append_resp::Result {
    use pb::append_req::{Content, Options};
    let mut msgs = vec![pb::AppendReq {
        content: Some(Content::Options(Options {
            stream_identifier: sid(stream),
            expected_stream_revision: Some(expected),
        })),
    }];
    msgs.extend(events.into_iter().map(|m| pb::AppendReq {
        content: Some(Content::ProposedMessage(m)),
    }));
    c.append(futures::stream::iter(msgs))
        .await
        .expect("append call")
        .into_inner()
        .result
        .expect("a result")
}

/// The stream revision and position of a successful append.
pub fn success(r: pb::append_resp::Result) -> (u64, u64) {
    use pb::append_resp::success::{CurrentRevisionOption, PositionOption};
    match r {
        pb::append_resp::Result::Success(s) => {
            let Some(CurrentRevisionOption::CurrentRevision(rev)) = s.current_revision_option
            else {
                panic!("no revision: {s:?}")
            };
            let Some(PositionOption::Position(p)) = s.position_option else {
                panic!("no position: {s:?}")
            };
            assert_eq!(p.commit_position, p.prepare_position);
            (rev, p.commit_position)
        }
        other => panic!("expected success, got {other:?}"),
    }
}

pub fn e() -> Empty {
    Empty {}
}

pub fn read_req(
    stream: pb::read_req::options::StreamOption,
    backwards: bool,
    count: Option<u64>,
    filter: Option<pb::read_req::options::FilterOptions>,
) -> pb::ReadReq {
    use pb::read_req::options::{uuid_option, CountOption, FilterOption, UuidOption};
    use pb::read_req::Options;
    pb::ReadReq {
        options: Some(Options {
            stream_option: Some(stream),
            read_direction: i32::from(backwards),
            resolve_links: false,
            count_option: Some(match count {
                Some(n) => CountOption::Count(n),
                None => CountOption::Subscription(Default::default()),
            }),
            filter_option: Some(match filter {
                Some(f) => FilterOption::Filter(f),
                None => FilterOption::NoFilter(e()),
            }),
            uuid_option: Some(UuidOption {
                content: Some(uuid_option::Content::String(e())),
            }),
            control_option: Some(pb::read_req::options::ControlOption { compatibility: 1 }),
        }),
    }
}

pub fn stream_at(
    name: &str,
    from: pb::read_req::options::stream_options::RevisionOption,
) -> pb::read_req::options::StreamOption {
    pb::read_req::options::StreamOption::Stream(pb::read_req::options::StreamOptions {
        stream_identifier: sid(name),
        revision_option: Some(from),
    })
}

pub fn all_at(
    from: pb::read_req::options::all_options::AllOption,
) -> pb::read_req::options::StreamOption {
    pb::read_req::options::StreamOption::All(pb::read_req::options::AllOptions {
        all_option: Some(from),
    })
}

/// Every message of a bounded read.
pub async fn read_all_messages(
    c: &mut Client,
    r: pb::ReadReq,
) -> Result<Vec<pb::read_resp::Content>, tonic::Status> {
    let mut s = c.read(r).await?.into_inner();
    let mut out = Vec::new();
    while let Some(m) = tokio::time::timeout(WAIT, s.next())
        .await
        .expect("read in time")
    {
        out.push(m?.content.expect("content"));
    }
    Ok(out)
}

/// The recorded events of a read's messages.
pub fn events(msgs: &[pb::read_resp::Content]) -> Vec<pb::read_resp::read_event::RecordedEvent> {
    msgs.iter()
        .filter_map(|m| match m {
            pb::read_resp::Content::Event(e) => e.event.clone(),
            _ => None,
        })
        .collect()
}

pub fn name(e: &pb::read_resp::read_event::RecordedEvent) -> String {
    String::from_utf8(e.stream_identifier.clone().unwrap().stream_name).unwrap()
}

/// The next message of a subscription, within [`WAIT`].
pub async fn next(sub: &mut tonic::Streaming<pb::ReadResp>) -> pb::read_resp::Content {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a message in time")
        .expect("open")
        .expect("ok")
        .content
        .expect("content")
}

pub fn exception(s: &tonic::Status) -> Option<&str> {
    s.metadata().get("exception").and_then(|v| v.to_str().ok())
}
