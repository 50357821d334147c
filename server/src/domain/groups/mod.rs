//! Persistent subscriptions: server-side consumer groups with ack/nack,
//! retries, a dead-letter (parked) stream, and ordered partitions.
//!
//! [`Groups`] is the registry: one [`actor::GroupActor`] task per group,
//! reached through a command channel. Every change of state is a record in
//! the log (`records`): definitions in `$groups` (loaded at start, the last
//! record per group wins), checkpoints in `$checkpoint-<group>`, parked
//! events in `$parked-<group>`. So a restart — or a `kill -9` — resumes
//! each group from its last checkpoint: nothing acked before it comes back,
//! nothing unacked is lost, and what was acked after it is delivered again
//! (at least once; the window is at most `checkpoint_after_ms` of acks or
//! `checkpoint_max_count` acks).
//!
//! Each group follows its source with [`Node::follow`] (a catch-up
//! subscription that does not take a client's subscription slot).
//!
//! Not here: the dispatch rules (`state`), the task (`actor`), settings and
//! limits (`settings`), wire messages (the adapters).

mod actor;
mod records;
pub mod settings;
mod state;

pub use actor::{Command, ConsumerMessage};
pub use settings::{GroupFilter, GroupSettings, GroupSpec, StartFrom, Strategy};
pub use state::{ConsumerId, ConsumerStats, Totals};
#[allow(unused_imports)] // used by the adapters
pub use state::{Delivery, Nack};

use super::{blocking, Error, Node};
use records::{GroupRecord, GROUPS_STREAM, GROUP_CREATED, GROUP_DELETED, GROUP_UPDATED};
use settings::{validate_group_name, ALL, MAX_GROUPS};
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_storage::{
    CurrentRevision, Direction, ExpectedRevision, StreamAppend, StreamFrom, StreamMetadata, Write,
};
use tokio::sync::{mpsc, oneshot, Mutex};

/// Commands queued per group before senders wait.
const COMMAND_QUEUE: usize = 1_024;

/// What a group is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStatus {
    Live,
    CatchingUp,
    WaitingForConsumers,
    ConsumersFull,
    PartitionsBlocked,
    Failing,
}

impl GroupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Live => "live",
            GroupStatus::CatchingUp => "catching-up",
            GroupStatus::WaitingForConsumers => "waiting-for-consumers",
            GroupStatus::ConsumersFull => "consumers-full",
            GroupStatus::PartitionsBlocked => "partitions-blocked",
            GroupStatus::Failing => "failing",
        }
    }
}

/// A group as `GetInfo` reports it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub group: String,
    pub spec: GroupSpec,
    pub settings: GroupSettings,
    pub status: GroupStatus,
    pub reason: String,
    pub consumers: Vec<ConsumerStats>,
    pub checkpoint: u64,
    pub head: u64,
    pub in_flight: u64,
    pub parked: u64,
    pub totals: Totals,
}

struct Handle {
    tx: mpsc::Sender<Command>,
}

/// The running groups of one server.
#[derive(Default)]
pub struct Groups {
    map: Mutex<BTreeMap<String, Handle>>,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups").finish_non_exhaustive()
    }
}

impl Node {
    fn spawn_group(
        self: &Arc<Self>,
        name: &str,
        spec: GroupSpec,
        settings: GroupSettings,
        checkpoint: u64,
        parked: (u64, u64),
    ) -> Handle {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let actor = actor::GroupActor::new(
            name.to_owned(),
            spec,
            settings,
            Arc::downgrade(self),
            checkpoint,
            parked,
        );
        tokio::spawn(actor.run(rx, self.shutdown.clone()));
        Handle { tx }
    }

    /// Starts every group the log defines (at server start).
    pub async fn start_groups(self: &Arc<Self>) -> Result<usize, Error> {
        let store = self.store.clone();
        let records = blocking(move || {
            match store.read_stream(
                GROUPS_STREAM,
                StreamFrom::Start,
                Direction::Forwards,
                usize::MAX,
            ) {
                Err(strata_storage::Error::StreamNotFound(_)) => Ok(Vec::new()),
                r => r,
            }
        })
        .await?;
        let mut defs: BTreeMap<String, Option<GroupRecord>> = BTreeMap::new();
        for r in records {
            let Ok(g) = serde_json::from_slice::<GroupRecord>(&r.data) else {
                tracing::warn!(
                    revision = r.revision,
                    "a $groups record does not decode; skipped"
                );
                continue;
            };
            let live = r.event_type != GROUP_DELETED;
            defs.insert(g.group.clone(), live.then_some(g));
        }
        let mut map = self.groups.map.lock().await;
        for (name, def) in defs {
            let Some(def) = def else { continue };
            let (checkpoint, parked) = self.group_progress(&name, def.spec.start).await?;
            let h = self.spawn_group(&name, def.spec, def.settings, checkpoint, parked);
            map.insert(name, h);
        }
        Ok(map.len())
    }

