//! The default policy against DOMAIN.md §2–§3, with every expected value
//! worked out by hand from the spec's tables (weekdays from a printed
//! calendar), and the laws those tables imply.
//!
//! Reference weekdays: 2024-02-09 Fri, 2024-02-18 Sun (make-up), 2024-09-29
//! Sun (make-up), 2024-10-01 Tue, 2024-10-12 Sat (make-up); 2025-01-27 Mon,
//! 2025-02-08 Sat (make-up), 2025-04-27 Sun (make-up), 2025-05-01 Thu,
//! 2025-10-01 Wed, 2025-10-11 Sat (make-up); 2026-01-04 Sun (make-up),
//! 2026-02-13 Fri, 02-14 Sat (make-up), 02-15 Sun…02-23 Mon off, 02-28 Sat
//! (make-up), 2026-03-10 Tue, 2026-04-03 Fri, 2026-05-01 Fri, 2026-05-09 Sat
//! (make-up), 2026-06-18 Thu, 2026-09-27 Sun (off), 2026-10-01 Thu,
//! 2026-12-31 Thu, 2027-01-01 Fri (2027 not loaded: plain Monday–Friday).

use std::sync::LazyLock;

use chrono::{Datelike, FixedOffset, NaiveTime, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::calendar::{CHINA_STANDARD_TIME, CalendarData, WorkingHours};

static CALENDAR: LazyLock<Calendar> = LazyLock::new(|| {
    Calendar::new(
        CalendarData::national(),
        WorkingHours::default(),
        CHINA_STANDARD_TIME,
        1,
    )
    .unwrap()
});

/// Beijing wall-clock time (Asia/Shanghai, +08:00 all year); the
/// lifecycle's deadline tests use it too.
pub(crate) fn bj(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .with_timezone(&Utc)
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

/// 17:30 Beijing time on a day: where working-day deadlines fall.
fn end(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
    bj(y, mo, d, 17, 30, 0)
}

use RequestType as T;

struct Case {
    note: &'static str,
    request_type: RequestType,
    received: DateTime<Utc>,
    sign: DateTime<Utc>,
    reply: DateTime<Utc>,
    /// Provisional (sign, reply).
    provisional: (bool, bool),
}

fn case(
    note: &'static str,
    request_type: RequestType,
    received: DateTime<Utc>,
    sign: DateTime<Utc>,
    reply: DateTime<Utc>,
) -> Case {
    Case {
        note,
        request_type,
        received,
        sign,
        reply,
        provisional: (false, false),
    }
}

fn check(cases: &[Case]) {
    let policy = TimeLimitPolicy::default();
    for c in cases {
        let d = policy.deadlines(&CALENDAR, c.request_type, Urgency::Normal, c.received);
        let got = (
            d.sign.at,
            d.reply.at,
            (d.sign.provisional, d.reply.provisional),
        );
        assert_eq!(got, (c.sign, c.reply, c.provisional), "{}", c.note);
        // The warning card: the start of the deadline's working day, one
        // working day (09:00–17:30) before it.
        assert_eq!(
            d.warn_at,
            c.reply - TimeDelta::minutes(510),
            "{}: warning",
            c.note
        );
        assert_eq!(d.reply.calendar_version, 1);
    }
}

#[test]
fn the_time_of_receipt_and_the_beijing_day_boundary() {
    #[rustfmt::skip]
    check(&[
        // Enquiry 3 WD from Tue 03-10: 03-11, 03-12, 03-13; sign 1 WD: 03-11.
        case("a second before the end of hours", T::Enquiry, bj(2026, 3, 10, 17, 29, 59), end(2026, 3, 11), end(2026, 3, 13)),
        case("at the end of hours", T::Enquiry, bj(2026, 3, 10, 17, 30, 0), end(2026, 3, 11), end(2026, 3, 13)),
        case("before hours", T::Enquiry, bj(2026, 3, 10, 8, 59, 0), end(2026, 3, 11), end(2026, 3, 13)),
        case("Beijing midnight", T::Enquiry, bj(2026, 3, 10, 0, 0, 0), end(2026, 3, 11), end(2026, 3, 13)),
        case("07:59 Tue in Beijing is still Mon in UTC", T::Enquiry, utc(2026, 3, 9, 23, 59, 0), end(2026, 3, 11), end(2026, 3, 13)),
        case("23:59:59 Tue in Beijing", T::Enquiry, utc(2026, 3, 10, 15, 59, 59), end(2026, 3, 11), end(2026, 3, 13)),
        // 16:00 UTC is 00:00 Wed in Beijing: 03-12, 03-13, 03-16 (Mon).
        case("00:00 Wed in Beijing, Tue in UTC", T::Enquiry, utc(2026, 3, 10, 16, 0, 0), end(2026, 3, 12), end(2026, 3, 16)),
        // Sun 09-27 is off; Mon 09-28 is the first working day.
        // Complaint 15 WD: 09-28…09-30 (3), 10-08, 10-09, 10-10 (6),
        // 10-12…10-16 (11), 10-19…10-22 (15).
        case("23:59:59 on a Sunday off", T::Complaint, utc(2026, 9, 27, 15, 59, 59), end(2026, 9, 28), end(2026, 10, 22)),
        // From Mon 09-28 00:00: 09-29, 09-30 (2), 10-08…10-10 (5),
        // 10-12…10-16 (10), 10-19…10-23 (15).
        case("00:00 on the Monday after", T::Complaint, utc(2026, 9, 27, 16, 0, 0), end(2026, 9, 29), end(2026, 10, 23)),
        // Help 7 WD from Fri 02-13: 02-14 (make-up), 02-24…02-28, 03-02.
        case("23:59:59 on the eve of Spring Festival", T::Help, utc(2026, 2, 13, 15, 59, 59), end(2026, 2, 14), end(2026, 3, 2)),
        // From the make-up Saturday itself: 02-24…02-28 (5), 03-02, 03-03.
        case("00:00 on the make-up Saturday", T::Help, utc(2026, 2, 13, 16, 0, 0), end(2026, 2, 24), end(2026, 3, 3)),
    ]);
}

#[test]
fn receipts_on_make_up_days_and_holidays() {
    #[rustfmt::skip]
    check(&[
        // From Sat 02-14: 02-24 (1), 02-25, 02-26 (3), 02-27, 02-28 (5),
        // 03-02…03-06 (10), 03-09…03-13 (15).
        case("complaint on the make-up Saturday 2026-02-14", T::Complaint, bj(2026, 2, 14, 10, 0, 0), end(2026, 2, 24), end(2026, 3, 13)),
        case("enquiry on the make-up Saturday 2026-02-14", T::Enquiry, bj(2026, 2, 14, 10, 0, 0), end(2026, 2, 24), end(2026, 2, 26)),
        case("suggestion on the make-up Saturday 2026-02-14", T::Suggestion, bj(2026, 2, 14, 18, 0, 0), end(2026, 2, 24), end(2026, 3, 3)),
        case("enquiry on 2026-02-15, a holiday", T::Enquiry, bj(2026, 2, 15, 11, 0, 0), end(2026, 2, 24), end(2026, 2, 26)),
        case("complaint on the last holiday 02-23, evening", T::Complaint, bj(2026, 2, 23, 20, 0, 0), end(2026, 2, 24), end(2026, 3, 13)),
        case("enquiry on the first day back, 08:59", T::Enquiry, bj(2026, 2, 24, 8, 59, 0), end(2026, 2, 25), end(2026, 2, 27)),
        // From Fri 02-27: 02-28 (make-up), 03-02, 03-03.
        case("enquiry on Fri 02-27: signs on the make-up Saturday", T::Enquiry, bj(2026, 2, 27, 10, 0, 0), end(2026, 2, 28), end(2026, 3, 3)),
        case("enquiry due on the make-up Saturday 02-28", T::Enquiry, bj(2026, 2, 25, 10, 0, 0), end(2026, 2, 26), end(2026, 2, 28)),
        // From Sat 02-28: 03-02…03-06 (5), 03-09…03-13 (10), 03-16…03-20.
        case("complaint on the make-up Saturday 2026-02-28", T::Complaint, bj(2026, 2, 28, 10, 0, 0), end(2026, 3, 2), end(2026, 3, 20)),
        // From Sun 2024-09-29: 09-30 (1), 10-08…10-11 (5), 10-12 (make-up), 10-14.
        case("suggestion on the make-up Sunday 2024-09-29", T::Suggestion, bj(2024, 9, 29, 10, 0, 0), end(2024, 9, 30), end(2024, 10, 14)),
        case("enquiry on the make-up Sunday 2024-02-18, after hours", T::Enquiry, bj(2024, 2, 18, 18, 0, 0), end(2024, 2, 19), end(2024, 2, 21)),
        case("enquiry on the make-up Sunday 2025-04-27", T::Enquiry, bj(2025, 4, 27, 10, 0, 0), end(2025, 4, 28), end(2025, 4, 30)),
    ]);
}

#[test]
fn receipts_on_the_last_day_before_a_long_holiday() {
    #[rustfmt::skip]
    check(&[
        // 2024-10-01…10-07 off: 10-08…10-11 (4), 10-12 make-up (5),
        // 10-14…10-18 (10), 10-21…10-25 (15).
        case("complaint, eve of National Day 2024", T::Complaint, bj(2024, 9, 30, 16, 0, 0), end(2024, 10, 8), end(2024, 10, 25)),
        // 2025-10-01…10-08 off: 10-09, 10-10, 10-11 make-up, 10-13…10-16.
        case("help, eve of National Day 2025", T::Help, bj(2025, 9, 30, 17, 29, 59), end(2025, 10, 9), end(2025, 10, 16)),
        // 2024-02-10…02-17 off: 02-18 make-up Sun, 02-19, 02-20.
        case("enquiry, eve of Spring Festival 2024", T::Enquiry, bj(2024, 2, 9, 10, 0, 0), end(2024, 2, 18), end(2024, 2, 20)),
        // 2025-01-28…02-04 off: 02-05…02-07 (3), 02-08 make-up (4),
        // 02-10…02-14 (9), 02-17…02-21 (14), 02-24 (15).
        case("complaint, eve of Spring Festival 2025", T::Complaint, bj(2025, 1, 27, 10, 0, 0), end(2025, 2, 5), end(2025, 2, 24)),
        // From Fri 2026-02-13: 02-14 (1), 02-24…02-27 (5), 02-28 (6),
        // 03-02…03-06 (11), 03-09…03-12 (15).
        case("report, eve of Spring Festival 2026, 17:30", T::Report, bj(2026, 2, 13, 17, 30, 0), end(2026, 2, 14), end(2026, 3, 12)),
        case("enquiry, eve of Labour Day 2025", T::Enquiry, bj(2025, 4, 30, 10, 0, 0), end(2025, 5, 6), end(2025, 5, 8)),
        // 2026-05-01…05-05 off: 05-06…05-08 (3), 05-09 make-up (4), 05-11…05-13.
        case("help, eve of Labour Day 2026", T::Help, bj(2026, 4, 30, 10, 0, 0), end(2026, 5, 6), end(2026, 5, 13)),
        case("enquiry, eve of Dragon Boat 2026", T::Enquiry, bj(2026, 6, 18, 10, 0, 0), end(2026, 6, 22), end(2026, 6, 24)),
        // 2026-04-04…04-06 off: 04-07…04-10 (4), 04-13…04-17 (9),
        // 04-20…04-24 (14), 04-27 (15).
        case("report, eve of Qingming 2026", T::Report, bj(2026, 4, 3, 10, 0, 0), end(2026, 4, 7), end(2026, 4, 27)),
        // 2026-01-01…01-03 off: 01-04 make-up Sun, 01-05, 01-06.
        case("enquiry, New Year's Eve 2025", T::Enquiry, bj(2025, 12, 31, 10, 0, 0), end(2026, 1, 4), end(2026, 1, 6)),
    ]);
}

#[test]
fn deadlines_falling_into_an_unloaded_year_are_provisional() {
    let provisional = |mut c: Case, flags| {
        c.provisional = flags;
        c
    };
    #[rustfmt::skip]
    check(&[
        case("ends on 12-31 of loaded 2026", T::Enquiry, bj(2026, 12, 28, 10, 0, 0), end(2026, 12, 29), end(2026, 12, 31)),
        provisional(case("enquiry from 12-29: 12-30, 12-31, 2027-01-01", T::Enquiry, bj(2026, 12, 29, 10, 0, 0), end(2026, 12, 30), end(2027, 1, 1)), (false, true)),
        // 2027 as plain Monday–Friday: 01-01 (1), 01-04, 01-05 (3).
        provisional(case("enquiry on 12-31", T::Enquiry, bj(2026, 12, 31, 10, 0, 0), end(2027, 1, 1), end(2027, 1, 5)), (true, true)),
        // 01-01 (1), 01-04…01-08 (6), 01-11…01-15 (11), 01-18…01-21 (15).
        provisional(case("complaint on 12-31", T::Complaint, bj(2026, 12, 31, 10, 0, 0), end(2027, 1, 1), end(2027, 1, 21)), (true, true)),
        provisional(case("complaint on 12-30: sign in 2026", T::Complaint, bj(2026, 12, 30, 10, 0, 0), end(2026, 12, 31), end(2027, 1, 20)), (false, true)),
        provisional(case("23:59:59 on 12-31 in Beijing", T::Enquiry, utc(2026, 12, 31, 15, 59, 59), end(2027, 1, 1), end(2027, 1, 5)), (true, true)),
        // 16:30 UTC on 12-31 is 00:30 on 2027-01-01 in Beijing: 01-04, 01-05, 01-06.
        provisional(case("already 2027 in Beijing", T::Enquiry, utc(2026, 12, 31, 16, 30, 0), end(2027, 1, 4), end(2027, 1, 6)), (true, true)),
    ]);
}

#[test]
fn urgent_and_utility_tickets_run_on_natural_time() {
    let policy = TimeLimitPolicy::default();
    #[rustfmt::skip]
    let cases = [
        // (note, type, urgency, received, sign, reply, warning at ¾ of the reply limit)
        ("urgent across midnight into National Day", T::Complaint, Urgency::Urgent, bj(2026, 9, 30, 23, 0, 0),
            bj(2026, 9, 30, 23, 15, 0), bj(2026, 10, 1, 1, 0, 0), bj(2026, 10, 1, 0, 30, 0)),
        ("urgent on a Spring Festival holiday", T::Enquiry, Urgency::Urgent, bj(2026, 2, 15, 12, 0, 0),
            bj(2026, 2, 15, 12, 15, 0), bj(2026, 2, 15, 14, 0, 0), bj(2026, 2, 15, 13, 30, 0)),
        ("urgent on New Year's Eve", T::Help, Urgency::Urgent, bj(2025, 12, 31, 23, 50, 0),
            bj(2026, 1, 1, 0, 5, 0), bj(2026, 1, 1, 1, 50, 0), bj(2026, 1, 1, 1, 20, 0)),
        ("urgent at 23:30 Beijing, 15:30 UTC", T::Report, Urgency::Urgent, utc(2026, 10, 1, 15, 30, 0),
            utc(2026, 10, 1, 15, 45, 0), bj(2026, 10, 2, 1, 30, 0), bj(2026, 10, 2, 1, 0, 0)),
        ("outage on the make-up Saturday night", T::Other, Urgency::UtilityOutage, bj(2026, 2, 14, 22, 10, 0),
            bj(2026, 2, 14, 22, 40, 0), bj(2026, 2, 15, 22, 10, 0), bj(2026, 2, 15, 16, 10, 0)),
        ("outage at 17:29:59", T::Complaint, Urgency::UtilityOutage, bj(2026, 3, 10, 17, 29, 59),
            bj(2026, 3, 10, 17, 59, 59), bj(2026, 3, 11, 17, 29, 59), bj(2026, 3, 11, 11, 29, 59)),
        ("outage into unloaded 2027: never provisional", T::Report, Urgency::UtilityOutage, bj(2026, 12, 31, 23, 50, 0),
            bj(2027, 1, 1, 0, 20, 0), bj(2027, 1, 1, 23, 50, 0), bj(2027, 1, 1, 17, 50, 0)),
    ];
    for (note, request_type, urgency, received, sign, reply, warn) in cases {
        let d = policy.deadlines(&CALENDAR, request_type, urgency, received);
        assert_eq!(
            (d.sign.at, d.reply.at, d.warn_at),
            (sign, reply, warn),
            "{note}"
        );
        assert!(!d.sign.provisional && !d.reply.provisional, "{note}");
    }
}

/// Instants over 2024–2027 (the loaded years and the first unloaded one),
/// half of them at a boundary of the Beijing working day.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let lo = bj(2024, 1, 1, 0, 0, 0).timestamp();
    let hi = bj(2027, 3, 1, 0, 0, 0).timestamp();
    let random = (lo..hi).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap());
    let times = [
        (0, 0, 0),
        (8, 59, 59),
        (9, 0, 0),
        (17, 29, 59),
        (17, 30, 0),
        (23, 59, 59),
    ];
    let boundary = (0..(hi - lo) / 86_400, prop::sample::select(times.to_vec())).prop_map(
        move |(day, (h, m, s))| {
            let midnight = DateTime::from_timestamp(lo + day * 86_400, 0).unwrap();
            midnight + TimeDelta::seconds(h * 3600 + m * 60 + s)
        },
    );
    prop_oneof![random, boundary]
}

