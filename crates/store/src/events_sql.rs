//! The audit trail in SQL: `ticket_events`, declared once like the tickets
//! (see [`super::ticket_columns`]) and written only inside a ticket's write.
//!
//! An event's payload is encoded by the domain, once, before the write
//! ([`EventRecord`]): encoding can fail, and a failure must stop the write
//! before any statement is built rather than inside one.

use std::sync::LazyLock;

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};

use super::{
    StoreError, StoreResult,
    query::{Column, Rows, Value, column_names, int, opt_text, push_insert, text},
    rows::{EventRow, micros},
};
use hotline_domain::{TicketEvent, TicketId, text_enum::TextEnum};

/// An event ready to write: the event and its payload's stored text.
#[derive(Debug)]
pub(super) struct EventRecord<'e> {
    event: &'e TicketEvent,
    payload: String,
}

impl<'e> EventRecord<'e> {
    /// Encodes the payload; an error names the event.
    pub(super) fn new(event: &'e TicketEvent) -> StoreResult<Self> {
        let payload = event.kind.payload().map_err(|err| {
            StoreError::internal_from(format!("event {}#{}", event.ticket_id, event.sequence), err)
        })?;
        Ok(Self {
            event,
            payload: payload.to_string(),
        })
    }

    /// The event.
    pub(super) fn event(&self) -> &'e TicketEvent {
        self.event
    }

    /// Records of `events`, in order.
    pub(super) fn all(events: impl IntoIterator<Item = &'e TicketEvent>) -> StoreResult<Vec<Self>> {
        events.into_iter().map(Self::new).collect()
    }
}

/// A column of `ticket_events`; higher-ranked over the record's lifetime
/// so the table is one constant for records of any write.
type EventColumn = (
    &'static str,
    for<'r, 'e> fn(&'r EventRecord<'e>) -> Value<'r>,
);

/// Every column of `ticket_events` and how an event fills it.
pub(super) const EVENT_COLUMNS: &[EventColumn] = &[
    ("ticket_id", |r| text(r.event.ticket_id.to_string())),
    ("sequence", |r| int(r.event.sequence)),
    ("kind", |r| text(r.event.kind.event_type())),
    ("actor", |r| text(&r.event.actor)),
    ("actor_role", |r| text(&r.event.actor_role)),
    ("from_state", |r| {
        opt_text(r.event.from_state.map(|s| s.code()))
    }),
    ("to_state", |r| text(r.event.to_state.code())),
    ("payload", |r| text(&r.payload)),
    ("time_us", |r| int(micros(r.event.time))),
];

/// The column names, comma-separated: the SELECT list of every event read.
pub(super) static EVENT_COLUMN_LIST: LazyLock<String> = LazyLock::new(|| {
    let columns: &[Column<EventRecord<'_>>] = EVENT_COLUMNS;
    column_names(columns)
});

/// A ticket's events after a sequence, oldest first (`$1` the ticket,
/// `$2` the sequence, `$3` the limit).
pub(crate) static SELECT_EVENTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM ticket_events WHERE ticket_id = $1 AND sequence > $2 \
         ORDER BY sequence LIMIT $3",
        *EVENT_COLUMN_LIST
    )
});

/// The statement inserting a write's events (one multi-row insert).
pub(super) fn push_insert_events<DB>(
    qb: &mut QueryBuilder<DB>,
    events: &[EventRecord<'_>],
    when: Rows,
) where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    push_insert(qb, "ticket_events", EVENT_COLUMNS, events, when);
}

/// A ticket's events with sequence greater than `after`, oldest first.
pub(super) async fn list_events<DB>(
    pool: &Pool<DB>,
    id: TicketId,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<TicketEvent>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    EventRow: for<'r> FromRow<'r, DB::Row>,
{
    let rows: Vec<EventRow> = sqlx::query_as(SELECT_EVENTS.as_str())
        .bind(id.to_string())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(TicketEvent::try_from).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_event_column_is_declared_once() {
        let names: HashSet<&str> = EVENT_COLUMNS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names.len(), EVENT_COLUMNS.len());
        assert_eq!(
            *EVENT_COLUMN_LIST,
            "ticket_id, sequence, kind, actor, actor_role, from_state, to_state, payload, time_us"
        );
    }
}
