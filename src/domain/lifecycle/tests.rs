use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

use super::{Action, IntakePatch, Transition, UPDATABLE_FIELDS};
use crate::domain::{
    access::{Principal, Role},
    error::DomainError,
    ids::{RegionCode, SubjectCode, UnitId},
    person::Caller,
    text_enum::TextEnum,
    ticket::{
        Channel, CloseReason, EmergencyService, Intake, LegalChannel, RequestType, Satisfaction,
        Ticket, TicketState, Urgency,
    },
};

use CloseReason as R;
use Satisfaction as Sat;
use TicketState as S;

const PHONE: &str = "13800131234";
const NAME: &str = "张三";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 9, 30, 0).unwrap()
}

fn unit(id: &str) -> UnitId {
    UnitId::parse(id).unwrap()
}

fn agent() -> Principal {
    Principal {
        subject: "agent-7".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    }
}

fn handler() -> Principal {
    Principal {
        subject: "handler-3".into(),
        roles: vec![Role::UnitHandler],
        unit: Some(unit("water-works")),
        region: None,
    }
}

fn intake(request_type: RequestType, confidential: bool) -> Intake {
    Intake {
        channel: Channel::Phone,
        legacy_hotline: None,
        caller: Caller::parse(NAME, PHONE, false).unwrap(),
        confidential,
        request_type,
        urgency: Urgency::Normal,
        subject_code: Some(SubjectCode::parse("01.02").unwrap()),
        region_code: RegionCode::parse("330106").unwrap(),
        address: "文三路 90 号".into(),
        title: "路灯不亮".into(),
        description: "小区门口的路灯坏了一周".into(),
    }
}

fn accept(request_type: RequestType, confidential: bool) -> Transition {
    let number = "20250303000001".to_owned();
    Ticket::accept(intake(request_type, confidential), number, &agent(), t0())
}

fn fresh() -> Ticket {
    accept(RequestType::Complaint, false).ticket
}

fn illegal(action: &'static str, state: TicketState) -> DomainError {
    DomainError::IllegalTransition { action, state }
}

fn resolve() -> Action {
    Action::ResolveAtIntake {
        answer: "已解答".into(),
    }
}

fn transfer(service: EmergencyService) -> Action {
    let note = "移交".into();
    Action::TransferEmergency { service, note }
}

fn not_accepted(channel: LegalChannel) -> Action {
    let note = "告知渠道".into();
    Action::MarkNotAccepted { channel, note }
}

fn dispatch_to(id: &str) -> Action {
    Action::dispatch(unit(id), "按责转办")
}

fn dispatch() -> Action {
    dispatch_to("water-works")
}

fn reply() -> Action {
    let text = "已修复".into();
    Action::Reply {
        text,
        contacted_citizen: true,
    }
}

fn callback(satisfaction: Satisfaction) -> Action {
    let comment = "回访完毕".into();
    Action::RecordCallback {
        satisfaction,
        resolved: true,
        comment,
    }
}

fn close(reason: Option<CloseReason>) -> Action {
    Action::Close {
        reason,
        note: "结案".into(),
    }
}

fn patch(values: Intake, fields: &[&str]) -> Action {
    Action::Update(IntakePatch {
        values: Some(Box::new(values)),
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    })
}

/// One sample of every action, to probe which ones a state admits.
fn every_action() -> Vec<Action> {
    vec![
        patch(intake(RequestType::Help, false), &["title"]),
        resolve(),
        transfer(EmergencyService::Fire119),
        not_accepted(LegalChannel::Litigation),
        dispatch(),
        Action::Sign,
        reply(),
        callback(Sat::Satisfied),
        callback(Sat::Dissatisfied),
        close(None),
        close(Some(R::Completed)),
        close(Some(R::NotRated)),
        close(Some(R::UnreasonableDemand)),
        close(Some(R::Withdrawn)),
    ]
}

fn assert_no_caller_data(payload: &serde_json::Value) {
    let text = payload.to_string();
    assert!(
        !text.contains(PHONE) && !text.contains(NAME),
        "caller data in {text}"
    );
}

