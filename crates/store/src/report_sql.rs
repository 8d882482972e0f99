//! The disclosure report's aggregate over tickets, generic over the backend
//! like `sql.rs`: one GROUP BY per period, so both backends run the same
//! statement.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{
    ReportStore, StoreError, StoreResult, VolumeCell,
    rows::micros,
    sql::{Dialect, SqlStore},
};
use hotline_domain::{
    text_enum::TextEnum,
    ticket::{Channel, RequestType, TicketState},
};

/// One row of [`VOLUMES`]: the group key and its four counts.
type VolumeRow = (String, String, String, String, i64, i64, i64, i64);

/// Groups the period's tickets by type, channel, first-level subject and
/// district. The states excluded from `accepted` are spelled from
/// [`TicketState`] codes so a renamed state cannot drift from the SQL.
static VOLUMES: LazyLock<String> = LazyLock::new(|| {
    let excluded = [
        TicketState::NotAccepted,
        TicketState::TransferredEmergency,
        TicketState::Merged,
    ]
    .map(|s| format!("'{}'", s.code()))
    .join(", ");
    let intake = TicketState::ResolvedAtIntake.code();
    format!(
        "SELECT request_type, channel, SUBSTR(COALESCE(subject_code, ''), 1, 2), \
         SUBSTR(region_code, 1, 6), CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN state IN ({excluded}) THEN 0 ELSE 1 END) AS BIGINT), \
         CAST(SUM(CASE WHEN state = '{intake}' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN reply_time_us IS NOT NULL AND state NOT IN ({excluded}) \
         THEN 1 ELSE 0 END) AS BIGINT) \
         FROM tickets WHERE create_time_us >= $1 AND create_time_us < $2 \
         GROUP BY request_type, channel, SUBSTR(COALESCE(subject_code, ''), 1, 2), \
         SUBSTR(region_code, 1, 6) ORDER BY 1, 2, 3, 4"
    )
});

fn parse<T: TextEnum>(what: &str, code: &str) -> StoreResult<T> {
    T::from_code(code)
        .ok_or_else(|| StoreError::internal(format!("stored {what} {code:?} is unknown")))
}

#[async_trait]
impl<DB> ReportStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    VolumeRow: for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn ticket_volumes(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<VolumeCell>> {
        let rows: Vec<VolumeRow> = sqlx::query_as(VOLUMES.as_str())
            .bind(micros(from))
            .bind(micros(to))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(
                |(
                    request_type,
                    channel,
                    subject,
                    district,
                    received,
                    accepted,
                    intake,
                    replied,
                )| {
                    Ok(VolumeCell {
                        request_type: parse::<RequestType>("request type", &request_type)?,
                        channel: parse::<Channel>("channel", &channel)?,
                        subject: (!subject.is_empty()).then_some(subject),
                        district,
                        received,
                        accepted,
                        answered_at_intake: intake,
                        replied_by_unit: replied,
                    })
                },
            )
            .collect()
    }
}
