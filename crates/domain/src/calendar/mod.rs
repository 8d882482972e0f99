//! The working-day calendar (DOMAIN.md §3) and deadline arithmetic.
//!
//! Working day = Monday–Friday, minus the official days off, plus the
//! official make-up working days (调休上班). The schedules are data
//! ([`CalendarData`], loaded from TOML), versioned by the store; a
//! [`Calendar`] is one version of that data compiled for lookups, together
//! with the centre's working hours and UTC offset. Every [`Deadline`] records
//! the calendar version it was computed with, and whether it is provisional:
//! it falls in a year without a loaded national schedule, where plain
//! Monday–Friday was assumed (DOMAIN.md §3).
//!
//! Pure: instants are passed in, nothing reads the clock.

mod data;

#[cfg(test)]
mod data_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

pub use data::{
    CalendarData, CalendarError, CalendarViolation, DayRange, Layer, MAX_RANGE_DAYS, NATIONAL_TOML,
    YEAR_SLACK_DAYS, YEARS, YearSchedule,
};

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc,
};
use serde::{Deserialize, Serialize};

/// China Standard Time, +08:00. Asia/Shanghai has no daylight saving time,
/// so a fixed offset is exact.
pub const CHINA_STANDARD_TIME: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("+08:00 is a valid offset"),
};

const fn time(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(t) => t,
        None => panic!("valid time of day"),
    }
}

/// Daily working hours `[start, end)` in the centre's local time, for
/// hour-based limits and as the time of day of working-day deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// Start of the working day (inclusive).
    pub start: NaiveTime,
    /// End of the working day; working-day deadlines fall at this time.
    pub end: NaiveTime,
}

impl WorkingHours {
    /// 09:00–17:30 (DOMAIN.md §3).
    pub const DEFAULT: Self = Self {
        start: time(9, 0),
        end: time(17, 30),
    };

    /// Working time in one working day.
    pub fn length(&self) -> TimeDelta {
        self.end - self.start
    }
}

impl Default for WorkingHours {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A computed time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// When the limit expires.
    pub at: DateTime<Utc>,
    /// The deadline falls in a year without a loaded national schedule,
    /// so plain Monday–Friday was assumed there; it may move once that
    /// year is loaded (DOMAIN.md §3).
    pub provisional: bool,
    /// Version of the calendar it was computed with.
    pub calendar_version: i64,
}

/// One version of the working-day calendar, ready for lookups.
#[derive(Debug, Clone)]
pub struct Calendar {
    data: CalendarData,
    /// Listed dates: `true` for a make-up working day, `false` for a day off.
    overrides: HashMap<NaiveDate, bool>,
    /// Years with a national schedule.
    loaded: HashSet<i32>,
    hours: WorkingHours,
    offset: FixedOffset,
    version: i64,
}

impl Calendar {
    /// Compiles validated `data` with the centre's working hours and UTC
    /// offset ([`CHINA_STANDARD_TIME`] for Asia/Shanghai). `version` is the
    /// store's version of `data`, recorded in every deadline.
    pub fn new(
        data: CalendarData,
        hours: WorkingHours,
        offset: FixedOffset,
        version: i64,
    ) -> Result<Self, CalendarError> {
        if hours.start >= hours.end {
            return Err(CalendarError::WorkingHours {
                start: hours.start,
                end: hours.end,
            });
        }
        data.validate().map_err(CalendarError::Invalid)?;
        let mut overrides = HashMap::new();
        let mut loaded = HashSet::new();
        for table in &data.years {
            if table.layer == Layer::National {
                loaded.insert(table.year);
            }
            for range in &table.days_off {
                overrides.extend(range.days().map(|d| (d, false)));
            }
            overrides.extend(table.makeup_days.iter().map(|&d| (d, true)));
        }
        Ok(Self {
            data,
            overrides,
            loaded,
            hours,
            offset,
            version,
        })
    }

    /// The data this calendar was built from.
    pub fn data(&self) -> &CalendarData {
        &self.data
    }

    /// The store's version of the data.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Daily working hours.
    pub fn working_hours(&self) -> WorkingHours {
        self.hours
    }

    /// The centre's UTC offset.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// Whether `year` has a loaded national schedule.
    pub fn is_loaded(&self, year: i32) -> bool {
        self.loaded.contains(&year)
    }

