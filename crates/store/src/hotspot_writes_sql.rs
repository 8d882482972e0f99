//! The writes of [`super::HotspotStore`], each inside the transaction of
//! one store call ([`HotspotTx`]): the change number first (see
//! [`super::hotspots`] for why), then the rows and the audit event.

use chrono::{DateTime, Utc};
use sqlx::{
    Connection, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Transaction, Type,
    pool::PoolConnection,
};

use super::{
    HotspotChange, HotspotEvent, HotspotSighting, StoreError, StoreResult,
    hotspot_rows::{EVENT_COLUMNS, HOTSPOT_COLUMNS, examples_json, hotspot_id},
    idempotency_sql::push_insert_keys,
    knowledge_rows::json_list,
    query::{Rows, Value, insert_one, int, opt_text, push_in, text},
    rows::micros,
    sql::Dialect,
};
use hotline_domain::{
    TicketId,
    hotspot::{HotspotEventKind, HotspotId, HotspotState, SupervisionItem},
    text_enum::TextEnum,
};

/// Who the detector's writes are audited as.
const DETECTOR: &str = "system:hotspots";

/// The detector's event of kind `kind` on `hotspot`.
fn detector_event(
    hotspot: HotspotId,
    kind: HotspotEventKind,
    note: String,
    s: &HotspotSighting,
) -> HotspotEvent {
    HotspotEvent {
        hotspot,
        kind,
        actor: DETECTOR.into(),
        actor_role: "system".into(),
        note: Some(note),
        time: s.now,
    }
}

/// A hotspot write in progress: one write transaction, its statements
/// as methods (the backend's bounds stated once, here).
pub(super) struct HotspotTx<'c, DB: Dialect> {
    tx: Transaction<'c, DB>,
}

