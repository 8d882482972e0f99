//! Counters, their ledger and frozen months in SQL, generic over the
//! backend like `sql.rs`.
//!
//! A scope (centre, unit, subtree, region) becomes a condition on
//! `unit_id`, and a source (live days or a frozen month) picks the table,
//! so every sum is one statement over an index: a unit's month reads at
//! most days × counters rows, a region's per-unit sums units × that.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Transaction, Type};

use super::{
    CounterScope, CounterSource, FrozenMonth, MetricsStore, StoreError, StoreResult,
    batch::WriteBatch,
    query::{Conditions, Rows, Value, int, push_in, push_prefix, push_row, push_rows, text},
    rows::{micros, time},
    sql::{Dialect, SqlStore},
};
use hotline_domain::{
    TicketId, UnitId,
    metrics::{Counter, CounterDelta, Month, SumPart, sum_plan},
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

pub(super) fn day_text(day: NaiveDate) -> Value<'static> {
    text(day.format("%Y-%m-%d").to_string())
}

/// The `WITH` prefix a subtree scope needs (the units below its root);
/// nothing for the other scopes.
pub(super) fn push_scope_prefix<DB>(qb: &mut QueryBuilder<DB>, scope: &CounterScope)
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    if let CounterScope::Subtree(root) = scope {
        qb.push("WITH RECURSIVE subtree (id) AS (SELECT id FROM units WHERE id = ")
            .push_bind(text(root.as_str()))
            .push(" UNION ALL SELECT u.id FROM units u JOIN subtree s ON u.parent_id = s.id) ");
    }
}

/// The condition on `unit_id` for a scope.
pub(super) fn push_scope_condition<DB>(w: &mut Conditions<'_, DB>, scope: &CounterScope)
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    match scope {
        CounterScope::Centre => {
            w.and().push("unit_id = ''");
        }
        CounterScope::Unit(unit) => {
            w.and().push("unit_id = ").push_bind(text(unit.as_str()));
        }
        CounterScope::Subtree(_) => {
            w.and().push("unit_id IN (SELECT id FROM subtree)");
        }
        CounterScope::Region(region) => {
            let qb = w.and();
            qb.push("unit_id IN (SELECT id FROM units WHERE ");
            push_prefix(qb, "region_code", region);
            qb.push(")");
        }
    }
}

/// ` FROM (…) AS source`: the `(unit_id, counter, value)` rows whose sum
/// is a source's. A frozen month is its snapshot's rows; live days are read
/// as [`sum_plan`] says, whole months from `unit_month_counters` less or
/// plus days from `unit_day_counters`, so a month's ranking reads units ×
/// counters rows instead of units × days × counters.
fn push_source<DB>(qb: &mut QueryBuilder<DB>, source: CounterSource)
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    qb.push(" FROM (");
    match source {
        CounterSource::Frozen(month) => {
            qb.push("SELECT unit_id, counter, value FROM frozen_counters WHERE month = ")
                .push_bind(text(month.to_string()));
        }
        CounterSource::Days { from, to } => {
            let mut parts = sum_plan(from, to);
            if parts.is_empty() {
                // An empty period: a read that finds nothing.
                parts.push(SumPart::Days { from, to: from });
            }
            for (i, part) in parts.into_iter().enumerate() {
                if i > 0 {
                    qb.push(" UNION ALL ");
                }
                match part {
                    SumPart::Months { from, to } => {
                        qb.push("SELECT unit_id, counter, value FROM unit_month_counters WHERE month >= ")
                            .push_bind(text(from.to_string()))
                            .push(" AND month < ")
                            .push_bind(text(to.to_string()));
                    }
                    SumPart::Days { from, to } => {
                        qb.push("SELECT unit_id, counter, value FROM unit_day_counters WHERE ");
                        push_day_range(qb, from, to);
                    }
                    SumPart::LessDays { from, to } => {
                        qb.push("SELECT unit_id, counter, -value FROM unit_day_counters WHERE ");
                        push_day_range(qb, from, to);
                    }
                }
            }
        }
    }
    qb.push(") AS source");
}

