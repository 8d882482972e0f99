//! [`WebhookStore`] in SQL: the subscriptions here, the outbox (fan-out,
//! claims, outcomes, deliveries) in [`super::webhook_outbox_sql`].
//!
//! A subscription's secret is sealed with the store's PII codec, like
//! caller data: a database dump or backup does not let anyone forge the
//! centre's signatures.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Connection, Encode, Executor, FromRow, IntoArguments, Transaction, Type};

use super::{
    ClaimedDelivery, DeliveryOutcome, DeliveryQuery, StoreError, StoreResult, WebhookDelivery,
    WebhookStore, WebhookSubscription, WebhookSubscriptionChange,
    query::{Value, flag, int, opt_text, text},
    rows::{micros, time},
    sql::{Dialect, SqlStore},
    webhook_outbox_sql::{DeliveryRow, FanOutRow, Outbox},
};
use hotline_domain::{UnitId, webhook::SubscriptionSpec};

/// The columns of a subscription read.
const SUBSCRIPTION_COLUMNS: &str = "id, url, secret, event_kinds, unit_id, region_prefix, \
     pii_allowed, active, description, creator, start_xid, start_id, create_time_us, \
     update_time_us, version";

/// A stored subscription.
#[derive(Debug, FromRow)]
pub(super) struct SubscriptionRow {
    pub(super) id: String,
    url: String,
    secret: String,
    pub(super) event_kinds: String,
    pub(super) unit_id: Option<String>,
    pub(super) region_prefix: Option<String>,
    pii_allowed: bool,
    active: bool,
    description: String,
    creator: String,
    pub(super) start_xid: i64,
    pub(super) start_id: i64,
    create_time_us: i64,
    update_time_us: i64,
    version: i64,
}

impl SubscriptionRow {
    /// What the subscription asks for (secret and bookkeeping aside).
    pub(super) fn spec(&self) -> StoreResult<SubscriptionSpec> {
        Ok(SubscriptionSpec {
            url: self.url.clone(),
            event_kinds: split_kinds(&self.event_kinds),
            unit: self
                .unit_id
                .as_deref()
                .map(|u| {
                    UnitId::parse(u).map_err(|_| {
                        StoreError::internal(format!("stored webhook unit is invalid: {u:?}"))
                    })
                })
                .transpose()?,
            region_prefix: self.region_prefix.clone(),
            pii_allowed: self.pii_allowed,
            active: self.active,
            description: self.description.clone(),
        })
    }

    fn open(self, store_pii: &super::pii::PiiCodec) -> StoreResult<WebhookSubscription> {
        Ok(WebhookSubscription {
            spec: self.spec()?,
            secret: store_pii.open_text(&secret_row(&self.id), "secret", &self.secret)?,
            id: self.id,
            creator: self.creator,
            create_time: time(self.create_time_us)?,
            update_time: time(self.update_time_us)?,
            version: self.version,
        })
    }
}

/// Event kinds are stored comma-separated (kinds are snake_case words).
fn split_kinds(joined: &str) -> Vec<String> {
    joined
        .split(',')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A subscription's columns from `url` to `description` as the INSERT and
/// the UPDATE both bind them, `secret` (sealed) second.
fn spec_values<'a>(spec: &'a SubscriptionSpec, secret: Value<'a>) -> [Value<'a>; 8] {
    [
        text(spec.url.as_str()),
        secret,
        text(spec.event_kinds.join(",")),
        opt_text(spec.unit.as_ref().map(|u| u.as_str())),
        opt_text(spec.region_prefix.as_deref()),
        flag(spec.pii_allowed),
        flag(spec.active),
        text(spec.description.as_str()),
    ]
}

/// The record name a secret is sealed under (never a ticket id, which is
/// a bare UUID).
fn secret_row(id: &str) -> String {
    format!("webhook-subscription-{id}")
}

