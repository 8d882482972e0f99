//! The delivery worker: every replica runs one (unless
//! `webhooks.enabled` is off), and the store's claims make each delivery
//! one worker's at a time (see `hotline_store::WebhookStore`).
//!
//! A round: fan the newly committed events out into deliveries, claim
//! the due ones, POST each (concurrently: a claim holds at most one event
//! per ticket and subscription, so order is not at stake), and record the
//! outcome: delivered on a 2xx; otherwise a retry after the backoff, or
//! the dead letter once `max_attempts` attempts were made. Redirects are
//! not followed: a signed body goes to the registered URL or nowhere.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use metrics::Counter;

use crate::{
    config::WebhookSettings,
    domain::webhook::{
        payload::WebhookBody,
        signature::{EVENT_ID_HEADER, SIGNATURE_HEADER, sign},
    },
    service::{ServiceError, Workflow, privacy::purpose},
    store::{ClaimedDelivery, DeliveryOutcome, PiiAccess, WebhookDelivery},
};

/// Events fanned out per statement, and statements per round at most.
const FAN_OUT_BATCH: u32 = 500;
const FAN_OUT_ROUNDS: u32 = 10;
/// Requests in flight at once per worker.
const CONCURRENCY: usize = 8;
/// Bytes of a failed response's body kept as its error.
const ERROR_BODY: usize = 200;
/// The RPC name recorded in the PII access log for a delivery.
const PII_RPC: &str = "WebhookDelivery";

/// Deliveries by outcome: `hotline_webhook_deliveries_total{outcome}`.
#[derive(Debug, Clone)]
pub struct DeliveryCounters {
    /// 2xx.
    pub delivered: Counter,
    /// Failed, retried later.
    pub retried: Counter,
    /// Failed for the last time.
    pub dead: Counter,
}

impl Default for DeliveryCounters {
    fn default() -> Self {
        Self {
            delivered: Counter::noop(),
            retried: Counter::noop(),
            dead: Counter::noop(),
        }
    }
}

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Events fanned out.
    pub events: u32,
    /// Deliveries attempted.
    pub attempted: usize,
}

/// A failed attempt.
#[derive(Debug)]
struct Failure {
    status: Option<i64>,
    error: String,
}

impl Failure {
    fn before_sending(error: impl std::fmt::Display) -> Self {
        Self {
            status: None,
            error: error.to_string(),
        }
    }
}

/// The worker of one replica.
#[derive(Debug, Clone)]
pub struct WebhookWorker {
    workflow: Arc<Workflow>,
    settings: WebhookSettings,
    client: reqwest::Client,
    counters: DeliveryCounters,
}