/// Applies a legal action at `now` and checks the bookkeeping every
/// transition must get right.
fn step_at(ticket: &Ticket, action: Action, actor: &Principal, now: DateTime<Utc>) -> Ticket {
    let (kind, verb) = (action.event_kind(), action.verb());
    let Transition {
        ticket: next,
        event,
        ..
    } = ticket
        .apply(action, actor, now)
        .unwrap_or_else(|e| panic!("{verb} from {} failed: {e}", ticket.state));
    assert_eq!(next.version, ticket.version + 1, "{verb}");
    assert_eq!(event.sequence, next.version, "{verb}");
    assert_eq!(event.from_state, Some(ticket.state), "{verb}");
    assert_eq!(event.to_state, next.state, "{verb}");
    assert_eq!(event.kind, kind);
    assert_eq!(event.ticket_id, ticket.id);
    assert_eq!(event.actor, actor.subject);
    assert_eq!(event.actor_role, actor.acting_role().code());
    assert_eq!((event.time, next.update_time), (now, now));
    assert_eq!((next.id, next.create_time), (ticket.id, ticket.create_time));
    assert_eq!(
        (&next.number, &next.creator),
        (&ticket.number, &ticket.creator)
    );
    assert_no_caller_data(&event.payload);
    next
}

fn step(ticket: &Ticket, action: Action) -> Ticket {
    let now = ticket.update_time + TimeDelta::minutes(5);
    let by_unit = matches!(action, Action::Sign | Action::Reply { .. });
    step_at(
        ticket,
        action,
        &if by_unit { handler() } else { agent() },
        now,
    )
}

fn run(actions: impl IntoIterator<Item = Action>) -> Ticket {
    actions.into_iter().fold(fresh(), |t, a| step(&t, a))
}

/// Dispatch, sign and reply, then `tail`.
fn handled_then(tail: impl IntoIterator<Item = Action>) -> Ticket {
    run([dispatch(), Action::Sign, reply()].into_iter().chain(tail))
}

#[test]
fn accept_creates_a_pending_ticket_and_its_created_event() {
    let Transition { ticket, event, .. } = accept(RequestType::Complaint, false);
    assert_eq!(ticket.state, S::PendingDispatch);
    assert_eq!((ticket.version, ticket.dispatch_count), (1, 0));
    assert_eq!(ticket.lead_unit, None);
    assert_eq!(ticket.creator, "agent-7");
    assert_eq!((ticket.create_time, ticket.update_time), (t0(), t0()));
    assert!(!ticket.intake.confidential);
    assert_eq!(ticket.etag(), "\"1\"");
    assert_eq!((event.sequence, event.kind.as_str()), (1, "created"));
    assert_eq!(
        (event.from_state, event.to_state),
        (None, S::PendingDispatch)
    );
    assert_eq!(event.ticket_id, ticket.id);
    assert_eq!(event.actor_role, "agent");
    assert_eq!(event.payload["request_type"], "complaint");
    assert_eq!(event.payload["region_code"], "330106");
    assert_no_caller_data(&event.payload);
}

#[test]
fn full_handling_round_records_each_result() {
    let dispatched = step(&fresh(), dispatch());
    assert_eq!(dispatched.state, S::Dispatched);
    assert_eq!(dispatched.lead_unit, Some(unit("water-works")));
    assert_eq!(dispatched.dispatch_count, 1);

    let signed = step(&dispatched, Action::Sign);
    assert_eq!(signed.state, S::InProgress);

    let replied = step(&signed, reply());
    assert_eq!(replied.state, S::AwaitingCallback);
    assert_eq!(replied.outcome.reply.as_deref(), Some("已修复"));
    assert_eq!(replied.outcome.reply_contacted_citizen, Some(true));
    assert_eq!(replied.outcome.reply_time, Some(replied.update_time));

    let called = step(&replied, callback(Sat::BasicallySatisfied));
    assert_eq!(called.state, S::CallbackDone);
    assert_eq!(called.outcome.satisfaction, Some(Sat::BasicallySatisfied));
    assert_eq!(called.outcome.resolved, Some(true));
    assert_eq!(called.outcome.callback_comment.as_deref(), Some("回访完毕"));
    assert_eq!(called.outcome.callback_time, Some(called.update_time));

    let closed = step(&called, close(None));
    assert_eq!(closed.state, S::Closed);
    assert_eq!(closed.outcome.close_reason, Some(R::Completed));
    assert_eq!(closed.version, 6);
    assert_eq!(closed.lead_unit, Some(unit("water-works")));
}

