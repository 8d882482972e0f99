//! Random legal histories: running totals never go negative, the replay of
//! the event trail equals the incremental deltas, and the same history gives
//! the same counters twice.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::{
    metrics::{counters::Facts, replay::next_facts},
    ticket::{EmergencyService, LegalChannel},
};

const UNITS: [&str; 3] = [A, B, C];

/// What happens next: an action, or a sweeper pass.
#[derive(Debug, Clone)]
enum Step {
    Resolve,
    Transfer,
    NotAccept,
    Dispatch {
        unit: usize,
        timed: bool,
    },
    Sign,
    Reply {
        contacted: bool,
        review: bool,
    },
    Review {
        approve: bool,
    },
    Return,
    Arbitrate {
        approve: bool,
        redispatch: Option<usize>,
    },
    RequestExtension {
        days: u32,
    },
    DecideExtension {
        approve: bool,
    },
    Callback {
        satisfaction: Satisfaction,
        resolved: bool,
    },
    Close {
        reason: Option<CloseReason>,
    },
    Reopen {
        unit: usize,
    },
    /// Merged as a duplicate into another ticket (the duplicate's side).
    Merge,
    /// The merge undone.
    Unmerge,
    Sweep,
}

impl Step {
    /// The action, or `None` for a sweeper pass.
    fn action(&self, now: DateTime<Utc>) -> Option<Action> {
        let callback_by = Some(now + chrono::TimeDelta::days(3));
        Some(match *self {
            Self::Resolve => Action::ResolveAtIntake {
                answer: "已解答".into(),
                article_ids: Vec::new(),
            },
            Self::Transfer => Action::TransferEmergency {
                service: EmergencyService::Police110,
                note: "移交".into(),
            },
            Self::NotAccept => Action::MarkNotAccepted {
                channel: LegalChannel::Petition,
                note: "信访".into(),
            },
            Self::Dispatch { unit, timed } => {
                let mut a = assign(UNITS[unit]);
                if !timed {
                    a.timing = None;
                }
                Action::Dispatch(a)
            }
            Self::Sign => Action::Sign,
            Self::Reply { contacted, review } => reply_with(
                contacted,
                ReplyPolicy {
                    review,
                    callback_deadline: callback_by,
                },
            ),
            Self::Review { approve } => Action::ReviewReply {
                approve,
                note: "审核".into(),
                callback_deadline: callback_by,
            },
            Self::Return => return_it(),
            Self::Arbitrate {
                approve,
                redispatch,
            } => arbitrate(approve, redispatch.map(|u| UNITS[u])),
            Self::RequestExtension { days } => request_extension(days),
            Self::DecideExtension { approve } => decide_extension(approve),
            Self::Callback {
                satisfaction,
                resolved,
            } => callback(satisfaction, resolved),
            Self::Close { reason } => close(reason),
            Self::Reopen { unit } => reopen(UNITS[unit]),
            Self::Merge => Action::MergeInto {
                primary: crate::ids::TicketId::generate(now),
                reason: "同一事项".into(),
            },
            Self::Unmerge => Action::Unmerge,
            Self::Sweep => return None,
        })
    }
}

fn any_step() -> impl Strategy<Value = Step> {
    let unit = 0..UNITS.len();
    prop_oneof![
        1 => Just(Step::Resolve),
        1 => Just(Step::Transfer),
        1 => Just(Step::NotAccept),
        4 => (unit.clone(), prop::bool::weighted(0.9))
            .prop_map(|(unit, timed)| Step::Dispatch { unit, timed }),
        4 => Just(Step::Sign),
        4 => (any::<bool>(), any::<bool>())
            .prop_map(|(contacted, review)| Step::Reply { contacted, review }),
        2 => any::<bool>().prop_map(|approve| Step::Review { approve }),
        2 => Just(Step::Return),
        2 => (any::<bool>(), prop::option::of(unit.clone()))
            .prop_map(|(approve, redispatch)| Step::Arbitrate { approve, redispatch }),
        2 => (1_u32..=4).prop_map(|days| Step::RequestExtension { days }),
        2 => any::<bool>().prop_map(|approve| Step::DecideExtension { approve }),
        3 => (prop::sample::select(Satisfaction::ALL), any::<bool>())
            .prop_map(|(satisfaction, resolved)| Step::Callback { satisfaction, resolved }),
        2 => prop::option::of(prop::sample::select(CloseReason::ALL))
            .prop_map(|reason| Step::Close { reason }),
        2 => unit.prop_map(|unit| Step::Reopen { unit }),
        2 => Just(Step::Merge),
        2 => Just(Step::Unmerge),
        4 => Just(Step::Sweep),
    ]
}

/// Minutes to the next step: short (urgent limits are hours) or long
/// (working-day limits).
fn any_gap() -> impl Strategy<Value = i64> {
    prop_oneof![0_i64..=90, 0_i64..=2400]
}

fn any_kind() -> impl Strategy<Value = (RequestType, Urgency)> {
    let types = prop::sample::select(vec![
        RequestType::Enquiry,
        RequestType::Help,
        RequestType::Complaint,
    ]);
    let urgency = prop::sample::select(Urgency::ALL);
    (types, urgency)
}

/// Tracks the running totals and the facts rebuilt from the trail.
struct Checked {
    run: Run,
    running: HashMap<Key, i64>,
    facts: Facts,
}

impl Checked {
    fn commit(&mut self, before: &Ticket, t: Transition) -> Result<(), TestCaseError> {
        let from = self.run.deltas.len();
        self.run.commit(Some(before), t);
        self.absorb(from)
    }

