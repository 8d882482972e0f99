//! A month of tickets for three units with known outcomes: every counter on
//! every day, every scorecard numerator and denominator, and the replay from
//! the event trail.
//!
//! March 2026 has no holidays; 3/2, 3/9, 3/16, 3/23 and 3/30 are Mondays.
//! An enquiry dispatched on a working day must be signed for by 17:30 of the
//! next working day and replied to by 17:30 of the third.

use super::*;
use crate::{
    event::EventKind,
    metrics::{Ratio, Scorecard, scorecard},
    ticket::{EmergencyService, LegalChannel},
};

use CloseReason as R;
use Satisfaction as Sat;

/// The scenario's tickets, each commented with what it exercises.
fn month() -> Vec<Run> {
    let mut runs = Vec::new();

    // T1 (A): on time throughout; very satisfied, resolved.
    let mut t = Run::enquiry(at(2, 9, 0));
    t.act(dispatch(A), at(2, 10, 0))
        .act(Action::Sign, at(2, 11, 0))
        .act(reply(true), at(4, 15, 0))
        .act(callback(Sat::VerySatisfied, true), at(5, 10, 0))
        .act(close(None), at(5, 10, 5));
    runs.push(t);

    // T2 (A): signed late and overdue, recorded by the sweeper (sign-for
    // crossing 3/3, warning and overdue 3/5), replied 3/6; satisfied, not
    // resolved.
    let mut t = Run::enquiry(at(2, 9, 0));
    t.act(dispatch(A), at(2, 10, 0))
        .sweep(at(3, 18, 0))
        .act(Action::Sign, at(4, 10, 0))
        .sweep(at(5, 18, 0))
        .act(reply(false), at(6, 10, 0))
        .act(callback(Sat::Satisfied, false), at(9, 10, 0))
        .act(close(None), at(9, 10, 5));
    assert_eq!(t.events.len(), 9, "three crossings recorded");
    runs.push(t);

    // T3 (A): replied late before the sweeper ran: the crossing still counts
    // on the deadline's day (3/5). Basically satisfied, resolved.
    let mut t = Run::enquiry(at(2, 9, 0));
    t.act(dispatch(A), at(2, 10, 0))
        .act(Action::Sign, at(2, 12, 0))
        .act(reply(true), at(6, 9, 30))
        .act(callback(Sat::BasicallySatisfied, true), at(9, 10, 0))
        .act(close(None), at(9, 10, 5));
    runs.push(t);

    // T4 (B): extended by 2 WD (deadline 3/12 → 3/16), replied on time,
    // dissatisfied; reopened to B, replied on time again, very dissatisfied,
    // closed as an unreasonable demand.
    let mut t = Run::enquiry(at(9, 9, 0));
    t.act(dispatch(B), at(9, 10, 0))
        .act(Action::Sign, at(9, 14, 0))
        .act(request_extension(2), at(11, 10, 0))
        .act(decide_extension(true), at(11, 11, 0));
    assert_eq!(deadline(&t), at(16, 17, 30));
    t.act(reply(true), at(16, 10, 0))
        .act(callback(Sat::Dissatisfied, false), at(17, 9, 0))
        .act(reopen(B), at(17, 10, 0))
        .act(Action::Sign, at(17, 11, 0))
        .act(reply(false), at(18, 15, 0))
        .act(callback(Sat::VeryDissatisfied, false), at(19, 10, 0))
        .act(close(Some(R::UnreasonableDemand)), at(19, 11, 0));
    runs.push(t);

    // T5 (A → B): A returns it, the centre approves and re-dispatches to B,
    // B handles it on time; nobody answers the callback: closed not rated.
    let callback_by = ReplyPolicy {
        review: false,
        callback_deadline: Some(at(10, 17, 30)),
    };
    let mut t = Run::enquiry(at(2, 9, 0));
    t.act(dispatch(A), at(2, 10, 0))
        .act(return_it(), at(2, 14, 0))
        .act(arbitrate(true, Some(B)), at(3, 9, 0))
        .act(Action::Sign, at(3, 10, 0))
        .act(reply_with(true, callback_by), at(5, 16, 0))
        .sweep(at(11, 9, 0));
    assert_eq!(t.ticket.outcome.close_reason, Some(R::NotRated));
    runs.push(t);

    // T6 (C): return rejected, back to C; handled on time; very satisfied.
    let mut t = Run::enquiry(at(10, 9, 0));
    t.act(dispatch(C), at(10, 10, 0))
        .act(return_it(), at(10, 11, 0))
        .act(arbitrate(false, None), at(10, 15, 0))
        .act(Action::Sign, at(11, 9, 0))
        .act(reply(false), at(12, 10, 0))
        .act(callback(Sat::VerySatisfied, true), at(13, 10, 0))
        .act(close(None), at(13, 10, 5));
    runs.push(t);

    // T7 (C → triage → A): C's return approved to triage, dispatched to A,
    // which signs late but replies on time saying it contacted the citizen.
    let mut t = Run::enquiry(at(10, 9, 0));
    t.act(dispatch(C), at(10, 10, 0))
        .act(return_it(), at(10, 11, 0))
        .act(arbitrate(true, None), at(10, 12, 0))
        .act(dispatch(A), at(10, 14, 0))
        .act(Action::Sign, at(12, 9, 0))
        .act(reply(true), at(13, 17, 0))
        .act(callback(Sat::Satisfied, true), at(16, 10, 0))
        .act(close(None), at(16, 10, 5));
    runs.push(t);

    // T8 (B, replies reviewed): the on-time reply of 3/24 is sent back, the
    // second reply (3/27) is late, before the sweeper ran.
    let review = ReplyPolicy {
        review: true,
        callback_deadline: None,
    };
    let send_back = Action::ReviewReply {
        approve: false,
        note: "答复不充分".into(),
        callback_deadline: None,
    };
    let approve = Action::ReviewReply {
        approve: true,
        note: "通过".into(),
        callback_deadline: Some(at(31, 17, 30)),
    };
    let mut t = Run::enquiry(at(23, 9, 0));
    t.act(dispatch(B), at(23, 10, 0))
        .act(Action::Sign, at(23, 11, 0))
        .act(reply_with(true, review), at(24, 10, 0))
        .act(send_back, at(24, 15, 0))
        .act(reply_with(false, review), at(27, 10, 0))
        .act(approve, at(27, 11, 0))
        .act(callback(Sat::Satisfied, true), at(30, 10, 0))
        .act(close(None), at(30, 10, 5));
    runs.push(t);

    // T9 (C): extension asked on the deadline day, the crossing recorded
    // that evening, the extension (3 WD: 3/5 → 3/10) granted next morning:
    // the crossing is taken back. Replied on time; very dissatisfied;
    // withdrawn.
    let mut t = Run::enquiry(at(2, 9, 0));
    t.act(dispatch(C), at(2, 10, 0))
        .act(Action::Sign, at(2, 10, 30))
        .act(request_extension(3), at(5, 10, 0))
        .sweep(at(5, 18, 0));
    assert!(t.ticket.alerts.overdue);
    t.act(decide_extension(true), at(6, 9, 0));
    assert_eq!(deadline(&t), at(10, 17, 30));
    t.act(reply(false), at(9, 10, 0))
        .act(callback(Sat::VeryDissatisfied, false), at(10, 10, 0))
        .act(close(Some(R::Withdrawn)), at(10, 11, 0));
    runs.push(t);

    // T10–T12 (centre): answered at intake; not accepted the next day;
    // handed to 119.
    let mut t = Run::enquiry(at(4, 9, 0));
    let answer = "已当场解答".into();
    t.act(
        Action::ResolveAtIntake {
            answer,
            article_ids: Vec::new(),
        },
        at(4, 9, 5),
    );
    runs.push(t);
    let mut t = Run::enquiry(at(4, 9, 0));
    let (channel, note) = (LegalChannel::Litigation, "请走诉讼渠道".into());
    t.act(Action::MarkNotAccepted { channel, note }, at(5, 9, 0));
    runs.push(t);
    let mut t = Run::accept(RequestType::Help, Urgency::Urgent, at(6, 9, 0));
    let (service, note) = (EmergencyService::Fire119, "火情".into());
    t.act(Action::TransferEmergency { service, note }, at(6, 9, 1));
    runs.push(t);

    runs
}

