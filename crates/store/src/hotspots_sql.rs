//! Hotspots in SQL, generic over the backend like `sql.rs`: the store
//! calls; the reads are in `hotspot_reads_sql`, the writes (each in one
//! transaction that takes the next change number first, see
//! [`super::hotspots`]) in `hotspot_writes_sql`.

use async_trait::async_trait;
use sqlx::{
    AssertSqlSafe, Connection, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type,
};

use super::{
    FeedPosition, HotspotChange, HotspotEvent, HotspotQuery, HotspotSighting, HotspotStore,
    Recorded, StoreError, StoreResult, TicketSighting,
    hotspot_reads_sql::{
        CreatedRow, HotspotReads, SightingRow, list_query, read_sightings, replay_start_statement,
    },
    hotspot_rows::{EVENT_COLUMNS, EventRow, HOTSPOT_COLUMNS, HotspotRow, MemberRow},
    hotspot_writes_sql::HotspotTx,
    query::{Value, int, text},
    rows::micros,
    sql::{Dialect, SqlStore},
};
use hotline_domain::hotspot::{Hotspot, HotspotId};

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
        let mut tx = HotspotTx::begin(&mut conn).await?;
        let seq = tx.next_change().await?;
        let recorded = match tx.resolve(s).await? {
            None => {
                tx.create(s, seq).await?;
                Recorded {
                    id: s.new_id,
                    created: true,
                    changed: true,
                    change_seq: Some(seq),
                }
            }
            Some(id) => {
                let changed = tx.grow(id, s, seq).await?;
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
        let mut tx = conn.begin_with(DB::BEGIN_SNAPSHOT).await?;
        let hotspot = HotspotReads::on(&mut tx).one(id).await;
        tx.rollback().await?;
        hotspot
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_hotspots(&self, query: &HotspotQuery) -> StoreResult<Vec<Hotspot>> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let mut tx = conn.begin_with(DB::BEGIN_SNAPSHOT).await?;
        let hotspots = HotspotReads::on(&mut tx).select(list_query(query)).await;
        tx.rollback().await?;
        hotspots
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn change_hotspot(&self, c: &HotspotChange) -> StoreResult<Hotspot> {
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx = HotspotTx::begin(&mut conn).await?;
        let seq = tx.next_change().await?;
        if !tx.apply_decision(c, seq).await? {
            // Tell a lost race from a missing hotspot.
            HotspotReads::on(tx.conn()).one(c.id).await?;
            return Err(StoreError::Conflict(format!(
                "{} changed since it was read",
                c.id.name()
            )));
        }
        if let Some(target) = c.decision.merged_into {
            tx.absorb(c, target, seq).await?;
        }
        tx.insert_event(&HotspotEvent {
            hotspot: c.id,
            kind: c.decision.event,
            actor: c.actor.clone(),
            actor_role: c.actor_role.clone(),
            note: match c.decision.merged_into {
                Some(target) => Some(target.name()),
                None => c.decision.note.clone(),
            },
            time: c.now,
        })
        .await?;
        tx.record_key(c).await?;
        let hotspot = HotspotReads::on(tx.conn()).one(c.id).await?;
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
        let mut tx = conn.begin_with(DB::BEGIN_SNAPSHOT).await?;
        let changes = HotspotReads::on(&mut tx).select(qb).await;
        tx.rollback().await?;
        changes
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn raise_overdue_alerts(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Hotspot>> {
        let mut qb = QueryBuilder::<DB>::new(
            "SELECT id FROM hotspots WHERE response_time_us IS NULL AND response_deadline_us < ",
        );
        qb.push_bind(int(micros(now)))
            .push(" AND overdue_alert_seq IS NULL ORDER BY response_deadline_us, id LIMIT ")
            .push_bind(int(limit));
        let due: Vec<(String,)> = {
            let mut conn = self.telemetry().acquire(self.pool()).await?;
            qb.build_query_as().fetch_all(&mut *conn).await?
        };
        let mut raised = Vec::new();
        for (id,) in due {
            let id = super::hotspot_rows::hotspot_id(&id)?;
            let mut conn = self.telemetry().acquire(self.write_pool()).await?;
            let mut tx = HotspotTx::begin(&mut conn).await?;
            let seq = tx.next_change().await?;
            if !tx.mark_overdue_alert(id, seq, now).await? {
                tx.rollback().await?;
                continue;
            }
            let hotspot = HotspotReads::on(tx.conn()).one(id).await?;
            tx.commit().await?;
            raised.push(hotspot);
        }
        Ok(raised)
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
