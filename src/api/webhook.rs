//! `hotline.v1.WebhookService`: the admin's subscriptions and deliveries.
//! Conversion here; the rules in `crate::service::webhooks`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::paging::{self, PageSize};
use crate::{
    auth::principal,
    domain::{TicketId, UnitId, webhook::SubscriptionSpec},
    proto::{
        convert::{at, to_timestamp},
        v1::{self as pb, webhook_service_server::WebhookService},
    },
    service::{ServiceError, Workflow},
    store::{DeliveryQuery, DeliveryState, WebhookDelivery, WebhookSubscription},
};

/// Page sizes of both lists.
const PAGE: PageSize = PageSize {
    default: 50,
    max: 500,
};

/// Prefix of subscription names.
const PREFIX: &str = "webhookSubscriptions/";

/// Implements `WebhookService`.
#[derive(Debug, Clone)]
pub(crate) struct WebhookApi {
    workflow: Arc<Workflow>,
}

impl WebhookApi {
    /// A service over the shared workflow.
    pub(crate) fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }
}

/// Whether `id` can be a subscription id: not empty, one segment, and
/// no control characters (a NUL would otherwise reach PostgreSQL, which
/// cannot compare text holding one, and come back INTERNAL).
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && !id.contains('/') && !id.chars().any(char::is_control)
}

/// The id in `webhookSubscriptions/{id}`.
fn subscription_id<'a>(name: &'a str, field: &str) -> Result<&'a str, ServiceError> {
    name.strip_prefix(PREFIX)
        .filter(|id| plausible_id(id))
        .ok_or_else(|| ServiceError::invalid(field, "must look like webhookSubscriptions/{id}"))
}

/// The ids in `webhookSubscriptions/{id}/deliveries/{n}`.
fn delivery_ids(name: &str) -> Result<(&str, i64), ServiceError> {
    let bad = || {
        ServiceError::invalid(
            "name",
            "must look like webhookSubscriptions/{id}/deliveries/{n}",
        )
    };
    let rest = name.strip_prefix(PREFIX).ok_or_else(bad)?;
    let (id, n) = rest.split_once("/deliveries/").ok_or_else(bad)?;
    let n: i64 = n.parse().map_err(|_| bad())?;
    if !plausible_id(id) {
        return Err(bad());
    }
    Ok((id, n))
}

/// The spec a request carries (validated by the use case).
fn spec_of(s: &pb::WebhookSubscription) -> Result<SubscriptionSpec, ServiceError> {
    let unit = match s.unit.as_str() {
        "" => None,
        name => Some(at(UnitId::from_name(name), "webhook_subscription.unit")?),
    };
    Ok(SubscriptionSpec {
        url: s.url.trim().to_owned(),
        event_kinds: s.event_kinds.clone(),
        unit,
        region_prefix: (!s.region_prefix.is_empty()).then(|| s.region_prefix.clone()),
        pii_allowed: s.pii_allowed,
        active: s.active,
        description: s.description.clone(),
    })
}

fn required(s: Option<pb::WebhookSubscription>) -> Result<pb::WebhookSubscription, ServiceError> {
    s.ok_or_else(|| ServiceError::invalid("webhook_subscription", "required"))
}

fn subscription_to_proto(s: &WebhookSubscription) -> pb::WebhookSubscription {
    pb::WebhookSubscription {
        name: format!("{PREFIX}{}", s.id),
        url: s.spec.url.clone(),
        secret: String::new(),
        event_kinds: s.spec.event_kinds.clone(),
        unit: s.spec.unit.as_ref().map(UnitId::name).unwrap_or_default(),
        region_prefix: s.spec.region_prefix.clone().unwrap_or_default(),
        pii_allowed: s.spec.pii_allowed,
        active: s.spec.active,
        description: s.spec.description.clone(),
        creator: s.creator.clone(),
        create_time: Some(to_timestamp(s.create_time)),
        update_time: Some(to_timestamp(s.update_time)),
        etag: s.version.to_string(),
    }
}

fn state_to_proto(state: DeliveryState) -> pb::WebhookDeliveryState {
    match state {
        DeliveryState::Pending => pb::WebhookDeliveryState::Pending,
        DeliveryState::Delivered => pb::WebhookDeliveryState::Delivered,
        DeliveryState::Dead => pb::WebhookDeliveryState::Dead,
    }
}

fn delivery_to_proto(d: &WebhookDelivery) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        name: format!("{PREFIX}{}/deliveries/{}", d.subscription_id, d.id),
        ticket: d.ticket_id.name(),
        sequence: d.sequence,
        event_type: d.event_kind.clone(),
        state: state_to_proto(d.state).into(),
        attempts: i32::try_from(d.attempts).unwrap_or(i32::MAX),
        next_attempt_time: Some(to_timestamp(d.next_attempt_time)),
        last_status: d
            .last_status
            .and_then(|s| i32::try_from(s).ok())
            .unwrap_or_default(),
        last_error: d.last_error.clone().unwrap_or_default(),
        create_time: Some(to_timestamp(d.create_time)),
        update_time: Some(to_timestamp(d.update_time)),
    }
}