fn deadline(run: &Run) -> DateTime<Utc> {
    run.ticket.deadlines.unwrap().reply.at
}

fn all_deltas(runs: &[Run]) -> Vec<CounterDelta> {
    runs.iter().flat_map(|r| r.deltas.iter().cloned()).collect()
}

#[test]
fn every_counter_on_every_day() {
    let (a, b, c) = (Some(A), Some(B), Some(C));
    let expected = table(&[
        (None, 2, "received*5 accepted*5"),
        (None, 4, "received*2 accepted resolved_at_intake"),
        (None, 5, "not_accepted"),
        (None, 6, "received transferred_emergency"),
        (None, 9, "received accepted"),
        (None, 10, "received*2 accepted*2"),
        (None, 23, "received accepted"),
        // T1, T2, T3, T5 dispatched; T1 and T3 signed on time.
        (a, 2, "dispatched*4 signed*2 signed_on_time*2 responded*2"),
        (a, 3, "returns_approved"),
        (a, 4, "replied replied_on_time deadline_due signed"),
        // T1's callback; T2 and T3 overdue on their deadline's day.
        (a, 5, "rated satisfied resolved overdue*2 deadline_due*2"),
        (a, 6, "replied*2"),
        (a, 9, "rated*2 satisfied basically_satisfied resolved"),
        (a, 10, "dispatched"),
        (a, 12, "signed"),
        (a, 13, "replied replied_on_time deadline_due responded"),
        (a, 16, "rated satisfied resolved"),
        (b, 3, "dispatched signed signed_on_time responded"),
        (b, 5, "replied replied_on_time deadline_due"),
        (b, 9, "dispatched signed signed_on_time responded"),
        (b, 11, "extended not_rated"),
        (b, 16, "replied replied_on_time deadline_due"),
        (
            b,
            17,
            "rated dissatisfied reopened dispatched signed signed_on_time responded",
        ),
        (b, 18, "replied replied_on_time deadline_due"),
        (b, 19, "rated dissatisfied"),
        (b, 23, "dispatched signed signed_on_time responded"),
        (b, 26, "overdue deadline_due"),
        (b, 27, "replied"),
        (b, 30, "rated satisfied resolved"),
        (c, 2, "dispatched signed signed_on_time responded"),
        (c, 6, "extended"),
        (c, 9, "replied replied_on_time deadline_due"),
        (
            c,
            10,
            "dispatched*2 returns_rejected returns_approved rated dissatisfied",
        ),
        (c, 11, "signed signed_on_time responded"),
        (c, 12, "replied replied_on_time deadline_due"),
        (c, 13, "rated satisfied resolved"),
    ]);
    let runs = month();
    let got = keyed(&all_deltas(&runs));
    let mut keys: Vec<_> = expected.keys().chain(got.keys()).collect();
    keys.sort_by_key(|(u, d, c)| (u.clone(), *d, c.code()));
    keys.dedup();
    for key in keys {
        assert_eq!(got.get(key), expected.get(key), "{key:?}");
    }
}

