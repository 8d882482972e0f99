//! How long `request_id`s are honoured (docs/retries.md).

use serde::{Deserialize, Serialize};

/// Idempotency keys (AIP-155).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencySettings {
    /// Hours a `request_id` is honoured after its first use; older keys
    /// are deleted hourly, and their next use is a new request. 0 keeps
    /// them for ever.
    pub retention_hours: u32,
}

impl Default for IdempotencySettings {
    /// A week: CTI systems retry within minutes, but an outbox replayed
    /// after a long outage (a weekend without the link) must still find
    /// its keys. A week of keys is a few hundred thousand rows at a busy
    /// centre; a key outlives every retry the window was meant for.
    fn default() -> Self {
        Self {
            retention_hours: 7 * 24,
        }
    }
}
