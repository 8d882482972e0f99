//! The outbox's statements: fan-out from the event log, claims, outcomes
//! and the delivery list (why they give exactly-once claims and per-ticket
//! order is in [`super::webhooks`]).

use std::{marker::PhantomData, sync::LazyLock};

use chrono::{DateTime, Utc};
use sqlx::{
    Connection, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Transaction, Type,
    pool::PoolConnection,
};

use super::{
    ClaimedDelivery, DeliveryOutcome, DeliveryQuery, DeliveryState, StoreError, StoreResult,
    WebhookDelivery,
    query::{Conditions, Value, int, opt_int, opt_text, push_row, text},
    rows::{micros, time},
    sql::Dialect,
    webhooks_sql::SubscriptionRow,
};
use hotline_domain::{TicketId, event::LEGACY_IMPORT_ACTOR};

/// Deliveries written per INSERT (13 bound values each, well inside
/// either backend's parameter limit).
const INSERT_CHUNK: usize = 500;

/// The columns of a delivery read.
const DELIVERY_COLUMNS: &str = "id, subscription_id, ticket_id, sequence, event_kind, state, \
     attempts, next_attempt_us, last_status, last_error, create_time_us, update_time_us";

/// A stored delivery.
#[derive(Debug, FromRow)]
pub(super) struct DeliveryRow {
    id: i64,
    subscription_id: String,
    ticket_id: String,
    sequence: i64,
    event_kind: String,
    state: String,
    attempts: i64,
    next_attempt_us: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    create_time_us: i64,
    update_time_us: i64,
}

impl TryFrom<DeliveryRow> for WebhookDelivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> StoreResult<Self> {
        Ok(Self {
            id: r.id,
            ticket_id: TicketId::parse(&r.ticket_id).map_err(|_| {
                StoreError::internal(format!(
                    "stored delivery ticket is invalid: {:?}",
                    r.ticket_id
                ))
            })?,
            state: DeliveryState::from_code(&r.state).ok_or_else(|| {
                StoreError::internal(format!("stored delivery state is invalid: {:?}", r.state))
            })?,
            subscription_id: r.subscription_id,
            sequence: r.sequence,
            event_kind: r.event_kind,
            attempts: r.attempts,
            next_attempt_time: time(r.next_attempt_us)?,
            last_status: r.last_status,
            last_error: r.last_error,
            create_time: time(r.create_time_us)?,
            update_time: time(r.update_time_us)?,
        })
    }
}

/// An event to fan out, with what the subscriptions' scopes look at.
#[derive(Debug, FromRow)]
pub(super) struct FanOutRow {
    feed_xid: i64,
    feed_id: i64,
    ticket_id: String,
    sequence: i64,
    kind: String,
    region_code: String,
    lead_unit_id: Option<String>,
    actor: String,
}

/// The committed events after `($1, $2)` in feed order, at most `$3`,
/// with their tickets' region and lead unit (as they are now) and their
/// actor (imported history is read past, not fanned out: the cursor must
/// move over it, so it is not filtered out in SQL).
fn fan_out_statement<DB: Dialect>() -> String {
    format!(
        "SELECT f.feed_xid, f.feed_id, f.ticket_id, f.sequence, f.kind, t.region_code, \
         t.lead_unit_id, f.actor FROM (SELECT {}, ticket_id, sequence, kind, actor \
         FROM ticket_events \
         WHERE {} LIMIT $3) f JOIN tickets t ON t.id = f.ticket_id \
         ORDER BY f.feed_xid, f.feed_id",
        DB::FEED_POSITION,
        DB::FEED_AFTER
    )
}

