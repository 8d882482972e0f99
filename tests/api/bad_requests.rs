//! Requests a careless or hostile client can send that the service used to
//! take (or answer with INTERNAL): each is INVALID_ARGUMENT naming its
//! field now, through the real gRPC clients.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hotline::proto::v1::{
    self as pb, metrics_service_client::MetricsServiceClient,
    webhook_service_client::WebhookServiceClient,
};
use tonic::{Code, Status};

use crate::helpers::{authed, error_reason, spawn_app, spawn_app_configured};

/// The status is INVALID_ARGUMENT naming exactly `field`.
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Status>, field: &str) {
    let err = result.expect_err(field);
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec![field.to_owned()]),
        "{err:?}"
    );
}

fn at(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

#[tokio::test]
async fn windows_ending_before_they_start_and_unknown_values_are_refused() {
    let app = spawn_app().await;
    let mut agent = app.agent();
    let reversed = pb::ListTicketsRequest {
        create_time_from: Some(at(1_790_000_000)),
        create_time_to: Some(at(1_780_000_000)),
        ..Default::default()
    };
    assert_invalid(
        agent
            .tickets
            .list_tickets(authed(&agent.token, reversed))
            .await,
        "create_time_to",
    );

    let mut metrics = MetricsServiceClient::new(app.channel.clone());
    let unknown_part = pb::ExplainMetricRequest {
        unit: "units/market-regulation".into(),
        start_day: "2026-11-01".into(),
        end_day: "2026-11-30".into(),
        metric: "overdue".into(),
        part: 99,
        ..Default::default()
    };
    assert_invalid(
        metrics
            .explain_metric(authed(&agent.token, unknown_part))
            .await,
        "part",
    );

    let negative = pb::ListRankingsRequest {
        start_day: "2026-11-01".into(),
        end_day: "2026-11-30".into(),
        weights: Some(pb::RankingWeights {
            response: -1.0,
            resolution: 1.0,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_invalid(
        metrics.list_rankings(authed(&agent.token, negative)).await,
        "weights.response",
    );

    let mut admin = app.admin();
    let unroutable = [
        (
            pb::Ticket {
                subject_code: "food".into(),
                ..crate::helpers::complaint()
            },
            "ticket.subject_code",
        ),
        (
            pb::Ticket {
                legacy_hotline: "110".into(),
                ..crate::helpers::complaint()
            },
            "ticket.legacy_hotline",
        ),
    ];
    for (ticket, field) in unroutable {
        let request = pb::ExplainRoutingRequest {
            ticket: Some(ticket),
            ..Default::default()
        };
        assert_invalid(
            admin
                .routing
                .explain_routing(authed(&admin.token, request))
                .await,
            field,
        );
    }
}

#[tokio::test]
async fn names_no_rule_can_have_are_invalid_not_looked_up() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let update = pb::UpdateRuleRequest {
        rule: Some(pb::Rule {
            name: "rules/a\0b".into(),
            ..Default::default()
        }),
    };
    assert_invalid(
        admin
            .routing
            .update_rule(authed(&admin.token, update))
            .await,
        "rule.name",
    );
    for name in ["rules/a/b", "rules/\0", "rules/"] {
        let delete = pb::DeleteRuleRequest { name: name.into() };
        assert_invalid(
            admin
                .routing
                .delete_rule(authed(&admin.token, delete))
                .await,
            "name",
        );
    }
}

#[tokio::test]
async fn a_doctored_page_token_of_webhook_subscriptions_is_invalid() {
    let app = spawn_app_configured(|s| s.webhooks.enabled = false).await;
    let mut client = WebhookServiceClient::new(app.channel.clone());
    let token = app.admin().token;
    for url in ["https://a.example.org/hook", "https://b.example.org/hook"] {
        let sub = pb::CreateWebhookSubscriptionRequest {
            webhook_subscription: Some(pb::WebhookSubscription {
                url: url.into(),
                secret: "receiver-shared-secret-0123456789".into(),
                active: true,
                ..Default::default()
            }),
        };
        client
            .create_webhook_subscription(authed(&token, sub))
            .await
            .unwrap();
    }
    let page = |page_token: String| pb::ListWebhookSubscriptionsRequest {
        page_size: 1,
        page_token,
    };
    let first = client
        .list_webhook_subscriptions(authed(&token, page(String::new())))
        .await
        .unwrap()
        .into_inner();
    // The token is the service's own, its cursor replaced by a NUL byte
    // (the database refuses one in TEXT: this was INTERNAL).
    let mut decoded: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&first.next_page_token).unwrap()).unwrap();
    decoded["c"] = serde_json::Value::String("\0".into());
    let doctored = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&decoded).unwrap());
    assert_invalid(
        client
            .list_webhook_subscriptions(authed(&token, page(doctored)))
            .await,
        "page_token",
    );
    let second = client
        .list_webhook_subscriptions(authed(&token, page(first.next_page_token)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second.webhook_subscriptions.len(),
        1,
        "the real token pages on"
    );
}

#[tokio::test]
async fn the_directory_refuses_units_and_regions_at_the_wrong_level() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    // Routing finds a district by six digits: never found.
    for (kind, region) in [(pb::UnitKind::District, "330106001")] {
        let unit = pb::CreateUnitRequest {
            unit_id: "wrong-level".into(),
            unit: Some(pb::Unit {
                display_name: "错层单位".into(),
                kind: kind as i32,
                region_code: region.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_invalid(
            admin
                .directory
                .create_unit(authed(&admin.token, unit))
                .await,
            "unit.region_code",
        );
    }
    app.add_regions(&["330106", "330108"]).await;
    let region = |parent: &str| pb::CreateRegionRequest {
        region: Some(pb::Region {
            code: "330106001".into(),
            display_name: "西溪街道".into(),
            parent: format!("regions/{parent}"),
            ..Default::default()
        }),
    };
    assert_invalid(
        admin
            .directory
            .create_region(authed(&admin.token, region("330108")))
            .await,
        "region.parent",
    );
    admin
        .directory
        .create_region(authed(&admin.token, region("330106")))
        .await
        .expect("under its own district");
}