#[test]
fn legal_paths_reach_their_states() {
    let help = || intake(RequestType::Help, false);
    let table: Vec<(&str, Ticket, TicketState, Option<CloseReason>)> = vec![
        (
            "very satisfied, completed",
            handled_then([callback(Sat::VerySatisfied), close(Some(R::Completed))]),
            S::Closed,
            Some(R::Completed),
        ),
        (
            "satisfied, no reason given",
            handled_then([callback(Sat::Satisfied), close(None)]),
            S::Closed,
            Some(R::Completed),
        ),
        (
            "basically satisfied",
            handled_then([callback(Sat::BasicallySatisfied)]),
            S::CallbackDone,
            None,
        ),
        (
            "dissatisfied",
            handled_then([callback(Sat::Dissatisfied)]),
            S::Dissatisfied,
            None,
        ),
        (
            "very dissatisfied",
            handled_then([callback(Sat::VeryDissatisfied)]),
            S::Dissatisfied,
            None,
        ),
        (
            "dissatisfied, unreasonable",
            handled_then([
                callback(Sat::Dissatisfied),
                close(Some(R::UnreasonableDemand)),
            ]),
            S::Closed,
            Some(R::UnreasonableDemand),
        ),
        (
            "dissatisfied, withdrawn",
            handled_then([callback(Sat::VeryDissatisfied), close(Some(R::Withdrawn))]),
            S::Closed,
            Some(R::Withdrawn),
        ),
        (
            "not rated",
            handled_then([close(Some(R::NotRated))]),
            S::Closed,
            Some(R::NotRated),
        ),
        (
            "withdrawn early",
            handled_then([close(Some(R::Withdrawn))]),
            S::Closed,
            Some(R::Withdrawn),
        ),
        (
            "resolved at intake",
            run([resolve()]),
            S::ResolvedAtIntake,
            None,
        ),
        (
            "update, dispatch",
            run([patch(help(), &["urgency"]), dispatch()]),
            S::Dispatched,
            None,
        ),
        (
            "update in progress",
            run([dispatch(), Action::Sign, patch(help(), &["title"])]),
            S::InProgress,
            None,
        ),
    ];
    for (name, ticket, state, reason) in table {
        assert_eq!(ticket.state, state, "{name}");
        assert_eq!(ticket.outcome.close_reason, reason, "{name}");
    }
}

#[test]
fn intake_dispositions_record_what_the_caller_was_told() {
    let resolved = step(&fresh(), resolve());
    assert_eq!(resolved.outcome.intake_answer.as_deref(), Some("已解答"));
    assert_eq!((resolved.lead_unit, resolved.dispatch_count), (None, 0));

    for &service in EmergencyService::ALL {
        let t = step(&fresh(), transfer(service));
        assert_eq!(t.state, S::TransferredEmergency);
        assert_eq!(t.outcome.emergency_service, Some(service));
        assert_eq!(t.outcome.disposition_note.as_deref(), Some("移交"));
    }
    for &channel in LegalChannel::ALL {
        let t = step(&fresh(), not_accepted(channel));
        assert_eq!(t.state, S::NotAccepted);
        assert_eq!(t.outcome.legal_channel, Some(channel));
        assert_eq!(t.outcome.disposition_note.as_deref(), Some("告知渠道"));
    }
}

/// Each reachable open state, built through legal actions.
fn open_states() -> Vec<Ticket> {
    vec![
        fresh(),
        run([dispatch()]),
        run([dispatch(), Action::Sign]),
        handled_then([]),
        handled_then([callback(Sat::Satisfied)]),
        handled_then([callback(Sat::VeryDissatisfied)]),
    ]
}

