//! The calendar as data: the official schedules operators load (one
//! `[[year]]` table per year and layer), their validation and merging.
//!
//! The schedules are facts published each year by the State Council, so they
//! live in a file (`deploy/calendar/cn-national.toml`) and in the store, never
//! in code: a new year is loaded without a release.

use std::{
    collections::{HashMap, HashSet},
    fmt,
};

use chrono::{Datelike, NaiveDate, NaiveTime, TimeDelta, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The national schedules shipped with the release (2024–2026, DOMAIN.md §3).
pub const NATIONAL_TOML: &str = include_str!("../../../../deploy/calendar/cn-national.toml");

/// How far into the neighbouring years a year's entries may reach: the New
/// Year holiday may start in late December (2024's began on 2023-12-30).
pub const YEAR_SLACK_DAYS: i64 = 7;

/// Longest accepted range of days off. The longest official one so far is 9
/// days; anything much longer is a typo in a date, not a holiday.
pub const MAX_RANGE_DAYS: i64 = 31;

/// Years a schedule may be given for; outside, a year is certainly a typo.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2999;

/// Which layer a year's table belongs to.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The complete official schedule of the year. Only this layer makes a
    /// year "loaded" (deadlines in it are not provisional).
    #[default]
    National,
    /// Extra local days off (or make-up days) on top of the national
    /// schedule of the same year, e.g. a provincial holiday.
    Local,
}

impl Layer {
    fn is_national(&self) -> bool {
        *self == Self::National
    }
}

/// An inclusive range of days off. In the file: `["first", "last"]`, or a
/// plain `"YYYY-MM-DD"` for a single day (also serialized that way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// First day off.
    pub first: NaiveDate,
    /// Last day off (inclusive).
    pub last: NaiveDate,
}

impl DayRange {
    /// The range `first..=last`.
    pub fn new(first: NaiveDate, last: NaiveDate) -> Self {
        Self { first, last }
    }

    /// One day.
    pub fn single(day: NaiveDate) -> Self {
        Self::new(day, day)
    }

    /// Every day of the range (none when reversed).
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let last = self.last;
        self.first.iter_days().take_while(move |d| *d <= last)
    }
}

impl fmt::Display for DayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "[{}, {}]", self.first, self.last)
        }
    }
}

/// The schedule of one year in one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearSchedule {
    /// The calendar year the schedule was published for.
    pub year: i32,
    /// National (default) or local.
    #[serde(default, skip_serializing_if = "Layer::is_national")]
    pub layer: Layer,
    /// Days off, as inclusive ranges.
    #[serde(default)]
    pub days_off: Vec<DayRange>,
    /// Weekend days that are working days (调休上班).
    #[serde(default, deserialize_with = "days")]
    pub makeup_days: Vec<NaiveDate>,
}

/// A whole calendar: every loaded year in every layer.
///
/// Dates are honoured wherever they fall, so a table may list days of the
/// neighbouring year (2024's New Year holiday starts on 2023-12-30).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarData {
    /// One entry per `[[year]]` table.
    #[serde(default, rename = "year")]
    pub years: Vec<YearSchedule>,
}

/// One problem in calendar data, naming the year table and the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarViolation {
    /// The table's `year`.
    pub year: i32,
    /// The table's layer.
    pub layer: Layer,
    /// The entry, e.g. `days_off[2]`, `makeup_days[0]` or `year`.
    pub entry: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CalendarViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layer = match self.layer {
            Layer::National => "",
            Layer::Local => " (local)",
        };
        write!(
            f,
            "year {}{layer} {}: {}",
            self.year, self.entry, self.message
        )
    }
}

/// Why calendar data or a calendar could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The file is not TOML of the calendar format.
    #[error("calendar file: {0}")]
    Syntax(String),
    /// The data parsed but breaks a rule; every problem is listed.
    #[error("calendar data has {} problem(s): {}", .0.len(), join(.0))]
    Invalid(Vec<CalendarViolation>),
    /// Working hours must be a non-empty span within one day.
    #[error("working hours must start before they end (got {start}-{end})")]
    WorkingHours {
        /// Configured start.
        start: NaiveTime,
        /// Configured end.
        end: NaiveTime,
    },
}