/// `day >= from AND day < to`, pushed as is.
fn push_day_range<DB>(qb: &mut QueryBuilder<DB>, from: NaiveDate, to: NaiveDate)
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    qb.push("day >= ")
        .push_bind(day_text(from))
        .push(" AND day < ")
        .push_bind(day_text(to));
}

/// `day >= from AND day < to` as the next condition.
fn push_days<DB>(w: &mut Conditions<'_, DB>, from: NaiveDate, to: NaiveDate)
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    push_day_range(w.and(), from, to);
}

fn counter(code: &str) -> StoreResult<Counter> {
    Counter::from_code(code)
        .ok_or_else(|| StoreError::internal(format!("stored counter {code:?} is unknown")))
}

fn unit(id: &str) -> StoreResult<UnitId> {
    UnitId::parse(id).map_err(|_| StoreError::internal(format!("stored unit {id:?} is invalid")))
}

/// Adds the statements applying counter changes to the write: one ledger
/// row per change naming its ticket, so a total can always be explained
/// ticket by ticket, and an upsert per (unit, day, counter, shard) total.
/// `changes` may span several tickets (a group commit); `when` says
/// whether the rows go in unconditionally (see [`Rows`]).
pub(super) fn push_counter_changes<'a, DB>(
    batch: &mut WriteBatch<'a, DB>,
    changes: impl IntoIterator<Item = (TicketId, &'a CounterDelta)>,
    shard_by: ShardBy,
    when: Rows,
) where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let changes: Vec<(TicketId, &CounterDelta)> = changes.into_iter().collect();
    if changes.is_empty() {
        return;
    }
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
    // The ledger first, in one statement: the totals below include the
    // centre's rows, which every intake updates, so their row locks are
    // taken last and held for the shortest time.
    batch.push(move |qb| {
        qb.push("INSERT INTO counter_entries (unit_id, day, counter, delta, ticket_id) ");
        push_rows(qb, when, changes, |row, (ticket, c)| {
            push_row(
                row,
                [
                    text(c.unit.as_ref().map(|u| u.as_str()).unwrap_or_default()),
                    day_text(c.day),
                    text(c.counter.code()),
                    int(c.delta),
                    text(ticket.to_string()),
                ],
            );
        });
    });
    if totals.is_empty() {
        return;
    }
    // Summed by month (two days' changes of one month may cancel out).
    let months = month_totals(&totals);
    batch.push(move |qb| {
        qb.push("INSERT INTO unit_day_counters (unit_id, day, counter, value, shard) ");
        push_rows(qb, when, totals, |row, (c, shard, sum)| {
            push_row(
                row,
                [
                    text(c.unit.as_ref().map(|u| u.as_str()).unwrap_or_default()),
                    day_text(c.day),
                    text(c.counter.code()),
                    int(sum),
                    int(shard),
                ],
            );
        });
        qb.push(
            " ON CONFLICT (unit_id, day, counter, shard) \
             DO UPDATE SET value = unit_day_counters.value + excluded.value",
        );
    });
    if months.is_empty() {
        return;
    }
    batch.push(move |qb| {
        qb.push("INSERT INTO unit_month_counters (month, unit_id, counter, value, shard) ");
        push_rows(
            qb,
            when,
            months,
            |row, (month, unit, counter, shard, sum)| {
                push_row(
                    row,
                    [
                        text(month.to_string()),
                        text(unit),
                        text(counter.code()),
                        int(sum),
                        int(shard),
                    ],
                );
            },
        );
        qb.push(
            " ON CONFLICT (month, unit_id, counter, shard) \
             DO UPDATE SET value = unit_month_counters.value + excluded.value",
        );
    });
}

/// A (month, unit or `""` for the centre, counter, shard) total.
type MonthTotal<'a> = (Month, &'a str, Counter, u8, i64);

