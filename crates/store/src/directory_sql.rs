//! Units and regions in SQL, generic over the backend like `sql.rs`.
//!
//! A unit is created together with its idempotency record in one write
//! (fused on PostgreSQL), so a retried `CreateUnit` sees both or neither.

use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use super::{
    DirectoryStore, IdempotencyKey, StoreError, StoreResult,
    batch::WriteBatch,
    idempotency_sql::push_insert_keys,
    query::{Conditions, Rows, Value, int, opt_text, push_prefix, push_row, text},
    rows::{RegionRow, RetirementRow, UnitRow, micros},
    sql::{Dialect, SqlStore, commit_batch},
};
use hotline_domain::{
    RegionCode, UnitId,
    directory::{Region, Unit, UnitKind, UnitRetirement},
    text_enum::TextEnum,
};

const UNIT_COLUMNS: &str = "id, display_name, kind, region_code, parent_id, create_time_us";

#[async_trait]
impl<DB> DirectoryStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    UnitRow: for<'r> FromRow<'r, DB::Row>,
    RegionRow: for<'r> FromRow<'r, DB::Row>,
    RetirementRow: for<'r> FromRow<'r, DB::Row>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_unit(&self, unit: &Unit, key: Option<IdempotencyKey>) -> StoreResult<()> {
        let mut batch = WriteBatch::default();
        batch.push(|qb| {
            qb.push(format_args!("INSERT INTO units ({UNIT_COLUMNS}) "));
            qb.push_values([unit], |row, unit| {
                push_row(
                    row,
                    [
                        text(unit.id.as_str()),
                        text(&unit.display_name),
                        text(unit.kind.code()),
                        text(unit.region_code.as_str()),
                        opt_text(unit.parent.as_ref().map(UnitId::as_str)),
                        int(micros(unit.create_time)),
                    ],
                );
            });
        });
        let keys: Vec<_> = key
            .iter()
            .map(|key| (key, unit.id.name(), micros(unit.create_time)))
            .collect();
        if !keys.is_empty() {
            batch.push(move |qb| push_insert_keys(qb, &keys, Rows::Always));
        }
        commit_batch(self.write_pool(), self.telemetry(), batch).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_unit(&self, id: &UnitId) -> StoreResult<Unit> {
        let row: Option<UnitRow> = sqlx::query_as(
            "SELECT id, display_name, kind, region_code, parent_id, create_time_us FROM units WHERE id = $1",
        )
        .bind(id.as_str().to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.ok_or_else(|| StoreError::NotFound(id.name()))?
            .try_into()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_units(
        &self,
        region_prefix: Option<&str>,
        kind: Option<UnitKind>,
        after: Option<&UnitId>,
        limit: u32,
    ) -> StoreResult<Vec<Unit>> {
        let mut qb = QueryBuilder::new(format!("SELECT {UNIT_COLUMNS} FROM units"));
        let mut w = Conditions::new(&mut qb);
        if let Some(r) = region_prefix {
            push_prefix(w.and(), "region_code", r);
        }
        if let Some(k) = kind {
            w.and().push("kind = ").push_bind(text(k.code()));
        }
        if let Some(a) = after {
            w.and().push("id > ").push_bind(text(a.as_str()));
        }
        w.finish().push(" ORDER BY id LIMIT ").push_bind(int(limit));
        let rows: Vec<UnitRow> = qb.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(Unit::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn count_units(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM units")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_region(&self, region: &Region) -> StoreResult<()> {
        sqlx::query("INSERT INTO regions (code, display_name, parent_code) VALUES ($1, $2, $3)")
            .bind(region.code.as_str().to_owned())
            .bind(region.display_name.clone())
            .bind(region.parent.as_ref().map(|p| p.as_str().to_owned()))
            .execute(self.write_pool())
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_region(&self, code: &RegionCode) -> StoreResult<Region> {
        let row: Option<RegionRow> =
            sqlx::query_as("SELECT code, display_name, parent_code FROM regions WHERE code = $1")
                .bind(code.as_str().to_owned())
                .fetch_optional(self.pool())
                .await?;
        row.ok_or_else(|| StoreError::NotFound(format!("regions/{code}")))?
            .try_into()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_regions(
        &self,
        code_prefix: Option<&str>,
        after: Option<&RegionCode>,
        limit: u32,
    ) -> StoreResult<Vec<Region>> {
        let mut qb = QueryBuilder::new("SELECT code, display_name, parent_code FROM regions");
        let mut w = Conditions::new(&mut qb);
        if let Some(p) = code_prefix {
            push_prefix(w.and(), "code", p);
        }
        if let Some(a) = after {
            w.and().push("code > ").push_bind(text(a.as_str()));
        }
        w.finish()
            .push(" ORDER BY code LIMIT ")
            .push_bind(int(limit));
        let rows: Vec<RegionRow> = qb.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(Region::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn retire_unit(&self, retirement: &UnitRetirement) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO unit_retirements (unit_id, successor_id, note, retired_by, retire_time_us) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(retirement.unit.as_str().to_owned())
        .bind(retirement.successor.as_ref().map(|u| u.as_str().to_owned()))
        .bind(retirement.note.clone())
        .bind(retirement.retired_by.clone())
        .bind(micros(retirement.time))
        .execute(self.write_pool())
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::AlreadyExists(_) => {
                StoreError::AlreadyExists(format!("{} is retired", retirement.unit.name()))
            }
            other => other,
        })?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn unit_retirements(&self) -> StoreResult<Vec<UnitRetirement>> {
        let rows: Vec<RetirementRow> = sqlx::query_as(
            "SELECT unit_id, successor_id, note, retired_by, retire_time_us \
             FROM unit_retirements ORDER BY unit_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(UnitRetirement::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn unit_retirement(&self, unit: &UnitId) -> StoreResult<Option<UnitRetirement>> {
        let row: Option<RetirementRow> = sqlx::query_as(
            "SELECT unit_id, successor_id, note, retired_by, retire_time_us \
             FROM unit_retirements WHERE unit_id = $1",
        )
        .bind(unit.as_str().to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.map(UnitRetirement::try_from).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn count_unit_retirements(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM unit_retirements")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }
}
