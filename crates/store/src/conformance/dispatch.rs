//! What a dispatch records on the ticket — designation, dispatch time, the
//! routing reference — and the return (退单) waiting for arbitration.

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{Store, TicketQuery};
use hotline_domain::{
    Action,
    lifecycle::DEFAULT_DESIGNATE_AFTER,
    ticket::{PendingReturn, RoutingRef, Ticket, TicketState},
};

use super::fixtures::{
    agent, assert_stored, assignment, create_at, full_intake, handler, ids, micros, return_request,
    seed_more_units, seed_units, step, t0, unit_id, utc,
};

/// `designated`, `dispatch_time` (to the microsecond), the routing
/// reference (with a rule id, and the fallback's without one) and
/// `pending_return` (from `dispatched` and from `in_progress`, reason and
/// legal basis verbatim, empty included) round-trip through `get_ticket`
/// and `list_tickets`; arbitration clears `pending_return` — rejected,
/// approved with a re-dispatch, or approved back to triage (which also
/// clears lead, co-units, designation, dispatch time and routing).
pub async fn dispatch_and_return_fields_round_trip(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    seed_more_units(store).await;
    let market = unit_id("market-regulation");
    let district = unit_id("d330106");
    let mut latest: Vec<Ticket> = Vec::new();

    // Designated on its first dispatch, by a rule; odd microseconds.
    let (t, _) = create_at(store, full_intake(), t0(), None).await;
    let dispatch_time = utc(2026, 11, 23, 2, 0, 0, 999_999);
    let by_rule = RoutingRef {
        rule_id: Some("noise-night".into()),
        rule_set_version: 12,
        model_version: None,
    };
    let t = step(
        store,
        &t,
        Action::Dispatch(assignment(
            "env-bureau",
            &["police-330106"],
            Some(by_rule.clone()),
            1,
        )),
        &agent(),
        dispatch_time,
    )
    .await
    .ticket;
    assert!(t.designated);
    assert_eq!(t.dispatch_time, Some(dispatch_time));
    assert_eq!(t.routing, Some(by_rule.clone()));
    assert_stored(store, &t, "designated, routed by a rule").await;
    // Signing keeps all of it.
    let t = step(
        store,
        &t,
        Action::Sign,
        &handler(&unit_id("env-bureau")),
        dispatch_time + micros(1),
    )
    .await
    .ticket;
    assert_eq!(t.dispatch_time, Some(dispatch_time));
    assert_stored(store, &t, "designated, after sign").await;
    latest.push(t);

    // The dispatch model: a routing reference with a model version and
    // no rule id (the fallback's, without either, is in co_units.rs).
    let (t, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    let first_dispatch = utc(2026, 11, 23, 3, 0, 0, 1);
    let fallback = RoutingRef {
        rule_id: None,
        rule_set_version: 7,
        model_version: Some(3),
    };
    let t = step(
        store,
        &t,
        Action::Dispatch(assignment(
            "market-regulation",
            &[],
            Some(fallback.clone()),
            DEFAULT_DESIGNATE_AFTER,
        )),
        &agent(),
        first_dispatch,
    )
    .await
    .ticket;
    assert!(!t.designated);
    assert_eq!(t.routing, Some(fallback.clone()));
    assert_stored(store, &t, "routed by the dispatch model").await;

    // Returned from `dispatched`.
    let asked = first_dispatch + TimeDelta::hours(2) + micros(654_321);
    let reason = "非本单位职责：\"占道经营\" 属城管\n第二行 \\ 100%";
    let basis = "《杭州市城市管理条例》第 12 条";
    let t = step(
        store,
        &t,
        return_request(reason, basis),
        &handler(&market),
        asked,
    )
    .await
    .ticket;
    assert_eq!(t.state, TicketState::ReturnRequested);
    assert_eq!(
        t.pending_return,
        Some(PendingReturn {
            from: TicketState::Dispatched,
            reason: reason.into(),
            legal_basis: basis.into(),
            time: asked,
        })
    );
    assert_stored(store, &t, "with a return pending from dispatched").await;

    // Rejected: back to `dispatched`, nothing pending, clock not reset.
    let t = step(
        store,
        &t,
        Action::ArbitrateReturn {
            redispatch: None,
            approve: false,
            note: "驳回".into(),
        },
        &agent(),
        asked + micros(1),
    )
    .await
    .ticket;
    assert_eq!(t.state, TicketState::Dispatched);
    assert_eq!(t.pending_return, None);
    assert_eq!(t.dispatch_time, Some(first_dispatch));
    assert_eq!(t.routing, Some(fallback));
    assert_stored(store, &t, "after a rejected return").await;

    // Returned from `in_progress`, approved with a manual re-dispatch.
    let t = step(
        store,
        &t,
        Action::Sign,
        &handler(&market),
        asked + micros(2),
    )
    .await
    .ticket;
    let asked2 = asked + micros(3);
    let t = step(
        store,
        &t,
        return_request("再退", "依据"),
        &handler(&market),
        asked2,
    )
    .await
    .ticket;
    assert_eq!(
        t.pending_return.as_ref().map(|p| (p.from, p.time)),
        Some((TicketState::InProgress, asked2))
    );
    assert_stored(store, &t, "with a return pending from in_progress").await;
    let redispatched_at = asked2 + TimeDelta::minutes(5) + micros(5);
    let t = step(
        store,
        &t,
        Action::ArbitrateReturn {
            redispatch: Some(assignment(
                "d330106",
                &["s330106001"],
                None,
                DEFAULT_DESIGNATE_AFTER,
            )),
            approve: true,
            note: "改派属地".into(),
        },
        &agent(),
        redispatched_at,
    )
    .await
    .ticket;
    assert_eq!(t.pending_return, None);
    assert_eq!(t.routing, None, "a manual re-dispatch has no routing");
    assert_eq!(t.dispatch_time, Some(redispatched_at));
    assert_eq!(t.dispatch_count, 2);
    assert!(!t.designated);
    assert_stored(store, &t, "after a return approved with a re-dispatch").await;

    // The third dispatch is a designation.
    let t = step(
        store,
        &t,
        return_request("", ""),
        &handler(&district),
        redispatched_at + micros(1),
    )
    .await
    .ticket;
    assert_eq!(
        t.pending_return
            .as_ref()
            .map(|p| (p.reason.as_str(), p.legal_basis.as_str())),
        Some(("", ""))
    );
    assert_stored(store, &t, "with a return with empty texts").await;
    let t = step(
        store,
        &t,
        Action::ArbitrateReturn {
            redispatch: Some(assignment(
                "police-330106",
                &[],
                None,
                DEFAULT_DESIGNATE_AFTER,
            )),
            approve: true,
            note: "指定".into(),
        },
        &agent(),
        redispatched_at + micros(2),
    )
    .await
    .ticket;
    assert_eq!(t.dispatch_count, 3);
    assert!(t.designated);
    assert_stored(store, &t, "designated on the third dispatch").await;
    latest.push(t);

    // Approved back to triage: everything about the dispatch is cleared.
    let (t, _) = create_at(store, full_intake(), t0() + micros(2), None).await;
    let t = step(
        store,
        &t,
        Action::Dispatch(assignment(
            "market-regulation",
            &["d330106"],
            Some(by_rule),
            1,
        )),
        &agent(),
        t0() + TimeDelta::minutes(1),
    )
    .await
    .ticket;
    assert!(t.designated);
    // A designated ticket cannot be returned; dispatch another one.
    assert!(
        t.apply(
            return_request("x", "y"),
            &handler(&market),
            t0() + TimeDelta::minutes(2)
        )
        .is_err()
    );
    latest.push(t);
    let (t, _) = create_at(store, full_intake(), t0() + micros(3), None).await;
    let t = step(
        store,
        &t,
        Action::Dispatch(assignment(
            "market-regulation",
            &["d330106"],
            Some(RoutingRef {
                rule_id: Some("market".into()),
                rule_set_version: 2,
                model_version: None,
            }),
            DEFAULT_DESIGNATE_AFTER,
        )),
        &agent(),
        t0() + TimeDelta::minutes(1),
    )
    .await
    .ticket;
    let t = step(
        store,
        &t,
        return_request("退回", "依据"),
        &handler(&market),
        t0() + TimeDelta::minutes(2),
    )
    .await
    .ticket;
    let t = step(
        store,
        &t,
        Action::ArbitrateReturn {
            redispatch: None,
            approve: true,
            note: "回待派".into(),
        },
        &agent(),
        t0() + TimeDelta::minutes(3),
    )
    .await
    .ticket;
    assert_eq!(t.state, TicketState::PendingDispatch);
    assert_eq!(t.lead_unit, None);
    assert_eq!(t.co_units, []);
    assert!(!t.designated);
    assert_eq!(t.dispatch_time, None);
    assert_eq!(t.routing, None);
    assert_eq!(t.pending_return, None);
    assert_eq!(t.dispatch_count, 1, "the count of dispatches stays");
    assert_stored(store, &t, "after a return approved back to triage").await;
    latest.push(t);

    // Left waiting for arbitration.
    let (t, _) = create_at(store, full_intake(), t0() + micros(4), None).await;
    let t = step(
        store,
        &t,
        Action::Dispatch(assignment("d330106", &[], None, DEFAULT_DESIGNATE_AFTER)),
        &agent(),
        t0() + TimeDelta::minutes(1),
    )
    .await
    .ticket;
    let t = step(
        store,
        &t,
        return_request("待仲裁", "依据"),
        &handler(&district),
        t0() + TimeDelta::minutes(2) + micros(7),
    )
    .await
    .ticket;
    assert!(t.pending_return.is_some());
    latest.push(t);

    // Lists return the same fields.
    latest.sort_by_key(|t| std::cmp::Reverse((t.create_time, t.id)));
    let listed = store
        .list_tickets(&TicketQuery::all(100))
        .await
        .expect("list_tickets");
    assert_eq!(ids(&listed), ids(&latest));
    assert_eq!(listed, latest, "list_tickets returns the same fields");
}
