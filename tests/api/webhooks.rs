//! Webhooks through the real gRPC client, delivered to a real HTTP
//! receiver on 127.0.0.1: signed bodies in ticket order without caller
//! data, retries with backoff (500, a receiver slower than the timeout, a
//! refused connection), dead letters and redelivery, a crash between
//! commit and delivery, and two replicas delivering each event once.

use std::time::Duration;

use hotline::proto::v1::{self as pb, webhook_service_client::WebhookServiceClient};
use tonic::transport::Channel;

use crate::helpers::{TestApp, authed, complaint};

mod delivery;
mod failures;
mod receiver;

pub(super) const SECRET: &str = "receiver-shared-secret-0123456789";

/// Quick rounds, short waits: the tests advance the mock clock for retries.
pub(super) fn fast(settings: &mut hotline::config::Settings) {
    settings.webhooks.poll_interval_ms = 30;
    settings.webhooks.backoff_base_ms = 1000;
    settings.webhooks.backoff_max_ms = 4000;
    settings.webhooks.timeout_ms = 500;
    settings.webhooks.max_attempts = 3;
}

pub(super) fn client(app: &TestApp) -> (WebhookServiceClient<Channel>, String) {
    (
        WebhookServiceClient::new(app.channel.clone()),
        app.admin().token,
    )
}

/// Every subscription the admin lists, through the real client.
pub(crate) async fn subscriptions(app: &TestApp) -> Vec<pb::WebhookSubscription> {
    let (mut c, token) = client(app);
    c.list_webhook_subscriptions(authed(
        &token,
        pb::ListWebhookSubscriptionsRequest::default(),
    ))
    .await
    .unwrap()
    .into_inner()
    .webhook_subscriptions
}

pub(super) async fn subscribe(
    app: &TestApp,
    url: &str,
    pii_allowed: bool,
) -> pb::WebhookSubscription {
    subscribe_to(
        app,
        pb::WebhookSubscription {
            url: url.into(),
            pii_allowed,
            description: "城市大数据平台".into(),
            ..Default::default()
        },
    )
    .await
}

/// Creates `wanted` (its URL, scope and PII flag), active, with [`SECRET`].
pub(super) async fn subscribe_to(
    app: &TestApp,
    wanted: pb::WebhookSubscription,
) -> pb::WebhookSubscription {
    let (mut c, token) = client(app);
    c.create_webhook_subscription(authed(
        &token,
        pb::CreateWebhookSubscriptionRequest {
            webhook_subscription: Some(pb::WebhookSubscription {
                secret: SECRET.into(),
                active: true,
                ..wanted
            }),
        },
    ))
    .await
    .unwrap()
    .into_inner()
    .webhook_subscription
    .unwrap()
}

pub(super) async fn deliveries(app: &TestApp, sub: &str) -> Vec<pb::WebhookDelivery> {
    let (mut c, token) = client(app);
    c.list_webhook_deliveries(authed(
        &token,
        pb::ListWebhookDeliveriesRequest {
            parent: sub.into(),
            ..Default::default()
        },
    ))
    .await
    .unwrap()
    .into_inner()
    .deliveries
}

/// Waits (10 s at most) until the subscription's deliveries satisfy `done`.
pub(super) async fn wait_deliveries(
    app: &TestApp,
    sub: &str,
    done: impl Fn(&[pb::WebhookDelivery]) -> bool,
) -> Vec<pb::WebhookDelivery> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list = deliveries(app, sub).await;
        if done(&list) || tokio::time::Instant::now() >= deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

pub(super) fn state(d: &pb::WebhookDelivery) -> pb::WebhookDeliveryState {
    pb::WebhookDeliveryState::try_from(d.state).unwrap()
}

/// Files a complaint and dispatches it; returns its name and event count.
pub(super) async fn ticket_with_events(app: &TestApp) -> (String, usize) {
    let mut agent = app.agent();
    let ticket = agent.create(complaint()).await;
    let _ = agent.dispatch_to(&ticket.name, "market-regulation").await;
    let events = agent.events(&ticket.name).await.len();
    (ticket.name, events)
}