/// The spec's table of which state admits which action, written independently
/// of the implementation. `None` means the action must be rejected.
fn expected_next(state: TicketState, action: &Action) -> Option<TicketState> {
    if state.is_terminal() {
        return None;
    }
    let closes = |ok: &[Option<CloseReason>]| match action {
        Action::Close { reason, .. } => ok.contains(reason),
        _ => false,
    };
    match (state, action) {
        (_, Action::Update(_)) => Some(state),
        (S::PendingDispatch, Action::ResolveAtIntake { .. }) => Some(S::ResolvedAtIntake),
        (S::PendingDispatch, Action::TransferEmergency { .. }) => Some(S::TransferredEmergency),
        (S::PendingDispatch, Action::MarkNotAccepted { .. }) => Some(S::NotAccepted),
        (S::PendingDispatch, Action::Dispatch(_)) => Some(S::Dispatched),
        (S::Dispatched, Action::Sign) => Some(S::InProgress),
        (S::InProgress, Action::Reply { .. }) => Some(S::AwaitingCallback),
        (S::AwaitingCallback, Action::RecordCallback { satisfaction, .. }) => {
            let bad = matches!(satisfaction, Sat::Dissatisfied | Sat::VeryDissatisfied);
            Some(if bad {
                S::Dissatisfied
            } else {
                S::CallbackDone
            })
        }
        (S::CallbackDone, _) if closes(&[None, Some(R::Completed)]) => Some(S::Closed),
        (S::Dissatisfied, _) if closes(&[Some(R::UnreasonableDemand), Some(R::Withdrawn)]) => {
            Some(S::Closed)
        }
        (S::AwaitingCallback, _) if closes(&[Some(R::NotRated), Some(R::Withdrawn)]) => {
            Some(S::Closed)
        }
        _ => None,
    }
}

#[test]
fn every_open_state_admits_exactly_the_spec_actions() {
    let states = open_states();
    let reached: Vec<TicketState> = states.iter().map(|t| t.state).collect();
    let expected_states = [
        S::PendingDispatch,
        S::Dispatched,
        S::InProgress,
        S::AwaitingCallback,
        S::CallbackDone,
        S::Dissatisfied,
    ];
    assert_eq!(reached, expected_states);
    let mut accepted = 0;
    for ticket in &states {
        for action in every_action() {
            let verb = action.verb();
            let expected = expected_next(ticket.state, &action);
            let label = format!("{action:?} in {}", ticket.state);
            match ticket.apply(action, &agent(), t0()) {
                Ok(t) => {
                    assert_eq!(Some(t.ticket.state), expected, "{label}");
                    accepted += 1;
                }
                Err(e) => {
                    assert_eq!(expected, None, "{label} was rejected: {e}");
                    assert_eq!(e, illegal(verb, ticket.state), "{label}");
                }
            }
        }
    }
    // 6 updates, 4 at intake, sign, reply, 2 callbacks, 6 closes.
    assert_eq!(accepted, 20);
}

#[test]
fn illegal_transitions_name_the_current_state() {
    let dispatched = run([dispatch()]);
    let err = dispatched.apply(reply(), &handler(), t0()).unwrap_err();
    assert_eq!(err, illegal("reply", S::Dispatched));
    assert_eq!(err.to_string(), "cannot reply a ticket in state dispatched");

    let cases: Vec<(Ticket, Action, DomainError)> = vec![
        (fresh(), Action::Sign, illegal("sign", S::PendingDispatch)),
        (fresh(), reply(), illegal("reply", S::PendingDispatch)),
        (fresh(), close(None), illegal("close", S::PendingDispatch)),
        (
            fresh(),
            callback(Sat::Satisfied),
            illegal("record_callback", S::PendingDispatch),
        ),
        (
            dispatched.clone(),
            dispatch(),
            illegal("dispatch", S::Dispatched),
        ),
        (
            dispatched.clone(),
            resolve(),
            illegal("resolve_at_intake", S::Dispatched),
        ),
        (
            dispatched,
            close(Some(R::Withdrawn)),
            illegal("close", S::Dispatched),
        ),
        (
            handled_then([]),
            close(Some(R::Completed)),
            illegal("close", S::AwaitingCallback),
        ),
        (
            handled_then([]),
            Action::Sign,
            illegal("sign", S::AwaitingCallback),
        ),
        (
            handled_then([callback(Sat::Dissatisfied)]),
            close(None),
            illegal("close", S::Dissatisfied),
        ),
        (
            handled_then([callback(Sat::Satisfied)]),
            close(Some(R::NotRated)),
            illegal("close", S::CallbackDone),
        ),
    ];
    for (ticket, action, expected) in cases {
        assert_eq!(ticket.apply(action, &agent(), t0()).unwrap_err(), expected);
    }
}

