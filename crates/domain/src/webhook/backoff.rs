//! How long a failed delivery waits before its next attempt.
//!
//! Exponential, so a receiver that is down is not hammered, capped, so a
//! receiver back after an hour is not left waiting a day, and jittered, so
//! the deliveries that failed together (every event of an outage) do not
//! all come back in the same instant. "Equal jitter": half of the ceiling
//! is fixed, half random, which keeps a floor under each wait (full jitter
//! may retry at once) while still spreading them.

use std::time::Duration;

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait.
    pub base: Duration,
    /// The ceiling no wait exceeds.
    pub max: Duration,
}

impl Backoff {
    /// The ceiling of the wait after `failures` failed attempts in a row
    /// (from 1): `base · 2^(failures-1)`, at most `max`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.base
            .checked_mul(1_u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The wait after `failures` failed attempts, given `jitter` drawn
    /// uniformly from `[0, 1]` (clamped): between half the ceiling and
    /// the ceiling.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let ceiling = self.ceiling(failures);
        let half = ceiling / 2;
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        half + (ceiling - half).mul_f64(jitter)
    }
}
