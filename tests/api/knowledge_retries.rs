//! Safe retries of the knowledge base's writes (AIP-155), through the real
//! client: every write method takes a `request_id`; a retry of the same
//! request gets the first answer and acts once; the key reused for another
//! request is INVALID_ARGUMENT `REQUEST_ID_REUSED` naming what it produced.

use hotline::proto::v1 as pb;
use tonic::{Code, Status};

use crate::{
    helpers::{As, TestApp, authed, complaint, error_reason, spawn_app},
    knowledge_client::{Kb, article, gas_article, publish, refused, update_request},
};

/// Asserts the refusal of a reused key: INVALID_ARGUMENT
/// `REQUEST_ID_REUSED` on `request_id`.
fn assert_reused<T: std::fmt::Debug>(result: Result<T, Status>) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let (reason, fields) = error_reason(&status);
    assert_eq!(reason, "REQUEST_ID_REUSED", "{status:?}");
    assert_eq!(fields, ["request_id"], "{status:?}");
}

async fn app() -> TestApp {
    let app = spawn_app().await;
    app.seed_directory().await;
    app
}

fn create(a: pb::Article, request_id: &str) -> pb::CreateArticleRequest {
    pb::CreateArticleRequest {
        article: Some(a),
        request_id: request_id.into(),
        ..Default::default()
    }
}

async fn article_count(kb: &mut Kb) -> usize {
    let listed = kb.list(pb::ListArticlesRequest::default()).await;
    listed.expect("list").articles.len()
}

#[tokio::test]
async fn a_retried_create_or_import_gets_the_first_articles_and_writes_once() {
    let app = app().await;
    let mut unit = app.unit_user("market-regulation").kb();
    let first = unit
        .create_with(create(gas_article(), "c-1"))
        .await
        .unwrap();
    let again = unit
        .create_with(create(gas_article(), "c-1"))
        .await
        .unwrap();
    assert_eq!(again, first, "the retry answers with the first article");
    assert_eq!(article_count(&mut unit).await, 1);
    let other = article("停水通知", "计划停水请关注公告。");
    assert_reused(unit.create_with(create(other, "c-1")).await);
    assert_eq!(
        article_count(&mut unit).await,
        1,
        "the refusal wrote nothing"
    );
    // Keys are the caller's own: another user's same id is another request.
    let mut admin = app.admin().kb();
    let theirs = admin
        .create_with(create(gas_article(), "c-1"))
        .await
        .unwrap();
    assert_ne!(theirs.name, first.name);

    let import = |csv: &str| pb::ImportArticlesRequest {
        owner_unit: "units/market-regulation".into(),
        files: vec![pb::ImportArticleFile {
            file_name: "answers.csv".into(),
            content: csv.into(),
        }],
        request_id: "i-1".into(),
    };
    let csv = "title,body\n价格投诉,价格问题可拨打 12315。\n食品投诉,食品问题可拨打 12315。\n";
    let imported = unit.import(import(csv)).await.unwrap();
    assert_eq!(imported.len(), 2);
    let retried = unit.import(import(csv)).await.unwrap();
    assert_eq!(retried, imported, "the same articles, in the same order");
    assert_eq!(article_count(&mut unit).await, 4);
    assert_reused(unit.import(import("title,body\n别的,别的内容。\n")).await);
    // The key of an import is not a create's.
    assert_reused(unit.create_with(create(gas_article(), "i-1")).await);
    assert_eq!(article_count(&mut unit).await, 4);
}

#[tokio::test]
async fn a_retried_change_gets_the_first_answer_where_a_repeat_would_fail() {
    let app = app().await;
    let mut unit = app.unit_user("market-regulation").kb();
    let draft = unit.create(gas_article()).await.unwrap();
    let name = draft.name.clone();

    // Update against an etag: the retry's etag is stale by then, yet it is
    // answered, and no third version is written.
    let edited = pb::Article {
        body: "请立即关闭阀门并拨打 96777。".into(),
        ..draft.clone()
    };
    let update = || update_request(edited.clone(), &["body"], "u-1");
    let updated = unit.update_with(update()).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(unit.update_with(update()).await.unwrap(), updated);
    assert_eq!(unit.versions(&name).await.len(), 2);
    let stale = update_request(edited.clone(), &["body"], "");
    refused(unit.update_with(stale).await, Code::Aborted);

    // Submit: a repeat without a key is an illegal move; with it, the answer.
    let submit = |request_id: &str| pb::SubmitArticleRequest {
        name: name.clone(),
        etag: updated.etag.clone(),
        request_id: request_id.into(),
    };
    let submitted = unit.submit_with(submit("s-1")).await.unwrap();
    assert_eq!(submitted.state, pb::ArticleState::InReview as i32);
    assert_eq!(unit.submit_with(submit("s-1")).await.unwrap(), submitted);
    refused(unit.submit(&name).await, Code::FailedPrecondition);

    let mut supervisor = app.supervisor("3301").kb();
    let reject = |reason: &str| pb::RejectArticleRequest {
        name: name.clone(),
        reason: reason.into(),
        request_id: "r-1".into(),
        ..Default::default()
    };
    let rejected = supervisor
        .reject_with(reject("电话号码请核实"))
        .await
        .unwrap();
    assert_eq!(rejected.state, pb::ArticleState::Draft as i32);
    assert_eq!(
        supervisor
            .reject_with(reject("电话号码请核实"))
            .await
            .unwrap(),
        rejected
    );
    assert_reused(supervisor.reject_with(reject("另一个理由")).await);

    unit.submit(&name).await.unwrap();
    let approve = || pb::ApproveArticleRequest {
        name: name.clone(),
        request_id: "a-1".into(),
        ..Default::default()
    };
    let approved = supervisor.approve_with(approve()).await.unwrap();
    assert_eq!(approved.state, pb::ArticleState::Published as i32);
    assert_eq!(supervisor.approve_with(approve()).await.unwrap(), approved);

    let retire = |request_id: &str| pb::RetireArticleRequest {
        name: name.clone(),
        request_id: request_id.into(),
        ..Default::default()
    };
    let retired = supervisor.retire_with(retire("t-1")).await.unwrap();
    assert_eq!(retired.state, pb::ArticleState::Retired as i32);
    assert_eq!(
        supervisor.retire_with(retire("t-1")).await.unwrap(),
        retired
    );
    // The approval's key on another method is another request.
    assert_reused(supervisor.retire_with(retire("a-1")).await);

    let kinds: Vec<String> = unit
        .events(&name)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "updated",
            "submitted",
            "rejected",
            "submitted",
            "approved",
            "retired"
        ],
        "each change once, retries included"
    );
}

