//! Purging rows past a retention period (the PII access log, delivered
//! webhook deliveries), batch by batch.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use super::ServiceError;
use crate::store::StoreError;

/// Rows deleted per statement of a retention purge, so one purge never
/// holds the table's locks (or SQLite's one writer) for long.
const PURGE_BATCH: u32 = 10_000;

/// Deletes the rows older than `retention_days` before `now` with `purge`
/// (a store purge: rows older than a cutoff, at most a limit, returning
/// how many went), until a batch comes back short; returns how many went.
/// 0 days keeps everything.
pub(super) async fn purge_older_than<F, Fut>(
    now: DateTime<Utc>,
    retention_days: u32,
    mut purge: F,
) -> Result<u64, ServiceError>
where
    F: FnMut(DateTime<Utc>, u32) -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    if retention_days == 0 {
        return Ok(0);
    }
    let cutoff = now - Duration::days(i64::from(retention_days));
    let mut purged = 0;
    loop {
        let n = purge(cutoff, PURGE_BATCH).await?;
        purged += n;
        if n < u64::from(PURGE_BATCH) {
            return Ok(purged);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// A fixed instant (tests read no wall clock).
    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[tokio::test]
    async fn zero_days_keeps_everything() {
        let calls = RefCell::new(0);
        let purged = purge_older_than(at(), 0, |_, _| {
            *calls.borrow_mut() += 1;
            async { Ok(5) }
        })
        .await
        .unwrap();
        assert_eq!((purged, *calls.borrow()), (0, 0));
    }

    #[tokio::test]
    async fn purges_full_batches_until_a_short_one_before_the_cutoff() {
        let now = at();
        let mut left = 2 * u64::from(PURGE_BATCH) + 7;
        let mut cutoffs = Vec::new();
        let purged = purge_older_than(now, 30, |cutoff, limit| {
            cutoffs.push(cutoff);
            let n = left.min(u64::from(limit));
            left -= n;
            async move { Ok(n) }
        })
        .await
        .unwrap();
        assert_eq!(purged, 2 * u64::from(PURGE_BATCH) + 7);
        assert_eq!(cutoffs, vec![now - Duration::days(30); 3]);
    }

    #[tokio::test]
    async fn a_store_error_stops_the_purge() {
        let err = purge_older_than(at(), 1, |_, _| async {
            Err(StoreError::Conflict("purged meanwhile".into()))
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");
    }
}
