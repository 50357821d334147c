//! Event-sourced aggregates on top of the client: load the state of a
//! stream (newest snapshot + the events after it), append new events with an
//! optimistic-concurrency check, and take snapshots by policy.
//!
//! An [`Aggregate`] is a plain Rust type that folds its events
//! ([`Aggregate::apply`]); events and snapshots are stored as JSON. A
//! [`Repository`] does the I/O:
//!
//! - [`Repository::load`] fetches the newest snapshot (if any and usable)
//!   and replays only the events after it;
//! - [`Repository::save`] appends with the loaded version as the expected
//!   revision, so two writers that loaded the same version cannot both
//!   write: the second gets [`Error::WrongExpectedRevision`] and should
//!   reload and retry;
//! - [`Repository::load_at_revision`] / [`Repository::load_at_time`] give
//!   historical states.
//!
//! **Snapshots are only an optimisation.** A snapshot that is damaged
//! (`DATA_LOSS`), of another [`Aggregate::TYPE`] or
//! [`Aggregate::SCHEMA_VERSION`], that does not deserialize, or that cannot
//! be fetched at all, is logged with `tracing::warn!` and ignored: the load
//! replays the stream from the start and gives the same state. So changing
//! the shape of an aggregate only needs a new `SCHEMA_VERSION`.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use strata_client::{Aggregate, Client, Error, Repository, SnapshotPolicy};
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct Account { balance: i64 }
//!
//! #[derive(Serialize, Deserialize)]
//! enum AccountEvent { Deposited(i64), Withdrawn(i64) }
//!
//! impl Aggregate for Account {
//!     type Event = AccountEvent;
//!     const TYPE: &'static str = "Account";
//!     fn apply(&mut self, e: &AccountEvent) {
//!         match e {
//!             AccountEvent::Deposited(n) => self.balance += n,
//!             AccountEvent::Withdrawn(n) => self.balance -= n,
//!         }
//!     }
//!     fn event_type(e: &AccountEvent) -> &'static str {
//!         match e {
//!             AccountEvent::Deposited(_) => "Deposited",
//!             AccountEvent::Withdrawn(_) => "Withdrawn",
//!         }
//!     }
//! }
//!
//! # async fn demo() -> strata_client::Result<()> {
//! let client = Client::connect("http://127.0.0.1:2113").await?;
//! let accounts = Repository::<Account>::new(client, SnapshotPolicy::EveryNEvents(100));
//! loop {
//!     let mut account = accounts.load("account-7").await?;
//!     if account.state.balance < 30 {
//!         break; // business rule: decided on the loaded state
//!     }
//!     match accounts.save("account-7", &mut account, vec![AccountEvent::Withdrawn(30)]).await {
//!         Ok(_) => break,
//!         Err(Error::WrongExpectedRevision { .. }) => continue, // someone else wrote: reload
//!         Err(e) => return Err(e),
//!     }
//! }
//! # Ok(()) }
//! ```

use std::marker::PhantomData;

use futures::TryStreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::types::{
    AppendResult, EventData, ExpectedRevision, ReadOptions, Snapshot, SnapshotData, StreamFrom,
};

