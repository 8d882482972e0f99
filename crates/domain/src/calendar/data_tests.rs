//! The shipped data, the file format, validation and merging.

use chrono::{NaiveDate, TimeDelta};

use super::{
    CHINA_STANDARD_TIME, Calendar, CalendarData, CalendarError, CalendarViolation, DayRange, Layer,
    NATIONAL_TOML, WorkingHours, YearSchedule,
    tests::{bj, date},
};

/// DOMAIN.md §3, transcribed as written there (month-day, `…` = inclusive).
const DOMAIN_TABLE: &[(i32, &str, &str)] = &[
    (
        2024,
        "12-30…01-01(2023/24), 02-10…02-17, 04-04…04-06, 05-01…05-05, 06-08…06-10, 09-15…09-17, 10-01…10-07",
        "02-04, 02-18, 04-07, 04-28, 05-11, 09-14, 09-29, 10-12",
    ),
    (
        2025,
        "01-01, 01-28…02-04, 04-04…04-06, 05-01…05-05, 05-31…06-02, 10-01…10-08",
        "01-26, 02-08, 04-27, 09-28, 10-11",
    ),
    (
        2026,
        "01-01…01-03, 02-15…02-23, 04-04…04-06, 05-01…05-05, 06-19…06-21, 09-25…09-27, 10-01…10-07",
        "01-04, 02-14, 02-28, 05-09, 09-20, 10-10",
    ),
];

fn month_day(year: i32, text: &str) -> NaiveDate {
    let (m, d) = text.split_once('-').unwrap();
    date(year, m.parse().unwrap(), d.parse().unwrap())
}

fn domain_year(year: i32, off: &str, makeup: &str) -> YearSchedule {
    let days_off = off
        .split(", ")
        .map(|item| match item.split_once('…') {
            Some((first, last)) if last.ends_with("(2023/24)") => DayRange::new(
                month_day(year - 1, first),
                month_day(year, last.trim_end_matches("(2023/24)")),
            ),
            Some((first, last)) => DayRange::new(month_day(year, first), month_day(year, last)),
            None => DayRange::single(month_day(year, item)),
        })
        .collect();
    YearSchedule {
        year,
        layer: Layer::National,
        days_off,
        makeup_days: makeup.split(", ").map(|d| month_day(year, d)).collect(),
    }
}

fn parse(text: &str) -> Result<CalendarData, CalendarError> {
    CalendarData::from_toml(text)
}

fn violations(text: &str) -> Vec<CalendarViolation> {
    match parse(text) {
        Err(CalendarError::Invalid(v)) => v,
        other => panic!("expected violations, got {other:?}"),
    }
}

#[test]
fn shipped_file_is_exactly_domain_section_3() {
    let expected = CalendarData {
        years: DOMAIN_TABLE
            .iter()
            .map(|&(year, off, makeup)| domain_year(year, off, makeup))
            .collect(),
    };
    assert_eq!(CalendarData::national(), expected);
    assert_eq!(expected.years[0].days_off[0].first, date(2023, 12, 30));
}

#[test]
fn shipped_days_are_honoured() {
    let calendar = super::tests::national();
    for table in &CalendarData::national().years {
        for range in &table.days_off {
            for day in range.days() {
                assert!(!calendar.is_working_day(day), "{day} is a day off");
            }
        }
        for &day in &table.makeup_days {
            assert!(calendar.is_working_day(day), "{day} is a make-up day");
        }
    }
}

#[test]
fn single_days_ranges_and_bare_toml_dates_parse() {
    let data = parse(
        r#"
        [[year]]
        year = 2030
        days_off = ["2030-10-01", ["2030-10-02", "2030-10-02"], 2030-10-03, [2030-10-04, "2030-10-05"]]
        makeup_days = [2030-09-29, "2030-10-12"]
        "#,
    )
    .unwrap();
    let table = &data.years[0];
    let off: Vec<NaiveDate> = table.days_off.iter().flat_map(DayRange::days).collect();
    assert_eq!(off, (1..=5).map(|d| date(2030, 10, d)).collect::<Vec<_>>());
    assert_eq!(table.makeup_days, [date(2030, 9, 29), date(2030, 10, 12)]);
    assert_eq!(table.layer, Layer::National);
    assert!(data.is_loaded(2030));
}

