//! The [`Client`]'s calls that manage streams and the store rather than
//! their events: a stream's metadata, soft deletes and tombstones
//! (`Streams` service), and scavenges (`Admin` service).
//!
//! Retries: reading metadata and controlling a scavenge are retried like
//! any call. Metadata changes and deletes are not idempotent (the server
//! has no id to recognise a re-sent one by, and a resend after a change
//! that did happen fails its check or repeats it), so they are retried only
//! when the request certainly did nothing (`error::is_safe_to_resend`).
//!
//! Not here: the types (`lifecycle.rs`), their protobuf forms
//! (`convert/lifecycle.rs`), the retry loop (`client.rs`, `retry.rs`).

use tonic::Code;

use crate::client::Client;
use crate::convert::lifecycle as convert;
use crate::error::{self, is_safe_to_resend, Error, Result};
use crate::lifecycle::{
    metadata_stream, MetadataWritten, ScavengeStatus, StreamMetadata, StreamMetadataInfo,
};
use crate::types::ExpectedRevision;
use strata_proto::v1 as pb;

impl Client {
    /// Replaces `stream`'s metadata — retention rules and custom bytes —
    /// whole, if the **metadata's** revision is as `expected`:
    /// [`ExpectedRevision::Any`], [`ExpectedRevision::NoStream`] (no
    /// lifecycle change was ever written for the stream) or
    /// [`ExpectedRevision::Exact`] (a
    /// [`metadata_revision`](StreamMetadataInfo::metadata_revision) from
    /// [`Client::get_stream_metadata`] or [`MetadataWritten`]; deletes move
    /// it too). The stream need not have events. Returns once the change is
    /// durable; events the new rules hide are invisible at once.
    ///
    /// **Retries:** only when the request certainly did nothing — the
    /// connection could not be opened, or the server was overloaded. A
    /// connection that breaks after the request went out is not retried,
    /// since the change may have been made (a resend would then fail its
    /// check); it surfaces as [`Error::Unavailable`] (or [`Error::Timeout`]):
    /// look at [`Client::get_stream_metadata`] before trying again.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] at once, without calling the server, if
    /// `expected` is [`ExpectedRevision::StreamExists`] (metadata has no
    /// such state); from the server, for a bad stream name or a zero limit
    /// (kind `invalid-metadata`). [`Error::WrongExpectedRevision`] if the
    /// check fails: its `stream` is the metadata stream `$$<stream>` and
    /// `actual` the metadata's revision. [`Error::StreamTombstoned`],
    /// [`Error::ResourceExhausted`] (`metadata-too-large`: custom bytes over
    /// 64 KiB), [`Error::PermissionDenied`] for a reserved `$` name.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use strata_client::{Error, ExpectedRevision};
    ///
    /// // Keep the last 100 events of order-1 visible.
    /// let info = client.get_stream_metadata("order-1").await?;
    /// let expected = info.metadata_revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
    /// let rules = info.metadata.max_count(100); // the other rules as they were
    /// match client.set_stream_metadata("order-1", expected, rules).await {
    ///     Ok(w) => println!("metadata revision {}", w.metadata_revision),
    ///     Err(Error::WrongExpectedRevision { actual, .. }) => println!("changed meanwhile: {actual}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn set_stream_metadata(
        &self,
        stream: impl Into<String>,
        expected: ExpectedRevision,
        metadata: StreamMetadata,
    ) -> Result<MetadataWritten> {
        let stream = stream.into();
        let meta = metadata_stream(&stream);
        let request = convert::set_stream_metadata_to_pb(stream, expected, metadata)?;
        self.retrying_if(&self.inner, is_safe_to_resend, |mut c| {
            let request = request.clone();
            async move { c.set_stream_metadata(crate::trace::request(request)).await }
        })
        .await
        .map(convert::metadata_written_from_pb)
        .map_err(|s| metadata_error(s, &meta, expected))
    }

    /// `stream`'s metadata, the metadata's revision (`None` if never set),
    /// and whether the stream is soft-deleted or tombstoned. A stream that
    /// never existed has the default metadata and no revision. Retried when
    /// the server is unavailable.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a bad stream name.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// let info = client.get_stream_metadata("order-1").await?;
    /// if info.tombstoned {
    ///     println!("order-1 is gone for good");
    /// } else if let Some(n) = info.metadata.max_count {
    ///     println!("keeps its last {n} events (metadata revision {:?})", info.metadata_revision);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_stream_metadata(
        &self,
        stream: impl Into<String>,
    ) -> Result<StreamMetadataInfo> {
        let request = pb::GetStreamMetadataRequest {
            stream: stream.into(),
        };
        self.retrying(&self.inner, |mut c| {
            let request = request.clone();
            async move { c.get_stream_metadata(crate::trace::request(request)).await }
        })
        .await
        .map(convert::stream_metadata_info_from_pb)
        .map_err(error::from_plain_status)
    }

    /// Soft-deletes `stream` if it is in the `expected` state (checked
    /// against the stream's revision, as for an append). Its events become
    /// invisible at once — reads answer [`Error::StreamDeleted`] — and the
    /// next scavenge gives back their space. Appending again recreates the
    /// stream: revisions continue after the last one ever written, and its
    /// metadata is kept. Returns the global position of the delete record.
    ///
    /// Retried like [`Client::set_stream_metadata`]: only when the request
    /// certainly did nothing.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the stream has no visible event (never
    /// written, or already deleted) and `expected` is not `Any`;
    /// [`Error::WrongExpectedRevision`] if the check fails;
    /// [`Error::StreamTombstoned`]; [`Error::InvalidArgument`] or
    /// [`Error::PermissionDenied`] for a bad or reserved name.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use strata_client::{Error, ExpectedRevision};
    ///
    /// client.delete_stream("cart-7", ExpectedRevision::StreamExists).await?;
    /// let mut events = client.read_stream("cart-7", Default::default());
    /// assert!(matches!(
    ///     futures::StreamExt::next(&mut events).await,
    ///     Some(Err(Error::StreamDeleted { .. }))
    /// ));
    /// # Ok(()) }
    /// ```
    pub async fn delete_stream(
        &self,
        stream: impl Into<String>,
        expected: ExpectedRevision,
    ) -> Result<u64> {
        self.delete(stream.into(), expected, false).await
    }

    /// Deletes `stream` for good: like [`Client::delete_stream`], but the
    /// name can never be used again — reads answer
    /// [`Error::StreamTombstoned`], and so do appends, metadata changes and
    /// deletes. A soft-deleted stream can be tombstoned (with
    /// [`ExpectedRevision::Any`]). Returns the global position of the
    /// tombstone record. Retried like [`Client::set_stream_metadata`].
    ///
    /// # Errors
    ///
    /// As [`Client::delete_stream`]; [`Error::StreamTombstoned`] if it
    /// already is.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use strata_client::{Error, EventData, ExpectedRevision};
    ///
    /// client.tombstone_stream("user-42-pii", ExpectedRevision::Any).await?;
    /// let again = EventData::binary("Registered", vec![]);
    /// let r = client.append("user-42-pii", ExpectedRevision::Any, vec![again]).await;
    /// assert!(matches!(r, Err(Error::StreamTombstoned { .. })));
    /// # Ok(()) }
    /// ```
    pub async fn tombstone_stream(
        &self,
        stream: impl Into<String>,
        expected: ExpectedRevision,
    ) -> Result<u64> {
        self.delete(stream.into(), expected, true).await
    }

    async fn delete(
        &self,
        stream: String,
        expected: ExpectedRevision,
        tombstone: bool,
    ) -> Result<u64> {
        let request = convert::delete_stream_to_pb(stream.clone(), expected, tombstone);
        self.retrying_if(&self.inner, is_safe_to_resend, |mut c| {
            let request = request.clone();
            async move { c.delete_stream(crate::trace::request(request)).await }
        })
        .await
        .map(|r| r.position)
        .map_err(|s| error::from_status(s, &|name| (name == stream).then_some(expected)))
    }

    /// Starts a scavenge in the background — reading at most
    /// `max_bytes_per_second` of segments per second, if set (`None` or 0:
    /// as fast as the disk allows) — or returns the one already running.
    /// Everything that became invisible for good before the call can be
    /// reclaimed. Follow it with [`Client::scavenge_status`]; its start and
    /// end are also records in the `$scavenges` stream.
    ///
    /// Retried when the server is unavailable: a resend finds the scavenge
    /// the first attempt started and returns it (should that one have
    /// finished already, another starts, which costs only the reading).
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// use std::time::Duration;
    ///
    /// let mut s = client.start_scavenge(Some(64 << 20)).await?;
    /// while s.is_running() {
    ///     println!("{}/{} segments, {} bytes back", s.segments_done, s.segments_total, s.bytes_reclaimed);
    ///     tokio::time::sleep(Duration::from_secs(1)).await;
    ///     s = client.scavenge_status().await?.expect("it ran");
    /// }
    /// println!("{:?}: {} bytes reclaimed", s.state, s.bytes_reclaimed);
    /// # Ok(()) }
    /// ```
    pub async fn start_scavenge(
        &self,
        max_bytes_per_second: Option<u64>,
    ) -> Result<ScavengeStatus> {
        let request = pb::StartScavengeRequest {
            max_bytes_per_second,
        };
        let status = self
            .retrying(&self.admin, |mut c| async move {
                c.start_scavenge(crate::trace::request(request)).await
            })
            .await
            .map_err(error::from_plain_status)?;
        convert::scavenge_status_from_pb(status)
    }

    /// The running scavenge, or the last one since the server started;
    /// `Ok(None)` if none ran since then. Retried when the server is
    /// unavailable.
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// match client.scavenge_status().await? {
    ///     Some(s) if s.is_running() => println!("scavenging, {} bytes back so far", s.bytes_reclaimed),
    ///     Some(s) => println!("last scavenge: {:?}", s.state),
    ///     None => println!("no scavenge since the server started"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn scavenge_status(&self) -> Result<Option<ScavengeStatus>> {
        let result = self
            .retrying(&self.admin, |mut c| async move {
                c.get_scavenge(crate::trace::request(pb::GetScavengeRequest {}))
                    .await
            })
            .await;
        scavenge_or_none(result)
    }

    /// Stops the running scavenge and returns its status once it has
    /// stopped ([`ScavengeState::Stopped`](crate::ScavengeState::Stopped);
    /// the segments it finished stay rewritten). If none is running, the
    /// last one's status as it is; `Ok(None)` if none ran since the server
    /// started. The wait counts against the request timeout. Retried when
    /// the server is unavailable (stopping twice is harmless).
    ///
    /// ```no_run
    /// # async fn demo(client: strata_client::Client) -> strata_client::Result<()> {
    /// if let Some(s) = client.stop_scavenge().await? {
    ///     println!("{:?} after {} segments", s.state, s.segments_done);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn stop_scavenge(&self) -> Result<Option<ScavengeStatus>> {
        let result = self
            .retrying(&self.admin, |mut c| async move {
                c.stop_scavenge(crate::trace::request(pb::StopScavengeRequest {}))
                    .await
            })
            .await;
        scavenge_or_none(result)
    }
}

