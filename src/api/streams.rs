//! Server streams: the live feed filtered to one caller, ending when the
//! caller's token expires, the server shuts down, or the feed has a gap
//! it cannot fill.

use std::{collections::HashMap, future::Future, pin::Pin, time::Duration};

use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::service::{
    ServiceError,
    feed::{FeedGap, FeedItem, TicketFeed, Watch},
};
use crate::{
    api::{error::ERROR_DOMAIN, paging},
    auth::SessionExpiry,
    domain::{Clock, Principal, SystemClock},
    quota::StreamPermit,
    store::FeedPosition,
};

/// A boxed server stream.
pub(crate) type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// What a resume token's fingerprint is: the token is a place in the one
/// event log, valid with any filter.
const RESUME_FINGERPRINT: &str = "feed";

/// The opaque resume token of a feed position (the page-token encoding).
pub(crate) fn resume_token(position: FeedPosition) -> String {
    paging::encode(&(position.xid, position.id), RESUME_FINGERPRINT)
}

/// The position a request's `resume_token` names; `None` when empty.
pub(crate) fn parse_resume_token(token: &str) -> Result<Option<FeedPosition>, ServiceError> {
    let cursor: Option<(i64, i64)> = paging::decode(token, RESUME_FINGERPRINT)
        .map_err(|_| ServiceError::invalid("resume_token", "malformed resume token"))?;
    match cursor {
        Some((xid, id)) if xid < 0 || id < 0 => Err(ServiceError::invalid(
            "resume_token",
            "malformed resume token",
        )),
        Some((xid, id)) => Ok(Some(FeedPosition { xid, id })),
        None => Ok(None),
    }
}

/// The status ending a stream whose gap could not be filled: UNAVAILABLE,
/// retry soon, and where to resume.
fn interrupted(gap: FeedGap) -> Status {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(Duration::from_secs(1)));
    let metadata = HashMap::from([("resume_token".to_owned(), resume_token(gap.resume))]);
    details.set_error_info("FEED_INTERRUPTED", ERROR_DOMAIN, metadata);
    Status::with_error_details(
        Code::Unavailable,
        "live feed interrupted (database unreachable); reconnect with the resume_token",
        details,
    )
}

/// `items` until the server shuts down ([`TicketFeed::close`]), then
/// what `last` gives, if anything, and the end: the one way every server
/// stream (the live feed, health Watch) lets the drain finish without
/// waiting out its grace period. `last` runs only at shutdown, after the
/// close, so it sees the state the shutdown left.
pub(crate) fn end_at_shutdown<T, S, L, F>(
    feed: &TicketFeed,
    items: S,
    last: L,
) -> impl Stream<Item = Result<T, Status>> + Send + 'static
where
    T: Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + 'static,
    L: FnOnce() -> F + Send + 'static,
    F: Future<Output = Option<Result<T, Status>>> + Send + 'static,
{
    let ending = {
        let feed = feed.clone();
        futures_util::stream::once(async move {
            match feed.is_closed() {
                true => last().await,
                false => None,
            }
        })
    };
    let ending = futures_util::StreamExt::filter_map(ending, std::future::ready);
    futures_util::StreamExt::take_until(items, feed.closed()).chain(ending)
}

/// The feed as `principal` may see it (tickets in scope, events `keep`
/// accepts) mapped to messages (given each item's resume token), until
/// the session expires: then one UNAUTHENTICATED ends it, and the client
/// reconnects with a fresh token. Token expiry is judged on the system
/// clock, as token verification is. The stream holds `permit`, so the
/// principal's stream count drops when the stream does. When the server
/// shuts down the stream ends at once with UNAVAILABLE "server shutting
/// down" (a client reconnects to another replica, with its resume token)
/// instead of holding the drain for its grace period.
pub(crate) fn watch<T, K, M>(
    feed: &TicketFeed,
    items: Watch,
    principal: Principal,
    expiry: Option<SessionExpiry>,
    permit: Option<StreamPermit>,
    keep: K,
    to_message: M,
) -> ServerStream<T>
where
    T: Send + 'static,
    K: Fn(&FeedItem) -> bool + Send + 'static,
    M: Fn(&FeedItem, String) -> T + Send + 'static,
{
    // The watcher's task sends nothing after a gap, and tonic ends the
    // stream at its first error.
    let items = items.filter_map(move |item| {
        let _held = &permit;
        match item {
            Ok(item) => (keep(&item) && principal.can_see(&item.ticket))
                .then(|| Ok(to_message(&item, resume_token(item.position)))),
            Err(gap) => Some(Err(interrupted(gap))),
        }
    });
    guarded(feed, items, expiry)
}

/// `items` until the server shuts down (then UNAVAILABLE "server shutting
/// down": a client reconnects to another replica, with its resume token)
/// or the session expires (then one UNAUTHENTICATED: the client reconnects
/// with a fresh token), whichever comes first. Token expiry is judged on
/// the system clock, as token verification is.
pub(crate) fn guarded<T, S>(
    feed: &TicketFeed,
    items: S,
    expiry: Option<SessionExpiry>,
) -> ServerStream<T>
where
    T: Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + 'static,
{
    let items = end_at_shutdown(feed, items, || async {
        Some(Err(Status::unavailable("server shutting down")))
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_token_round_trips_its_position() {
        for position in [
            FeedPosition::START,
            FeedPosition { xid: 0, id: 42 },
            FeedPosition {
                xid: 7_000_000_123,
                id: i64::MAX,
            },
        ] {
            let token = resume_token(position);
            assert!(!token.is_empty());
            assert_eq!(parse_resume_token(&token).unwrap(), Some(position));
        }
        assert_eq!(parse_resume_token("").unwrap(), None, "empty: from now");
    }

    #[test]
    fn a_foreign_or_broken_resume_token_names_the_field() {
        let page_token = paging::encode(&(1_i64, 2_i64), "some-list-fingerprint");
        let negative = paging::encode(&(-1_i64, 2_i64), RESUME_FINGERPRINT);
        for bad in ["not-a-token", "e30", page_token.as_str(), negative.as_str()] {
            match parse_resume_token(bad) {
                Err(ServiceError::InvalidField { field, .. }) => assert_eq!(field, "resume_token"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_interrupted_stream_is_unavailable_with_its_resume_token() {
        let at = FeedPosition { xid: 3, id: 9 };
        let status = interrupted(FeedGap { resume: at });
        assert_eq!(status.code(), Code::Unavailable);
        let details = status.get_error_details();
        let info = details.error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "FEED_INTERRUPTED");
        assert_eq!(info.metadata.get("resume_token"), Some(&resume_token(at)));
        assert!(details.retry_info().is_some());
    }
}
