//! Hand-checked deadlines across the 2025 and 2026 holidays. Weekdays for
//! reference: 2025-01-01 Wed, 2025-10-01 Wed, 2026-01-01 Thu, 2026-02-13 Fri,
//! 2026-09-24 Thu, 2026-10-01 Thu, 2026-12-30 Wed.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};

use super::{CHINA_STANDARD_TIME, Calendar, CalendarData, CalendarError, Deadline, WorkingHours};

pub(super) const VERSION: i64 = 7;

pub(super) fn national() -> Calendar {
    Calendar::new(
        CalendarData::national(),
        WorkingHours::default(),
        CHINA_STANDARD_TIME,
        VERSION,
    )
    .unwrap()
}

/// Beijing local time.
pub(super) fn bj(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    CHINA_STANDARD_TIME
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

type Local = (i32, u32, u32, u32, u32);
type Day = (i32, u32, u32);

fn at((y, mo, d, h, mi): Local) -> DateTime<Utc> {
    bj(y, mo, d, h, mi)
}

#[test]
fn complaint_received_2026_09_24_gets_15_wd_across_mid_autumn_and_national_day() {
    // Day after receipt is Fri 09-25: 09-25…09-27 off; WD1-3 = 09-28…09-30;
    // 10-01…10-07 off; WD4 10-08 Thu, WD5 10-09 Fri, WD6 10-10 make-up Sat;
    // WD7-11 = 10-12…10-16; WD12-15 = 10-19…10-22.
    let deadline = national().add_working_days(bj(2026, 9, 24, 10, 0), 15);
    assert_eq!(
        deadline,
        Deadline {
            at: Utc.with_ymd_and_hms(2026, 10, 22, 9, 30, 0).unwrap(),
            provisional: false,
            calendar_version: VERSION,
        }
    );
    assert_eq!(deadline.at, bj(2026, 10, 22, 17, 30));
}

#[test]
fn working_days_table() {
    #[rustfmt::skip]
    let cases: &[(&str, Local, u32, Day, bool)] = &[
        ("Mid-Autumn eve, after hours", (2026, 9, 24, 17, 45), 15, (2026, 10, 22), false),
        ("Mid-Autumn eve, after hours", (2026, 9, 24, 17, 45), 1, (2026, 9, 28), false),
        ("Spring Festival 2026: next day is a make-up Sat", (2026, 2, 13, 10, 0), 1, (2026, 2, 14), false),
        ("Spring Festival 2026: 02-15…02-23 off", (2026, 2, 13, 10, 0), 2, (2026, 2, 24), false),
        ("Spring Festival 2026", (2026, 2, 13, 10, 0), 5, (2026, 2, 27), false),
        ("Spring Festival 2026: 02-28 make-up Sat", (2026, 2, 13, 10, 0), 6, (2026, 2, 28), false),
        ("Spring Festival 2026", (2026, 2, 13, 10, 0), 7, (2026, 3, 2), false),
        ("17:45 on the eve of Spring Festival 2026", (2026, 2, 13, 17, 45), 0, (2026, 2, 14), false),
        ("17:45 on the eve of Spring Festival 2026", (2026, 2, 13, 17, 45), 3, (2026, 2, 25), false),
        ("17:45 on the eve of National Day 2026", (2026, 9, 30, 17, 45), 0, (2026, 10, 8), false),
        ("17:45 on the eve of National Day 2026", (2026, 9, 30, 17, 45), 1, (2026, 10, 8), false),
        ("17:45 on the eve of National Day 2026: 10-10 make-up Sat", (2026, 9, 30, 17, 45), 3, (2026, 10, 10), false),
        ("17:45 on the eve of National Day 2026", (2026, 9, 30, 17, 45), 15, (2026, 10, 27), false),
        ("17:45 on the eve of National Day 2025: 10-01…10-08 off", (2025, 9, 30, 17, 45), 1, (2025, 10, 9), false),
        ("National Day 2025: 10-11 make-up Sat", (2025, 9, 30, 17, 45), 3, (2025, 10, 11), false),
        ("National Day 2025", (2025, 9, 30, 17, 45), 4, (2025, 10, 13), false),
        ("receipt on a make-up Saturday, within hours", (2026, 2, 28, 10, 0), 0, (2026, 2, 28), false),
        ("receipt on a make-up Saturday", (2026, 2, 28, 10, 0), 1, (2026, 3, 2), false),
        ("receipt on a make-up Saturday, after hours", (2026, 2, 28, 18, 0), 0, (2026, 3, 2), false),
        ("receipt on a make-up Sunday 2025-09-28", (2025, 9, 28, 10, 0), 0, (2025, 9, 28), false),
        ("receipt on a make-up Sunday 2025-09-28", (2025, 9, 28, 10, 0), 2, (2025, 9, 30), false),
        ("receipt on a make-up Sunday 2025-09-28", (2025, 9, 28, 10, 0), 3, (2025, 10, 9), false),
        ("receipt on a holiday", (2026, 10, 3, 11, 0), 0, (2026, 10, 8), false),
        ("receipt on a holiday", (2026, 10, 3, 11, 0), 1, (2026, 10, 8), false),
        ("receipt on a holiday", (2026, 10, 3, 11, 0), 3, (2026, 10, 10), false),
        ("Spring Festival 2025: 01-28…02-04 off", (2025, 1, 27, 10, 0), 1, (2025, 2, 5), false),
        ("Spring Festival 2025: 02-08 make-up Sat", (2025, 1, 27, 10, 0), 4, (2025, 2, 8), false),
        ("receipt on make-up Sunday 2025-01-26", (2025, 1, 26, 10, 0), 0, (2025, 1, 26), false),
        ("receipt on make-up Sunday 2025-01-26", (2025, 1, 26, 10, 0), 1, (2025, 1, 27), false),
        ("Sunday 2026-09-20 is a make-up day", (2026, 9, 18, 16, 0), 1, (2026, 9, 20), false),
        ("Sunday 2026-09-20 is a make-up day", (2026, 9, 18, 16, 0), 2, (2026, 9, 21), false),
        ("Dragon Boat 2025: 05-31…06-02 off", (2025, 5, 30, 10, 0), 1, (2025, 6, 3), false),
        ("before hours, n = 0: the same day", (2026, 9, 24, 8, 0), 0, (2026, 9, 24), false),
        ("before hours, n = 1: the day after", (2026, 9, 24, 8, 0), 1, (2026, 9, 28), false),
        ("New Year 2025", (2024, 12, 31, 10, 0), 1, (2025, 1, 2), false),
        ("New Year 2026: 01-04 make-up Sun", (2025, 12, 31, 10, 0), 1, (2026, 1, 4), false),
        ("ends in loaded 2026", (2026, 12, 30, 10, 0), 1, (2026, 12, 31), false),
        ("2027 not loaded: plain Mon-Fri", (2026, 12, 30, 10, 0), 2, (2027, 1, 1), true),
        ("2027 not loaded", (2026, 12, 30, 10, 0), 3, (2027, 1, 4), true),
        // A deadline in loaded 2024 is firm, though counting began in 2023
        // (DOMAIN §3: provisional is for a deadline falling in an unloaded year).
        ("2023 not loaded, 2024's New Year range honoured", (2023, 12, 29, 10, 0), 1, (2024, 1, 2), false),
        ("2023-12-29 a plain Friday, then 2024's days off", (2023, 12, 28, 10, 0), 3, (2024, 1, 3), false),
        ("ends in unloaded 2023", (2023, 12, 27, 10, 0), 1, (2023, 12, 28), true),
    ];
    let calendar = national();
    for &(note, received, n, (y, mo, d), provisional) in cases {
        let deadline = calendar.add_working_days(at(received), n);
        assert_eq!(
            (deadline.at, deadline.provisional),
            (bj(y, mo, d, 17, 30), provisional),
            "{note}: {received:?} + {n} WD"
        );
        assert_eq!(deadline.calendar_version, VERSION);
    }
}

#[test]
fn working_hours_table() {
    #[rustfmt::skip]
    let cases: &[(&str, Local, i64, Local, bool)] = &[
        ("across Mid-Autumn", (2026, 9, 24, 16, 0), 180, (2026, 9, 28, 10, 30), false),
        ("across a weekend", (2026, 3, 6, 17, 0), 60, (2026, 3, 9, 9, 30), false),
        ("received at night", (2026, 3, 9, 20, 0), 120, (2026, 3, 10, 11, 0), false),
        ("received before hours", (2026, 3, 10, 8, 0), 60, (2026, 3, 10, 10, 0), false),
        ("across a night", (2026, 3, 10, 15, 0), 240, (2026, 3, 11, 10, 30), false),
        ("received at the end of hours", (2026, 3, 10, 17, 30), 30, (2026, 3, 11, 9, 30), false),
        ("on a holiday, a full day ends at 17:30", (2026, 10, 3, 10, 0), 510, (2026, 10, 8, 17, 30), false),
        ("on a holiday, a bit more", (2026, 10, 3, 10, 0), 540, (2026, 10, 9, 9, 30), false),
        ("17:45 on the eve of Spring Festival: make-up Sat", (2026, 2, 13, 17, 45), 60, (2026, 2, 14, 10, 0), false),
        ("Fri and the make-up Sat in full", (2026, 2, 13, 9, 0), 1020, (2026, 2, 14, 17, 30), false),
        ("across National Day 2026", (2026, 9, 30, 12, 0), 2400, (2026, 10, 13, 9, 30), false),
        ("across National Day 2025", (2025, 9, 30, 17, 0), 60, (2025, 10, 9, 9, 30), false),
        ("zero on a Sunday: the next start", (2026, 3, 8, 10, 0), 0, (2026, 3, 9, 9, 0), false),
        ("negative counts as zero", (2026, 3, 10, 10, 0), -60, (2026, 3, 10, 10, 0), false),
        ("into unloaded 2027", (2026, 12, 31, 17, 0), 60, (2027, 1, 1, 9, 30), true),
    ];
    let calendar = national();
    for &(note, received, minutes, expected, provisional) in cases {
        let deadline = calendar.add_working_hours(at(received), TimeDelta::minutes(minutes));
        assert_eq!(
            (deadline.at, deadline.provisional),
            (at(expected), provisional),
            "{note}: {received:?} + {minutes} min"
        );
    }
}

#[test]
fn working_time_between_table() {
    #[rustfmt::skip]
    let cases: &[(&str, Local, Local, i64)] = &[
        ("same morning", (2026, 3, 10, 10, 0), (2026, 3, 10, 12, 0), 120),
        ("reversed", (2026, 3, 10, 12, 0), (2026, 3, 10, 10, 0), 0),
        ("empty", (2026, 3, 10, 12, 0), (2026, 3, 10, 12, 0), 0),
        ("evening only", (2026, 3, 10, 18, 0), (2026, 3, 10, 20, 0), 0),
        ("over a weekend", (2026, 3, 6, 16, 0), (2026, 3, 9, 10, 0), 150),
        ("over National Day 2026", (2026, 9, 30, 9, 0), (2026, 10, 8, 9, 0), 510),
        ("the make-up Saturday counts", (2026, 10, 9, 17, 30), (2026, 10, 12, 9, 0), 510),
        ("inside a holiday", (2026, 10, 1, 0, 0), (2026, 10, 7, 23, 59), 0),
        ("over Spring Festival 2026", (2026, 2, 13, 12, 0), (2026, 2, 24, 12, 0), 330 + 510 + 180),
        ("the 15-WD complaint", (2026, 9, 24, 10, 0), (2026, 10, 22, 17, 30), 450 + 15 * 510),
    ];
    let calendar = national();
    for &(note, from, to, minutes) in cases {
        assert_eq!(
            calendar.working_time_between(at(from), at(to)),
            TimeDelta::minutes(minutes),
            "{note}"
        );
    }
}

#[test]
fn next_working_instant_table() {
    #[rustfmt::skip]
    let cases: &[(&str, Local, Local)] = &[
        ("inside", (2026, 3, 10, 10, 0), (2026, 3, 10, 10, 0)),
        ("at the start", (2026, 3, 10, 9, 0), (2026, 3, 10, 9, 0)),
        ("before the start", (2026, 3, 10, 8, 59), (2026, 3, 10, 9, 0)),
        ("at the end", (2026, 3, 10, 17, 30), (2026, 3, 11, 9, 0)),
        ("Friday evening", (2026, 3, 6, 18, 0), (2026, 3, 9, 9, 0)),
        ("holiday", (2026, 10, 3, 10, 0), (2026, 10, 8, 9, 0)),
        ("make-up Saturday morning", (2026, 10, 10, 8, 0), (2026, 10, 10, 9, 0)),
    ];
    let calendar = national();
    for &(note, t, expected) in cases {
        assert_eq!(calendar.next_working_instant(at(t)), at(expected), "{note}");
    }
    let inside = at((2026, 3, 10, 10, 0)) + TimeDelta::nanoseconds(123);
    assert_eq!(calendar.next_working_instant(inside), inside);
}

#[test]
fn natural_time_is_plain_addition() {
    let calendar = national();
    // An urgent ticket at 23:00 on a Sunday is due at 01:00 on Monday.
    let urgent = calendar.natural(bj(2026, 3, 8, 23, 0), TimeDelta::hours(2));
    assert_eq!(
        urgent,
        Deadline {
            at: bj(2026, 3, 9, 1, 0),
            provisional: false,
            calendar_version: VERSION,
        }
    );
    // Even in an unloaded year and across a holiday.
    let outage = calendar.natural(bj(2030, 1, 1, 12, 0), TimeDelta::hours(24));
    assert_eq!(
        (outage.at, outage.provisional),
        (bj(2030, 1, 2, 12, 0), false)
    );
    let far = calendar.natural(bj(2026, 1, 1, 0, 0), TimeDelta::MAX);
    assert_eq!(far.at, DateTime::<Utc>::MAX_UTC);
}

#[test]
fn loaded_years_and_version() {
    let calendar = national();
    assert_eq!(calendar.version(), VERSION);
    assert!((2024..=2026).all(|y| calendar.is_loaded(y)));
    assert!(!calendar.is_loaded(2023) && !calendar.is_loaded(2027));
    assert!(
        !calendar.is_working_day(date(2023, 12, 30)),
        "listed by 2024"
    );
    assert!(calendar.is_working_day(date(2027, 1, 1)), "plain Friday");
    assert!(!calendar.is_working_day(date(2026, 1, 1)));
    assert!(calendar.is_working_day(date(2026, 1, 4)), "make-up Sunday");
    assert_eq!(calendar.working_hours(), WorkingHours::default());
    assert_eq!(calendar.offset(), CHINA_STANDARD_TIME);
}

#[test]
fn working_hours_and_offset_are_configurable() {
    let hours = WorkingHours {
        start: NaiveTime::from_hms_opt(8, 30, 0).unwrap(),
        end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
    };
    let calendar = Calendar::new(CalendarData::national(), hours, CHINA_STANDARD_TIME, 1).unwrap();
    assert_eq!(
        calendar.add_working_days(bj(2026, 9, 24, 10, 0), 15).at,
        bj(2026, 10, 22, 17, 0)
    );
    assert_eq!(
        calendar
            .add_working_hours(bj(2026, 9, 24, 16, 0), TimeDelta::hours(2))
            .at,
        bj(2026, 9, 28, 9, 30),
        "one hour on Thursday until 17:00, one from 08:30 on Monday"
    );

    // The local date decides: 23:30 UTC on 09-24 is 07:30 on holiday 09-25 in Beijing.
    let received = Utc.with_ymd_and_hms(2026, 9, 24, 23, 30, 0).unwrap();
    assert_eq!(
        national().add_working_days(received, 0).at,
        bj(2026, 9, 28, 17, 30)
    );
    let utc = Calendar::new(
        CalendarData::national(),
        WorkingHours::default(),
        FixedOffset::east_opt(0).unwrap(),
        1,
    )
    .unwrap();
    // In UTC it is still Thursday 09-24, after hours.
    assert_eq!(
        utc.add_working_days(received, 0).at,
        Utc.with_ymd_and_hms(2026, 9, 28, 17, 30, 0).unwrap()
    );
}

#[test]
fn empty_working_hours_are_rejected() {
    let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
    let err = Calendar::new(
        CalendarData::national(),
        WorkingHours {
            start: nine,
            end: nine,
        },
        CHINA_STANDARD_TIME,
        1,
    )
    .unwrap_err();
    assert!(matches!(err, CalendarError::WorkingHours { .. }), "{err}");
}

#[test]
fn an_empty_calendar_is_plain_monday_to_friday_and_provisional() {
    let calendar = Calendar::new(
        CalendarData::default(),
        WorkingHours::default(),
        CHINA_STANDARD_TIME,
        0,
    )
    .unwrap();
    // 2026-10-01 is a Thursday: a working day without the schedule.
    let deadline = calendar.add_working_days(bj(2026, 9, 30, 10, 0), 1);
    assert_eq!(
        (deadline.at, deadline.provisional),
        (bj(2026, 10, 1, 17, 30), true)
    );
}
