//! Hotspots in SQL, generic over the backend like `sql.rs`. Every write
//! takes the next change number first (see [`super::hotspots`] for why),
//! then writes its rows and audit event in the same transaction, and rolls
//! back when it found nothing to change.

use async_trait::async_trait;
use sqlx::{
    AssertSqlSafe, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Transaction, Type,
};

use super::{
    FeedPosition, HotspotChange, HotspotEvent, HotspotQuery, HotspotSighting, HotspotStore,
    Recorded, StoreError, StoreResult, TicketSighting,
    hotspot_reads_sql::{
        CreatedRow, SightingRow, fetch_hotspots, list_query, read_sightings, replay_start_statement,
    },
    hotspot_rows::{
        EVENT_COLUMNS, EventRow, HOTSPOT_COLUMNS, HotspotRow, MemberRow, examples_json, hotspot_id,
        not_found,
    },
    idempotency_sql::push_insert_keys,
    knowledge_rows::json_list,
    knowledge_sql::in_write,
    query::{Rows, Value, insert_one, int, opt_text, push_in, text},
    rows::micros,
    sql::{Dialect, SqlStore},
};
use hotline_domain::{
    TicketId,
    hotspot::{Hotspot, HotspotEventKind, HotspotId, HotspotState, SupervisionItem},
    text_enum::TextEnum,
};

/// Who the detector's writes are audited as.
const DETECTOR: &str = "system:hotspots";

/// Takes the next change number inside `tx` (locking the cursor row).
async fn next_change<DB>(tx: &mut Transaction<'_, DB>) -> StoreResult<i64>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let (seq,): (i64,) =
        sqlx::query_as("UPDATE hotspot_cursor SET seq = seq + 1 WHERE id = 1 RETURNING seq")
            .fetch_one(&mut **tx)
            .await?;
    Ok(seq)
}

/// Appends an audit event inside `tx`.
async fn insert_event<DB>(tx: &mut Transaction<'_, DB>, event: &HotspotEvent) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
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
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

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

/// Adds `tickets` to `hotspot` inside `tx`; with `skip_taken`, tickets
/// another hotspot holds are left there (else they fail the write).
/// Returns how many were added.
async fn insert_members<DB>(
    tx: &mut Transaction<'_, DB>,
    hotspot: HotspotId,
    tickets: &[(TicketId, chrono::DateTime<chrono::Utc>)],
    skip_taken: bool,
) -> StoreResult<usize>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
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
        let rows: Vec<(String,)> = qb.build_query_as().fetch_all(&mut **tx).await?;
        added += rows.len();
    }
    Ok(added)
}

/// The hotspot a sighting is already recorded as, if any: the one this
/// replica recorded, else the one with its first ticket, else the one
/// holding any of its tickets.
async fn resolve<DB>(
    tx: &mut Transaction<'_, DB>,
    s: &HotspotSighting,
) -> StoreResult<Option<HotspotId>>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    let mut qb = QueryBuilder::<DB>::new("SELECT id FROM hotspots WHERE ");
    match s.known {
        Some(known) => qb.push("id = ").push_bind(text(known.to_string())),
        None => qb
            .push("seed_ticket_id = ")
            .push_bind(text(s.seed_ticket.to_string())),
    };
    let mut found: Option<(String,)> = qb.build_query_as().fetch_optional(&mut **tx).await?;
    if found.is_none() && !s.tickets.is_empty() {
        let mut qb = QueryBuilder::<DB>::new("SELECT hotspot_id FROM hotspot_tickets WHERE ");
        push_in(
            &mut qb,
            "ticket_id",
            s.tickets.iter().map(|(t, _)| text(t.to_string())),
        );
        qb.push(" ORDER BY ticket_time_us, ticket_id LIMIT 1");
        found = qb.build_query_as().fetch_optional(&mut **tx).await?;
    }
    found.map(|(id,)| hotspot_id(&id)).transpose()
}

