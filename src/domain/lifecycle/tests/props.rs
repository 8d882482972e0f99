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
