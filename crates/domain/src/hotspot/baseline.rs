//! What is usual: the rate at which an area receives tickets of a subject,
//! and how improbable a count is against it.
//!
//! The rate is an exponentially weighted event rate (each ticket adds
//! `1/τ`, the sum decays by `e^{-Δt/τ}`), so it needs one number and one
//! time per area and subject, forgets old habits at a known speed, and
//! never stores the tickets themselves.

use chrono::{DateTime, Utc};

/// An area's and subject's recent ticket rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    per_hour: f64,
    at: DateTime<Utc>,
}

impl Rate {
    /// No tickets seen yet, as of `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self { per_hour: 0.0, at }
    }

    /// The rate at `now` (decayed since the last ticket), tickets per hour.
    pub fn per_hour(&self, now: DateTime<Utc>, tau_hours: f64) -> f64 {
        self.per_hour * decay(self.at, now, tau_hours)
    }

    /// Counts one ticket at `now` (a ticket older than the last one counts
    /// as if at the last one's time, so replays out of order stay bounded).
    pub fn record(&mut self, now: DateTime<Utc>, tau_hours: f64) {
        let tau = tau_hours.max(f64::MIN_POSITIVE);
        let now = now.max(self.at);
        self.per_hour = self.per_hour(now, tau) + 1.0 / tau;
        self.at = now;
    }

    /// When the last ticket was counted.
    pub fn last(&self) -> DateTime<Utc> {
        self.at
    }
}

fn decay(from: DateTime<Utc>, to: DateTime<Utc>, tau_hours: f64) -> f64 {
    let hours = (to - from).num_milliseconds().max(0) as f64 / 3_600_000.0;
    (-hours / tau_hours.max(f64::MIN_POSITIVE)).exp()
}

/// `P(N ≥ n)` for `N ~ Poisson(λ)`: the chance of seeing at least `n`
/// similar tickets by coincidence when `λ` are expected. Summed from the
/// term at `n` upwards, so tiny tails keep their precision.
pub fn poisson_tail(n: u32, lambda: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    // ln of the term at n: -λ + n ln λ - ln n!
    let ln_factorial: f64 = (2..=n).map(|k| f64::from(k).ln()).sum();
    let mut term = (-lambda + f64::from(n) * lambda.ln() - ln_factorial).exp();
    let mut tail = 0.0;
    let mut k = n;
    // Terms fall once k exceeds λ; stop when they no longer count.
    while term > tail * 1e-12 || f64::from(k) <= lambda {
        tail += term;
        k += 1;
        term *= lambda / f64::from(k);
        if k > n + 10_000 {
            break;
        }
    }
    tail.min(1.0)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_steady_stream_converges_to_its_rate() {
        let mut rate = Rate::new(t0());
        for minute in 0..(72 * 60) {
            if minute % 10 == 0 {
                rate.record(t0() + Duration::minutes(minute), 24.0);
            }
        }
        let now = t0() + Duration::hours(72);
        assert!((rate.per_hour(now, 24.0) - 6.0).abs() < 0.5);
        let later = rate.per_hour(now + Duration::hours(24), 24.0);
        assert!((later - 6.0 / std::f64::consts::E).abs() < 0.3, "{later}");
    }

    #[test]
    fn the_poisson_tail_matches_known_values() {
        assert_eq!(poisson_tail(0, 3.0), 1.0);
        assert_eq!(poisson_tail(1, 0.0), 0.0);
        assert!((poisson_tail(1, 2.0) - (1.0 - (-2.0_f64).exp())).abs() < 1e-12);
        // P(N ≥ 3 | λ = 1) = 1 - e^-1 (1 + 1 + 1/2)
        let expected = 1.0 - (-1.0_f64).exp() * 2.5;
        assert!((poisson_tail(3, 1.0) - expected).abs() < 1e-12);
        // The far tail keeps its precision: λ^n/n! e^-λ dominates.
        let far = poisson_tail(10, 0.01);
        assert!((far / (1e-20 / 3_628_800.0) - 1.0).abs() < 0.01, "{far}");
        assert!((poisson_tail(150, 100.0) - 1.884_21e-6).abs() < 1e-10);
    }

    proptest! {
        #[test]
        fn the_tail_falls_with_the_count_and_rises_with_lambda(
            n in 0_u32..60, lambda in 0.0_f64..50.0
        ) {
            let p = poisson_tail(n, lambda);
            prop_assert!((0.0..=1.0).contains(&p));
            prop_assert!(poisson_tail(n + 1, lambda) <= p + 1e-12);
            prop_assert!(poisson_tail(n, lambda + 0.5) >= p - 1e-12);
        }
    }
}
