//! Pool settings both backends share.
//!
//! Why not sqlx's default: it pings every connection it hands out
//! (`test_before_acquire`), one extra round trip per transaction. On two
//! cores that round trip (a context switch in and out of the database
//! process) was a measurable share of intake's cost, so a connection is
//! checked only when it has sat idle long enough to have been dropped by
//! the server or a firewall; a connection that breaks while in use fails
//! that call as UNAVAILABLE, and sqlx discards it.

use std::time::Duration;

use sqlx::{
    Connection, Database,
    pool::{PoolConnectionMetadata, PoolOptions},
};

/// Idle time after which a connection is pinged before reuse.
pub(super) const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// Pool options of a store with at most `max_connections` connections.
pub(super) fn options<DB: Database>(max_connections: u32) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn: &mut DB::Connection, meta: PoolConnectionMetadata| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}
