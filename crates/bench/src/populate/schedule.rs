//! When each generated ticket arrives and which number it gets: `n`
//! tickets spread evenly over `days` local days, each day's share laid out
//! over the day like a hotline's calls (85 % between 08:00 and 20:00).
//! Pure arithmetic on the ticket's index, so loading workers can take any
//! index range and still hand out unique `YYYYMMDD` + 6-digit numbers.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};

/// Share of a day's calls between 08:00 and 20:00.
const DAYTIME_SHARE: f64 = 0.85;

/// `n` tickets over `days` local days from `first_day`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    first_day: NaiveDate,
    days: u64,
    n: u64,
    offset: FixedOffset,
}

/// Where one ticket falls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Local day.
    pub day: NaiveDate,
    /// 1-based sequence within the day (the number's last six digits).
    pub seq: u64,
    /// Arrival instant.
    pub time: DateTime<Utc>,
}

impl Schedule {
    /// A schedule; `days` and `n` are at least 1.
    pub fn new(first_day: NaiveDate, days: u64, n: u64, offset: FixedOffset) -> Self {
        Self {
            first_day,
            days: days.max(1),
            n: n.max(1),
            offset,
        }
    }

    /// Index of the first ticket of day `d` (`d` = `days` gives `n`).
    fn start(&self, d: u64) -> u64 {
        (u128::from(d) * u128::from(self.n) / u128::from(self.days)) as u64
    }

    /// Tickets on day `d`.
    pub fn per_day(&self, d: u64) -> u64 {
        self.start(d + 1) - self.start(d)
    }

    /// Days in the schedule.
    pub fn days(&self) -> u64 {
        self.days
    }

    /// The day index of ticket `i`.
    fn day_of(&self, i: u64) -> u64 {
        let mut d = (u128::from(i) * u128::from(self.days) / u128::from(self.n)) as u64;
        while d + 1 < self.days && self.start(d + 1) <= i {
            d += 1;
        }
        while d > 0 && self.start(d) > i {
            d -= 1;
        }
        d
    }

    /// The slot of ticket `i` (`i < n`).
    pub fn slot(&self, i: u64) -> Slot {
        let d = self.day_of(i);
        let k = i - self.start(d);
        let count = self.per_day(d).max(1);
        let u = (k as f64 + 0.5) / count as f64;
        let seconds = if u < DAYTIME_SHARE {
            8.0 * 3600.0 + u / DAYTIME_SHARE * 12.0 * 3600.0
        } else {
            // 20:00 to 08:00, wrapped into the same local day's small hours.
            (20.0 * 3600.0 + (u - DAYTIME_SHARE) / (1.0 - DAYTIME_SHARE) * 12.0 * 3600.0)
                % (24.0 * 3600.0)
        };
        let day = self.first_day + Duration::days(d as i64);
        let midnight = hotline::report::data::day_start(day, self.offset);
        Slot {
            day,
            seq: k + 1,
            time: midnight + Duration::milliseconds((seconds * 1000.0) as i64),
        }
    }

    /// The ticket number of a slot.
    pub fn number(slot: &Slot) -> String {
        format!("{}{:06}", slot.day.format("%Y%m%d"), slot.seq)
    }

    /// Index range of the tickets of days `from..to`.
    pub fn indexes_of_days(&self, from: u64, to: u64) -> std::ops::Range<u64> {
        self.start(from.min(self.days))..self.start(to.min(self.days))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn every_ticket_gets_a_unique_number_on_its_own_local_day() {
        let s = Schedule::new(day(2024, 1, 1), 10, 1234, cst());
        let mut numbers = HashSet::new();
        let mut per_day = vec![0u64; 10];
        for i in 0..1234 {
            let slot = s.slot(i);
            assert!(
                numbers.insert(Schedule::number(&slot)),
                "ticket {i} repeats a number"
            );
            assert_eq!(
                slot.time.with_timezone(&cst()).date_naive(),
                slot.day,
                "ticket {i}"
            );
            per_day[(slot.day - day(2024, 1, 1)).num_days() as usize] += 1;
        }
        assert_eq!(per_day.iter().sum::<u64>(), 1234);
        assert!(per_day.iter().all(|&c| c == 123 || c == 124), "{per_day:?}");
        for (d, &c) in per_day.iter().enumerate() {
            assert_eq!(s.per_day(d as u64), c);
        }
    }

    #[test]
    fn sequences_count_up_from_one_within_each_day() {
        let s = Schedule::new(day(2025, 6, 1), 3, 30, cst());
        let seqs: Vec<u64> = (0..30).map(|i| s.slot(i).seq).collect();
        let expected: Vec<u64> = (0..3).flat_map(|_| 1..=10).collect();
        assert_eq!(seqs, expected);
        assert_eq!(Schedule::number(&s.slot(10)), "20250602000001");
    }

    #[test]
    fn most_calls_arrive_in_the_daytime() {
        let s = Schedule::new(day(2025, 6, 1), 1, 1000, cst());
        let daytime = (0..1000)
            .filter(|&i| {
                let hour = s
                    .slot(i)
                    .time
                    .with_timezone(&cst())
                    .format("%H")
                    .to_string();
                ("08".."20").contains(&hour.as_str())
            })
            .count();
        assert_eq!(daytime, 850);
    }

    #[test]
    fn day_ranges_cover_the_indexes_once() {
        let s = Schedule::new(day(2024, 1, 1), 7, 100, cst());
        assert_eq!(s.indexes_of_days(0, 7), 0..100);
        assert_eq!(s.indexes_of_days(5, 99), s.indexes_of_days(5, 7));
        let a = s.indexes_of_days(0, 3);
        let b = s.indexes_of_days(3, 7);
        assert_eq!(a.end, b.start);
        assert!(b.clone().all(|i| s.slot(i).day >= day(2024, 1, 4)));
    }
}
