//! Bulk loading into PostgreSQL with `COPY … FROM STDIN`, for the scale
//! benchmark (`hotline bench populate`): millions of finished histories are
//! written in a fraction of the time row-by-row inserts would take.
//!
//! Rows are encoded from the same column tables the store's INSERT and
//! UPDATE walk ([`TICKET_COLUMNS`], [`EVENT_COLUMNS`]): each column's name
//! and value come from one entry, so what lands is what the service would
//! have stored, column by column;
//! only the counters' ledger (`counter_entries`) is left out (see
//! [`BulkLoader::copy_counters`]).

use std::{fmt::Write as _, str::FromStr, time::Duration};

use chrono::NaiveDate;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    StoreResult,
    events_sql::{EVENT_COLUMN_LIST, EVENT_COLUMNS, EventRecord},
    metrics_sql::day_text,
    pii::PiiCodec,
    query::{Value, int, text},
    rows::micros,
    ticket_columns::{TICKET_COLUMN_LIST, TICKET_COLUMNS},
};
use hotline_domain::{TicketEvent, UnitId, metrics::Counter, text_enum::TextEnum, ticket::Ticket};

/// Appends one row in PostgreSQL's COPY text format: tab-separated, `\N`
/// for NULL, backslash escapes for backslash, tab, newline and carriage
/// return (the characters the format gives a meaning).
pub(super) fn encode_row<'v>(values: impl IntoIterator<Item = Value<'v>>, out: &mut String) {
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        match value {
            Value::Text(None) | Value::Int(None) | Value::Bool(None) => out.push_str("\\N"),
            Value::Text(Some(s)) => escape_into(&s, out),
            Value::Int(Some(n)) => {
                let _ = write!(out, "{n}");
            }
            Value::Bool(Some(b)) => out.push(if b { 't' } else { 'f' }),
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

/// A connection pool to the database being filled.
#[derive(Debug, Clone)]
pub struct BulkLoader {
    pool: PgPool,
    /// Seals the tickets' caller data, as the store does.
    pii: PiiCodec,
}

impl BulkLoader {
    /// Connects with `connections` connections (one per loading worker)
    /// and applies the migrations.
    pub async fn connect(url: &str, connections: u32, pii: PiiCodec) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(PgConnectOptions::from_str(url)?)
            .await?;
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await?;
        Ok(Self { pool, pii })
    }

    /// The pool, for the measurements that follow a load.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Tickets already stored.
    pub async fn ticket_count(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tickets")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Writes finished tickets and their events in one transaction: a batch
    /// is there whole or not at all.
    pub async fn copy_histories(
        &self,
        tickets: &[Ticket],
        events: &[TicketEvent],
    ) -> StoreResult<()> {
        let mut rows = String::with_capacity(tickets.len() * 2048);
        for t in tickets {
            let stored = self.pii.seal(t.clone())?;
            encode_row(
                TICKET_COLUMNS.iter().map(|(_, value)| value(&stored)),
                &mut rows,
            );
        }
        let mut event_rows = String::with_capacity(events.len() * 256);
        for e in EventRecord::all(events)? {
            encode_row(
                EVENT_COLUMNS.iter().map(|(_, value)| value(&e)),
                &mut event_rows,
            );
        }
        let mut co_rows = String::new();
        for t in tickets {
            for unit in &t.co_units {
                encode_row(
                    [
                        text(t.id.to_string()),
                        text(unit.as_str()),
                        int(micros(t.create_time)),
                    ],
                    &mut co_rows,
                );
            }
        }
        let mut tx = self.pool.begin().await?;
        copy(&mut tx, &format!("tickets ({})", *TICKET_COLUMN_LIST), rows).await?;
        copy(
            &mut tx,
            &format!("ticket_events ({})", *EVENT_COLUMN_LIST),
            event_rows,
        )
        .await?;
        copy(
            &mut tx,
            "ticket_co_units (ticket_id, unit_id, ticket_create_time_us)",
            co_rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes summed counters into the per-unit-per-day totals (the centre
    /// as unit `''`, shard 0). The ledger rows behind them are not written:
    /// at ten rows per ticket they would outweigh the tickets, and only
    /// `ExplainMetric` reads them (it lists no tickets for loaded history).
    pub async fn copy_counters(
        &self,
        totals: impl IntoIterator<Item = (Option<UnitId>, NaiveDate, Counter, i64)>,
    ) -> StoreResult<u64> {
        let mut rows = String::new();
        let mut n = 0;
        for (unit, day, counter, value) in totals {
            if value == 0 {
                continue;
            }
            let unit = unit.as_ref().map(UnitId::as_str).unwrap_or_default();
            let values = [
                text(unit),
                day_text(day),
                text(counter.code()),
                int(value),
                int(0),
            ];
            encode_row(values, &mut rows);
            n += 1;
        }
        let mut tx = self.pool.begin().await?;
        copy(
            &mut tx,
            "unit_day_counters (unit_id, day, counter, value, shard)",
            rows,
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Sets each day's ticket-number counter to the last number used, so
    /// live intake continues after the loaded history without collisions.
    pub async fn set_daily_numbers(&self, days: &[(String, i64)]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for (day, last) in days {
            sqlx::query(
                "INSERT INTO daily_counters (day, last_seq) VALUES ($1, $2) \
                 ON CONFLICT (day) DO UPDATE SET last_seq = GREATEST(daily_counters.last_seq, $2)",
            )
            .bind(day)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Refreshes the planner's statistics after the load.
    pub async fn analyze(&self) -> StoreResult<()> {
        sqlx::raw_sql("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }
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
