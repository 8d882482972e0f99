//! Webhook use cases: the admin's subscriptions, their deliveries and
//! redelivery; the delivery itself is the [`worker`]'s.
//!
//! Only the centre's admin manages subscriptions
//! ([`Operation::ManageWebhooks`]): a subscription decides where ticket
//! events leave the centre, and `pii_allowed` whether callers leave with
//! them, so no lesser role may set either.

pub mod worker;

use chrono::{DateTime, Utc};

use super::{ServiceError, Workflow, retention::purge_older_than};
use crate::{
    domain::{
        Principal,
        access::Operation,
        webhook::{SubscriptionSpec, check_secret},
    },
    store::{
        DeliveryQuery, StoreError, WebhookDelivery, WebhookSubscription, WebhookSubscriptionChange,
    },
};

/// The request field subscriptions are sent in.
const FIELD: &str = "webhook_subscription";

/// Fields of a subscription an update may name in its mask.
pub const UPDATABLE: &[&str] = &[
    "url",
    "secret",
    "event_kinds",
    "unit",
    "region_prefix",
    "pii_allowed",
    "active",
    "description",
];

/// Checks a spec as the domain does, then parses the URL as the HTTP
/// client will (what the domain's check lets through but the client could
/// not send to is refused now, not at the first delivery).
fn validated(spec: SubscriptionSpec) -> Result<SubscriptionSpec, ServiceError> {
    let spec = spec.validated().map_err(|e| e.within(FIELD))?;
    reqwest::Url::parse(&spec.url)
        .map_err(|e| ServiceError::invalid(format!("{FIELD}.url"), format!("not a URL: {e}")))?;
    Ok(spec)
}

fn checked_secret(secret: &str) -> Result<(), ServiceError> {
    Ok(check_secret(secret).map_err(|e| e.within(FIELD))?)
}

/// `current` with the fields named by `mask` taken from `input` (every
/// field when the mask is empty), and the new secret if the mask names it.
pub fn apply_mask(
    current: &SubscriptionSpec,
    input: SubscriptionSpec,
    secret: String,
    mask: &[String],
) -> Result<(SubscriptionSpec, Option<String>), ServiceError> {
    let all: Vec<String>;
    let mask = if mask.is_empty() {
        all = UPDATABLE
            .iter()
            .filter(|f| **f != "secret" || !secret.is_empty())
            .map(|f| (*f).to_owned())
            .collect();
        &all[..]
    } else {
        mask
    };
    let mut spec = current.clone();
    let mut new_secret = None;
    for path in mask {
        match path.as_str() {
            "url" => spec.url.clone_from(&input.url),
            "secret" => new_secret = Some(secret.clone()),
            "event_kinds" => spec.event_kinds.clone_from(&input.event_kinds),
            "unit" => spec.unit.clone_from(&input.unit),
            "region_prefix" => spec.region_prefix.clone_from(&input.region_prefix),
            "pii_allowed" => spec.pii_allowed = input.pii_allowed,
            "active" => spec.active = input.active,
            "description" => spec.description.clone_from(&input.description),
            other => {
                return Err(ServiceError::invalid(
                    "update_mask",
                    format!(
                        "unknown or immutable field {other:?} (updatable: {})",
                        UPDATABLE.join(", ")
                    ),
                ));
            }
        }
    }
    Ok((spec, new_secret))
}

