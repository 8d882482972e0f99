//! Latency and outcome statistics of one operation: an HDR histogram of the
//! successful calls (microseconds, 3 significant digits, so a p99 is exact to
//! 0.1 % whatever the spread) and error counts by gRPC code or store error.

use std::{collections::BTreeMap, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Longest latency the histogram resolves (one minute); longer calls are
/// clamped to it rather than lost, so they still count and show as `max`.
const MAX_MICROS: u64 = 60_000_000;

/// Outcomes of one operation during a measurement window.
#[derive(Debug, Clone)]
pub struct Recorder {
    latencies: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self {
            latencies: histogram(),
            errors: BTreeMap::new(),
        }
    }

    /// Records a successful call and its latency.
    pub fn ok(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_MICROS)
            .clamp(1, MAX_MICROS);
        self.latencies.saturating_record(micros);
    }

    /// Records a failed call under its code (e.g. `Unavailable`).
    pub fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
    }

    /// Successful calls so far.
    pub fn ok_count(&self) -> u64 {
        self.latencies.len()
    }

    /// Failed calls so far, by error code.
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// Failed calls so far.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Adds another recorder's outcomes (workers record apart, without locks,
    /// and are merged at the end).
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on both sides, so `add` cannot fail; a failure would
        // only drop the other side's latencies, never corrupt this one.
        let _ = self.latencies.add(&other.latencies);
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
    }

    /// Throughput and latency percentiles over a window of `elapsed`.
    pub fn summary(&self, elapsed: Duration) -> Summary {
        let ok = self.ok_count();
        let errors = self.error_count();
        let secs = elapsed.as_secs_f64();
        let ms = |micros: u64| micros as f64 / 1000.0;
        let empty = ok == 0;
        let pct = |p: f64| {
            if empty {
                0.0
            } else {
                ms(self.latencies.value_at_quantile(p))
            }
        };
        Summary {
            requests: ok + errors,
            ok,
            errors,
            errors_by_code: self.errors.clone(),
            seconds: secs,
            throughput: if secs > 0.0 { ok as f64 / secs } else { 0.0 },
            mean_ms: if empty {
                0.0
            } else {
                self.latencies.mean() / 1000.0
            },
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: if empty { 0.0 } else { ms(self.latencies.max()) },
        }
    }
}

/// 1 µs .. 60 s at 3 significant digits. The bounds are constants that the
/// crate accepts, so the error arm is unreachable.
fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_MICROS, 3) {
        Ok(h) => h,
        Err(e) => panic!("constant histogram bounds rejected: {e}"),
    }
}

/// What a run of one operation measured; the JSON report's unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Calls that completed in the window, successful or not.
    pub requests: u64,
    /// Successful calls.
    pub ok: u64,
    /// Failed calls.
    pub errors: u64,
    /// Failed calls by gRPC code (or store error for the raw baseline).
    pub errors_by_code: BTreeMap<String, u64>,
    /// Length of the window.
    pub seconds: f64,
    /// Successful calls per second.
    pub throughput: f64,
    /// Mean latency of successful calls.
    pub mean_ms: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest call.
    pub max_ms: f64,
}

/// A throughput as a share of a reference one; `None` without a reference.
pub fn ratio(measured: f64, reference: f64) -> Option<f64> {
    (reference > 0.0).then(|| measured / reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_of_one_to_a_hundred_milliseconds() {
        let mut r = Recorder::new();
        for n in 1..=100 {
            r.ok(ms(n));
        }
        let s = r.summary(Duration::from_secs(10));
        assert_eq!(s.ok, 100);
        assert_eq!(s.requests, 100);
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.001 + 1e-9;
        assert!(close(s.p50_ms, 50.0), "{}", s.p50_ms);
        assert!(close(s.p90_ms, 90.0), "{}", s.p90_ms);
        assert!(close(s.p99_ms, 99.0), "{}", s.p99_ms);
        assert!(close(s.max_ms, 100.0), "{}", s.max_ms);
        assert!(close(s.mean_ms, 50.5), "{}", s.mean_ms);
        assert!(close(s.throughput, 10.0), "{}", s.throughput);
    }

    #[test]
    fn one_slow_call_in_a_hundred_is_the_max_but_not_the_p99() {
        let mut r = Recorder::new();
        for _ in 0..99 {
            r.ok(Duration::from_micros(2_000));
        }
        r.ok(Duration::from_secs(3));
        let s = r.summary(Duration::from_secs(1));
        assert!((s.p99_ms - 2.0).abs() < 0.01, "{}", s.p99_ms);
        assert!((s.max_ms - 3000.0).abs() < 3.0, "{}", s.max_ms);
    }

    #[test]
    fn errors_count_by_code_and_not_in_throughput_or_latency() {
        let mut r = Recorder::new();
        r.ok(ms(5));
        r.error("Unavailable");
        r.error("Unavailable");
        r.error("Aborted");
        let s = r.summary(Duration::from_secs(2));
        assert_eq!((s.requests, s.ok, s.errors), (4, 1, 3));
        assert_eq!(s.errors_by_code.get("Unavailable"), Some(&2));
        assert_eq!(s.errors_by_code.get("Aborted"), Some(&1));
        assert!((s.throughput - 0.5).abs() < 1e-9);
        assert!((s.max_ms - 5.0).abs() < 0.01);
    }

    #[test]
    fn merged_workers_equal_one_recorder() {
        let (mut a, mut b, mut all) = (Recorder::new(), Recorder::new(), Recorder::new());
        for n in 1..=50 {
            a.ok(ms(n));
            all.ok(ms(n));
        }
        for n in 51..=100 {
            b.ok(ms(n));
            all.ok(ms(n));
        }
        b.error("Internal");
        all.error("Internal");
        a.merge(&b);
        let window = Duration::from_secs(4);
        assert_eq!(a.summary(window), all.summary(window));
    }

    #[test]
    fn empty_window_reports_zeros_not_nan() {
        let s = Recorder::new().summary(Duration::ZERO);
        assert_eq!(s.throughput, 0.0);
        assert_eq!(s.p99_ms, 0.0);
        assert_eq!(s.mean_ms, 0.0);
    }

    #[test]
    fn extreme_latencies_are_clamped_not_lost() {
        let mut r = Recorder::new();
        r.ok(Duration::ZERO);
        r.ok(Duration::from_secs(3600));
        assert_eq!(r.ok_count(), 2);
    }

    #[test]
    fn ratio_needs_a_reference() {
        assert_eq!(ratio(70.0, 100.0), Some(0.7));
        assert_eq!(ratio(70.0, 0.0), None);
    }
}
