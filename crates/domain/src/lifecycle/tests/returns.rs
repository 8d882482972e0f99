//! Dispatch rounds, returns (退单), the centre's arbitration and progress notes.

use serde_json::json;

use super::*;
use crate::ticket::PendingReturn;

const RETURNED_BY: &str = "units/water-works";

/// When the first round is dispatched in these tests.
fn at() -> DateTime<Utc> {
    t0() + TimeDelta::hours(1)
}

/// The first round: water-works leads, market-regulation co-handles, rule
/// r-17 of rule set 4 chose them.
fn first_round() -> Assignment {
    assignment(
        "water-works",
        &["market-regulation"],
        routed(Some("r-17"), 4),
    )
}

/// A fresh ticket dispatched at [`at`] in the first round.
fn dispatched() -> Ticket {
    step_at(&fresh(), Action::Dispatch(first_round()), &agent(), at())
}

/// The same round, signed for an hour later.
fn signed() -> Ticket {
    let hour_later = at() + TimeDelta::hours(1);
    step_at(&dispatched(), Action::Sign, &handler(), hour_later)
}

/// Applies a legal action with [`step_at`]'s checks and returns the whole
/// transition.
fn transition_at(
    ticket: &Ticket,
    action: Action,
    actor: &Principal,
    now: DateTime<Utc>,
) -> Transition {
    let transition = ticket.apply(action.clone(), actor, now).unwrap();
    assert_eq!(step_at(ticket, action, actor, now), transition.ticket);
    transition
}

/// The code of a precondition failure.
pub(super) fn precondition(err: &DomainError) -> &'static str {
    match err {
        DomainError::PreconditionFailed { kind, .. } => kind,
        other => panic!("expected a precondition failure, got {other:?}"),
    }
}

fn return_fails(ticket: &Ticket, action: Action, now: DateTime<Utc>) -> DomainError {
    ticket.apply(action, &handler(), now).unwrap_err()
}

fn return_is_accepted(ticket: &Ticket, action: Action, now: DateTime<Utc>) {
    let t = step_at(ticket, action, &handler(), now);
    assert_eq!(t.state, S::ReturnRequested);
}