#[test]
fn terminal_states_reject_every_action() {
    let mut merged = run([dispatch()]);
    merged.state = S::Merged;
    let terminals = [
        handled_then([callback(Sat::Satisfied), close(None)]),
        run([resolve()]),
        run([transfer(EmergencyService::Police110)]),
        run([not_accepted(LegalChannel::Petition)]),
        merged,
    ];
    for ticket in &terminals {
        assert!(ticket.state.is_terminal(), "{}", ticket.state);
        for action in every_action() {
            let verb = action.verb();
            let err = ticket.apply(action, &agent(), t0()).unwrap_err();
            assert_eq!(err, illegal(verb, ticket.state));
        }
    }
    let terminal: Vec<TicketState> = TicketState::ALL
        .iter()
        .copied()
        .filter(|s| s.is_terminal())
        .collect();
    let expected = [
        S::Closed,
        S::ResolvedAtIntake,
        S::TransferredEmergency,
        S::NotAccepted,
        S::Merged,
    ];
    assert_eq!(terminal, expected);
}

#[test]
fn close_reasons_per_state() {
    let reasons = [
        None,
        Some(R::Completed),
        Some(R::NotRated),
        Some(R::UnreasonableDemand),
        Some(R::Withdrawn),
    ];
    let allowed = [
        (S::CallbackDone, None, R::Completed),
        (S::CallbackDone, Some(R::Completed), R::Completed),
        (
            S::Dissatisfied,
            Some(R::UnreasonableDemand),
            R::UnreasonableDemand,
        ),
        (S::Dissatisfied, Some(R::Withdrawn), R::Withdrawn),
        (S::AwaitingCallback, Some(R::NotRated), R::NotRated),
        (S::AwaitingCallback, Some(R::Withdrawn), R::Withdrawn),
    ];
    let mut closed = 0;
    for ticket in open_states() {
        for reason in reasons {
            let outcome = ticket.apply(close(reason), &agent(), t0());
            let rule = allowed
                .iter()
                .find(|(s, r, _)| *s == ticket.state && *r == reason);
            if let Some((_, _, recorded)) = rule {
                let t = outcome.unwrap_or_else(|e| panic!("{reason:?}: {e}")).ticket;
                assert_eq!(
                    (t.state, t.outcome.close_reason),
                    (S::Closed, Some(*recorded))
                );
                closed += 1;
            } else {
                let err = outcome.unwrap_err();
                assert_eq!(err, illegal("close", ticket.state), "{reason:?}");
            }
        }
    }
    assert_eq!(closed, allowed.len());
}

#[test]
fn versions_and_event_sequences_advance_by_one() {
    let actor = agent();
    let mut ticket = fresh();
    let actions = [
        patch(intake(RequestType::Help, false), &["urgency"]),
        dispatch(),
        Action::Sign,
        reply(),
        callback(Sat::Satisfied),
        close(None),
    ];
    for (hour, action) in (1_i64..).zip(actions) {
        let now = t0() + TimeDelta::hours(hour);
        let Transition {
            ticket: next,
            event,
            ..
        } = ticket.apply(action, &actor, now).unwrap();
        assert_eq!((next.version, event.sequence), (hour + 1, hour + 1));
        assert_eq!(next.etag(), format!("\"{}\"", hour + 1));
        assert_eq!(event.from_state, Some(ticket.state));
        assert_eq!(event.to_state, next.state);
        ticket = next;
    }
    assert_eq!(ticket.state, S::Closed);
    assert_eq!(ticket.update_time, t0() + TimeDelta::hours(6));
    assert_eq!(ticket.create_time, t0());
}

#[test]
fn a_report_is_confidential_whatever_the_agent_ticks() {
    let created = accept(RequestType::Report, false);
    assert!(created.ticket.intake.confidential);
    assert_eq!(created.event.payload["confidential"], true);
    assert!(!fresh().intake.confidential);

    let report = created.ticket;
    let as_report = intake(RequestType::Report, false);
    let cleared = step(&report, patch(as_report.clone(), &["confidential"]));
    assert!(
        cleared.intake.confidential,
        "unticking confidential on a report"
    );

    let retyped = step(&fresh(), patch(as_report.clone(), &["request_type"]));
    assert_eq!(retyped.intake.request_type, RequestType::Report);
    assert!(retyped.intake.confidential, "changing the type to report");

    let both = step(
        &fresh(),
        patch(as_report, &["confidential", "request_type"]),
    );
    assert!(both.intake.confidential, "type and flag together");

    let complaint = intake(RequestType::Complaint, false);
    let demoted = step(&report, patch(complaint.clone(), &["request_type"]));
    assert!(
        demoted.intake.confidential,
        "a former report stays confidential unless unticked"
    );

    let ordinary = accept(RequestType::Complaint, true).ticket;
    let unticked = step(&ordinary, patch(complaint, &["confidential"]));
    assert!(
        !unticked.intake.confidential,
        "a complaint's flag is the agent's choice"
    );
}