/// The per-day totals of a write summed by month for `unit_month_counters`
/// (migration `..30_unit_month_counters`), which every counter change
/// updates with its day: a month's row is always the sum of its days.
/// Sorted by the table's key, one lock order for every writer; zero sums
/// dropped.
fn month_totals<'a>(days: &[(&'a CounterDelta, u8, i64)]) -> Vec<MonthTotal<'a>> {
    let mut months: Vec<MonthTotal<'a>> = Vec::with_capacity(days.len());
    for (c, shard, sum) in days {
        let key = (
            Month::of(c.day),
            c.unit.as_ref().map(|u| u.as_str()).unwrap_or_default(),
            c.counter,
            *shard,
        );
        match months
            .iter_mut()
            .find(|(m, u, counter, s, _)| (*m, *u, *counter, *s) == key)
        {
            Some(total) => total.4 += sum,
            None => months.push((key.0, key.1, key.2, key.3, *sum)),
        }
    }
    months.retain(|m| m.4 != 0);
    months.sort_by(|a, b| (a.0, a.1, a.2.code(), a.3).cmp(&(b.0, b.1, b.2.code(), b.3)));
    months
}

#[async_trait]
impl<DB> MetricsStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
    (String, String, i64): for<'r> FromRow<'r, DB::Row>,
    (String, String, String, i64): for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
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
        let mut qb = QueryBuilder::default();
        push_scope_prefix(&mut qb, scope);
        qb.push("SELECT counter, CAST(SUM(value) AS BIGINT)");
        push_source(&mut qb, source);
        let mut w = Conditions::new(&mut qb);
        push_scope_condition(&mut w, scope);
        w.finish().push(" GROUP BY counter");
        let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|(code, sum)| Ok((counter(&code)?, sum)))
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
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
        let mut qb = QueryBuilder::new("SELECT unit_id, counter, CAST(SUM(value) AS BIGINT)");
        push_source(&mut qb, source);
        let mut w = Conditions::new(&mut qb);
        if let Some(region) = region_prefix {
            push_scope_condition(&mut w, &CounterScope::Region(region.to_owned()));
        }
        w.and().push("unit_id <> ''");
        // Ordered here, not in SQL: with ORDER BY the plan sorted every
        // counter row of the period for a GroupAggregate (43,000 rows of a
        // month for 2,024 units, spilling to disk: 123–138 ms), where a
        // HashAggregate leaves a few thousand sums to sort (70–80 ms).
        // Byte order of the ids is the "C" collation the columns use.
        w.finish().push(" GROUP BY unit_id, counter");
        let mut rows: Vec<(String, String, i64)> =
            qb.build_query_as().fetch_all(self.pool()).await?;
        rows.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        rows.into_iter()
            .map(|(id, code, sum)| Ok((unit(&id)?, counter(&code)?, sum)))
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
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

    #[tracing::instrument(level = "debug", skip_all)]
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
        let mut qb = QueryBuilder::default();
        push_scope_prefix(&mut qb, scope);
        qb.push("SELECT ticket_id, CAST(SUM(delta) AS BIGINT) FROM counter_entries");
        let mut w = Conditions::new(&mut qb);
        push_scope_condition(&mut w, scope);
        push_in(w.and(), "counter", counters.iter().map(|c| text(c.code())));
        push_days(&mut w, from, to);
        if let Some(after) = after {
            w.and()
                .push("ticket_id > ")
                .push_bind(text(after.to_string()));
        }
        w.finish()
            .push(" GROUP BY ticket_id HAVING SUM(delta) <> 0 ORDER BY ticket_id LIMIT ")
            .push_bind(int(limit));
        let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|(id, sum)| {
                let id = TicketId::parse(&id).map_err(|_| {
                    StoreError::internal(format!("stored ticket id {id:?} is invalid"))
                })?;
                Ok((id, sum))
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn freeze_month(
        &self,
        month: Month,
        frozen_by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<FrozenMonth> {
        let mut tx: Transaction<'_, DB> = self.write_pool().begin_with(DB::BEGIN_WRITE).await?;
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

    #[tracing::instrument(level = "debug", skip_all)]
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
