//! Tickets in SQL, generic over the backend like `sql.rs`: intake through
//! the group commit, transitions through `transitions_sql` (a
//! version-checked UPDATE plus the rows they add), and the reads.
//!
//! The ticket row is written from `ticket_columns::TICKET_COLUMNS` (INSERT and UPDATE
//! alike) and read back by column name, so its columns are listed once.
//! Events, idempotency records and counters are written by their own
//! modules' statements inside the same write.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use super::{
    CommitStream, IdempotencyKey, NewTicket, PiiAccess, StoreError, StoreResult, TicketChange,
    TicketQuery, TicketSketch, TicketStore,
    change_commit::ChangeWrite,
    events_sql::{EventRecord, list_events},
    group_commit::Intake,
    idempotency_sql,
    intake_sql::naive_write,
    lists_sql, privacy_sql,
    query::{Rows, Value, int, push_row, push_rows, text},
    rows::{EventRow, TicketRow, micros},
    sketches_sql::{self, SketchRow, TextRow},
    sql::{Dialect, SqlStore},
    ticket_columns::TICKET_COLUMN_LIST,
    transitions_sql::{Change, write_change, write_changes},
};
use hotline_domain::{
    TicketEvent, TicketId, Transition,
    duplicates::{TextSketch, rewrites_text},
    metrics::CounterDelta,
    ticket::Ticket,
};

pub(crate) static SELECT_TICKET: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM tickets WHERE id = $1", *TICKET_COLUMN_LIST));

static DUE_FOR_SWEEP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM tickets WHERE next_alert_us IS NOT NULL AND next_alert_us <= $1 \
         ORDER BY next_alert_us LIMIT $2",
        *TICKET_COLUMN_LIST
    )
});

/// A primary's merged duplicates, from the `tickets_merged_into` index.
pub(crate) static DUPLICATES_OF: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM tickets WHERE merged_into = $1 ORDER BY id",
        *TICKET_COLUMN_LIST
    )
});

/// The statement inserting tickets' co-handling units into the scope
/// table (at least one ticket must have one).
pub(super) fn push_insert_co_units<'t, DB>(
    qb: &mut QueryBuilder<DB>,
    tickets: impl IntoIterator<Item = &'t Ticket>,
    when: Rows,
) where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    qb.push("INSERT INTO ticket_co_units (ticket_id, unit_id, ticket_create_time_us) ");
    let pairs = tickets
        .into_iter()
        .flat_map(|t| t.co_units.iter().map(move |unit| (t, unit)));
    push_rows(qb, when, pairs, |row, (ticket, unit)| {
        push_row(
            row,
            [
                text(ticket.id.to_string()),
                text(unit.as_str()),
                int(micros(ticket.create_time)),
            ],
        );
    });
}

/// Whether the database refused a write, so that it certainly committed
/// nothing: a unique key taken (a retried idempotency key), a referenced
/// row missing, a lost write race. Any other failure (a connection lost
/// during the commit) leaves the outcome unknown.
fn refused(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::AlreadyExists(_) | StoreError::NotFound(_) | StoreError::Conflict(_)
    )
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    /// Numbers and seals a new ticket, has `write` commit it, and announces
    /// it: everything of intake but how the rows reach the database (the
    /// group commit, or the bench's naive baseline).
    async fn write_intake<F, Fut>(
        &self,
        new: NewTicket,
        key: Option<IdempotencyKey>,
        write: F,
    ) -> StoreResult<Ticket>
    where
        F: FnOnce(Intake) -> Fut,
        Fut: Future<Output = StoreResult<Intake>>,
    {
        let NewTicket {
            mut created,
            mut followups,
            counters,
            local_day,
        } = new;
        let day = local_day.format("%Y%m%d").to_string();
        let seq = self.numbers().next(self.write_pool(), &day).await?;
        let number = format!("{day}{seq:06}");
        created.assign_number(&number);
        for followup in &mut followups {
            followup.assign_number(&number);
        }
        let events: Vec<TicketEvent> = std::iter::once(created.event)
            .chain(followups.iter().map(|t| t.event.clone()))
            .collect();
        let ticket = followups
            .into_iter()
            .last()
            .map_or(created.ticket, |t| t.ticket);
        // Sealed here, in the caller's task, so the committers (one
        // statement for many intakes) do no cryptography. Nothing reached
        // the database yet, so a failure gives the number back.
        let ticket = match self.pii().seal(ticket) {
            Ok(ticket) => ticket,
            Err(e) => {
                self.numbers().give_back(&day, seq).await;
                return Err(e);
            }
        };
        let committed = write(Intake {
            ticket,
            events,
            key,
            counters,
        })
        .await;
        let intake = match committed {
            Ok(intake) => intake,
            Err(e) => {
                if refused(&e) {
                    self.numbers().give_back(&day, seq).await;
                }
                return Err(e);
            }
        };
        let events: Vec<&TicketEvent> = intake.events.iter().collect();
        self.announce(&events);
        Ok(intake.ticket.ticket)
    }
}

