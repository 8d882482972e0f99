//! Merging duplicates (并单): `apply_ticket_changes` commits the primary's
//! and every duplicate's change (rows, events, counters, idempotency
//! record) in one transaction or nothing; `duplicates_of` finds a
//! primary's duplicates; undoing a merge restores what it changed.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::{Store, TicketChange};
use hotline_domain::{
    Ticket, TicketState, Transition,
    calendar::CHINA_STANDARD_TIME,
    lifecycle::merge::{Duplicate, plan_merge, plan_unmerge},
    metrics::{Counter, deltas},
    ticket::{CloseReason, RequestType},
};

use super::fixtures::{
    agent, all_events, create_at, dispatch, find, ids, intake, is_conflict, key, produced,
    seed_units, step, t0,
};

fn change(before: &Ticket, transition: Transition) -> TicketChange {
    TicketChange {
        expected_version: before.version,
        counters: deltas(Some(before), &transition, CHINA_STANDARD_TIME),
        transition,
    }
}

/// The changes of merging `duplicates` into `primary` at `now`.
fn merge_changes(primary: &Ticket, duplicates: &[Ticket], now: DateTime<Utc>) -> Vec<TicketChange> {
    let offered: Vec<Duplicate<'_>> = duplicates
        .iter()
        .map(|ticket| Duplicate {
            ticket,
            has_duplicates: false,
        })
        .collect();
    let plan = plan_merge(primary, &offered, "同一事项", &agent(), now).expect("legal merge");
    let mut changes = vec![change(primary, plan.primary)];
    for (before, t) in duplicates.iter().zip(plan.duplicates) {
        changes.push(change(before, t));
    }
    changes
}

async fn get(store: &dyn Store, t: &Ticket) -> Ticket {
    store.get_ticket(t.id).await.expect("get_ticket")
}

/// A merge commits every ticket, event and counter together; the link
/// round-trips; the primary finds its duplicates; unmerging restores them.
pub async fn merging_commits_every_ticket_and_undoes(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let phone = Some("13800138000");
    let (primary, _) = create_at(
        store,
        intake("330106", RequestType::Complaint, phone),
        t0(),
        None,
    )
    .await;
    let later = t0() + TimeDelta::minutes(5);
    let (d1, _) = create_at(
        store,
        intake("330106", RequestType::Complaint, Some("13900139000")),
        later,
        None,
    )
    .await;
    let (d2, _) = create_at(
        store,
        intake("330106", RequestType::Complaint, None),
        later,
        None,
    )
    .await;
    let d1 = step(store, &d1, dispatch("market-regulation"), &agent(), later)
        .await
        .ticket;

    let now = t0() + TimeDelta::hours(1);
    let changes = merge_changes(&primary, &[d1.clone(), d2.clone()], now);
    let merge_key = key("agent-0001", "merge-1", "MergeTickets");
    store
        .apply_ticket_changes(&changes, Some(merge_key))
        .await
        .expect("merge commits");

    for c in &changes {
        let stored = store
            .get_ticket(c.transition.ticket.id)
            .await
            .expect("get_ticket");
        assert_eq!(
            stored, c.transition.ticket,
            "every ticket is stored as planned"
        );
        let events = all_events(store, stored.id).await;
        assert_eq!(events.last(), Some(&c.transition.event), "with its event");
    }
    let merged = get(store, &d1).await;
    assert_eq!(merged.state, TicketState::Merged);
    assert_eq!(merged.outcome.close_reason, Some(CloseReason::Merged));
    let link = merged.merged_into.expect("the link round-trips");
    assert_eq!(
        (link.primary, link.from_state, link.time),
        (primary.id, TicketState::Dispatched, now)
    );
    let duplicates = store
        .duplicates_of(primary.id)
        .await
        .expect("duplicates_of");
    let mut expected = vec![d1.id, d2.id];
    expected.sort();
    assert_eq!(ids(&duplicates), expected, "by id");
    let caller = duplicates.iter().find(|t| t.id == d1.id).expect("d1");
    assert_eq!(
        caller.intake.caller.phone.as_ref().map(|p| p.expose()),
        Some("13900139000"),
        "the duplicate's caller is read back (opened) with it"
    );
    assert!(
        store
            .duplicates_of(d1.id)
            .await
            .expect("duplicates_of")
            .is_empty()
    );
    assert_eq!(
        find(store, "agent-0001", "merge-1").await,
        produced("MergeTickets", primary.id.name()),
        "the key names the primary"
    );
    // The duplicate's round left the unit's counters with the merge.
    let counters = store.all_counters().await.expect("all_counters");
    let net = |counter: Counter| -> i64 {
        counters
            .iter()
            .filter(|d| d.counter == counter)
            .map(|d| d.delta)
            .sum()
    };
    assert_eq!(net(Counter::Merged), 2);

    // Undo d1's merge.
    let absorbed = get(store, &primary).await;
    let (p, d) =
        plan_unmerge(&absorbed, &merged, &agent(), now + TimeDelta::minutes(1)).expect("undo");
    let undo = vec![change(&absorbed, p), change(&merged, d)];
    store
        .apply_ticket_changes(&undo, None)
        .await
        .expect("unmerge commits");
    let restored = get(store, &d1).await;
    assert_eq!(restored.state, TicketState::Dispatched);
    assert_eq!(restored.merged_into, None);
    assert_eq!(restored.outcome.close_reason, None);
    assert_eq!(
        ids(&store
            .duplicates_of(primary.id)
            .await
            .expect("duplicates_of")),
        vec![d2.id]
    );
    let counters = store.all_counters().await.expect("all_counters");
    let merged_now: i64 = counters
        .iter()
        .filter(|d| d.counter == Counter::Merged)
        .map(|d| d.delta)
        .sum();
    assert_eq!(merged_now, 1);
}

/// If any ticket of a merge moved on since it was read, the merge is a
/// conflict and writes nothing: no ticket, no event, no key.
pub async fn a_stale_merge_writes_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (primary, _) =
        create_at(store, intake("330106", RequestType::Help, None), t0(), None).await;
    let (d1, _) = create_at(store, intake("330106", RequestType::Help, None), t0(), None).await;
    let (d2, _) = create_at(store, intake("330106", RequestType::Help, None), t0(), None).await;
    let now = t0() + TimeDelta::hours(1);
    let changes = merge_changes(&primary, &[d1.clone(), d2.clone()], now);
    // d2 is dispatched meanwhile (a concurrent verb).
    step(store, &d2, dispatch("market-regulation"), &agent(), now).await;

    let result = store
        .apply_ticket_changes(&changes, Some(key("agent-0001", "merge-2", "MergeTickets")))
        .await;
    assert!(is_conflict(&result), "{result:?}");
    assert_eq!(
        get(store, &primary).await,
        primary,
        "the primary is untouched"
    );
    assert_eq!(
        get(store, &d1).await,
        d1,
        "the first duplicate is untouched"
    );
    assert_eq!(all_events(store, primary.id).await.len(), 1);
    assert_eq!(all_events(store, d1.id).await.len(), 1);
    assert_eq!(find(store, "agent-0001", "merge-2").await, None);
    assert!(
        store
            .duplicates_of(primary.id)
            .await
            .expect("duplicates_of")
            .is_empty()
    );
}
