//! Bulk loading for the scale benchmark (`hotline bench populate`):
//! millions of finished histories written in a fraction of the time
//! row-by-row inserts would take — with `COPY … FROM STDIN` on PostgreSQL,
//! with multi-row INSERTs in one transaction per batch on SQLite (it has no
//! COPY; a prepared multi-row INSERT is its fastest bulk path).
//!
//! Rows are encoded from the same column tables the store's INSERT and
//! UPDATE walk ([`TICKET_COLUMNS`], [`EVENT_COLUMNS`]): each column's name
//! and value come from one entry, so what lands is what the service would
//! have stored, column by column;
//! only the counters' ledger (`counter_entries`) is left out (see
//! [`BulkLoader::copy_counters`]).

use std::{
    collections::{BTreeMap, HashSet},
    fmt::Write as _,
    str::FromStr,
    time::Duration,
};

use chrono::NaiveDate;
use sqlx::{
    PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    StoreResult,
    events_sql::{EVENT_COLUMN_LIST, EVENT_COLUMNS, EventRecord},
    metrics_sql::day_text,
    pii::{PiiCodec, StoredTicket},
    query::{Column, Rows, Value, column_names, int, push_insert, push_row, text},
    rows::micros,
    ticket_columns::TICKET_COLUMNS,
};
use hotline_domain::{
    TicketEvent, UnitId,
    metrics::{Counter, Month},
    text_enum::TextEnum,
    ticket::Ticket,
};

/// Appends one row in PostgreSQL's COPY text format: tab-separated, `\N`
/// for NULL, backslash escapes for backslash, tab, newline and carriage
/// return (the characters the format gives a meaning).
pub(super) fn encode_row<'v>(values: impl IntoIterator<Item = Value<'v>>, out: &mut String) {
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        match value {
            Value::Text(None) | Value::Int(None) | Value::Bool(None) | Value::Bytes(None) => {
                out.push_str("\\N");
            }
            Value::Text(Some(s)) => escape_into(&s, out),
            Value::Int(Some(n)) => {
                let _ = write!(out, "{n}");
            }
            Value::Bool(Some(b)) => out.push(if b { 't' } else { 'f' }),
            // bytea's hex input form, its backslash escaped for COPY.
            Value::Bytes(Some(bytes)) => {
                out.push_str("\\\\x");
                for b in bytes.iter() {
                    let _ = write!(out, "{b:02x}");
                }
            }
        }
    }
    out.push('\n');
}

fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// The database being filled.
#[derive(Debug, Clone)]
pub struct BulkLoader {
    db: Target,
    /// Seals the tickets' caller data, as the store does.
    pii: PiiCodec,
}

#[derive(Debug, Clone)]
enum Target {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// The co-unit table and the columns the loader fills.
const CO_UNITS: &str = "ticket_co_units (ticket_id, unit_id, ticket_create_time_us)";

/// Values one SQLite statement may bind (`SQLITE_MAX_VARIABLE_NUMBER` of
/// SQLite 3.32 and later): a multi-row INSERT takes as many rows as fit.
const SQLITE_MAX_VARIABLES: usize = 32_766;

/// Rows of `columns` values that fit in one SQLite statement.
fn sqlite_rows_per_insert(columns: usize) -> usize {
    (SQLITE_MAX_VARIABLES / columns.max(1)).max(1)
}

impl BulkLoader {
    /// Connects with `connections` connections (one per loading worker;
    /// one on SQLite, which has one writer) and applies the migrations. A
    /// SQLite file is created if missing.
    pub async fn connect(url: &str, connections: u32, pii: PiiCodec) -> anyhow::Result<Self> {
        let db = if url.starts_with("sqlite:") {
            // The store's own settings (WAL, synchronous=FULL): the load
            // leaves the file as the server would have written it.
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            sqlx::migrate!("../../migrations/sqlite").run(&pool).await?;
            Target::Sqlite(pool)
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(connections.max(1))
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(PgConnectOptions::from_str(url)?)
                .await?;
            sqlx::migrate!("../../migrations/postgres")
                .run(&pool)
                .await?;
            Target::Postgres(pool)
        };
        Ok(Self { db, pii })
    }

    /// Tickets already stored.
    pub async fn ticket_count(&self) -> StoreResult<i64> {
        const COUNT: &str = "SELECT COUNT(*) FROM tickets";
        let (n,): (i64,) = match &self.db {
            Target::Postgres(pool) => sqlx::query_as(COUNT).fetch_one(pool).await?,
            Target::Sqlite(pool) => sqlx::query_as(COUNT).fetch_one(pool).await?,
        };
        Ok(n)
    }

