//! Deadlines through the state machine, hand-computed from DOMAIN.md §2–§3:
//! extensions (at most once, at most 10 WD, asked before the deadline,
//! counted from the original deadline), the 1-WD return window on the
//! calendar, and the instants at which the sweeper's crossings fall due.
//!
//! Weekdays for reference: 2026-02-10 Tue, 2026-02-13 Fri, 2026-02-14 Sat
//! (make-up), 02-15…02-23 off, 2026-02-28 Sat (make-up); 2026-09-24 Thu,
//! 09-25…09-27 off, 10-01…10-07 off, 2026-10-10 Sat (make-up); 2026-12-28
//! Mon, 2027-01-01 Fri (2027 not loaded).

use std::sync::{Arc, LazyLock};

use super::{returns::precondition, *};
use crate::{
    calendar::{CHINA_STANDARD_TIME, Calendar, CalendarData, WorkingHours},
    lifecycle::ReturnWindow,
    ticket::AlertKind,
    timelimit::{Limit, TimeLimitPolicy, Timing, spec_tests::bj},
};

static CALENDAR: LazyLock<Arc<Calendar>> = LazyLock::new(|| {
    let data = CalendarData::national();
    Arc::new(Calendar::new(data, WorkingHours::default(), CHINA_STANDARD_TIME, 1).unwrap())
});

fn timing() -> Timing {
    Timing {
        policy: Arc::new(TimeLimitPolicy::default()),
        calendar: CALENDAR.clone(),
    }
}

const US: TimeDelta = TimeDelta::microseconds(1);

/// A ticket of `request_type` dispatched at `at` with the default policy.
fn dispatched_at(request_type: RequestType, at: DateTime<Utc>) -> Ticket {
    let mut assignment = assignment("water-works", &[], None);
    assignment.timing = Some(timing());
    let ticket = accept(request_type, false).ticket;
    step_at(&ticket, Action::Dispatch(assignment), &agent(), at)
}

fn ask(days: u32) -> Action {
    Action::RequestExtension {
        days,
        reason: "需现场检测".into(),
        policy: Arc::new(TimeLimitPolicy::default()),
    }
}

fn grant(days: Option<u32>) -> Action {
    Action::DecideExtension {
        approve: true,
        days,
        timing: timing(),
        note: "同意延期".into(),
    }
}

fn reply_at(ticket: &Ticket) -> DateTime<Utc> {
    ticket.deadlines.unwrap().reply.at
}

/// Asks at `asked` for `days` and has the centre grant `granted` at `decided`.
fn extended(
    ticket: &Ticket,
    days: u32,
    granted: Option<u32>,
    asked: DateTime<Utc>,
    decided: DateTime<Utc>,
) -> Ticket {
    let asking = step_at(ticket, ask(days), &handler(), asked);
    step_at(&asking, grant(granted), &agent(), decided)
}

