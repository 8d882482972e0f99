//! Calendar versions in SQL, generic over the backend like `sql.rs`. A
//! version is the whole calendar as JSON: it is read whole and never queried
//! by date in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Transaction, Type};

use super::{
    CalendarStore, CalendarVersion, StoreError, StoreResult,
    rows::{micros, time},
    sql::{Dialect, SqlStore},
};
use hotline_domain::{calendar::CalendarData, timelimit::TimeLimitPolicy};

#[derive(Debug, FromRow)]
struct CalendarRow {
    version: i64,
    data: String,
    note: String,
    loaded_by: String,
    load_time_us: i64,
}

impl TryFrom<CalendarRow> for CalendarVersion {
    type Error = StoreError;

    fn try_from(r: CalendarRow) -> StoreResult<Self> {
        Ok(CalendarVersion {
            version: r.version,
            data: serde_json::from_str(&r.data).map_err(|e| {
                StoreError::internal_from(format!("stored calendar {} is invalid", r.version), e)
            })?,
            note: r.note,
            loaded_by: r.loaded_by,
            load_time: time(r.load_time_us)?,
        })
    }
}

#[async_trait]
impl<DB> CalendarStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (i64, String): for<'r> FromRow<'r, DB::Row>,
    CalendarRow: for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn save_calendar(
        &self,
        data: &CalendarData,
        note: &str,
        loaded_by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CalendarVersion> {
        let json = serde_json::to_string(data)
            .map_err(|e| StoreError::internal_from("encoding calendar", e))?;
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
        let (version,): (i64,) = sqlx::query_as(
            "INSERT INTO calendar_counter (singleton, last_version) VALUES (1, 1) \
             ON CONFLICT (singleton) DO UPDATE SET last_version = calendar_counter.last_version + 1 \
             RETURNING last_version",
        )
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO calendars (version, data, note, loaded_by, load_time_us) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(version)
        .bind(json)
        .bind(note.to_owned())
        .bind(loaded_by.to_owned())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CalendarVersion {
            version,
            data: data.clone(),
            note: note.to_owned(),
            loaded_by: loaded_by.to_owned(),
            load_time: now,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn latest_calendar(&self) -> StoreResult<Option<CalendarVersion>> {
        let row: Option<CalendarRow> = sqlx::query_as(
            "SELECT version, data, note, loaded_by, load_time_us FROM calendars ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(CalendarVersion::try_from).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn save_time_limits(
        &self,
        policy: &TimeLimitPolicy,
        changed_by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let json = serde_json::to_string(policy)
            .map_err(|e| StoreError::internal_from("encoding time limits", e))?;
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
        let (version,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(version), 0) + 1 FROM time_limit_policies")
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO time_limit_policies (version, policy, changed_by, change_time_us) VALUES ($1, $2, $3, $4)",
        )
        .bind(version)
        .bind(json)
        .bind(changed_by.to_owned())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn latest_time_limits(&self) -> StoreResult<Option<(i64, TimeLimitPolicy)>> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, policy FROM time_limit_policies ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(|(version, json)| {
            serde_json::from_str(&json)
                .map(|policy| (version, policy))
                .map_err(|e| {
                    StoreError::internal_from(
                        format!("stored time limits {version} are invalid"),
                        e,
                    )
                })
        })
        .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn latest_calendar_version(&self) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM calendars ORDER BY version DESC LIMIT 1")
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(v,)| v))
    }
}