fn join(violations: &[CalendarViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl CalendarData {
    /// Parses and validates a TOML calendar file.
    pub fn from_toml(text: &str) -> Result<Self, CalendarError> {
        let data: Self = toml::from_str(text).map_err(|e| CalendarError::Syntax(e.to_string()))?;
        data.validate().map_err(CalendarError::Invalid)?;
        Ok(data)
    }

    /// The national schedules shipped with the release ([`NATIONAL_TOML`]).
    ///
    /// # Panics
    /// Never: the shipped file is parsed and validated by a unit test.
    pub fn national() -> Self {
        Self::from_toml(NATIONAL_TOML).expect("the shipped national calendar is valid")
    }

    /// Whether `year` has a national schedule.
    pub fn is_loaded(&self, year: i32) -> bool {
        self.years
            .iter()
            .any(|y| y.year == year && y.layer == Layer::National)
    }

    /// Combines loaded data (`self`) with imported data (`other`): each table
    /// of `other` replaces the table of `self` with the same year **and
    /// layer**; all other tables of both are kept. So re-importing a year's
    /// national schedule keeps that year's local holidays, importing a
    /// `local` table replaces only the local additions (an empty one removes
    /// them), and a new year is simply added. Tables come out sorted by
    /// (year, layer). Validate the result before building a calendar: the
    /// layers of one year may contradict each other.
    #[must_use]
    pub fn merge(&self, other: &CalendarData) -> CalendarData {
        let replaced = |y: &YearSchedule| {
            other
                .years
                .iter()
                .any(|o| o.year == y.year && o.layer == y.layer)
        };
        let mut years: Vec<YearSchedule> = self
            .years
            .iter()
            .filter(|y| !replaced(y))
            .chain(&other.years)
            .cloned()
            .collect();
        years.sort_by_key(|y| (y.year, y.layer));
        CalendarData { years }
    }

    /// Checks every rule and returns every problem, not just the first, so
    /// an operator can fix a file in one pass: years plausible and unique
    /// per layer; ranges in order, at most [`MAX_RANGE_DAYS`] long and within
    /// their year ± [`YEAR_SLACK_DAYS`]; make-up days within the same window
    /// and on a weekend (a make-up Monday changes nothing, so it is a typo);
    /// no date both a day off and a make-up day, across all tables.
    pub fn validate(&self) -> Result<(), Vec<CalendarViolation>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        // Where each day off was first listed, to name it in a conflict.
        let mut off: HashMap<NaiveDate, (i32, Layer, String)> = HashMap::new();
        let mut makeup: Vec<(NaiveDate, i32, Layer, String)> = Vec::new();
        for table in &self.years {
            let mut report = |entry: String, message: String| {
                out.push(CalendarViolation {
                    year: table.year,
                    layer: table.layer,
                    entry,
                    message,
                });
            };
            let Some((lo, hi)) = window(table.year) else {
                report(
                    "year".into(),
                    format!("year must be within {}-{}", YEARS.start(), YEARS.end()),
                );
                continue;
            };
            if !seen.insert((table.year, table.layer)) {
                report(
                    "year".into(),
                    "duplicate table for this year and layer".into(),
                );
            }
            for (i, range) in table.days_off.iter().enumerate() {
                let entry = format!("days_off[{i}]");
                if range.first > range.last {
                    report(entry, format!("range {range} is reversed"));
                } else if range.first < lo || range.last > hi {
                    report(
                        entry,
                        format!(
                            "range {range} is outside {lo}..{hi} (the year ± {YEAR_SLACK_DAYS} days)"
                        ),
                    );
                } else if (range.last - range.first).num_days() >= MAX_RANGE_DAYS {
                    report(
                        entry,
                        format!("range {range} is longer than {MAX_RANGE_DAYS} days"),
                    );
                } else {
                    for day in range.days() {
                        off.entry(day)
                            .or_insert_with(|| (table.year, table.layer, entry.clone()));
                    }
                }
            }
            for (i, &day) in table.makeup_days.iter().enumerate() {
                let entry = format!("makeup_days[{i}]");
                if day < lo || day > hi {
                    report(
                        entry,
                        format!("{day} is outside {lo}..{hi} (the year ± {YEAR_SLACK_DAYS} days)"),
                    );
                } else if !is_weekend(day) {
                    report(
                        entry,
                        format!(
                            "{day} is a {:?}; make-up working days are Saturdays or Sundays",
                            day.weekday()
                        ),
                    );
                } else {
                    makeup.push((day, table.year, table.layer, entry));
                }
            }
        }
        for (day, year, layer, entry) in makeup {
            if let Some((off_year, off_layer, off_entry)) = off.get(&day) {
                let off_layer = match off_layer {
                    Layer::National => "",
                    Layer::Local => " (local)",
                };
                out.push(CalendarViolation {
                    year,
                    layer,
                    entry,
                    message: format!(
                        "{day} is both a make-up working day and a day off (year {off_year}{off_layer} {off_entry})"
                    ),
                });
            }
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }
}

/// The dates a table of `year` may mention, or `None` for an implausible year.
fn window(year: i32) -> Option<(NaiveDate, NaiveDate)> {
    if !YEARS.contains(&year) {
        return None;
    }
    let slack = TimeDelta::days(YEAR_SLACK_DAYS);
    let lo = NaiveDate::from_ymd_opt(year, 1, 1)? - slack;
    let hi = NaiveDate::from_ymd_opt(year, 12, 31)? + slack;
    Some((lo, hi))
}

pub(super) fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A date in the file: a `"YYYY-MM-DD"` string, or a bare TOML local date
/// (`2026-10-01` without quotes), which operators will write too.
struct Day(NaiveDate);

fn parse_day<E: de::Error>(text: &str) -> Result<NaiveDate, E> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
        E::custom(format!(
            "invalid date {text:?} ({e}); expected \"YYYY-MM-DD\""
        ))
    })
}

