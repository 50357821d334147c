//! The [`Client`]'s calls that manage persistent subscriptions (consumer
//! groups, the `PersistentSubscriptions` service): create, update, delete,
//! list, inspect, and replay parked events.
//!
//! Retries: reading (list, info) and updating (which replaces the settings
//! whole, so a resend changes nothing more) are retried like any call.
//! Creating, deleting and replaying are not idempotent — a resend after a
//! create that happened answers [`Error::GroupExists`], after a delete
//! [`Error::GroupNotFound`], after a replay queues the parked events again —
//! so they are retried only when the request certainly did nothing
//! (`error::is_safe_to_resend`).
//!
//! Not here: the types (`groups.rs`), their protobuf forms
//! (`convert/groups.rs`), consuming a group (`persistent.rs`).

use strata_proto::v1 as pb;

use crate::client::Client;
use crate::convert::groups as convert;
#[cfg(doc)]
use crate::error::Error;
use crate::error::{self, is_safe_to_resend, Result};
use crate::groups::{GroupInfo, GroupSettings, GroupSource, GroupStart};

impl Client {
    /// Creates the consumer group `group` (1 to 100 bytes: letters, digits,
    /// `-`, `_`, `.`) following `source` from `start`, with `settings`
    /// (unset ones at the server's defaults). Consumers join it with
    /// [`Client::persistent`]. Returns the new group's info.
    ///
    /// Retried only when the request certainly did nothing (see the
    /// module's notes): if the connection breaks after the request went
    /// out, this answers [`Error::Unavailable`] even though the group may
    /// exist — look with [`Client::group_info`].
    ///
    /// # Errors
    ///
    /// [`Error::GroupExists`] if the name is taken;
    /// [`Error::InvalidArgument`] for a bad name, a start point that does not
    /// fit the source (a position for a stream, a revision for `$all`) or a
    /// filter with system records.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use strata_client::{Error, Filter, GroupSettings, GroupSource, GroupStart, Strategy};
    ///
    /// let source = GroupSource::all(Filter::new().stream_prefix("order-"));
    /// let settings = GroupSettings::new().strategy(Strategy::RoundRobin).max_retry_count(5);
    /// match client.create_group("billing", source, GroupStart::Start, settings).await {
    ///     Ok(info) => println!("created; {} events behind", info.lag),
    ///     Err(Error::GroupExists { .. }) => println!("already there"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn create_group(
        &self,
        group: impl Into<String>,
        source: GroupSource,
        start: GroupStart,
        settings: GroupSettings,
    ) -> Result<GroupInfo> {
        let request = convert::create_group_to_pb(group.into(), source, start, &settings);
        let info = self
            .retrying_if(&self.persistent, is_safe_to_resend, |mut c| {
                let request = request.clone();
                async move { c.create(crate::trace::request(request)).await }
            })
            .await
            .map_err(error::from_plain_status)?;
        convert::group_info_from_pb(info)
    }

    /// Replaces `group`'s settings whole — what `settings` leaves unset goes
    /// back to the server's default; the source and start stay as created.
    /// Takes effect at once for its connected consumers. Retried when the
    /// server is unavailable.
    ///
    /// # Errors
    ///
    /// [`Error::GroupNotFound`]; [`Error::InvalidArgument`] for settings
    /// the server refuses.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// let current = client.group_info("billing").await?.settings;
    /// let info = client.update_group("billing", current.max_in_flight(256)).await?;
    /// assert_eq!(info.settings.max_in_flight, Some(256));
    /// # Ok(()) }
    /// ```
    pub async fn update_group(
        &self,
        group: impl Into<String>,
        settings: GroupSettings,
    ) -> Result<GroupInfo> {
        let request = pb::UpdateGroupRequest {
            group: group.into(),
            settings: Some(convert::settings_to_pb(&settings)),
        };
        let info = self
            .retrying(&self.persistent, |mut c| {
                let request = request.clone();
                async move { c.update(crate::trace::request(request)).await }
            })
            .await
            .map_err(error::from_plain_status)?;
        convert::group_info_from_pb(info)
    }

    /// Deletes `group`: its consumers' subscriptions end with
    /// [`Error::GroupNotFound`], and its checkpoint and parked streams are
    /// deleted. Retried only when the request certainly did nothing.
    ///
    /// # Errors
    ///
    /// [`Error::GroupNotFound`] if there is no such group.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// client.delete_group("billing").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_group(&self, group: impl Into<String>) -> Result<()> {
        let request = pb::DeleteGroupRequest {
            group: group.into(),
        };
        self.retrying_if(&self.persistent, is_safe_to_resend, |mut c| {
            let request = request.clone();
            async move { c.delete(crate::trace::request(request)).await }
        })
        .await
        .map(|_| ())
        .map_err(error::from_plain_status)
    }

    /// Every group, by name. Retried when the server is unavailable.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// for g in client.list_groups().await? {
    ///     println!("{}: {:?}, {} consumers, lag {}", g.group, g.state, g.consumers.len(), g.lag);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_groups(&self) -> Result<Vec<GroupInfo>> {
        let r = self
            .retrying(&self.persistent, |mut c| async move {
                c.list(crate::trace::request(pb::ListGroupsRequest {}))
                    .await
            })
            .await
            .map_err(error::from_plain_status)?;
        r.groups
            .into_iter()
            .map(convert::group_info_from_pb)
            .collect()
    }

    /// One group's state, consumers, checkpoint, lag and counters. Retried
    /// when the server is unavailable.
    ///
    /// # Errors
    ///
    /// [`Error::GroupNotFound`] if there is no such group.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// let info = client.group_info("billing").await?;
    /// println!("{:?} {}; {} parked", info.state, info.reason.unwrap_or_default(), info.parked);
    /// # Ok(()) }
    /// ```
    pub async fn group_info(&self, group: impl Into<String>) -> Result<GroupInfo> {
        let request = pb::GetGroupInfoRequest {
            group: group.into(),
        };
        let info = self
            .retrying(&self.persistent, |mut c| {
                let request = request.clone();
                async move { c.get_info(crate::trace::request(request)).await }
            })
            .await
            .map_err(error::from_plain_status)?;
        convert::group_info_from_pb(info)
    }

    /// Delivers `group`'s parked events (those in
    /// [`parked_stream`](crate::parked_stream)`(group)`) to its consumers
    /// again — at most `max_count` of them, all when `None` (`Some(0)` too:
    /// the server reads 0 as all) — as
    /// [`GroupDelivery::replayed`](crate::GroupDelivery::replayed) events.
    /// Each leaves the parked stream once acked or skipped; the group's
    /// checkpoint does not move. Returns how many were queued. Retried only
    /// when the request certainly did nothing.
    ///
    /// # Errors
    ///
    /// [`Error::GroupNotFound`] if there is no such group.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// let queued = client.replay_parked("billing", Some(100)).await?;
    /// println!("{queued} parked events queued for another try");
    /// # Ok(()) }
    /// ```
    pub async fn replay_parked(
        &self,
        group: impl Into<String>,
        max_count: Option<u64>,
    ) -> Result<u64> {
        let request = pb::ReplayParkedRequest {
            group: group.into(),
            max_count: max_count.unwrap_or(0),
        };
        self.retrying_if(&self.persistent, is_safe_to_resend, |mut c| {
            let request = request.clone();
            async move { c.replay_parked(crate::trace::request(request)).await }
        })
        .await
        .map(|r| r.queued)
        .map_err(error::from_plain_status)
    }
}
