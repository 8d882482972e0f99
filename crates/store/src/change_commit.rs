//! Ticket changes (the verbs: sign, reply, callback, dispatch, return,
//! extension, close …) through a group commit, where the backend does not
//! fuse a change into one statement.
//!
//! Why only there: on SQLite every change is a transaction of its own on
//! the one write connection, and with `synchronous=FULL` each commit is a
//! flush of the WAL, so 32 consoles acting at once waited for 32 flushes
//! in a row. Batched, the changes waiting during one commit share the
//! next: each is still version-checked and written whole with its events,
//! counters and idempotency record, and a batch any of whose changes is
//! refused (the version moved on, a key already used) is rolled back and
//! written again one change at a time, so that one's caller alone hears
//! of it ([`super::group_commit`]). PostgreSQL writes a change as one
//! statement on a connection of its own, and its WAL flushes already
//! serve every backend committing at the time; a batch there would only
//! serialise the statements on one connection.

use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{
    IdempotencyKey, StoreResult,
    events_sql::EventRecord,
    group_commit::BatchWriter,
    pii::StoredTicket,
    query::Value,
    sql::{Dialect, PoolWriter},
    transitions_sql::{Change, write_changes},
};
use hotline_domain::{Transition, metrics::CounterDelta};

/// Most changes in one transaction. As for intake with one committer
/// (`group_commit::MAX_BATCH_ONE_LANE`): no other batch runs beside it,
/// so a smaller bound would only split the changes waiting during a
/// commit into commits in a row.
pub(super) const CHANGE_BATCH: usize = 64;

/// One ticket's change, owned, waiting for its batch.
#[derive(Debug)]
pub(super) struct ChangeWrite {
    /// The version the change starts from.
    pub(super) expected_version: i64,
    /// The transitions, each from the previous one's ticket.
    pub(super) transitions: Vec<Transition>,
    /// The final ticket as stored.
    pub(super) stored: StoredTicket,
    /// Scorecard counter changes.
    pub(super) counters: Vec<CounterDelta>,
    /// The request's idempotency key.
    pub(super) key: Option<IdempotencyKey>,
}

#[async_trait]
impl<DB> BatchWriter<ChangeWrite> for PoolWriter<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    async fn write(&self, batch: &[ChangeWrite], _lane: u8) -> StoreResult<()> {
        let events = batch
            .iter()
            .map(|w| EventRecord::all(w.transitions.iter().map(|t| &t.event)))
            .collect::<StoreResult<Vec<_>>>()?;
        let changes: Vec<Change<'_>> = batch
            .iter()
            .zip(&events)
            .map(|(w, events)| Change {
                expected_version: w.expected_version,
                transitions: &w.transitions,
                stored: &w.stored,
                events,
                counters: &w.counters,
                key: w.key.as_ref(),
            })
            .collect();
        write_changes(&self.pool, &self.telemetry, &changes).await
    }
}
