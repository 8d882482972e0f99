//! The group commit's write in SQL: a batch of intakes (see
//! [`super::group_commit`]) as one write, each table in one multi-row
//! statement, fused into a single statement on PostgreSQL.
//!
//! Intake is the hottest write, so its statements are built once per
//! batch, each value bound straight from the ticket (text borrowed, not
//! copied into a list of values first).

use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};

use super::{
    StoreResult,
    batch::WriteBatch,
    events_sql::{EventRecord, push_insert_events},
    group_commit::{BatchWriter, Intake},
    idempotency_sql::{KeyRecord, push_insert_keys},
    metrics_sql::{ShardBy, push_counter_changes},
    query::{Value, push_insert},
    rows::micros,
    sql::{Dialect, PoolWriter, commit_batch},
    ticket_columns::TICKET_COLUMNS,
    tickets_sql::push_insert_co_units,
};

/// A batch of intakes as one write: each table in one multi-row statement,
/// counters in the shards of the group-commit `lane` that writes it.
fn intake_batch<'a, DB>(
    intakes: &'a [Intake],
    events: &'a [EventRecord<'a>],
    lane: u8,
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
    batch.push(move |qb| push_insert(qb, "tickets", TICKET_COLUMNS, tickets()));
    if tickets().any(|t| !t.ticket.co_units.is_empty()) {
        batch.push(move |qb| push_insert_co_units(qb, tickets().map(|t| &t.ticket)));
    }
    if !events.is_empty() {
        batch.push(move |qb| push_insert_events(qb, events));
    }
    if !keys.is_empty() {
        batch.push(move |qb| push_insert_keys(qb, &keys));
    }
    // Last, so the centre's per-day counter rows, which every intake
    // updates, stay locked for as short a time as possible.
    push_counter_changes(
        &mut batch,
        intakes
            .iter()
            .flat_map(|i| i.counters.iter().map(|c| (i.ticket.ticket.id, c))),
        ShardBy::Lane(lane),
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
            intake_batch(batch, &events, lane),
        )
        .await
    }
}
