//! The live feed of committed ticket events, behind `WatchTickets` and
//! `WatchAlerts`.
//!
//! Every replica keeps one broadcast channel. How events reach it depends
//! on the store: on PostgreSQL each committed write is announced with
//! `NOTIFY` right after its commit (batched, see `store::announcer`;
//! delivered to every replica, the writer included) and a relay task loads
//! the announced events and publishes them, so a console connected to any
//! replica sees every replica's writes; on SQLite (one process) the
//! workflow publishes its own commits directly. Either way an event is
//! published once per replica, after its commit. The feed is a live view,
//! not a log: a replica that dies between a commit and its announcement
//! leaves that write out of the feed (the event log has it).

use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use tokio_stream::StreamExt;

use crate::{
    domain::{TicketEvent, ticket::Ticket},
    store::{CommitNotice, CommitStream, Store},
};

/// A committed event and the ticket after it (for scope checks).
#[derive(Debug, Clone)]
pub struct FeedItem {
    /// The ticket after the event (or a later version of it).
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

/// Fan-out of committed events to watchers; slow watchers miss events
/// rather than slowing writers.
#[derive(Debug, Clone)]
pub struct TicketFeed {
    tx: broadcast::Sender<FeedItem>,
    /// Set once the server shuts down: watchers end at once rather than
    /// hold the drain open.
    closed: watch::Sender<bool>,
}

impl Default for TicketFeed {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl TicketFeed {
    /// A feed keeping up to `capacity` events per lagging watcher.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            tx,
            closed: watch::Sender::new(false),
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

    /// Whether anyone watches (so writers can skip building items).
    pub fn is_watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Watchers subscribed now (`hotline_feed_subscribers`).
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Publishes committed events of one ticket.
    pub fn publish<'a>(&self, ticket: &Ticket, events: impl IntoIterator<Item = &'a TicketEvent>) {
        for event in events {
            let _ = self.tx.send(FeedItem {
                ticket: ticket.clone(),
                event: event.clone(),
            });
        }
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<FeedItem> {
        self.tx.subscribe()
    }

    /// Publishes the commits other replicas (and this one) announce, until
    /// the stream ends. A notice whose ticket cannot be read is skipped
    /// with a warning: the feed is best-effort, the event log is the truth.
    pub async fn relay(&self, store: Arc<dyn Store>, mut commits: CommitStream) {
        while let Some(notice) = commits.next().await {
            match notice {
                Ok(notice) => {
                    if let Err(e) = self.relay_one(store.as_ref(), &notice).await {
                        tracing::warn!(ticket = %notice.ticket, error = %e, "live feed: commit not relayed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "live feed: listener error"),
            }
        }
    }

    async fn relay_one(
        &self,
        store: &dyn Store,
        notice: &CommitNotice,
    ) -> Result<(), crate::store::StoreError> {
        if !self.is_watched() {
            return Ok(());
        }
        let ticket = store.get_ticket(notice.ticket).await?;
        if ticket.version <= notice.last_sequence {
            let count = notice.last_sequence - notice.first_sequence + 1;
            let events = store
                .list_events(
                    notice.ticket,
                    notice.first_sequence - 1,
                    u32::try_from(count.clamp(1, 1000)).unwrap_or(1000),
                )
                .await?;
            self.publish(&ticket, &events);
            return Ok(());
        }
        // Later writes committed before this notice was relayed: each event
        // goes out with the ticket as it stood then, so watchers' scope is
        // judged as it was (a unit dispatched the ticket later does not see
        // its creation).
        let upto = u32::try_from(notice.last_sequence.clamp(1, 10_000)).unwrap_or(10_000);
        let trail = store.list_events(notice.ticket, 0, upto).await?;
        for (i, event) in trail.iter().enumerate() {
            if event.sequence >= notice.first_sequence {
                let then = ticket.scope_as_of(&trail[..=i]);
                self.publish(&then, std::iter::once(event));
            }
        }
        Ok(())
    }
}
