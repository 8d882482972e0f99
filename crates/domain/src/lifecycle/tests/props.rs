//! Random action sequences against the rule table and a model of what the
//! ticket should hold.

use proptest::prelude::*;

use super::*;
use crate::lifecycle::UPDATABLE_FIELDS;

const UNITS: [&str; 4] = [
    "water-works",
    "market-regulation",
    "d330106",
    "housing-bureau",
];

/// Assignments as routing or an agent makes them: co-handlers other than the
/// lead, a rule or none, and now and then a designation rule other than the
/// default.
fn any_assignment() -> impl Strategy<Value = Assignment> {
    let lead = prop::sample::select(UNITS.to_vec());
    let co = prop::sample::subsequence(UNITS.to_vec(), 0..=2);
    let rule_ids = prop::sample::select(vec!["r-1", "r-17"]);
    let rule = prop::option::of((prop::option::of(rule_ids), 1..=5_i64));
    let designate_after = prop_oneof![3 => Just(3), 1 => 1..=4_i32];
    (lead, co, rule, designate_after).prop_map(|(lead, co, rule, designate_after)| Assignment {
        unit: unit(lead),
        co_units: co.into_iter().filter(|c| *c != lead).map(unit).collect(),
        note: "转办".into(),
        routing: rule.and_then(|(id, version)| routed(id, version)),
        designate_after,
        timing: None,
    })
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
                ..Default::default()
            })
        });
    let replies = any::<bool>().prop_map(|contacted_citizen| {
        let text = "已办理".into();
        Action::Reply {
            text,
            contacted_citizen,
            after: Default::default(),
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
    // Steps are a minute apart, so windows of a few minutes close within a
    // sequence and land exactly on the edge now and then.
    let windows = prop_oneof![
        3 => (0_i64..=12).prop_map(TimeDelta::minutes),
        1 => Just(window()),
    ];
    let arbitrations =
        (prop::option::of(any_assignment()), any::<bool>()).prop_map(|(redispatch, approve)| {
            Action::ArbitrateReturn {
                redispatch,
                approve,
                note: "仲裁".into(),
            }
        });
    prop_oneof![
        2 => update,
        1 => Just(resolve()),
        1 => prop::sample::select(EmergencyService::ALL).prop_map(transfer),
        1 => prop::sample::select(LegalChannel::ALL).prop_map(not_accepted),
        2 => units.prop_map(dispatch_to),
        2 => any_assignment().prop_map(Action::Dispatch),
        3 => windows.prop_map(return_within),
        4 => arbitrations,
        2 => Just(progress_note()),
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

/// The test's record of what the ticket should hold, kept from the actions
/// that succeeded.
#[derive(Debug, Clone, Default)]
struct Model {
    dispatches: i32,
    lead: Option<UnitId>,
    co: Vec<UnitId>,
    designated: bool,
    dispatched_at: Option<DateTime<Utc>>,
    routing: Option<RoutingRef>,
    /// The state a pending return came from, and when it was asked.
    returned: Option<(TicketState, DateTime<Utc>)>,
}

/// Why the model expects an action to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    Illegal,
    InvalidField,
    Precondition(&'static str),
}

impl Model {
    /// The state `action` leads to from `state` at `now`, or why it fails.
    fn expect(
        &self,
        state: TicketState,
        action: &Action,
        now: DateTime<Utc>,
    ) -> Result<TicketState, Rejection> {
        let returned_from = self.returned.map(|(from, _)| from);
        let next = expected_next(state, returned_from, action).ok_or(Rejection::Illegal)?;
        if !update_is_valid(action) {
            return Err(Rejection::InvalidField);
        }
        if let Action::Return { policy, .. } = action {
            if self.designated {
                return Err(Rejection::Precondition("DESIGNATED"));
            }
            let since = self
                .dispatched_at
                .expect("a returnable ticket was dispatched");
            if now > policy.window.closes(since) {
                return Err(Rejection::Precondition("RETURN_WINDOW"));
            }
        }
        Ok(next)
    }

    /// Records a successful `action` taken in `state` at `now`.
    fn record(&mut self, state: TicketState, action: &Action, now: DateTime<Utc>) {
        match action {
            Action::Dispatch(a)
            | Action::ArbitrateReturn {
                approve: true,
                redispatch: Some(a),
                ..
            } => {
                self.dispatches += 1;
                self.lead = Some(a.unit.clone());
                self.co.clone_from(&a.co_units);
                self.designated = self.dispatches >= a.designate_after;
                self.dispatched_at = Some(now);
                self.routing.clone_from(&a.routing);
                self.returned = None;
            }
            Action::ArbitrateReturn {
                approve: true,
                redispatch: None,
                ..
            } => {
                *self = Self {
                    dispatches: self.dispatches,
                    ..Self::default()
                };
            }
            Action::ArbitrateReturn { approve: false, .. } => self.returned = None,
            Action::Return { .. } => self.returned = Some((state, now)),
            _ => {}
        }
    }
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
        let mut successes = 0_i64;
        let mut model = Model::default();
        for (minute, (action, by_unit)) in (1_i64..).zip(steps) {
            let actor = if by_unit { handler() } else { agent() };
            let now = t0() + TimeDelta::minutes(minute);
            let before = ticket.clone();
            let expected = model.expect(before.state, &action, now);
            let (verb, kind) = (action.verb(), event_type_of(&action));
            match ticket.apply(action.clone(), &actor, now) {
                Ok(Transition {
                    ticket: next,
                    event,
                    co_units_changed,
                }) => {
                    prop_assert_eq!(Ok(next.state), expected, "{} from {}", verb, before.state);
                    prop_assert_eq!(next.version, before.version + 1);
                    prop_assert_eq!(event.sequence, next.version);
                    prop_assert_eq!(event.kind.event_type(), kind);
                    prop_assert_eq!(event.from_state, Some(before.state));
                    prop_assert_eq!(event.to_state, next.state);
                    prop_assert_eq!(next.update_time, now);
                    prop_assert_eq!(co_units_changed, next.co_units != before.co_units, "{}", verb);
                    prop_assert_eq!(&next.intake.caller, &before.intake.caller);
                    if !matches!(action, Action::Update(_)) {
                        prop_assert_eq!(&next.intake, &before.intake);
                    }
                    let leaves_outcome = matches!(
                        action,
                        Action::Dispatch(_)
                            | Action::Return { .. }
                            | Action::ArbitrateReturn { .. }
                            | Action::AddProgressNote { .. }
                    );
                    if leaves_outcome {
                        prop_assert_eq!(&next.outcome, &before.outcome, "{}", verb);
                    }
                    model.record(before.state, &action, now);
                    successes += 1;
                    ticket = next;
                    events.push(event);
                }
                Err(err) => {
                    let label = format!("{verb} in {}: {err}", before.state);
                    let rejection = expected.err();
                    prop_assert!(rejection.is_some(), "{} was rejected", label);
                    match rejection {
                        Some(Rejection::InvalidField) => {
                            prop_assert!(matches!(err, DomainError::InvalidField { .. }), "{}", label);
                        }
                        Some(Rejection::Precondition(code)) => prop_assert!(
                            matches!(err, DomainError::PreconditionFailed { kind, .. } if kind == code),
                            "{} should fail {}", label, code
                        ),
                        _ => prop_assert_eq!(err, illegal(verb, before.state)),
                    }
                }
            }
            prop_assert_eq!(ticket.version, successes + 1);
            prop_assert_eq!(ticket.dispatch_count, model.dispatches);
            prop_assert_eq!(&ticket.lead_unit, &model.lead);
            prop_assert_eq!(&ticket.co_units, &model.co);
            prop_assert_eq!(ticket.designated, model.designated);
            prop_assert_eq!(ticket.dispatch_time, model.dispatched_at);
            prop_assert_eq!(&ticket.routing, &model.routing);
            let pending = ticket.pending_return.as_ref().map(|p| (p.from, p.time));
            prop_assert_eq!(pending, model.returned);
            prop_assert_eq!(pending.is_some(), ticket.state == S::ReturnRequested);
            let assigned = matches!(ticket.state, S::Dispatched | S::InProgress | S::ReturnRequested);
            if assigned {
                prop_assert!(ticket.lead_unit.is_some() && ticket.dispatch_time.is_some());
            }
            if ticket.state == S::PendingDispatch {
                prop_assert!(ticket.lead_unit.is_none() && ticket.co_units.is_empty() && !ticket.designated);
            }
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
            let text = payload(event).to_string();
            prop_assert!(!text.contains(PHONE) && !text.contains(NAME), "caller data in {}", text);
        }
        prop_assert_eq!(events.last().map(|e| e.to_state), Some(ticket.state));
    }
}
