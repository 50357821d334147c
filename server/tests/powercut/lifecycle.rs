//! Writers of everything beside appends that lands on disk — stream
//! metadata, soft deletes, snapshots, and a consumer group's checkpoints —
//! each with its own record of what was sent and answered, and the checks
//! of what a power cut may and may not do to them:
//! * metadata: the value read back is the last acknowledged one or a later
//!   one whose answer was lost;
//! * deletes: an acknowledged delete stays deleted; an unknown one either
//!   happened or left the stream whole;
//! * snapshots: the newest snapshot is at least the last acknowledged one,
//!   byte for byte what was saved;
//! * consumer groups: every event of the group's stream is delivered
//!   (and acked) at least once across cuts — a checkpoint never survives
//!   ahead of the acks it covers, however the cut falls.
//!
//! Not here: the append history (`history`), the rig (`rig`).

use super::history::{classify, Outcome};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_client::{
    Client, Error, EventData, ExpectedRevision, GroupSettings, GroupSource, GroupStart,
    ReadOptions, SnapshotData, StreamMetadata,
};
use tokio::task::JoinHandle;

/// The group's stream; its appends are also in the append history.
pub const GROUP_STREAM: &str = "h-group-source";
/// The consumer group.
pub const GROUP: &str = "cuts";

/// What the lifecycle writers sent and heard.
#[derive(Debug, Default, Clone)]
pub struct Record {
    /// Per stream, each metadata change: (custom bytes, outcome).
    pub metadata: BTreeMap<String, Vec<(Vec<u8>, Outcome)>>,
    /// Per stream: the events acknowledged before the delete, and the
    /// delete's outcome (`None`: never sent).
    pub deletes: BTreeMap<String, (usize, Option<Outcome>)>,
    /// Per stream, each snapshot save: (revision, outcome).
    pub snapshots: BTreeMap<String, Vec<(u64, Outcome)>>,
}

fn outcome<T>(r: &Result<T, Error>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok(Vec::new()),
        Err(e) => classify(e),
    }
}

fn snapshot_bytes(stream: &str, rev: u64) -> Vec<u8> {
    format!("state of {stream} at {rev}")
        .repeat(20)
        .into_bytes()
}

/// Starts the metadata, delete and snapshot writers for round `round`;
/// they stop at `stop` or at the first unknown outcome.
pub fn start(
    c: &Client,
    rec: &Arc<Mutex<Record>>,
    round: u64,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let (c1, r1, s1) = (c.clone(), rec.clone(), stop.clone());
    tasks.push(tokio::spawn(async move {
        let mut i = 0u64;
        while !s1.load(Ordering::SeqCst) {
            let stream = format!("l-meta-{}", i % 3);
            let custom = format!("round {round} change {i}").into_bytes();
            let md = StreamMetadata::new().custom(custom.clone());
            let r = c1
                .set_stream_metadata(stream.as_str(), ExpectedRevision::Any, md)
                .await;
            let o = outcome(&r);
            let gone = matches!(o, Outcome::Unknown(_));
            r1.lock()
                .unwrap()
                .metadata
                .entry(stream)
                .or_default()
                .push((custom, o));
            if gone {
                return;
            }
            i += 1;
        }
    }));
    let (c2, r2, s2) = (c.clone(), rec.clone(), stop.clone());
    tasks.push(tokio::spawn(async move {
        let mut j = 0u64;
        while !s2.load(Ordering::SeqCst) {
            let stream = format!("l-del-{round}-{j}");
            j += 1;
            let events = (0..3)
                .map(|k| EventData::binary("D", vec![k; 100]))
                .collect();
            match c2
                .append(stream.as_str(), ExpectedRevision::NoStream, events)
                .await
            {
                Ok(_) => {
                    r2.lock().unwrap().deletes.insert(stream.clone(), (3, None));
                }
                Err(_) => return, // an unacknowledged stream proves nothing
            }
            let r = c2
                .delete_stream(stream.as_str(), ExpectedRevision::Any)
                .await;
            let o = outcome(&r);
            let gone = matches!(o, Outcome::Unknown(_));
            r2.lock().unwrap().deletes.insert(stream, (3, Some(o)));
            if gone {
                return;
            }
        }
    }));
    let (c3, r3, s3) = (c.clone(), rec.clone(), stop.clone());
    tasks.push(tokio::spawn(async move {
        let mut i = 0u64;
        while !s3.load(Ordering::SeqCst) {
            let stream = format!("l-snap-{}", i % 2);
            i += 1;
            let Ok(a) = c3
                .append(
                    stream.as_str(),
                    ExpectedRevision::Any,
                    vec![EventData::binary("S", vec![1])],
                )
                .await
            else {
                return;
            };
            let rev = a.last_revision;
            let data = SnapshotData::new("State", 1, snapshot_bytes(&stream, rev));
            let r = c3.save_snapshot(stream.as_str(), rev, data).await;
            let o = outcome(&r);
            let gone = matches!(o, Outcome::Unknown(_));
            r3.lock()
                .unwrap()
                .snapshots
                .entry(stream)
                .or_default()
                .push((rev, o));
            if gone {
                return;
            }
        }
    }));
    tasks
}

