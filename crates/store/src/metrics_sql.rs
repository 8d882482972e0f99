//! Counters, their ledger and frozen months in SQL, generic over the
//! backend like `sql.rs`.
//!
//! A scope (centre, unit, subtree, region) becomes a condition on
//! `unit_id`, and a source (live days or a frozen month) picks the table,
//! so every sum is one statement over an index: a unit's month reads at
//! most days × counters rows, a region's per-unit sums units × that.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Transaction, Type};

use super::{
    CounterScope, CounterSource, FrozenMonth, MetricsStore, StoreError, StoreResult,
    batch::Statement,
    prefix_upper_bound,
    rows::{micros, time},
    sql::{Dialect, Filter, SqlStore, Value, bind_query_as, int, text, values_sql},
};
use hotline_domain::{
    TicketId, UnitId,
    metrics::{Counter, CounterDelta, Month},
    text_enum::TextEnum,
};

/// Shards of each centre counter row (see migration `..08_counter_shards`)
/// that single writes spread over: every write of a ticket's life may
/// update the centre's rows. Unit rows of single writes keep shard 0.
const CENTRE_SHARDS: u8 = 64;

/// Which shard of its counter rows a write adds to. Sums add the shards
/// up, so the choice only decides which writers wait for each other's row
/// locks.
#[derive(Debug, Clone, Copy)]
pub(super) enum ShardBy {
    /// A write of its own: centre rows spread over [`CENTRE_SHARDS`] by
    /// ticket, unit rows shard 0.
    Ticket,
    /// A group-commit lane: every row the lane writes in its own shard,
    /// after the ticket shards, so two lanes never wait for each other and
    /// a batch's changes to one row are summed into one update.
    Lane(u8),
}

pub(super) fn day_text(day: NaiveDate) -> Value {
    text(day.format("%Y-%m-%d").to_string())
}

/// A statement's `WITH` prefix (for a subtree) and its conditions so far.
struct Scoped {
    prefix: String,
    filter: Filter,
}

/// The condition on `unit_id` for a scope.
fn scoped(scope: &CounterScope) -> Scoped {
    let mut filter = Filter::default();
    let mut prefix = String::new();
    match scope {
        CounterScope::Centre => filter.push("unit_id = ''", vec![]),
        CounterScope::Unit(unit) => filter.push("unit_id = ?", vec![text(unit.as_str())]),
        CounterScope::Subtree(root) => {
            let root = filter.bind(text(root.as_str()));
            prefix = format!(
                "WITH RECURSIVE subtree (id) AS (SELECT id FROM units WHERE id = {root} \
                 UNION ALL SELECT u.id FROM units u JOIN subtree s ON u.parent_id = s.id) "
            );
            filter.push("unit_id IN (SELECT id FROM subtree)", vec![]);
        }
        CounterScope::Region(region) => filter.push(
            "unit_id IN (SELECT id FROM units WHERE region_code >= ? AND region_code < ?)",
            vec![text(region), text(prefix_upper_bound(region))],
        ),
    }
    Scoped { prefix, filter }
}

/// The table a source reads and its condition.
fn source_table(source: CounterSource, filter: &mut Filter) -> &'static str {
    match source {
        CounterSource::Days { from, to } => {
            filter.push("day >= ? AND day < ?", vec![day_text(from), day_text(to)]);
            "unit_day_counters"
        }
        CounterSource::Frozen(month) => {
            filter.push("month = ?", vec![text(month.to_string())]);
            "frozen_counters"
        }
    }
}

fn counter(code: &str) -> StoreResult<Counter> {
    Counter::from_code(code)
        .ok_or_else(|| StoreError::internal(format!("stored counter {code:?} is unknown")))
}

fn unit(id: &str) -> StoreResult<UnitId> {
    UnitId::parse(id).map_err(|_| StoreError::internal(format!("stored unit {id:?} is invalid")))
}

