//! The webhook delivery worker (docs/webhooks.md).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Invalid;
use crate::domain::webhook::backoff::Backoff;

/// How the webhook worker of each replica delivers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Run the delivery worker on this replica. Every replica may: each
    /// delivery is claimed by one of them.
    pub enabled: bool,
    /// How often the worker looks for new events and due retries.
    pub poll_interval_ms: u64,
    /// Deliveries claimed (and sent concurrently) per round.
    pub batch_size: u32,
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: u32,
    /// The ceiling of the first retry's wait; doubles per failure.
    pub backoff_base_ms: u64,
    /// The longest wait between two attempts.
    pub backoff_max_ms: u64,
    /// How long a receiver has to answer one POST.
    pub timeout_ms: u64,
    /// Days delivered deliveries are kept (for ListWebhookDeliveries and
    /// redelivery); older ones are deleted hourly. 0 keeps them for ever.
    pub retention_days: u32,
}

impl Default for WebhookSettings {
    /// Eight attempts over about four hours (10 s doubling to an hour):
    /// a receiver's restart or a short outage costs nothing, a longer one
    /// ends in dead letters an operator can redeliver.
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 1000,
            batch_size: 32,
            max_attempts: 8,
            backoff_base_ms: 10_000,
            backoff_max_ms: 3_600_000,
            timeout_ms: 10_000,
            retention_days: 30,
        }
    }
}

impl WebhookSettings {
    /// The retry schedule.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            base: Duration::from_millis(self.backoff_base_ms),
            max: Duration::from_millis(self.backoff_max_ms),
        }
    }

    /// How long a claim holds a delivery: the request's timeout with room
    /// to record the outcome, so a live worker never loses its claim and a
    /// dead one's claim ends soon.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.saturating_mul(2).saturating_add(30_000))
    }

    pub(super) fn check(&self) -> Result<(), Invalid> {
        let ensure = |ok: bool, key: &str, message: &str| {
            Invalid::unless(ok, format!("webhooks.{key}"), message)
        };
        ensure(
            (10..=3_600_000).contains(&self.poll_interval_ms),
            "poll_interval_ms",
            "must be between 10 and 3600000",
        )?;
        ensure(
            (1..=1000).contains(&self.batch_size),
            "batch_size",
            "must be between 1 and 1000",
        )?;
        ensure(
            (1..=100).contains(&self.max_attempts),
            "max_attempts",
            "must be between 1 and 100",
        )?;
        ensure(
            self.backoff_base_ms >= 1,
            "backoff_base_ms",
            "must be at least 1",
        )?;
        ensure(
            self.backoff_max_ms >= self.backoff_base_ms,
            "backoff_max_ms",
            "must be at least backoff_base_ms",
        )?;
        ensure(
            (100..=300_000).contains(&self.timeout_ms),
            "timeout_ms",
            "must be between 100 and 300000",
        )
    }
}
