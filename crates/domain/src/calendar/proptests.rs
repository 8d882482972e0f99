//! Properties of the deadline arithmetic, against the shipped national
//! schedules and a naive reading of the raw table.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use proptest::prelude::*;

use super::{
    CHINA_STANDARD_TIME, Calendar, CalendarData,
    tests::{bj, date, national},
};

static NATIONAL: LazyLock<Calendar> = LazyLock::new(national);
static DATA: LazyLock<CalendarData> = LazyLock::new(CalendarData::national);

fn end_of_day() -> NaiveTime {
    NaiveTime::from_hms_opt(17, 30, 0).unwrap()
}

fn local(t: DateTime<Utc>) -> chrono::NaiveDateTime {
    t.with_timezone(&CHINA_STANDARD_TIME).naive_local()
}

fn weekday(day: NaiveDate) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The rule read straight off the raw table, with linear scans.
fn reference_working(day: NaiveDate) -> bool {
    if DATA.years.iter().any(|y| y.makeup_days.contains(&day)) {
        return true;
    }
    let off = DATA
        .years
        .iter()
        .flat_map(|y| &y.days_off)
        .any(|r| r.first <= day && day <= r.last);
    !off && weekday(day)
}

/// Instants between two Beijing dates: uniformly random (to the
/// nanosecond) or at a boundary of the working day.
fn instant(from: NaiveDate, to: NaiveDate) -> impl Strategy<Value = DateTime<Utc>> {
    let lo = bj(from.year(), from.month(), from.day(), 0, 0).timestamp();
    let hi = bj(to.year(), to.month(), to.day(), 0, 0).timestamp();
    let random =
        (lo..hi, 0u32..1_000_000_000).prop_map(|(s, ns)| DateTime::from_timestamp(s, ns).unwrap());
    let days = (to - from).num_days();
    let boundary = (
        0..days,
        prop::sample::select(vec![
            (0, 0, 0),
            (8, 59, 59),
            (9, 0, 0),
            (12, 0, 0),
            (17, 29, 59),
            (17, 30, 0),
            (17, 45, 0),
            (23, 59, 59),
        ]),
    )
        .prop_map(move |(offset, (h, m, s))| {
            let day = from + TimeDelta::days(offset);
            bj(day.year(), day.month(), day.day(), h, m) + TimeDelta::seconds(s)
        });
    prop_oneof![random, boundary]
}

/// Around and inside the loaded years.
fn around_loaded() -> impl Strategy<Value = DateTime<Utc>> {
    instant(date(2023, 11, 1), date(2027, 3, 1))
}

fn working_time() -> impl Strategy<Value = TimeDelta> {
    (0i64..200 * 3600, 0i64..1_000_000_000)
        .prop_map(|(s, ns)| TimeDelta::seconds(s) + TimeDelta::nanoseconds(ns))
}

