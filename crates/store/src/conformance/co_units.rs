//! Co-handling units (协办): how they are stored, how they widen a unit
//! user's row scope, how a re-dispatch replaces them, and dispatch on
//! intake (`NewTicket.followups`).

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{Store, TicketQuery};
use hotline_domain::{
    Action, TicketId,
    access::ListScope,
    lifecycle::DEFAULT_DESIGNATE_AFTER,
    ticket::{RequestType, RoutingRef, Ticket, TicketState},
};

use super::fixtures::{
    agent, all_events, assert_stored, assignment, beijing_day, create_at, created_event,
    dispatch_with, find, full_intake, handler, ids, insert_with, intake, is_not_found, key, micros,
    produced, return_request, seed_more_units, seed_units, step, t0, unit_id, visible_to,
};

/// Every unit the fixtures know, and one that leads or co-handles nothing.
const UNITS: [&str; 6] = [
    "market-regulation",
    "d330106",
    "s330106001",
    "env-bureau",
    "police-330106",
    "nobody",
];

/// What a unit user's scope must list: tickets it leads or co-handles,
/// newest first.
fn expected_scope(tickets: &[&Ticket], unit: &str) -> Vec<TicketId> {
    let u = unit_id(unit);
    let mut out: Vec<&Ticket> = tickets
        .iter()
        .copied()
        .filter(|t| t.lead_unit.as_ref() == Some(&u) || t.co_units.contains(&u))
        .collect();
    out.sort_by_key(|t| std::cmp::Reverse((t.create_time, t.id)));
    ids(&out.into_iter().cloned().collect::<Vec<_>>())
}

/// Asserts every unit's scope against the tickets' current co-handling.
async fn assert_scopes(store: &dyn Store, tickets: &[&Ticket], when: &str) {
    for unit in UNITS {
        assert_eq!(
            visible_to(store, unit).await,
            expected_scope(tickets, unit),
            "scope of unit {unit} {when}"
        );
    }
}

fn unit_scope(unit: &str) -> ListScope {
    ListScope::Limited {
        region_prefix: None,
        unit: Some(unit_id(unit)),
    }
}

