//! One watcher's view of the feed: every event after its start, in log
//! order, once, or an end that says where to resume.

use std::{sync::Arc, time::Duration};

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{FeedItem, Relayed, TicketFeed, items, relay::READ_BATCH};
use crate::{
    service::ServiceError,
    store::{FeedPosition, Store, StoreResult},
};

/// Items buffered between a watcher's task and its client: a slow client
/// holds its task back, the task falls behind the broadcast and later
/// catches up from the log.
const BUFFER: usize = 256;

/// Attempts at a log read before a watcher gives up on filling a gap.
const ATTEMPTS: u32 = 3;

/// Wait between those attempts.
const RETRY_AFTER: Duration = Duration::from_millis(300);

/// Why a watcher's stream ended early, and where to continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedGap {
    /// The position of the last event the watcher was given (or skipped
    /// as not for it), or where it started.
    pub resume: FeedPosition,
}

/// A watcher's stream: items in log order, ending with [`FeedGap`] when
/// a gap could not be filled.
pub type Watch = ReceiverStream<Result<FeedItem, FeedGap>>;

impl TicketFeed {
    /// Every event committed after `from` (a resume token's position), or
    /// after this call returns, in log order and once each. Reads the
    /// log's head first (so the caller's "now" is fixed before it hears
    /// back, and a `from` past it is refused), then runs in a task of its
    /// own until the returned stream is dropped.
    pub async fn watch(
        &self,
        store: Arc<dyn Store>,
        from: Option<FeedPosition>,
    ) -> Result<Watch, ServiceError> {
        // Subscribed before the start is read: nothing falls between.
        let updates = self.tx.subscribe();
        let (start, catch_up) = match from {
            None => (retried(|| store.feed_head()).await?, false),
            // Past the head no event will ever come: a token of another
            // deployment, or from before a restore of an older backup.
            // (When the head cannot be read, the catch-up will fail and
            // end the stream with the token, as any interruption does.)
            Some(from) if store.feed_head().await.is_ok_and(|head| from > head) => {
                return Err(ServiceError::invalid(
                    "resume_token",
                    "points past the end of the event log (another deployment's, or older than a restore)",
                ));
            }
            Some(from) => (from, true),
        };
        let (out, stream) = mpsc::channel(BUFFER);
        tokio::spawn(async move {
            let mut follower = Follower {
                store,
                out,
                last: start,
            };
            follower.run(updates, catch_up).await;
        });
        Ok(ReceiverStream::new(stream))
    }
}

/// The task behind one [`Watch`].
struct Follower {
    store: Arc<dyn Store>,
    out: mpsc::Sender<Result<FeedItem, FeedGap>>,
    /// The position of the last event handled.
    last: FeedPosition,
}

/// Why a follower stops.
enum Stop {
    /// The client went away.
    Gone,
    /// A gap could not be filled: end with the resume token.
    Gap,
}

impl Follower {
    async fn run(&mut self, mut updates: broadcast::Receiver<Relayed>, catch_up: bool) {
        let started = if catch_up {
            self.catch_up().await
        } else {
            Ok(())
        };
        let stop = match started {
            Ok(()) => self.follow(&mut updates).await,
            Err(stop) => stop,
        };
        if let Stop::Gap = stop {
            let resume = self.last;
            let _ = self.out.send(Err(FeedGap { resume })).await;
        }
    }

    /// Follows the broadcast, filling every gap from the log.
    async fn follow(&mut self, updates: &mut broadcast::Receiver<Relayed>) -> Stop {
        loop {
            let update = tokio::select! {
                () = self.out.closed() => return Stop::Gone,
                update = updates.recv() => update,
            };
            let outcome = match update {
                Ok(Relayed::Item { after, item }) => {
                    if item.position <= self.last {
                        continue;
                    }
                    let filled = if after > self.last {
                        self.catch_up().await
                    } else {
                        Ok(())
                    };
                    match filled {
                        Ok(()) => self.deliver(Arc::unwrap_or_clone(item)).await,
                        Err(stop) => Err(stop),
                    }
                }
                Ok(Relayed::Start(at)) if at > self.last => self.catch_up().await,
                Ok(Relayed::Start(_)) => Ok(()),
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up().await,
                Ok(Relayed::Stalled) | Err(broadcast::error::RecvError::Closed) => Err(Stop::Gap),
            };
            if let Err(stop) = outcome {
                return stop;
            }
        }
    }

