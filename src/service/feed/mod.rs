//! The live feed of committed ticket events, behind `WatchTickets` and
//! `WatchAlerts`.
//!
//! The event log is the truth and the feed a view of it, read in the log's
//! commit order ([`FeedStore`], which says why that order has no gaps):
//!
//! - one relay task per replica ([`relay`]) reads the log after its cursor
//!   and broadcasts each event (with the ticket as it stood) to the
//!   replica's watchers. It wakes when a write of this replica commits
//!   ([`TicketFeed::wake`]), when any replica's commit is announced
//!   (PostgreSQL `NOTIFY`, see `store::announcer`; the low-latency path)
//!   and on a short poll, so a lost notification, a listener that is
//!   reconnecting or a write held back behind a slower transaction only
//!   delays an event. After a read error it retries with backoff from
//!   the same cursor, so a database restart delays the feed and loses
//!   nothing;
//! - each watcher ([`watch`]) follows the broadcast and checks that every
//!   item continues where the previous one ended; where it does not (the
//!   watcher lagged, or the relay restarted its cursor) it fills the gap
//!   from the log itself, and a watcher resuming from a token catches up
//!   from the log before joining the broadcast. A gap it cannot fill (the
//!   database stays unreachable) ends its stream with its resume token.
//!
//! WatchAlerts is the same feed filtered to alerts, so it too spans every
//! replica's writes (the sweeper of any replica writes the alerts).

mod items;
mod relay;
mod watch;

use std::sync::Arc;

use tokio::sync::{Notify, broadcast, watch as flag};

pub use watch::{FeedGap, Watch};

use crate::{
    domain::{TicketEvent, ticket::Ticket},
    store::FeedPosition,
};

#[cfg(doc)]
use crate::store::FeedStore;

/// A committed event, its place in the log and the ticket after it.
#[derive(Debug, Clone)]
pub struct FeedItem {
    /// Where the event is in the log: what a resume token carries.
    pub position: FeedPosition,
    /// The ticket as of the event (or a later version of it, when the
    /// later writes did not change who may see it).
    pub ticket: Ticket,
    /// The event.
    pub event: TicketEvent,
}

impl FeedItem {
    /// Whether the event is an alert ([`EventKind::is_alert`]).
    ///
    /// [`EventKind::is_alert`]: crate::domain::EventKind::is_alert
    pub fn is_alert(&self) -> bool {
        self.event.kind.is_alert()
    }
}

/// What the relay broadcasts.
#[derive(Debug, Clone)]
enum Relayed {
    /// An item and the relay's position before it: a watcher whose last
    /// position is behind `after` has missed what lies between.
    Item {
        /// The position the relay read after.
        after: FeedPosition,
        /// The item, shared by every watcher's copy of the message.
        item: Arc<FeedItem>,
    },
    /// The relay (re)starts its chain of items at this position (the
    /// log's head when it began reading): a watcher behind it reads what
    /// lies between from the log itself.
    Start(FeedPosition),
    /// The relay has not been able to read the log for a while: watchers
    /// end with their resume token (a client may reconnect elsewhere).
    Stalled,
}

/// Fan-out of committed events to watchers. A slow watcher does not slow
/// writers: it falls behind the broadcast and catches up from the log.
#[derive(Debug, Clone)]
pub struct TicketFeed {
    tx: broadcast::Sender<Relayed>,
    wake: Arc<Notify>,
    /// Set once the server shuts down: watchers end at once rather than
    /// hold the drain open.
    closed: flag::Sender<bool>,
}

impl Default for TicketFeed {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl TicketFeed {
    /// A feed buffering up to `capacity` events per watcher before the
    /// watcher has to read the log instead.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            tx,
            wake: Arc::new(Notify::new()),
            closed: flag::Sender::new(false),
        }
    }

    /// Ends every watch, now and to come (the server is shutting down).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Whether [`TicketFeed::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Resolves once [`TicketFeed::close`] was called (at once if it was).
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closed = self.closed.subscribe();
        async move {
            // An error means the sender is gone: nothing will close it.
            if closed.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Whether anyone watches (the relay reads the log only then).
    pub fn is_watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Watchers subscribed now (`hotline_feed_subscribers`).
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Tells the relay that a write of this replica committed, so it reads
    /// the log now rather than at its next poll. Costs nothing when nobody
    /// watches.
    pub fn wake(&self) {
        if self.is_watched() {
            self.wake.notify_one();
        }
    }
}
