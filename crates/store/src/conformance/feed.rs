//! The event log in commit order ([`crate::FeedStore`]): what the live
//! feed's catch-up and resume tokens stand on.

use std::{collections::HashSet, sync::Arc};

use crate::{FeedEvent, FeedPosition, Store};
use hotline_domain::TicketId;

use super::fixtures::{agent, create_at, dispatch, full_intake, micros, seed_units, step, t0};

/// Everything readable after `after`, read `page` events at a time.
async fn read_all(store: &dyn Store, after: FeedPosition, page: u32) -> Vec<FeedEvent> {
    let mut out: Vec<FeedEvent> = Vec::new();
    let mut at = after;
    loop {
        let batch = store.read_feed(at, page).await.expect("read_feed");
        let full = batch.len() == page as usize;
        if let Some(last) = batch.last() {
            at = last.position;
        }
        out.extend(batch);
        if !full {
            return out;
        }
    }
}

/// Reads after `after` until `count` events are readable (10 s at most).
async fn read_until(store: &dyn Store, after: FeedPosition, count: usize) -> Vec<FeedEvent> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let all = read_all(store, after, 100).await;
        if all.len() >= count || tokio::time::Instant::now() >= deadline {
            return all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Events come back once each, in commit order, positions strictly
/// increasing and a write's events adjacent; the head is past all of
/// them, nothing is read after it, and paging changes nothing.
pub async fn feed_reads_commits_in_order_after_a_position(store: Arc<dyn Store>) {
    seed_units(store.as_ref()).await;
    let start = store.feed_head().await.expect("feed_head");
    assert!(
        store
            .read_feed(start, 10)
            .await
            .expect("read_feed")
            .is_empty(),
        "an empty log reads nothing after its head"
    );
    let (first, _) = create_at(store.as_ref(), full_intake(), t0(), None).await;
    let (second, _) = create_at(store.as_ref(), full_intake(), t0() + micros(1), None).await;
    let dispatched = step(
        store.as_ref(),
        &first,
        dispatch("market-regulation"),
        &agent(),
        t0() + micros(2),
    )
    .await;

    // On PostgreSQL a write still running anywhere on the server (another
    // test's) holds later commits back for a moment.
    let all = read_until(store.as_ref(), start, 3).await;
    let order: Vec<(TicketId, i64)> = all
        .iter()
        .map(|e| (e.event.ticket_id, e.event.sequence))
        .collect();
    assert_eq!(
        order,
        vec![(first.id, 1), (second.id, 1), (first.id, 2)],
        "commit order across tickets"
    );
    assert_eq!(all[2].event, dispatched.event, "the event as stored");
    assert!(
        all.windows(2).all(|w| w[0].position < w[1].position),
        "positions increase: {all:?}"
    );
    assert_eq!(
        read_all(store.as_ref(), start, 1).await,
        all,
        "one at a time reads the same"
    );
    assert_eq!(
        read_all(store.as_ref(), all[0].position, 100).await,
        all[1..].to_vec(),
        "a position resumes right after its event"
    );
    let head = store.feed_head().await.expect("feed_head");
    assert!(head >= all[2].position, "the head is past every event read");
    assert!(
        store
            .read_feed(all[2].position, 10)
            .await
            .expect("read_feed")
            .is_empty(),
        "nothing after the last event"
    );
}

/// Summarizing the feed's index leaves nothing new for a second call and
/// the feed reading what it read before (PostgreSQL: the BRIN index's
/// newest ranges; SQLite: nothing to do).
pub async fn the_feed_index_summarizes_what_is_new(store: Arc<dyn Store>) {
    seed_units(store.as_ref()).await;
    let start = store.feed_head().await.expect("feed_head");
    let (ticket, _) = create_at(store.as_ref(), full_intake(), t0(), None).await;
    let before = read_until(store.as_ref(), start, 1).await;
    // The first call summarizes whatever is new (PostgreSQL: the range the
    // ticket's events went to; SQLite: nothing); what it returns varies.
    store.summarize_feed_index().await.expect("summarize");
    assert_eq!(
        store.summarize_feed_index().await.expect("summarize again"),
        0,
        "nothing new since the last call"
    );
    let after = read_all(store.as_ref(), start, 100).await;
    assert_eq!(after, before, "the feed reads the same");
    assert!(after.iter().any(|e| e.event.ticket_id == ticket.id));
}

/// A reader following the log while 16 writers commit concurrently sees
/// every event exactly once: nothing appears behind its cursor later (the
/// gap a sequence number alone would leave, where a lower number commits
/// after a higher one was read).
pub async fn feed_readers_miss_nothing_under_concurrent_writes(store: Arc<dyn Store>) {
    const WRITERS: i64 = 16;
    const EACH: i64 = 10;
    seed_units(store.as_ref()).await;
    let start = store.feed_head().await.expect("feed_head");
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..EACH {
                    let at = t0() + micros(w * 1000 + i);
                    let (ticket, _) = create_at(store.as_ref(), full_intake(), at, None).await;
                    step(
                        store.as_ref(),
                        &ticket,
                        dispatch("market-regulation"),
                        &agent(),
                        at + micros(500),
                    )
                    .await;
                }
            })
        })
        .collect();
    let mut seen: Vec<FeedEvent> = Vec::new();
    let mut at = start;
    let expected = usize::try_from(WRITERS * EACH * 2).expect("small");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen.len() < expected && tokio::time::Instant::now() < deadline {
        let batch = store.read_feed(at, 7).await.expect("read_feed");
        if let Some(last) = batch.last() {
            at = last.position;
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        seen.extend(batch);
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let rest = expected.saturating_sub(seen.len());
    seen.extend(read_until(store.as_ref(), at, rest).await);
    let keys: HashSet<(TicketId, i64)> = seen
        .iter()
        .map(|e| (e.event.ticket_id, e.event.sequence))
        .collect();
    assert_eq!(keys.len(), seen.len(), "no event read twice");
    assert_eq!(seen.len(), expected, "every event read");
    assert!(
        seen.windows(2).all(|w| w[0].position < w[1].position),
        "positions increase"
    );
    let mut created_before_dispatched = HashSet::new();
    for e in &seen {
        if e.event.sequence == 1 {
            created_before_dispatched.insert(e.event.ticket_id);
        } else {
            assert!(
                created_before_dispatched.contains(&e.event.ticket_id),
                "a ticket's creation comes before its dispatch"
            );
        }
    }
}