/// A dispatch with co-handling units round-trips through `get_ticket` and
/// `list_tickets` (order kept); a unit user's scope lists the tickets the
/// unit leads OR co-handles — and nothing else — combined with the other
/// filters, a region scope and paging, while the `lead_unit` filter still
/// means the lead unit only. Co-units survive transitions that do not
/// change them.
pub async fn co_units_round_trip_and_widen_the_unit_scope(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    seed_more_units(store).await;
    let at = |i: i64| t0() + TimeDelta::minutes(i) + micros(i);
    let later = |i: i64| at(i) + TimeDelta::seconds(5);

    // a: market leads, street and district co-handle (listed out of order).
    let (a, _) = create_at(store, full_intake(), at(0), None).await;
    let a = step(
        store,
        &a,
        dispatch_with("market-regulation", &["s330106001", "d330106"]),
        &agent(),
        later(0),
    )
    .await;
    assert!(a.co_units_changed);
    let a = a.ticket;
    assert_eq!(
        a.co_units,
        [unit_id("s330106001"), unit_id("d330106")],
        "fixture keeps the given order"
    );
    assert_stored(store, &a, "with two co-units").await;

    // b: the district leads alone.
    let (b, _) = create_at(store, full_intake(), at(1), None).await;
    let b = step(store, &b, dispatch_with("d330106", &[]), &agent(), later(1))
        .await
        .ticket;
    // c: the environment bureau leads, market co-handles.
    let (c, _) = create_at(store, full_intake(), at(2), None).await;
    let c = step(
        store,
        &c,
        dispatch_with("env-bureau", &["market-regulation"]),
        &agent(),
        later(2),
    )
    .await
    .ticket;
    // d: pending, in Beijing — only a region scope reaches it.
    let (d, _) = create_at(
        store,
        intake("110101", RequestType::Help, Some("13800131234")),
        at(3),
        None,
    )
    .await;
    // e: police leads with the bureau co-handling, then signs: the
    // co-units stay although the transition does not rewrite them.
    let (e, _) = create_at(store, full_intake(), at(4), None).await;
    let e = step(
        store,
        &e,
        dispatch_with("police-330106", &["env-bureau"]),
        &agent(),
        later(4),
    )
    .await
    .ticket;
    let sign = step(
        store,
        &e,
        Action::Sign,
        &handler(&unit_id("police-330106")),
        later(4) + micros(1),
    )
    .await;
    assert!(!sign.co_units_changed);
    let e = sign.ticket;
    assert_stored(store, &e, "after a sign that keeps the co-units").await;
    for t in [&b, &c, &d] {
        assert_stored(store, t, "in the co-unit fixture").await;
    }

    let all = [&a, &b, &c, &d, &e];
    assert_scopes(store, &all, "").await;
    assert_eq!(
        visible_to(store, "market-regulation").await,
        [c.id, a.id],
        "market leads a and co-handles c"
    );
    assert_eq!(visible_to(store, "d330106").await, [b.id, a.id]);
    assert_eq!(visible_to(store, "s330106001").await, [a.id]);
    assert_eq!(visible_to(store, "env-bureau").await, [e.id, c.id]);
    assert_eq!(visible_to(store, "police-330106").await, [e.id]);
    assert_eq!(visible_to(store, "nobody").await, []);

    // Whole tickets, co-units included, come back from a scoped list.
    let mut q = TicketQuery::all(100);
    q.scope = unit_scope("env-bureau");
    assert_eq!(
        store.list_tickets(&q).await.expect("list_tickets"),
        vec![e.clone(), c.clone()]
    );

    // The lead-unit filter is the lead unit only, even inside a scope.
    let mut q = TicketQuery::all(100);
    q.lead_unit = Some(unit_id("d330106"));
    assert_eq!(ids(&store.list_tickets(&q).await.expect("list")), [b.id]);
    q.scope = unit_scope("d330106");
    assert_eq!(ids(&store.list_tickets(&q).await.expect("list")), [b.id]);
    q.lead_unit = Some(unit_id("market-regulation"));
    assert_eq!(
        ids(&store.list_tickets(&q).await.expect("list")),
        [a.id],
        "co-handled by the district, led by market"
    );

    // Scope AND state.
    let mut q = TicketQuery::all(100);
    q.scope = unit_scope("env-bureau");
    q.states = vec![TicketState::InProgress];
    assert_eq!(ids(&store.list_tickets(&q).await.expect("list")), [e.id]);
    q.states = vec![TicketState::Dispatched];
    assert_eq!(ids(&store.list_tickets(&q).await.expect("list")), [c.id]);

    // A region scope OR a co-handling unit.
    let mut q = TicketQuery::all(100);
    q.scope = ListScope::Limited {
        region_prefix: Some("1101".into()),
        unit: Some(unit_id("s330106001")),
    };
    assert_eq!(
        ids(&store.list_tickets(&q).await.expect("list")),
        [d.id, a.id]
    );

    // Paging inside a scope, both orders.
    for oldest_first in [false, true] {
        let mut q = TicketQuery::all(1);
        q.scope = unit_scope("market-regulation");
        q.oldest_first = oldest_first;
        let mut walked = Vec::new();
        loop {
            let page = store.list_tickets(&q).await.expect("list page");
            let Some(last) = page.last() else { break };
            q.after = Some(crate::TicketCursor {
                create_time: last.create_time,
                id: last.id,
            });
            walked.extend(ids(&page));
            assert!(walked.len() <= 2, "scoped paging repeats rows");
        }
        let expected = if oldest_first {
            [a.id, c.id]
        } else {
            [c.id, a.id]
        };
        assert_eq!(
            walked, expected,
            "scoped paging, oldest_first={oldest_first}"
        );
    }
}

