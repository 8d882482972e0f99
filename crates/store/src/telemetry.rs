//! Handles the store records its own metrics through.
//!
//! Why handles and not the `metrics` macros with a global recorder: the
//! server keeps one registry per running application (tests run many
//! servers in one process, each scraped on its own admin port), so the
//! application registers these handles in its registry and attaches them
//! with [`super::OpsStore::attach_telemetry`]. Until then every handle is
//! a no-op, so a store used without a server (the CLI's commands, tests)
//! records nothing and pays one atomic load per recording.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use metrics::{Counter, Histogram};
use sqlx::{Database, Pool, pool::PoolConnection};

use super::StoreResult;

/// What the store records.
#[derive(Debug, Clone)]
pub struct StoreTelemetry {
    /// Seconds spent waiting for a pooled connection
    /// (`hotline_db_pool_acquire_seconds`).
    pub acquire_seconds: Histogram,
    /// Intakes per group-commit transaction (`hotline_intake_batch_size`).
    pub intake_batch_size: Histogram,
    /// PII access records per group-commit statement
    /// (`hotline_pii_access_batch_size`).
    pub pii_access_batch_size: Histogram,
    /// Ticket changes per group-commit transaction, where changes are
    /// batched (SQLite; `hotline_change_batch_size`).
    pub change_batch_size: Histogram,
    /// Times the commit listener lost its connection, each followed by a
    /// new subscription (`hotline_feed_relay_reconnects_total`).
    pub listener_reconnects: Counter,
}

/// The handles once attached, shared by the store's tasks.
#[derive(Debug, Clone, Default)]
pub(super) struct TelemetryCell(Arc<OnceLock<StoreTelemetry>>);

impl TelemetryCell {
    /// Attaches the handles; a second attachment is ignored (one store
    /// serves one application).
    pub(super) fn attach(&self, telemetry: StoreTelemetry) {
        let _ = self.0.set(telemetry);
    }

    /// The handles, if attached.
    pub(super) fn get(&self) -> Option<&StoreTelemetry> {
        self.0.get()
    }

    /// Records the size of a group-commit batch in the histogram `sizes`
    /// picks.
    pub(super) fn batch(&self, sizes: fn(&StoreTelemetry) -> &Histogram, size: usize) {
        if let Some(t) = self.get() {
            #[allow(clippy::cast_precision_loss)] // at most a batch's maximum
            sizes(t).record(size as f64);
        }
    }

    /// A connection from `pool`, recording how long the wait took. Used on
    /// the ticket paths (intake, transitions, reads by id, the sweep);
    /// other statements let sqlx acquire inside `execute`, unmeasured.
    pub(super) async fn acquire<DB: Database>(
        &self,
        pool: &Pool<DB>,
    ) -> StoreResult<PoolConnection<DB>> {
        let start = Instant::now();
        let conn = pool.acquire().await?;
        if let Some(t) = self.get() {
            t.acquire_seconds.record(start.elapsed().as_secs_f64());
        }
        Ok(conn)
    }
}