#[test]
fn update_takes_only_the_masked_fields() {
    let original = fresh();
    let mut other = intake(RequestType::Suggestion, true);
    other.caller = Caller::parse("李四", "13900001111", false).unwrap();
    other.channel = Channel::Web;
    other.legacy_hotline = Some("12315".into());
    other.urgency = Urgency::Urgent;
    other.subject_code = None;
    other.region_code = RegionCode::parse("330106001").unwrap();
    other.address = "other address".into();
    other.title = "other title".into();
    other.description = "other description".into();

    for &field in UPDATABLE_FIELDS {
        let updated = step(&original, patch(other.clone(), &[field])).intake;
        let mut expected = original.intake.clone();
        match field {
            "request_type" => expected.request_type = other.request_type,
            "urgency" => expected.urgency = other.urgency,
            "subject_code" => expected.subject_code = other.subject_code.clone(),
            "region_code" => expected.region_code = other.region_code.clone(),
            "address" => expected.address = other.address.clone(),
            "title" => expected.title = other.title.clone(),
            "description" => expected.description = other.description.clone(),
            "confidential" => expected.confidential = other.confidential,
            "legacy_hotline" => expected.legacy_hotline = other.legacy_hotline.clone(),
            unknown => panic!("test does not know {unknown}"),
        }
        assert_ne!(
            expected, original.intake,
            "{field} should differ in the test data"
        );
        assert_eq!(updated, expected, "{field}");
    }

    let all = step(&original, patch(other, UPDATABLE_FIELDS)).intake;
    assert_eq!(
        all.caller, original.intake.caller,
        "caller is not updatable"
    );
    assert_eq!(
        all.channel, original.intake.channel,
        "channel is not updatable"
    );
    assert_eq!(
        (all.title.as_str(), all.urgency),
        ("other title", Urgency::Urgent)
    );
}

#[test]
fn update_rejects_bad_masks_on_update_mask() {
    let ticket = fresh();
    let values = intake(RequestType::Help, false);
    let masks: [&[&str]; 5] = [
        &[],
        &["caller"],
        &["state"],
        &["title", "channel"],
        &["Title"],
    ];
    for fields in masks {
        let err = ticket
            .apply(patch(values.clone(), fields), &agent(), t0())
            .unwrap_err();
        let DomainError::InvalidField { field, message } = &err else {
            panic!("{fields:?}: expected InvalidField, got {err:?}");
        };
        assert_eq!(field, "update_mask", "{fields:?}");
        if let Some(bad) = fields
            .iter()
            .copied()
            .find(|f| !UPDATABLE_FIELDS.contains(f))
        {
            assert!(message.contains(bad), "{message} should name {bad}");
        }
    }
    let no_values = Action::Update(IntakePatch {
        values: None,
        fields: vec!["title".into()],
    });
    let err = ticket.apply(no_values, &agent(), t0()).unwrap_err();
    assert!(
        matches!(&err, DomainError::InvalidField { field, .. } if field == "ticket"),
        "{err:?}"
    );
}

/// Actions a property test draws from, weighted towards progress.
fn any_action() -> impl Strategy<Value = Action> {
    let units = prop::sample::select(vec!["water-works", "market-regulation", "d330106"]);
    let field_names = vec![
        "request_type",
        "urgency",
        "title",
        "confidential",
        "region_code",
        "caller",
        "bogus",
    ];
    let fields = prop::collection::vec(prop::sample::select(field_names), 0..3);
    let update = (
        prop::sample::select(RequestType::ALL),
        any::<bool>(),
        fields,
        any::<bool>(),
    )
        .prop_map(|(request_type, confidential, fields, with_values)| {
            Action::Update(IntakePatch {
                values: with_values.then(|| Box::new(intake(request_type, confidential))),
                fields: fields.into_iter().map(str::to_owned).collect(),
            })
        });
    let replies = any::<bool>().prop_map(|contacted_citizen| {
        let text = "已办理".into();
        Action::Reply {
            text,
            contacted_citizen,
        }
    });
    let callbacks = (prop::sample::select(Sat::ALL), any::<bool>()).prop_map(|(s, resolved)| {
        let comment = "回访".into();
        Action::RecordCallback {
            satisfaction: s,
            resolved,
            comment,
        }
    });
    prop_oneof![
        2 => update,
        1 => Just(resolve()),
        1 => prop::sample::select(EmergencyService::ALL).prop_map(transfer),
        1 => prop::sample::select(LegalChannel::ALL).prop_map(not_accepted),
        3 => units.prop_map(dispatch_to),
        3 => Just(Action::Sign),
        3 => replies,
        3 => callbacks,
        4 => prop::option::of(prop::sample::select(R::ALL)).prop_map(close),
    ]
}

