//! WatchHotspots: every hotspot recorded or changed after a watcher's
//! start, on any replica, in the change sequence's order.
//!
//! The database's change sequence is the truth (`store::HotspotStore`):
//! each watcher reads "changes after the last one I sent" itself, so it
//! can miss nothing. What tells it to read: this replica's own writes
//! ([`HotspotChanges::seen`]) at once, and other replicas' through one
//! poll of the sequence's head per replica, made only while somebody
//! watches ([`HotspotChanges::follow`]).
//!
//! Why not the ticket feed's relay (`service::feed`): a hotspot's changes
//! are not ticket events, and the feed's machinery exists to give the
//! event log a gap-free order it lacks; the hotspots' own change sequence
//! has that order by construction, so one indexed read after a (number,
//! id) gives the same guarantees — nothing missed, resume tokens — and
//! the stream ends with the server's shutdown and the session as the
//! feed's streams do (`api::streams::guarded`).

use std::{sync::Arc, time::Duration};

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::{
    domain::hotspot::{AreaScope, Hotspot, HotspotId},
    service::ServiceError,
    store::Store,
};

/// Changes read per query.
const READ_BATCH: u32 = 100;

/// Hotspots buffered between a watcher's task and its client.
const BUFFER: usize = 64;

/// Attempts at a read before a watcher's stream ends UNAVAILABLE.
const ATTEMPTS: u32 = 3;

/// A place in the change sequence: the change number and the hotspot
/// last sent with it (a merge writes two hotspots under one number).
pub type ChangeCursor = (i64, Option<HotspotId>);

/// A hotspot as a watcher receives it.
#[derive(Debug, Clone)]
pub struct WatchedHotspot {
    /// The hotspot as it is now.
    pub hotspot: Hotspot,
    /// Whether this watcher meets it for the first time (it was recorded
    /// after the watcher's start).
    pub new: bool,
    /// Whether its overdue alert was raised after the watcher's previous
    /// place: true once per watcher (its place then passes the alert's
    /// change), even when later changes of the hotspot (it grew, it was
    /// answered) came before the watcher read it — `WatchAlerts` sends it
    /// then.
    pub overdue_alert: bool,
    /// Where the watcher is after it: what a resume token carries.
    pub cursor: ChangeCursor,
}

/// What a watcher's stream carries.
pub type HotspotWatch = ReceiverStream<Result<WatchedHotspot, ServiceError>>;

/// The highest change number this replica knows was committed, shared
/// with its watchers.
#[derive(Debug, Clone)]
pub struct HotspotChanges {
    head: watch::Sender<i64>,
}

impl Default for HotspotChanges {
    fn default() -> Self {
        Self {
            head: watch::Sender::new(0),
        }
    }
}

impl HotspotChanges {
    /// Change `seq` committed: wakes the watchers if it is news.
    pub fn seen(&self, seq: i64) {
        self.head.send_if_modified(|head| {
            let news = seq > *head;
            if news {
                *head = seq;
            }
            news
        });
    }

    /// Polls the head of the database's sequence every `every` while
    /// anyone watches, so changes of other replicas wake this replica's
    /// watchers; runs until aborted.
    pub async fn follow(&self, store: Arc<dyn Store>, every: Duration) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if self.head.receiver_count() == 0 {
                continue;
            }
            match store.hotspot_head().await {
                Ok(head) => self.seen(head),
                Err(e) => {
                    tracing::debug!(error = %e.report(), "hotspot watch: cannot read the head")
                }
            }
        }
    }

    /// The hotspots in `scope` changed after `from`, as they change, until
    /// the returned stream is dropped (or a read fails three times: then it
    /// ends with UNAVAILABLE).
    pub fn watch(
        &self,
        store: Arc<dyn Store>,
        scope: AreaScope,
        from: ChangeCursor,
    ) -> HotspotWatch {
        let mut wake = self.head.subscribe();
        let (out, stream) = mpsc::channel(BUFFER);
        tokio::spawn(async move {
            let mut at = from;
            loop {
                match send_after(store.as_ref(), &scope, &mut at, &out).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        let _ = out.send(Err(e)).await;
                        return;
                    }
                }
                tokio::select! {
                    () = out.closed() => return,
                    changed = wake.changed() => if changed.is_err() { return },
                }
            }
        });
        ReceiverStream::new(stream)
    }
}

/// Sends every change after `at` in `scope`, moving `at`; `false` when the
/// client went away.
async fn send_after(
    store: &dyn Store,
    scope: &AreaScope,
    at: &mut ChangeCursor,
    out: &mpsc::Sender<Result<WatchedHotspot, ServiceError>>,
) -> Result<bool, ServiceError> {
    loop {
        let batch = read(store, *at).await?;
        let full = batch.len() >= READ_BATCH as usize;
        for hotspot in batch {
            let new = hotspot.create_seq > at.0;
            let overdue_alert = hotspot
                .supervision
                .overdue_alert_seq
                .is_some_and(|seq| seq > at.0);
            *at = (hotspot.change_seq, Some(hotspot.id));
            if !scope.covers(&hotspot.area) {
                continue;
            }
            let item = WatchedHotspot {
                hotspot,
                new,
                overdue_alert,
                cursor: *at,
            };
            if out.send(Ok(item)).await.is_err() {
                return Ok(false);
            }
        }
        if !full {
            return Ok(true);
        }
    }
}

/// The changes after `at`, tried up to [`ATTEMPTS`] times.
async fn read(store: &dyn Store, at: ChangeCursor) -> Result<Vec<Hotspot>, ServiceError> {
    let mut attempt = 1;
    loop {
        match store.hotspot_changes(at.0, at.1, READ_BATCH).await {
            Ok(batch) => return Ok(batch),
            Err(e) if attempt >= ATTEMPTS => return Err(e.into()),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}
