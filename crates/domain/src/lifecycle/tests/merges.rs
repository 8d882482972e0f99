//! Merging duplicates into a primary (并单) and undoing it.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::lifecycle::merge::{
    Duplicate, MAX_DUPLICATES, duplicate_open, plan_merge, plan_unmerge, primary_open,
};

const REASON: &str = "同一路灯，同一时段";

fn dup(ticket: &Ticket) -> Duplicate<'_> {
    Duplicate {
        ticket,
        has_duplicates: false,
    }
}

fn merge(
    primary: &Ticket,
    duplicates: &[&Ticket],
) -> Result<super::super::merge::MergePlan, DomainError> {
    let duplicates: Vec<Duplicate<'_>> = duplicates.iter().map(|t| dup(t)).collect();
    plan_merge(primary, &duplicates, REASON, &agent(), t0())
}

/// A precondition failure's kind and message.
fn refusal(err: DomainError) -> (&'static str, String) {
    match err {
        DomainError::PreconditionFailed { kind, message } => (kind, message),
        other => panic!("expected a precondition failure, got {other:?}"),
    }
}

#[test]
fn a_merge_closes_the_duplicates_and_links_both_ways() {
    let primary = run([dispatch()]);
    let a = run([dispatch(), Action::Sign]);
    let b = fresh();
    let plan = merge(&primary, &[&a, &b]).unwrap();

    assert_eq!(
        plan.primary.ticket.state,
        S::Dispatched,
        "the primary's state stays"
    );
    assert_eq!(plan.primary.ticket.version, primary.version + 1);
    assert_eq!(plan.primary.event.kind.event_type(), "merged_from");
    assert_eq!(
        payload(&plan.primary.event),
        json!({ "duplicates": [a.id.name(), b.id.name()], "reason": REASON })
    );
    assert_eq!(plan.duplicates.len(), 2);
    for (before, t) in [&a, &b].into_iter().zip(&plan.duplicates) {
        let merged = &t.ticket;
        assert_eq!(merged.state, S::Merged);
        assert!(merged.state.is_terminal());
        assert_eq!(merged.outcome.close_reason, Some(R::Merged));
        let link = merged.merged_into.expect("linked to the primary");
        assert_eq!(
            (link.primary, link.from_state, link.time),
            (primary.id, before.state, t0())
        );
        assert_eq!(t.event.kind.event_type(), "merged_into");
        assert_eq!(t.event.from_state, Some(before.state));
        assert_eq!(merged.next_alert_at(), None, "the sweeper leaves it alone");
    }
    let unit = |t: &Ticket| t.lead_unit.as_ref().map(UnitId::name);
    assert_eq!(
        payload(&plan.duplicates[0].event),
        json!({ "primary": primary.id.name(), "reason": REASON, "unit": unit(&a) })
    );
    assert_eq!(
        payload(&plan.duplicates[1].event),
        json!({ "primary": primary.id.name(), "reason": REASON, "unit": null })
    );
}

#[test]
fn a_merge_names_the_ticket_whose_state_forbids_it() {
    let primary = fresh();
    let replied = handled_then([]);
    let returning = run([dispatch(), return_it()]);
    let (kind, message) = refusal(merge(&primary, &[&fresh(), &replied]).unwrap_err());
    assert_eq!(kind, "TICKET_STATE");
    assert!(message.contains(&replied.id.name()), "{message}");
    assert!(
        message.contains("duplicate") && message.contains("awaiting_callback"),
        "{message}"
    );
    let (_, message) = refusal(merge(&primary, &[&returning]).unwrap_err());
    assert!(message.contains(&returning.id.name()), "{message}");

    let (kind, message) = refusal(merge(&replied, &[&fresh()]).unwrap_err());
    assert_eq!(kind, "TICKET_STATE");
    assert!(
        message.contains(&replied.id.name()) && message.contains("primary"),
        "{message}"
    );
    let closed = handled_then([callback(Sat::Satisfied), close(None)]);
    let (_, message) = refusal(merge(&closed, &[&fresh()]).unwrap_err());
    assert!(message.contains(&closed.id.name()), "{message}");
}