/// Claims due deliveries: `$1` now, `$2` the lease's end, `$3` the
/// claim's token, `$4` the limit. The `NOT EXISTS` keeps each ticket's
/// events in order per subscription. Only active subscriptions' deliveries
/// are claimed: deactivating one is how an admin stops a misbehaving or
/// compromised receiver, so its pending deliveries (retries and requested
/// redeliveries too) wait until it is active again.
fn claim_statement<DB: Dialect>() -> String {
    format!(
        "UPDATE webhook_deliveries SET lease_until_us = $2, claim_token = $3, \
         attempts = attempts + 1, update_time_us = $1 \
         WHERE id IN (SELECT d.id FROM webhook_deliveries d \
           WHERE d.state = 'pending' AND d.next_attempt_us <= $1 AND d.lease_until_us <= $1 \
           AND EXISTS (SELECT 1 FROM webhook_subscriptions s \
             WHERE s.id = d.subscription_id AND s.active) \
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
             WHERE e.subscription_id = d.subscription_id AND e.ticket_id = d.ticket_id \
             AND e.state = 'pending' AND e.sequence < d.sequence) \
           ORDER BY d.next_attempt_us, d.id LIMIT $4{}) \
         RETURNING {DELIVERY_COLUMNS}",
        DB::SKIP_LOCKED
    )
}

static SELECT_DELIVERY: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"));

/// The outbox's statements, for [`super::webhooks_sql`]: one block, so
/// the bounds a backend needs for them are written once.
pub(super) struct Outbox<DB>(PhantomData<DB>);