#[tokio::test]
async fn the_key_of_a_change_belongs_to_its_article() {
    let app = app().await;
    let mut unit = app.unit_user("market-regulation").kb();
    let a = unit.create(gas_article()).await.unwrap();
    let b = unit
        .create(article("停水通知", "计划停水请关注公告。"))
        .await
        .unwrap();
    let submit = |name: &str| pb::SubmitArticleRequest {
        name: name.into(),
        request_id: "s-1".into(),
        ..Default::default()
    };
    unit.submit_with(submit(&a.name)).await.unwrap();
    let status = unit.submit_with(submit(&b.name)).await.unwrap_err();
    let resource = {
        use tonic_types::StatusExt;
        status
            .get_error_details()
            .error_info()
            .and_then(|i| i.metadata.get("resource").cloned())
    };
    assert_eq!(resource.as_deref(), Some(a.name.as_str()), "{status:?}");
    assert_eq!(
        unit.get(&b.name).await.unwrap().state,
        pb::ArticleState::Draft as i32,
        "the other article is untouched"
    );
}

/// Retries racing the first attempt: every one is answered with the one
/// change, which is made once.
#[tokio::test]
async fn concurrent_retries_of_a_change_commit_once() {
    let app = app().await;
    let unit = app.unit_user("market-regulation").kb();
    let draft = unit.clone().create(gas_article()).await.unwrap();
    let attempts: Vec<_> = (0..6)
        .map(|_| {
            let mut kb = unit.clone();
            let req = pb::SubmitArticleRequest {
                name: draft.name.clone(),
                etag: draft.etag.clone(),
                request_id: "race-1".into(),
            };
            tokio::spawn(async move { kb.submit_with(req).await })
        })
        .collect();
    let mut answers = Vec::new();
    for attempt in attempts {
        answers.push(attempt.await.unwrap().expect("every retry answered"));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    let submitted = unit.clone().events(&draft.name).await;
    assert_eq!(
        submitted.iter().filter(|e| e.kind == "submitted").count(),
        1
    );
}

/// ResolveAtIntake of `name` by `who`, citing `article`, under `request_id`.
async fn resolve(
    who: &As,
    name: &str,
    article: &str,
    request_id: &str,
) -> Result<pb::Ticket, Status> {
    let request = pb::ResolveAtIntakeRequest {
        name: name.into(),
        answer: "已告知燃气抢修电话 96777".into(),
        article_ids: vec![article.into()],
        request_id: request_id.into(),
        ..Default::default()
    };
    let mut tickets = who.tickets.clone();
    let resolved = tickets
        .resolve_at_intake(authed(&who.token, request))
        .await?;
    Ok(resolved.into_inner().ticket.unwrap_or_default())
}

#[tokio::test]
async fn a_retried_resolution_gets_the_first_answer_after_its_article_is_retired() {
    let app = app().await;
    let published = publish(&app, gas_article()).await;
    let mut agent = app.agent();
    let ticket = agent.create(complaint()).await;
    let first = resolve(&agent, &ticket.name, &published.name, "ri-1")
        .await
        .unwrap();
    assert_eq!(first.state, pb::TicketState::ResolvedAtIntake as i32);

    app.supervisor("3301")
        .kb()
        .retire(&published.name)
        .await
        .unwrap();
    // The retry is answered as the first attempt was, though the article
    // it cites is no longer served; nothing is written twice.
    let again = resolve(&agent, &ticket.name, &published.name, "ri-1").await;
    assert_eq!(again.unwrap(), first);
    let resolutions = agent.events(&ticket.name).await;
    let resolutions = resolutions
        .iter()
        .filter(|e| e.kind == "resolved_at_intake");
    assert_eq!(resolutions.count(), 1);

    // A new resolution citing the retired article is refused, naming it.
    let other = agent.create(complaint()).await;
    let refused_citation = resolve(&agent, &other.name, &published.name, "ri-2").await;
    let status = refused_citation.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(error_reason(&status).1, ["article_ids[0]"], "{status:?}");
    // A role that may not resolve is told so before its citations are read.
    let unit = app.unit_user("market-regulation");
    let status = resolve(&unit, &other.name, &published.name, "ri-3")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}
