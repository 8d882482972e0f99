//! Lifecycle tests. This file holds the fixtures, the independent rule table
//! and the state-by-state probes; the submodules hold focused tests:
//! `paths` (whole handling rounds), `intake` (dispositions and updates),
//! `returns` (dispatch rounds, returns, arbitration, progress notes),
//! `merges` (duplicates merged into a primary and undone) and
//! `props` (random action sequences against the table and a model).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::{Action, Assignment, IntakePatch, ReturnPolicy, Transition};
use crate::{
    access::{Principal, Role},
    error::DomainError,
    ids::{RegionCode, SubjectCode, UnitId},
    person::Caller,
    text_enum::TextEnum,
    ticket::{
        Channel, CloseReason, EmergencyService, Intake, LegalChannel, RequestType, RoutingRef,
        Satisfaction, Ticket, TicketEvent, TicketState, Urgency,
    },
};

mod deadlines;
mod intake;
mod merges;
mod paths;
mod props;
mod returns;

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
        article_ids: Vec::new(),
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
        after: Default::default(),
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
        ..Default::default()
    })
}

/// The return window the centre grants by default.
fn window() -> TimeDelta {
    TimeDelta::hours(24)
}

fn routed(rule_id: Option<&str>, rule_set_version: i64) -> Option<RoutingRef> {
    Some(RoutingRef {
        rule_id: rule_id.map(str::to_owned),
        rule_set_version,
        model_version: None,
    })
}

/// An assignment to `lead` with co-handlers `co` under the default
/// designation rule (the third dispatch is a designation).
fn assignment(lead: &str, co: &[&str], routing: Option<RoutingRef>) -> Assignment {
    Assignment {
        unit: unit(lead),
        co_units: co.iter().copied().map(unit).collect(),
        note: "按责转办".into(),
        routing,
        designate_after: 3,
        timing: None,
    }
}

fn return_within(window: TimeDelta) -> Action {
    Action::Return {
        reason: "不属本单位职责".into(),
        legal_basis: "《城市供水条例》第二十条".into(),
        policy: ReturnPolicy::natural(window),
    }
}

/// A return under the default window.
fn return_it() -> Action {
    return_within(window())
}

fn approve(redispatch: Option<Assignment>) -> Action {
    Action::ArbitrateReturn {
        redispatch,
        approve: true,
        note: "退单理由成立".into(),
    }
}

fn reject() -> Action {
    Action::ArbitrateReturn {
        redispatch: None,
        approve: false,
        note: "属本单位职责，请继续办理".into(),
    }
}

fn progress_note() -> Action {
    Action::AddProgressNote {
        text: "已派员现场查看".into(),
    }
}

