//! PostgreSQL backend: production, shared by several server replicas.

use std::str::FromStr;

use futures_util::StreamExt;
use sqlx::{
    Pool, Postgres,
    postgres::{PgConnectOptions, PgListener},
};

use super::{
    CommitStream,
    announcer::parse_payload,
    sql::{Dialect, ListenFuture, SqlStore},
};

/// The channel commits are announced on. The payload starts with the
/// schema, so deployments (and tests) sharing a database in separate
/// schemas hear only their own.
const COMMIT_CHANNEL: &str = "hotline_commits";

/// Wait before subscribing again after the listener first failed to
/// reconnect; doubles with each failure in a row up to
/// [`RESUBSCRIBE_AT_MOST`]. The feed reads the event log meanwhile.
const RESUBSCRIBE_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// The longest wait between two subscription attempts.
const RESUBSCRIBE_AT_MOST: std::time::Duration = std::time::Duration::from_secs(5);

impl Dialect for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    const ANNOUNCE_COMMIT: Option<&'static str> =
        Some("SELECT pg_notify('hotline_commits', current_schema() || ' ' || $1)");
    const FUSES_WRITES: bool = true;

    const PING: &'static str = "SELECT CAST(1 AS BIGINT)";
    const PING_BEGIN: Option<&'static str> = None;

    const FEED_POSITION: &'static str = "feed_xid, feed_id";
    /// `feed_xid >= $1` first, alone, so the BRIN index bounds the scan.
    const FEED_AFTER: &'static str = "feed_xid >= $1 AND (feed_xid > $1 OR feed_id > $2) \
         AND feed_xid < CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT) \
         ORDER BY feed_xid, feed_id";
    /// The snapshot's xmin with number 0: every readable row is below it,
    /// every row not yet readable at or above it.
    const FEED_HEAD: &'static str = "SELECT \
         CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT), CAST(0 AS BIGINT)";

    /// The BRIN index's `autosummarize` asks autovacuum to summarize each
    /// range as it fills, but the requests are a short queue: after a bulk
    /// load (`bench populate`, a legacy import) thousands of ranges stay
    /// unsummarized, and every feed read scans them all (measured on 1 M
    /// tickets, 6 M events: 1,175 ms per read of the tail; 0.9 ms once
    /// summarized).
    const SUMMARIZE_FEED: Option<&'static str> =
        Some("SELECT CAST(brin_summarize_new_values('ticket_events_feed') AS BIGINT)");

    const MAINTENANCE_SETTINGS: Option<&'static str> =
        Some("SELECT current_setting('autovacuum'), current_setting('track_counts')");

    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE OF d SKIP LOCKED";

    fn listen_commits(pool: &Pool<Self>, reconnects: metrics::Counter) -> ListenFuture {
        let pool = pool.clone();
        Box::pin(async move {
            let (schema,): (String,) = sqlx::query_as("SELECT current_schema()")
                .fetch_one(&pool)
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(COMMIT_CHANNEL).await?;
            let prefix = format!("{schema} ");
            // `try_recv` rather than the listener's own stream, which
            // reconnects silently and ends at the first error (a database
            // down for a moment would stop the live feed for good): a lost
            // connection may have lost notifications, so it is counted and
            // logged, and after an error the listener waits (longer after
            // each failure in a row) and subscribes again.
            let notifications =
                futures_util::stream::unfold((listener, 0_u32), move |(mut listener, failures)| {
                    let reconnects = reconnects.clone();
                    async move {
                        if failures > 0 {
                            let wait = RESUBSCRIBE_AFTER
                                .saturating_mul(1 << (failures - 1).min(5))
                                .min(RESUBSCRIBE_AT_MOST);
                            tokio::time::sleep(wait).await;
                        }
                        loop {
                            match listener.try_recv().await {
                                Ok(Some(n)) => return Some((Ok(n), (listener, 0))),
                                Ok(None) => {
                                    reconnects.increment(1);
                                    tracing::warn!(
                                        "commit listener reconnected; the live feed reads \
                                         what was announced meanwhile from the event log"
                                    );
                                }
                                Err(e) => {
                                    reconnects.increment(1);
                                    return Some((Err(e), (listener, failures + 1)));
                                }
                            }
                        }
                    }
                });
            // One notification may carry several commits.
            let notices = notifications
                .map(move |n| match n {
                    Ok(n) => n
                        .payload()
                        .strip_prefix(&prefix)
                        .and_then(parse_payload)
                        .unwrap_or_default()
                        .into_iter()
                        .map(Ok)
                        .collect::<Vec<_>>(),
                    Err(e) => vec![Err(e.into())],
                })
                .flat_map(futures_util::stream::iter);
            Ok(Some(Box::pin(notices) as CommitStream))
        })
    }
}

/// The PostgreSQL implementation of [`super::Store`].
pub type PostgresStore = SqlStore<Postgres>;

/// Connects to PostgreSQL by URL.
pub async fn connect(
    url: &str,
    max_connections: u32,
    migrate: bool,
) -> anyhow::Result<PostgresStore> {
    connect_with(PgConnectOptions::from_str(url)?, max_connections, migrate).await
}

/// Connects with explicit options (tests use this to pin a `search_path`
/// schema, giving each test a fresh, isolated database).
pub async fn connect_with(
    options: PgConnectOptions,
    max_connections: u32,
    migrate: bool,
) -> anyhow::Result<PostgresStore> {
    let lost = super::pool::LostConnections::default();
    // No JIT compilation: PostgreSQL compiles any statement whose estimated
    // cost passes `jit_above_cost`, which at millions of tickets includes
    // the open-ticket gauges and the hotspot detector's replay start, and
    // the compile costs hundreds of milliseconds a time (513 ms of a
    // 1.6 s gauge count on a 10 M ticket database) that short statements
    // never earn back.
    let options = options.options([("jit", "off")]);
    let pool = super::pool::options(max_connections, lost.clone())
        .connect_with(options)
        .await?;
    if migrate {
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await?;
    }
    Ok(SqlStore::new(pool.clone(), pool, lost))
}