impl Workflow {
    /// Deletes delivered deliveries older than `retention_days` before
    /// `now`; returns how many went. 0 days keeps everything. Dead letters
    /// stay until redelivered or their subscription is deleted.
    pub async fn purge_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        retention_days: u32,
    ) -> Result<u64, ServiceError> {
        let store = self.store();
        purge_older_than(now, retention_days, |cutoff, limit| {
            store.purge_webhook_deliveries(cutoff, limit)
        })
        .await
    }

    /// Checks that a scoped unit exists (a typo would silently match nothing).
    async fn check_unit(&self, spec: &SubscriptionSpec) -> Result<(), ServiceError> {
        if let Some(unit) = &spec.unit {
            match self.store().get_unit(unit).await {
                Ok(_) => {}
                Err(StoreError::NotFound(_)) => {
                    return Err(ServiceError::invalid(
                        format!("{FIELD}.unit"),
                        format!("no unit {}", unit.name()),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Registers a subscription; it receives the events committed from now on.
    pub async fn create_webhook_subscription(
        &self,
        principal: &Principal,
        spec: SubscriptionSpec,
        secret: String,
    ) -> Result<WebhookSubscription, ServiceError> {
        principal.authorize(Operation::ManageWebhooks)?;
        let spec = validated(spec)?;
        checked_secret(&secret)?;
        self.check_unit(&spec).await?;
        let now = self.clock().now();
        let sub = WebhookSubscription {
            id: uuid::Uuid::now_v7().to_string(),
            spec,
            secret,
            creator: principal.subject.clone(),
            create_time: now,
            update_time: now,
            version: 1,
        };
        self.store().create_webhook_subscription(&sub).await?;
        tracing::info!(subscription = %sub.id, "webhook subscription created");
        Ok(sub)
    }

    /// A subscription.
    pub async fn get_webhook_subscription(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<WebhookSubscription, ServiceError> {
        principal.authorize(Operation::ManageWebhooks)?;
        Ok(self.store().get_webhook_subscription(id).await?)
    }

    /// Subscriptions by id after `after`.
    pub async fn list_webhook_subscriptions(
        &self,
        principal: &Principal,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<WebhookSubscription>, ServiceError> {
        principal.authorize(Operation::ManageWebhooks)?;
        Ok(self
            .store()
            .list_webhook_subscriptions(after, limit)
            .await?)
    }

    /// Changes the fields `mask` names (see [`apply_mask`]) if `etag`, when
    /// given, is still the subscription's version.
    pub async fn update_webhook_subscription(
        &self,
        principal: &Principal,
        id: &str,
        etag: Option<i64>,
        input: SubscriptionSpec,
        secret: String,
        mask: &[String],
    ) -> Result<WebhookSubscription, ServiceError> {
        principal.authorize(Operation::ManageWebhooks)?;
        let current = self.store().get_webhook_subscription(id).await?;
        if let Some(etag) = etag
            && etag != current.version
        {
            return Err(ServiceError::EtagMismatch {
                current: current.version.to_string(),
            });
        }
        let (spec, new_secret) = apply_mask(&current.spec, input, secret, mask)?;
        let spec = validated(spec)?;
        if let Some(secret) = &new_secret {
            checked_secret(secret)?;
        }
        self.check_unit(&spec).await?;
        let change = WebhookSubscriptionChange {
            id: id.to_owned(),
            expected_version: current.version,
            spec,
            secret: new_secret,
            now: self.clock().now(),
        };
        Ok(self.store().update_webhook_subscription(&change).await?)
    }

    /// Deletes a subscription and its deliveries.
    pub async fn delete_webhook_subscription(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(), ServiceError> {
        principal.authorize(Operation::ManageWebhooks)?;
        self.store().delete_webhook_subscription(id).await?;
        tracing::info!(subscription = %id, "webhook subscription deleted");
        Ok(())
    }

    /// A subscription's deliveries, newest first.
    pub async fn list_webhook_deliveries(
        &self,
        principal: &Principal,
        query: &DeliveryQuery,
    ) -> Result<Vec<WebhookDelivery>, ServiceError> {
        principal.authorize(Operation::ManageWebhooks)?;
        // An unknown subscription is NOT_FOUND, not an empty list.
        self.store()
            .get_webhook_subscription(&query.subscription_id)
            .await?;
        Ok(self.store().list_webhook_deliveries(query).await?)
    }

    /// Sends a delivered or dead-lettered delivery again, from its first
    /// attempt, as soon as a worker gets to it (after any earlier pending
    /// event of its ticket).
    pub async fn redeliver_webhook_delivery(
        &self,
        principal: &Principal,
        subscription_id: &str,
        id: i64,
    ) -> Result<WebhookDelivery, ServiceError> {
        principal.authorize(Operation::ManageWebhooks)?;
        let delivery = self.store().get_webhook_delivery(id).await?;
        if delivery.subscription_id != subscription_id {
            return Err(ServiceError::NotFound(format!(
                "webhookSubscriptions/{subscription_id}/deliveries/{id}"
            )));
        }
        match self
            .store()
            .redeliver_webhook_delivery(id, self.clock().now())
            .await
        {
            Ok(d) => Ok(d),
            Err(StoreError::Conflict(_)) => Err(ServiceError::Precondition {
                kind: "DELIVERY_PENDING",
                message: "the delivery is still pending; only a delivered or dead-lettered \
                          delivery can be sent again"
                    .into(),
            }),
            Err(e) => Err(e.into()),
        }
    }
}
