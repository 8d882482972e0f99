//! The ticket workflow's own tuning: the act path's ticket cache.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The act path (every verb on an existing ticket).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkflowSettings {
    /// Tickets this replica wrote last that a verb may start from without
    /// reading them first (an optimistic guess: the version-checked write
    /// refuses a stale copy, and the verb is then decided again from a
    /// fresh read). 0 disables the cache: every verb reads its ticket.
    pub ticket_cache_entries: usize,
    /// Seconds a cached copy may be used after its write.
    pub ticket_cache_ttl_secs: u64,
}

impl Default for WorkflowSettings {
    /// Two thousand tickets: what a replica writes within the TTL at a
    /// province-wide platform's peak (tens of requests a second, spec
    /// section 8), each 3 to 4 KiB for real messages (6 to 8 MiB; at most
    /// about 30 MiB with every description at its 4,000-character limit).
    /// Ten thousand held 30 to 40 MiB under a 32-worker intake benchmark
    /// and took the server past #15's 200 MB bound, for copies a verb
    /// would rarely use: a lifecycle's next verb follows within the TTL,
    /// which 2,000 of a replica's latest writes cover. A minute: a
    /// lifecycle's verbs come seconds to hours apart; a copy idle longer
    /// has likely been overtaken (a sweep, a callback on another replica)
    /// and would cost a wasted write.
    fn default() -> Self {
        Self {
            ticket_cache_entries: 2_000,
            ticket_cache_ttl_secs: 60,
        }
    }
}

impl WorkflowSettings {
    /// Range checks.
    pub(super) fn check(&self) -> Result<(), Invalid> {
        Invalid::within(
            self.ticket_cache_entries,
            0..=1_000_000,
            "workflow.ticket_cache_entries",
        )?;
        Invalid::within(
            self.ticket_cache_ttl_secs,
            1..=3600,
            "workflow.ticket_cache_ttl_secs",
        )
    }

    /// How long a cached copy may be used.
    pub fn ticket_cache_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ticket_cache_ttl_secs)
    }
}
