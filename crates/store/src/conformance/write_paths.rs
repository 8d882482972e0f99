//! The ways a write reaches the database: the bench's naive intake writes
//! what `create_ticket` writes, and a transition that loses its race
//! writes none of the rows that go with it (on PostgreSQL one fused
//! statement whose clauses are guarded by the ticket's UPDATE).

use std::sync::Arc;

use hotline_domain::{
    Action, Ticket,
    metrics::{Counter, CounterDelta},
    ticket::RequestType,
};

use crate::{CounterScope, CounterSource, NewTicket, Store};

use super::fixtures::{
    agent, all_events, assert_stored, beijing_day, created_event, dispatch, find, handler, intake,
    is_conflict, key, micros, produced, seed_units, t0, unit_id,
};

/// The centre's count of `counter` on the day of [`t0`].
async fn centre_count(store: &dyn Store, counter: Counter) -> i64 {
    let day = beijing_day(t0());
    let source = CounterSource::Days {
        from: day,
        to: day.succ_opt().expect("a next day"),
    };
    store
        .sum_counters(&CounterScope::Centre, source)
        .await
        .expect("sum_counters")
        .into_iter()
        .filter(|(c, _)| *c == counter)
        .map(|(_, n)| n)
        .sum()
}

fn centre_delta(counter: Counter, delta: i64) -> CounterDelta {
    CounterDelta {
        unit: None,
        day: beijing_day(t0()),
        counter,
        delta,
    }
}

/// `bench_naive_create_ticket` numbers the ticket from the same daily
/// sequence and writes the same row, events, counters and idempotency
/// record as `create_ticket`.
pub async fn naive_intake_writes_what_create_ticket_writes(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let accept = || {
        Ticket::accept(
            intake("330106", RequestType::Complaint, None),
            String::new(),
            &agent(),
            t0(),
        )
    };
    let counters = vec![centre_delta(Counter::Accepted, 1)];
    let first = store
        .create_ticket(
            NewTicket {
                created: accept(),
                followups: Vec::new(),
                counters: counters.clone(),
                local_day: beijing_day(t0()),
            },
            None,
        )
        .await
        .expect("create_ticket");
    let created = accept();
    let routed = created
        .ticket
        .apply(dispatch("market-regulation"), &agent(), t0() + micros(1))
        .expect("dispatch");
    let naive = store
        .bench_naive_create_ticket(
            NewTicket {
                created: created.clone(),
                followups: vec![routed.clone()],
                counters,
                local_day: beijing_day(t0()),
            },
            Some(key("agent-0001", "naive-1", "CreateTicket")),
        )
        .await
        .expect("bench_naive_create_ticket");
    let number: u64 = first.number.parse().expect("numeric");
    assert_eq!(
        naive.number,
        (number + 1).to_string(),
        "the naive path draws from the same daily sequence"
    );
    let mut expected = routed.ticket.clone();
    expected.number = naive.number.clone();
    assert_eq!(naive, expected, "the naive path returns the stored ticket");
    assert_stored(store, &expected, "after the naive intake").await;
    let mut dispatched = routed.event.clone();
    dispatched.ticket_id = naive.id;
    assert_eq!(
        all_events(store, naive.id).await,
        vec![created_event(&created, &naive.number), dispatched]
    );
    assert_eq!(
        find(store, "agent-0001", "naive-1").await,
        produced("CreateTicket", naive.id.name())
    );
    assert_eq!(centre_count(store, Counter::Accepted).await, 2);
}

/// A transition at a stale version writes neither its events nor its
/// counters nor its idempotency record.
pub async fn a_stale_change_writes_none_of_its_rows(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let created = Ticket::accept(
        intake("330106", RequestType::Complaint, None),
        String::new(),
        &agent(),
        t0(),
    );
    let ticket = store
        .create_ticket(
            NewTicket {
                created,
                followups: Vec::new(),
                counters: Vec::new(),
                local_day: beijing_day(t0()),
            },
            None,
        )
        .await
        .expect("create_ticket");
    let routed = ticket
        .apply(dispatch("market-regulation"), &agent(), t0() + micros(1))
        .expect("dispatch");
    let counted = [centre_delta(Counter::Dispatched, 1)];
    store
        .apply_transitions(1, std::slice::from_ref(&routed), &counted, None)
        .await
        .expect("dispatch at version 1");
    assert_eq!(centre_count(store, Counter::Dispatched).await, 1);

    // A second writer still holding version 1.
    let late = ticket
        .apply(dispatch("market-regulation"), &agent(), t0() + micros(2))
        .expect("legal on version 1");
    let result = store
        .apply_transitions(
            1,
            std::slice::from_ref(&late),
            &counted,
            Some(key("agent-0001", "late-1", "DispatchTicket")),
        )
        .await;
    assert!(is_conflict(&result), "got {result:?}");
    assert_stored(store, &routed.ticket, "after the lost race").await;
    assert_eq!(all_events(store, ticket.id).await.len(), 2);
    assert_eq!(
        centre_count(store, Counter::Dispatched).await,
        1,
        "a lost race adds no counters"
    );
    assert_eq!(find(store, "agent-0001", "late-1").await, None);

    // The winner's next step still commits everything.
    let signed = routed
        .ticket
        .apply(
            Action::Sign,
            &handler(&unit_id("market-regulation")),
            t0() + micros(3),
        )
        .expect("sign");
    store
        .apply_transitions(
            2,
            std::slice::from_ref(&signed),
            &[centre_delta(Counter::Dispatched, 1)],
            Some(key("agent-0001", "sign-1", "SignTicket")),
        )
        .await
        .expect("sign at version 2");
    assert_stored(store, &signed.ticket, "after sign").await;
    assert_eq!(all_events(store, ticket.id).await.len(), 3);
    assert_eq!(centre_count(store, Counter::Dispatched).await, 2);
    assert_eq!(
        find(store, "agent-0001", "sign-1").await,
        produced("SignTicket", ticket.id.name())
    );
}