#[test]
fn corrections_cancel_on_the_day_they_were_counted() {
    let runs = month();
    let raw = all_deltas(&runs);
    let sum = |u: Option<&str>, day: u32, counter: Counter| -> (i64, usize) {
        let hits: Vec<_> = raw
            .iter()
            .filter(|d| d.unit == u.map(unit) && d.day == march(day) && d.counter == counter)
            .collect();
        (hits.iter().map(|d| d.delta).sum(), hits.len())
    };
    // T8's first reply, sent back: +1 and -1 on 3/24.
    assert_eq!(sum(Some(B), 24, Counter::Replied), (0, 2));
    assert_eq!(sum(Some(B), 24, Counter::RepliedOnTime), (0, 2));
    // T9's crossing, undone by the extension: +1 and -1 on 3/5.
    assert_eq!(sum(Some(C), 5, Counter::Overdue), (0, 2));
    assert_eq!(sum(Some(C), 5, Counter::DeadlineDue), (0, 2));
    // T12's acceptance taken back on its creation day.
    assert_eq!(sum(None, 6, Counter::Accepted), (0, 2));
    // T11 was created on 3/4 and declined on 3/5.
    assert_eq!(sum(None, 4, Counter::Accepted), (1, 3));
}

#[test]
fn scorecards_have_exact_numerators_and_denominators() {
    let runs = month();
    let raw = all_deltas(&runs);
    let card = |id: &str| scorecard(&unit_totals(&raw, Some(&unit(id))));
    let r = Ratio::new;
    assert_eq!(
        card(A),
        Scorecard {
            timely_sign_for: r(2, 5),
            on_time_completion: r(2, 4),
            completion: r(4, 5),
            return_rate: r(1, 5),
            rehandling_rate: r(0, 4),
            satisfaction: r(4, 4),
            resolution: r(3, 4),
            response: r(3, 5),
            resolved_at_intake: r(0, 0),
            improper_returns: 0,
            overdue: 2,
            extensions: 0,
            not_rated: 0,
        }
    );
    assert_eq!(
        card(B),
        Scorecard {
            timely_sign_for: r(4, 4),
            on_time_completion: r(3, 4),
            completion: r(4, 4),
            return_rate: r(0, 4),
            rehandling_rate: r(1, 4),
            satisfaction: r(1, 3),
            resolution: r(1, 3),
            response: r(4, 4),
            resolved_at_intake: r(0, 0),
            improper_returns: 0,
            overdue: 1,
            extensions: 1,
            not_rated: 1,
        }
    );
    assert_eq!(
        card(C),
        Scorecard {
            timely_sign_for: r(2, 3),
            on_time_completion: r(2, 2),
            completion: r(2, 3),
            return_rate: r(1, 3),
            rehandling_rate: r(0, 2),
            satisfaction: r(1, 2),
            resolution: r(1, 2),
            response: r(2, 3),
            resolved_at_intake: r(0, 0),
            improper_returns: 1,
            overdue: 0,
            extensions: 1,
            not_rated: 0,
        }
    );
    // Centre-wide: every unit's counters and the centre's.
    let centre = scorecard(&super::super::totals(&raw));
    assert_eq!(centre.resolved_at_intake, r(1, 10));
    assert_eq!(centre.timely_sign_for, r(8, 12));
    assert_eq!(centre.on_time_completion, r(7, 10));
    assert_eq!(centre.satisfaction, r(6, 9));
    assert_eq!(centre.overdue, 3);
    // A's on-time completion for the week of 3/2–3/8 only: T1 replied on
    // time (3/4), T2 and T3 fell due late (3/5).
    let week: Vec<_> = raw
        .iter()
        .filter(|d| d.unit == Some(unit(A)) && d.day <= march(8))
        .cloned()
        .collect();
    assert_eq!(
        scorecard(&super::super::totals(&week)).on_time_completion,
        r(1, 3)
    );
    assert_eq!(r(2, 4).value(), Some(0.5));
    assert_eq!(r(4, 0).value(), None);
}