/// State rebuilt from a stream's events.
///
/// `Default` is the state of a stream with no events; [`apply`](Self::apply)
/// folds one event into it and must be deterministic (it runs again on every
/// replay). The state is serialized with serde (JSON) for snapshots; events
/// are stored as JSON with [`event_type`](Self::event_type) as their type.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use strata_client::Aggregate;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Counter { n: u64 }
///
/// #[derive(Serialize, Deserialize)]
/// struct Incremented { by: u64 }
///
/// impl Aggregate for Counter {
///     type Event = Incremented;
///     const TYPE: &'static str = "Counter";
///     const SCHEMA_VERSION: u32 = 2; // bumped when `Counter`'s shape changed
///     fn apply(&mut self, e: &Incremented) { self.n += e.by; }
///     fn event_type(_: &Incremented) -> &'static str { "Incremented" }
/// }
///
/// let mut c = Counter::default();
/// c.apply(&Incremented { by: 3 });
/// assert_eq!(c.n, 3);
/// ```
pub trait Aggregate: Default + Serialize + DeserializeOwned + Send {
    /// The events this aggregate is built from.
    type Event: Serialize + DeserializeOwned + Send;
    /// The snapshot type name, e.g. `"OrderAggregate"` (at most 255 bytes).
    /// Snapshots of another type are ignored.
    const TYPE: &'static str;
    /// The version of the serialized state. Bump it when the state's shape
    /// changes: snapshots of other versions are then ignored (and replaced
    /// by new ones as the policy takes them).
    const SCHEMA_VERSION: u32 = 1;
    /// Folds one event into the state.
    fn apply(&mut self, event: &Self::Event);
    /// The event type stored with an event, e.g. `"OrderPlaced"`.
    fn event_type(event: &Self::Event) -> &'static str;
}

/// When [`Repository::save`] takes a snapshot.
///
/// ```
/// use strata_client::SnapshotPolicy;
///
/// let p = SnapshotPolicy::EveryNEvents(100);
/// assert!(p.should_snapshot(Some(98), 100));   // revision 100 = the 101st event, crosses 100
/// assert!(!p.should_snapshot(Some(100), 150));
/// assert!(!SnapshotPolicy::Never.should_snapshot(None, 10_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotPolicy {
    /// Neither take nor read snapshots: every load replays the whole
    /// stream (useful to check snapshot-based loads, or for short streams).
    #[default]
    Never,
    /// Take a snapshot whenever a save makes the stream's event count cross
    /// a multiple of `n` (`0` behaves like [`SnapshotPolicy::Never`]). Loads
    /// then replay fewer than about `n` events plus the last save's.
    EveryNEvents(u64),
}

impl SnapshotPolicy {
    /// Whether a save that moved the stream from version `before` (`None`:
    /// no stream) to last revision `after` should take a snapshot.
    pub fn should_snapshot(self, before: Option<u64>, after: u64) -> bool {
        match self {
            SnapshotPolicy::Never | SnapshotPolicy::EveryNEvents(0) => false,
            SnapshotPolicy::EveryNEvents(n) => {
                let count_before = before.map_or(0, |v| v + 1);
                let count_after = after + 1;
                count_after / n > count_before / n
            }
        }
    }
}

/// An aggregate's state as loaded from (or saved to) a stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loaded<A> {
    /// The state.
    pub state: A,
    /// The stream's last revision that `state` includes; `None` when the
    /// stream has no events (yet). [`Repository::save`] uses it as the
    /// expected revision.
    pub version: Option<u64>,
    /// The revision of the snapshot the load started from, if one was used.
    pub snapshot_revision: Option<u64>,
    /// How many events were read and applied on top of the snapshot (or of
    /// the default state).
    pub events_replayed: u64,
}

/// Loads and saves one kind of [`Aggregate`] through a [`Client`].
///
/// Cheap to clone (it clones the client).
///
/// ```no_run
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Default, Serialize, Deserialize)] struct Counter { n: u64 }
/// # impl strata_client::Aggregate for Counter {
/// #     type Event = u64; const TYPE: &'static str = "Counter";
/// #     fn apply(&mut self, e: &u64) { self.n += e; }
/// #     fn event_type(_: &u64) -> &'static str { "Added" }
/// # }
/// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
/// use strata_client::{Repository, SnapshotPolicy};
///
/// let counters = Repository::<Counter>::new(client, SnapshotPolicy::EveryNEvents(500));
/// let mut c = counters.load("counter-1").await?;
/// counters.save("counter-1", &mut c, vec![1, 2, 3]).await?;
/// println!("n = {} at revision {:?}", c.state.n, c.version);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Repository<A> {
    client: Client,
    policy: SnapshotPolicy,
    _aggregate: PhantomData<fn() -> A>,
}

impl<A> Clone for Repository<A> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            policy: self.policy,
            _aggregate: PhantomData,
        }
    }
}