/// The error of a metadata change: a failed check names the metadata stream
/// (`meta`, i.e. `$$<stream>`), whose revision `expected` was about.
fn metadata_error(status: tonic::Status, meta: &str, expected: ExpectedRevision) -> Error {
    error::from_status(status, &|name| (name == meta).then_some(expected))
}

/// A scavenge status, or `None` for NOT_FOUND (no scavenge ran).
fn scavenge_or_none(
    result: std::result::Result<pb::ScavengeStatus, tonic::Status>,
) -> Result<Option<ScavengeStatus>> {
    match result {
        Ok(s) => convert::scavenge_status_from_pb(s).map(Some),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(error::from_plain_status(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::CurrentRevision;
    use strata_proto::wire::{self, kind};

    fn conflict(stream: &str, actual: &str) -> tonic::Status {
        let mut s = tonic::Status::aborted("wrong expected revision");
        let md = s.metadata_mut();
        md.insert(
            wire::ERROR_KIND_KEY,
            kind::WRONG_EXPECTED_REVISION.parse().unwrap(),
        );
        md.insert(
            wire::STREAM_KEY,
            wire::percent_encode(stream).parse().unwrap(),
        );
        md.insert(wire::ACTUAL_REVISION_KEY, actual.parse().unwrap());
        s
    }

    #[test]
    fn a_metadata_conflict_is_typed() {
        let meta = metadata_stream("order-ü");
        assert_eq!(meta, "$$order-ü");
        let e = metadata_error(
            conflict("$$order-ü", "2"),
            &meta,
            ExpectedRevision::Exact(1),
        );
        assert!(
            matches!(&e, Error::WrongExpectedRevision {
                stream,
                expected: ExpectedRevision::Exact(1),
                actual: CurrentRevision::Current(2),
            } if stream == "$$order-ü"),
            "{e:?}"
        );
        let e = metadata_error(
            conflict("$$order-ü", wire::NO_STREAM_VALUE),
            &meta,
            ExpectedRevision::Exact(0),
        );
        assert!(matches!(
            e,
            Error::WrongExpectedRevision {
                actual: CurrentRevision::NoStream,
                ..
            }
        ));
        // A conflict naming some other stream is not this request's.
        let e = metadata_error(conflict("order-ü", "2"), &meta, ExpectedRevision::Exact(1));
        assert!(matches!(e, Error::Other(_)));
    }

    #[test]
    fn no_scavenge_is_none() {
        let none = scavenge_or_none(Err(tonic::Status::not_found("no scavenge")));
        assert!(matches!(none, Ok(None)));
        let other = scavenge_or_none(Err(tonic::Status::internal("boom")));
        assert!(other.is_err());
    }
}
