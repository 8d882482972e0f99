//! Round trips and transitions: what `get_ticket` returns, unknown ids,
//! `apply_transition` and optimistic versioning, and the event trail.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::Store;
use hotline_domain::{
    Action, Principal, SubjectCode, TicketId,
    lifecycle::IntakePatch,
    ticket::{
        Channel, CloseReason, EmergencyService, LegalChannel, RequestType, Satisfaction,
        TicketState, Urgency,
    },
};

use super::fixtures::{
    agent, all_events, assert_stored, create_at, dispatch, find, full_intake, handler, intake,
    is_conflict, is_not_found, key, micros, region, seed_units, step, t0, unit_id, utc,
};

/// `get_ticket` returns exactly what was stored: every intake field (caller
/// name and phone included), every outcome field after the transitions that
/// set them, lead unit, dispatch count, creator, version, and times to the
/// microsecond. Events round-trip too, payload included.
pub async fn get_ticket_round_trips_every_field(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let market = unit_id("market-regulation");
    let unit_user = handler(&market);

    // The full path: update, dispatch, sign, reply, callback, close.
    let (mut ticket, created) = create_at(store, full_intake(), t0(), None).await;
    assert_eq!(
        ticket.intake.caller.name.as_ref().map(|n| n.expose()),
        Some("张三")
    );
    assert_eq!(
        ticket.intake.caller.phone.as_ref().map(|p| p.expose()),
        Some("13800131234")
    );
    assert_stored(store, &ticket, "after create").await;
    let mut events = vec![created];

    let mut values = full_intake();
    values.urgency = Urgency::UtilityOutage;
    values.subject_code = Some(SubjectCode::parse("02.01").expect("valid subject"));
    values.region_code = region("330106002");
    values.address = "新地址".into();
    values.legacy_hotline = Some("12369".into());
    let patch = IntakePatch {
        values: Some(Box::new(values)),
        fields: vec![
            "urgency".into(),
            "subject_code".into(),
            "region_code".into(),
            "address".into(),
            "legacy_hotline".into(),
        ],
        // The store keeps the note with the ticket.
        region_note: Some("街道 330106002 不在区划目录中".into()),
    };
    let steps: Vec<(Action, Principal, DateTime<Utc>)> = vec![
        (
            Action::Update(patch),
            agent(),
            t0() + TimeDelta::minutes(1) + micros(1),
        ),
        (
            Action::dispatch(market.clone(), "请核查"),
            agent(),
            t0() + TimeDelta::minutes(2) + micros(2),
        ),
        (
            Action::Sign,
            unit_user.clone(),
            t0() + TimeDelta::hours(1) + micros(3),
        ),
        (
            Action::Reply {
                text: "已责令停工。".into(),
                contacted_citizen: true,
                after: Default::default(),
            },
            unit_user.clone(),
            t0() + TimeDelta::days(2) + micros(999_999),
        ),
        (
            Action::RecordCallback {
                satisfaction: Satisfaction::BasicallySatisfied,
                resolved: false,
                comment: "基本满意".into(),
            },
            agent(),
            t0() + TimeDelta::days(3) + micros(5),
        ),
        (
            Action::Close {
                reason: None,
                note: "办结".into(),
            },
            agent(),
            t0() + TimeDelta::days(3) + micros(6),
        ),
    ];
    for (action, actor, now) in steps {
        let verb = action.verb();
        let transition = step(store, &ticket, action, &actor, now).await;
        ticket = transition.ticket;
        events.push(transition.event);
        assert_stored(store, &ticket, &format!("after {verb}")).await;
    }
    let o = &ticket.outcome;
    assert_eq!(ticket.state, TicketState::Closed);
    assert_eq!(ticket.lead_unit.as_ref(), Some(&market));
    assert_eq!(ticket.dispatch_count, 1);
    assert_eq!(ticket.version, 7);
    assert_eq!(o.reply_contacted_citizen, Some(true));
    assert_eq!(
        o.reply_time,
        Some(t0() + TimeDelta::days(2) + micros(999_999))
    );
    assert_eq!(o.satisfaction, Some(Satisfaction::BasicallySatisfied));
    assert_eq!(o.resolved, Some(false));
    assert_eq!(o.callback_time, Some(t0() + TimeDelta::days(3) + micros(5)));
    assert_eq!(o.close_reason, Some(CloseReason::Completed));
    assert_eq!(
        all_events(store, ticket.id).await,
        events,
        "events round-trip"
    );

    // A dissatisfied callback closed with a stated reason.
    let (t, _) = create_at(store, full_intake(), t0() + micros(10), None).await;
    let t = step(store, &t, dispatch("d330106"), &agent(), t0() + micros(11))
        .await
        .ticket;
    let district = handler(&unit_id("d330106"));
    let t = step(store, &t, Action::Sign, &district, t0() + micros(12))
        .await
        .ticket;
    let t = step(
        store,
        &t,
        Action::Reply {
            text: "reply".into(),
            contacted_citizen: false,
            after: Default::default(),
        },
        &district,
        t0() + micros(13),
    )
    .await
    .ticket;
    let t = step(
        store,
        &t,
        Action::RecordCallback {
            satisfaction: Satisfaction::VeryDissatisfied,
            resolved: true,
            comment: String::new(),
        },
        &agent(),
        t0() + micros(14),
    )
    .await
    .ticket;
    assert_stored(store, &t, "after a dissatisfied callback").await;
    let t = step(
        store,
        &t,
        Action::Close {
            reason: Some(CloseReason::UnreasonableDemand),
            note: "诉求不合理".into(),
        },
        &agent(),
        t0() + micros(15),
    )
    .await
    .ticket;
    assert_eq!(t.outcome.reply_contacted_citizen, Some(false));
    assert_eq!(t.outcome.resolved, Some(true));
    assert_eq!(
        t.outcome.close_reason,
        Some(CloseReason::UnreasonableDemand)
    );
    assert_stored(store, &t, "after closing as unreasonable").await;

    // Resolved at intake: the answer.
    let (t, _) = create_at(store, full_intake(), t0() + micros(20), None).await;
    let t = step(
        store,
        &t,
        Action::ResolveAtIntake {
            answer: "营业时间为 9:00–17:00".into(),
            article_ids: Vec::new(),
        },
        &agent(),
        t0() + micros(21),
    )
    .await
    .ticket;
    assert_eq!(
        t.outcome.intake_answer.as_deref(),
        Some("营业时间为 9:00–17:00")
    );
    assert_stored(store, &t, "after resolve_at_intake").await;

    // Handed to an emergency line: service and note.
    let (t, _) = create_at(store, full_intake(), t0() + micros(30), None).await;
    let t = step(
        store,
        &t,
        Action::TransferEmergency {
            service: EmergencyService::Fire119,
            note: "燃气泄漏".into(),
        },
        &agent(),
        t0() + micros(31),
    )
    .await
    .ticket;
    assert_eq!(t.outcome.emergency_service, Some(EmergencyService::Fire119));
    assert_stored(store, &t, "after transfer_emergency").await;

    // Not accepted: legal channel and note.
    let (t, _) = create_at(store, full_intake(), t0() + micros(40), None).await;
    let t = step(
        store,
        &t,
        Action::MarkNotAccepted {
            channel: LegalChannel::AdministrativeReview,
            note: "请申请行政复议".into(),
        },
        &agent(),
        t0() + micros(41),
    )
    .await
    .ticket;
    assert_eq!(
        t.outcome.legal_channel,
        Some(LegalChannel::AdministrativeReview)
    );
    assert_eq!(
        t.outcome.disposition_note.as_deref(),
        Some("请申请行政复议")
    );
    assert_stored(store, &t, "after mark_not_accepted").await;

    // An anonymous caller without a phone, and a report (confidential by rule).
    let (t, _) = create_at(
        store,
        intake("110101", RequestType::Report, None),
        t0() + micros(50),
        None,
    )
    .await;
    assert!(t.intake.confidential);
    assert!(t.intake.caller.anonymous);
    assert_eq!(t.intake.caller.name, None);
    assert_eq!(t.intake.caller.phone, None);
    assert_stored(store, &t, "with an anonymous caller").await;

    // A landline number and a far-future time survive as well.
    let mut landline = intake("330106", RequestType::Other, Some("0571-87654321"));
    landline.channel = Channel::Transfer110;
    let (t, _) = create_at(
        store,
        landline,
        utc(2099, 12, 31, 23, 59, 59, 999_999),
        None,
    )
    .await;
    assert_eq!(
        t.intake.caller.phone.as_ref().map(|p| p.expose()),
        Some("057187654321")
    );
    assert_stored(store, &t, "with a landline").await;
}

