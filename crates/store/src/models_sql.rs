//! The dispatch model's versions in SQL, generic over the backend like
//! `routing_sql.rs`. A change of the active version is one conditional
//! UPDATE of the single `dispatch_model_active` row and its audit event,
//! in one write transaction: a concurrent change makes it `Conflict`.

use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type};

use super::{
    DispatchModelEvent, DispatchModelInfo, ModelChange, ModelEventKind, ModelState, ModelStore,
    NewDispatchModel, StoreError, StoreResult,
    rows::{micros, time},
    sql::{Dialect, SqlStore},
};
use hotline_domain::text_enum::TextEnum;

const MODEL_COLUMNS: &str = "m.version, m.trained_on, m.held_out, m.units, m.metrics, m.note, \
    m.creator, m.create_time_us, m.state, m.failure, \
    (SELECT a.version FROM dispatch_model_active a WHERE a.singleton = 1) AS active_version";

#[derive(Debug, FromRow)]
struct ModelRow {
    version: i64,
    trained_on: i64,
    held_out: i64,
    units: String,
    metrics: String,
    note: String,
    creator: String,
    create_time_us: i64,
    state: String,
    failure: Option<String>,
    active_version: i64,
}

impl TryFrom<ModelRow> for DispatchModelInfo {
    type Error = StoreError;

    fn try_from(r: ModelRow) -> StoreResult<Self> {
        Ok(Self {
            version: r.version,
            trained_on: r.trained_on,
            held_out: r.held_out,
            units: serde_json::from_str(&r.units)
                .map_err(|e| StoreError::internal_from("stored model units are invalid", e))?,
            metrics: r.metrics,
            note: r.note,
            creator: r.creator,
            create_time: time(r.create_time_us)?,
            active: r.version == r.active_version,
            state: ModelState::from_code(&r.state).ok_or_else(|| {
                StoreError::internal(format!("unknown model state {:?}", r.state))
            })?,
            failure: r.failure,
        })
    }
}

#[derive(Debug, FromRow)]
struct EventRow {
    id: i64,
    kind: String,
    version: i64,
    previous: i64,
    actor: String,
    actor_role: String,
    note: String,
    time_us: i64,
}

impl TryFrom<EventRow> for DispatchModelEvent {
    type Error = StoreError;

    fn try_from(r: EventRow) -> StoreResult<Self> {
        Ok(Self {
            id: r.id,
            kind: ModelEventKind::from_code(&r.kind).ok_or_else(|| {
                StoreError::internal(format!("unknown model event kind {:?}", r.kind))
            })?,
            version: r.version,
            previous: r.previous,
            change: ModelChange {
                actor: r.actor,
                actor_role: r.actor_role,
                note: r.note,
                time: time(r.time_us)?,
            },
        })
    }
}