#[async_trait]
impl<DB> WebhookStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c sqlx::Pool<DB>: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
    SubscriptionRow: for<'r> FromRow<'r, DB::Row>,
    DeliveryRow: for<'r> FromRow<'r, DB::Row>,
    FanOutRow: for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_webhook_subscription(&self, sub: &WebhookSubscription) -> StoreResult<()> {
        let sealed = self
            .pii()
            .seal_text(&secret_row(&sub.id), "secret", &sub.secret)?;
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
        // The cursor's lock orders this with the fan-outs: one running
        // now has read the subscriptions without this one, and this one
        // starts at a head that fan-out will not have passed unseen.
        Outbox::<DB>::lock_cursor(&mut tx).await?;
        let (start_xid, start_id): (i64, i64) =
            sqlx::query_as(DB::FEED_HEAD).fetch_one(&mut *tx).await?;
        let mut insert = sqlx::query(
            "INSERT INTO webhook_subscriptions (id, url, secret, event_kinds, unit_id, \
             region_prefix, pii_allowed, active, description, creator, start_xid, start_id, \
             create_time_us, update_time_us, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(text(sub.id.as_str()));
        for value in spec_values(&sub.spec, text(sealed)) {
            insert = insert.bind(value);
        }
        insert
            .bind(text(sub.creator.as_str()))
            .bind(int(start_xid))
            .bind(int(start_id))
            .bind(int(micros(sub.create_time)))
            .bind(int(micros(sub.update_time)))
            .bind(int(sub.version))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_webhook_subscription(&self, id: &str) -> StoreResult<WebhookSubscription> {
        let row: Option<SubscriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1"
        )))
        .bind(text(id))
        .fetch_optional(self.pool())
        .await?;
        row.ok_or_else(|| StoreError::NotFound(format!("webhookSubscriptions/{id}")))?
            .open(self.pii())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_webhook_subscriptions(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookSubscription>> {
        let rows: Vec<SubscriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id > $1 \
             ORDER BY id LIMIT $2"
        )))
        .bind(text(after.unwrap_or_default()))
        .bind(int(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(|r| r.open(self.pii())).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn update_webhook_subscription(
        &self,
        change: &WebhookSubscriptionChange,
    ) -> StoreResult<WebhookSubscription> {
        let sealed = change
            .secret
            .as_deref()
            .map(|s| self.pii().seal_text(&secret_row(&change.id), "secret", s))
            .transpose()?;
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
        // Ordered with fan-outs like a create (an activation matters to
        // them the same way).
        Outbox::<DB>::lock_cursor(&mut tx).await?;
        let mut update = sqlx::query_as(
            "UPDATE webhook_subscriptions SET url = $1, secret = COALESCE($2, secret), \
             event_kinds = $3, unit_id = $4, region_prefix = $5, pii_allowed = $6, active = $7, \
             description = $8, update_time_us = $9, version = version + 1 \
             WHERE id = $10 AND version = $11 RETURNING version, version",
        );
        for value in spec_values(&change.spec, opt_text(sealed)) {
            update = update.bind(value);
        }
        let updated: Option<(i64, i64)> = update
            .bind(int(micros(change.now)))
            .bind(text(change.id.as_str()))
            .bind(int(change.expected_version))
            .fetch_optional(&mut *tx)
            .await?;
        if updated.is_none() {
            let exists: Option<(i64, i64)> =
                sqlx::query_as("SELECT version, version FROM webhook_subscriptions WHERE id = $1")
                    .bind(text(change.id.as_str()))
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match exists {
                None => StoreError::NotFound(format!("webhookSubscriptions/{}", change.id)),
                Some(_) => StoreError::Conflict(format!(
                    "webhookSubscriptions/{} changed since version {}",
                    change.id, change.expected_version
                )),
            });
        }
        tx.commit().await?;
        self.get_webhook_subscription(&change.id).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_webhook_subscription(&self, id: &str) -> StoreResult<()> {
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
        // Deliveries first: the foreign key's cascade would do it, but
        // only where foreign keys are enforced.
        sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
            .bind(text(id))
            .execute(&mut *tx)
            .await?;
        let deleted: Option<(i64, i64)> = sqlx::query_as(
            "DELETE FROM webhook_subscriptions WHERE id = $1 RETURNING version, version",
        )
        .bind(text(id))
        .fetch_optional(&mut *tx)
        .await?;
        if deleted.is_none() {
            return Err(StoreError::NotFound(format!("webhookSubscriptions/{id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn fan_out_webhooks(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u32> {
        // Every replica polls often; a read first keeps an idle poll off
        // the write path (on SQLite, off its one writer).
        if !Outbox::<DB>::events_after_cursor(self.pool()).await? {
            return Ok(0);
        }
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        Outbox::<DB>::fan_out(&mut conn, now, limit).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        if !Outbox::<DB>::any_due(self.pool(), now).await? {
            return Ok(Vec::new());
        }
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        Outbox::<DB>::claim(&mut conn, now, lease_until, limit).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn finish_webhook_delivery(
        &self,
        claimed: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        Outbox::<DB>::finish(&mut conn, claimed, outcome, now).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_webhook_deliveries(
        &self,
        query: &DeliveryQuery,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        Outbox::<DB>::list(&mut conn, query).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_webhook_delivery(&self, id: i64) -> StoreResult<WebhookDelivery> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        Outbox::<DB>::get(&mut conn, id).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn purge_webhook_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u64> {
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        Outbox::<DB>::purge(&mut conn, before, limit).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn reseal_webhook_secrets(&self) -> StoreResult<u64> {
        let current = format!(
            "pii1:{}:",
            self.pii()
                .current_key_id()
                .ok_or_else(|| StoreError::internal(
                    "re-sealing webhook secrets needs the PII keys"
                ))?
        );
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
        let rows: Vec<SubscriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions"
        )))
        .fetch_all(&mut *tx)
        .await?;
        let mut resealed = 0;
        for row in rows.iter().filter(|r| !r.secret.starts_with(&current)) {
            let name = secret_row(&row.id);
            let clear = self.pii().open_text(&name, "secret", &row.secret)?;
            let sealed = self.pii().seal_text(&name, "secret", &clear)?;
            sqlx::query("UPDATE webhook_subscriptions SET secret = $1 WHERE id = $2")
                .bind(text(sealed))
                .bind(text(row.id.as_str()))
                .execute(&mut *tx)
                .await?;
            resealed += 1;
        }
        tx.commit().await?;
        Ok(resealed)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn redeliver_webhook_delivery(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<WebhookDelivery> {
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        Outbox::<DB>::redeliver(&mut conn, id, now).await
    }
}