/// Unknown ids are `NotFound`, not an empty value or an internal error.
pub async fn unknown_rows_are_not_found(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (known, _) = create_at(store, full_intake(), t0(), None).await;
    let unknown = TicketId::generate(t0());
    assert_ne!(known.id, unknown);
    assert!(
        is_not_found(&store.get_ticket(unknown).await),
        "get_ticket of an unknown id"
    );
    assert!(
        is_not_found(&store.get_unit(&unit_id("no-such-unit")).await),
        "get_unit of an unknown id"
    );
    assert!(
        is_not_found(&store.get_region(&region("990000")).await),
        "get_region of an unknown code"
    );
    assert_eq!(
        store
            .list_events(unknown, 0, 10)
            .await
            .expect("list_events"),
        vec![]
    );
    assert_eq!(
        store
            .count_pii_access(unknown)
            .await
            .expect("count_pii_access"),
        0
    );
    assert_eq!(find(store, "agent-0001", "never-used").await, None);
}

/// `apply_transition` at the current version stores the new ticket and
/// appends its event, in one go.
pub async fn apply_transition_commits_ticket_and_event(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (ticket, created) = create_at(store, full_intake(), t0(), None).await;
    let dispatch = ticket
        .apply(
            Action::dispatch(unit_id("d330106"), "属地处理"),
            &agent(),
            t0() + micros(1),
        )
        .expect("dispatch");
    store
        .apply_transition(1, &dispatch, None)
        .await
        .expect("apply_transition at version 1");
    assert_stored(store, &dispatch.ticket, "after dispatch").await;
    assert_eq!(dispatch.ticket.version, 2);
    assert_eq!(
        all_events(store, ticket.id).await,
        vec![created, dispatch.event.clone()]
    );

    // The next transition must use the new version.
    let sign = dispatch
        .ticket
        .apply(
            Action::Sign,
            &handler(&unit_id("d330106")),
            t0() + micros(2),
        )
        .expect("sign");
    store
        .apply_transition(2, &sign, None)
        .await
        .expect("apply_transition at version 2");
    assert_stored(store, &sign.ticket, "after sign").await;
    assert_eq!(all_events(store, ticket.id).await.len(), 3);
}

