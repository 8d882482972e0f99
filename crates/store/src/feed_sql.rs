//! [`FeedStore`] in SQL: the statements are the backend's
//! ([`Dialect::FEED_POSITION`], [`Dialect::FEED_AFTER`],
//! [`Dialect::FEED_HEAD`]); why they give a gap-safe order is in
//! [`super::feed`].

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Executor, FromRow, IntoArguments};

use super::{
    FeedEvent, FeedPosition, FeedStore, StoreResult,
    events_sql::EVENT_COLUMN_LIST,
    rows::EventRow,
    sql::{Dialect, SqlStore},
};
use hotline_domain::TicketEvent;

/// One event row with its position.
#[derive(Debug, FromRow)]
struct FeedRow {
    feed_xid: i64,
    feed_id: i64,
    #[sqlx(flatten)]
    event: EventRow,
}

/// The read statement of a backend (`$1`, `$2`: the position to continue
/// after, `$3`: the limit).
fn read_statement<DB: Dialect>() -> String {
    format!(
        "SELECT {}, {} FROM ticket_events WHERE {} LIMIT $3",
        DB::FEED_POSITION,
        *EVENT_COLUMN_LIST,
        DB::FEED_AFTER
    )
}

#[async_trait]
impl<DB> FeedStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
    FeedRow: for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn read_feed(&self, after: FeedPosition, limit: u32) -> StoreResult<Vec<FeedEvent>> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<FeedRow> = sqlx::query_as(AssertSqlSafe(read_statement::<DB>()))
            .bind(after.xid)
            .bind(after.id)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(FeedEvent {
                    position: FeedPosition {
                        xid: r.feed_xid,
                        id: r.feed_id,
                    },
                    event: TicketEvent::try_from(r.event)?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn feed_head(&self) -> StoreResult<FeedPosition> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let (xid, id): (i64, i64) = sqlx::query_as(DB::FEED_HEAD).fetch_one(&mut *conn).await?;
        Ok(FeedPosition { xid, id })
    }
}
