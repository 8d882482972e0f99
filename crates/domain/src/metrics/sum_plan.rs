//! How a period's counter sum is read: from per-month totals where a period
//! covers most of a month, from per-day totals elsewhere.
//!
//! Why: a ranking of every unit over a month summed the month's per-day
//! totals, units × days × counters rows (680,000 for a city of 2,024 units
//! at 10 M tickets: 192 ms); the month's totals are units × counters rows,
//! a thirtieth. The store keeps both, written in the same statement, so
//! a month's total always equals the sum of its days and a period can be
//! read as whole months, minus the days of those months outside it, plus
//! the days of months it covers less than half of. The result is the same
//! sum whichever way it is read (property-tested below); the plan only
//! picks the cheaper reads.

use chrono::NaiveDate;

use super::Month;

/// One read of a period's sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SumPart {
    /// The per-month totals of months `from..to` (`to` exclusive), added.
    Months {
        /// First month.
        from: Month,
        /// Month after the last.
        to: Month,
    },
    /// The per-day totals of days `from..to`, added.
    Days {
        /// First day.
        from: NaiveDate,
        /// Day after the last.
        to: NaiveDate,
    },
    /// The per-day totals of days `from..to`, subtracted: days of a month
    /// read whole that lie outside the period.
    LessDays {
        /// First day.
        from: NaiveDate,
        /// Day after the last.
        to: NaiveDate,
    },
}

/// The reads whose signed sum is the total of days `from..to`, in the
/// order of the calendar. Each month the period touches is read either as
/// its covered days or, when that reads fewer rows (one month row stands
/// for about one day's rows), as the whole month less its uncovered days.
/// Adjacent reads of the same kind are joined.
pub fn sum_plan(from: NaiveDate, to: NaiveDate) -> Vec<SumPart> {
    let mut parts: Vec<SumPart> = Vec::new();
    let mut month = Month::of(from);
    while from < to && month.first_day() < to {
        let start = from.max(month.first_day());
        let end = to.min(month.end());
        let covered = days_between(start, end);
        let uncovered = days_between(month.first_day(), month.end()) - covered;
        if uncovered + 1 < covered {
            push(
                &mut parts,
                SumPart::Months {
                    from: month,
                    to: Month::of(month.end()),
                },
            );
            for (a, b) in [(month.first_day(), start), (end, month.end())] {
                if a < b {
                    push(&mut parts, SumPart::LessDays { from: a, to: b });
                }
            }
        } else {
            push(
                &mut parts,
                SumPart::Days {
                    from: start,
                    to: end,
                },
            );
        }
        month = Month::of(month.end());
    }
    parts
}

fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

/// Appends `part`, joining it to the last part when both are of one kind
/// and meet.
fn push(parts: &mut Vec<SumPart>, part: SumPart) {
    let joined = match (parts.last_mut(), part) {
        (Some(SumPart::Months { to, .. }), SumPart::Months { from, to: next }) if *to == from => {
            *to = next;
            true
        }
        (Some(SumPart::Days { to, .. }), SumPart::Days { from, to: next }) if *to == from => {
            *to = next;
            true
        }
        _ => false,
    };
    if !joined {
        parts.push(part);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn month(s: &str) -> Month {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_whole_month_is_one_month_row_read() {
        assert_eq!(
            sum_plan(day(2026, 10, 1), day(2026, 11, 1)),
            vec![SumPart::Months {
                from: month("2026-10"),
                to: month("2026-11")
            }]
        );
        assert_eq!(
            sum_plan(day(2026, 1, 1), day(2027, 1, 1)),
            vec![SumPart::Months {
                from: month("2026-01"),
                to: month("2027-01")
            }],
            "a year is twelve months in one read"
        );
    }

    #[test]
    fn a_month_to_date_late_in_the_month_reads_the_month_less_the_days_to_come() {
        assert_eq!(
            sum_plan(day(2026, 11, 1), day(2026, 11, 25)),
            vec![
                SumPart::Months {
                    from: month("2026-11"),
                    to: month("2026-12")
                },
                SumPart::LessDays {
                    from: day(2026, 11, 25),
                    to: day(2026, 12, 1)
                },
            ]
        );
    }

    #[test]
    fn a_few_days_are_read_as_days_even_across_a_month_end() {
        assert_eq!(
            sum_plan(day(2026, 10, 28), day(2026, 11, 4)),
            vec![SumPart::Days {
                from: day(2026, 10, 28),
                to: day(2026, 11, 4)
            }]
        );
        assert_eq!(
            sum_plan(day(2026, 11, 1), day(2026, 11, 6)),
            vec![SumPart::Days {
                from: day(2026, 11, 1),
                to: day(2026, 11, 6)
            }]
        );
    }

    #[test]
    fn an_empty_or_reversed_period_reads_nothing() {
        assert!(sum_plan(day(2026, 11, 3), day(2026, 11, 3)).is_empty());
        assert!(sum_plan(day(2026, 11, 4), day(2026, 11, 3)).is_empty());
    }

    /// The signed sum of a plan over per-day values and their per-month
    /// totals.
    fn planned_sum(values: &BTreeMap<NaiveDate, i64>, from: NaiveDate, to: NaiveDate) -> i64 {
        let days = |a: NaiveDate, b: NaiveDate| values.range(a..b).map(|(_, v)| v).sum::<i64>();
        sum_plan(from, to)
            .into_iter()
            .map(|part| match part {
                // The month table: each month's days summed on their own.
                SumPart::Months { from, to } => {
                    let mut total = 0;
                    let mut m = from;
                    while m < to {
                        total += days(m.first_day(), m.end());
                        m = Month::of(m.end());
                    }
                    total
                }
                SumPart::Days { from, to } => days(from, to),
                SumPart::LessDays { from, to } => -days(from, to),
            })
            .sum()
    }

    proptest! {
        #[test]
        fn a_plan_sums_exactly_the_days_of_its_period(
            values in proptest::collection::vec((0i64..800, -5i64..50), 0..200),
            start in 0i64..800,
            length in 0i64..500,
        ) {
            let base = day(2025, 1, 1);
            let at = |n: i64| base + chrono::TimeDelta::days(n);
            let mut by_day = BTreeMap::new();
            for (n, v) in values {
                *by_day.entry(at(n)).or_insert(0) += v;
            }
            let (from, to) = (at(start), at(start + length));
            let direct: i64 = by_day.range(from..to).map(|(_, v)| v).sum();
            prop_assert_eq!(planned_sum(&by_day, from, to), direct);
            // Never more rows than the days alone: a month row counts as
            // one day's.
            let cost: i64 = sum_plan(from, to)
                .into_iter()
                .map(|part| match part {
                    SumPart::Months { from, to } => {
                        let mut n = 0;
                        let mut m = from;
                        while m < to {
                            n += 1;
                            m = Month::of(m.end());
                        }
                        n
                    }
                    SumPart::Days { from, to } | SumPart::LessDays { from, to } => {
                        days_between(from, to)
                    }
                })
                .sum();
            prop_assert!(cost <= length, "{cost} > {length}");
        }
    }
}
