//! Events read from the log turned into feed items: each with the ticket
//! as it stood, so a watcher's scope is judged as it was (a unit the
//! ticket was dispatched to later does not see its creation).

use super::FeedItem;
use crate::store::{FeedEvent, Store, StoreResult};

/// Items of `events` (in log order), one ticket read per run of events of
/// one ticket (a write's events are adjacent in the log).
pub(super) async fn load(store: &dyn Store, events: &[FeedEvent]) -> StoreResult<Vec<FeedItem>> {
    let mut items = Vec::with_capacity(events.len());
    for run in events.chunk_by(|a, b| a.event.ticket_id == b.event.ticket_id) {
        load_run(store, run, &mut items).await?;
    }
    Ok(items)
}

/// One run of events of one ticket.
async fn load_run(
    store: &dyn Store,
    run: &[FeedEvent],
    items: &mut Vec<FeedItem>,
) -> StoreResult<()> {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return Ok(());
    };
    let ticket = store.get_ticket(first.event.ticket_id).await?;
    if run.len() == 1 && ticket.version <= last.event.sequence {
        // Nothing written since: the ticket now is the ticket after it.
        items.extend(run.iter().map(|e| FeedItem {
            position: e.position,
            ticket: ticket.clone(),
            event: e.event.clone(),
        }));
        return Ok(());
    }
    // Several events (one write's, or several writes' read together) or
    // later writes since: replay the trail to each event.
    let upto = u32::try_from(last.event.sequence.clamp(1, 10_000)).unwrap_or(10_000);
    let trail = store.list_events(ticket.id, 0, upto).await?;
    for e in run {
        let Some(at) = trail.iter().position(|t| t.sequence == e.event.sequence) else {
            continue;
        };
        items.push(FeedItem {
            position: e.position,
            ticket: ticket.scope_as_of(&trail[..=at]),
            event: e.event.clone(),
        });
    }
    Ok(())
}