#[async_trait]
impl<DB> TicketStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (String, String, Option<String>): for<'r> FromRow<'r, DB::Row>,
    TicketRow: for<'r> FromRow<'r, DB::Row>,
    EventRow: for<'r> FromRow<'r, DB::Row>,
    SketchRow: for<'r> FromRow<'r, DB::Row>,
    TextRow: for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_ticket(
        &self,
        new: NewTicket,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<Ticket> {
        self.write_intake(new, key, |intake| self.intakes().commit(intake))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn bench_naive_create_ticket(
        &self,
        new: NewTicket,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<Ticket> {
        self.write_intake(new, key, |intake| async move {
            naive_write(self.write_pool(), self.telemetry(), &intake).await?;
            Ok(intake)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn subscribe_commits(&self) -> StoreResult<Option<CommitStream>> {
        // Attached before the subscription (the server does), or never.
        let reconnects = self
            .telemetry()
            .get()
            .map_or_else(metrics::Counter::noop, |t| t.listener_reconnects.clone());
        DB::listen_commits(self.pool(), reconnects).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_ticket(&self, id: TicketId) -> StoreResult<Ticket> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let row: Option<TicketRow> = sqlx::query_as(SELECT_TICKET.as_str())
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        row.ok_or_else(|| StoreError::NotFound(id.name()))?
            .open(self.pii())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn apply_transition(
        &self,
        expected_version: i64,
        transition: &Transition,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<()> {
        self.apply_transitions(expected_version, std::slice::from_ref(transition), &[], key)
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn apply_transitions(
        &self,
        expected_version: i64,
        transitions: &[Transition],
        counters: &[CounterDelta],
        key: Option<IdempotencyKey>,
    ) -> StoreResult<()> {
        let Some(last) = transitions.last() else {
            return Ok(());
        };
        let ticket = &last.ticket;
        // Every write seals the row anew under the current key, so a
        // ticket that changes leaves an old key behind on its own.
        let text_changed = transitions.iter().any(|t| rewrites_text(&t.event.kind));
        let stored = self.pii().seal_changed(ticket.clone(), text_changed)?;
        if let Some(changes) = self.changes() {
            // Owned copies: the change waits in the committer's queue.
            changes
                .commit(ChangeWrite {
                    expected_version,
                    transitions: transitions.to_vec(),
                    stored,
                    counters: counters.to_vec(),
                    key,
                })
                .await?;
        } else {
            let events = EventRecord::all(transitions.iter().map(|t| &t.event))?;
            let change = Change {
                expected_version,
                transitions,
                stored: &stored,
                events: &events,
                counters,
                key: key.as_ref(),
            };
            write_change(self.write_pool(), self.telemetry(), &change).await?;
        }
        let events: Vec<&TicketEvent> = transitions.iter().map(|t| &t.event).collect();
        self.announce(&events);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn apply_ticket_changes(
        &self,
        changes: &[TicketChange],
        key: Option<IdempotencyKey>,
    ) -> StoreResult<()> {
        let mut sealed = Vec::with_capacity(changes.len());
        for c in changes {
            let events = EventRecord::all(std::iter::once(&c.transition.event))?;
            let text_changed = rewrites_text(&c.transition.event.kind);
            let stored = self
                .pii()
                .seal_changed(c.transition.ticket.clone(), text_changed)?;
            sealed.push((stored, events));
        }
        let writes: Vec<Change<'_>> = changes
            .iter()
            .zip(&sealed)
            .enumerate()
            .map(|(i, (c, (stored, events)))| Change {
                expected_version: c.expected_version,
                transitions: std::slice::from_ref(&c.transition),
                stored,
                events,
                counters: &c.counters,
                key: key.as_ref().filter(|_| i == 0),
            })
            .collect();
        write_changes(self.write_pool(), self.telemetry(), &writes).await?;
        let events: Vec<&TicketEvent> = changes.iter().map(|c| &c.transition.event).collect();
        self.announce(&events);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn duplicates_of(&self, primary: TicketId) -> StoreResult<Vec<Ticket>> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<TicketRow> = sqlx::query_as(DUPLICATES_OF.as_str())
            .bind(primary.to_string())
            .fetch_all(&mut *conn)
            .await?;
        rows.into_iter().map(|r| r.open(self.pii())).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn events_of_tickets(&self, ids: &[TicketId]) -> StoreResult<Vec<TicketEvent>> {
        let mut events = Vec::new();
        for id in ids {
            events.extend(self.list_events(*id, 0, u32::MAX).await?);
        }
        Ok(events)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_tickets(&self, query: &TicketQuery) -> StoreResult<Vec<Ticket>> {
        lists_sql::list_tickets(self.pool(), self.pii(), query).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_ticket_sketches(&self, query: &TicketQuery) -> StoreResult<Vec<TicketSketch>> {
        sketches_sql::list_ticket_sketches(self.pool(), self.pii(), query).await
    }

    async fn text_sketch(&self, title: &str, description: &str) -> StoreResult<TextSketch> {
        self.pii().text_sketch(title, description)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_tickets(&self, ids: &[TicketId]) -> StoreResult<Vec<Ticket>> {
        sketches_sql::tickets_by_ids(self.pool(), self.pii(), ids).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn due_for_sweep(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Ticket>> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<TicketRow> = sqlx::query_as(DUE_FOR_SWEEP.as_str())
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
        rows.into_iter().map(|r| r.open(self.pii())).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_events(
        &self,
        id: TicketId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<TicketEvent>> {
        list_events(self.pool(), id, after, limit).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn find_idempotent(
        &self,
        subject: &str,
        request_id: &str,
    ) -> StoreResult<Option<super::IdempotentResult>> {
        idempotency_sql::find(self.pool(), subject, request_id).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn purge_idempotency_keys(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        idempotency_sql::purge(&mut *conn, micros(before), limit).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn record_pii_access(&self, access: &PiiAccess) -> StoreResult<()> {
        self.accesses().commit(access.clone()).await.map(drop)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn count_pii_access(&self, id: TicketId) -> StoreResult<i64> {
        privacy_sql::count_for_ticket(self.pool(), id).await
    }
}