/// (note, days asked, days granted, decided at, new reply deadline).
type ExtensionCase = (&'static str, u32, Option<u32>, DateTime<Utc>, DateTime<Utc>);

#[test]
fn extensions_count_from_the_original_deadline() {
    // Enquiry (3 WD) dispatched Thu 09-24: 09-28, 09-29, 09-30.
    let enquiry = dispatched_at(RequestType::Enquiry, bj(2026, 9, 24, 10, 0, 0));
    assert_eq!(reply_at(&enquiry), bj(2026, 9, 30, 17, 30, 0));
    #[rustfmt::skip]
    let cases: &[ExtensionCase] = &[
        // 10-08 Thu, 10-09 Fri, 10-10 make-up Sat, 10-12 Mon, 10-13 Tue.
        ("5 WD over National Day", 5, None, bj(2026, 9, 29, 15, 0, 0), bj(2026, 10, 13, 17, 30, 0)),
        // The decision comes after the original deadline: still from 09-30.
        ("decided late", 5, None, bj(2026, 10, 8, 11, 0, 0), bj(2026, 10, 13, 17, 30, 0)),
        // …10-13, 10-14, 10-15, 10-16, 10-19, 10-20.
        ("the 10-WD cap", 10, None, bj(2026, 9, 30, 9, 0, 0), bj(2026, 10, 20, 17, 30, 0)),
        ("the centre grants fewer", 10, Some(1), bj(2026, 9, 30, 9, 0, 0), bj(2026, 10, 8, 17, 30, 0)),
        ("granted 3: the make-up Saturday", 4, Some(3), bj(2026, 9, 30, 9, 0, 0), bj(2026, 10, 10, 17, 30, 0)),
    ];
    let asked = bj(2026, 9, 29, 15, 0, 0);
    for &(note, days, granted, decided, expected) in cases {
        let t = extended(&enquiry, days, granted, asked, decided);
        let d = t.deadlines.unwrap();
        assert_eq!(
            (d.reply.at, d.reply.provisional),
            (expected, false),
            "{note}"
        );
        assert_eq!(d.sign, enquiry.deadlines.unwrap().sign, "{note}: sign kept");
        // The warning card moves with the deadline: its last working day.
        let warn = expected - TimeDelta::minutes(510);
        assert_eq!(d.warn_at, warn, "{note}: warning");
        assert_eq!(t.extensions_granted, 1, "{note}");
    }
}

#[test]
fn extensions_across_the_2026_spring_festival_and_into_an_unloaded_year() {
    // Enquiry dispatched Tue 02-10: 02-11, 02-12, 02-13.
    let enquiry = dispatched_at(RequestType::Enquiry, bj(2026, 2, 10, 10, 0, 0));
    assert_eq!(reply_at(&enquiry), bj(2026, 2, 13, 17, 30, 0));
    let asked = bj(2026, 2, 12, 10, 0, 0);
    // +3: 02-14 (make-up Sat), 02-24, 02-25.
    let three = extended(&enquiry, 3, None, asked, asked);
    assert_eq!(reply_at(&three), bj(2026, 2, 25, 17, 30, 0));
    // +10: 02-14, 02-24…02-27, 02-28 (make-up Sat), 03-02…03-05.
    let ten = extended(&enquiry, 10, None, asked, asked);
    assert_eq!(reply_at(&ten), bj(2026, 3, 5, 17, 30, 0));

    // Enquiry dispatched Mon 12-28: 12-29, 12-30, 12-31, all in loaded 2026.
    let year_end = dispatched_at(RequestType::Enquiry, bj(2026, 12, 28, 10, 0, 0));
    let d = year_end.deadlines.unwrap();
    assert_eq!(
        (d.reply.at, d.reply.provisional),
        (bj(2026, 12, 31, 17, 30, 0), false)
    );
    // +2 on plain Monday–Friday of 2027: 01-01 Fri, 01-04 Mon; provisional.
    let asked = bj(2026, 12, 31, 17, 29, 59);
    let t = extended(&year_end, 2, None, asked, asked);
    let d = t.deadlines.unwrap().reply;
    assert_eq!((d.at, d.provisional), (bj(2027, 1, 4, 17, 30, 0), true));
}

#[test]
fn an_extension_is_asked_strictly_before_the_deadline_once_and_for_at_most_10_wd() {
    let enquiry = dispatched_at(RequestType::Enquiry, bj(2026, 9, 24, 10, 0, 0));
    let deadline = bj(2026, 9, 30, 17, 30, 0);
    let last_second = bj(2026, 9, 30, 17, 29, 59);
    step_at(&enquiry, ask(10), &handler(), last_second);
    for at in [deadline, deadline + US, bj(2026, 10, 8, 9, 0, 0)] {
        let err = enquiry.apply(ask(1), &handler(), at).unwrap_err();
        assert_eq!(precondition(&err), "EXTENSION_TOO_LATE", "{at}");
    }
    for days in [0, 11] {
        let err = enquiry
            .apply(ask(days), &handler(), last_second)
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::InvalidField { field, .. } if field == "days"),
            "{days}: {err:?}"
        );
    }
    let once = extended(
        &enquiry,
        2,
        None,
        last_second,
        deadline + TimeDelta::hours(1),
    );
    let err = once
        .apply(ask(1), &handler(), bj(2026, 10, 9, 9, 0, 0))
        .unwrap_err();
    assert_eq!(precondition(&err), "EXTENSION_LIMIT");
}