/// A transition that changes the co-handling units replaces the scope rows:
/// after a return is approved with a re-dispatch to other units, the old
/// lead and co-units no longer see the ticket and the new ones do; approval
/// back to triage clears them; a rejected return and a sign keep them. A
/// dispatch naming an unknown co-unit is `NotFound` and writes nothing.
pub async fn redispatch_replaces_co_unit_scope_rows(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    seed_more_units(store).await;
    let market = unit_id("market-regulation");
    let mut now = t0();
    let mut tick = || {
        now += TimeDelta::minutes(1) + micros(1);
        now
    };

    // A bystander ticket co-handled by the same units must stay visible to
    // them throughout: rows are replaced per ticket, not per unit.
    let (other, _) = create_at(store, full_intake(), tick(), None).await;
    let other = step(
        store,
        &other,
        dispatch_with("police-330106", &["d330106", "s330106001"]),
        &agent(),
        tick(),
    )
    .await
    .ticket;

    let (t, _) = create_at(store, full_intake(), tick(), None).await;
    let t = step(
        store,
        &t,
        dispatch_with("market-regulation", &["d330106", "s330106001"]),
        &agent(),
        tick(),
    )
    .await
    .ticket;
    assert_scopes(store, &[&other, &t], "after the first dispatch").await;
    assert_eq!(visible_to(store, "d330106").await, [t.id, other.id]);

    // Sign, return, reject: same units throughout.
    let t = step(store, &t, Action::Sign, &handler(&market), tick())
        .await
        .ticket;
    let t = step(
        store,
        &t,
        return_request("非本单位职责", "三定方案"),
        &handler(&market),
        tick(),
    )
    .await
    .ticket;
    assert_eq!(t.state, TicketState::ReturnRequested);
    assert_scopes(store, &[&other, &t], "while a return waits").await;
    let rejected = step(
        store,
        &t,
        Action::ArbitrateReturn {
            redispatch: None,
            approve: false,
            note: "驳回".into(),
        },
        &agent(),
        tick(),
    )
    .await;
    assert!(!rejected.co_units_changed);
    let t = rejected.ticket;
    assert_eq!(t.state, TicketState::InProgress);
    assert_stored(store, &t, "after a rejected return").await;
    assert_scopes(store, &[&other, &t], "after a rejected return").await;

    // Return again, approved with a re-dispatch to other units; one co-unit
    // (the street) stays, the district goes, the police joins.
    let t = step(
        store,
        &t,
        return_request("再次退回", "职责清单第 3 条"),
        &handler(&market),
        tick(),
    )
    .await
    .ticket;
    let approved = step(
        store,
        &t,
        Action::ArbitrateReturn {
            redispatch: Some(assignment(
                "env-bureau",
                &["s330106001", "police-330106"],
                None,
                DEFAULT_DESIGNATE_AFTER,
            )),
            approve: true,
            note: "改派环保".into(),
        },
        &agent(),
        tick(),
    )
    .await;
    assert!(approved.co_units_changed);
    let t = approved.ticket;
    assert_stored(store, &t, "after a re-dispatch with new co-units").await;
    assert_scopes(store, &[&other, &t], "after the re-dispatch").await;
    assert_eq!(
        visible_to(store, "d330106").await,
        [other.id],
        "the dropped co-unit no longer sees the ticket"
    );
    assert_eq!(
        visible_to(store, "market-regulation").await,
        [],
        "the old lead no longer sees the ticket"
    );
    assert_eq!(visible_to(store, "s330106001").await, [t.id, other.id]);
    assert_eq!(visible_to(store, "police-330106").await, [t.id, other.id]);
    assert_eq!(visible_to(store, "env-bureau").await, [t.id]);

    // Approved back to triage: no lead, no co-units, no unit sees it.
    let env = unit_id("env-bureau");
    let t = step(
        store,
        &t,
        return_request("不属于环保", ""),
        &handler(&env),
        tick(),
    )
    .await
    .ticket;
    let triage = step(
        store,
        &t,
        Action::ArbitrateReturn {
            redispatch: None,
            approve: true,
            note: "回到待派".into(),
        },
        &agent(),
        tick(),
    )
    .await;
    assert!(triage.co_units_changed);
    let t = triage.ticket;
    assert_eq!(t.co_units, []);
    assert_stored(store, &t, "after approval back to triage").await;
    assert_scopes(store, &[&other, &t], "back in triage").await;
    for unit in UNITS {
        assert!(
            !visible_to(store, unit).await.contains(&t.id),
            "{unit} must not see a ticket back in triage"
        );
    }

    // An unknown co-unit: NotFound, nothing written, scope unchanged.
    let events = all_events(store, t.id).await;
    let bad = t
        .apply(
            dispatch_with("d330106", &["market-regulation", "no-such-unit"]),
            &agent(),
            tick(),
        )
        .expect("the domain does not know the directory");
    let result = store
        .apply_transition(
            t.version,
            &bad,
            Some(key("agent-0001", "bad-co", "DispatchTicket")),
        )
        .await;
    assert!(
        is_not_found(&result),
        "a dispatch with an unknown co-unit must be NotFound, got {result:?}"
    );
    assert_stored(store, &t, "after a failed dispatch").await;
    assert_eq!(all_events(store, t.id).await, events);
    assert_eq!(find(store, "agent-0001", "bad-co").await, None);
    assert_scopes(store, &[&other, &t], "after a failed dispatch").await;

    // Dispatched again: the new co-unit sees it.
    let t = step(
        store,
        &t,
        dispatch_with("d330106", &["market-regulation"]),
        &agent(),
        tick(),
    )
    .await
    .ticket;
    assert_stored(store, &t, "after dispatch from triage").await;
    assert_scopes(store, &[&other, &t], "after dispatch from triage").await;
    assert_eq!(visible_to(store, "market-regulation").await, [t.id]);
}