impl<DB> Outbox<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
    SubscriptionRow: for<'r> FromRow<'r, DB::Row>,
    DeliveryRow: for<'r> FromRow<'r, DB::Row>,
    FanOutRow: for<'r> FromRow<'r, DB::Row>,
{
    /// Locks the outbox cursor for the rest of `tx` and reads it.
    pub(super) async fn lock_cursor(tx: &mut Transaction<'_, DB>) -> StoreResult<(i64, i64)> {
        let cursor: (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT feed_xid, feed_id FROM webhook_cursor WHERE singleton = 1{}",
            DB::FOR_UPDATE
        )))
        .fetch_one(&mut **tx)
        .await?;
        Ok(cursor)
    }

    /// Whether any committed event is readable after the outbox cursor (a
    /// read, without the cursor's lock: a fan-out that finds one takes it).
    pub(super) async fn events_after_cursor(pool: &Pool<DB>) -> StoreResult<bool> {
        let cursor: (i64, i64) =
            sqlx::query_as("SELECT feed_xid, feed_id FROM webhook_cursor WHERE singleton = 1")
                .fetch_one(pool)
                .await?;
        let next: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM ticket_events WHERE {} LIMIT 1",
            DB::FEED_POSITION,
            DB::FEED_AFTER
        )))
        .bind(int(cursor.0))
        .bind(int(cursor.1))
        .fetch_optional(pool)
        .await?;
        Ok(next.is_some())
    }

    /// Whether any delivery is due and unleased at `now` (the claim's first
    /// conditions, read without locks).
    pub(super) async fn any_due(pool: &Pool<DB>, now: DateTime<Utc>) -> StoreResult<bool> {
        let due: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, attempts FROM webhook_deliveries WHERE state = 'pending' \
             AND next_attempt_us <= $1 AND lease_until_us <= $1 LIMIT 1",
        )
        .bind(int(micros(now)))
        .fetch_optional(pool)
        .await?;
        Ok(due.is_some())
    }

    /// See [`super::WebhookStore::fan_out_webhooks`].
    pub(super) async fn fan_out(
        conn: &mut PoolConnection<DB>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u32> {
        let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
        let cursor = Self::lock_cursor(&mut tx).await?;
        let subscriptions: Vec<SubscriptionRow> = sqlx::query_as(
            "SELECT id, url, secret, event_kinds, unit_id, region_prefix, pii_allowed, active, \
             description, creator, start_xid, start_id, create_time_us, update_time_us, version \
             FROM webhook_subscriptions WHERE active = $1",
        )
        .bind(Value::Bool(Some(true)))
        .fetch_all(&mut *tx)
        .await?;
        if subscriptions.is_empty() {
            // Nobody to deliver to: skip the log instead of reading it later
            // for subscriptions that start after it anyway.
            let head: (i64, i64) = sqlx::query_as(DB::FEED_HEAD).fetch_one(&mut *tx).await?;
            if head > cursor {
                Self::move_cursor(&mut tx, head).await?;
            }
            tx.commit().await?;
            return Ok(0);
        }
        let wanted = subscriptions
            .iter()
            .map(|s| Ok((s, s.spec()?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let events: Vec<FanOutRow> = sqlx::query_as(sqlx::AssertSqlSafe(fan_out_statement::<DB>()))
            .bind(int(cursor.0))
            .bind(int(cursor.1))
            .bind(int(limit))
            .fetch_all(&mut *tx)
            .await?;
        let Some(last) = events.last() else {
            tx.rollback().await?;
            return Ok(0);
        };
        let last = (last.feed_xid, last.feed_id);
        let mut rows: Vec<(&str, &FanOutRow)> = Vec::new();
        for event in events.iter().filter(|e| e.actor != LEGACY_IMPORT_ACTOR) {
            for (sub, spec) in &wanted {
                let after_start = (event.feed_xid, event.feed_id) > (sub.start_xid, sub.start_id);
                if after_start
                    && spec.wants(
                        &event.kind,
                        &event.region_code,
                        event.lead_unit_id.as_deref(),
                    )
                {
                    rows.push((sub.id.as_str(), event));
                }
            }
        }
        let now_us = micros(now);
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO webhook_deliveries (subscription_id, ticket_id, sequence, event_kind, \
                 state, attempts, next_attempt_us, lease_until_us, claim_token, last_status, \
                 last_error, create_time_us, update_time_us) ",
            );
            qb.push_values(chunk, |row, (sub, event)| {
                push_row(
                    row,
                    [
                        text(*sub),
                        text(event.ticket_id.as_str()),
                        int(event.sequence),
                        text(event.kind.as_str()),
                        text(DeliveryState::Pending.code()),
                        int(0),
                        int(now_us),
                        int(0),
                        opt_text(None::<&str>),
                        opt_int(None),
                        opt_text(None::<&str>),
                        int(now_us),
                        int(now_us),
                    ],
                );
            });
            qb.push(" ON CONFLICT (subscription_id, ticket_id, sequence) DO NOTHING");
            qb.build().execute(&mut *tx).await?;
        }
        Self::move_cursor(&mut tx, last).await?;
        tx.commit().await?;
        Ok(u32::try_from(events.len()).unwrap_or(u32::MAX))
    }

    async fn move_cursor(tx: &mut Transaction<'_, DB>, to: (i64, i64)) -> StoreResult<()> {
        sqlx::query("UPDATE webhook_cursor SET feed_xid = $1, feed_id = $2 WHERE singleton = 1")
            .bind(int(to.0))
            .bind(int(to.1))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// See [`super::WebhookStore::claim_webhook_deliveries`].
    pub(super) async fn claim(
        conn: &mut PoolConnection<DB>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let token = uuid::Uuid::now_v7().to_string();
        let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
        let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(claim_statement::<DB>()))
            .bind(int(micros(now)))
            .bind(int(micros(lease_until)))
            .bind(text(token.as_str()))
            .bind(int(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut claimed = rows
            .into_iter()
            .map(|r| {
                Ok(ClaimedDelivery {
                    delivery: WebhookDelivery::try_from(r)?,
                    token: token.clone(),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|c| (c.delivery.next_attempt_time, c.delivery.id));
        Ok(claimed)
    }

    /// See [`super::WebhookStore::finish_webhook_delivery`].
    pub(super) async fn finish(
        conn: &mut PoolConnection<DB>,
        claimed: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (state, next, status, error) = match outcome {
            DeliveryOutcome::Delivered { status } => {
                (DeliveryState::Delivered, now, Some(*status), None)
            }
            DeliveryOutcome::Retry {
                retry_at,
                status,
                error,
            } => (
                DeliveryState::Pending,
                *retry_at,
                *status,
                Some(error.as_str()),
            ),
            DeliveryOutcome::Dead { status, error } => {
                (DeliveryState::Dead, now, *status, Some(error.as_str()))
            }
        };
        let updated: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE webhook_deliveries SET state = $1, next_attempt_us = $2, lease_until_us = 0, \
             claim_token = NULL, last_status = $3, last_error = $4, update_time_us = $5 \
             WHERE id = $6 AND claim_token = $7 AND state = 'pending' RETURNING id, attempts",
        )
        .bind(text(state.code()))
        .bind(int(micros(next)))
        .bind(opt_int(status))
        .bind(opt_text(error))
        .bind(int(micros(now)))
        .bind(int(claimed.delivery.id))
        .bind(text(claimed.token.as_str()))
        .fetch_optional(&mut **conn)
        .await?;
        Ok(updated.is_some())
    }

    /// See [`super::WebhookStore::list_webhook_deliveries`].
    pub(super) async fn list(
        conn: &mut PoolConnection<DB>,
        q: &DeliveryQuery,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let mut qb =
            QueryBuilder::<DB>::new(format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries"));
        let mut w = Conditions::new(&mut qb);
        w.and()
            .push("subscription_id = ")
            .push_bind(text(q.subscription_id.as_str()));
        if let Some(state) = q.state {
            w.and().push("state = ").push_bind(text(state.code()));
        }
        if let Some(ticket) = q.ticket {
            w.and()
                .push("ticket_id = ")
                .push_bind(text(ticket.to_string()));
        }
        if let Some(before) = q.before_id {
            w.and().push("id < ").push_bind(int(before));
        }
        w.finish()
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(int(q.limit));
        let rows: Vec<DeliveryRow> = qb.build_query_as().fetch_all(&mut **conn).await?;
        rows.into_iter().map(WebhookDelivery::try_from).collect()
    }

    /// See [`super::WebhookStore::get_webhook_delivery`].
    pub(super) async fn get(
        conn: &mut PoolConnection<DB>,
        id: i64,
    ) -> StoreResult<WebhookDelivery> {
        let row: Option<DeliveryRow> = sqlx::query_as(SELECT_DELIVERY.as_str())
            .bind(int(id))
            .fetch_optional(&mut **conn)
            .await?;
        row.ok_or_else(|| StoreError::NotFound(format!("webhookDeliveries/{id}")))?
            .try_into()
    }

    /// See [`super::WebhookStore::redeliver_webhook_delivery`].
    pub(super) async fn redeliver(
        conn: &mut PoolConnection<DB>,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<WebhookDelivery> {
        let row: Option<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_us = $1, \
             lease_until_us = 0, claim_token = NULL, update_time_us = $1 \
             WHERE id = $2 AND state <> 'pending' RETURNING {DELIVERY_COLUMNS}"
        )))
        .bind(int(micros(now)))
        .bind(int(id))
        .fetch_optional(&mut **conn)
        .await?;
        match row {
            Some(row) => row.try_into(),
            None => {
                Self::get(conn, id).await?;
                Err(StoreError::Conflict(format!(
                    "webhookDeliveries/{id} is still pending"
                )))
            }
        }
    }

    /// See [`super::WebhookStore::purge_webhook_deliveries`].
    pub(super) async fn purge(
        conn: &mut PoolConnection<DB>,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u64> {
        let gone: Vec<(i64, i64)> = sqlx::query_as(
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
             WHERE state = 'delivered' AND update_time_us < $1 ORDER BY update_time_us LIMIT $2) \
             RETURNING id, attempts",
        )
        .bind(int(micros(before)))
        .bind(int(limit))
        .fetch_all(&mut **conn)
        .await?;
        Ok(u64::try_from(gone.len()).unwrap_or(u64::MAX))
    }
}