/// Inserts a new hotspot, its tickets and its `detected` event.
async fn create<DB>(tx: &mut Transaction<'_, DB>, s: &HotspotSighting, seq: i64) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
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
        ],
    );
    qb.build().execute(&mut **tx).await?;
    insert_members(tx, s.new_id, &s.tickets, false).await?;
    let note = format!("{} tickets from {} callers", heat.count, heat.callers);
    insert_event(
        tx,
        &detector_event(s.new_id, HotspotEventKind::Detected, note, s),
    )
    .await
}

/// Adds what a sighting has that `id` lacks: tickets, and the heat if it
/// is higher. Returns whether anything changed (then with a `grown` event).
async fn grow<DB>(
    tx: &mut Transaction<'_, DB>,
    id: HotspotId,
    s: &HotspotSighting,
    seq: i64,
) -> StoreResult<bool>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    let added = insert_members(tx, id, &s.tickets, true).await?;
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
    let hotter: Option<(String,)> = qb.build_query_as().fetch_optional(&mut **tx).await?;
    if added == 0 && hotter.is_none() {
        return Ok(false);
    }
    let mut qb = QueryBuilder::<DB>::new("UPDATE hotspots SET change_seq = ");
    qb.push_bind(int(seq))
        .push(", update_time_us = ")
        .push_bind(int(micros(s.now)))
        .push(" WHERE id = ")
        .push_bind(text(id.to_string()));
    qb.build().execute(&mut **tx).await?;
    let note = format!("+{added} tickets; {} in all", heat.count);
    insert_event(tx, &detector_event(id, HotspotEventKind::Grown, note, s)).await?;
    Ok(true)
}

/// Reads one hotspot with its tickets on `conn`.
async fn fetch_one<DB>(conn: &mut DB::Connection, id: HotspotId) -> StoreResult<Hotspot>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    HotspotRow: for<'r> FromRow<'r, DB::Row>,
    MemberRow: for<'r> FromRow<'r, DB::Row>,
{
    let mut qb = QueryBuilder::<DB>::new(format!(
        "SELECT {HOTSPOT_COLUMNS} FROM hotspots WHERE id = "
    ));
    qb.push_bind(text(id.to_string()));
    fetch_hotspots(conn, qb)
        .await?
        .pop()
        .ok_or_else(|| not_found(id))
}

/// Applies the decision to the hotspot row inside `tx`; `false` when it is
/// no longer in the expected state or at the expected change.
async fn apply_decision<DB>(
    tx: &mut Transaction<'_, DB>,
    c: &HotspotChange,
    seq: i64,
) -> StoreResult<bool>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
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
    let updated: Option<(String,)> = qb.build_query_as().fetch_optional(&mut **tx).await?;
    Ok(updated.is_some())
}

/// Folds `source` into `target` inside `tx`: the target must still be
/// open; hotspots merged into the source follow it into the target.
async fn absorb<DB>(
    tx: &mut Transaction<'_, DB>,
    c: &HotspotChange,
    target: HotspotId,
    seq: i64,
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
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
    let open: Option<(String,)> = qb.build_query_as().fetch_optional(&mut **tx).await?;
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
    qb.build().execute(&mut **tx).await?;
    insert_event(
        tx,
        &HotspotEvent {
            hotspot: target,
            kind: HotspotEventKind::Absorbed,
            actor: c.actor.clone(),
            actor_role: c.actor_role.clone(),
            note: Some(c.id.name()),
            time: c.now,
        },
    )
    .await
}