fn update_is_valid(action: &Action) -> bool {
    let Action::Update(p) = action else {
        return true;
    };
    let known = p
        .fields
        .iter()
        .all(|f| UPDATABLE_FIELDS.contains(&f.as_str()));
    p.values.is_some() && !p.fields.is_empty() && known
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_action_sequences_keep_the_invariants(
        report in any::<bool>(),
        steps in prop::collection::vec((any_action(), any::<bool>()), 0..40),
    ) {
        let created = accept(if report { RequestType::Report } else { RequestType::Complaint }, false);
        let mut ticket = created.ticket;
        let mut events = vec![created.event];
        let (mut successes, mut dispatches, mut last_unit) = (0_i64, 0, None);
        for (minute, (action, by_unit)) in (1_i64..).zip(steps) {
            let actor = if by_unit { handler() } else { agent() };
            let now = t0() + TimeDelta::minutes(minute);
            let before = ticket.clone();
            let was_terminal = before.state.is_terminal();
            let expected = expected_next(before.state, &action).filter(|_| update_is_valid(&action));
            let verb = action.verb();
            let is_update = matches!(action, Action::Update(_));
            let dispatched_to = match &action {
                Action::Dispatch(a) => Some(a.unit.clone()),
                _ => None,
            };
            match ticket.apply(action, &actor, now) {
                Ok(Transition {
                    ticket: next,
                    event,
                    ..
                }) => {
                    prop_assert!(!was_terminal, "{} accepted {}", before.state, verb);
                    prop_assert_eq!(Some(next.state), expected);
                    prop_assert_eq!(next.version, before.version + 1);
                    prop_assert_eq!(event.sequence, next.version);
                    prop_assert_eq!(event.from_state, Some(before.state));
                    prop_assert_eq!(event.to_state, next.state);
                    prop_assert_eq!(next.update_time, now);
                    prop_assert_eq!(&next.intake.caller, &before.intake.caller);
                    if !is_update {
                        prop_assert_eq!(&next.intake, &before.intake);
                    }
                    if let Some(u) = dispatched_to {
                        dispatches += 1;
                        last_unit = Some(u);
                    }
                    successes += 1;
                    ticket = next;
                    events.push(event);
                }
                Err(err) => {
                    prop_assert_eq!(expected, None, "{} rejected in {}: {}", verb, before.state, &err);
                    if was_terminal || !is_update {
                        prop_assert_eq!(err, illegal(verb, before.state));
                    } else {
                        prop_assert!(matches!(err, DomainError::InvalidField { .. }), "{:?}", err);
                    }
                }
            }
            prop_assert_eq!(ticket.version, successes + 1);
            prop_assert_eq!(ticket.dispatch_count, dispatches);
            prop_assert_eq!(&ticket.lead_unit, &last_unit);
            prop_assert!(!matches!(ticket.state, S::Replied | S::Merged), "reached {}", ticket.state);
            if ticket.intake.request_type == RequestType::Report {
                prop_assert!(ticket.intake.confidential, "a report lost confidentiality");
            }
        }
        for (i, event) in events.iter().enumerate() {
            prop_assert_eq!(event.sequence, i64::try_from(i).unwrap() + 1);
            prop_assert_eq!(event.ticket_id, ticket.id);
            if let Some(prev) = i.checked_sub(1).map(|p| &events[p]) {
                prop_assert_eq!(event.from_state, Some(prev.to_state));
                prop_assert!(event.time > prev.time);
            }
            let payload = event.payload.to_string();
            prop_assert!(!payload.contains(PHONE) && !payload.contains(NAME), "caller data in {}", payload);
        }
        prop_assert_eq!(events.last().map(|e| e.to_state), Some(ticket.state));
    }
}
