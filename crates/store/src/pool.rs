//! Pool settings both backends share.
//!
//! Why not sqlx's default: it pings every connection it hands out
//! (`test_before_acquire`), one extra round trip per transaction. On two
//! cores that round trip (a context switch in and out of the database
//! process) was a measurable share of intake's cost, so a connection is
//! checked only when there is reason to doubt it: it has sat idle long
//! enough to have been dropped by the server or a firewall, or it sat idle
//! while some other call found the database had dropped a connection (a
//! restart ends every session at once). A call that meets a dead
//! connection anyway fails with UNAVAILABLE, sqlx discards the connection,
//! and the store runs the call once more (see [`super::retry`]), by which
//! time every connection idle since the loss gets checked before use, and
//! for a short while after it every connection handed out at all: sqlx
//! checks a connection when it is released, but a check whose answer was
//! in flight when the database ended the session passes, and the
//! connection comes back looking fresh though it is dead.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{
    Connection, Database,
    pool::{PoolConnectionMetadata, PoolOptions},
};

/// Idle time after which a connection is pinged before reuse.
pub(super) const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// How long after a loss every connection is pinged before use, however
/// recently it was released. Covers a release check that was answered
/// just before the database ended the session but read just after a
/// caller found the loss (the releasing task starved on a busy machine);
/// a round trip per acquire for a second after a restart costs nothing
/// that matters.
pub(super) const PING_ALL_AFTER_LOSS: Duration = Duration::from_secs(1);

/// When a call last found a pooled connection dead: connections idle since
/// then are suspect. Shared by the pool's acquire check and the store.
#[derive(Debug, Clone)]
pub(super) struct LostConnections {
    /// The reference point of `lost_at`.
    origin: Instant,
    /// Nanoseconds after `origin` of the last loss, plus one (0: never).
    lost_at: Arc<AtomicU64>,
}

impl Default for LostConnections {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            lost_at: Arc::default(),
        }
    }
}

impl LostConnections {
    /// Records that a connection was found dead now.
    pub(super) fn record(&self) {
        self.record_at(Instant::now());
    }

    fn record_at(&self, at: Instant) {
        let nanos = u64::try_from(at.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX - 1);
        self.lost_at.fetch_max(nanos + 1, Ordering::AcqRel);
    }

    /// Whether a connection idle for `idle_for` at `now` is to be checked
    /// before use: it was already idle when a loss was last recorded (so
    /// it has not proved alive since), or the loss was less than
    /// [`PING_ALL_AFTER_LOSS`] ago.
    fn suspect_after_loss(&self, now: Instant, idle_for: Duration) -> bool {
        let lost_at = self.lost_at.load(Ordering::Acquire);
        if lost_at == 0 {
            return false;
        }
        let since_origin = |t: Instant| t.saturating_duration_since(self.origin).as_nanos();
        let idle_since = now.checked_sub(idle_for).map_or(0, since_origin);
        let lost_at = u128::from(lost_at - 1);
        lost_at >= idle_since || since_origin(now) < lost_at + PING_ALL_AFTER_LOSS.as_nanos()
    }
}

/// Pool options of a store with at most `max_connections` connections;
/// `lost` says when connections were last found dead.
pub(super) fn options<DB: Database>(
    max_connections: u32,
    lost: LostConnections,
) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(
            move |conn: &mut DB::Connection, meta: PoolConnectionMetadata| {
                let suspect = meta.idle_for >= PING_AFTER_IDLE
                    || lost.suspect_after_loss(Instant::now(), meta.idle_for);
                Box::pin(async move {
                    if suspect {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_suspect_before_a_loss() {
        let lost = LostConnections::default();
        let now = Instant::now() + Duration::from_secs(5);
        assert!(!lost.suspect_after_loss(now, Duration::from_secs(4)));
    }

    #[test]
    fn a_connection_idle_through_a_loss_is_suspect_and_one_used_since_is_not_once_the_window_passed()
     {
        let lost = LostConnections::default();
        let t0 = Instant::now();
        let loss = t0 + Duration::from_secs(10);
        lost.record_at(loss);
        let now = t0 + Duration::from_secs(12);
        // Idle since t0 + 1 s: through the loss.
        assert!(lost.suspect_after_loss(now, Duration::from_secs(11)));
        // Released at t0 + 11 s, after the loss and before the window
        // closed: checked all the same.
        assert!(lost.suspect_after_loss(loss + Duration::from_millis(500), Duration::ZERO));
        // Released at t0 + 11 s, after the loss: it answered since.
        assert!(!lost.suspect_after_loss(now, Duration::from_secs(1)));
        // Idle since the instant of the loss: suspect.
        assert!(lost.suspect_after_loss(now, Duration::from_secs(2)));
        // Idle for longer than the process has run: suspect.
        assert!(lost.suspect_after_loss(now, Duration::from_secs(3600)));
    }

    #[test]
    fn the_latest_loss_counts() {
        let lost = LostConnections::default();
        let t0 = Instant::now();
        lost.record_at(t0 + Duration::from_secs(10));
        lost.record_at(t0 + Duration::from_secs(5));
        let now = t0 + Duration::from_secs(11);
        assert!(lost.suspect_after_loss(now, Duration::from_secs(3)));
    }
}