#[async_trait]
impl<DB> HotspotStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    HotspotRow: for<'r> FromRow<'r, DB::Row>,
    EventRow: for<'r> FromRow<'r, DB::Row>,
    SightingRow: for<'r> FromRow<'r, DB::Row>,
    CreatedRow: for<'r> FromRow<'r, DB::Row>,
    MemberRow: for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn replay_start(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<FeedPosition>> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let first: Option<(i64, i64)> =
            sqlx::query_as(AssertSqlSafe(replay_start_statement::<DB>()))
                .bind(micros(since))
                .fetch_optional(&mut *conn)
                .await?;
        // Just before it, so a read after the position returns it.
        Ok(first.map(|(xid, id)| FeedPosition { xid, id: id - 1 }))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn read_sightings(
        &self,
        after: FeedPosition,
        limit: u32,
    ) -> StoreResult<Vec<TicketSighting>> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        read_sightings::<DB>(&mut conn, self.pii(), after, limit).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn tickets_created_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
        cap: u32,
    ) -> StoreResult<i64> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (SELECT 1 AS one FROM tickets WHERE create_time_us > $1 \
             LIMIT $2) AS recent",
        )
        .bind(micros(after))
        .bind(i64::from(cap))
        .fetch_one(&mut *conn)
        .await?;
        Ok(n)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn record_hotspot(&self, s: &HotspotSighting) -> StoreResult<Recorded> {
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx = in_write(&mut conn).await?;
        let seq = next_change(&mut tx).await?;
        let recorded = match resolve(&mut tx, s).await? {
            None => {
                create(&mut tx, s, seq).await?;
                Recorded {
                    id: s.new_id,
                    created: true,
                    changed: true,
                    change_seq: Some(seq),
                }
            }
            Some(id) => {
                let changed = grow(&mut tx, id, s, seq).await?;
                Recorded {
                    id,
                    created: false,
                    changed,
                    change_seq: changed.then_some(seq),
                }
            }
        };
        if recorded.changed {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(recorded)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_hotspot(&self, id: HotspotId) -> StoreResult<Hotspot> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        fetch_one(&mut conn, id).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_hotspots(&self, query: &HotspotQuery) -> StoreResult<Vec<Hotspot>> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        fetch_hotspots(&mut conn, list_query(query)).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn change_hotspot(&self, c: &HotspotChange) -> StoreResult<Hotspot> {
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx = in_write(&mut conn).await?;
        let seq = next_change(&mut tx).await?;
        if !apply_decision(&mut tx, c, seq).await? {
            // Tell a lost race from a missing hotspot.
            fetch_one(&mut tx, c.id).await?;
            return Err(StoreError::Conflict(format!(
                "{} changed since it was read",
                c.id.name()
            )));
        }
        if let Some(target) = c.decision.merged_into {
            absorb(&mut tx, c, target, seq).await?;
        }
        insert_event(
            &mut tx,
            &HotspotEvent {
                hotspot: c.id,
                kind: c.decision.event,
                actor: c.actor.clone(),
                actor_role: c.actor_role.clone(),
                note: match c.decision.merged_into {
                    Some(target) => Some(target.name()),
                    None => c.decision.note.clone(),
                },
                time: c.now,
            },
        )
        .await?;
        if let Some(key) = &c.key {
            let mut qb = QueryBuilder::<DB>::new("");
            push_insert_keys(&mut qb, &[(key, c.id.name(), micros(c.now))], Rows::Always);
            qb.build().execute(&mut *tx).await?;
        }
        let hotspot = fetch_one(&mut tx, c.id).await?;
        tx.commit().await?;
        Ok(hotspot)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn hotspot_events(&self, id: HotspotId) -> StoreResult<Vec<HotspotEvent>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {EVENT_COLUMNS} FROM hotspot_events WHERE hotspot_id = "
        ));
        qb.push_bind(text(id.to_string())).push(" ORDER BY id");
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        rows.into_iter().map(HotspotEvent::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn hotspot_changes(
        &self,
        after_seq: i64,
        after_id: Option<HotspotId>,
        limit: u32,
    ) -> StoreResult<Vec<Hotspot>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {HOTSPOT_COLUMNS} FROM hotspots WHERE change_seq > "
        ));
        qb.push_bind(int(after_seq))
            .push(" OR (change_seq = ")
            .push_bind(int(after_seq))
            .push(" AND id > ")
            .push_bind(text(after_id.map(|id| id.to_string()).unwrap_or_default()))
            .push(") ORDER BY change_seq, id LIMIT ")
            .push_bind(int(limit));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        fetch_hotspots(&mut conn, qb).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn hotspot_head(&self) -> StoreResult<i64> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let (seq,): (i64,) = sqlx::query_as("SELECT seq FROM hotspot_cursor WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
        Ok(seq)
    }
}