#[test]
fn merged_tickets_merge_no_further_and_merges_do_not_chain() {
    let primary = fresh();
    let plan = merge(&primary, &[&fresh()]).unwrap();
    let merged = &plan.duplicates[0].ticket;
    // Already merged: neither a duplicate again nor a primary.
    let (_, message) = refusal(merge(&fresh(), &[merged]).unwrap_err());
    assert!(message.contains(&merged.id.name()), "{message}");
    let (_, message) = refusal(merge(merged, &[&fresh()]).unwrap_err());
    assert!(message.contains("primary"), "{message}");
    // A primary with duplicates of its own is not merged into another.
    let absorbed = &plan.primary.ticket;
    let chain = [Duplicate {
        ticket: absorbed,
        has_duplicates: true,
    }];
    let err = plan_merge(&fresh(), &chain, REASON, &agent(), t0()).unwrap_err();
    let (kind, message) = refusal(err);
    assert_eq!(kind, "MERGE_CHAIN");
    assert!(message.contains(&absorbed.id.name()), "{message}");
}

#[test]
fn bad_requests_are_invalid_fields() {
    let primary = fresh();
    let other = fresh();
    let field = |err: DomainError| match err {
        DomainError::InvalidField { field, .. } => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(merge(&primary, &[]).unwrap_err()), "duplicates");
    assert_eq!(
        field(merge(&primary, &[&primary]).unwrap_err()),
        "duplicates[0]"
    );
    assert_eq!(
        field(merge(&primary, &[&other, &other]).unwrap_err()),
        "duplicates[1]"
    );
    let blank = plan_merge(&primary, &[dup(&other)], "  ", &agent(), t0()).unwrap_err();
    assert_eq!(field(blank), "reason");
    let many: Vec<Ticket> = (0..=MAX_DUPLICATES).map(|_| fresh()).collect();
    let refs: Vec<&Ticket> = many.iter().collect();
    assert_eq!(field(merge(&primary, &refs).unwrap_err()), "duplicates");
}

#[test]
fn unmerge_restores_the_duplicate_before_the_primary_replies() {
    let primary = run([dispatch()]);
    let signed = run([dispatch(), Action::Sign]);
    let plan = merge(&primary, &[&signed]).unwrap();
    let (absorbed, merged) = (&plan.primary.ticket, &plan.duplicates[0].ticket);

    let (p, d) = plan_unmerge(absorbed, merged, &agent(), t0()).unwrap();
    assert_eq!(p.event.kind.event_type(), "unmerged_from");
    assert_eq!(payload(&p.event), json!({ "duplicate": signed.id.name() }));
    assert_eq!(p.ticket.state, S::Dispatched);
    assert_eq!(d.event.kind.event_type(), "unmerged");
    assert_eq!(
        payload(&d.event),
        json!({ "primary": primary.id.name(), "restored": "in_progress" })
    );
    let mut restored = d.ticket.clone();
    assert_eq!(restored.state, S::InProgress);
    assert_eq!(restored.merged_into, None);
    assert_eq!(restored.outcome.close_reason, None);
    restored.version = signed.version;
    restored.update_time = signed.update_time;
    assert_eq!(restored, signed, "everything else is as before the merge");

    // Not linked to this primary.
    let (kind, message) = refusal(plan_unmerge(&fresh(), merged, &agent(), t0()).unwrap_err());
    assert_eq!(kind, "NOT_MERGED");
    assert!(message.contains(&merged.id.name()), "{message}");
    let (kind, _) = refusal(plan_unmerge(absorbed, &signed, &agent(), t0()).unwrap_err());
    assert_eq!(kind, "NOT_MERGED");

    // Once the primary replied, the merge stands.
    let replied = step(&step(absorbed, Action::Sign), reply());
    let (kind, message) = refusal(plan_unmerge(&replied, merged, &agent(), t0()).unwrap_err());
    assert_eq!(kind, "TICKET_STATE");
    assert!(message.contains(&primary.id.name()), "{message}");
}

#[test]
fn each_side_refuses_its_action_out_of_turn() {
    let open = fresh();
    assert_eq!(
        open.apply(Action::Unmerge, &agent(), t0()).unwrap_err(),
        illegal("unmerge", S::PendingDispatch)
    );
    let own = Action::MergeInto {
        primary: open.id,
        reason: REASON.into(),
    };
    assert_eq!(
        open.apply(own, &agent(), t0()).unwrap_err(),
        illegal("merge", S::PendingDispatch),
        "no self-merge"
    );
    let replied = handled_then([]);
    let release = Action::ReleaseDuplicate { duplicate: open.id };
    assert_eq!(
        replied.apply(release, &agent(), t0()).unwrap_err(),
        illegal("unmerge_from_primary", S::AwaitingCallback)
    );
}

