//! Idempotency keys: what they record, and that a reused key writes nothing.

use std::sync::Arc;

use crate::{Store, TicketQuery};
use hotline_domain::{directory::UnitKind, ticket::Ticket};

use super::fixtures::{
    agent, all_events, assert_stored, beijing_day, create_at, dispatch, find, full_intake, insert,
    is_already_exists, is_not_found, key, micros, produced, seed_units, t0, unit,
};

/// A key used with a create or a transition remembers the operation and the
/// resource it produced; keys are scoped to their subject.
pub async fn idempotency_keys_record_what_they_produced(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (ticket, _) = create_at(
        store,
        full_intake(),
        t0(),
        Some(key("agent-0001", "req-create", "CreateTicket")),
    )
    .await;
    assert_eq!(
        find(store, "agent-0001", "req-create").await,
        produced("CreateTicket", ticket.id.name())
    );

    let dispatch = ticket
        .apply(dispatch("market-regulation"), &agent(), t0() + micros(1))
        .expect("dispatch");
    store
        .apply_transition(
            1,
            &dispatch,
            Some(key("agent-0001", "req-dispatch", "DispatchTicket")),
        )
        .await
        .expect("apply_transition with a key");
    assert_eq!(
        find(store, "agent-0001", "req-dispatch").await,
        produced("DispatchTicket", ticket.id.name())
    );

    let u = unit("water-company", UnitKind::Company, "330100", None);
    store
        .create_unit(&u, Some(key("admin-1", "req-unit", "CreateUnit")))
        .await
        .expect("create_unit with a key");
    assert_eq!(
        find(store, "admin-1", "req-unit").await,
        produced("CreateUnit", "units/water-company".into())
    );

    // Keys belong to their subject.
    assert_eq!(find(store, "agent-0002", "req-create").await, None);
    assert_eq!(find(store, "agent-0001", "req-unit").await, None);
}

/// A second write with a used `(subject, request_id)` is `AlreadyExists` and
/// writes nothing — no second ticket, no number consumed (the next ticket
/// gets it), no transition — and the first result stays recorded. The same
/// `request_id` from another subject is an independent request.
pub async fn reused_idempotency_key_is_rejected_and_writes_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (first, first_event) = create_at(
        store,
        full_intake(),
        t0(),
        Some(key("agent-0001", "req-1", "CreateTicket")),
    )
    .await;
    assert_eq!(first.number, "20261123000001");

    let retry = Ticket::accept(full_intake(), String::new(), &agent(), t0() + micros(1));
    let retry_id = retry.ticket.id;
    let result = insert(
        store,
        retry,
        beijing_day(t0()),
        Some(key("agent-0001", "req-1", "CreateTicket")),
    )
    .await;
    assert!(
        is_already_exists(&result),
        "reused key must be AlreadyExists, got {result:?}"
    );
    assert!(
        is_not_found(&store.get_ticket(retry_id).await),
        "the rejected ticket is not stored"
    );
    assert_eq!(all_events(store, retry_id).await, vec![]);
    let listed = store
        .list_tickets(&TicketQuery::all(10))
        .await
        .expect("list_tickets");
    assert_eq!(listed, vec![first.clone()], "only the first ticket exists");
    assert_eq!(
        find(store, "agent-0001", "req-1").await,
        produced("CreateTicket", first.id.name()),
        "the key still points at the first ticket"
    );

    // Another subject may use the same request_id.
    let (second, _) = create_at(
        store,
        full_intake(),
        t0() + micros(2),
        Some(key("agent-0002", "req-1", "CreateTicket")),
    )
    .await;
    assert_eq!(
        second.number, "20261123000002",
        "the rejected create wrote nothing and its number went to the next ticket"
    );
    assert_eq!(
        find(store, "agent-0002", "req-1").await,
        produced("CreateTicket", second.id.name())
    );
    assert_eq!(
        find(store, "agent-0001", "req-1").await.map(|r| r.resource),
        Some(first.id.name())
    );

    // A transition with a used key is rejected the same way.
    let dispatch = first
        .apply(dispatch("d330106"), &agent(), t0() + micros(3))
        .expect("dispatch");
    let result = store
        .apply_transition(
            1,
            &dispatch,
            Some(key("agent-0001", "req-1", "DispatchTicket")),
        )
        .await;
    assert!(
        is_already_exists(&result),
        "reused key must be AlreadyExists, got {result:?}"
    );
    assert_stored(store, &first, "after a rejected transition").await;
    assert_eq!(all_events(store, first.id).await, vec![first_event]);

    // A unit with a used key: no unit.
    let u = unit("gas-company", UnitKind::Company, "330100", None);
    let result = store
        .create_unit(&u, Some(key("agent-0001", "req-1", "CreateUnit")))
        .await;
    assert!(
        is_already_exists(&result),
        "reused key must be AlreadyExists, got {result:?}"
    );
    assert!(
        is_not_found(&store.get_unit(&u.id).await),
        "the rejected unit is not stored"
    );
}

/// The purge deletes records written before the cutoff, oldest first, at
/// most `limit` a statement, and nothing newer; a purged key is free, so
/// its next use creates anew.
pub async fn expired_idempotency_keys_are_purged_oldest_first(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let mut tickets = Vec::new();
    for i in 0..5 {
        let (ticket, _) = create_at(
            store,
            full_intake(),
            t0() + micros(i),
            Some(key("agent-0001", &format!("req-{i}"), "CreateTicket")),
        )
        .await;
        tickets.push(ticket);
    }
    let cutoff = t0() + micros(3);
    assert_eq!(
        store
            .purge_idempotency_keys(cutoff, 2)
            .await
            .expect("purge"),
        2
    );
    assert_eq!(
        find(store, "agent-0001", "req-0").await,
        None,
        "oldest first"
    );
    assert_eq!(
        find(store, "agent-0001", "req-1").await,
        None,
        "oldest first"
    );
    assert!(find(store, "agent-0001", "req-2").await.is_some());
    assert_eq!(
        store
            .purge_idempotency_keys(cutoff, 2)
            .await
            .expect("purge"),
        1
    );
    assert_eq!(
        store
            .purge_idempotency_keys(cutoff, 2)
            .await
            .expect("purge"),
        0
    );
    for (i, ticket) in tickets.iter().enumerate() {
        let found = find(store, "agent-0001", &format!("req-{i}")).await;
        match i < 3 {
            true => assert_eq!(found, None, "req-{i} is past the cutoff"),
            false => assert_eq!(found, produced("CreateTicket", ticket.id.name()), "req-{i}"),
        }
        // The purge forgets keys, never what they produced.
        assert_stored(store, ticket, "after the purge").await;
    }

    // A purged key is a new request: a second ticket, recorded anew.
    let (again, _) = create_at(
        store,
        full_intake(),
        t0() + micros(10),
        Some(key("agent-0001", "req-0", "CreateTicket")),
    )
    .await;
    assert_ne!(again.id, tickets[0].id);
    assert_eq!(
        find(store, "agent-0001", "req-0").await,
        produced("CreateTicket", again.id.name())
    );
}
