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

    /// Starts recording the store's metrics into these handles (once).
    fn attach_telemetry(&self, telemetry: StoreTelemetry);

    /// A call found a pooled connection dead (the database restarted or
    /// ended sessions): every connection that sat idle since before now is
    /// checked with a round trip before its next use. No I/O here.
    fn connection_lost(&self);
}
