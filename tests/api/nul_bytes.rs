//! Text holding a NUL character is INVALID_ARGUMENT naming the field, as
//! other clients than ours may send one. PostgreSQL's text types cannot
//! store NUL: before the check, these requests reached the database and
//! failed INTERNAL there (and were stored on SQLite). Run on SQLite here
//! and on PostgreSQL with `TEST_DATABASE_URL`.

use hotline::{
    proto::v1::{
        self as pb, audit_service_client::AuditServiceClient,
        knowledge_service_client::KnowledgeServiceClient,
        webhook_service_client::WebhookServiceClient,
    },
    store::TicketQuery,
};
use tonic::Code;

use crate::{
    helpers::{authed, complaint, error_reason, spawn_app},
    knowledge_client::article,
};

const NUL: &str = "噪音\u{0}扰民";

/// The call failed INVALID_ARGUMENT naming exactly `field`.
fn assert_names<T: std::fmt::Debug>(result: Result<T, tonic::Status>, field: &str) {
    let err = result.expect_err(field);
    assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
    assert_eq!(
        error_reason(&err),
        ("INVALID_FIELD".into(), vec![field.to_owned()])
    );
}

#[tokio::test]
async fn nul_in_ticket_text_request_ids_and_filters_names_the_field() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    for (field, break_it) in [
        (
            "ticket.title",
            (|t: &mut pb::Ticket| t.title = NUL.into()) as fn(&mut pb::Ticket),
        ),
        ("ticket.description", |t| t.description = NUL.into()),
        ("ticket.address", |t| t.address = NUL.into()),
    ] {
        let mut t = complaint();
        break_it(&mut t);
        assert_names(agent.try_create(t, "").await, field);
    }
    assert_names(agent.try_create(complaint(), NUL).await, "request_id");
    let stored = app.store.list_tickets(&TicketQuery::all(10)).await.unwrap();
    assert!(stored.is_empty(), "no ticket was written");

    let list = pb::ListTicketsRequest {
        legacy_number: NUL.into(),
        ..Default::default()
    };
    let listed = agent.tickets.list_tickets(authed(&agent.token, list)).await;
    assert_names(listed, "legacy_number");

    let (a, b) = (
        agent.create(complaint()).await,
        agent.create(complaint()).await,
    );
    let merge = pb::MergeTicketsRequest {
        primary: a.name,
        duplicates: vec![b.name],
        reason: "同一事项".into(),
        request_id: NUL.into(),
        ..Default::default()
    };
    let merged = agent
        .dispatch
        .merge_tickets(authed(&agent.token, merge))
        .await;
    assert_names(merged, "request_id");

    let mut admin = app.admin();
    let train = pb::TrainDispatchModelRequest { note: NUL.into() };
    let trained = admin
        .models
        .train_dispatch_model(authed(&admin.token, train))
        .await;
    assert_names(trained, "note");

    let mut audit = AuditServiceClient::new(app.channel.clone());
    let read = pb::ListPiiAccessRequest {
        reader: NUL.into(),
        ..Default::default()
    };
    let read = audit
        .list_pii_access(authed(&app.auditor().token, read))
        .await;
    assert_names(read, "reader");
}

#[tokio::test]
async fn nul_in_webhook_names_and_descriptions_names_the_field() {
    let app = spawn_app().await;
    let token = app.admin().token;
    let mut hooks = WebhookServiceClient::new(app.channel.clone());
    let name = format!("webhookSubscriptions/{NUL}");
    let got = hooks
        .get_webhook_subscription(authed(
            &token,
            pb::GetWebhookSubscriptionRequest { name: name.clone() },
        ))
        .await;
    assert_names(got, "name");
    let deleted = hooks
        .delete_webhook_subscription(authed(
            &token,
            pb::DeleteWebhookSubscriptionRequest { name: name.clone() },
        ))
        .await;
    assert_names(deleted, "name");
    let deliveries = pb::ListWebhookDeliveriesRequest {
        parent: name,
        ..Default::default()
    };
    let listed = hooks
        .list_webhook_deliveries(authed(&token, deliveries))
        .await;
    assert_names(listed, "parent");

    let create = pb::CreateWebhookSubscriptionRequest {
        webhook_subscription: Some(pb::WebhookSubscription {
            url: "https://example.com/hooks".into(),
            secret: "0123456789abcdef0123456789abcdef".into(),
            active: true,
            description: NUL.into(),
            ..Default::default()
        }),
    };
    let created = hooks
        .create_webhook_subscription(authed(&token, create))
        .await;
    assert_names(created, "webhook_subscription.description");
    assert!(
        crate::webhooks::subscriptions(&app).await.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn nul_in_article_text_and_imports_names_the_field() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let token = app.unit_user("market-regulation").token;
    let mut kb = KnowledgeServiceClient::new(app.channel.clone());
    for (field, a, request_id) in [
        ("article.title", article(NUL, "正文"), ""),
        ("article.body", article("标题", NUL), ""),
        ("request_id", article("标题", "正文"), NUL),
    ] {
        let create = pb::CreateArticleRequest {
            article: Some(a),
            request_id: request_id.into(),
            ..Default::default()
        };
        assert_names(kb.create_article(authed(&token, create)).await, field);
    }
    let import = pb::ImportArticlesRequest {
        owner_unit: "units/market-regulation".into(),
        files: vec![pb::ImportArticleFile {
            file_name: "gas.md".into(),
            content: format!("# 燃气报修\n{NUL}"),
        }],
        ..Default::default()
    };
    let imported = kb.import_articles(authed(&token, import)).await;
    assert_names(imported, "files[0].content");
    let listed = kb
        .list_articles(authed(&token, pb::ListArticlesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.articles.is_empty(), "nothing was stored");
}