    /// Sends `item` unless the log read already did.
    async fn deliver(&mut self, item: FeedItem) -> Result<(), Stop> {
        if item.position <= self.last {
            return Ok(());
        }
        let position = item.position;
        self.out.send(Ok(item)).await.map_err(|_| Stop::Gone)?;
        self.last = position;
        Ok(())
    }

    /// Sends everything the log holds after `last`.
    async fn catch_up(&mut self) -> Result<(), Stop> {
        loop {
            let last = self.last;
            let store = self.store.clone();
            let read = retried(|| {
                let store = store.clone();
                async move {
                    let events = store.read_feed(last, READ_BATCH).await?;
                    let loaded = items::load(store.as_ref(), &events).await?;
                    Ok((events.len(), events.last().map(|e| e.position), loaded))
                }
            })
            .await;
            let (count, end, loaded) = match read {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(error = %e.report(), "live feed: a watcher's gap cannot be filled; ending its stream with a resume token");
                    return Err(Stop::Gap);
                }
            };
            for item in loaded {
                self.deliver(item).await?;
            }
            if let Some(end) = end {
                self.last = self.last.max(end);
            }
            if count < READ_BATCH as usize {
                return Ok(());
            }
        }
    }
}

/// `read`, tried up to [`ATTEMPTS`] times.
async fn retried<T, F, Fut>(mut read: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut attempt = 1;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(e) if attempt >= ATTEMPTS => return Err(e),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone, Utc};
    use tokio_stream::StreamExt;

    use super::*;
    use crate::{
        domain::{
            Caller, Principal, RegionCode, Role,
            ticket::{Channel, Intake, RequestType, Urgency},
        },
        service::feed::TicketFeed,
        store::testing::{TestBackend, store_intake},
    };

    async fn create(store: &dyn Store, i: i64) {
        let intake = Intake {
            channel: Channel::Web,
            legacy_hotline: None,
            caller: Caller::parse("", "", true).unwrap(),
            confidential: false,
            request_type: RequestType::Complaint,
            urgency: Urgency::Normal,
            subject_code: None,
            region_code: RegionCode::parse("330106").unwrap(),
            address: "某路 1 号".into(),
            title: "诉求".into(),
            description: "描述".into(),
        };
        let agent = Principal {
            subject: "agent".into(),
            roles: vec![Role::Agent],
            unit: None,
            region: None,
        };
        let now = Utc.timestamp_opt(1_790_000_000, 0).unwrap() + TimeDelta::microseconds(i);
        store_intake(store, intake, &agent, now).await.unwrap();
    }

    async fn take(watch: &mut Watch, n: usize) -> Vec<FeedItem> {
        let mut items = Vec::new();
        while items.len() < n {
            let item = tokio::time::timeout(Duration::from_secs(20), watch.next())
                .await
                .unwrap_or_else(|_| panic!("{} of {n} within 20 s", items.len()))
                .expect("open")
                .expect("no gap");
            items.push(item);
        }
        items
    }

    /// A watcher that reads nothing while 300 events commit falls behind a
    /// broadcast of two and a buffer of 256, and still gets every event,
    /// in order, once; a watcher resuming from the 100th gets the other 200.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watcher_that_falls_behind_catches_up_from_the_log() {
        let database = TestBackend::from_env().fresh_store().await;
        let store = database.store();
        let feed = TicketFeed::new(2);
        let relay = {
            let (feed, store) = (feed.clone(), store.clone());
            tokio::spawn(async move { feed.relay(store, None).await })
        };
        let mut slow = feed.watch(store.clone(), None).await.unwrap();
        for i in 0..300 {
            create(store.as_ref(), i).await;
            feed.wake();
        }
        let items = take(&mut slow, 300).await;
        assert!(
            items.windows(2).all(|w| w[0].position < w[1].position),
            "in log order, once each"
        );
        let tickets: std::collections::HashSet<_> = items.iter().map(|i| i.ticket.id).collect();
        assert_eq!(tickets.len(), 300, "every ticket's creation");
        let more = tokio::time::timeout(Duration::from_millis(600), slow.next()).await;
        assert!(more.is_err(), "nothing more: {more:?}");

        let mut resumed = feed
            .watch(store.clone(), Some(items[99].position))
            .await
            .unwrap();
        let rest = take(&mut resumed, 200).await;
        let positions = |items: &[FeedItem]| items.iter().map(|i| i.position).collect::<Vec<_>>();
        assert_eq!(positions(&rest), positions(&items[100..]));
        relay.abort();
    }
}