#[test]
fn the_event_trail_replays_to_the_same_counters() {
    for run in month() {
        assert_eq!(
            run.replayed(),
            run.deltas,
            "ticket ended {}",
            run.ticket.state
        );
    }
}

#[test]
fn exclusions_never_touch_unit_counters() {
    let runs = month();
    for run in &runs[9..] {
        assert!(
            run.deltas
                .iter()
                .all(|d| d.unit.is_none() && d.counter.is_centre())
        );
    }
    assert!(
        all_deltas(&runs)
            .iter()
            .all(|d| d.counter.is_centre() == d.unit.is_none())
    );
}

#[test]
fn days_are_local_to_the_centre() {
    // 00:30 on 3/3 in Beijing is still 3/2 in UTC.
    let mut t = Run::enquiry(at(2, 23, 0));
    t.act(dispatch(A), at(3, 0, 30));
    let got = keyed(&t.deltas);
    assert_eq!(
        got.get(&(Some(unit(A)), march(3), Counter::Dispatched)),
        Some(&1)
    );
    assert_eq!(got.get(&(None, march(2), Counter::Received)), Some(&1));
    let utc = chrono::FixedOffset::east_opt(0).unwrap();
    let replayed = replay(&t.events, utc).unwrap();
    assert!(
        replayed
            .iter()
            .any(|d| d.counter == Counter::Dispatched && d.day == march(2))
    );
}