/// The statements applying counter changes in the writing transaction:
/// one ledger row per change naming its ticket, so a total can always be
/// explained ticket by ticket, and an upsert per (unit, day, counter,
/// shard) total. `changes` may span several tickets (a group commit).
pub(super) fn counter_statements<'a>(
    changes: impl IntoIterator<Item = (TicketId, &'a CounterDelta)>,
    shard_by: ShardBy,
) -> Vec<Statement> {
    let changes: Vec<(TicketId, &CounterDelta)> = changes.into_iter().collect();
    if changes.is_empty() {
        return Vec::new();
    }
    // The ledger first, in one statement: the totals below include the
    // centre's rows, which every intake updates, so their row locks are
    // taken last and held for the shortest time.
    let mut ledger = Vec::with_capacity(changes.len() * 5);
    for (ticket, c) in &changes {
        ledger.extend([
            text(c.unit.as_ref().map(|u| u.as_str()).unwrap_or_default()),
            day_text(c.day),
            text(c.counter.code()),
            int(c.delta),
            text(ticket.to_string()),
        ]);
    }
    let mut statements = vec![Statement {
        sql: values_sql(
            "INSERT INTO counter_entries (unit_id, day, counter, delta, ticket_id)",
            5,
            changes.len(),
            "",
        ),
        values: ledger,
    }];
    // The totals in one upsert, so changes to the same row are summed
    // first (a statement may not update a row twice) and zero sums dropped.
    let mut totals: Vec<(&CounterDelta, u8, i64)> = Vec::with_capacity(changes.len());
    for (ticket, c) in &changes {
        let shard = match shard_by {
            ShardBy::Lane(lane) => CENTRE_SHARDS.saturating_add(lane),
            ShardBy::Ticket if c.unit.is_none() => ticket.bucket(CENTRE_SHARDS),
            ShardBy::Ticket => 0,
        };
        match totals
            .iter_mut()
            .find(|(t, s, _)| (&t.unit, t.day, t.counter, *s) == (&c.unit, c.day, c.counter, shard))
        {
            Some(total) => total.2 += c.delta,
            None => totals.push((c, shard, c.delta)),
        }
    }
    totals.retain(|(_, _, sum)| *sum != 0);
    // One lock order for every writer: no deadlock between two upserts.
    totals.sort_by(|(a, sa, _), (b, sb, _)| {
        (&a.unit, a.day, a.counter.code(), sa).cmp(&(&b.unit, b.day, b.counter.code(), sb))
    });
    if totals.is_empty() {
        return statements;
    }
    let mut values = Vec::with_capacity(totals.len() * 5);
    for (c, shard, sum) in &totals {
        values.extend([
            text(c.unit.as_ref().map(|u| u.as_str()).unwrap_or_default()),
            day_text(c.day),
            text(c.counter.code()),
            int(*sum),
            int(*shard),
        ]);
    }
    statements.push(Statement {
        sql: values_sql(
            "INSERT INTO unit_day_counters (unit_id, day, counter, value, shard)",
            5,
            totals.len(),
            " ON CONFLICT (unit_id, day, counter, shard) \
             DO UPDATE SET value = unit_day_counters.value + excluded.value",
        ),
        values,
    });
    statements
}

