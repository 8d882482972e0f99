//! What operations watch through the store: the readiness ping, the
//! pool's occupancy and the open-ticket counts behind the dashboards. Kept
//! apart from the request-path traits: nothing here serves a user.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreResult, StoreTelemetry};
use hotline_domain::ticket::TicketState;

/// Connections of the pool at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Open connections, idle or in use.
    pub open: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// The pool's limit.
    pub max: u32,
}

impl PoolStatus {
    /// Connections handed out.
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// The tickets still open, for the operations gauges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenTickets {
    /// Tickets per non-terminal state (states with none are absent).
    pub by_state: Vec<(TicketState, i64)>,
    /// Tickets being handled whose reply deadline has passed (as
    /// [`super::TicketQuery::overdue_at`] counts them).
    pub overdue: i64,
}

/// The warnings for PostgreSQL's `autovacuum` and `track_counts` settings
/// as `current_setting` gives them.
///
/// Why the service cares: without autovacuum no table written in service
/// is analyzed or vacuumed again. The feed followers' probe of the event
/// log then keeps the plan of an empty table (a sequential scan, on both
/// cores, every second on every replica, measured at 40–110 ms on 300,000
/// events), and the index-only counts behind the gauges visit the heap for
/// every row changed since the last VACUUM. `track_counts` off leaves
/// autovacuum blind even when it is on. Both are server settings, so the
/// service can only say so; it does not change them.
pub fn maintenance_warnings(autovacuum: &str, track_counts: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if autovacuum.trim() != "on" {
        warnings.push(format!(
            "PostgreSQL autovacuum is {autovacuum:?}, not \"on\": tables written in service are never \
             analyzed nor vacuumed, so the feed's probes and the gauges' counts slow down as they grow; \
             turn it on (or run VACUUM ANALYZE on a schedule)"
        ));
    }
    if track_counts.trim() != "on" {
        warnings.push(format!(
            "PostgreSQL track_counts is {track_counts:?}, not \"on\": autovacuum cannot tell which \
             tables need it"
        ));
    }
    warnings
}

/// What operations watch: whether the database answers, the pool, and
/// cheap counts for dashboards. Never on a request path.
#[async_trait]
pub trait OpsStore: Send + Sync + Debug {
    /// One cheap statement through the pool: succeeds when the database
    /// can be reached and read (readiness).
    async fn ping(&self) -> StoreResult<()>;

    /// The pool's connections now (no I/O).
    fn pool_status(&self) -> PoolStatus;

    /// Open tickets per state and overdue ones at `now`; one grouped count
    /// over the state index and one over the reply-deadline index, so the
    /// cost grows with the open tickets, not with the history.
    async fn open_tickets(&self, now: DateTime<Utc>) -> StoreResult<OpenTickets>;

    /// Summarizes the newest rows of the event log into the index the live
    /// feed and the webhook outbox read their tail through; returns the
    /// block ranges summarized (0 where the backend needs no upkeep). Cheap
    /// when little is new; run periodically and after bulk loads.
    async fn summarize_feed_index(&self) -> StoreResult<i64>;

    /// What is wrong with the database server's routine maintenance, one
    /// sentence each for the log at start (empty when all is well, and
    /// always on SQLite): see [`maintenance_warnings`].
    async fn maintenance_warnings(&self) -> StoreResult<Vec<String>>;

    /// Starts recording the store's metrics into these handles (once).
    fn attach_telemetry(&self, telemetry: StoreTelemetry);

    /// A call found a pooled connection dead (the database restarted or
    /// ended sessions): every connection that sat idle since before now is
    /// checked with a round trip before its next use. No I/O here.
    fn connection_lost(&self);
}

#[cfg(test)]
mod tests {
    use super::maintenance_warnings;

    #[test]
    fn autovacuum_and_track_counts_on_give_no_warning() {
        assert!(maintenance_warnings("on", "on").is_empty());
    }

    #[test]
    fn each_setting_off_is_named_in_its_own_warning() {
        let warnings = maintenance_warnings("off", "on");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("autovacuum is \"off\""),
            "{warnings:?}"
        );
        let warnings = maintenance_warnings("on", "off");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("track_counts is \"off\""),
            "{warnings:?}"
        );
        assert_eq!(maintenance_warnings("off", "off").len(), 2);
    }
}
