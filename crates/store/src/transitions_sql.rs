//! A ticket's change in SQL: the version-checked UPDATE of its row and the
//! rows that go with it (events, co-handling units, counters, the
//! idempotency record), all or nothing.
//!
//! Why one statement on PostgreSQL: a verb used to be `BEGIN`, the UPDATE,
//! one INSERT per table and `COMMIT` — six round trips, each costing more
//! than the row it carries (see [`super::batch`]). Fused, the UPDATE is the
//! first `WITH` clause, `w1`; every other clause inserts its rows only if
//! `w1` returned the row ([`Rows::IfFirstReturned`]), and the statement
//! returns that row. A lost race (the version moved on) thus returns
//! nothing and writes nothing, as the transaction's early return did.
//! SQLite, in-process, keeps the transaction: its round trips are calls;
//! there the changes waiting for the one write connection share a
//! transaction ([`super::change_commit`]).

use sqlx::{
    Connection, Database, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder,
    Transaction, Type,
};

use super::{
    IdempotencyKey, StoreError, StoreResult,
    article_uses_sql::{cites_any, push_insert_citations},
    batch::WriteBatch,
    events_sql::{EventRecord, push_insert_events},
    idempotency_sql::push_insert_keys,
    metrics_sql::{ShardBy, push_counter_changes},
    pii::StoredTicket,
    query::{Rows, Value, int, text},
    rows::micros,
    sql::{Dialect, execute_all},
    telemetry::TelemetryCell,
    ticket_columns::{TEXT_SKETCH, TICKET_COLUMNS},
    tickets_sql::push_insert_co_units,
};
use hotline_domain::{Transition, metrics::CounterDelta};

/// Updates every column but the id, if the stored version is still
/// `expected_version`: a concurrent change makes it touch no row (and
/// return none).
///
/// When the text did not change, the stored text sketch is kept — unless
/// the row was sealed under another data key than the one it is written
/// under now: then it is cleared (and computed on read until the text is
/// written again). The sketch is keyed from the index key, and the index
/// key is replaced together with a data key (docs/security.md); a row a
/// transition moves to the new data key is no longer re-sealed by the
/// rotation, so its old-keyed sketch would otherwise stay and never match
/// a sketch taken since.
fn push_update_ticket<DB>(qb: &mut QueryBuilder<DB>, stored: &StoredTicket, expected_version: i64)
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    qb.push("UPDATE tickets SET ");
    let mut sets = qb.separated(", ");
    let keep_sketch = stored.text_sketch.is_none();
    for (name, value) in TICKET_COLUMNS.iter().filter(|(name, _)| *name != "id") {
        if keep_sketch && *name == TEXT_SKETCH {
            // The right-hand side reads the row as it was before the UPDATE.
            sets.push(format_args!("{TEXT_SKETCH} = CASE WHEN pii_key_id = "));
            sets.push_bind_unseparated(text(stored.pii.key_id.as_str()));
            sets.push_unseparated(format_args!(" THEN {TEXT_SKETCH} END"));
            continue;
        }
        sets.push(format_args!("{name} = "));
        sets.push_bind_unseparated(value(stored));
    }
    qb.push(" WHERE id = ")
        .push_bind(text(stored.ticket.id.to_string()))
        .push(" AND version = ")
        .push_bind(int(expected_version))
        .push(" RETURNING version");
}

/// One change of a ticket, ready to write: the chain of transitions, the
/// final row sealed, the events encoded.
pub(super) struct Change<'a> {
    /// The version the change starts from.
    pub(super) expected_version: i64,
    /// The transitions, each from the previous one's ticket.
    pub(super) transitions: &'a [Transition],
    /// The final ticket as stored.
    pub(super) stored: &'a StoredTicket,
    /// Every transition's event.
    pub(super) events: &'a [EventRecord<'a>],
    /// Scorecard counter changes.
    pub(super) counters: &'a [CounterDelta],
    /// The request's idempotency key.
    pub(super) key: Option<&'a IdempotencyKey>,
}