impl<A: Aggregate> Repository<A> {
    /// A repository that saves snapshots per `policy`.
    ///
    /// ```no_run
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Counter;
    /// # impl strata_client::Aggregate for Counter {
    /// #     type Event = (); const TYPE: &'static str = "Counter";
    /// #     fn apply(&mut self, _: &()) {}
    /// #     fn event_type(_: &()) -> &'static str { "Tick" }
    /// # }
    /// # async fn demo(client: strata_client::Client) {
    /// use strata_client::{Repository, SnapshotPolicy};
    /// let repo = Repository::<Counter>::new(client, SnapshotPolicy::Never);
    /// assert_eq!(repo.policy(), SnapshotPolicy::Never);
    /// # }
    /// ```
    pub fn new(client: Client, policy: SnapshotPolicy) -> Self {
        Self {
            client,
            policy,
            _aggregate: PhantomData,
        }
    }

    /// The snapshot policy.
    pub fn policy(&self) -> SnapshotPolicy {
        self.policy
    }

    /// The current state of `stream`: the newest usable snapshot plus the
    /// events after it (with [`SnapshotPolicy::Never`]: all events). A
    /// stream with no events, or a soft-deleted one, loads as the default
    /// state with `version: None`.
    ///
    /// # Errors
    ///
    /// Errors reading the stream ([`Error::StreamTombstoned`] for a
    /// tombstoned one), and [`Error::Json`] if an event does not
    /// deserialize as [`Aggregate::Event`]. Never because of a snapshot.
    ///
    /// ```no_run
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Counter { n: u64 }
    /// # impl strata_client::Aggregate for Counter {
    /// #     type Event = u64; const TYPE: &'static str = "Counter";
    /// #     fn apply(&mut self, e: &u64) { self.n += e; }
    /// #     fn event_type(_: &u64) -> &'static str { "Added" }
    /// # }
    /// # async fn demo(repo: strata_client::Repository<Counter>) -> strata_client::Result<()> {
    /// let c = repo.load("counter-1").await?;
    /// println!("n = {}, snapshot used: {:?}", c.state.n, c.snapshot_revision);
    /// # Ok(()) }
    /// ```
    pub async fn load(&self, stream: &str) -> Result<Loaded<A>> {
        self.load_up_to(stream, None).await
    }

    /// The state of `stream` as of `revision` (events `0..=revision`), from
    /// the newest usable snapshot at or before `revision` plus the events up
    /// to it. If the stream is shorter, this is its current state.
    ///
    /// ```no_run
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Counter { n: u64 }
    /// # impl strata_client::Aggregate for Counter {
    /// #     type Event = u64; const TYPE: &'static str = "Counter";
    /// #     fn apply(&mut self, e: &u64) { self.n += e; }
    /// #     fn event_type(_: &u64) -> &'static str { "Added" }
    /// # }
    /// # async fn demo(repo: strata_client::Repository<Counter>) -> strata_client::Result<()> {
    /// let then = repo.load_at_revision("counter-1", 9).await?;
    /// assert!(then.version <= Some(9));
    /// # Ok(()) }
    /// ```
    pub async fn load_at_revision(&self, stream: &str, revision: u64) -> Result<Loaded<A>> {
        self.load_up_to(stream, Some(revision)).await
    }