/// The optional state filter of a delivery list.
fn state_filter(value: i32) -> Result<Option<DeliveryState>, ServiceError> {
    match pb::WebhookDeliveryState::try_from(value) {
        Ok(pb::WebhookDeliveryState::Unspecified) => Ok(None),
        Ok(pb::WebhookDeliveryState::Pending) => Ok(Some(DeliveryState::Pending)),
        Ok(pb::WebhookDeliveryState::Delivered) => Ok(Some(DeliveryState::Delivered)),
        Ok(pb::WebhookDeliveryState::Dead) => Ok(Some(DeliveryState::Dead)),
        Err(_) => Err(ServiceError::invalid("state", "unknown delivery state")),
    }
}

#[tonic::async_trait]
impl WebhookService for WebhookApi {
    async fn create_webhook_subscription(
        &self,
        request: Request<pb::CreateWebhookSubscriptionRequest>,
    ) -> Result<Response<pb::CreateWebhookSubscriptionResponse>, Status> {
        let principal = principal(&request)?;
        let s = required(request.into_inner().webhook_subscription)?;
        let spec = spec_of(&s)?;
        let created = self
            .workflow
            .create_webhook_subscription(&principal, spec, s.secret)
            .await?;
        Ok(Response::new(pb::CreateWebhookSubscriptionResponse {
            webhook_subscription: Some(subscription_to_proto(&created)),
        }))
    }

    async fn get_webhook_subscription(
        &self,
        request: Request<pb::GetWebhookSubscriptionRequest>,
    ) -> Result<Response<pb::GetWebhookSubscriptionResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let id = subscription_id(&req.name, "name")?;
        let sub = self
            .workflow
            .get_webhook_subscription(&principal, id)
            .await?;
        Ok(Response::new(pb::GetWebhookSubscriptionResponse {
            webhook_subscription: Some(subscription_to_proto(&sub)),
        }))
    }

    async fn list_webhook_subscriptions(
        &self,
        request: Request<pb::ListWebhookSubscriptionsRequest>,
    ) -> Result<Response<pb::ListWebhookSubscriptionsResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let limit = PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after: Option<String> = paging::decode(&req.page_token, &fp)?;
        if after.as_deref().is_some_and(|id| !plausible_id(id)) {
            return Err(ServiceError::invalid("page_token", "malformed page token").into());
        }
        let subs = self
            .workflow
            .list_webhook_subscriptions(&principal, after.as_deref(), limit)
            .await?;
        Ok(Response::new(pb::ListWebhookSubscriptionsResponse {
            next_page_token: paging::next_token(&subs, limit, &fp, |s| s.id.clone()),
            webhook_subscriptions: subs.iter().map(subscription_to_proto).collect(),
        }))
    }

    async fn update_webhook_subscription(
        &self,
        request: Request<pb::UpdateWebhookSubscriptionRequest>,
    ) -> Result<Response<pb::UpdateWebhookSubscriptionResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let s = required(req.webhook_subscription)?;
        let id = subscription_id(&s.name, "webhook_subscription.name")?.to_owned();
        let etag = match s.etag.as_str() {
            "" => None,
            e => Some(e.parse::<i64>().map_err(|_| {
                ServiceError::invalid("webhook_subscription.etag", "not an etag of this service")
            })?),
        };
        let mask = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let spec = spec_of(&s)?;
        let updated = self
            .workflow
            .update_webhook_subscription(&principal, &id, etag, spec, s.secret, &mask)
            .await?;
        Ok(Response::new(pb::UpdateWebhookSubscriptionResponse {
            webhook_subscription: Some(subscription_to_proto(&updated)),
        }))
    }

    async fn delete_webhook_subscription(
        &self,
        request: Request<pb::DeleteWebhookSubscriptionRequest>,
    ) -> Result<Response<pb::DeleteWebhookSubscriptionResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let id = subscription_id(&req.name, "name")?;
        self.workflow
            .delete_webhook_subscription(&principal, id)
            .await?;
        Ok(Response::new(pb::DeleteWebhookSubscriptionResponse {}))
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let limit = PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let before_id: Option<i64> = paging::decode(&req.page_token, &fp)?;
        let query = DeliveryQuery {
            subscription_id: subscription_id(&req.parent, "parent")?.to_owned(),
            state: state_filter(req.state)?,
            ticket: match req.ticket.as_str() {
                "" => None,
                name => Some(at(TicketId::from_name(name), "ticket")?),
            },
            before_id,
            limit,
        };
        let deliveries = self
            .workflow
            .list_webhook_deliveries(&principal, &query)
            .await?;
        Ok(Response::new(pb::ListWebhookDeliveriesResponse {
            next_page_token: paging::next_token(&deliveries, limit, &fp, |d| d.id),
            deliveries: deliveries.iter().map(delivery_to_proto).collect(),
        }))
    }

    async fn redeliver_webhook_delivery(
        &self,
        request: Request<pb::RedeliverWebhookDeliveryRequest>,
    ) -> Result<Response<pb::RedeliverWebhookDeliveryResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let (subscription, id) = delivery_ids(&req.name)?;
        let delivery = self
            .workflow
            .redeliver_webhook_delivery(&principal, subscription, id)
            .await?;
        Ok(Response::new(pb::RedeliverWebhookDeliveryResponse {
            delivery: Some(delivery_to_proto(&delivery)),
        }))
    }
}
