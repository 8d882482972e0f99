//! What makes a retry safe, as far as the store holds it: a key's record
//! keeps the fingerprint of the request that first used it (so the service
//! can tell a retry from a reused key), concurrent uses of one key commit
//! exactly once and every loser can read the winner's record at once (so it
//! can replay it), and refused intakes leave no gap in the day's numbers.

use std::sync::Arc;

use crate::{
    IdempotencyKey, IdempotentResult, Store, StoreError, TicketQuery, testing::TestBackend,
};
use hotline_domain::{Action, directory::UnitKind, ticket::Ticket};

use super::{
    events::execute,
    fixtures::{
        agent, all_events, beijing_day, create_at, dispatch, find, full_intake, handler, insert,
        is_already_exists, keyed, micros, seed_units, t0, unit, unit_id,
    },
};

/// Concurrent callers per round: as many as a client's retry storm, more
/// than one group commit's batch holds on a quiet store.
const RACERS: i64 = 10;

fn recorded(operation: &str, resource: String, fingerprint: &str) -> Option<IdempotentResult> {
    Some(IdempotentResult {
        operation: operation.into(),
        resource,
        fingerprint: Some(fingerprint.into()),
    })
}

/// Every write that takes a key records the fingerprint it came with, and a
/// second use of the key — with the same or another fingerprint — is
/// refused and leaves the record, fingerprint included, as the first
/// request wrote it.
pub async fn idempotency_records_keep_the_first_fingerprint(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (ticket, _) = create_at(
        store,
        full_intake(),
        t0(),
        Some(keyed("agent-0001", "req-1", "CreateTicket", "fp-a")),
    )
    .await;
    assert_eq!(
        find(store, "agent-0001", "req-1").await,
        recorded("CreateTicket", ticket.id.name(), "fp-a")
    );
    let other = Ticket::accept(full_intake(), String::new(), &agent(), t0() + micros(1));
    let result = insert(
        store,
        other,
        beijing_day(t0()),
        Some(keyed("agent-0001", "req-1", "CreateTicket", "fp-b")),
    )
    .await;
    assert!(is_already_exists(&result), "reused key: {result:?}");
    assert_eq!(
        find(store, "agent-0001", "req-1").await,
        recorded("CreateTicket", ticket.id.name(), "fp-a"),
        "a refused use does not overwrite the fingerprint"
    );

    let dispatched = ticket
        .apply(dispatch("d330106"), &agent(), t0() + micros(2))
        .expect("dispatch");
    store
        .apply_transition(
            ticket.version,
            &dispatched,
            Some(keyed("agent-0001", "req-2", "DispatchTicket", "fp-c")),
        )
        .await
        .expect("dispatch with a key");
    let again = dispatched
        .ticket
        .apply(
            Action::Sign,
            &handler(&unit_id("d330106")),
            t0() + micros(3),
        )
        .expect("sign");
    let result = store
        .apply_transition(
            dispatched.ticket.version,
            &again,
            Some(keyed("agent-0001", "req-2", "DispatchTicket", "fp-d")),
        )
        .await;
    assert!(is_already_exists(&result), "reused key: {result:?}");
    assert_eq!(
        find(store, "agent-0001", "req-2").await,
        recorded("DispatchTicket", ticket.id.name(), "fp-c")
    );

    let u = unit("water-company", UnitKind::Company, "330100", None);
    store
        .create_unit(
            &u,
            Some(keyed("admin-1", "req-unit", "CreateUnit", "fp-unit")),
        )
        .await
        .expect("create_unit with a key");
    assert_eq!(
        find(store, "admin-1", "req-unit").await,
        recorded("CreateUnit", u.id.name(), "fp-unit")
    );
}

/// Records written before fingerprints were recorded (the row as the old
/// INSERT wrote it, without the column) read back with no fingerprint and
/// everything else intact, so their retries keep replaying.
pub async fn idempotency_records_from_before_fingerprints_have_none(backend: &TestBackend) {
    let database = backend.fresh_database().await;
    let (url, schema) = database.location();
    let (url, schema) = (url.to_owned(), schema.map(str::to_owned));
    let store = crate::testing::open_in_schema(&url, schema.as_deref(), 2)
        .await
        .expect("open test store");
    let (ticket, _) = create_at(store.as_ref(), full_intake(), t0(), None).await;
    execute(
        backend,
        &url,
        schema.as_deref(),
        format!(
            "INSERT INTO idempotency_keys (subject, request_id, operation, resource, \
             create_time_us) VALUES ('agent-0001', 'old-1', 'CreateTicket', '{}', 0);",
            ticket.id.name()
        ),
    )
    .await;
    assert_eq!(
        find(store.as_ref(), "agent-0001", "old-1").await,
        Some(IdempotentResult {
            operation: "CreateTicket".into(),
            resource: ticket.id.name(),
            fingerprint: None,
        })
    );
}

