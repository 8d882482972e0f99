//! The relay: reads the event log after its cursor and broadcasts what it
//! finds, woken by commits and by a poll, retrying with backoff from the
//! same cursor when the database fails it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_stream::StreamExt;

use super::{Relayed, TicketFeed, items};
use crate::store::{CommitStream, FeedPosition, Store, StoreResult};

/// Events read per query.
pub(super) const READ_BATCH: u32 = 500;

/// How often the relay reads the log when nothing woke it: the longest an
/// event waits when its announcement was lost (a listener reconnecting) or
/// when it committed behind a slower write (PostgreSQL reads only what no
/// running write can precede, see `store::FeedStore`). One indexed read
/// of the log's tail, and only while someone watches.
const POLL: Duration = Duration::from_millis(250);

/// First wait after a failed read; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Longest wait between attempts while the database is down.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the relay may fail before it ends its watchers' streams (with
/// their resume tokens), so clients do not wait on a replica that cannot
/// read the database; a database restart usually takes less.
const STALL_AFTER: Duration = Duration::from_secs(20);

/// Doubling waits, reset by a success.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    failing_since: Option<Instant>,
    stall_told: bool,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next: FIRST_BACKOFF,
            failing_since: None,
            stall_told: false,
        }
    }

    fn succeeded(&mut self) {
        *self = Self::new();
    }

    /// The wait before the next attempt.
    fn failed(&mut self) -> Duration {
        self.failing_since.get_or_insert_with(Instant::now);
        let wait = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        wait
    }

    /// Whether the failures have lasted [`STALL_AFTER`], once per outage.
    fn stalled_now(&mut self) -> bool {
        let stalled = self
            .failing_since
            .is_some_and(|since| since.elapsed() >= STALL_AFTER);
        let first = stalled && !self.stall_told;
        self.stall_told |= stalled;
        first
    }
}

impl TicketFeed {
    /// Broadcasts every committed event, in log order, for as long as the
    /// process runs. `commits` is the store's announcement stream where it
    /// has one (PostgreSQL); it is subscribed again (with backoff) if it
    /// ends.
    pub async fn relay(&self, store: Arc<dyn Store>, mut commits: Option<CommitStream>) {
        let announces = commits.is_some();
        let mut cursor: Option<FeedPosition> = None;
        let mut backoff = Backoff::new();
        let mut listener_backoff = Backoff::new();
        let mut listen_again_at = Instant::now();
        let mut wait = POLL;
        loop {
            let ended = tokio::select! {
                () = self.wake.notified() => false,
                () = tokio::time::sleep(wait) => false,
                notice = next_notice(&mut commits) => match notice {
                    Some(Ok(_)) => false,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e.report(), "live feed: commit listener error; reading the log meanwhile");
                        false
                    }
                    None => true,
                },
            };
            if ended {
                commits = None;
            }
            if announces && commits.is_none() && Instant::now() >= listen_again_at {
                match store.subscribe_commits().await {
                    Ok(stream) => {
                        commits = stream;
                        listener_backoff.succeeded();
                    }
                    Err(e) => {
                        let pause = listener_backoff.failed();
                        listen_again_at = Instant::now() + pause;
                        tracing::warn!(error = %e.report(), retry_in = ?pause, "live feed: cannot listen for commits; polling the log");
                    }
                }
            }
            if !self.is_watched() {
                // Nobody to tell: each new watcher finds its own start.
                cursor = None;
                backoff.succeeded();
                wait = POLL;
                continue;
            }
            match self.read_on(store.as_ref(), &mut cursor).await {
                Ok(()) => {
                    backoff.succeeded();
                    wait = POLL;
                }
                Err(e) => {
                    wait = backoff.failed();
                    tracing::warn!(error = %e.report(), retry_in = ?wait, "live feed: cannot read the event log; retrying from the same place");
                    if backoff.stalled_now() {
                        tracing::warn!(
                            "live feed: the event log has been unreadable for {STALL_AFTER:?}; ending watchers' streams with resume tokens"
                        );
                        let _ = self.tx.send(Relayed::Stalled);
                        cursor = None;
                    }
                }
            }
        }
    }

    /// Reads and broadcasts everything readable after `cursor` (from the
    /// head if unset), advancing it past each event broadcast.
    async fn read_on(
        &self,
        store: &dyn Store,
        cursor: &mut Option<FeedPosition>,
    ) -> StoreResult<()> {
        let mut at = match *cursor {
            Some(at) => at,
            None => {
                let head = store.feed_head().await?;
                let _ = self.tx.send(Relayed::Start(head));
                head
            }
        };
        *cursor = Some(at);
        loop {
            let events = store.read_feed(at, READ_BATCH).await?;
            let Some(last) = events.last().map(|e| e.position) else {
                return Ok(());
            };
            for item in items::load(store, &events).await? {
                let position = item.position;
                let _ = self.tx.send(Relayed::Item {
                    after: at,
                    item: Arc::new(item),
                });
                at = position;
            }
            at = at.max(last);
            *cursor = Some(at);
            if events.len() < READ_BATCH as usize {
                return Ok(());
            }
        }
    }
}

/// The next announcement, or never when there is no stream.
async fn next_notice(
    commits: &mut Option<CommitStream>,
) -> Option<crate::store::StoreResult<crate::store::CommitNotice>> {
    match commits {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_a_success_resets_them() {
        let mut backoff = Backoff::new();
        let waits: Vec<Duration> = (0..8).map(|_| backoff.failed()).collect();
        assert_eq!(waits[0], FIRST_BACKOFF);
        assert_eq!(waits[1], FIRST_BACKOFF * 2);
        assert_eq!(waits[2], FIRST_BACKOFF * 4);
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert!(!backoff.stalled_now(), "not failing for long yet");
        backoff.succeeded();
        assert_eq!(backoff.failed(), FIRST_BACKOFF);
    }

    #[test]
    fn a_stall_is_told_once_per_outage() {
        let mut backoff = Backoff::new();
        backoff.failed();
        backoff.failing_since = Some(Instant::now() - STALL_AFTER);
        assert!(backoff.stalled_now());
        assert!(!backoff.stalled_now(), "once");
        backoff.succeeded();
        backoff.failed();
        backoff.failing_since = Some(Instant::now() - STALL_AFTER);
        assert!(backoff.stalled_now(), "again after a recovery");
    }
}
