//! Changes of many tickets at once: where the backend batches them (SQLite's
//! group commit of ticket changes) each still gets its own outcome, as a
//! change written alone would.

use std::sync::Arc;

use crate::{Store, StoreError};
use hotline_domain::{
    TicketId,
    metrics::{Counter, CounterDelta},
};

use super::fixtures::{
    agent, all_events, assert_stored, beijing_day, create_at, dispatch, find, full_intake, key,
    micros, produced, seed_units, t0, unit_id,
};

/// 30 tickets dispatched at once, each with its counter and its own key,
/// except: ticket 5 is raced by a second dispatch from the same version,
/// and ticket 9's request reuses ticket 8's key. Every other change commits
/// whole (row, event, counter, key); of the racing pair exactly one wins,
/// of the key's pair exactly one commits, and the loser of each writes
/// nothing.
pub async fn concurrent_changes_each_get_their_own_outcome(store: Arc<dyn Store>) {
    const TICKETS: usize = 30;
    const RACED: usize = 5;
    const TWIN: usize = 9; // reuses ticket 8's key
    seed_units(store.as_ref()).await;
    let mut tickets = Vec::new();
    for i in 0..TICKETS {
        let now = t0() + micros(i64::try_from(i).expect("small"));
        tickets.push(create_at(store.as_ref(), full_intake(), now, None).await);
    }
    let later = t0() + micros(1_000);
    let day = beijing_day(later);
    let mut tasks = Vec::new();
    let writers = (0..TICKETS)
        .map(|i| (i, "d330106"))
        .chain([(RACED, "s330106001")]);
    for (i, unit) in writers {
        let (ticket, _) = &tickets[i];
        let transition = ticket
            .apply(dispatch(unit), &agent(), later)
            .expect("dispatch");
        let counters = vec![CounterDelta {
            unit: Some(unit_id(unit)),
            day,
            counter: Counter::Dispatched,
            delta: 1,
        }];
        let request = if i == TWIN { 8 } else { i };
        let key = key(
            "agent-0001",
            &format!("dispatch-{request}"),
            "DispatchTicket",
        );
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let result = store
                .apply_transitions(1, std::slice::from_ref(&transition), &counters, Some(key))
                .await;
            (i, transition, result)
        }));
    }
    let mut committed: Vec<(usize, TicketId)> = Vec::new();
    let mut refused = Vec::new();
    for task in tasks {
        let (i, transition, result) = task.await.expect("task");
        match result {
            Ok(()) => {
                assert_stored(store.as_ref(), &transition.ticket, "a committed change").await;
                let events = all_events(store.as_ref(), transition.ticket.id).await;
                assert_eq!(events.len(), 2, "ticket {i}: created and one dispatch");
                assert_eq!(events.last(), Some(&transition.event), "ticket {i}");
                committed.push((i, transition.ticket.id));
            }
            Err(StoreError::Conflict(_)) if i == RACED => refused.push(i),
            Err(StoreError::AlreadyExists(_)) if i == 8 || i == TWIN => refused.push(i),
            Err(other) => panic!("change of ticket {i}: {other:?}"),
        }
    }
    assert_eq!(refused.len(), 2, "one racer and one twin lose: {refused:?}");
    assert!(refused.contains(&RACED), "{refused:?}");
    let twin_loser = *refused
        .iter()
        .find(|&&i| i != RACED)
        .expect("one of the twins lost");
    assert_eq!(committed.len(), TICKETS - 1, "every other change commits");
    let (loser, _) = &tickets[twin_loser];
    assert_stored(store.as_ref(), loser, "the twin that lost is unchanged").await;
    assert_eq!(all_events(store.as_ref(), loser.id).await.len(), 1);
    let twin_winner = if twin_loser == 8 { TWIN } else { 8 };
    assert_eq!(
        find(store.as_ref(), "agent-0001", "dispatch-8").await,
        produced("DispatchTicket", tickets[twin_winner].0.id.name()),
        "the key names the ticket whose change committed"
    );
    let dispatched: i64 = store
        .all_counters()
        .await
        .expect("all_counters")
        .into_iter()
        .filter(|c| c.counter == Counter::Dispatched)
        .map(|c| c.delta)
        .sum();
    assert_eq!(
        dispatched,
        i64::try_from(TICKETS - 1).expect("small"),
        "counted once per committed change"
    );
}
