//! The group commit's write in SQL: a batch of intakes (see
//! [`super::group_commit`]) as one write, each table in one multi-row
//! statement, fused into a single statement on PostgreSQL.
//!
//! Intake is the hottest write, so its statements are built once per
//! batch, each value bound straight from the ticket (text borrowed, not
//! copied into a list of values first).

use async_trait::async_trait;
use sqlx::{Connection, Database, Encode, Executor, IntoArguments, Pool, Transaction, Type};

use super::{
    StoreResult,
    article_uses_sql::{cites_any, push_insert_citations},
    batch::WriteBatch,
    events_sql::{EventRecord, push_insert_events},
    group_commit::{BatchWriter, Intake},
    idempotency_sql::{KeyRecord, push_insert_keys},
    metrics_sql::{ShardBy, push_counter_changes},
    query::{Rows, Value, push_insert},
    rows::micros,
    sql::{Dialect, PoolWriter, commit_batch, execute_all},
    telemetry::TelemetryCell,
    ticket_columns::TICKET_COLUMNS,
    tickets_sql::push_insert_co_units,
};

/// A batch of intakes as one write: each table in one multi-row statement,
/// counters in the shards `shard_by` names (the group-commit lane that
/// writes the batch).
fn intake_batch<'a, DB>(
    intakes: &'a [Intake],
    events: &'a [EventRecord<'a>],
    shard_by: ShardBy,
) -> WriteBatch<'a, DB>
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let keys: Vec<KeyRecord<'_>> = intakes
        .iter()
        .filter_map(|i| {
            let key = i.key.as_ref()?;
            let t = &i.ticket.ticket;
            Some((key, t.id.name(), micros(t.create_time)))
        })
        .collect();
    let tickets = move || intakes.iter().map(|i| &i.ticket);
    let mut batch = WriteBatch::default();
    batch.push(move |qb| push_insert(qb, "tickets", TICKET_COLUMNS, tickets(), Rows::Always));
    if tickets().any(|t| !t.ticket.co_units.is_empty()) {
        batch.push(move |qb| push_insert_co_units(qb, tickets().map(|t| &t.ticket), Rows::Always));
    }
    if !events.is_empty() {
        batch.push(move |qb| push_insert_events(qb, events, Rows::Always));
    }
    if cites_any(events) {
        batch.push(move |qb| push_insert_citations(qb, events, Rows::Always));
    }
    if !keys.is_empty() {
        batch.push(move |qb| push_insert_keys(qb, &keys, Rows::Always));
    }
    // Last, so the centre's per-day counter rows, which every intake
    // updates, stay locked for as short a time as possible.
    push_counter_changes(
        &mut batch,
        intakes
            .iter()
            .flat_map(|i| i.counters.iter().map(|c| (i.ticket.ticket.id, c))),
        shard_by,
        Rows::Always,
    );
    batch
}

#[async_trait]
impl<DB> BatchWriter<Intake> for PoolWriter<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    async fn write(&self, batch: &[Intake], lane: u8) -> StoreResult<()> {
        let events = EventRecord::all(batch.iter().flat_map(|i| &i.events))?;
        commit_batch(
            &self.pool,
            &self.telemetry,
            intake_batch(batch, &events, ShardBy::Lane(lane)),
        )
        .await
    }
}

/// Bench only: one intake written the way a straightforward service
/// would, for `hotline bench intake`'s naive baseline — the same rows as
/// [`intake_batch`] builds (so no column list of its own), but in a
/// transaction of its own, one statement per table, counters sharded by
/// ticket as a lone write's are.
pub(super) async fn naive_write<DB>(
    pool: &Pool<DB>,
    telemetry: &TelemetryCell,
    intake: &Intake,
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let events = EventRecord::all(&intake.events)?;
    let batch = intake_batch(std::slice::from_ref(intake), &events, ShardBy::Ticket);
    let mut conn = telemetry.acquire(pool).await?;
    let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
    execute_all(&mut tx, batch).await?;
    tx.commit().await?;
    Ok(())
}