    /// A group's last checkpoint (or its start) and its parked stream's end
    /// and truncate_before, from the log.
    async fn group_progress(&self, name: &str, start: u64) -> Result<(u64, (u64, u64)), Error> {
        let store = self.store.clone();
        let (cp_stream, parked) = (
            records::checkpoint_stream(name),
            records::parked_stream(name),
        );
        blocking(move || {
            let last = match store.read_stream(&cp_stream, StreamFrom::End, Direction::Backwards, 1)
            {
                Ok(v) => v.first().and_then(records::checkpoint_of),
                Err(
                    strata_storage::Error::StreamNotFound(_)
                    | strata_storage::Error::StreamDeleted(_),
                ) => None,
                Err(e) => return Err(e),
            };
            Ok((
                last.unwrap_or(start).max(start),
                parked_extent(&store, &parked)?,
            ))
        })
        .await
    }

    async fn group(&self, name: &str) -> Result<mpsc::Sender<Command>, Error> {
        let map = self.groups.map.lock().await;
        map.get(name)
            .map(|h| h.tx.clone())
            .ok_or_else(|| Error::GroupNotFound(name.to_owned()))
    }

    async fn write_definition(&self, kind: &str, record: &GroupRecord) -> Result<(), Error> {
        let write = Write::Append(vec![StreamAppend {
            stream: GROUPS_STREAM.to_owned(),
            expected: ExpectedRevision::Any,
            events: vec![records::group_event(kind, record)],
        }]);
        self.submit_system(write).await.map(|_| ())
    }

    /// Creates a group.
    pub async fn create_group(
        self: &Arc<Self>,
        name: String,
        stream: String,
        filter: GroupFilter,
        start: StartFrom,
        settings: GroupSettings,
    ) -> Result<GroupInfo, Error> {
        validate_group_name(&name)?;
        settings.validate()?;
        let all = stream == ALL;
        if !all {
            strata_storage::validate_read_name(&stream)?;
            if !filter.event_types.is_empty() || !filter.stream_prefixes.is_empty() {
                return Err(Error::InvalidRequest(
                    "a filter is for \"$all\" groups".into(),
                ));
            }
        }
        let start = match (start, all) {
            (StartFrom::Start, _) => 0,
            (StartFrom::End, true) => self.store.head(),
            (StartFrom::End, false) => {
                let (s, n) = (self.store.clone(), stream.clone());
                match blocking(move || s.stream_revision(&n)).await? {
                    CurrentRevision::NoStream => 0,
                    CurrentRevision::Current(r) => r + 1,
                }
            }
            (StartFrom::AfterPosition(p), true) => p,
            (StartFrom::AfterRevision(r), false) => r + 1,
            _ => {
                return Err(Error::InvalidRequest(
                    "after_position is for \"$all\" groups, after_revision for stream groups"
                        .into(),
                ))
            }
        };
        let spec = GroupSpec {
            stream,
            filter,
            start,
        };
        let mut map = self.groups.map.lock().await;
        if map.contains_key(&name) {
            return Err(Error::GroupExists(name));
        }
        if map.len() >= MAX_GROUPS {
            return Err(Error::InvalidRequest(format!(
                "the server already has its limit of {MAX_GROUPS} groups"
            )));
        }
        let record = GroupRecord {
            group: name.clone(),
            spec: spec.clone(),
            settings: settings.clone(),
        };
        // Only the newest checkpoint matters; older ones may go.
        let one = Write::SetMetadata {
            stream: records::checkpoint_stream(&name),
            expected: ExpectedRevision::Any,
            metadata: StreamMetadata {
                max_count: Some(1),
                ..Default::default()
            },
        };
        self.submit_system(one).await?;
        self.write_definition(GROUP_CREATED, &record).await?;
        let (store, parked) = (self.store.clone(), records::parked_stream(&name));
        let extent = blocking(move || parked_extent(&store, &parked)).await?;
        let h = self.spawn_group(&name, spec, settings, start, extent);
        let tx = h.tx.clone();
        map.insert(name.clone(), h);
        drop(map);
        tracing::info!(group = %name, "consumer group created");
        info_of(&tx, &name).await
    }

    /// Replaces a group's settings.
    pub async fn update_group(
        &self,
        name: String,
        settings: GroupSettings,
    ) -> Result<GroupInfo, Error> {
        settings.validate()?;
        let map = self.groups.map.lock().await;
        let tx = map
            .get(&name)
            .map(|h| h.tx.clone())
            .ok_or_else(|| Error::GroupNotFound(name.clone()))?;
        let info = info_of(&tx, &name).await?;
        let record = GroupRecord {
            group: name.clone(),
            spec: info.spec,
            settings: settings.clone(),
        };
        self.write_definition(GROUP_UPDATED, &record).await?;
        let (done, wait) = oneshot::channel();
        tx.send(Command::Update(settings, done))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        let _ = wait.await;
        drop(map);
        info_of(&tx, &name).await
    }

