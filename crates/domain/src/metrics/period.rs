//! Calendar months, the unit of frozen snapshots (月度考核).

use std::{fmt, str::FromStr};

use chrono::{Datelike, Months, NaiveDate};

use crate::error::DomainError;

/// A calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    first_day: NaiveDate,
}

impl Month {
    /// The month a day falls in.
    pub fn of(day: NaiveDate) -> Self {
        Self {
            first_day: day.with_day(1).unwrap_or(day),
        }
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        self.first_day
    }

    /// The first day of the next month: the exclusive end of this one.
    pub fn end(self) -> NaiveDate {
        self.first_day
            .checked_add_months(Months::new(1))
            .unwrap_or(NaiveDate::MAX)
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        self.end().pred_opt().unwrap_or(self.first_day)
    }
}

impl FromStr for Month {
    type Err = DomainError;

    /// `YYYY-MM`, year 2000–2999 (the service's era, and a bound on input).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DomainError::invalid("month", "must be YYYY-MM");
        let (year, month) = s.split_once('-').ok_or_else(bad)?;
        // Digits only: `parse` would also take a sign ("2024-+1").
        if year.len() != 4
            || month.len() != 2
            || !year
                .bytes()
                .chain(month.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        if !(2000..=2999).contains(&year) {
            return Err(bad());
        }
        NaiveDate::from_ymd_opt(year, month, 1)
            .map(|first_day| Self { first_day })
            .ok_or_else(bad)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first_day.format("%Y-%m"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn months_parse_print_and_bound_their_days() {
        let feb: Month = "2028-02".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(feb.to_string(), "2028-02");
        assert_eq!(feb.first_day(), day(2028, 2, 1));
        assert_eq!(feb.last_day(), day(2028, 2, 29), "leap year");
        assert_eq!(feb.end(), day(2028, 3, 1));
        let dec: Month = "2026-12".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dec.end(), day(2027, 1, 1));
        assert_eq!(Month::of(day(2026, 10, 31)).to_string(), "2026-10");
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-10",
            "2026/10",
            "",
            "1999-12",
            "2026-10-01",
            "2024-+1",
            "+024-01",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad:?}");
        }
    }
}
