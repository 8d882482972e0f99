//! Server streams: the live feed filtered to one caller, ending when the
//! caller's token expires or the server shuts down.

use std::{pin::Pin, time::Duration};

use tokio_stream::{Stream, StreamExt, wrappers::BroadcastStream};
use tonic::Status;

use crate::service::feed::{FeedItem, TicketFeed};
use crate::{
    auth::SessionExpiry,
    domain::{Clock, Principal, SystemClock},
    quota::StreamPermit,
};

/// A boxed server stream.
pub(crate) type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The feed as `principal` may see it (tickets in scope, events `keep`
/// accepts) mapped to messages, until the session expires: then one
/// UNAUTHENTICATED ends it, and the client reconnects with a fresh token.
/// Token expiry is judged on the system clock, as token verification is.
/// The stream holds `permit`, so the principal's stream count drops when
/// the stream does. When the server shuts down the stream ends at once
/// with UNAVAILABLE "server shutting down" (a client reconnects to
/// another replica) instead of holding the drain for its grace period.
pub(crate) fn watch<T, K, M>(
    feed: &TicketFeed,
    principal: Principal,
    expiry: Option<SessionExpiry>,
    permit: Option<StreamPermit>,
    keep: K,
    to_message: M,
) -> ServerStream<T>
where
    T: Send + 'static,
    K: Fn(&FeedItem) -> bool + Send + 'static,
    M: Fn(&FeedItem) -> T + Send + 'static,
{
    let items = BroadcastStream::new(feed.subscribe()).filter_map(move |item| {
        let _held = &permit;
        let item = item.ok()?; // a lagging watcher skips what it missed
        (keep(&item) && principal.can_see(&item.ticket)).then(|| Ok(to_message(&item)))
    });
    let closed = feed.closed();
    let items = futures_util::StreamExt::take_until(items, closed).chain(
        tokio_stream::once(()).filter_map({
            let feed = feed.clone();
            move |()| {
                feed.is_closed()
                    .then(|| Err(Status::unavailable("server shutting down")))
            }
        }),
    );
    let Some(SessionExpiry(expiry)) = expiry else {
        return Box::pin(items);
    };
    let left = (expiry - SystemClock.now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let expired = tokio_stream::once(()).filter_map(move |()| {
        (SystemClock.now() >= expiry).then(|| {
            Err(Status::unauthenticated(
                "token expired; reconnect with a fresh token",
            ))
        })
    });
    Box::pin(futures_util::StreamExt::take_until(items, tokio::time::sleep(left)).chain(expired))
}