/// Appends an audit event of `version` inside `tx`. `previous` is the
/// version active before the event; `None` reads the one active now (a
/// training's events activate nothing, so the active version stays).
async fn record<DB>(
    tx: &mut Transaction<'_, DB>,
    kind: ModelEventKind,
    version: i64,
    previous: Option<i64>,
    change: &ModelChange,
) -> StoreResult<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let previous = match previous {
        Some(previous) => previous,
        None => {
            let (active,): (i64,) =
                sqlx::query_as("SELECT version FROM dispatch_model_active WHERE singleton = 1")
                    .fetch_one(&mut **tx)
                    .await?;
            active
        }
    };
    sqlx::query(
        "INSERT INTO dispatch_model_events \
         (kind, version, previous, actor, actor_role, note, time_us) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(kind.code().to_owned())
    .bind(version)
    .bind(previous)
    .bind(change.actor.clone())
    .bind(change.actor_role.clone())
    .bind(change.note.clone())
    .bind(micros(change.time))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl<DB> ModelStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    ModelRow: for<'r> FromRow<'r, DB::Row>,
    EventRow: for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn save_dispatch_model(
        &self,
        model: &NewDispatchModel,
    ) -> StoreResult<DispatchModelInfo> {
        let units = serde_json::to_string(&model.units)
            .map_err(|e| StoreError::internal_from("encoding model units", e))?;
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
        let (version,): (i64,) = sqlx::query_as(
            "INSERT INTO dispatch_models \
             (params, trained_on, held_out, units, metrics, note, creator, create_time_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING version",
        )
        .bind(model.params.clone())
        .bind(model.trained_on)
        .bind(model.held_out)
        .bind(units)
        .bind(model.metrics.clone())
        .bind(model.change.note.clone())
        .bind(model.change.actor.clone())
        .bind(micros(model.change.time))
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            ModelEventKind::Trained,
            version,
            None,
            &model.change,
        )
        .await?;
        tx.commit().await?;
        Ok(DispatchModelInfo {
            version,
            trained_on: model.trained_on,
            held_out: model.held_out,
            units: model.units.clone(),
            metrics: model.metrics.clone(),
            note: model.change.note.clone(),
            creator: model.change.actor.clone(),
            create_time: model.change.time,
            active: false,
            state: ModelState::Ready,
            failure: None,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn start_dispatch_model_training(
        &self,
        change: &ModelChange,
    ) -> StoreResult<DispatchModelInfo> {
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
        let (version,): (i64,) = sqlx::query_as(
            "INSERT INTO dispatch_models \
             (params, trained_on, held_out, units, metrics, note, creator, create_time_us, \
              state, heartbeat_us) \
             VALUES ('', 0, 0, '[]', '', $1, $2, $3, 'training', $3) RETURNING version",
        )
        .bind(change.note.clone())
        .bind(change.actor.clone())
        .bind(micros(change.time))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::AlreadyExists(_) | StoreError::Conflict(_) => {
                StoreError::AlreadyExists("a dispatch model training is running".into())
            }
            other => other,
        })?;
        record(
            &mut tx,
            ModelEventKind::TrainingStarted,
            version,
            None,
            change,
        )
        .await?;
        tx.commit().await?;
        Ok(DispatchModelInfo {
            version,
            trained_on: 0,
            held_out: 0,
            units: Vec::new(),
            metrics: String::new(),
            note: change.note.clone(),
            creator: change.actor.clone(),
            create_time: change.time,
            active: false,
            state: ModelState::Training,
            failure: None,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn heartbeat_dispatch_model_training(
        &self,
        version: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        let updated: Option<(i64,)> = sqlx::query_as(
            "UPDATE dispatch_models SET heartbeat_us = $1 \
             WHERE version = $2 AND state = 'training' RETURNING version",
        )
        .bind(micros(at))
        .bind(version)
        .fetch_optional(self.write_pool())
        .await?;
        Ok(updated.is_some())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn finish_dispatch_model_training(
        &self,
        version: i64,
        model: &NewDispatchModel,
    ) -> StoreResult<DispatchModelInfo> {
        let units = serde_json::to_string(&model.units)
            .map_err(|e| StoreError::internal_from("encoding model units", e))?;
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
        let updated: Option<(i64,)> = sqlx::query_as(
            "UPDATE dispatch_models SET params = $1, trained_on = $2, held_out = $3, units = $4, \
             metrics = $5, state = 'ready', heartbeat_us = NULL \
             WHERE version = $6 AND state = 'training' RETURNING version",
        )
        .bind(model.params.clone())
        .bind(model.trained_on)
        .bind(model.held_out)
        .bind(units)
        .bind(model.metrics.clone())
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Err(StoreError::Conflict(format!(
                "dispatchModels/{version} is no longer training"
            )));
        }
        record(
            &mut tx,
            ModelEventKind::Trained,
            version,
            None,
            &model.change,
        )
        .await?;
        let row: ModelRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {MODEL_COLUMNS} FROM dispatch_models m WHERE m.version = $1"
        )))
        .bind(version)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn fail_dispatch_model_trainings(
        &self,
        version: Option<i64>,
        stale_before: Option<chrono::DateTime<chrono::Utc>>,
        reason: &str,
        change: &ModelChange,
    ) -> StoreResult<Vec<i64>> {
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
        let failed: Vec<(i64,)> = sqlx::query_as(
            "UPDATE dispatch_models SET state = 'failed', failure = $1, heartbeat_us = NULL \
             WHERE state = 'training' AND (version = $2 OR heartbeat_us < $3) RETURNING version",
        )
        .bind(reason.to_owned())
        .bind(version.unwrap_or(-1))
        .bind(stale_before.map_or(i64::MIN, micros))
        .fetch_all(&mut *tx)
        .await?;
        for (failed,) in &failed {
            record(
                &mut tx,
                ModelEventKind::TrainingFailed,
                *failed,
                None,
                change,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(failed.into_iter().map(|(v,)| v).collect())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn set_active_dispatch_model(
        &self,
        expected: i64,
        version: i64,
        kind: ModelEventKind,
        change: &ModelChange,
    ) -> StoreResult<()> {
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
        if version != 0 {
            let found: Option<(i64,)> =
                sqlx::query_as("SELECT version FROM dispatch_models WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            found.ok_or_else(|| StoreError::NotFound(format!("dispatchModels/{version}")))?;
        }
        let updated: Option<(i64,)> = sqlx::query_as(
            "UPDATE dispatch_model_active SET version = $1 \
             WHERE singleton = 1 AND version = $2 RETURNING version",
        )
        .bind(version)
        .bind(expected)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Err(StoreError::Conflict(format!(
                "the active dispatch model changed since version {expected} was read"
            )));
        }
        record(&mut tx, kind, version, Some(expected), change).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn dispatch_model(&self, version: i64) -> StoreResult<(DispatchModelInfo, String)> {
        let params: Option<(String,)> =
            sqlx::query_as("SELECT params FROM dispatch_models WHERE version = $1")
                .bind(version)
                .fetch_optional(self.pool())
                .await?;
        let (params,) =
            params.ok_or_else(|| StoreError::NotFound(format!("dispatchModels/{version}")))?;
        let row: ModelRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {MODEL_COLUMNS} FROM dispatch_models m WHERE m.version = $1"
        )))
        .bind(version)
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_into()?, params))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active_dispatch_model_version(&self) -> StoreResult<i64> {
        let (version,): (i64,) =
            sqlx::query_as("SELECT version FROM dispatch_model_active WHERE singleton = 1")
                .fetch_one(self.pool())
                .await?;
        Ok(version)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_dispatch_models(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DispatchModelInfo>> {
        let rows: Vec<ModelRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {MODEL_COLUMNS} FROM dispatch_models m WHERE m.version < $1 \
             ORDER BY m.version DESC LIMIT $2"
        )))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(DispatchModelInfo::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn dispatch_model_events(
        &self,
        version: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DispatchModelEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, kind, version, previous, actor, actor_role, note, time_us \
             FROM dispatch_model_events WHERE ($1 < 0 OR version = $1) ORDER BY id LIMIT $2",
        )
        .bind(version.unwrap_or(-1))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(DispatchModelEvent::try_from).collect()
    }
}