/// One sample of every action, to probe which ones a state admits.
fn every_action() -> Vec<Action> {
    vec![
        patch(intake(RequestType::Help, false), &["title"]),
        resolve(),
        transfer(EmergencyService::Fire119),
        not_accepted(LegalChannel::Litigation),
        dispatch(),
        Action::Dispatch(assignment(
            "water-works",
            &["market-regulation"],
            routed(Some("r-17"), 4),
        )),
        return_it(),
        approve(Some(assignment("market-regulation", &["d330106"], None))),
        approve(None),
        reject(),
        progress_note(),
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

/// The event's details as the `payload` column and the API carry them:
/// the assertions below pin that layout, not just the typed values.
fn payload(event: &TicketEvent) -> serde_json::Value {
    event
        .kind
        .payload()
        .unwrap_or_else(|e| panic!("{}: {e}", event.kind.event_type()))
}

/// The kind of event each action appends, written independently of the
/// implementation (as stored and sent on the wire).
fn event_type_of(action: &Action) -> &'static str {
    match action {
        Action::Update(_) => "updated",
        Action::ResolveAtIntake { .. } => "resolved_at_intake",
        Action::TransferEmergency { .. } => "transferred_emergency",
        Action::MarkNotAccepted { .. } => "not_accepted",
        Action::Dispatch(_) => "dispatched",
        Action::Return { .. } => "return_requested",
        Action::ArbitrateReturn { approve: true, .. } => "return_approved",
        Action::ArbitrateReturn { approve: false, .. } => "return_rejected",
        Action::AddProgressNote { .. } => "progress_noted",
        Action::RequestExtension { .. } => "extension_requested",
        Action::Urge { .. } => "urged",
        Action::IssueSupervision { .. } => "supervision_issued",
        Action::RespondToSupervision { .. } => "supervision_answered",
        Action::DecideExtension { approve: true, .. } => "extension_approved",
        Action::DecideExtension { approve: false, .. } => "extension_rejected",
        Action::Sign => "signed",
        Action::Reply { .. } => "replied",
        Action::ReviewReply { approve: true, .. } => "reply_approved",
        Action::ReviewReply { approve: false, .. } => "reply_sent_back",
        Action::Reopen { .. } => "reopened",
        Action::RecordCallback { .. } => "callback_recorded",
        Action::Close { .. } => "closed",
        Action::MergeInto { .. } => "merged_into",
        Action::AbsorbDuplicates { .. } => "merged_from",
        Action::Unmerge => "unmerged",
        Action::ReleaseDuplicate { .. } => "unmerged_from",
        Action::RecordMergedCallback { .. } => "merged_caller_called_back",
    }
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
    let (kind, verb) = (event_type_of(&action), action.verb());
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
    assert_eq!(event.kind.event_type(), kind);
    assert_eq!(event.ticket_id, ticket.id);
    assert_eq!(event.actor, actor.subject);
    assert_eq!(event.actor_role, actor.acting_role().code());
    assert_eq!((event.time, next.update_time), (now, now));
    assert_eq!((next.id, next.create_time), (ticket.id, ticket.create_time));
    assert_eq!(
        (&next.number, &next.creator),
        (&ticket.number, &ticket.creator)
    );
    assert_no_caller_data(&payload(&event));
    next
}

fn step(ticket: &Ticket, action: Action) -> Ticket {
    let now = ticket.update_time + TimeDelta::minutes(5);
    let by_unit = matches!(
        action,
        Action::Sign
            | Action::Reply { .. }
            | Action::Return { .. }
            | Action::AddProgressNote { .. }
    );
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

/// Each reachable open state, built through legal actions.
fn open_states() -> Vec<Ticket> {
    vec![
        fresh(),
        run([dispatch()]),
        run([dispatch(), Action::Sign]),
        handled_then([]),
        handled_then([callback(Sat::Satisfied)]),
        handled_then([callback(Sat::VeryDissatisfied)]),
        run([dispatch(), return_it()]),
        run([dispatch(), Action::Sign, return_it()]),
    ]
}

/// The spec's table of which state admits which action, written independently
/// of the implementation. `None` means the action must be rejected.
/// `returned_from` is the caller's own record of the state a pending return
/// came from (a rejected return goes back there). A return the state admits
/// may still fail its window or designation precondition; that is not a
/// state rule and is checked separately.
fn expected_next(
    state: TicketState,
    returned_from: Option<TicketState>,
    action: &Action,
) -> Option<TicketState> {
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
        (S::Dispatched | S::InProgress, Action::Return { .. }) => Some(S::ReturnRequested),
        (S::Dispatched | S::InProgress, Action::AddProgressNote { .. }) => Some(state),
        (
            S::ReturnRequested,
            Action::ArbitrateReturn {
                approve,
                redispatch,
                ..
            },
        ) => match (approve, redispatch) {
            (false, _) => returned_from,
            (true, Some(_)) => Some(S::Dispatched),
            (true, None) => Some(S::PendingDispatch),
        },
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
    // Each state with the state a pending return came from, as built.
    let expected_states = [
        (S::PendingDispatch, None),
        (S::Dispatched, None),
        (S::InProgress, None),
        (S::AwaitingCallback, None),
        (S::CallbackDone, None),
        (S::Dissatisfied, None),
        (S::ReturnRequested, Some(S::Dispatched)),
        (S::ReturnRequested, Some(S::InProgress)),
    ];
    assert_eq!(reached, expected_states.map(|(s, _)| s));
    let mut accepted = 0;
    for (ticket, (_, returned_from)) in states.iter().zip(expected_states) {
        let pending_from = ticket.pending_return.as_ref().map(|p| p.from);
        assert_eq!(pending_from, returned_from, "{}", ticket.state);
        let now = ticket.update_time + TimeDelta::minutes(1);
        for action in every_action() {
            let verb = action.verb();
            let expected = expected_next(ticket.state, returned_from, &action);
            let label = format!("{action:?} in {}", ticket.state);
            match ticket.apply(action, &agent(), now) {
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
    // 8 updates; 3 dispositions and 2 dispatches at intake; sign, return
    // and note when dispatched; reply, return and note in progress; 2
    // callbacks; 6 closes; 3 arbitrations in each return-requested ticket.
    assert_eq!(accepted, 8 + 5 + 3 + 3 + 2 + 6 + 3 * 2);
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