impl Change<'_> {
    /// Whether the co-handling units are rewritten (deleted, and inserted
    /// again if any are left).
    fn rewrites_co_units(&self) -> bool {
        self.transitions.iter().any(|t| t.co_units_changed)
    }

    /// A statement cannot delete and insert the same key (its clauses do
    /// not see each other's rows), so a change that rewrites a non-empty
    /// set of co-handling units takes the transaction.
    fn fuses<DB: Dialect>(&self) -> bool {
        DB::FUSES_WRITES && (self.stored.ticket.co_units.is_empty() || !self.rewrites_co_units())
    }

    /// Everything but the ticket's UPDATE, each statement's rows
    /// written `when` says.
    fn rest<'b, DB>(
        &'b self,
        batch: &mut WriteBatch<'b, DB>,
        keys: &'b [(&'b IdempotencyKey, String, i64)],
        when: Rows,
    ) where
        DB: Database,
        for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    {
        let ticket = &self.stored.ticket;
        if self.rewrites_co_units() {
            batch.push(move |qb| {
                qb.push("DELETE FROM ticket_co_units WHERE ticket_id = ")
                    .push_bind(text(ticket.id.to_string()))
                    .push(when.and_condition());
            });
            if !ticket.co_units.is_empty() {
                batch.push(move |qb| push_insert_co_units(qb, [ticket], when));
            }
        }
        if !self.events.is_empty() {
            batch.push(move |qb| push_insert_events(qb, self.events, when));
        }
        if cites_any(self.events) {
            batch.push(move |qb| push_insert_citations(qb, self.events, when));
        }
        push_counter_changes(
            batch,
            self.counters.iter().map(|c| (ticket.id, c)),
            ShardBy::Ticket,
            when,
        );
        if !keys.is_empty() {
            batch.push(move |qb| push_insert_keys(qb, keys, when));
        }
    }

    /// The idempotency record the change writes: its key, the ticket it
    /// answers with and when (none without a key or a transition).
    fn idempotency_rows(&self) -> Vec<(&IdempotencyKey, String, i64)> {
        match (self.key, self.transitions.last()) {
            (Some(key), Some(last)) => {
                vec![(key, self.stored.ticket.id.name(), micros(last.event.time))]
            }
            _ => Vec::new(),
        }
    }

    /// Writes the change statement by statement inside `tx`: the ticket's
    /// version-checked UPDATE, then (only if it found the row) the rest
    /// with `keys`; [`StoreError::Conflict`] if the version moved on.
    async fn write_in<DB>(
        &self,
        tx: &mut Transaction<'_, DB>,
        keys: &[(&IdempotencyKey, String, i64)],
    ) -> StoreResult<()>
    where
        DB: Dialect,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        DB::Arguments: IntoArguments<DB>,
        for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
        (i64,): for<'r> FromRow<'r, DB::Row>,
    {
        let mut update = QueryBuilder::default();
        push_update_ticket(&mut update, self.stored, self.expected_version);
        let updated: Option<(i64,)> = update.build_query_as().fetch_optional(&mut **tx).await?;
        if updated.is_none() {
            return Err(self.conflict());
        }
        let mut rest = WriteBatch::default();
        self.rest(&mut rest, keys, Rows::Always);
        execute_all(tx, rest).await
    }

    /// The error of a change whose version moved on.
    fn conflict(&self) -> StoreError {
        StoreError::Conflict(format!(
            "{} changed since version {}",
            self.stored.ticket.id.name(),
            self.expected_version
        ))
    }
}

/// Commits a change atomically: one statement where the backend fuses
/// writes, else a transaction; [`StoreError::Conflict`] (nothing written)
/// if the stored version is no longer the expected one.
pub(super) async fn write_change<DB>(
    pool: &Pool<DB>,
    telemetry: &TelemetryCell,
    change: &Change<'_>,
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let keys = change.idempotency_rows();
    let mut conn = telemetry.acquire(pool).await?;
    if change.fuses::<DB>() {
        let mut batch = WriteBatch::default();
        batch.push(|qb| push_update_ticket(qb, change.stored, change.expected_version));
        change.rest(&mut batch, &keys, Rows::IfFirstReturned);
        batch.push(|qb| {
            qb.push("SELECT version FROM w1");
        });
        let Some(mut fused) = batch.fused() else {
            return Ok(());
        };
        let updated: Option<(i64,)> = fused.build_query_as().fetch_optional(&mut *conn).await?;
        return updated.map(|_| ()).ok_or_else(|| change.conflict());
    }
    let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
    change.write_in(&mut tx, &keys).await?;
    tx.commit().await?;
    Ok(())
}

/// Commits changes of several tickets (a merge of duplicates into a
/// primary, or its undoing; a batch of verbs on SQLite, see
/// [`super::change_commit`]) in one transaction, each version-checked:
/// [`StoreError::Conflict`] naming the ticket, and nothing written, if any
/// of them moved on. Each change writes its own idempotency record, if it
/// carries a key (a merge gives the key to its first change only).
/// Rows are updated in ticket id order whatever the order of `changes`, so
/// two merges over the same tickets lock them in the same order and one
/// waits for the other (then finds the version moved on) instead of both
/// deadlocking until PostgreSQL's detector aborts one a second later.
/// Never fused: the statements of several tickets' UPDATEs and their rows
/// do not fit one `WITH` (each later clause would need every UPDATE's
/// row), and merges are rare next to single-ticket verbs.
pub(super) async fn write_changes<DB>(
    pool: &Pool<DB>,
    telemetry: &TelemetryCell,
    changes: &[Change<'_>],
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let mut conn = telemetry.acquire(pool).await?;
    let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
    let mut order: Vec<usize> = (0..changes.len()).collect();
    order.sort_by_key(|i| changes.get(*i).map(|c| c.stored.ticket.id));
    for i in order {
        let Some(change) = changes.get(i) else {
            continue;
        };
        change.write_in(&mut tx, &change.idempotency_rows()).await?;
    }
    tx.commit().await?;
    Ok(())
}
