//! Whole handling rounds: which paths reach which states, and the
//! bookkeeping along them.

use super::*;

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
    assert_eq!((event.sequence, event.kind.event_type()), (1, "created"));
    assert_eq!(
        (event.from_state, event.to_state),
        (None, S::PendingDispatch)
    );
    assert_eq!(event.ticket_id, ticket.id);
    assert_eq!(event.actor_role, "agent");
    assert_eq!(payload(&event)["request_type"], "complaint");
    assert_eq!(payload(&event)["region_code"], "330106");
    assert_no_caller_data(&payload(&event));
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

/// Dispatch and return straight away, then `tail`.
fn returned_then(tail: impl IntoIterator<Item = Action>) -> Ticket {
    run([dispatch(), return_it()].into_iter().chain(tail))
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
        (
            "notes while handling",
            run([dispatch(), progress_note(), Action::Sign, progress_note()]),
            S::InProgress,
            None,
        ),
        (
            "update while a return waits",
            run([dispatch(), return_it(), patch(help(), &["title"])]),
            S::ReturnRequested,
            None,
        ),
        (
            "return rejected, then handled",
            returned_then([reject(), Action::Sign, reply()]),
            S::AwaitingCallback,
            None,
        ),
        (
            "return approved to another unit, then completed",
            returned_then([
                approve(Some(assignment("market-regulation", &[], None))),
                Action::Sign,
                reply(),
                callback(Sat::Satisfied),
                close(None),
            ]),
            S::Closed,
            Some(R::Completed),
        ),
        (
            "return approved to triage, then resolved at intake",
            returned_then([approve(None), resolve()]),
            S::ResolvedAtIntake,
            None,
        ),
    ];
    for (name, ticket, state, reason) in table {
        assert_eq!(ticket.state, state, "{name}");
        assert_eq!(ticket.outcome.close_reason, reason, "{name}");
    }
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