    /// Folds the deltas from index `from` into the running totals and checks
    /// the facts the trail gives against the ticket.
    fn absorb(&mut self, from: usize) -> Result<(), TestCaseError> {
        for d in &self.run.deltas[from..] {
            prop_assert_eq!(d.unit.is_none(), d.counter.is_centre(), "{:?}", d);
            let total = self
                .running
                .entry((d.unit.clone(), d.day, d.counter))
                .or_insert(0);
            *total += d.delta;
            prop_assert!(*total >= 0, "{:?} went negative", d);
        }
        let event = self.run.events.last().expect("an event");
        let previous = (event.sequence > 1).then_some(&self.facts);
        self.facts = next_facts(previous, event).map_err(TestCaseError::fail)?;
        prop_assert_eq!(
            &self.facts,
            &Facts::of(&self.run.ticket),
            "after {}",
            event.kind.event_type()
        );
        Ok(())
    }
}

fn simulate(
    (request_type, urgency): (RequestType, Urgency),
    steps: &[(Step, i64)],
) -> Result<Run, TestCaseError> {
    let mut now = at(2, 8, 0);
    let run = Run::accept(request_type, urgency, now);
    let facts = Facts::of(&run.ticket);
    let mut sim = Checked {
        run,
        running: HashMap::new(),
        facts,
    };
    sim.absorb(0)?;
    for (step, gap) in steps {
        now += chrono::TimeDelta::minutes(*gap);
        match step.action(now) {
            Some(action) => {
                let before = sim.run.ticket.clone();
                if let Ok(t) = before.apply(action, &agent(), now) {
                    sim.commit(&before, t)?;
                }
            }
            None => {
                while let Some(kind) = sim.run.ticket.due_alert(now) {
                    let before = sim.run.ticket.clone();
                    let t = before.record_alert(kind, now).map_err(|e| {
                        TestCaseError::fail(format!("{kind:?} due but refused: {e}"))
                    })?;
                    sim.commit(&before, t)?;
                }
            }
        }
    }
    Ok(sim.run)
}

/// Relations every unit's (and the centre's) totals keep.
fn check_relations(run: &Run) -> Result<(), TestCaseError> {
    use Counter as K;
    for id in UNITS {
        let t = super::super::totals(run.deltas.iter().filter(|d| d.unit == Some(unit(id))));
        let n = |c| t.get(&c).copied().unwrap_or(0);
        let le = [
            (K::SignedOnTime, K::Signed),
            (K::Signed, K::Dispatched),
            (K::Responded, K::Dispatched),
            (K::Replied, K::Dispatched),
            (K::RepliedOnTime, K::Replied),
            (K::RepliedOnTime, K::DeadlineDue),
            (K::Overdue, K::DeadlineDue),
            (K::DeadlineDue, K::Dispatched),
            (K::ReturnsApproved, K::Dispatched),
            (K::Reopened, K::Replied),
            (K::Rated, K::Replied),
            (K::Resolved, K::Rated),
        ];
        for (small, large) in le {
            prop_assert!(
                n(small) <= n(large),
                "{id}: {small} {} > {large} {}",
                n(small),
                n(large)
            );
        }
        let buckets = n(K::Satisfied) + n(K::BasicallySatisfied) + n(K::Dissatisfied);
        prop_assert_eq!(buckets, n(K::Rated));
        prop_assert_eq!(n(K::DeadlineDue), n(K::RepliedOnTime) + n(K::Overdue));
    }
    let centre = unit_totals(&run.deltas, None);
    let n = |c| centre.get(&c).copied().unwrap_or(0);
    let excluded = n(K::NotAccepted) + n(K::TransferredEmergency) + n(K::Merged);
    prop_assert_eq!(n(K::Received), 1);
    prop_assert_eq!(n(K::Accepted) + excluded, 1);
    prop_assert!(n(K::ResolvedAtIntake) <= n(K::Accepted));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn random_histories_count_consistently(
        kind in any_kind(),
        steps in prop::collection::vec((any_step(), any_gap()), 0..48),
    ) {
        let run = simulate(kind, &steps)?;
        check_relations(&run)?;
        // The raw event log replays to exactly the incremental deltas.
        let replayed = run.replayed();
        prop_assert_eq!(&replayed, &run.deltas);
        prop_assert_eq!(run.replayed(), replayed);
        // The same history again gives the same counters (the ticket id and
        // nothing else differs).
        let again = simulate(kind, &steps)?;
        prop_assert_ne!(again.ticket.id, run.ticket.id);
        prop_assert_eq!(keyed(&again.deltas), keyed(&run.deltas));
    }
}

/// The generator reaches the interesting paths (guards against a property
/// that passes because nothing happens).
#[test]
fn the_generator_reaches_every_counter() {
    use proptest::{strategy::ValueTree, test_runner::TestRunner};
    let mut runner = TestRunner::deterministic();
    let strategy = (
        any_kind(),
        prop::collection::vec((any_step(), any_gap()), 0..48),
    );
    let (mut seen, mut undone) = (HashSet::new(), HashSet::new());
    for _ in 0..2000 {
        let (kind, steps) = strategy.new_tree(&mut runner).unwrap().current();
        let run = simulate(kind, &steps).unwrap();
        seen.extend(keyed(&run.deltas).into_keys().map(|(_, _, c)| c));
        undone.extend(run.deltas.iter().filter(|d| d.delta < 0).map(|d| d.counter));
    }
    let missing: Vec<_> = Counter::ALL
        .iter()
        .filter(|c| **c != Counter::Merged && !seen.contains(*c))
        .collect();
    assert!(missing.is_empty(), "never counted: {missing:?}");
    for c in [
        Counter::Accepted,
        Counter::Replied,
        Counter::RepliedOnTime,
        Counter::Overdue,
    ] {
        assert!(undone.contains(&c), "{c} never taken back");
    }
}