fn payload_keys(payload: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = payload
        .as_object()
        .unwrap_or_else(|| panic!("payload is not an object: {payload}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn a_return_inside_the_window_asks_the_centre_to_arbitrate() {
    for before in [dispatched(), signed()] {
        let asked = at() + TimeDelta::hours(5);
        let Transition {
            ticket,
            event,
            co_units_changed,
        } = transition_at(&before, return_it(), &handler(), asked);
        assert_eq!(ticket.state, S::ReturnRequested);
        let pending = PendingReturn {
            from: before.state,
            reason: "不属本单位职责".into(),
            legal_basis: "《城市供水条例》第二十条".into(),
            time: asked,
        };
        assert_eq!(ticket.pending_return, Some(pending));
        // The assignment stands while the centre decides.
        let mut expected = before.clone();
        expected.state = S::ReturnRequested;
        expected.pending_return = ticket.pending_return.clone();
        expected.version += 1;
        expected.update_time = asked;
        assert_eq!(ticket, expected);
        assert!(!co_units_changed);
        assert_eq!(event.kind.event_type(), "return_requested");
        let expected = json!({
            "unit": RETURNED_BY,
            "reason": "不属本单位职责",
            "legal_basis": "《城市供水条例》第二十条",
        });
        assert_eq!(payload(&event), expected);
    }
}

#[test]
fn the_return_window_admits_its_last_instant_and_not_one_microsecond_more() {
    let edge = at() + window();
    let late = edge + TimeDelta::microseconds(1);
    // Signing does not restart the window: it counts from the dispatch.
    for ticket in [dispatched(), signed()] {
        return_is_accepted(&ticket, return_it(), edge);
        let err = return_fails(&ticket, return_it(), late);
        assert_eq!(precondition(&err), "RETURN_WINDOW", "{}", ticket.state);
        let closes = edge.to_rfc3339();
        assert!(
            err.to_string().contains(&closes),
            "{err} should name {closes}"
        );
    }

    let ticket = dispatched();
    let two_hours = TimeDelta::hours(2);
    return_is_accepted(&ticket, return_within(two_hours), at() + two_hours);
    let err = return_fails(
        &ticket,
        return_within(two_hours),
        at() + two_hours + TimeDelta::microseconds(1),
    );
    assert_eq!(precondition(&err), "RETURN_WINDOW");

    // A zero window admits only the instant of dispatch.
    return_is_accepted(&ticket, return_within(TimeDelta::zero()), at());
    let one_us = at() + TimeDelta::microseconds(1);
    let err = return_fails(&ticket, return_within(TimeDelta::zero()), one_us);
    assert_eq!(precondition(&err), "RETURN_WINDOW");
}

#[test]
fn the_third_dispatch_is_a_designation_that_cannot_be_returned() {
    let first = run([dispatch()]);
    assert_eq!((first.dispatch_count, first.designated), (1, false));

    let to_market = assignment("market-regulation", &[], None);
    let second = run([dispatch(), return_it(), approve(Some(to_market.clone()))]);
    assert_eq!((second.dispatch_count, second.designated), (2, false));
    assert_eq!(step(&second, return_it()).state, S::ReturnRequested);

    let to_district = assignment("d330106", &[], None);
    let third = step(
        &step(&second, return_it()),
        approve(Some(to_district.clone())),
    );
    assert_eq!((third.dispatch_count, third.designated), (3, true));
    assert_eq!(third.lead_unit, Some(unit("d330106")));

    // Inside the window, dispatched or in progress: still designated.
    let in_progress = step(&third, Action::Sign);
    for ticket in [&third, &in_progress] {
        let soon = ticket.update_time + TimeDelta::minutes(1);
        let err = return_fails(ticket, return_it(), soon);
        assert_eq!(precondition(&err), "DESIGNATED", "{}", ticket.state);
    }
    // The designated unit handles it to the end.
    let replied = step(&step(&in_progress, progress_note()), reply());
    assert_eq!(replied.state, S::AwaitingCallback);

    // Rounds that went back to triage count too.
    let via_triage = run([
        dispatch(),
        return_it(),
        approve(None),
        Action::Dispatch(to_market),
        return_it(),
        approve(None),
        Action::Dispatch(to_district),
    ]);
    assert_eq!(
        (via_triage.dispatch_count, via_triage.designated),
        (3, true)
    );
    let soon = via_triage.update_time + TimeDelta::minutes(1);
    let err = return_fails(&via_triage, return_it(), soon);
    assert_eq!(precondition(&err), "DESIGNATED");
}

#[test]
fn the_designation_threshold_comes_with_the_assignment() {
    let with_threshold = |designate_after| {
        Action::Dispatch(Assignment {
            designate_after,
            ..assignment("water-works", &[], None)
        })
    };
    let designated_at_once = run([with_threshold(1)]);
    assert!(designated_at_once.designated);
    let soon = designated_at_once.update_time + TimeDelta::minutes(1);
    let err = return_fails(&designated_at_once, return_it(), soon);
    assert_eq!(precondition(&err), "DESIGNATED");

    let second_designated = run([
        with_threshold(2),
        return_it(),
        approve(Some(Assignment {
            designate_after: 2,
            ..assignment("market-regulation", &[], None)
        })),
    ]);
    assert_eq!(
        (
            second_designated.dispatch_count,
            second_designated.designated
        ),
        (2, true)
    );

    let manual = Action::dispatch(unit("water-works"), "人工派单");
    let expected = Assignment {
        unit: unit("water-works"),
        co_units: Vec::new(),
        note: "人工派单".into(),
        routing: None,
        designate_after: 3,
        timing: None,
    };
    assert_eq!(manual, Action::Dispatch(expected));
}

#[test]
fn approving_with_a_redispatch_starts_a_new_round() {
    let asked = step_at(
        &dispatched(),
        return_it(),
        &handler(),
        at() + TimeDelta::hours(2),
    );
    // Decided after the first round's window closed: the new round has its own.
    let decided = at() + TimeDelta::hours(30);
    let redispatch = assignment(
        "housing-bureau",
        &["d330106", "market-regulation"],
        routed(Some("r-9"), 5),
    );
    let Transition {
        ticket,
        event,
        co_units_changed,
    } = transition_at(&asked, approve(Some(redispatch)), &agent(), decided);
    assert_eq!(ticket.state, S::Dispatched);
    assert_eq!(ticket.lead_unit, Some(unit("housing-bureau")));
    let co = vec![unit("d330106"), unit("market-regulation")];
    assert_eq!(ticket.co_units, co);
    assert!(co_units_changed);
    assert_eq!((ticket.dispatch_count, ticket.designated), (2, false));
    assert_eq!(ticket.dispatch_time, Some(decided));
    assert_eq!(ticket.routing, routed(Some("r-9"), 5));
    assert_eq!(ticket.pending_return, None);

    assert_eq!(event.kind.event_type(), "return_approved");
    let keys = [
        "arbitration_note",
        "co_units",
        "designated",
        "dispatch_count",
        "lead_unit",
        "note",
        "returned_by",
        "rule_id",
        "rule_set_version",
    ];
    assert_eq!(payload_keys(&payload(&event)), keys);
    let p = &payload(&event);
    assert_eq!(p["returned_by"], RETURNED_BY);
    // The new unit reads why it got the ticket; the centre's ruling is kept apart.
    assert_eq!(
        (&p["note"], &p["arbitration_note"]),
        (&json!("按责转办"), &json!("退单理由成立"))
    );
    assert_eq!(p["lead_unit"], "units/housing-bureau");
    assert_eq!(
        p["co_units"],
        json!(["units/d330106", "units/market-regulation"])
    );
    assert_eq!(
        (&p["dispatch_count"], &p["designated"]),
        (&json!(2), &json!(false))
    );
    assert_eq!(
        (&p["rule_id"], &p["rule_set_version"]),
        (&json!("r-9"), &json!(5))
    );

    return_is_accepted(&ticket, return_it(), decided + window());
    let late = decided + window() + TimeDelta::microseconds(1);
    let err = return_fails(&ticket, return_it(), late);
    assert_eq!(precondition(&err), "RETURN_WINDOW");

    // The same co-handlers (here none) under a new lead is no co-unit change.
    let plain = run([dispatch(), return_it()]);
    let to_market = approve(Some(assignment("market-regulation", &[], None)));
    let moved = plain.apply(to_market, &agent(), plain.update_time).unwrap();
    assert_eq!(moved.ticket.lead_unit, Some(unit("market-regulation")));
    assert!(!moved.co_units_changed);
}

/// The unit the ticket is re-dispatched to learns why, as on any dispatch,
/// even when the centre's ruling says something else.
#[test]
fn approving_with_a_redispatch_keeps_both_notes() {
    let asked = run([dispatch(), return_it()]);
    let redispatch = Assignment {
        note: "属住建职责，请办理".into(),
        ..assignment("housing-bureau", &[], None)
    };
    let event = asked
        .apply(approve(Some(redispatch)), &agent(), asked.update_time)
        .unwrap()
        .event;
    assert_eq!(payload(&event)["note"], "属住建职责，请办理");
    assert_eq!(payload(&event)["arbitration_note"], "退单理由成立");
}

#[test]
fn approving_to_triage_clears_the_assignment() {
    let asked = step_at(
        &signed(),
        return_it(),
        &handler(),
        at() + TimeDelta::hours(2),
    );
    let decided = at() + TimeDelta::hours(3);
    let Transition {
        ticket,
        event,
        co_units_changed,
    } = transition_at(&asked, approve(None), &agent(), decided);
    assert_eq!(ticket.state, S::PendingDispatch);
    assert_eq!((&ticket.lead_unit, &ticket.co_units), (&None, &vec![]));
    assert!(co_units_changed);
    assert_eq!((ticket.dispatch_time, &ticket.routing), (None, &None));
    assert!(!ticket.designated);
    assert_eq!(ticket.pending_return, None);
    assert_eq!(ticket.dispatch_count, 1, "past dispatches still count");
    assert_eq!(event.kind.event_type(), "return_approved");
    let expected =
        json!({ "returned_by": RETURNED_BY, "to": "triage", "arbitration_note": "退单理由成立" });
    assert_eq!(payload(&event), expected);

    // From triage the agent dispatches again or disposes of it at intake.
    let again = step(&ticket, dispatch());
    assert_eq!((again.dispatch_count, again.designated), (2, false));
    assert_eq!(again.dispatch_time, Some(again.update_time));
    assert_eq!(step(&ticket, resolve()).state, S::ResolvedAtIntake);

    // Without co-handlers there is no co-unit change.
    let plain = run([dispatch(), return_it()]);
    let triaged = plain
        .apply(approve(None), &agent(), plain.update_time)
        .unwrap();
    assert!(!triaged.co_units_changed);
}

#[test]
fn rejecting_a_return_restores_the_exact_previous_state() {
    for before in [dispatched(), signed()] {
        let asked = step_at(&before, return_it(), &handler(), at() + TimeDelta::hours(2));
        let decided = at() + TimeDelta::hours(20);
        let Transition {
            ticket,
            event,
            co_units_changed,
        } = transition_at(&asked, reject(), &agent(), decided);
        let mut expected = before.clone();
        expected.version += 2;
        expected.update_time = decided;
        assert_eq!(ticket, expected, "back to {}", before.state);
        assert_eq!(ticket.dispatch_time, Some(at()), "the clock is not reset");
        assert!(!co_units_changed);
        assert_eq!(event.kind.event_type(), "return_rejected");
        let expected =
            json!({ "returned_by": RETURNED_BY, "arbitration_note": "属本单位职责，请继续办理" });
        assert_eq!(payload(&event), expected);

        // The window still counts from the original dispatch.
        return_is_accepted(&ticket, return_it(), at() + window());
        let late = at() + window() + TimeDelta::microseconds(1);
        let err = return_fails(&ticket, return_it(), late);
        assert_eq!(precondition(&err), "RETURN_WINDOW");

        // A rejection never reassigns, whatever else the request carries.
        let with_redispatch = Action::ArbitrateReturn {
            redispatch: Some(assignment("housing-bureau", &["d330106"], None)),
            approve: false,
            note: "属本单位职责，请继续办理".into(),
        };
        let same = asked.apply(with_redispatch, &agent(), decided).unwrap();
        assert_eq!(same.ticket, ticket);
        assert_eq!(same.event.kind.event_type(), "return_rejected");
    }
    // The round continues where it stopped.
    let resumed = step(
        &step(&step(&dispatched(), return_it()), reject()),
        Action::Sign,
    );
    assert_eq!(resumed.state, S::InProgress);
}

#[test]
fn progress_notes_change_nothing_but_the_version() {
    for before in [dispatched(), signed()] {
        let now = before.update_time + TimeDelta::hours(1);
        for actor in [handler(), agent()] {
            let Transition {
                ticket,
                event,
                co_units_changed,
            } = transition_at(&before, progress_note(), &actor, now);
            let mut expected = before.clone();
            expected.version += 1;
            expected.update_time = now;
            assert_eq!(ticket, expected);
            assert!(!co_units_changed);
            assert_eq!(event.kind.event_type(), "progress_noted");
            assert_eq!(
                (event.from_state, event.to_state),
                (Some(before.state), before.state)
            );
            assert_eq!(payload(&event), json!({ "text": "已派员现场查看" }));
        }
    }

    let mut merged = dispatched();
    merged.state = S::Merged;
    let forbidden = [
        fresh(),
        run([dispatch(), return_it()]),
        handled_then([]),
        handled_then([callback(Sat::Satisfied)]),
        handled_then([callback(Sat::Dissatisfied)]),
        handled_then([callback(Sat::Satisfied), close(None)]),
        run([resolve()]),
        merged,
    ];
    for ticket in &forbidden {
        let err = ticket
            .apply(progress_note(), &handler(), ticket.update_time)
            .unwrap_err();
        assert_eq!(err, illegal("add_progress_note", ticket.state));
    }
}

#[test]
fn returns_and_arbitration_outside_their_states_name_the_state() {
    let designated_then_replied = run([
        Action::Dispatch(Assignment {
            designate_after: 1,
            ..assignment("water-works", &[], None)
        }),
        Action::Sign,
        reply(),
    ]);
    let not_returnable = [
        fresh(),
        run([dispatch(), return_it()]),
        handled_then([]),
        handled_then([callback(Sat::Satisfied)]),
        designated_then_replied,
    ];
    for ticket in &not_returnable {
        let err = return_fails(ticket, return_it(), ticket.update_time);
        assert_eq!(err, illegal("return", ticket.state));
    }
    let err = return_fails(&fresh(), return_it(), t0());
    assert_eq!(
        err.to_string(),
        "cannot return a ticket in state pending_dispatch"
    );

    let arbitrations = [
        approve(Some(assignment("market-regulation", &[], None))),
        approve(None),
        reject(),
    ];
    for ticket in [fresh(), dispatched(), signed(), handled_then([])] {
        for action in arbitrations.clone() {
            let err = ticket
                .apply(action, &agent(), ticket.update_time)
                .unwrap_err();
            assert_eq!(err, illegal("arbitrate_return", ticket.state));
        }
    }

    // A return-requested ticket without its pending return cannot be decided.
    let mut inconsistent = run([dispatch(), return_it()]);
    inconsistent.pending_return = None;
    for action in arbitrations {
        let err = inconsistent.apply(action, &agent(), t0()).unwrap_err();
        assert_eq!(err, illegal("arbitrate_return", S::ReturnRequested));
    }
}

#[test]
fn dispatch_events_record_the_assignment() {
    let two_co = assignment(
        "water-works",
        &["market-regulation", "d330106"],
        routed(Some("r-17"), 4),
    );
    let Transition {
        ticket,
        event,
        co_units_changed,
    } = transition_at(&fresh(), Action::Dispatch(two_co), &agent(), at());
    assert_eq!(
        ticket.co_units,
        vec![unit("market-regulation"), unit("d330106")]
    );
    assert!(co_units_changed);
    assert_eq!(ticket.routing, routed(Some("r-17"), 4));
    assert_eq!(ticket.dispatch_time, Some(at()));
    assert_eq!((ticket.dispatch_count, ticket.designated), (1, false));
    assert_eq!(ticket.pending_return, None);
    let expected = json!({
        "lead_unit": "units/water-works",
        "co_units": ["units/market-regulation", "units/d330106"],
        "note": "按责转办",
        "dispatch_count": 1,
        "designated": false,
        "rule_id": "r-17",
        "rule_set_version": 4,
    });
    assert_eq!(payload(&event), expected);

    // The district fallback (兜底): no rule, but the rule-set version decided.
    let fallback = assignment("d330106", &[], routed(None, 4));
    let event = fresh()
        .apply(Action::Dispatch(fallback), &agent(), at())
        .unwrap()
        .event;
    assert_eq!(payload(&event)["rule_id"], json!(null));
    assert_eq!(payload(&event)["rule_set_version"], 4);

    // A manual dispatch names no rule and no co-handlers.
    let manual = fresh().apply(dispatch(), &agent(), at()).unwrap();
    assert!(!manual.co_units_changed);
    let p = &payload(&manual.event);
    assert_eq!(
        (&p["rule_id"], &p["rule_set_version"]),
        (&json!(null), &json!(null))
    );
    assert_eq!(
        (&p["co_units"], &p["designated"]),
        (&json!([]), &json!(false))
    );
}

#[test]
fn return_cycle_events_carry_no_caller_data() {
    let report = accept(RequestType::Report, false).ticket;
    let to_market = assignment("market-regulation", &["d330106"], routed(Some("r-2"), 7));
    let actions = [
        Action::Dispatch(first_round()),
        progress_note(),
        return_it(),
        reject(),
        Action::Sign,
        return_it(),
        approve(Some(to_market)),
        return_it(),
        approve(None),
    ];
    let mut ticket = report;
    let mut events = Vec::new();
    for action in actions {
        let now = ticket.update_time + TimeDelta::minutes(5);
        let by_centre = matches!(action, Action::Dispatch(_) | Action::ArbitrateReturn { .. });
        let actor = if by_centre { agent() } else { handler() };
        let transition = transition_at(&ticket, action, &actor, now);
        ticket = transition.ticket;
        events.push(transition.event);
    }
    let payloads: Vec<serde_json::Value> = events.iter().map(payload).collect();
    let seen: Vec<(&str, Vec<&str>)> = events
        .iter()
        .zip(&payloads)
        .map(|(e, p)| (e.kind.event_type(), payload_keys(p)))
        .collect();
    let dispatched = [
        "co_units",
        "designated",
        "dispatch_count",
        "lead_unit",
        "note",
        "rule_id",
        "rule_set_version",
    ];
    let redispatched = [
        "arbitration_note",
        "co_units",
        "designated",
        "dispatch_count",
        "lead_unit",
        "note",
        "returned_by",
        "rule_id",
        "rule_set_version",
    ];
    let requested = vec!["legal_basis", "reason", "unit"];
    let expected: Vec<(&str, Vec<&str>)> = vec![
        ("dispatched", dispatched.to_vec()),
        ("progress_noted", vec!["text"]),
        ("return_requested", requested.clone()),
        ("return_rejected", vec!["arbitration_note", "returned_by"]),
        ("signed", vec!["unit"]),
        ("return_requested", requested.clone()),
        ("return_approved", redispatched.to_vec()),
        ("return_requested", requested),
        (
            "return_approved",
            vec!["arbitration_note", "returned_by", "to"],
        ),
    ];
    assert_eq!(seen, expected);
    let intake = &ticket.intake;
    for event in &events {
        let text = payload(event).to_string();
        for private in [PHONE, NAME, intake.address.as_str(), &intake.description] {
            assert!(
                !text.contains(private),
                "{} carries {private}: {text}",
                event.kind.event_type()
            );
        }
    }
    assert_eq!(ticket.state, S::PendingDispatch);
    assert_eq!(ticket.dispatch_count, 2);
}

#[test]
fn the_scope_of_an_old_event_is_the_ticket_as_it_was_then() {
    let created = accept(RequestType::Complaint, false);
    let mut trail = vec![created.event.clone()];
    let mut ticket = created.ticket;
    let mut apply = |ticket: &Ticket, action: Action| -> Ticket {
        let t = ticket.apply(action, &agent(), at()).unwrap();
        trail.push(t.event);
        t.ticket
    };
    ticket = apply(&ticket, Action::Dispatch(first_round()));
    ticket = apply(
        &ticket,
        Action::Return {
            reason: "非本单位职责".into(),
            legal_basis: "三定方案".into(),
            policy: ReturnPolicy::natural(window()),
        },
    );
    ticket = apply(&ticket, approve(None));
    ticket = apply(&ticket, dispatch_to("transport"));
    assert_eq!(ticket.lead_unit, Some(unit("transport")));

    let at_creation = ticket.scope_as_of(&trail[..1]);
    assert_eq!(
        (at_creation.lead_unit, at_creation.state),
        (None, S::PendingDispatch)
    );
    let first = ticket.scope_as_of(&trail[..2]);
    assert_eq!(first.lead_unit, Some(unit("water-works")));
    assert_eq!(first.co_units, vec![unit("market-regulation")]);
    assert_eq!((first.state, first.version), (S::Dispatched, 2));
    let returned = ticket.scope_as_of(&trail[..3]);
    assert_eq!(returned.lead_unit, Some(unit("water-works")));
    let in_triage = ticket.scope_as_of(&trail[..4]);
    assert_eq!((in_triage.lead_unit, in_triage.co_units.len()), (None, 0));
    let now = ticket.scope_as_of(&trail);
    assert_eq!(
        (now.lead_unit, now.co_units),
        (ticket.lead_unit, ticket.co_units)
    );
}
