//! Managing subscriptions, and deliveries that go right: signed, in ticket
//! order, with caller data only where allowed (and audited there), and
//! only the event kinds, unit and region a subscription asks for; a
//! receiver slow but within the timeout is a delivery, not a failure.

use hotline::{
    domain::webhook::signature::verify,
    proto::v1::{self as pb, audit_service_client::AuditServiceClient},
};
use tonic::Code;

use super::{
    SECRET, client, deliveries, fast,
    receiver::{Receiver, Reply},
    state, subscribe, subscribe_to, subscriptions, ticket_with_events, wait_deliveries,
};
use crate::helpers::{authed, complaint, error_reason, spawn_app_configured};

#[tokio::test]
async fn subscriptions_are_managed_by_the_admin_and_urls_must_be_http() {
    let app = spawn_app_configured(|s| s.webhooks.enabled = false).await;
    let (mut c, token) = client(&app);
    for url in [
        "ftp://example.org/x",
        "mailto:ops@example.org",
        "example.org/hook",
        "",
    ] {
        let err = c
            .create_webhook_subscription(authed(
                &token,
                pb::CreateWebhookSubscriptionRequest {
                    webhook_subscription: Some(pb::WebhookSubscription {
                        url: url.into(),
                        secret: SECRET.into(),
                        active: true,
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{url}: {err:?}");
        assert_eq!(
            error_reason(&err).1,
            vec!["webhook_subscription.url".to_owned()],
            "{url}"
        );
    }
    let agent = app.agent();
    let denied = c
        .create_webhook_subscription(authed(
            &agent.token,
            pb::CreateWebhookSubscriptionRequest {
                webhook_subscription: Some(pb::WebhookSubscription {
                    url: "https://example.org/hook".into(),
                    secret: SECRET.into(),
                    pii_allowed: true,
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let sub = subscribe(&app, "https://example.org/hook", false).await;
    assert!(sub.name.starts_with("webhookSubscriptions/"));
    assert!(sub.secret.is_empty(), "the secret is never returned");
    let got = c
        .get_webhook_subscription(authed(
            &token,
            pb::GetWebhookSubscriptionRequest {
                name: sub.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .webhook_subscription
        .unwrap();
    assert_eq!(got, sub);
    assert_eq!(subscriptions(&app).await, vec![sub.clone()]);
    let stale = c
        .update_webhook_subscription(authed(
            &token,
            pb::UpdateWebhookSubscriptionRequest {
                webhook_subscription: Some(pb::WebhookSubscription {
                    name: sub.name.clone(),
                    etag: "999".into(),
                    active: false,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["active".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let bad_url = c
        .update_webhook_subscription(authed(
            &token,
            pb::UpdateWebhookSubscriptionRequest {
                webhook_subscription: Some(pb::WebhookSubscription {
                    name: sub.name.clone(),
                    url: "gopher://example.org".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["url".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_url.code(), Code::InvalidArgument);
    c.delete_webhook_subscription(authed(
        &token,
        pb::DeleteWebhookSubscriptionRequest {
            name: sub.name.clone(),
        },
    ))
    .await
    .unwrap();
    let gone = c
        .get_webhook_subscription(authed(
            &token,
            pb::GetWebhookSubscriptionRequest { name: sub.name },
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn events_arrive_signed_in_ticket_order_with_caller_data_only_where_allowed() {
    let receiver = Receiver::start(&[], Reply::Ok).await;
    let allowed = Receiver::start(&[], Reply::Ok).await;
    let app = spawn_app_configured(fast).await;
    app.seed_directory().await;
    let sub = subscribe(&app, &receiver.url(), false).await;
    let pii_sub = subscribe(&app, &allowed.url(), true).await;
    let (ticket, events) = ticket_with_events(&app).await;
    assert!(events >= 2, "created and dispatched at least");

    let got = receiver.wait_for(events).await;
    assert_eq!(got.len(), events, "each event once");
    let sequences: Vec<i64> = got
        .iter()
        .map(|r| r.json()["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(
        sequences,
        (1..=i64::try_from(events).unwrap()).collect::<Vec<_>>(),
        "in order"
    );
    for r in &got {
        let t: i64 = r.signature.split(',').next().unwrap()[2..].parse().unwrap();
        assert!(
            verify(SECRET.as_bytes(), &r.signature, &r.body, t, 300),
            "{r:?}"
        );
        assert!(!verify(
            b"another-secret-0123456789",
            &r.signature,
            &r.body,
            t,
            300
        ));
        let json = r.json();
        assert_eq!(json["ticket"], ticket.as_str());
        assert_eq!(r.event_id, json["id"].as_str().unwrap());
        let text = String::from_utf8(r.body.clone()).unwrap();
        for pii in ["张三", "13800131234", "文三路", "夜间十点"] {
            assert!(!text.contains(pii), "{pii} leaked: {text}");
        }
    }
    assert_eq!(got[0].json()["event_type"], "created");

    let with_pii = allowed.wait_for(events).await;
    let text = String::from_utf8(with_pii[0].body.clone()).unwrap();
    assert!(
        text.contains("张三") && text.contains("13800131234"),
        "{text}"
    );
    assert!(!text.contains("文三路"), "addresses never leave: {text}");

    let list = wait_deliveries(&app, &sub.name, |l| {
        l.len() == events
            && l.iter()
                .all(|d| state(d) == pb::WebhookDeliveryState::Delivered)
    })
    .await;
    assert!(
        list.iter().all(|d| d.attempts == 1 && d.last_status == 200),
        "{list:?}"
    );
    // Each body with a caller was recorded as a release of caller data.
    let mut audit = AuditServiceClient::new(app.channel.clone());
    let reader = format!(
        "webhook:{}",
        pii_sub.name.trim_start_matches("webhookSubscriptions/")
    );
    let admin = app.admin();
    let log = audit
        .list_pii_access(authed(
            &admin.token,
            pb::ListPiiAccessRequest {
                reader: reader.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .accesses;
    assert!(log.len() >= events, "{log:?}");
    assert!(
        log.iter().all(|a| a.purpose == "webhook_delivery"
            && a.rpc == "WebhookDelivery"
            && a.role == "system"
            && a.tickets == vec![ticket.clone()]),
        "{log:?}"
    );
    let others = audit
        .list_pii_access(authed(
            &admin.token,
            pb::ListPiiAccessRequest {
                reader: format!(
                    "webhook:{}",
                    sub.name.trim_start_matches("webhookSubscriptions/")
                ),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .accesses;
    assert!(others.is_empty(), "no caller data, no record: {others:?}");
    wait_deliveries(&app, &pii_sub.name, |l| {
        l.len() == events
            && l.iter()
                .all(|d| state(d) == pb::WebhookDeliveryState::Delivered)
    })
    .await;
}

#[tokio::test]
async fn a_scoped_subscription_gets_only_its_event_kinds_unit_and_region() {
    let everything = Receiver::start(&[], Reply::Ok).await;
    let scoped = Receiver::start(&[], Reply::Ok).await;
    let elsewhere = Receiver::start(&[], Reply::Ok).await;
    let app = spawn_app_configured(fast).await;
    app.seed_directory().await;
    let all = subscribe(&app, &everything.url(), false).await;
    let market_dispatches = subscribe_to(
        &app,
        pb::WebhookSubscription {
            url: scoped.url(),
            event_kinds: vec!["dispatched".into()],
            unit: "units/market-regulation".into(),
            region_prefix: "3301".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(market_dispatches.event_kinds, ["dispatched"]);
    assert_eq!(market_dispatches.unit, "units/market-regulation");
    let other_city = subscribe_to(
        &app,
        pb::WebhookSubscription {
            url: elsewhere.url(),
            region_prefix: "4401".into(),
            ..Default::default()
        },
    )
    .await;

    let mut agent = app.agent();
    let market = agent.create(complaint()).await;
    agent
        .dispatch_to(&market.name, "market-regulation")
        .await
        .unwrap();
    let street = agent.create(complaint()).await;
    agent
        .dispatch_to(&street.name, "xihu-street")
        .await
        .unwrap();
    let events = agent.events(&market.name).await.len() + agent.events(&street.name).await.len();
    // One fan-out transaction writes every subscription's deliveries of an
    // event, so once the unscoped one has them all, so has every other.
    wait_deliveries(&app, &all.name, |l| {
        l.len() == events
            && l.iter()
                .all(|d| state(d) == pb::WebhookDeliveryState::Delivered)
    })
    .await;
    assert_eq!(everything.received().len(), events);
    assert!(
        deliveries(&app, &other_city.name).await.is_empty(),
        "another city's region"
    );
    let scoped_list = wait_deliveries(&app, &market_dispatches.name, |l| {
        l.iter()
            .all(|d| state(d) == pb::WebhookDeliveryState::Delivered)
    })
    .await;
    assert_eq!(scoped_list.len(), 1, "one dispatch of the unit's ticket");
    let got = scoped.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].json()["event_type"], "dispatched");
    assert_eq!(got[0].json()["ticket"], market.name.as_str());
    assert!(elsewhere.received().is_empty());

    let err = client(&app)
        .0
        .create_webhook_subscription(authed(
            &app.admin().token,
            pb::CreateWebhookSubscriptionRequest {
                webhook_subscription: Some(pb::WebhookSubscription {
                    url: scoped.url(),
                    secret: SECRET.into(),
                    unit: "market-regulation".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(
        error_reason(&err).1,
        vec!["webhook_subscription.unit".to_owned()]
    );
}

#[tokio::test]
async fn a_receiver_slow_within_the_timeout_is_delivered_at_the_first_attempt() {
    // 300 ms an answer against a 3 s timeout: slow, well within it.
    let receiver = Receiver::start(&[], Reply::Slow(std::time::Duration::from_millis(300))).await;
    let app = spawn_app_configured(|s| {
        fast(s);
        s.webhooks.timeout_ms = 3_000;
    })
    .await;
    app.seed_directory().await;
    let sub = subscribe(&app, &receiver.url(), false).await;
    let (_, events) = ticket_with_events(&app).await;
    let list = wait_deliveries(&app, &sub.name, |l| {
        l.len() == events
            && l.iter()
                .all(|d| state(d) == pb::WebhookDeliveryState::Delivered)
    })
    .await;
    assert_eq!(list.len(), events, "{list:?}");
    assert!(
        list.iter().all(|d| d.attempts == 1 && d.last_status == 200),
        "{list:?}"
    );
    assert_eq!(receiver.received().len(), events, "each event once");
}
