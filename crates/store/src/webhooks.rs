//! Webhook subscriptions and the deliveries of the transactional outbox.
//!
//! **The outbox is the event log.** Every ticket write already appends its
//! audit events to `ticket_events` in the write's own transaction (see
//! `events_sql`), so an event row *is* the outbox row committed with the
//! change: nothing else needs to be written on the request path, and no
//! write can commit without its event or vice versa. What remains is to
//! follow the log: [`WebhookStore::fan_out_webhooks`] reads the committed
//! events after a cursor stored in the database, in the feed's gap-safe
//! commit order ([`crate::FeedStore`]), and writes one delivery row per
//! event and matching subscription, moving the cursor in the same
//! transaction. The cursor row is locked while it moves (one writer on
//! SQLite, `FOR UPDATE` on PostgreSQL), so replicas fan out in turn and
//! each event yields each delivery once (the unique key makes even a
//! repeat harmless).
//!
//! **Claiming.** A delivery is claimed by one worker at a time
//! ([`WebhookStore::claim_webhook_deliveries`]): on PostgreSQL `FOR UPDATE
//! SKIP LOCKED`, so replicas claiming together take disjoint rows without
//! waiting; on SQLite, one writer, so the claim alone decides. The claim
//! sets a lease and a token and commits before the HTTP request; the
//! outcome is recorded only under the same token
//! ([`WebhookStore::finish_webhook_delivery`]), so a worker whose lease ran
//! out (it hung, or its process died) cannot overwrite the next claimer's
//! outcome. A crash after the claim leaves the row to be claimed again
//! when the lease ends: delivery is at least once, and receivers dedupe by
//! the event id.
//!
//! **Order per ticket.** A delivery is claimable only when no earlier event
//! of the same ticket for the same subscription is still pending: a
//! ticket's events arrive in order, each after its predecessor was
//! delivered or dead-lettered.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use hotline_domain::{TicketId, webhook::SubscriptionSpec};

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSubscription {
    /// Its id (a UUID).
    pub id: String,
    /// What it asks for.
    pub spec: SubscriptionSpec,
    /// The signing secret, in clear here; sealed at rest with the PII keys.
    pub secret: String,
    /// Who registered it.
    pub creator: String,
    /// When.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Bumped by every change: the etag.
    pub version: i64,
}

/// A change to a subscription: the whole new spec, and a new secret if it
/// is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSubscriptionChange {
    /// The subscription.
    pub id: String,
    /// The version the change was made against.
    pub expected_version: i64,
    /// The new spec.
    pub spec: SubscriptionSpec,
    /// The new secret, if rotated.
    pub secret: Option<String>,
    /// When.
    pub now: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its (next) attempt, or in flight.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the last attempt (dead letter); redeliverable.
    Dead,
}

impl DeliveryState {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// The state of a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// One event to send to one subscription, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Its id.
    pub id: i64,
    /// The subscription.
    pub subscription_id: String,
    /// The ticket.
    pub ticket_id: TicketId,
    /// The event's sequence in the ticket's trail.
    pub sequence: i64,
    /// The event kind.
    pub event_kind: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts started (a claim counts, even if its worker died).
    pub attempts: i64,
    /// When the next attempt is due (pending).
    pub next_attempt_time: DateTime<Utc>,
    /// The last response's HTTP status, if there was a response.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was made.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

/// A delivery claimed by a worker: send it, then report the outcome with
/// the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// The delivery as claimed (attempts already counts this one).
    pub delivery: WebhookDelivery,
    /// The claim's token: the outcome is recorded only under it.
    pub token: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// 2xx.
    Delivered {
        /// The status.
        status: i64,
    },
    /// Failed; try again at `retry_at`.
    Retry {
        /// When.
        retry_at: DateTime<Utc>,
        /// The status, if the receiver answered.
        status: Option<i64>,
        /// What went wrong.
        error: String,
    },
    /// Failed for the last time: dead letter.
    Dead {
        /// The status, if the receiver answered.
        status: Option<i64>,
        /// What went wrong.
        error: String,
    },
}

/// Filters of a delivery list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// The subscription.
    pub subscription_id: String,
    /// Only deliveries in this state.
    pub state: Option<DeliveryState>,
    /// Only deliveries of this ticket.
    pub ticket: Option<TicketId>,
    /// Continue after (below) this id.
    pub before_id: Option<i64>,
    /// Maximum rows.
    pub limit: u32,
}

/// Subscriptions, the outbox's cursor and the deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync + std::fmt::Debug {
    /// Stores a new subscription (`AlreadyExists` if the id is taken). It
    /// receives the events committed after it, not the log before.
    async fn create_webhook_subscription(&self, sub: &WebhookSubscription) -> StoreResult<()>;
    /// A subscription; `NotFound` if there is none.
    async fn get_webhook_subscription(&self, id: &str) -> StoreResult<WebhookSubscription>;
    /// Subscriptions ordered by id after `after`.
    async fn list_webhook_subscriptions(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookSubscription>>;
    /// Applies a change if the stored version is still the expected one
    /// (else `Conflict`); returns the subscription after it.
    async fn update_webhook_subscription(
        &self,
        change: &WebhookSubscriptionChange,
    ) -> StoreResult<WebhookSubscription>;
    /// Deletes a subscription and its deliveries; `NotFound` if none.
    async fn delete_webhook_subscription(&self, id: &str) -> StoreResult<()>;

    /// Turns up to `limit` committed events after the outbox cursor into
    /// deliveries for the active subscriptions that want them, and moves
    /// the cursor past them, in one transaction. Returns the number of
    /// events read (0: caught up). With no active subscription the cursor
    /// jumps to the head of the log.
    async fn fan_out_webhooks(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u32>;
    /// Claims up to `limit` due deliveries, each the oldest pending event
    /// of its ticket for its subscription, leasing them until
    /// `lease_until`; no two claims get the same delivery while a lease
    /// runs.
    async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records an attempt's outcome if the claim still holds (`token`);
    /// returns whether it did.
    async fn finish_webhook_delivery(
        &self,
        claimed: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deliveries matching a query, newest first.
    async fn list_webhook_deliveries(
        &self,
        query: &DeliveryQuery,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// A delivery; `NotFound` if none.
    async fn get_webhook_delivery(&self, id: i64) -> StoreResult<WebhookDelivery>;
    /// Deletes up to `limit` delivered deliveries last changed before
    /// `before`, the oldest first; returns how many went. Pending and dead
    /// ones stay.
    async fn purge_webhook_deliveries(&self, before: DateTime<Utc>, limit: u32)
    -> StoreResult<u64>;
    /// Seals every subscription's secret under the current PII key (after a
    /// key rotation, before the old key is retired); returns how many were
    /// under another key.
    async fn reseal_webhook_secrets(&self) -> StoreResult<u64>;
    /// Makes a delivered or dead delivery pending again, due at `now`,
    /// with its attempts reset; `NotFound` if there is none, `Conflict` if
    /// it is still pending.
    async fn redeliver_webhook_delivery(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<WebhookDelivery>;
}
