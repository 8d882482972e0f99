//! Concurrency: racing writers on one ticket version, racing publishers,
//! intakes written together (group commit).

use std::sync::Arc;

use chrono::NaiveDate;

use crate::{NewTicket, Store, StoreError, TicketQuery};
use hotline_domain::{
    Action, Ticket,
    metrics::{Counter, CounterDelta},
    ticket::RequestType,
};

use super::fixtures::{
    agent, all_events, assert_stored, beijing_day, create_at, created_event, dispatch, find,
    full_intake, intake, is_not_found, key, micros, produced, rule, seed_units, t0, unit_id,
};

/// 50 writers race to apply a transition to the same version: exactly one
/// wins, the other 49 get `Conflict`, and the trail gains exactly one event —
/// the winner's.
pub async fn concurrent_transitions_admit_exactly_one(store: Arc<dyn Store>) {
    const WRITERS: i64 = 50;
    seed_units(store.as_ref()).await;
    let (ticket, created) = create_at(store.as_ref(), full_intake(), t0(), None).await;
    let units = ["market-regulation", "d330106", "s330106001"];

    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let transition = ticket
            .apply(
                Action::dispatch(
                    unit_id(units[i as usize % units.len()]),
                    format!("writer {i}"),
                ),
                &agent(),
                t0() + micros(i + 1),
            )
            .expect("dispatch");
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let result = store.apply_transition(1, &transition, None).await;
            (transition, result)
        }));
    }
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let (transition, result) = task.await.expect("task");
        match result {
            Ok(()) => winners.push(transition),
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("a losing writer must get Conflict, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    assert_eq!(conflicts, WRITERS - 1, "every other writer conflicts");
    let winner = &winners[0];
    assert_stored(store.as_ref(), &winner.ticket, "after the race").await;
    assert_eq!(
        all_events(store.as_ref(), ticket.id).await,
        vec![created, winner.event.clone()],
        "exactly one new event, the winner's"
    );
}

/// 20 administrators publish at once: every publish succeeds with its own
/// version (1 to 20, no gaps), and the newest is active.
pub async fn concurrent_publishes_get_distinct_versions(store: Arc<dyn Store>) {
    const PUBLISHERS: i64 = 20;
    let mut tasks = Vec::new();
    for i in 0..PUBLISHERS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let rules = vec![rule(&format!("rule-{i}"), "market-regulation")];
            let result = store
                .publish_rule_set(&rules, &format!("admin-{i}"), "", t0() + micros(i))
                .await;
            (rules, result)
        }));
    }
    let mut published = Vec::new();
    for task in tasks {
        let (rules, result) = task.await.expect("task");
        match result {
            Ok(info) => published.push((info.version, rules)),
            Err(e) => panic!("a concurrent publish must succeed, got {e:?}"),
        }
    }
    published.sort_by_key(|(v, _)| *v);
    let versions: Vec<i64> = published.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (1..=PUBLISHERS).collect::<Vec<_>>(),
        "distinct versions without gaps"
    );
    for (version, rules) in &published {
        assert_eq!(
            &store.rule_set(*version).await.expect("rule_set").1,
            rules,
            "version {version} holds its publisher's rules"
        );
    }
    assert_eq!(
        store.active_rule_set_version().await.expect("active"),
        Some(PUBLISHERS),
        "the newest version is active"
    );
}

/// 40 intakes at once, so the store writes them in groups: two share one
/// idempotency key and one is dispatched to a unit that does not exist.
/// Each gets the answer it would get alone — exactly one of the pair
/// `AlreadyExists`, the bad one `NotFound` — and every other intake is
/// stored whole, with its events, its key and its counters; the failures
/// leave nothing behind.
pub async fn concurrent_intakes_each_get_their_own_outcome(store: Arc<dyn Store>) {
    const INTAKES: i64 = 40;
    const TWIN: i64 = 7; // reuses intake 6's key
    const BAD: i64 = 13; // dispatched to an unknown unit
    seed_units(store.as_ref()).await;
    let day = beijing_day(t0());
    let mut tasks = Vec::new();
    for i in 0..INTAKES {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let now = t0() + micros(i);
            let created = Ticket::accept(
                intake("330106", RequestType::Help, None),
                String::new(),
                &agent(),
                now,
            );
            let target = if i == BAD { "no-such-unit" } else { "d330106" };
            let dispatched = created
                .ticket
                .apply(dispatch(target), &agent(), now)
                .expect("dispatch");
            let counters = vec![
                counted(None, day, Counter::Received),
                counted(Some(target), day, Counter::Dispatched),
            ];
            let request = if i == TWIN { 6 } else { i };
            let new = NewTicket {
                created: created.clone(),
                followups: vec![dispatched.clone()],
                counters,
                local_day: day,
            };
            let key = key("agent-0001", &format!("req-{request}"), "CreateTicket");
            let result = store.create_ticket(new, Some(key)).await;
            (i, created.ticket.id, created, dispatched.event, result)
        }));
    }
    let mut stored = Vec::new();
    let mut twins_stored = 0;
    for task in tasks {
        let (i, id, created, dispatched, result) = task.await.expect("task");
        match (i, result) {
            (BAD, result) => {
                assert!(is_not_found(&result), "unknown unit: {result:?}");
                assert!(is_not_found(&store.get_ticket(id).await));
                assert_eq!(all_events(store.as_ref(), id).await, vec![]);
            }
            (6 | TWIN, Err(e)) => {
                assert!(matches!(e, StoreError::AlreadyExists(_)), "twin: {e:?}");
                assert!(is_not_found(&store.get_ticket(id).await));
            }
            (_, Ok(ticket)) => {
                if i == 6 || i == TWIN {
                    twins_stored += 1;
                }
                assert_stored(store.as_ref(), &ticket, "after a group commit").await;
                let events = vec![created_event(&created, &ticket.number), dispatched];
                assert_eq!(all_events(store.as_ref(), id).await, events);
                let request = if i == TWIN { 6 } else { i };
                assert_eq!(
                    find(store.as_ref(), "agent-0001", &format!("req-{request}")).await,
                    produced("CreateTicket", ticket.id.name())
                );
                stored.push(ticket);
            }
            (i, Err(e)) => panic!("intake {i} must commit, got {e:?}"),
        }
    }
    assert_eq!(twins_stored, 1, "exactly one of the twins is stored");
    let expected = INTAKES as usize - 2;
    assert_eq!(stored.len(), expected);
    let listed = store
        .list_tickets(&TicketQuery::all(100))
        .await
        .expect("list_tickets");
    assert_eq!(listed.len(), expected, "no row of a failed intake");
    let mut numbers: Vec<&str> = stored.iter().map(|t| t.number.as_str()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), expected, "numbers are distinct");
    let totals: Vec<(Option<String>, Counter, i64)> = store
        .all_counters()
        .await
        .expect("all_counters")
        .into_iter()
        .map(|c| (c.unit.map(|u| u.to_string()), c.counter, c.delta))
        .collect();
    let n = expected as i64;
    assert_eq!(
        totals,
        vec![
            (None, Counter::Received, n),
            (Some("d330106".into()), Counter::Dispatched, n),
        ],
        "the counters hold the stored intakes' changes, summed over shards"
    );
}

fn counted(unit: Option<&str>, day: NaiveDate, counter: Counter) -> CounterDelta {
    CounterDelta {
        unit: unit.map(unit_id),
        day,
        counter,
        delta: 1,
    }
}