    /// The state of `stream` as of a time (unix microseconds): every event
    /// committed at or before it. Finds the last such event's revision with
    /// a one-event backwards read, then loads as
    /// [`load_at_revision`](Self::load_at_revision) does (a snapshot at or
    /// before that revision holds only events committed by then, so it may
    /// be used). Before the first event, or for a stream with no events, it
    /// is the default state with `version: None`.
    ///
    /// ```no_run
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Counter { n: u64 }
    /// # impl strata_client::Aggregate for Counter {
    /// #     type Event = u64; const TYPE: &'static str = "Counter";
    /// #     fn apply(&mut self, e: &u64) { self.n += e; }
    /// #     fn event_type(_: &u64) -> &'static str { "Added" }
    /// # }
    /// # async fn demo(repo: strata_client::Repository<Counter>) -> strata_client::Result<()> {
    /// let yesterday = 1_767_225_600_000_000; // unix micros
    /// let c = repo.load_at_time("counter-1", yesterday).await?;
    /// println!("n was {}", c.state.n);
    /// # Ok(()) }
    /// ```
    pub async fn load_at_time(&self, stream: &str, unix_micros: i64) -> Result<Loaded<A>> {
        let mut last = self.client.read_stream(
            stream,
            ReadOptions::backwards()
                .from(StreamFrom::Timestamp(unix_micros))
                .max_count(1),
        );
        match last.try_next().await {
            Ok(Some(e)) if e.created_micros <= unix_micros => {
                self.load_up_to(stream, Some(e.revision)).await
            }
            Ok(_) | Err(Error::NotFound { .. } | Error::StreamDeleted { .. }) => {
                Ok(Loaded::default())
            }
            Err(e) => Err(e),
        }
    }

    /// Appends `events` to `stream` if it is still at `loaded.version`
    /// (expected revision `Exact(version)`, or `NoStream` when `None`), then
    /// applies them to `loaded` and takes a snapshot if the policy says so.
    ///
    /// On any error `loaded` is unchanged. A snapshot that fails to save is
    /// only logged: the events are committed either way.
    ///
    /// # Errors
    ///
    /// [`Error::WrongExpectedRevision`] if another writer appended since
    /// `loaded` was read: nothing was written; reload, re-decide, retry.
    /// [`Error::InvalidArgument`] if `events` is empty, [`Error::Json`] if an
    /// event does not serialize, and the errors of [`Client::append`].
    ///
    /// ```no_run
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Counter { n: u64 }
    /// # impl strata_client::Aggregate for Counter {
    /// #     type Event = u64; const TYPE: &'static str = "Counter";
    /// #     fn apply(&mut self, e: &u64) { self.n += e; }
    /// #     fn event_type(_: &u64) -> &'static str { "Added" }
    /// # }
    /// # async fn demo(repo: strata_client::Repository<Counter>) -> strata_client::Result<()> {
    /// let mut c = repo.load("counter-1").await?;
    /// let r = repo.save("counter-1", &mut c, vec![5]).await?;
    /// assert_eq!(c.version, Some(r.last_revision));
    /// # Ok(()) }
    /// ```
    pub async fn save(
        &self,
        stream: &str,
        loaded: &mut Loaded<A>,
        events: Vec<A::Event>,
    ) -> Result<AppendResult> {
        let expected = match loaded.version {
            None => ExpectedRevision::NoStream,
            Some(v) => ExpectedRevision::Exact(v),
        };
        let data = events
            .iter()
            .map(|e| EventData::json(A::event_type(e), e))
            .collect::<Result<Vec<_>>>()?;
        let result = self.client.append(stream, expected, data).await?;
        let before = loaded.version;
        for e in &events {
            loaded.state.apply(e);
        }
        loaded.version = Some(result.last_revision);
        if self.policy.should_snapshot(before, result.last_revision) {
            self.snapshot(stream, loaded).await;
        }
        Ok(result)
    }

    /// Saves `loaded` as a snapshot at its version now, whatever the
    /// policy (e.g. after a migration). Does nothing for `version: None`.
    ///
    /// # Errors
    ///
    /// The errors of [`Client::save_snapshot`], and [`Error::Json`] if the
    /// state does not serialize.
    ///
    /// ```no_run
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Counter { n: u64 }
    /// # impl strata_client::Aggregate for Counter {
    /// #     type Event = u64; const TYPE: &'static str = "Counter";
    /// #     fn apply(&mut self, e: &u64) { self.n += e; }
    /// #     fn event_type(_: &u64) -> &'static str { "Added" }
    /// # }
    /// # async fn demo(repo: strata_client::Repository<Counter>) -> strata_client::Result<()> {
    /// let c = repo.load("counter-1").await?;
    /// repo.save_snapshot("counter-1", &c).await?;
    /// # Ok(()) }
    /// ```
    pub async fn save_snapshot(&self, stream: &str, loaded: &Loaded<A>) -> Result<()> {
        let Some(revision) = loaded.version else {
            return Ok(());
        };
        let data = serde_json::to_vec(&loaded.state)?;
        self.client
            .save_snapshot(
                stream,
                revision,
                SnapshotData::new(A::TYPE, A::SCHEMA_VERSION, data),
            )
            .await?;
        Ok(())
    }