proptest! {
    /// For n, m ≥ 1: add_working_days(add_working_days(t, n).at, m) equals
    /// add_working_days(t, n + m) — same instant, and provisional exactly when
    /// the second step is (both are the same deadline).
    #[test]
    fn working_days_add_up(t in around_loaded(), n in 1u32..60, m in 1u32..60) {
        let first = NATIONAL.add_working_days(t, n);
        let second = NATIONAL.add_working_days(first.at, m);
        let direct = NATIONAL.add_working_days(t, n + m);
        prop_assert_eq!(second.at, direct.at);
        prop_assert_eq!(second.provisional, direct.provisional);
    }

    /// Every working-day deadline is 17:30 local on a working day, after
    /// receipt, with exactly n working days after the receipt date up to it.
    #[test]
    fn working_day_deadlines_end_a_working_day(t in around_loaded(), n in 0u32..60) {
        let deadline = NATIONAL.add_working_days(t, n);
        let at = local(deadline.at);
        prop_assert!(NATIONAL.is_working_day(at.date()));
        prop_assert_eq!(at.time(), end_of_day());
        prop_assert!(deadline.at > t);
        prop_assert_eq!(deadline.calendar_version, super::tests::VERSION);
        if n >= 1 {
            let counted = local(t)
                .date()
                .iter_days()
                .skip(1)
                .take_while(|d| *d <= at.date())
                .filter(|d| NATIONAL.is_working_day(*d))
                .count();
            prop_assert_eq!(counted, n as usize);
        }
    }

    /// A working-hours deadline lies within working hours of a working day
    /// (exactly 17:30 allowed), and strictly after the start unless h = 0.
    #[test]
    fn working_hour_deadlines_are_working_instants(t in around_loaded(), h in working_time()) {
        let deadline = NATIONAL.add_working_hours(t, h);
        let at = local(deadline.at);
        prop_assert!(NATIONAL.is_working_day(at.date()));
        prop_assert!(at.time() >= NaiveTime::from_hms_opt(9, 0, 0).unwrap());
        prop_assert!(at.time() <= end_of_day());
        prop_assert!(deadline.at >= t);
        if h == TimeDelta::zero() {
            prop_assert_eq!(deadline.at, NATIONAL.next_working_instant(t));
        }
    }

    /// working_time_between(t, add_working_hours(t, h).at) == h, exactly.
    #[test]
    fn elapsed_working_time_inverts_addition(t in around_loaded(), h in working_time()) {
        let deadline = NATIONAL.add_working_hours(t, h);
        prop_assert_eq!(NATIONAL.working_time_between(t, deadline.at), h);
    }

    /// Adding h1 then h2 (both positive) equals adding h1 + h2.
    #[test]
    fn working_hours_add_up(t in around_loaded(), h1 in working_time(), h2 in working_time()) {
        prop_assume!(h1 > TimeDelta::zero() && h2 > TimeDelta::zero());
        let first = NATIONAL.add_working_hours(t, h1);
        let second = NATIONAL.add_working_hours(first.at, h2);
        prop_assert_eq!(second.at, NATIONAL.add_working_hours(t, h1 + h2).at);
    }

    /// Elapsed working time is additive over adjacent intervals.
    #[test]
    fn elapsed_working_time_is_additive(
        a in around_loaded(), b in around_loaded(), c in around_loaded()
    ) {
        let mut points = [a, b, c];
        points.sort();
        let [a, b, c] = points;
        prop_assert_eq!(
            NATIONAL.working_time_between(a, b) + NATIONAL.working_time_between(b, c),
            NATIONAL.working_time_between(a, c)
        );
        prop_assert_eq!(NATIONAL.working_time_between(c, a), TimeDelta::zero());
    }

    /// next_working_instant is the first working instant at or after t.
    #[test]
    fn next_working_instant_is_the_first_working_instant(t in around_loaded()) {
        let next = NATIONAL.next_working_instant(t);
        prop_assert!(next >= t);
        prop_assert_eq!(NATIONAL.next_working_instant(next), next);
        prop_assert_eq!(NATIONAL.working_time_between(t, next), TimeDelta::zero());
        let tick = TimeDelta::nanoseconds(1);
        prop_assert_eq!(NATIONAL.working_time_between(t, next + tick), tick);
    }

    /// Listed days off are never working days, make-up days always are, and
    /// every other day is Monday–Friday.
    #[test]
    fn working_days_follow_the_raw_table(offset in 0i64..(365 * 5)) {
        let day = date(2023, 1, 1) + TimeDelta::days(offset);
        prop_assert_eq!(NATIONAL.is_working_day(day), reference_working(day));
    }

    /// Outside the loaded years (and the dates 2024 reaches back to) days are
    /// plain Monday–Friday, and deadlines there are provisional.
    #[test]
    fn unloaded_years_are_plain_and_provisional(
        t in prop_oneof![
            instant(date(2000, 1, 1), date(2023, 10, 1)),
            instant(date(2027, 1, 1), date(2099, 1, 1)),
        ],
        n in 0u32..30,
        h in working_time(),
    ) {
        let start = local(t);
        for offset in 0..60 {
            let day = start.date() + TimeDelta::days(offset);
            prop_assert_eq!(NATIONAL.is_working_day(day), weekday(day));
        }
        let deadline = NATIONAL.add_working_days(t, n);
        prop_assert!(deadline.provisional);
        let mut day = start.date();
        if n == 0 {
            if !(start.time() < end_of_day() && weekday(day)) {
                day = day.iter_days().skip(1).find(|d| weekday(*d)).unwrap();
            }
        } else {
            day = day.iter_days().skip(1).filter(|d| weekday(*d)).nth(n as usize - 1).unwrap();
        }
        prop_assert_eq!(local(deadline.at), day.and_time(end_of_day()));
        prop_assert!(NATIONAL.add_working_hours(t, h).provisional);
        prop_assert!(!NATIONAL.natural(t, h).provisional);
    }

    /// Inside the loaded years deadlines are never provisional.
    #[test]
    fn loaded_years_are_not_provisional(
        t in instant(date(2024, 1, 1), date(2026, 10, 31)),
        n in 0u32..15,
        h in working_time(),
    ) {
        prop_assert!(!NATIONAL.add_working_days(t, n).provisional);
        prop_assert!(!NATIONAL.add_working_hours(t, h).provisional);
    }
}
