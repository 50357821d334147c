//! The append and catch-up workloads driven through the KurrentDB client
//! protocol (`event_store.client.streams`, served beside `strata.v1` on the
//! same port), as a KurrentDB client sends them: one client-streaming
//! `Append` call per append (options, then the proposed messages) and one
//! `Read` subscription to `$all` for catch-up. Same loads as the native
//! workloads (`append --via kurrent`, `catchup --via kurrent`), so the two
//! protocols can be compared on one server build (issue #19: within 20%).
//! Not here: the native workloads, or correctness checks of the protocol
//! (the server's tests and the clients' walk-throughs do those).

use super::{finish, next_id, AppendArgs, CatchupArgs, Channel};
use crate::report::{new_hist, Latency, Report};
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use strata_proto::kurrent::event_store::client::{uuid, Empty, StreamIdentifier, Uuid};
use strata_proto::kurrent::streams as pb;
use strata_proto::kurrent::streams::streams_client::StreamsClient;
use strata_proto::wire::MAX_GRPC_MESSAGE_BYTES;

type Client = StreamsClient<Channel>;

fn client(channels: &[Channel], i: usize) -> Client {
    StreamsClient::new(channels[i % channels.len()].clone())
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES)
}

fn message(size: usize, fill: u8) -> pb::append_req::ProposedMessage {
    pb::append_req::ProposedMessage {
        id: Some(Uuid {
            value: Some(uuid::Value::String(next_id())),
        }),
        metadata: HashMap::from([
            ("type".to_owned(), "BenchEvent".to_owned()),
            (
                "content-type".to_owned(),
                "application/octet-stream".to_owned(),
            ),
        ]),
        custom_metadata: Vec::new(),
        data: vec![fill; size],
    }
}

/// One `Append` call; the stream's revision after it.
async fn append(
    cl: &mut Client,
    stream: &str,
    expected: pb::append_req::options::ExpectedStreamRevision,
    events: usize,
    size: usize,
    fill: u8,
) -> Result<u64> {
    use pb::append_req::{Content, Options};
    use pb::append_resp::success::CurrentRevisionOption;
    let mut msgs = Vec::with_capacity(events + 1);
    msgs.push(pb::AppendReq {
        content: Some(Content::Options(Options {
            stream_identifier: Some(StreamIdentifier {
                stream_name: stream.as_bytes().to_vec(),
            }),
            expected_stream_revision: Some(expected),
        })),
    });
    msgs.extend((0..events).map(|_| pb::AppendReq {
        content: Some(Content::ProposedMessage(message(size, fill))),
    }));
    let resp = cl.append(futures::stream::iter(msgs)).await?.into_inner();
    match resp.result {
        Some(pb::append_resp::Result::Success(s)) => match s.current_revision_option {
            Some(CurrentRevisionOption::CurrentRevision(r)) => Ok(r),
            _ => bail!("a successful append without a revision"),
        },
        other => bail!("append failed: {other:?}"),
    }
}

/// `append --via kurrent`: `a.clients` clients, each on its own streams,
/// with `any` or exact expected revisions as `a.expected` says.
pub async fn run_append(a: AppendArgs, channels: &[Channel]) -> Result<Report> {
    use pb::append_req::options::ExpectedStreamRevision as Expected;
    anyhow::ensure!(
        a.streams_per_client > 0,
        "--streams-per-client must be at least 1"
    );
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let mut cl = client(channels, c);
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = new_hist();
            let mut revs: Vec<Option<u64>> = vec![None; a.streams_per_client];
            let (mut events, mut reqs, mut errors) = (0u64, 0u64, 0u64);
            let mut i = 0usize;
            while Instant::now() < deadline {
                let k = i % a.streams_per_client;
                i += 1;
                let expected = match (a.expected.as_str(), revs[k]) {
                    ("exact", None) => Expected::NoStream(Empty {}),
                    ("exact", Some(r)) => Expected::Revision(r),
                    _ => Expected::Any(Empty {}),
                };
                let stream = format!("bench-{c}-{k}");
                let t = Instant::now();
                match append(
                    &mut cl,
                    &stream,
                    expected,
                    a.events_per_append,
                    a.event_size,
                    c as u8,
                )
                .await
                {
                    Ok(r) => {
                        let _ = h.record(t.elapsed().as_micros() as u64);
                        revs[k] = Some(r);
                        events += a.events_per_append as u64;
                        reqs += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
            (events, reqs, errors, h)
        }));
    }
    let mut r = Report {
        workload: "append (KurrentDB protocol)".into(),
        params: serde_json::to_value(&a)?,
        ..Default::default()
    };
    let mut hist = new_hist();
    for t in tasks {
        let (e, q, x, h) = t.await?;
        r.events += e;
        r.requests += q;
        r.errors += x;
        hist.add(&h).ok();
    }
    r.seconds = start.elapsed().as_secs_f64();
    r.latency = Some(Latency::from_hist(&hist));
    Ok(finish(r, a.event_size))
}

/// `catchup --via kurrent`: pre-fills natively (the fill is not measured),
/// then one `$all` subscription from the start, counted until `caught_up`.
pub async fn run_catchup(a: CatchupArgs, channels: &[Channel]) -> Result<Report> {
    use pb::read_req::options::{
        all_options::AllOption, uuid_option, AllOptions, CountOption, FilterOption, StreamOption,
        SubscriptionOptions, UuidOption,
    };
    use pb::read_resp::Content;
    let t = Instant::now();
    super::read::prefill(channels, a.events, a.event_size, 1000).await?;
    let fill_secs = t.elapsed().as_secs_f64();
    let mut cl = client(channels, 0);
    let start = Instant::now();
    let req = pb::ReadReq {
        options: Some(pb::read_req::Options {
            stream_option: Some(StreamOption::All(AllOptions {
                all_option: Some(AllOption::Start(Empty {})),
            })),
            read_direction: pb::read_req::options::ReadDirection::Forwards as i32,
            resolve_links: false,
            count_option: Some(CountOption::Subscription(SubscriptionOptions {})),
            filter_option: Some(FilterOption::NoFilter(Empty {})),
            uuid_option: Some(UuidOption {
                content: Some(uuid_option::Content::String(Empty {})),
            }),
            control_option: Some(pb::read_req::options::ControlOption { compatibility: 1 }),
        }),
    };
    let mut stream = cl.read(req).await?.into_inner();
    let mut got = 0u64;
    while let Some(msg) = stream.message().await? {
        match msg.content {
            Some(Content::Event(_)) => got += 1,
            Some(Content::CaughtUp(_)) => break,
            _ => {}
        }
    }
    let mut r = Report {
        workload: "catchup (KurrentDB protocol)".into(),
        params: serde_json::to_value(&a)?,
        ..Default::default()
    };
    r.seconds = start.elapsed().as_secs_f64();
    r.events = got;
    r.requests = 1;
    r.notes.push(format!(
        "pre-fill of {} events (native appends of 1000) took {fill_secs:.1} s",
        a.events
    ));
    Ok(finish(r, a.event_size))
}