impl WebhookWorker {
    /// A worker delivering for `workflow`'s store.
    pub fn new(
        workflow: Arc<Workflow>,
        settings: WebhookSettings,
        counters: DeliveryCounters,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hotline-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            workflow,
            settings,
            client,
            counters,
        })
    }

    /// Runs rounds every `poll_interval_ms` until the task is aborted (at
    /// shutdown; a delivery cut short is claimed again when its lease ends).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker =
                tokio::time::interval(Duration::from_millis(self.settings.poll_interval_ms));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(e) = self.round().await {
                    tracing::warn!(error = %e.report(), "webhook round failed");
                }
            }
        })
    }

    /// One round: fan out, claim, deliver, record.
    pub async fn round(&self) -> Result<RoundReport, ServiceError> {
        let store = self.workflow.store();
        let now = self.workflow.clock().now();
        let mut events = 0;
        for _ in 0..FAN_OUT_ROUNDS {
            let read = store.fan_out_webhooks(now, FAN_OUT_BATCH).await?;
            events += read;
            if read < FAN_OUT_BATCH {
                break;
            }
        }
        let lease = chrono::Duration::from_std(self.settings.lease())
            .map_err(|e| ServiceError::Internal(format!("webhook lease: {e}")))?;
        let claimed = store
            .claim_webhook_deliveries(now, now + lease, self.settings.batch_size)
            .await?;
        let attempted = claimed.len();
        futures_util::stream::iter(claimed)
            .map(|c| self.deliver(c))
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<()>>()
            .await;
        Ok(RoundReport { events, attempted })
    }

    /// Makes one attempt and records its outcome.
    async fn deliver(&self, claimed: ClaimedDelivery) {
        let attempt = self.attempt(&claimed.delivery).await;
        let now = self.workflow.clock().now();
        let outcome = match attempt {
            Ok(status) => {
                self.counters.delivered.increment(1);
                DeliveryOutcome::Delivered { status }
            }
            Err(Failure { status, error }) => {
                let attempts = u32::try_from(claimed.delivery.attempts).unwrap_or(u32::MAX);
                if attempts >= self.settings.max_attempts {
                    self.counters.dead.increment(1);
                    tracing::warn!(
                        delivery = claimed.delivery.id,
                        subscription = %claimed.delivery.subscription_id,
                        attempts,
                        error = %error,
                        "webhook delivery dead-lettered"
                    );
                    DeliveryOutcome::Dead { status, error }
                } else {
                    self.counters.retried.increment(1);
                    let wait = self.settings.backoff().delay(attempts, rand::random());
                    let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                    DeliveryOutcome::Retry {
                        retry_at: now + wait,
                        status,
                        error,
                    }
                }
            }
        };
        match self
            .workflow
            .store()
            .finish_webhook_delivery(&claimed, &outcome, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                delivery = claimed.delivery.id,
                "webhook delivery outcome not recorded: its claim had expired"
            ),
            Err(e) => tracing::warn!(
                delivery = claimed.delivery.id,
                error = %e.report(),
                "webhook delivery outcome not recorded; it is retried when its claim expires"
            ),
        }
    }

    /// Builds, signs and sends the body; the HTTP status of a 2xx.
    async fn attempt(&self, delivery: &WebhookDelivery) -> Result<i64, Failure> {
        let store = self.workflow.store();
        let sub = store
            .get_webhook_subscription(&delivery.subscription_id)
            .await
            .map_err(|e| Failure::before_sending(format!("reading the subscription: {e}")))?;
        let event = store
            .list_events(delivery.ticket_id, delivery.sequence - 1, 1)
            .await
            .map_err(|e| Failure::before_sending(format!("reading the event: {e}")))?
            .into_iter()
            .find(|e| e.sequence == delivery.sequence)
            .ok_or_else(|| Failure::before_sending("the event is missing from the log"))?;
        let ticket = store
            .get_ticket(delivery.ticket_id)
            .await
            .map_err(|e| Failure::before_sending(format!("reading the ticket: {e}")))?;
        let body = WebhookBody::new(&event, &ticket, sub.spec.pii_allowed)
            .map_err(|e| Failure::before_sending(format!("encoding the event: {e}")))?;
        let bytes = body
            .to_bytes()
            .map_err(|e| Failure::before_sending(format!("encoding the body: {e}")))?;
        if body.has_caller_data() {
            // Caller data leaves only with a record of it (DOMAIN §7).
            let access = PiiAccess {
                subject: format!("webhook:{}", sub.id),
                role: "system".into(),
                rpc: PII_RPC,
                purpose: purpose::WEBHOOK_DELIVERY,
                tickets: vec![delivery.ticket_id],
                time: self.workflow.clock().now(),
            };
            store.record_pii_access(&access).await.map_err(|e| {
                Failure::before_sending(format!("recording the caller data's release: {e}"))
            })?;
        }
        let timestamp = self.workflow.clock().now().timestamp();
        let response = self
            .client
            .post(&sub.spec.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                sign(sub.secret.as_bytes(), timestamp, &bytes),
            )
            .header(EVENT_ID_HEADER, body.id.as_str())
            .body(bytes)
            .send()
            .await
            .map_err(|e| Failure {
                status: None,
                error: describe(&e, self.settings.timeout_ms),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(i64::from(status.as_u16()));
        }
        let snippet = match response.bytes().await {
            Ok(b) => String::from_utf8_lossy(&b[..b.len().min(ERROR_BODY)]).into_owned(),
            Err(_) => String::new(),
        };
        Err(Failure {
            status: Some(i64::from(status.as_u16())),
            error: format!("HTTP {}: {}", status.as_u16(), snippet.trim()),
        })
    }
}

/// What went wrong with a request, in words an operator can act on.
fn describe(error: &reqwest::Error, timeout_ms: u64) -> String {
    if error.is_timeout() {
        return format!("timed out after {timeout_ms} ms");
    }
    let mut root: &dyn std::error::Error = error;
    while let Some(source) = root.source() {
        root = source;
    }
    if error.is_connect() {
        format!("connection failed: {root}")
    } else {
        format!("request failed: {root}")
    }
}