    /// Deletes a group, its checkpoints and its parked events.
    pub async fn delete_group(&self, name: String) -> Result<(), Error> {
        let mut map = self.groups.map.lock().await;
        let tx = map
            .get(&name)
            .map(|h| h.tx.clone())
            .ok_or_else(|| Error::GroupNotFound(name.clone()))?;
        let info = info_of(&tx, &name).await?;
        let record = GroupRecord {
            group: name.clone(),
            spec: info.spec,
            settings: info.settings,
        };
        self.write_definition(GROUP_DELETED, &record).await?;
        map.remove(&name);
        let (done, wait) = oneshot::channel();
        if tx.send(Command::Delete(done)).await.is_ok() {
            let _ = wait.await;
        }
        for stream in [
            records::checkpoint_stream(&name),
            records::parked_stream(&name),
        ] {
            let delete = Write::Delete {
                stream,
                expected: ExpectedRevision::Any,
                tombstone: false,
            };
            self.submit_system(delete).await?;
        }
        tracing::info!(group = %name, "consumer group deleted");
        Ok(())
    }

    /// Every group's info, by name.
    pub async fn list_groups(&self) -> Result<Vec<GroupInfo>, Error> {
        let handles: Vec<(String, mpsc::Sender<Command>)> = {
            let map = self.groups.map.lock().await;
            map.iter().map(|(k, h)| (k.clone(), h.tx.clone())).collect()
        };
        let mut out = Vec::with_capacity(handles.len());
        for (name, tx) in handles {
            if let Ok(i) = info_of(&tx, &name).await {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// One group's info.
    pub async fn group_info(&self, name: &str) -> Result<GroupInfo, Error> {
        let tx = self.group(name).await?;
        info_of(&tx, name).await
    }

    /// Joins `name` as a consumer: its id, where its deliveries arrive, and
    /// the sender for its acks and nacks.
    pub async fn join_group(
        &self,
        name: &str,
        consumer_name: String,
        buffer_size: u32,
    ) -> Result<
        (
            ConsumerId,
            mpsc::Receiver<ConsumerMessage>,
            mpsc::Sender<Command>,
        ),
        Error,
    > {
        let tx = self.group(name).await?;
        let (reply, rx) = oneshot::channel();
        tx.send(Command::Join {
            name: consumer_name,
            buffer_size,
            reply,
        })
        .await
        .map_err(|_| Error::GroupNotFound(name.to_owned()))?;
        let (id, deliveries) = rx
            .await
            .map_err(|_| Error::GroupNotFound(name.to_owned()))??;
        Ok((id, deliveries, tx))
    }

    /// Queues up to `max_count` parked events (0: all) for delivery again.
    pub async fn replay_parked(&self, name: &str, max_count: u64) -> Result<u64, Error> {
        let tx = self.group(name).await?;
        let (reply, rx) = oneshot::channel();
        tx.send(Command::Replay(max_count, reply))
            .await
            .map_err(|_| Error::GroupNotFound(name.to_owned()))?;
        rx.await
            .map_err(|_| Error::GroupNotFound(name.to_owned()))?
    }
}

async fn info_of(tx: &mpsc::Sender<Command>, name: &str) -> Result<GroupInfo, Error> {
    let (reply, rx) = oneshot::channel();
    tx.send(Command::Info(reply))
        .await
        .map_err(|_| Error::GroupNotFound(name.to_owned()))?;
    rx.await.map_err(|_| Error::GroupNotFound(name.to_owned()))
}

/// A parked stream's end (last revision + 1) and first visible revision:
/// its records in between are the parked events. A stream left by a
/// deleted group of the same name counts as empty.
fn parked_extent(
    store: &strata_storage::Store,
    parked: &str,
) -> strata_storage::Result<(u64, u64)> {
    let end = store.last_revision(parked)?.map_or(0, |r| r + 1);
    // The first record a reader would see: it honours `truncate_before`,
    // a soft delete, and a recreation after one (a group deleted and
    // created again under the same name starts with none of the old
    // group's parked records).
    let first = match store.read_stream(
        parked,
        strata_storage::StreamFrom::Start,
        strata_storage::Direction::Forwards,
        1,
    ) {
        Ok(first) => first,
        Err(strata_storage::Error::StreamNotFound(_) | strata_storage::Error::StreamDeleted(_)) => {
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let from = first.first().map_or(end, |e| e.revision).min(end);
    Ok((end, from))
}