    /// Takes a policy snapshot; failures are logged, not returned.
    async fn snapshot(&self, stream: &str, loaded: &Loaded<A>) {
        if let Err(e) = self.save_snapshot(stream, loaded).await {
            tracing::warn!(
                stream,
                revision = ?loaded.version,
                error = %e,
                "could not save a snapshot; loads replay more events until the next one"
            );
        }
    }

    /// The newest usable snapshot at or before `upto`, as a starting state
    /// (none with [`SnapshotPolicy::Never`]).
    async fn starting_point(&self, stream: &str, upto: Option<u64>) -> Option<(A, u64)> {
        if self.policy == SnapshotPolicy::Never {
            return None;
        }
        let snapshot: Snapshot = match self.client.get_snapshot(stream, upto).await {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(stream, error = %e, "cannot use the snapshot; replaying the stream from the start");
                return None;
            }
        };
        if snapshot.snapshot_type != A::TYPE || snapshot.schema_version != A::SCHEMA_VERSION {
            tracing::warn!(
                stream,
                revision = snapshot.revision,
                snapshot_type = %snapshot.snapshot_type,
                schema_version = snapshot.schema_version,
                expected_type = A::TYPE,
                expected_schema_version = A::SCHEMA_VERSION,
                "ignoring a snapshot of another type or schema version; replaying the stream from the start"
            );
            return None;
        }
        match serde_json::from_slice::<A>(&snapshot.data) {
            Ok(state) => Some((state, snapshot.revision)),
            Err(e) => {
                tracing::warn!(
                    stream,
                    revision = snapshot.revision,
                    error = %e,
                    "ignoring a snapshot that does not deserialize; replaying the stream from the start"
                );
                None
            }
        }
    }

    async fn load_up_to(&self, stream: &str, upto: Option<u64>) -> Result<Loaded<A>> {
        let start = self.starting_point(stream, upto).await;
        let mut loaded = match start {
            Some((state, revision)) => Loaded {
                state,
                version: Some(revision),
                snapshot_revision: Some(revision),
                events_replayed: 0,
            },
            None => Loaded::default(),
        };
        let from = loaded.version.map_or(0, |v| v + 1);
        let mut options = ReadOptions::forwards().from(StreamFrom::Revision(from));
        if let Some(upto) = upto {
            if upto < from {
                return Ok(loaded);
            }
            options = options.max_count(upto - from + 1);
        }
        let mut events = self.client.read_stream(stream, options);
        loop {
            let e = match events.try_next().await {
                Ok(Some(e)) => e,
                Ok(None) => break,
                // No events at all (none yet, or soft-deleted): the snapshot
                // (if any) cannot describe it.
                Err(Error::NotFound { .. } | Error::StreamDeleted { .. }) => {
                    return Ok(Loaded::default());
                }
                Err(e) => return Err(e),
            };
            if upto.is_some_and(|u| e.revision > u) {
                break;
            }
            // With no snapshot, history starts at the first visible event:
            // revision 0, or later for a stream recreated after a soft
            // delete (or truncated by its metadata). After that, and after
            // a snapshot, revisions must follow one another.
            let next = loaded.version.map_or(e.revision, |v| v + 1);
            if e.revision != next {
                return Err(Error::MalformedResponse(format!(
                    "stream {stream:?}: expected revision {next}, got {}",
                    e.revision
                )));
            }
            let event: A::Event = e.json()?;
            loaded.state.apply(&event);
            loaded.version = Some(e.revision);
            loaded.events_replayed += 1;
        }
        Ok(loaded)
    }
}