impl<'c, DB> HotspotTx<'c, DB>
where
    DB: Dialect,
    for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    /// Opens the write transaction on `conn`.
    pub(super) async fn begin(conn: &'c mut PoolConnection<DB>) -> StoreResult<Self> {
        Ok(Self {
            tx: conn.begin_with(DB::BEGIN_WRITE).await?,
        })
    }

    /// The connection inside the transaction, for reads.
    pub(super) fn conn(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }

    /// Commits it.
    pub(super) async fn commit(self) -> StoreResult<()> {
        Ok(self.tx.commit().await?)
    }

    /// Rolls it back (nothing to change after all).
    pub(super) async fn rollback(self) -> StoreResult<()> {
        Ok(self.tx.rollback().await?)
    }

    /// Records what the idempotency key of a decision produced.
    pub(super) async fn record_key(&mut self, c: &HotspotChange) -> StoreResult<()> {
        let Some(key) = &c.key else { return Ok(()) };
        let mut qb = QueryBuilder::<DB>::new("");
        push_insert_keys(&mut qb, &[(key, c.id.name(), micros(c.now))], Rows::Always);
        qb.build().execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Takes the next change number inside `tx` (locking the cursor row).
    pub(super) async fn next_change(&mut self) -> StoreResult<i64> {
        let (seq,): (i64,) =
            sqlx::query_as("UPDATE hotspot_cursor SET seq = seq + 1 WHERE id = 1 RETURNING seq")
                .fetch_one(&mut *self.tx)
                .await?;
        Ok(seq)
    }

    /// Appends an audit event inside `tx`.
    pub(super) async fn insert_event(&mut self, event: &HotspotEvent) -> StoreResult<()> {
        let mut qb = insert_one::<DB>(
            "hotspot_events",
            EVENT_COLUMNS,
            [
                text(event.hotspot.to_string()),
                text(event.kind.code()),
                text(event.actor.as_str()),
                text(event.actor_role.as_str()),
                opt_text(event.note.as_deref()),
                int(micros(event.time)),
            ],
        );
        qb.build().execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Adds `tickets` to `hotspot` inside `tx`; with `skip_taken`, tickets
    /// another hotspot holds are left there (else they fail the write).
    /// Returns how many were added.
    async fn insert_members(
        &mut self,
        hotspot: HotspotId,
        tickets: &[(TicketId, DateTime<Utc>)],
        skip_taken: bool,
    ) -> StoreResult<usize> {
        let mut added = 0;
        for chunk in tickets.chunks(500) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO hotspot_tickets (ticket_id, hotspot_id, ticket_time_us) ",
            );
            qb.push_values(chunk, |mut row, (ticket, at)| {
                row.push_bind(text(ticket.to_string()))
                    .push_bind(text(hotspot.to_string()))
                    .push_bind(int(micros(*at)));
            });
            if skip_taken {
                qb.push(" ON CONFLICT (ticket_id) DO NOTHING");
            }
            qb.push(" RETURNING ticket_id");
            let rows: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *self.tx).await?;
            added += rows.len();
        }
        Ok(added)
    }

    /// The hotspot a sighting is already recorded as, if any: the one this
    /// replica recorded, else the one with its first ticket, else the one
    /// holding any of its tickets.
    pub(super) async fn resolve(&mut self, s: &HotspotSighting) -> StoreResult<Option<HotspotId>> {
        let mut qb = QueryBuilder::<DB>::new("SELECT id FROM hotspots WHERE ");
        match s.known {
            Some(known) => qb.push("id = ").push_bind(text(known.to_string())),
            None => qb
                .push("seed_ticket_id = ")
                .push_bind(text(s.seed_ticket.to_string())),
        };
        let mut found: Option<(String,)> =
            qb.build_query_as().fetch_optional(&mut *self.tx).await?;
        if found.is_none() && !s.tickets.is_empty() {
            let mut qb = QueryBuilder::<DB>::new("SELECT hotspot_id FROM hotspot_tickets WHERE ");
            push_in(
                &mut qb,
                "ticket_id",
                s.tickets.iter().map(|(t, _)| text(t.to_string())),
            );
            qb.push(" ORDER BY ticket_time_us, ticket_id LIMIT 1");
            found = qb.build_query_as().fetch_optional(&mut *self.tx).await?;
        }
        found.map(|(id,)| hotspot_id(&id)).transpose()
    }

    /// Inserts a new hotspot, its tickets and its `detected` event.
    pub(super) async fn create(&mut self, s: &HotspotSighting, seq: i64) -> StoreResult<()> {
        let heat = &s.heat;
        let item = SupervisionItem::opened(s.now);
        let mut qb = insert_one::<DB>(
            "hotspots",
            HOTSPOT_COLUMNS,
            [
                text(s.new_id.to_string()),
                text(s.seed_ticket.to_string()),
                text(HotspotState::Detected.code()),
                opt_text(None::<&str>),
                text(s.area.as_str()),
                text(s.district.as_str()),
                text(s.subject.as_str()),
                int(heat.count),
                int(heat.recent),
                int(heat.growth),
                int(heat.callers),
                int(micros(heat.first)),
                int(micros(heat.last)),
                text(json_list(&heat.areas)),
                text(json_list(&heat.top_words)),
                text(examples_json(heat)),
                int(micros(item.deadline)),
                Value::Int(None),
                opt_text(None::<&str>),
                opt_text(None::<&str>),
                int(micros(s.now)),
                int(micros(s.now)),
                int(seq),
                int(seq),
                Value::Int(None),
            ],
        );
        qb.build().execute(&mut *self.tx).await?;
        self.insert_members(s.new_id, &s.tickets, false).await?;
        let note = format!("{} tickets from {} callers", heat.count, heat.callers);
        self.insert_event(&detector_event(
            s.new_id,
            HotspotEventKind::Detected,
            note,
            s,
        ))
        .await
    }

    /// Adds what a sighting has that `id` lacks: tickets, and the heat if it
    /// is higher. Returns whether anything changed (then with a `grown` event).
    pub(super) async fn grow(
        &mut self,
        id: HotspotId,
        s: &HotspotSighting,
        seq: i64,
    ) -> StoreResult<bool> {
        let added = self.insert_members(id, &s.tickets, true).await?;
        let heat = &s.heat;
        let mut qb = QueryBuilder::<DB>::new("UPDATE hotspots SET ");
        let mut set = qb.separated(", ");
        for (column, value) in [
            ("heat_count", int(heat.count)),
            ("heat_recent", int(heat.recent)),
            ("heat_growth", int(heat.growth)),
            ("heat_callers", int(heat.callers)),
            ("last_ticket_time_us", int(micros(heat.last))),
            ("areas", text(json_list(&heat.areas))),
            ("top_words", text(json_list(&heat.top_words))),
        ] {
            set.push(format_args!("{column} = "))
                .push_bind_unseparated(value);
        }
        qb.push(" WHERE id = ")
            .push_bind(text(id.to_string()))
            .push(" AND heat_count < ")
            .push_bind(int(heat.count))
            .push(" RETURNING id");
        let hotter: Option<(String,)> = qb.build_query_as().fetch_optional(&mut *self.tx).await?;
        if added == 0 && hotter.is_none() {
            return Ok(false);
        }
        let mut qb = QueryBuilder::<DB>::new("UPDATE hotspots SET change_seq = ");
        qb.push_bind(int(seq))
            .push(", update_time_us = ")
            .push_bind(int(micros(s.now)))
            .push(" WHERE id = ")
            .push_bind(text(id.to_string()));
        qb.build().execute(&mut *self.tx).await?;
        let note = format!("+{added} tickets; {} in all", heat.count);
        self.insert_event(&detector_event(id, HotspotEventKind::Grown, note, s))
            .await?;
        Ok(true)
    }

    /// Applies the decision to the hotspot row inside `tx`; `false` when it is
    /// no longer in the expected state or at the expected change.
    pub(super) async fn apply_decision(
        &mut self,
        c: &HotspotChange,
        seq: i64,
    ) -> StoreResult<bool> {
        let d = &c.decision;
        let now = int(micros(c.now));
        let mut qb = QueryBuilder::<DB>::new("UPDATE hotspots SET state = ");
        qb.push_bind(text(d.state.code()))
            .push(", merged_into = ")
            .push_bind(opt_text(d.merged_into.map(|t| t.to_string())))
            .push(", note = COALESCE(")
            .push_bind(opt_text(d.note.as_deref()))
            .push(", note), response_time_us = COALESCE(response_time_us, ")
            .push_bind(now.clone())
            .push("), responder = COALESCE(responder, ")
            .push_bind(text(c.actor.as_str()))
            .push("), update_time_us = ")
            .push_bind(now)
            .push(", change_seq = ")
            .push_bind(int(seq))
            .push(" WHERE id = ")
            .push_bind(text(c.id.to_string()))
            .push(" AND state = ")
            .push_bind(text(c.expected_state.code()));
        if let Some(expected) = c.expected_change_seq {
            qb.push(" AND change_seq = ").push_bind(int(expected));
        }
        qb.push(" RETURNING id");
        let updated: Option<(String,)> = qb.build_query_as().fetch_optional(&mut *self.tx).await?;
        Ok(updated.is_some())
    }

    /// Marks `id`'s overdue alert as raised by change `seq` and records the
    /// `overdue` event inside `tx`; `false` (nothing written) when the item
    /// was answered or the alert raised meanwhile.
    pub(super) async fn mark_overdue_alert(
        &mut self,
        id: HotspotId,
        seq: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut qb = QueryBuilder::<DB>::new("UPDATE hotspots SET overdue_alert_seq = ");
        qb.push_bind(int(seq))
            .push(", change_seq = ")
            .push_bind(int(seq))
            .push(", update_time_us = ")
            .push_bind(int(micros(now)))
            .push(" WHERE id = ")
            .push_bind(text(id.to_string()))
            .push(" AND response_time_us IS NULL AND overdue_alert_seq IS NULL RETURNING id");
        let marked: Option<(String,)> = qb.build_query_as().fetch_optional(&mut *self.tx).await?;
        if marked.is_none() {
            return Ok(false);
        }
        self.insert_event(&HotspotEvent {
            hotspot: id,
            kind: HotspotEventKind::Overdue,
            actor: DETECTOR.into(),
            actor_role: "system".into(),
            note: Some("5 小时内未响应".into()),
            time: now,
        })
        .await?;
        Ok(true)
    }

    /// Folds `source` into `target` inside `tx`: the target must still be
    /// open; hotspots merged into the source follow it into the target.
    pub(super) async fn absorb(
        &mut self,
        c: &HotspotChange,
        target: HotspotId,
        seq: i64,
    ) -> StoreResult<()> {
        let mut qb = QueryBuilder::<DB>::new("UPDATE hotspots SET change_seq = ");
        qb.push_bind(int(seq))
            .push(", update_time_us = ")
            .push_bind(int(micros(c.now)))
            .push(" WHERE id = ")
            .push_bind(text(target.to_string()))
            .push(" AND ");
        push_in(
            &mut qb,
            "state",
            HotspotState::ALL
                .iter()
                .filter(|s| s.is_open())
                .map(|s| text(s.code())),
        );
        qb.push(" RETURNING id");
        let open: Option<(String,)> = qb.build_query_as().fetch_optional(&mut *self.tx).await?;
        if open.is_none() {
            return Err(StoreError::Conflict(format!(
                "{} is no longer open to merges",
                target.name()
            )));
        }
        let mut qb = QueryBuilder::<DB>::new("UPDATE hotspots SET merged_into = ");
        qb.push_bind(text(target.to_string()))
            .push(", change_seq = ")
            .push_bind(int(seq))
            .push(" WHERE merged_into = ")
            .push_bind(text(c.id.to_string()));
        qb.build().execute(&mut *self.tx).await?;
        self.insert_event(&HotspotEvent {
            hotspot: target,
            kind: HotspotEventKind::Absorbed,
            actor: c.actor.clone(),
            actor_role: c.actor_role.clone(),
            note: Some(c.id.name()),
            time: c.now,
        })
        .await
    }
}