/// A stale `expected_version` is `Conflict`, and nothing is written: the
/// ticket is unchanged, no event is appended and the idempotency key is not
/// recorded.
pub async fn stale_version_conflicts_and_writes_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (v1, created) = create_at(store, full_intake(), t0(), None).await;
    let v2 = step(
        store,
        &v1,
        dispatch("market-regulation"),
        &agent(),
        t0() + micros(1),
    )
    .await;

    // Someone still holding version 1 tries another action.
    let stale = v1
        .apply(
            Action::ResolveAtIntake {
                answer: "late answer".into(),
                article_ids: Vec::new(),
            },
            &agent(),
            t0() + micros(2),
        )
        .expect("legal on version 1");
    let result = store
        .apply_transition(
            1,
            &stale,
            Some(key("agent-0001", "stale-1", "ResolveAtIntake")),
        )
        .await;
    assert!(
        is_conflict(&result),
        "stale version must conflict, got {result:?}"
    );
    assert_stored(store, &v2.ticket, "after a conflicting write").await;
    assert_eq!(
        all_events(store, v1.id).await,
        vec![created.clone(), v2.event.clone()]
    );
    assert_eq!(
        find(store, "agent-0001", "stale-1").await,
        None,
        "a conflicting write records no idempotency key"
    );

    // A version from the future conflicts as well.
    let ahead = v2
        .ticket
        .apply(
            Action::Sign,
            &handler(&unit_id("market-regulation")),
            t0() + micros(3),
        )
        .expect("sign");
    assert!(is_conflict(&store.apply_transition(7, &ahead, None).await));
    assert_stored(store, &v2.ticket, "after a future-version write").await;

    // A transition for a ticket that does not exist changes nothing either.
    let mut ghost = ahead.clone();
    ghost.ticket.id = TicketId::generate(t0());
    ghost.event.ticket_id = ghost.ticket.id;
    let result = store.apply_transition(2, &ghost, None).await;
    assert!(
        result.is_err(),
        "a transition of an unknown ticket must fail"
    );
    assert!(is_not_found(&store.get_ticket(ghost.ticket.id).await));
    assert_eq!(all_events(store, ghost.ticket.id).await, vec![]);
}

