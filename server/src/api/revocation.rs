//! Ending a long-lived response stream when the caller's credentials are
//! revoked or expire (subscriptions, consumer-group reads, append sessions),
//! for every gRPC adapter: the stream's next item is the adapter's own
//! refusal, then it ends. Not here: deciding when credentials are revoked
//! (`domain::security`), or what the refusal looks like on each wire.

use futures::{Stream, StreamExt};
use std::future::Future;
use tonic::Status;

/// `messages` until `revoked` completes; then `refusal()` once, and the end.
/// A message already available when both are ready loses to the refusal
/// (`biased`): nothing more is sent after a revocation is seen.
pub fn until_revoked<T: Send + 'static>(
    messages: impl Stream<Item = Result<T, Status>> + Send + Unpin + 'static,
    revoked: impl Future<Output = ()> + Send + 'static,
    refusal: impl FnOnce() -> Status + Send + 'static,
) -> impl Stream<Item = Result<T, Status>> + Send {
    let revoked = Box::pin(revoked);
    futures::stream::unfold(Some((messages, revoked, refusal)), |state| async move {
        let (mut messages, mut revoked, refusal) = state?;
        tokio::select! {
            biased;
            () = &mut revoked => Some((Err(refusal()), None)),
            m = messages.next() => m.map(|m| (m, Some((messages, revoked, refusal)))),
        }
    })
}