/// [`RACERS`] creates with one key at once (a client's retries racing its
/// first attempt), in several rounds, then as many transitions of one
/// ticket with one key: each time exactly one commits, every other is
/// refused (`AlreadyExists`, or `Conflict` for a transition that lost the
/// version race) and finds the winner's record as soon as it is refused,
/// and nothing else is written. The refused creates' numbers go to the
/// next tickets: the day's numbers stay dense.
pub async fn concurrent_uses_of_one_key_commit_once(store: Arc<dyn Store>) {
    const ROUNDS: i64 = 3;
    seed_units(store.as_ref()).await;
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let request_id = format!("create-{round}");
        let mut tasks = Vec::new();
        for i in 0..RACERS {
            let store = Arc::clone(&store);
            let key = keyed("agent-0001", &request_id, "CreateTicket", "fp-create");
            tasks.push(tokio::spawn(async move {
                let now = t0() + micros(round * 100 + i);
                let created = Ticket::accept(full_intake(), String::new(), &agent(), now);
                let result =
                    insert(store.as_ref(), created, beijing_day(now), Some(key.clone())).await;
                let seen = match &result {
                    Ok(_) => None,
                    Err(_) => Some(find(store.as_ref(), &key.subject, &key.request_id).await),
                };
                (result, seen)
            }));
        }
        let mut won = Vec::new();
        let mut seen_by_losers = Vec::new();
        for task in tasks {
            match task.await.expect("task") {
                (Ok(ticket), _) => won.push(ticket),
                (Err(StoreError::AlreadyExists(_)), Some(seen)) => seen_by_losers.push(seen),
                (other, _) => panic!("a racing create is stored or refused, got {other:?}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one create commits");
        let winner = won.remove(0);
        let record = recorded("CreateTicket", winner.id.name(), "fp-create");
        assert!(
            seen_by_losers.iter().all(|seen| *seen == record),
            "round {round}: every refused create finds the winner's record: {seen_by_losers:?}"
        );
        winners.push(winner);
    }
    let listed = store
        .list_tickets(&TicketQuery::all(100))
        .await
        .expect("list_tickets");
    assert_eq!(listed.len(), winners.len(), "one ticket per key");

    // The numbers the refused creates drew go to the next tickets.
    let mut numbers: Vec<String> = winners.iter().map(|t| t.number.clone()).collect();
    for i in 0..RACERS {
        let (t, _) = create_at(store.as_ref(), full_intake(), t0() + micros(1000 + i), None).await;
        numbers.push(t.number);
    }
    numbers.sort();
    let dense: Vec<String> = (1..=ROUNDS + RACERS)
        .map(|n| format!("20261123{n:06}"))
        .collect();
    assert_eq!(numbers, dense, "no number is lost to a refused create");

    let ticket = winners.remove(0);
    let first_events = all_events(store.as_ref(), ticket.id).await;
    let key = keyed("agent-0001", "dispatch-1", "DispatchTicket", "fp-dispatch");
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = Arc::clone(&store);
        let (ticket, key): (Ticket, IdempotencyKey) = (ticket.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let transition = ticket
                .apply(dispatch("d330106"), &agent(), t0() + micros(2000 + i))
                .expect("dispatch");
            let result = store
                .apply_transition(ticket.version, &transition, Some(key.clone()))
                .await;
            let seen = match &result {
                Ok(()) => None,
                Err(_) => Some(find(store.as_ref(), &key.subject, &key.request_id).await),
            };
            (result, seen)
        }));
    }
    let mut committed = 0;
    for task in tasks {
        match task.await.expect("task") {
            (Ok(()), _) => committed += 1,
            (Err(StoreError::AlreadyExists(_) | StoreError::Conflict(_)), Some(seen)) => {
                assert_eq!(
                    seen,
                    recorded("DispatchTicket", ticket.id.name(), "fp-dispatch"),
                    "a refused transition finds the winner's record"
                );
            }
            (other, _) => panic!("a racing transition commits or is refused, got {other:?}"),
        }
    }
    assert_eq!(committed, 1, "exactly one transition commits");
    let events = all_events(store.as_ref(), ticket.id).await;
    assert_eq!(
        events.len(),
        first_events.len() + 1,
        "one dispatched event, however many racers"
    );
    assert_eq!(
        find(store.as_ref(), "agent-0001", "dispatch-1").await,
        recorded("DispatchTicket", ticket.id.name(), "fp-dispatch")
    );
}
