//! What operations watch, in SQL: the readiness ping, the pool's
//! occupancy and the open-ticket counts behind the dashboards' gauges.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Connection, Executor, FromRow, IntoArguments};

use super::{
    OpenTickets, OpsStore, PoolStatus, StoreResult, StoreTelemetry, maintenance_warnings,
    rows::micros,
    sql::{Dialect, SqlStore},
};
use hotline_domain::{text_enum::TextEnum, ticket::TicketState};

/// Open tickets per state, over the `tickets_state` index (its leading
/// column): the count reads the open tickets' index entries only.
static OPEN_BY_STATE: LazyLock<String> = LazyLock::new(|| {
    let open: Vec<String> = TicketState::ALL
        .iter()
        .filter(|s| !s.is_terminal())
        .map(|s| format!("'{}'", s.code()))
        .collect();
    format!(
        "SELECT state, COUNT(*) FROM tickets WHERE state IN ({}) GROUP BY state",
        open.join(", ")
    )
});

/// Overdue tickets as `ListOverdue` counts them, over the
/// `tickets_reply_due (state, reply_deadline_us)` index.
const OVERDUE: &str = "SELECT COUNT(*) FROM tickets \
     WHERE state IN ('dispatched', 'in_progress', 'return_requested') AND reply_deadline_us < $1";

#[async_trait]
impl<DB> OpsStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
    (String, String): for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn ping(&self) -> StoreResult<()> {
        // Where the backend's probe takes the write lock, it queues with
        // the writes for it.
        let pool = if DB::PING_BEGIN.is_some() {
            self.write_pool()
        } else {
            self.pool()
        };
        let mut conn = self.telemetry().acquire(pool).await?;
        if let Some(begin) = DB::PING_BEGIN {
            let mut tx = conn.begin_with(begin).await?;
            let _: (i64,) = sqlx::query_as(DB::PING).fetch_one(&mut *tx).await?;
            tx.rollback().await?;
        } else {
            let _: (i64,) = sqlx::query_as(DB::PING).fetch_one(&mut *conn).await?;
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn summarize_feed_index(&self) -> StoreResult<i64> {
        let Some(statement) = DB::SUMMARIZE_FEED else {
            return Ok(0);
        };
        let (ranges,): (i64,) = sqlx::query_as(statement).fetch_one(self.pool()).await?;
        Ok(ranges)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn maintenance_warnings(&self) -> StoreResult<Vec<String>> {
        let Some(statement) = DB::MAINTENANCE_SETTINGS else {
            return Ok(Vec::new());
        };
        let (autovacuum, track_counts): (String, String) =
            sqlx::query_as(statement).fetch_one(self.pool()).await?;
        Ok(maintenance_warnings(&autovacuum, &track_counts))
    }

    fn pool_status(&self) -> PoolStatus {
        let pool = self.pool();
        PoolStatus {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn open_tickets(&self, now: DateTime<Utc>) -> StoreResult<OpenTickets> {
        let rows: Vec<(String, i64)> = sqlx::query_as(OPEN_BY_STATE.as_str())
            .fetch_all(self.pool())
            .await?;
        let by_state = rows
            .into_iter()
            .filter_map(|(state, n)| Some((TicketState::from_code(&state)?, n)))
            .collect();
        let (overdue,): (i64,) = sqlx::query_as(OVERDUE)
            .bind(micros(now))
            .fetch_one(self.pool())
            .await?;
        Ok(OpenTickets { by_state, overdue })
    }

    fn attach_telemetry(&self, telemetry: StoreTelemetry) {
        self.telemetry().attach(telemetry);
    }

    fn connection_lost(&self) {
        self.lost_connections().record();
    }
}