#[test]
fn malformed_files_are_syntax_errors() {
    for (text, needle) in [
        ("[[year]]\nyear = 2030\nday_off = []", "day_off"),
        (
            "[[year]]\nyear = 2030\ndays_off = [\"2030-13-01\"]",
            "2030-13-01",
        ),
        (
            "[[year]]\nyear = 2030\ndays_off = [[\"2030-10-01\"]]",
            "invalid length 1",
        ),
        (
            "[[year]]\nyear = 2030\ndays_off = [[\"2030-10-01\", \"2030-10-02\", \"2030-10-03\"]]",
            "invalid length 3",
        ),
        (
            "[[year]]\nyear = 2030\nmakeup_days = [2030-10-12T09:00:00]",
            "YYYY-MM-DD",
        ),
        (
            "[[year]]\nyear = 2030\nlayer = \"provincial\"",
            "provincial",
        ),
        ("[[years]]\nyear = 2030", "years"),
    ] {
        match parse(text) {
            Err(CalendarError::Syntax(message)) => {
                assert!(message.contains(needle), "{needle:?} not in {message}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn validation_names_the_year_and_entry() {
    let found = violations(
        r#"
        [[year]]
        year = 2030
        days_off = ["2030-10-05", ["2030-10-07", "2030-10-02"], ["2029-12-20", "2030-01-01"], ["2030-11-01", "2030-12-15"]]
        makeup_days = ["2030-10-05", "2030-10-14", "2031-02-01", "2030-09-29"]

        [[year]]
        year = 2030
        makeup_days = ["2030-09-29"]

        [[year]]
        year = 2030
        layer = "local"
        days_off = ["2030-09-29"]

        [[year]]
        year = 30
        "#,
    );
    let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
    let expected = [
        "year 2030 days_off[1]: range [2030-10-07, 2030-10-02] is reversed",
        "year 2030 days_off[2]: range [2029-12-20, 2030-01-01] is outside 2029-12-25..2031-01-07 (the year ± 7 days)",
        "year 2030 days_off[3]: range [2030-11-01, 2030-12-15] is longer than 31 days",
        "year 2030 makeup_days[1]: 2030-10-14 is a Mon; make-up working days are Saturdays or Sundays",
        "year 2030 makeup_days[2]: 2031-02-01 is outside 2029-12-25..2031-01-07 (the year ± 7 days)",
        "year 2030 year: duplicate table for this year and layer",
        "year 30 year: year must be within 2000-2999",
        "year 2030 makeup_days[0]: 2030-10-05 is both a make-up working day and a day off (year 2030 days_off[0])",
        "year 2030 makeup_days[3]: 2030-09-29 is both a make-up working day and a day off (year 2030 (local) days_off[0])",
        "year 2030 makeup_days[0]: 2030-09-29 is both a make-up working day and a day off (year 2030 (local) days_off[0])",
    ];
    assert_eq!(lines, expected);

    let message = parse("[[year]]\nyear = 2030\nmakeup_days = [\"2030-10-14\"]")
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("calendar data has 1 problem(s): year 2030 makeup_days[0]"),
        "{message}"
    );
}

#[test]
fn a_calendar_is_only_built_from_valid_data() {
    let data = CalendarData {
        years: vec![YearSchedule {
            year: 2030,
            layer: Layer::National,
            days_off: vec![DayRange::new(date(2030, 10, 7), date(2030, 10, 1))],
            makeup_days: vec![],
        }],
    };
    let err = Calendar::new(data, WorkingHours::default(), CHINA_STANDARD_TIME, 1).unwrap_err();
    assert!(
        matches!(err, CalendarError::Invalid(ref v) if v.len() == 1),
        "{err}"
    );
}

fn national_2027(days_off: &str) -> CalendarData {
    parse(&format!("[[year]]\nyear = 2027\ndays_off = [{days_off}]")).unwrap()
}

fn local(year: i32, days_off: &str) -> CalendarData {
    parse(&format!(
        "[[year]]\nyear = {year}\nlayer = \"local\"\ndays_off = [{days_off}]"
    ))
    .unwrap()
}

#[test]
fn merge_replaces_the_same_year_and_layer_and_keeps_the_rest() {
    let national = CalendarData::national();
    let with_2027 = national.merge(&national_2027(r#""2027-01-01""#));
    assert_eq!(
        with_2027.years.iter().map(|y| y.year).collect::<Vec<_>>(),
        [2024, 2025, 2026, 2027]
    );

    // A local holiday on top of 2026 (a Tuesday), kept when 2026 is re-imported.
    let with_local = with_2027.merge(&local(2026, r#""2026-03-03""#));
    let reimported = with_local.merge(&parse(NATIONAL_TOML).unwrap());
    assert_eq!(reimported, with_local);
    assert_eq!(
        reimported
            .years
            .iter()
            .map(|y| (y.year, y.layer))
            .collect::<Vec<_>>(),
        [
            (2024, Layer::National),
            (2025, Layer::National),
            (2026, Layer::National),
            (2026, Layer::Local),
            (2027, Layer::National),
        ]
    );

    // Importing the local table again replaces it; an empty one clears it.
    let moved = reimported.merge(&local(2026, r#""2026-03-04""#));
    let local_days = |data: &CalendarData| -> Vec<DayRange> {
        data.years
            .iter()
            .filter(|y| y.layer == Layer::Local)
            .flat_map(|y| y.days_off.clone())
            .collect()
    };
    assert_eq!(local_days(&moved), [DayRange::single(date(2026, 3, 4))]);
    assert!(local_days(&moved.merge(&local(2026, ""))).is_empty());

    // A corrected national year replaces the old one entirely.
    let corrected = with_2027.merge(&national_2027(r#"["2027-01-01", "2027-01-03"]"#));
    let table_2027 = corrected.years.iter().find(|y| y.year == 2027).unwrap();
    assert_eq!(
        table_2027.days_off,
        [DayRange::new(date(2027, 1, 1), date(2027, 1, 3))]
    );
}

#[test]
fn local_holidays_change_days_but_do_not_load_a_year() {
    let data = CalendarData::national()
        .merge(&local(2026, r#""2026-03-03""#))
        .merge(&local(2027, r#""2027-03-03""#));
    data.validate().unwrap();
    let calendar = Calendar::new(data, WorkingHours::default(), CHINA_STANDARD_TIME, 2).unwrap();
    assert!(!calendar.is_working_day(date(2026, 3, 3)));
    assert!(!calendar.is_working_day(date(2027, 3, 3)));
    assert!(calendar.is_loaded(2026));
    assert!(
        !calendar.is_loaded(2027),
        "a local table alone is not the national schedule"
    );
    // Mon 2026-03-02 + 1 WD skips the local holiday.
    let deadline = calendar.add_working_days(bj(2026, 3, 2, 10, 0), 1);
    assert_eq!(
        (deadline.at, deadline.provisional),
        (bj(2026, 3, 4, 17, 30), false)
    );
}

#[test]
fn loading_a_new_year_changes_new_deadlines_and_the_version() {
    let old = super::tests::national();
    let received = bj(2026, 12, 30, 10, 0);
    let before = old.add_working_days(received, 2);
    assert_eq!(
        (before.at, before.provisional),
        (bj(2027, 1, 1, 17, 30), true)
    );

    let data = CalendarData::national().merge(&national_2027(r#"["2027-01-01", "2027-01-03"]"#));
    let new = Calendar::new(data, WorkingHours::default(), CHINA_STANDARD_TIME, 8).unwrap();
    let after = new.add_working_days(received, 2);
    assert_eq!(
        (after.at, after.provisional, after.calendar_version),
        (bj(2027, 1, 4, 17, 30), false, 8)
    );
    assert_eq!(before.calendar_version, super::tests::VERSION);
    assert_eq!(
        new.add_working_hours(bj(2026, 12, 31, 17, 0), TimeDelta::hours(1))
            .at,
        bj(2027, 1, 4, 9, 30)
    );
}

#[test]
fn data_round_trips_through_toml_and_json() {
    let data = CalendarData::national().merge(&local(2026, r#""2026-03-03""#));
    let toml_text = toml::to_string(&data).unwrap();
    assert_eq!(parse(&toml_text).unwrap(), data);
    assert!(
        toml_text.contains(r#""2025-01-01""#),
        "single day as a string:\n{toml_text}"
    );
    let json = serde_json::to_string(&data).unwrap();
    assert_eq!(serde_json::from_str::<CalendarData>(&json).unwrap(), data);
}