#[async_trait]
impl<DB> MetricsStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<bool>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
    (String, String, i64): for<'r> FromRow<'r, DB::Row>,
    (String, String, String, i64): for<'r> FromRow<'r, DB::Row>,
{
    async fn sum_counters(
        &self,
        scope: &CounterScope,
        source: CounterSource,
    ) -> StoreResult<Vec<(Counter, i64)>> {
        if let CounterSource::Frozen(month) = source
            && self.frozen_month(month).await?.is_none()
        {
            return Err(StoreError::NotFound(format!("frozen month {month}")));
        }
        let Scoped { prefix, mut filter } = scoped(scope);
        let table = source_table(source, &mut filter);
        let sql = format!(
            "{prefix}SELECT counter, CAST(SUM(value) AS BIGINT) FROM {table}{} GROUP BY counter",
            filter.sql()
        );
        let rows: Vec<(String, i64)> =
            bind_query_as(sqlx::query_as(sqlx::AssertSqlSafe(sql)), filter.values)
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(code, sum)| Ok((counter(&code)?, sum)))
            .collect()
    }

    async fn sum_counters_by_unit(
        &self,
        region_prefix: Option<&str>,
        source: CounterSource,
    ) -> StoreResult<Vec<(UnitId, Counter, i64)>> {
        if let CounterSource::Frozen(month) = source
            && self.frozen_month(month).await?.is_none()
        {
            return Err(StoreError::NotFound(format!("frozen month {month}")));
        }
        let Scoped { prefix, mut filter } = match region_prefix {
            Some(region) => scoped(&CounterScope::Region(region.to_owned())),
            None => Scoped {
                prefix: String::new(),
                filter: Filter::default(),
            },
        };
        filter.push("unit_id <> ''", vec![]);
        let table = source_table(source, &mut filter);
        let sql = format!(
            "{prefix}SELECT unit_id, counter, CAST(SUM(value) AS BIGINT) FROM {table}{} \
             GROUP BY unit_id, counter ORDER BY unit_id, counter",
            filter.sql()
        );
        let rows: Vec<(String, String, i64)> =
            bind_query_as(sqlx::query_as(sqlx::AssertSqlSafe(sql)), filter.values)
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(id, code, sum)| Ok((unit(&id)?, counter(&code)?, sum)))
            .collect()
    }

    async fn all_counters(&self) -> StoreResult<Vec<CounterDelta>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT unit_id, day, counter, CAST(SUM(value) AS BIGINT) FROM unit_day_counters \
             GROUP BY unit_id, day, counter HAVING SUM(value) <> 0 ORDER BY unit_id, day, counter",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, day, code, value)| {
                Ok(CounterDelta {
                    unit: if id.is_empty() {
                        None
                    } else {
                        Some(unit(&id)?)
                    },
                    day: NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|_| {
                        StoreError::internal(format!("stored counter day {day:?} is invalid"))
                    })?,
                    counter: counter(&code)?,
                    delta: value,
                })
            })
            .collect()
    }

    async fn counter_tickets(
        &self,
        scope: &CounterScope,
        counters: &[Counter],
        from: NaiveDate,
        to: NaiveDate,
        after: Option<TicketId>,
        limit: u32,
    ) -> StoreResult<Vec<(TicketId, i64)>> {
        if counters.is_empty() {
            return Ok(Vec::new());
        }
        let Scoped { prefix, mut filter } = scoped(scope);
        let marks = vec!["?"; counters.len()].join(", ");
        filter.push(
            &format!("counter IN ({marks})"),
            counters.iter().map(|c| text(c.code())).collect(),
        );
        filter.push("day >= ? AND day < ?", vec![day_text(from), day_text(to)]);
        if let Some(after) = after {
            filter.push("ticket_id > ?", vec![text(after.to_string())]);
        }
        let limit_mark = filter.bind(int(limit));
        let sql = format!(
            "{prefix}SELECT ticket_id, CAST(SUM(delta) AS BIGINT) FROM counter_entries{} \
             GROUP BY ticket_id HAVING SUM(delta) <> 0 ORDER BY ticket_id LIMIT {limit_mark}",
            filter.sql()
        );
        let rows: Vec<(String, i64)> =
            bind_query_as(sqlx::query_as(sqlx::AssertSqlSafe(sql)), filter.values)
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(id, sum)| {
                let id = TicketId::parse(&id).map_err(|_| {
                    StoreError::internal(format!("stored ticket id {id:?} is invalid"))
                })?;
                Ok((id, sum))
            })
            .collect()
    }

    async fn freeze_month(
        &self,
        month: Month,
        frozen_by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<FrozenMonth> {
        let mut tx: Transaction<'_, DB> = self.pool().begin_with(DB::BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO frozen_months (month, frozen_by, freeze_time_us) VALUES ($1, $2, $3)",
        )
        .bind(month.to_string())
        .bind(frozen_by.to_owned())
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::AlreadyExists(_) => {
                StoreError::AlreadyExists(format!("frozen month {month}"))
            }
            other => other,
        })?;
        sqlx::query(
            "INSERT INTO frozen_counters (month, unit_id, counter, value) \
             SELECT CAST($1 AS TEXT), unit_id, counter, CAST(SUM(value) AS BIGINT) \
             FROM unit_day_counters WHERE day >= $2 AND day < $3 \
             GROUP BY unit_id, counter HAVING SUM(value) <> 0",
        )
        .bind(month.to_string())
        .bind(month.first_day().format("%Y-%m-%d").to_string())
        .bind(month.end().format("%Y-%m-%d").to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(FrozenMonth {
            month,
            frozen_by: frozen_by.to_owned(),
            freeze_time: time(micros(now))?,
        })
    }

    async fn frozen_month(&self, month: Month) -> StoreResult<Option<FrozenMonth>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT frozen_by, freeze_time_us FROM frozen_months WHERE month = $1")
                .bind(month.to_string())
                .fetch_optional(self.pool())
                .await?;
        row.map(|(frozen_by, us)| {
            Ok(FrozenMonth {
                month,
                frozen_by,
                freeze_time: time(us)?,
            })
        })
        .transpose()
    }
}