/// `list_events` returns events oldest first by sequence, only those after
/// `after`, at most `limit`; paging by the last sequence walks the trail.
pub async fn list_events_orders_and_pages(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let unit = unit_id("d330106");
    let (mut ticket, created) = create_at(store, full_intake(), t0(), None).await;
    // Another ticket's events must not leak into this trail.
    let (other, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    step(store, &other, dispatch(unit.as_str()), &agent(), t0()).await;

    let mut events = vec![created];
    let actions = [
        (Action::dispatch(unit.clone(), "n"), agent()),
        (Action::Sign, handler(&unit)),
        (
            Action::Reply {
                text: "done".into(),
                contacted_citizen: true,
                after: Default::default(),
            },
            handler(&unit),
        ),
        (
            Action::RecordCallback {
                satisfaction: Satisfaction::Satisfied,
                resolved: true,
                comment: String::new(),
            },
            agent(),
        ),
        (
            Action::Close {
                reason: None,
                note: String::new(),
            },
            agent(),
        ),
    ];
    // Event times deliberately go backwards: order is by sequence, not time.
    for (i, (action, actor)) in actions.into_iter().enumerate() {
        let now = t0() - micros(i as i64 + 1);
        let transition = step(store, &ticket, action, &actor, now).await;
        ticket = transition.ticket;
        events.push(transition.event);
    }
    let all = all_events(store, ticket.id).await;
    assert_eq!(all, events, "all events, oldest first");
    let sequences: Vec<i64> = all.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5, 6]);

    assert_eq!(
        store.list_events(ticket.id, 2, 2).await.expect("page"),
        events[2..4].to_vec()
    );
    assert_eq!(
        store.list_events(ticket.id, 5, 10).await.expect("page"),
        events[5..].to_vec()
    );
    assert_eq!(
        store.list_events(ticket.id, 6, 10).await.expect("page"),
        vec![]
    );
    assert_eq!(
        store.list_events(ticket.id, 0, 0).await.expect("page"),
        vec![]
    );
    assert_eq!(
        store.list_events(ticket.id, 0, 1).await.expect("page"),
        events[..1].to_vec()
    );

    for size in [1_u32, 2, 4, 6, 7] {
        let mut walked = Vec::new();
        let mut after = 0;
        loop {
            let page = store
                .list_events(ticket.id, after, size)
                .await
                .expect("page");
            assert!(page.len() <= size as usize);
            let Some(last) = page.last() else { break };
            after = last.sequence;
            let short = page.len() < size as usize;
            walked.extend(page);
            if short {
                break;
            }
            assert!(walked.len() <= events.len(), "paging must terminate");
        }
        assert_eq!(walked, events, "paging events by {size}");
    }
}