fn request_type() -> impl Strategy<Value = RequestType> {
    prop::sample::select(vec![
        T::Enquiry,
        T::Help,
        T::Complaint,
        T::Report,
        T::Suggestion,
        T::Praise,
        T::Other,
    ])
}

fn local_date(t: DateTime<Utc>) -> chrono::NaiveDate {
    t.with_timezone(&CHINA_STANDARD_TIME).date_naive()
}

proptest! {
    /// Working days count from the day after receipt, so only the Beijing
    /// date of receipt matters, never the time of day; the warning leaves
    /// exactly one working day; sign-for comes first.
    #[test]
    fn normal_deadlines_depend_on_the_beijing_date_only(t in instant(), ty in request_type()) {
        let policy = TimeLimitPolicy::default();
        let d = policy.deadlines(&CALENDAR, ty, Urgency::Normal, t);
        let midnight = local_date(t)
            .and_time(NaiveTime::MIN)
            .and_local_timezone(CHINA_STANDARD_TIME)
            .unwrap()
            .with_timezone(&Utc);
        let last_instant = midnight + TimeDelta::days(1) - TimeDelta::nanoseconds(1);
        prop_assert_eq!(policy.deadlines(&CALENDAR, ty, Urgency::Normal, midnight), d);
        prop_assert_eq!(policy.deadlines(&CALENDAR, ty, Urgency::Normal, last_instant), d);
        prop_assert!(t < d.sign.at && d.sign.at <= d.reply.at);
        prop_assert!(t < d.warn_at && d.warn_at < d.reply.at);
        prop_assert_eq!(CALENDAR.working_time_between(d.warn_at, d.reply.at), TimeDelta::minutes(510));
        prop_assert_eq!(local_date(d.warn_at), local_date(d.reply.at));
        // Deadlines in 2027 (not loaded) are provisional, and only those.
        prop_assert_eq!(d.reply.provisional, local_date(d.reply.at).year() == 2027);
    }

    /// Urgent and utility-outage limits ignore the calendar entirely.
    #[test]
    fn natural_deadlines_are_plain_addition(t in instant(), ty in request_type()) {
        let policy = TimeLimitPolicy::default();
        for (urgency, sign, reply) in [(Urgency::Urgent, 15, 120), (Urgency::UtilityOutage, 30, 1440)] {
            let d = policy.deadlines(&CALENDAR, ty, urgency, t);
            prop_assert_eq!(d.sign.at - t, TimeDelta::minutes(sign));
            prop_assert_eq!(d.reply.at - t, TimeDelta::minutes(reply));
            prop_assert_eq!(d.warn_at - t, TimeDelta::minutes(reply * 3 / 4));
            prop_assert!(!d.sign.provisional && !d.reply.provisional);
        }
    }
}