struct DayVisitor;

impl<'de> de::Visitor<'de> for DayVisitor {
    type Value = Day;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date \"YYYY-MM-DD\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Day, E> {
        parse_day(text).map(Day)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Day, A::Error> {
        let toml_date =
            toml::value::Datetime::deserialize(de::value::MapAccessDeserializer::new(map))?;
        parse_day(&toml_date.to_string()).map(Day)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DayVisitor)
    }
}

fn days<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<NaiveDate>, D::Error> {
    Ok(Vec::<Day>::deserialize(deserializer)?
        .into_iter()
        .map(|d| d.0)
        .collect())
}

struct RangeVisitor;

impl<'de> de::Visitor<'de> for RangeVisitor {
    type Value = DayRange;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date \"YYYY-MM-DD\" or an inclusive range [\"YYYY-MM-DD\", \"YYYY-MM-DD\"]")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<DayRange, E> {
        DayVisitor.visit_str(text).map(|d| DayRange::single(d.0))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<DayRange, A::Error> {
        DayVisitor.visit_map(map).map(|d| DayRange::single(d.0))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<DayRange, A::Error> {
        let Some(Day(first)) = seq.next_element()? else {
            return Err(de::Error::invalid_length(0, &self));
        };
        let Some(Day(last)) = seq.next_element()? else {
            return Err(de::Error::invalid_length(1, &self));
        };
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok(DayRange::new(first, last))
    }
}

impl<'de> Deserialize<'de> for DayRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RangeVisitor)
    }
}

impl Serialize for DayRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.first == self.last {
            self.first.serialize(serializer)
        } else {
            [self.first, self.last].serialize(serializer)
        }
    }
}
