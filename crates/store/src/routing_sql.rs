//! The dispatch catalogue in SQL, generic over the backend like `sql.rs`.
//!
//! Rules are stored as JSON of [`RuleSpec`]: the catalogue is read whole and
//! compiled in memory, never queried rule by rule, so a document per rule
//! (draft) and per version (published) is the simplest faithful shape.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type};

use super::{
    RoutingStore, RuleSetInfo, StoreError, StoreResult,
    rows::{micros, time},
    sql::{Dialect, SqlStore},
};
use hotline_domain::routing::RuleSpec;

const RULE_SET_COLUMNS: &str = "r.version, r.rule_count, r.publisher, r.note, r.publish_time_us, \
    COALESCE((SELECT a.version FROM routing_active a WHERE a.singleton = 1), 0) AS active_version";

#[derive(Debug, FromRow)]
struct RuleSetRow {
    version: i64,
    rule_count: i32,
    publisher: String,
    note: String,
    publish_time_us: i64,
    active_version: i64,
}

impl TryFrom<RuleSetRow> for RuleSetInfo {
    type Error = StoreError;

    fn try_from(r: RuleSetRow) -> StoreResult<Self> {
        Ok(RuleSetInfo {
            version: r.version,
            rule_count: r.rule_count,
            publisher: r.publisher,
            note: r.note,
            publish_time: time(r.publish_time_us)?,
            active: r.version == r.active_version,
        })
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::internal_from("encoding rules", e))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::internal_from("stored rules are invalid", e))
}

#[async_trait]
impl<DB> RoutingStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    RuleSetRow: for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_draft_rule(&self, rule: &RuleSpec, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO routing_draft_rules (id, spec, update_time_us) VALUES ($1, $2, $3)",
        )
        .bind(rule.id.clone())
        .bind(to_json(rule)?)
        .bind(micros(now))
        .execute(self.write_pool())
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::AlreadyExists(_) => StoreError::AlreadyExists(format!("rules/{}", rule.id)),
            other => other,
        })?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn update_draft_rule(&self, rule: &RuleSpec, now: DateTime<Utc>) -> StoreResult<()> {
        let updated: Option<(String,)> = sqlx::query_as(
            "UPDATE routing_draft_rules SET spec = $2, update_time_us = $3 WHERE id = $1 RETURNING id",
        )
        .bind(rule.id.clone())
        .bind(to_json(rule)?)
        .bind(micros(now))
        .fetch_optional(self.write_pool())
        .await?;
        updated
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(format!("rules/{}", rule.id)))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_draft_rule(&self, id: &str) -> StoreResult<()> {
        let deleted: Option<(String,)> =
            sqlx::query_as("DELETE FROM routing_draft_rules WHERE id = $1 RETURNING id")
                .bind(id.to_owned())
                .fetch_optional(self.write_pool())
                .await?;
        deleted
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(format!("rules/{id}")))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn draft_rules(&self) -> StoreResult<Vec<RuleSpec>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT spec FROM routing_draft_rules ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|(spec,)| from_json(spec)).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn publish_rule_set(
        &self,
        rules: &[RuleSpec],
        publisher: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RuleSetInfo> {
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
        // The counter row queues concurrent publishers: reading MAX(version)
        // would let two of them take the same version under READ COMMITTED.
        let (version,): (i64,) = sqlx::query_as(
            "INSERT INTO rule_set_counter (singleton, last_version) VALUES (1, 1) \
             ON CONFLICT (singleton) DO UPDATE SET last_version = rule_set_counter.last_version + 1 \
             RETURNING last_version",
        )
        .fetch_one(&mut *tx)
        .await?;
        let count =
            i32::try_from(rules.len()).map_err(|_| StoreError::internal("too many rules"))?;
        sqlx::query(
            "INSERT INTO rule_sets (version, rules, rule_count, publisher, note, publish_time_us) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(version)
        .bind(to_json(&rules)?)
        .bind(count)
        .bind(publisher.to_owned())
        .bind(note.to_owned())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        set_active(&mut tx, version).await?;
        tx.commit().await?;
        Ok(RuleSetInfo {
            version,
            rule_count: count,
            publisher: publisher.to_owned(),
            note: note.to_owned(),
            publish_time: now,
            active: true,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn activate_rule_set(&self, version: i64) -> StoreResult<RuleSetInfo> {
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
        set_active(&mut tx, version).await.map_err(|e| match e {
            StoreError::NotFound(_) => StoreError::NotFound(format!("ruleSets/{version}")),
            other => other,
        })?;
        tx.commit().await?;
        Ok(self.rule_set(version).await?.0)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn rule_set(&self, version: i64) -> StoreResult<(RuleSetInfo, Vec<RuleSpec>)> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT rules FROM rule_sets WHERE version = $1")
                .bind(version)
                .fetch_optional(self.pool())
                .await?;
        let (rules,) = row.ok_or_else(|| StoreError::NotFound(format!("ruleSets/{version}")))?;
        let info: RuleSetRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_SET_COLUMNS} FROM rule_sets r WHERE r.version = $1"
        )))
        .bind(version)
        .fetch_one(self.pool())
        .await?;
        Ok((info.try_into()?, from_json(&rules)?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active_rule_set_version(&self) -> StoreResult<Option<i64>> {
        let active: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM routing_active WHERE singleton = 1")
                .fetch_optional(self.pool())
                .await?;
        Ok(active.map(|(v,)| v))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active_rule_set(&self) -> StoreResult<Option<(RuleSetInfo, Vec<RuleSpec>)>> {
        match self.active_rule_set_version().await? {
            Some(version) => self.rule_set(version).await.map(Some),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_rule_sets(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<RuleSetInfo>> {
        let rows: Vec<RuleSetRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_SET_COLUMNS} FROM rule_sets r WHERE r.version < $1 ORDER BY r.version DESC LIMIT $2"
        )))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(RuleSetInfo::try_from).collect()
    }
}

/// Points `routing_active` at `version` (which must exist).
async fn set_active<DB>(tx: &mut Transaction<'_, DB>, version: i64) -> StoreResult<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO routing_active (singleton, version) VALUES (1, $1) \
         ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
    )
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