    /// Writes finished tickets and their events in one transaction: a batch
    /// is there whole or not at all.
    pub async fn copy_histories(
        &self,
        tickets: &[Ticket],
        events: &[TicketEvent],
    ) -> StoreResult<()> {
        self.copy_counted_histories(tickets, events, Vec::new())
            .await
    }

    /// [`Self::copy_histories`] with the scorecard counters of those
    /// histories added to the per-unit-per-day totals in the same
    /// transaction (added to what is there: the database may be live), so
    /// a batch and its counters land together or not at all — what lets
    /// `hotline import legacy` resume after a crash without counting twice.
    pub async fn copy_counted_histories(
        &self,
        tickets: &[Ticket],
        events: &[TicketEvent],
        counters: Vec<CounterTotal>,
    ) -> StoreResult<()> {
        let counter_rows = counter_rows(counters);
        let stored = tickets
            .iter()
            .map(|t| self.pii.seal(t.clone()))
            .collect::<StoreResult<Vec<StoredTicket>>>()?;
        let records = EventRecord::all(events)?;
        // The co-unit pairs carry the ticket's creation time, so a unit's
        // co-handled list reads in page order off its own index.
        let co_units: Vec<[Value<'_>; 3]> = tickets
            .iter()
            .flat_map(|t| {
                t.co_units.iter().map(|unit| {
                    [
                        text(t.id.to_string()),
                        text(unit.as_str()),
                        int(micros(t.create_time)),
                    ]
                })
            })
            .collect();
        match &self.db {
            Target::Postgres(pool) => {
                let mut rows = String::with_capacity(tickets.len() * 2048);
                for s in &stored {
                    encode_row(TICKET_COLUMNS.iter().map(|(_, value)| value(s)), &mut rows);
                }
                let mut event_rows = String::with_capacity(events.len() * 256);
                for e in &records {
                    encode_row(
                        EVENT_COLUMNS.iter().map(|(_, value)| value(e)),
                        &mut event_rows,
                    );
                }
                let mut co_rows = String::new();
                for row in co_units {
                    encode_row(row, &mut co_rows);
                }
                let mut tx = pool.begin().await?;
                copy(
                    &mut tx,
                    &format!("tickets ({})", column_names(TICKET_COLUMNS)),
                    rows,
                )
                .await?;
                copy(
                    &mut tx,
                    &format!("ticket_events ({})", *EVENT_COLUMN_LIST),
                    event_rows,
                )
                .await?;
                copy(&mut tx, CO_UNITS, co_rows).await?;
                for (table, add, rows) in &counter_rows {
                    for chunk in rows.chunks(1000) {
                        let mut qb = QueryBuilder::<Postgres>::new(format!("INSERT INTO {table} "));
                        qb.push_values(chunk, |row, values| push_row(row, values.iter().cloned()));
                        qb.push(*add);
                        qb.build().execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
            }
            Target::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                insert_sqlite(&mut tx, "tickets", TICKET_COLUMNS, &stored).await?;
                insert_sqlite(&mut tx, "ticket_events", EVENT_COLUMNS, &records).await?;
                for chunk in co_units.chunks(sqlite_rows_per_insert(3)) {
                    let mut qb = QueryBuilder::<Sqlite>::new(format!("INSERT INTO {CO_UNITS} "));
                    qb.push_values(chunk, |row, values| push_row(row, values.iter().cloned()));
                    qb.build().execute(&mut *tx).await?;
                }
                for (table, add, rows) in &counter_rows {
                    for chunk in rows.chunks(sqlite_rows_per_insert(5)) {
                        let mut qb = QueryBuilder::<Sqlite>::new(format!("INSERT INTO {table} "));
                        qb.push_values(chunk, |row, values| push_row(row, values.iter().cloned()));
                        qb.push(*add);
                        qb.build().execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Which of `numbers` of the retired hotline `hotline` are already
    /// stored (`tickets.legacy_number`): the rows an import skips.
    pub async fn known_legacy_numbers(
        &self,
        hotline: &str,
        numbers: &[String],
    ) -> StoreResult<HashSet<String>> {
        let mut known = HashSet::new();
        // Well under SQLite's bound-variable limit per query.
        for chunk in numbers.chunks(5000) {
            let found: Vec<(String,)> = match &self.db {
                Target::Postgres(pool) => {
                    let mut qb = QueryBuilder::<Postgres>::new(LEGACY_KNOWN);
                    push_legacy_filter(&mut qb, hotline, chunk);
                    qb.build_query_as().fetch_all(pool).await?
                }
                Target::Sqlite(pool) => {
                    let mut qb = QueryBuilder::<Sqlite>::new(LEGACY_KNOWN);
                    push_legacy_filter(&mut qb, hotline, chunk);
                    qb.build_query_as().fetch_all(pool).await?
                }
            };
            known.extend(found.into_iter().map(|(n,)| n));
        }
        Ok(known)
    }

    /// Reserves `count` ticket numbers of `day` (`YYYYMMDD`) from the same
    /// daily counter live intake takes its blocks from, and returns the
    /// first sequence number: imported tickets never collide with live ones.
    pub async fn reserve_numbers(&self, day: &str, count: i64) -> StoreResult<i64> {
        const RESERVE: &str = "INSERT INTO daily_counters (day, last_seq) VALUES ($1, $2) \
            ON CONFLICT (day) DO UPDATE SET last_seq = daily_counters.last_seq + $2 \
            RETURNING last_seq";
        let (last,): (i64,) = match &self.db {
            Target::Postgres(pool) => {
                sqlx::query_as(RESERVE)
                    .bind(day)
                    .bind(count)
                    .fetch_one(pool)
                    .await?
            }
            Target::Sqlite(pool) => {
                sqlx::query_as(RESERVE)
                    .bind(day)
                    .bind(count)
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(last - count + 1)
    }

    /// Writes summed counters into the per-unit-per-day totals and their
    /// per-month sums (the centre as unit `''`, shard 0). The ledger rows behind them are not written:
    /// at ten rows per ticket they would outweigh the tickets, and only
    /// `ExplainMetric` reads them (it lists no tickets for loaded history).
    pub async fn copy_counters(
        &self,
        totals: impl IntoIterator<Item = (Option<UnitId>, NaiveDate, Counter, i64)>,
    ) -> StoreResult<u64> {
        let tables = counter_rows(totals);
        match &self.db {
            Target::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for (table, _, rows) in &tables {
                    let mut encoded = String::new();
                    for row in rows {
                        encode_row(row.iter().cloned(), &mut encoded);
                    }
                    copy(&mut tx, table, encoded).await?;
                }
                tx.commit().await?;
            }
            Target::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for (table, _, rows) in &tables {
                    for chunk in rows.chunks(sqlite_rows_per_insert(5)) {
                        let mut qb = QueryBuilder::<Sqlite>::new(format!("INSERT INTO {table} "));
                        qb.push_values(chunk, |row, values| push_row(row, values.iter().cloned()));
                        qb.build().execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(tables[0].2.len() as u64)
    }

    /// Sets each day's ticket-number counter to the last number used, so
    /// live intake continues after the loaded history without collisions.
    pub async fn set_daily_numbers(&self, days: &[(String, i64)]) -> StoreResult<()> {
        match &self.db {
            Target::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for (day, last) in days {
                    sqlx::query(
                        "INSERT INTO daily_counters (day, last_seq) VALUES ($1, $2) \
                         ON CONFLICT (day) DO UPDATE \
                         SET last_seq = GREATEST(daily_counters.last_seq, $2)",
                    )
                    .bind(day)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
            Target::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for (day, last) in days {
                    sqlx::query(
                        "INSERT INTO daily_counters (day, last_seq) VALUES (?1, ?2) \
                         ON CONFLICT (day) DO UPDATE \
                         SET last_seq = MAX(daily_counters.last_seq, ?2)",
                    )
                    .bind(day)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Refreshes the planner's statistics after the load; on PostgreSQL
    /// also sets the visibility map (VACUUM) and summarizes the event
    /// log's feed index over the loaded rows (autovacuum drops most of a
    /// bulk load's requests to).
    pub async fn analyze(&self) -> StoreResult<()> {
        match &self.db {
            Target::Postgres(pool) => {
                // VACUUM too: a bulk load leaves the visibility map unset,
                // so until autovacuum passes every index-only scan (the
                // open-ticket gauges' counts) reads the heap as well.
                sqlx::raw_sql("VACUUM (ANALYZE)").execute(pool).await?;
                if let Some(statement) = <sqlx::Postgres as crate::sql::Dialect>::SUMMARIZE_FEED {
                    sqlx::raw_sql(statement).execute(pool).await?;
                }
            }
            Target::Sqlite(pool) => {
                sqlx::raw_sql("ANALYZE").execute(pool).await?;
            }
        }
        Ok(())
    }
}

/// A (unit or centre, local day, counter, value) total.
pub type CounterTotal = (Option<UnitId>, NaiveDate, Counter, i64);

/// A counter table a load adds to: its name and columns (shard 0 for every
/// loaded row), how a row already there takes the loaded value, and the
/// rows.
type CounterTable = (&'static str, &'static str, Vec<[Value<'static>; 5]>);

/// The per-unit-per-day totals.
const DAY_COUNTERS: &str = "unit_day_counters (unit_id, day, counter, value, shard)";
const ADD_TO_DAY: &str = " ON CONFLICT (unit_id, day, counter, shard) \
    DO UPDATE SET value = unit_day_counters.value + excluded.value";

/// The per-unit-per-month totals, always the sum of the month's days (see
/// `metrics_sql::month_totals`).
const MONTH_COUNTERS: &str = "unit_month_counters (month, unit_id, counter, value, shard)";
const ADD_TO_MONTH: &str = " ON CONFLICT (month, unit_id, counter, shard) \
    DO UPDATE SET value = unit_month_counters.value + excluded.value";

const LEGACY_KNOWN: &str = "SELECT legacy_number FROM tickets WHERE legacy_hotline = ";

fn push_legacy_filter<DB>(qb: &mut QueryBuilder<DB>, hotline: &str, numbers: &[String])
where
    DB: sqlx::Database,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push_bind(hotline.to_owned());
    qb.push(" AND legacy_number IN (");
    let mut list = qb.separated(", ");
    for n in numbers {
        list.push_bind(n.clone());
    }
    list.push_unseparated(")");
}

/// Counter totals as rows of the day table and, summed by month, of the
/// month table; zeros left out.
fn counter_rows(totals: impl IntoIterator<Item = CounterTotal>) -> [CounterTable; 2] {
    let mut days = Vec::new();
    let mut months: BTreeMap<(Month, String, &'static str), i64> = BTreeMap::new();
    for (unit, day, counter, value) in totals {
        if value == 0 {
            continue;
        }
        let unit = unit.as_ref().map(UnitId::as_str).unwrap_or_default();
        *months
            .entry((Month::of(day), unit.to_owned(), counter.code()))
            .or_insert(0) += value;
        days.push([
            text(unit.to_owned()),
            day_text(day),
            text(counter.code()),
            int(value),
            int(0),
        ]);
    }
    let months = months
        .into_iter()
        .filter(|(_, value)| *value != 0)
        .map(|((month, unit, counter), value)| {
            [
                text(month.to_string()),
                text(unit),
                text(counter),
                int(value),
                int(0),
            ]
        })
        .collect();
    [
        (DAY_COUNTERS, ADD_TO_DAY, days),
        (MONTH_COUNTERS, ADD_TO_MONTH, months),
    ]
}

/// Multi-row INSERTs of `rows` into `table` on SQLite, in chunks.
async fn insert_sqlite<R>(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    table: &str,
    columns: &[Column<R>],
    rows: &[R],
) -> StoreResult<()> {
    for chunk in rows.chunks(sqlite_rows_per_insert(columns.len())) {
        let mut qb = QueryBuilder::<Sqlite>::new("");
        push_insert(&mut qb, table, columns, chunk, Rows::Always);
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn copy(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
    rows: String,
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = format!("COPY {table} FROM STDIN");
    let mut sink = tx.copy_in_raw(&statement).await?;
    if let Err(e) = sink.send(rows.into_bytes()).await {
        let _ = sink.abort(e.to_string()).await;
        return Err(e.into());
    }
    sink.finish().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_tab_separated_with_escapes_and_nulls() {
        let mut out = String::new();
        encode_row(
            [
                text("a\tb\\c\nd\re"),
                Value::Text(None),
                int(-42),
                Value::Int(None),
                Value::Bool(Some(true)),
                Value::Bool(Some(false)),
                Value::Bool(None),
                text("路灯不亮"),
            ],
            &mut out,
        );
        assert_eq!(
            out,
            "a\\tb\\\\c\\nd\\re\t\\N\t-42\t\\N\tt\tf\t\\N\t路灯不亮\n"
        );
    }

    #[test]
    fn a_backslash_n_in_text_is_not_a_null() {
        let mut out = String::new();
        encode_row([text("\\N")], &mut out);
        assert_eq!(out, "\\\\N\n");
    }
}