#[test]
fn counter_codes_round_trip() {
    for c in Counter::ALL {
        assert_eq!(Counter::from_code(c.code()), Some(*c));
        let json = serde_json::to_string(c).unwrap();
        assert_eq!(serde_json::from_str::<Counter>(&json).unwrap(), *c);
    }
    let rating = |s| super::super::rating_counter(s);
    assert_eq!(rating(Sat::VerySatisfied), Counter::Satisfied);
    assert_eq!(rating(Sat::Satisfied), Counter::Satisfied);
    assert_eq!(rating(Sat::BasicallySatisfied), Counter::BasicallySatisfied);
    assert_eq!(rating(Sat::Dissatisfied), Counter::Dissatisfied);
    assert_eq!(rating(Sat::VeryDissatisfied), Counter::Dissatisfied);
}

#[test]
fn a_broken_trail_is_refused() {
    let runs = month();
    let events = &runs[0].events;
    assert!(replay(&events[1..], CHINA_STANDARD_TIME).is_err());
    let mut gap = events.clone();
    gap.remove(2);
    assert!(replay(&gap, CHINA_STANDARD_TIME).is_err());
    let mut mixed = events.clone();
    mixed[3].ticket_id = runs[1].ticket.id;
    assert!(replay(&mixed, CHINA_STANDARD_TIME).is_err());
    // A payload that does not fit its kind is refused as it is read, so no
    // trail holds one.
    let kind = events[3].kind.event_type();
    assert!(EventKind::from_stored(kind, serde_json::json!({})).is_err());
    assert_eq!(replay(&[], CHINA_STANDARD_TIME).unwrap(), Vec::new());
}

#[test]
fn a_deadline_passed_while_returning_counts_whenever_the_sweeper_ran() {
    // Urgent: sign-for within 15 minutes, reply within 2 hours (12:00).
    let returned = |sweep_at: Option<DateTime<Utc>>| {
        let mut t = Run::accept(RequestType::Help, Urgency::Urgent, at(2, 9, 55));
        t.act(dispatch(A), at(2, 10, 0))
            .act(Action::Sign, at(2, 10, 5))
            .act(return_it(), at(2, 10, 30));
        if let Some(now) = sweep_at {
            t.sweep(now);
            assert!(t.ticket.alerts.overdue);
        }
        t.act(arbitrate(true, Some(B)), at(2, 12, 30));
        assert_eq!(t.replayed(), t.deltas);
        keyed(&t.deltas)
    };
    let expected = table(&[
        (None, 2, "received accepted"),
        (
            Some(A),
            2,
            "dispatched signed signed_on_time responded returns_approved overdue deadline_due",
        ),
        (Some(B), 2, "dispatched"),
    ]);
    assert_eq!(returned(None), expected);
    assert_eq!(returned(Some(at(2, 12, 10))), expected);
    // Approved before the deadline: nothing falls due for A.
    let mut t = Run::accept(RequestType::Help, Urgency::Urgent, at(2, 9, 55));
    t.act(dispatch(A), at(2, 10, 0))
        .act(return_it(), at(2, 10, 30))
        .act(arbitrate(true, None), at(2, 11, 0));
    let totals = unit_totals(&t.deltas, Some(&unit(A)));
    assert_eq!(totals.get(&Counter::DeadlineDue), None);
    assert_eq!(totals.get(&Counter::ReturnsApproved), Some(&1));
}