#[test]
fn merged_callers_are_called_back_after_the_reply_and_not_counted() {
    let primary = fresh();
    let plan = merge(&primary, &[&fresh()]).unwrap();
    let duplicate = plan.duplicates[0].ticket.id;
    let called = |satisfaction| Action::RecordMergedCallback {
        duplicate,
        satisfaction,
        resolved: true,
        comment: None,
    };
    assert_eq!(
        plan.primary
            .ticket
            .apply(called(Sat::Satisfied), &agent(), t0())
            .unwrap_err(),
        illegal("record_merged_callback", S::PendingDispatch),
        "not before the reply"
    );
    let replied = [dispatch(), Action::Sign, reply()]
        .into_iter()
        .fold(plan.primary.ticket.clone(), |t, a| step(&t, a));
    let t = replied
        .apply(called(Sat::Dissatisfied), &agent(), t0())
        .unwrap();
    assert_eq!(
        t.ticket.state,
        S::AwaitingCallback,
        "the primary's own callback is still due"
    );
    assert_eq!(
        t.ticket.outcome, replied.outcome,
        "nor is it the primary's rating"
    );
    assert_eq!(
        payload(&t.event),
        json!({ "duplicate": duplicate.name(), "resolved": true, "satisfaction": "dissatisfied" })
    );
    let counters = crate::metrics::deltas(Some(&replied), &t, crate::calendar::CHINA_STANDARD_TIME);
    assert!(counters.is_empty(), "{counters:?}");
    let rated = step(&t.ticket, callback(Sat::Satisfied));
    rated
        .apply(called(Sat::Satisfied), &agent(), t0())
        .expect("also after the primary's own callback");
    let noted = rated
        .apply(
            Action::RecordMergedCallback {
                duplicate,
                satisfaction: Sat::BasicallySatisfied,
                resolved: false,
                comment: Some("水管已修好，但路面未恢复".into()),
            },
            &agent(),
            t0(),
        )
        .expect("with what the caller said");
    assert_eq!(
        payload(&noted.event)["comment"],
        json!("水管已修好，但路面未恢复"),
        "kept with the merged caller's call"
    );
    let closed = step(&rated, close(None));
    let late = closed
        .apply(called(Sat::Satisfied), &agent(), t0())
        .expect("and after the primary closed: the merged caller is still owed the call");
    assert_eq!(late.ticket.state, S::Closed);
}

fn any_state() -> impl Strategy<Value = TicketState> {
    prop::sample::select(TicketState::ALL)
}

proptest! {
    /// Whatever the states, a merge either is refused as a whole or moves
    /// every duplicate to merged, linked to the primary, and leaves the
    /// primary's state; the rules are the two state tables.
    #[test]
    fn merges_follow_the_state_tables(p in any_state(), d1 in any_state(), d2 in any_state()) {
        let with_state = |state| {
            let mut t = run([dispatch()]);
            t.state = state;
            if state == S::Merged {
                t.merged_into = Some(crate::ticket::MergeLink {
                    primary: fresh().id,
                    from_state: S::Dispatched,
                    time: t0(),
                });
            }
            t
        };
        let (primary, a, b) = (with_state(p), with_state(d1), with_state(d2));
        let allowed = primary_open(p) && duplicate_open(d1) && duplicate_open(d2);
        match merge(&primary, &[&a, &b]) {
            Ok(plan) => {
                prop_assert!(allowed);
                prop_assert_eq!(plan.primary.ticket.state, p);
                for t in &plan.duplicates {
                    prop_assert_eq!(t.ticket.state, S::Merged);
                    prop_assert_eq!(t.ticket.merged_into.map(|l| l.primary), Some(primary.id));
                }
                // Undoing each merge gives each duplicate its state back.
                let mut absorbed = plan.primary.ticket.clone();
                for (t, state) in plan.duplicates.iter().zip([d1, d2]) {
                    let (p2, d) = plan_unmerge(&absorbed, &t.ticket, &agent(), t0()).unwrap();
                    prop_assert_eq!(d.ticket.state, state);
                    absorbed = p2.ticket;
                }
            }
            Err(DomainError::PreconditionFailed { .. }) => prop_assert!(!allowed),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