/// `create_ticket` with followups (dispatch on intake) stores, in one
/// transaction, the last followup's ticket with its number, co-units and
/// routing reference, every event (`created` first, carrying the number)
/// and the idempotency key. If a followup cannot be stored (an unknown
/// co-unit), nothing is: no ticket, no event, no key, no number used up.
pub async fn create_ticket_with_followups_stores_every_event(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    seed_more_units(store).await;
    let now = t0();
    let local_day = beijing_day(now);
    let routing = RoutingRef {
        rule_id: Some("noise-night".into()),
        rule_set_version: 3,
        model_version: None,
    };

    // Auto-dispatch at intake: created + dispatched at the same instant.
    let created = Ticket::accept(full_intake(), String::new(), &agent(), now);
    let dispatched = created
        .ticket
        .apply(
            Action::Dispatch(assignment(
                "env-bureau",
                &["police-330106", "d330106"],
                Some(routing.clone()),
                DEFAULT_DESIGNATE_AFTER,
            )),
            &agent(),
            now,
        )
        .expect("dispatch");
    let stored = insert_with(
        store,
        created.clone(),
        vec![dispatched.clone()],
        local_day,
        Some(key("agent-0001", "auto-1", "CreateTicket")),
    )
    .await
    .expect("create_ticket with a dispatch");
    let mut expected = dispatched.ticket.clone();
    expected.number = "20261123000001".into();
    assert_eq!(
        stored, expected,
        "create returns the dispatched ticket, numbered"
    );
    assert_eq!(stored.state, TicketState::Dispatched);
    assert_eq!(stored.version, 2);
    assert_eq!(stored.dispatch_time, Some(now));
    assert_eq!(stored.routing, Some(routing));
    assert_stored(store, &expected, "after create with a dispatch").await;
    let created_event = created_event(&created, &expected.number);
    assert_eq!(
        all_events(store, stored.id).await,
        vec![created_event, dispatched.event.clone()],
        "both events, created first with the number"
    );
    assert_eq!(
        find(store, "agent-0001", "auto-1").await,
        produced("CreateTicket", stored.id.name())
    );
    for unit in ["env-bureau", "police-330106", "d330106"] {
        assert_eq!(
            visible_to(store, unit).await,
            [stored.id],
            "{unit} sees the auto-dispatched ticket"
        );
    }
    assert_eq!(visible_to(store, "market-regulation").await, []);

    // Two followups (a district fallback dispatch, then a note): the last
    // ticket is stored, with all three events.
    let now2 = now + micros(1);
    let created = Ticket::accept(
        intake("330106001", RequestType::Help, None),
        String::new(),
        &agent(),
        now2,
    );
    let fallback = RoutingRef {
        rule_id: None,
        rule_set_version: 3,
        model_version: None,
    };
    let first = created
        .ticket
        .apply(
            Action::Dispatch(assignment("d330106", &[], Some(fallback), 1)),
            &agent(),
            now2,
        )
        .expect("dispatch");
    let second = first
        .ticket
        .apply(
            Action::AddProgressNote {
                text: "自动派单备注".into(),
            },
            &agent(),
            now2,
        )
        .expect("note");
    let stored2 = insert_with(
        store,
        created.clone(),
        vec![first.clone(), second.clone()],
        local_day,
        None,
    )
    .await
    .expect("create_ticket with two followups");
    let mut expected2 = second.ticket.clone();
    expected2.number = "20261123000002".into();
    assert_eq!(stored2, expected2);
    assert_eq!(stored2.version, 3);
    assert!(stored2.designated);
    assert_stored(store, &expected2, "after create with two followups").await;
    let events: Vec<(i64, &str)> = all_events(store, stored2.id)
        .await
        .iter()
        .map(|e| (e.sequence, e.kind.event_type()))
        .collect();
    assert_eq!(
        events,
        [(1, "created"), (2, "dispatched"), (3, "progress_noted")]
    );

    // A followup that cannot be stored: nothing is.
    let now3 = now + micros(2);
    let created = Ticket::accept(full_intake(), String::new(), &agent(), now3);
    let bad = created
        .ticket
        .apply(
            dispatch_with("env-bureau", &["no-such-unit"]),
            &agent(),
            now3,
        )
        .expect("the domain does not know the directory");
    let result = insert_with(
        store,
        created.clone(),
        vec![bad],
        local_day,
        Some(key("agent-0001", "auto-bad", "CreateTicket")),
    )
    .await;
    assert!(
        is_not_found(&result),
        "a followup to an unknown co-unit must be NotFound, got {result:?}"
    );
    assert!(is_not_found(&store.get_ticket(created.ticket.id).await));
    assert_eq!(all_events(store, created.ticket.id).await, vec![]);
    assert_eq!(find(store, "agent-0001", "auto-bad").await, None);
    assert_eq!(visible_to(store, "env-bureau").await, [stored.id]);
    let (next, _) = create_at(store, full_intake(), now3, None).await;
    assert_eq!(
        next.number, "20261123000003",
        "the failed create wrote nothing; the number it took goes to the next ticket"
    );
    assert_eq!(
        store
            .list_tickets(&TicketQuery::all(100))
            .await
            .expect("list")
            .len(),
        3
    );
}