#[test]
fn the_default_return_window_is_one_working_day_on_the_calendar() {
    let window = |at| ReturnWindow::Calendar(Limit::WorkingDays(1), CALENDAR.clone()).closes(at);
    #[rustfmt::skip]
    let cases = [
        ("eve of Spring Festival: the make-up Saturday", bj(2026, 2, 13, 16, 0, 0), bj(2026, 2, 14, 17, 30, 0)),
        ("on the make-up Saturday, after hours", bj(2026, 2, 14, 18, 0, 0), bj(2026, 2, 24, 17, 30, 0)),
        ("eve of National Day, a second before 17:30", bj(2026, 9, 30, 17, 29, 59), bj(2026, 10, 8, 17, 30, 0)),
        ("into unloaded 2027", bj(2026, 12, 31, 10, 0, 0), bj(2027, 1, 1, 17, 30, 0)),
    ];
    for (note, opened, closes) in cases {
        assert_eq!(window(opened), closes, "{note}");
    }

    // Through the state machine: the last instant is admitted, not one more.
    let opened = bj(2026, 2, 13, 16, 0, 0);
    let ticket = dispatched_at(RequestType::Complaint, opened);
    let policy = ReturnPolicy {
        window: ReturnWindow::Calendar(Limit::WorkingDays(1), CALENDAR.clone()),
    };
    let action = || Action::Return {
        reason: "不属本单位职责".into(),
        legal_basis: "《城市供水条例》第二十条".into(),
        policy: policy.clone(),
    };
    let edge = bj(2026, 2, 14, 17, 30, 0);
    step_at(&ticket, action(), &handler(), edge);
    let err = ticket.apply(action(), &handler(), edge + US).unwrap_err();
    assert_eq!(precondition(&err), "RETURN_WINDOW");
}

/// A deadline is met by acting at its very instant (a reply at the deadline
/// is on time; `ListOverdue` lists deadlines strictly before now), so the
/// sweeper must not record an overdue crossing at that instant.
#[test]
fn crossings_fall_due_after_the_deadline_instant_and_the_warning_at_its_own() {
    // Complaint dispatched on the make-up Saturday 02-14: sign by 02-24,
    // reply by 03-13 (15 WD: 02-24…02-27, 02-28, 03-02…03-06, 03-09…03-13).
    let ticket = dispatched_at(RequestType::Complaint, bj(2026, 2, 14, 10, 0, 0));
    let d = ticket.deadlines.unwrap();
    let sign = bj(2026, 2, 24, 17, 30, 0);
    let reply = bj(2026, 3, 13, 17, 30, 0);
    let warn = bj(2026, 3, 13, 9, 0, 0);
    assert_eq!((d.sign.at, d.reply.at, d.warn_at), (sign, reply, warn));

    assert_eq!(
        ticket.due_alert(sign),
        None,
        "signing at 17:30:00 is on time"
    );
    assert_eq!(ticket.due_alert(sign + US), Some(AlertKind::SignOverdue));
    assert_eq!(ticket.next_alert_at(), Some(sign + US));

    let signed = step_at(&ticket, Action::Sign, &handler(), bj(2026, 2, 25, 9, 0, 0));
    assert_eq!(signed.due_alert(warn - US), None);
    assert_eq!(signed.due_alert(warn), Some(AlertKind::Warning));
    let warned = signed
        .record_alert(AlertKind::Warning, warn)
        .unwrap()
        .ticket;
    assert_eq!(
        warned.due_alert(reply),
        None,
        "replying at 17:30:00 is on time"
    );
    assert_eq!(warned.due_alert(reply + US), Some(AlertKind::Overdue));
    assert_eq!(warned.next_alert_at(), Some(reply + US));
    assert!(warned.sweep_crossing(reply, None).unwrap().is_none());
    assert!(warned.sweep_crossing(reply + US, None).unwrap().is_some());

    // Urgent (natural time): the same rule at 15 min and 2 h.
    let mut urgent = accept(RequestType::Complaint, false).ticket;
    urgent.intake.urgency = Urgency::Urgent;
    let mut assignment = assignment("water-works", &[], None);
    assignment.timing = Some(timing());
    let at = bj(2026, 9, 30, 23, 0, 0);
    let urgent = step_at(&urgent, Action::Dispatch(assignment), &agent(), at);
    let fifteen = at + TimeDelta::minutes(15);
    assert_eq!(urgent.due_alert(fifteen), None);
    assert_eq!(urgent.due_alert(fifteen + US), Some(AlertKind::SignOverdue));
}