    /// Monday–Friday, minus listed days off, plus listed make-up days. A date
    /// listed by any table counts, even in a year that is not loaded; other
    /// dates of an unloaded year are plain Monday–Friday.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        self.overrides
            .get(&day)
            .copied()
            .unwrap_or_else(|| !data::is_weekend(day))
    }

    /// Adds `n` working days to the receipt instant `received`.
    ///
    /// "WD counted from the day after receipt" (DOMAIN.md §2): day 1 is the
    /// first working day strictly after the local date of receipt, whatever
    /// the time of receipt; so a receipt on a non-working day or after hours
    /// starts counting from the next working day, as §3 requires. The
    /// deadline is the end of working hours (17:30 local) of working day `n`.
    ///
    /// `n = 0` means "within the day": the end of working hours of the
    /// receipt day if it is a working day and receipt is before that end,
    /// else of the next working day.
    ///
    /// Provisional when the deadline falls in a year without a loaded
    /// schedule (DOMAIN.md §3, word for word): a deadline in a loaded year
    /// is firm even if counting began in the year before it (the 2024
    /// schedule itself lists 2023-12-30 and 12-31).
    ///
    /// For `n ≥ 1, m ≥ 1`: adding `m` to the deadline of `n` gives the
    /// deadline of `n + m`.
    ///
    /// # Panics
    /// Only if the result lies beyond chrono's range (year 262 143).
    pub fn add_working_days(&self, received: DateTime<Utc>, n: u32) -> Deadline {
        let local = self.local(received);
        let mut day = local.date();
        if n == 0 {
            if !(local.time() < self.hours.end && self.is_working_day(day)) {
                day = self.next_working_day(day);
            }
        } else {
            for _ in 0..n {
                day = self.next_working_day(day);
            }
        }
        self.working_deadline(self.instant(day, self.hours.end))
    }

    /// Adds `duration` of working time (working hours of working days) to
    /// `received`. Counting starts at [`Self::next_working_instant`], so a
    /// receipt outside working hours or on a non-working day starts at the
    /// next working-hours start. A result that exhausts a day's working time
    /// exactly is that day's end (17:30), not the next day's start. A zero or
    /// negative duration gives the start of counting.
    ///
    /// Provisional when the deadline falls in a year without a loaded
    /// schedule, as for [`Self::add_working_days`].
    ///
    /// # Panics
    /// Only if the result lies beyond chrono's range.
    pub fn add_working_hours(&self, received: DateTime<Utc>, duration: TimeDelta) -> Deadline {
        let mut at = self.next_working_instant(received);
        let mut left = duration.max(TimeDelta::zero());
        loop {
            let day = self.local(at).date();
            let available = self.instant(day, self.hours.end) - at;
            if left <= available {
                return self.working_deadline(at + left);
            }
            left -= available;
            let next = self.next_working_day(day);
            at = self.instant(next, self.hours.start);
        }
    }

    /// Working time within `[from, to)`; zero when `to <= from`.
    pub fn working_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        let mut total = TimeDelta::zero();
        if to <= from {
            return total;
        }
        let last = self.local(to).date();
        let mut day = self.local(from).date();
        loop {
            if self.is_working_day(day) {
                let start = self.instant(day, self.hours.start).max(from);
                let end = self.instant(day, self.hours.end).min(to);
                if end > start {
                    total += end - start;
                }
            }
            if day >= last {
                return total;
            }
            day = next_day(day);
        }
    }

    /// `t` itself when it is within working hours of a working day, else the
    /// start of the next working hours.
    pub fn next_working_instant(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = self.local(t);
        let day = local.date();
        if local.time() < self.hours.end && self.is_working_day(day) {
            if local.time() >= self.hours.start {
                t
            } else {
                self.instant(day, self.hours.start)
            }
        } else {
            self.instant(self.next_working_day(day), self.hours.start)
        }
    }

    /// Natural time (7×24), for urgent and utility-outage limits: plain
    /// addition, never provisional, saturating at the end of time.
    pub fn natural(&self, received: DateTime<Utc>, duration: TimeDelta) -> Deadline {
        let at = received
            .checked_add_signed(duration)
            .unwrap_or(if duration < TimeDelta::zero() {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            });
        Deadline {
            at,
            provisional: false,
            calendar_version: self.version,
        }
    }

    /// A deadline counted on working days: provisional when its local year
    /// has no loaded schedule.
    fn working_deadline(&self, at: DateTime<Utc>) -> Deadline {
        Deadline {
            at,
            provisional: !self.is_loaded(self.local(at).year()),
            calendar_version: self.version,
        }
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.offset).naive_local()
    }

    /// The instant of local `day` at `time`.
    fn instant(&self, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        local_instant(day, time, self.offset)
    }

    /// The first working day strictly after `day`.
    fn next_working_day(&self, mut day: NaiveDate) -> NaiveDate {
        loop {
            day = next_day(day);
            if self.is_working_day(day) {
                return day;
            }
        }
    }
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().expect("date within chrono's range")
}

/// The instant of `time` on local `day` where clocks are `offset` from UTC
/// (a fixed offset, as the centre's is: China keeps no daylight saving).
pub fn local_instant(day: NaiveDate, time: NaiveTime, offset: FixedOffset) -> DateTime<Utc> {
    let offset = TimeDelta::seconds(offset.local_minus_utc().into());
    (day.and_time(time) - offset).and_utc()
}

/// When local `day` begins where clocks are `offset` from UTC.
pub fn local_day_start(day: NaiveDate, offset: FixedOffset) -> DateTime<Utc> {
    local_instant(day, NaiveTime::MIN, offset)
}