/// The position of the last acknowledged entry, and the entries after it.
fn last_ok<T: Clone>(ops: &[(T, Outcome)]) -> (Option<T>, Vec<T>) {
    let k = ops.iter().rposition(|(_, o)| matches!(o, Outcome::Ok(_)));
    let later = ops[k.map_or(0, |k| k + 1)..]
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Unknown(_)))
        .map(|(t, _)| t.clone())
        .collect();
    (k.map(|k| ops[k].0.clone()), later)
}

/// Checks metadata, deletes and snapshots read back against the record;
/// returns the violations.
pub async fn check(c: &Client, rec: &Record) -> Vec<String> {
    let mut bad = Vec::new();
    for (stream, ops) in &rec.metadata {
        let (acked, later) = last_ok(ops);
        let got = match c.get_stream_metadata(stream.as_str()).await {
            Ok(info) => Some(info.metadata.custom),
            Err(e) => {
                bad.push(format!("metadata of {stream}: {e}"));
                continue;
            }
        };
        let allowed = acked
            .iter()
            .chain(later.iter())
            .any(|v| Some(v) == got.as_ref())
            || (acked.is_none() && got.as_deref() == Some(&[][..]));
        if !allowed {
            bad.push(format!(
                "metadata of {stream} reads {:?}; last acknowledged {:?}, {} unknown after it",
                got.map(|g| String::from_utf8_lossy(&g).into_owned()),
                acked.map(|a| String::from_utf8_lossy(&a).into_owned()),
                later.len()
            ));
        }
    }
    for (stream, (n, delete)) in &rec.deletes {
        let read: Result<Vec<_>, Error> = c
            .read_stream(stream.as_str(), ReadOptions::forwards())
            .try_collect()
            .await;
        let deleted = matches!(
            read,
            Err(Error::StreamDeleted { .. }) | Err(Error::NotFound { .. })
        );
        let whole = matches!(&read, Ok(v) if v.len() == *n);
        let ok = match delete {
            Some(Outcome::Ok(_)) => deleted,
            Some(Outcome::Unknown(_)) => deleted || whole,
            _ => whole,
        };
        if !ok {
            bad.push(format!(
                "{stream}: delete {delete:?}, read back {:?}",
                read.map(|v| v.len())
            ));
        }
    }
    for (stream, ops) in &rec.snapshots {
        let (acked, later) = last_ok(ops);
        match c.get_snapshot(stream.as_str(), None).await {
            Ok(Some(s)) => {
                let known = acked.iter().chain(later.iter()).any(|r| *r == s.revision)
                    || ops
                        .iter()
                        .any(|(r, o)| *r == s.revision && matches!(o, Outcome::Ok(_)));
                if !known || acked.is_some_and(|a| s.revision < a) {
                    bad.push(format!(
                        "{stream}: newest snapshot at {}, last acknowledged {acked:?}",
                        s.revision
                    ));
                }
                if s.data != snapshot_bytes(stream, s.revision) {
                    bad.push(format!(
                        "{stream}: snapshot at {} has other bytes",
                        s.revision
                    ));
                }
            }
            Ok(None) if acked.is_none() => {}
            other => bad.push(format!(
                "{stream}: snapshot {other:?}, last acknowledged {acked:?}"
            )),
        }
    }
    bad
}

/// Creates the consumer group over [`GROUP_STREAM`] (checkpoints after
/// every few acks) and starts a consumer that acks all but every tenth
/// event (those time out and come again), recording the acked ids.
pub async fn start_group(c: &Client) -> (Arc<Mutex<HashSet<uuid::Uuid>>>, JoinHandle<()>) {
    c.create_group(
        GROUP,
        GroupSource::stream(GROUP_STREAM),
        GroupStart::Start,
        GroupSettings::new()
            .message_timeout(Duration::from_millis(500))
            .checkpoint_after(Duration::from_millis(10))
            .checkpoint_max_count(5),
    )
    .await
    .expect("create the consumer group");
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let seen = acked.clone();
    let mut sub = c.persistent(GROUP).consumer_name("cut-consumer").start();
    let task = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(d) = sub.next().await {
            let Ok(d) = d else { continue };
            n += 1;
            if !n.is_multiple_of(10) || d.retry_count > 0 {
                seen.lock().unwrap().insert(d.event.id);
                d.ack();
            }
        }
    });
    (acked, task)
}

/// The ids of every event in the group's stream that was never acked.
pub async fn unacked(c: &Client, acked: &Mutex<HashSet<uuid::Uuid>>) -> Vec<(u64, uuid::Uuid)> {
    let evs: Vec<strata_client::RecordedEvent> = match c
        .read_stream(GROUP_STREAM, ReadOptions::forwards())
        .try_collect()
        .await
    {
        Ok(v) => v,
        Err(Error::NotFound { .. }) => Vec::new(),
        Err(e) => panic!("reading {GROUP_STREAM}: {e}"),
    };
    let acked = acked.lock().unwrap();
    evs.into_iter()
        .filter(|e| !acked.contains(&e.id))
        .map(|e| (e.revision, e.id))
        .collect()
}
