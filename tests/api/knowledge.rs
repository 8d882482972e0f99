//! KnowledgeService through the real client: the review workflow and its
//! audit, permissions per role, search and suggestions after publishing,
//! retired and expired articles never returned, garbage queries, imports.

use hotline::proto::v1 as pb;
use tonic::Code;

use crate::{
    helpers::{error_reason, spawn_app},
    knowledge_client::{article, gas_article, publish, refused},
};

#[tokio::test]
async fn an_article_goes_from_draft_through_review_to_search_and_retirement() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut unit = app.unit_user("market-regulation").kb();
    let mut centre = app.supervisor("3301").kb();
    let mut agent = app.agent().kb();

    let draft = unit.create(gas_article()).await.unwrap();
    assert_eq!(draft.state, pb::ArticleState::Draft as i32);
    assert_eq!((draft.version, draft.published_version), (1, 0));
    assert!(
        agent.found("燃气泄漏").await.is_empty(),
        "a draft is not searchable"
    );

    let mut edit = draft.clone();
    edit.body = format!("{}抢修人员 30 分钟内到场。", draft.body);
    let edited = unit.update(edit, &["body"]).await.unwrap();
    assert_eq!(edited.version, 2);
    assert_ne!(edited.etag, draft.etag);

    let submitted = unit.submit(&draft.name).await.unwrap();
    assert_eq!(submitted.state, pb::ArticleState::InReview as i32);
    let rejected = centre
        .reject(&draft.name, "请补充到场时限的依据")
        .await
        .unwrap();
    assert_eq!(rejected.state, pb::ArticleState::Draft as i32);
    assert_eq!(rejected.reject_reason, "请补充到场时限的依据");
    unit.submit(&draft.name).await.unwrap();
    let published = centre.approve(&draft.name).await.unwrap();
    assert_eq!(published.state, pb::ArticleState::Published as i32);
    assert_eq!(published.published_version, 2);

    let hits = agent
        .search(pb::SearchArticlesRequest {
            query: "家里燃气泄漏了怎么办".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .hits;
    assert_eq!(
        hits.first().map(|h| h.article.as_str()),
        Some(draft.name.as_str())
    );
    assert_eq!(hits[0].version, 2);
    assert!(hits[0].snippet.contains("<em>"), "{:?}", hits[0].snippet);
    assert!(hits[0].score > 0.0);
    let suggested = agent
        .suggest(pb::SuggestArticlesRequest {
            title: "闻到煤气味".into(),
            description: "市民反映家中燃气泄漏，询问抢修电话。".into(),
            region_code: "330106".into(),
            subject_code: "01.02".into(),
            k: 3,
        })
        .await
        .unwrap();
    assert_eq!(
        suggested.first().map(|h| h.article.as_str()),
        Some(draft.name.as_str())
    );

    let versions = agent.versions(&draft.name).await;
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        versions[0].body,
        gas_article().body,
        "the history keeps version 1"
    );
    let trail: Vec<(String, String)> = agent
        .events(&draft.name)
        .await
        .into_iter()
        .map(|e| (e.kind, e.actor))
        .collect();
    let unit_actor = "handler-market-regulation".to_owned();
    let centre_actor = "sup-3301".to_owned();
    assert_eq!(
        trail,
        [
            ("created".into(), unit_actor.clone()),
            ("updated".into(), unit_actor.clone()),
            ("submitted".into(), unit_actor.clone()),
            ("rejected".into(), centre_actor.clone()),
            ("submitted".into(), unit_actor),
            ("approved".into(), centre_actor.clone()),
        ]
    );

    let retired = centre.retire(&draft.name).await.unwrap();
    assert_eq!(retired.state, pb::ArticleState::Retired as i32);
    assert!(
        agent.found("燃气泄漏").await.is_empty(),
        "retired: never returned"
    );
    refused(unit.submit(&draft.name).await, Code::FailedPrecondition);
}

#[tokio::test]
async fn each_role_may_do_only_its_part() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut unit = app.unit_user("market-regulation").kb();
    let mut other_unit = app.unit_user("xihu-street").kb();
    let mut agent = app.agent().kb();
    let mut admin = app.admin().kb();
    let mut supervisor = app.supervisor("3301").kb();

    refused(agent.create(gas_article()).await, Code::PermissionDenied);
    refused(
        supervisor.create(gas_article()).await,
        Code::PermissionDenied,
    );
    refused(
        other_unit.create(gas_article()).await,
        Code::PermissionDenied,
    );
    let draft = unit.create(gas_article()).await.unwrap();
    let mut edit = draft.clone();
    edit.title = "改标题".into();
    refused(
        agent.update(edit.clone(), &["title"]).await,
        Code::PermissionDenied,
    );
    refused(
        other_unit.update(edit.clone(), &["title"]).await,
        Code::PermissionDenied,
    );
    refused(
        supervisor.update(edit.clone(), &["title"]).await,
        Code::PermissionDenied,
    );
    refused(other_unit.submit(&draft.name).await, Code::PermissionDenied);
    refused(supervisor.submit(&draft.name).await, Code::PermissionDenied);
    unit.submit(&draft.name).await.unwrap();
    refused(unit.approve(&draft.name).await, Code::PermissionDenied);
    refused(agent.approve(&draft.name).await, Code::PermissionDenied);
    refused(
        unit.reject(&draft.name, "自己驳回").await,
        Code::PermissionDenied,
    );
    admin.approve(&draft.name).await.unwrap();
    refused(unit.retire(&draft.name).await, Code::PermissionDenied);
    assert_eq!(
        agent.get(&draft.name).await.unwrap().title,
        "燃气泄漏报修电话"
    );
    assert_eq!(
        agent.found("燃气").await,
        std::slice::from_ref(&draft.name),
        "agents search"
    );
    let auditor = app.auditor();
    refused(
        auditor.kb().found_checked("燃气").await,
        Code::PermissionDenied,
    );

    let stale = pb::Article {
        etag: "1".into(),
        ..edit
    };
    let status = unit.update(stale, &["title"]).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "a stale etag: {status:?}");
}

#[tokio::test]
async fn a_revision_keeps_the_published_version_served_until_approved() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let published = publish(&app, gas_article()).await;
    let mut unit = app.unit_user("market-regulation").kb();
    let mut agent = app.agent().kb();
    let mut revision = published.clone();
    revision.title = "燃气抢修与停气查询".into();
    revision.body = "停气计划可在燃气公司公众号查询。".into();
    let draft = unit.update(revision, &["title", "body"]).await.unwrap();
    assert_eq!(draft.state, pb::ArticleState::Draft as i32);
    assert_eq!((draft.version, draft.published_version), (2, 1));
    assert_eq!(
        agent.found("96777").await,
        std::slice::from_ref(&published.name),
        "v1 still served"
    );
    assert!(
        agent.found("公众号").await.is_empty(),
        "the revision is not"
    );
    unit.submit(&draft.name).await.unwrap();
    app.supervisor("3301")
        .kb()
        .approve(&draft.name)
        .await
        .unwrap();
    assert_eq!(
        agent.found("公众号").await,
        std::slice::from_ref(&published.name)
    );
    assert!(agent.found("96777").await.is_empty(), "v1 replaced");
}

#[tokio::test]
async fn expired_and_not_yet_effective_articles_are_never_returned() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut expired = article("旧版居住证办理指南", "居住证办理需到派出所，旧规定。");
    expired.effective_date = "2025-01-01".into();
    expired.expire_date = "2026-11-22".into();
    let mut future = article("新版居住证办理指南", "居住证可在线办理，新规定。");
    future.effective_date = "2026-11-24".into();
    future.expire_date = String::new();
    let mut current = article("居住证办理指南", "居住证办理携带身份证和租房合同。");
    current.expire_date = "2026-11-23".into();
    publish(&app, expired).await;
    publish(&app, future).await;
    let current = publish(&app, current).await;
    let mut agent = app.agent().kb();
    assert_eq!(
        agent.found("居住证办理").await,
        std::slice::from_ref(&current.name)
    );

    let mut district = article("西湖区停车收费标准", "西湖区道路停车每小时 5 元。");
    district.region_codes = vec!["330106".into()];
    let district = publish(&app, district).await;
    let in_region = |code: &str| pb::SearchArticlesRequest {
        query: "停车收费".into(),
        region_code: code.into(),
        ..Default::default()
    };
    let street = agent.search(in_region("330106001")).await.unwrap().hits;
    assert_eq!(
        street.len(),
        1,
        "a district's article applies to its streets"
    );
    assert_eq!(street[0].article, district.name);
    assert!(
        agent
            .search(in_region("330105"))
            .await
            .unwrap()
            .hits
            .is_empty()
    );
}

#[tokio::test]
async fn garbage_queries_get_an_answer_or_invalid_argument() {
    let app = spawn_app().await;
    app.seed_directory().await;
    publish(&app, gas_article()).await;
    let mut agent = app.agent().kb();
    let search = |query: String| pb::SearchArticlesRequest {
        query,
        ..Default::default()
    };
    for (query, field) in [
        (String::new(), "query"),
        ("   ".to_owned(), "query"),
        ("燃".repeat(100_000), "query"),
    ] {
        let status = agent.search(search(query)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(error_reason(&status).1, [field]);
    }
    // Nothing searchable in it: refused, naming the field.
    for query in ["！？。，、；：“”（）…", "\u{0}\u{200b}\u{feff}"] {
        let status = agent.search(search(query.to_owned())).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{query}: {status:?}");
        assert_eq!(error_reason(&status).1, ["query"], "{query}");
    }
    // Query syntax is text, and other scripts beside Chinese are searched.
    for query in [
        "\"燃气\" AND (title:96777 OR body:*) NOT -+~^",
        "gas 泄漏 ガス漏れ 🔥 утечка",
    ] {
        let hits = agent.search(search(query.to_owned())).await.unwrap().hits;
        assert_eq!(hits.len(), 1, "{query}: {hits:?}");
    }
    let bad_subject = pb::SearchArticlesRequest {
        query: "燃气".into(),
        subject_code: "gas".into(),
        ..Default::default()
    };
    let status = agent.search(bad_subject).await.unwrap_err();
    assert_eq!(error_reason(&status).1, ["subject_code"]);
    let huge = pb::SuggestArticlesRequest {
        description: "燃气".repeat(50_000),
        ..Default::default()
    };
    let status = agent.suggest(huge).await.unwrap_err();
    assert_eq!(error_reason(&status).1, ["description"]);
    let empty = agent.suggest(pb::SuggestArticlesRequest::default()).await;
    refused(empty, Code::InvalidArgument);
    let punctuation = pb::SuggestArticlesRequest {
        title: "？？？".into(),
        description: "！！！".into(),
        k: 1000,
        ..Default::default()
    };
    let status = agent.suggest(punctuation).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(error_reason(&status).1, ["description"]);
    let wide = pb::SuggestArticlesRequest {
        title: "燃气泄漏".into(),
        k: 1000,
        ..Default::default()
    };
    let hits = agent.suggest(wide).await.unwrap();
    assert_eq!(
        hits.len(),
        1,
        "a k above suggest_limit is coerced, not refused"
    );
}

#[tokio::test]
async fn searches_and_lists_page() {
    let app = spawn_app().await;
    app.seed_directory().await;
    for i in 0..5 {
        publish(
            &app,
            article(&format!("供水报修指南 {i}"), "停水请拨打自来水公司热线。"),
        )
        .await;
    }
    let mut agent = app.agent().kb();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = agent
            .search(pb::SearchArticlesRequest {
                query: "停水".into(),
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.hits.into_iter().map(|h| h.article));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "every hit once");
    let page = agent
        .list(pb::ListArticlesRequest {
            page_size: 3,
            state: pb::ArticleState::Published as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.articles.len(), 3);
    let rest = agent
        .list(pb::ListArticlesRequest {
            page_size: 3,
            state: pb::ArticleState::Published as i32,
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.articles.len(), 2);
    assert!(rest.next_page_token.is_empty());
}

#[tokio::test]
async fn imports_draft_articles_from_markdown_and_csv() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut unit = app.unit_user("market-regulation").kb();
    let md = "+++\ntitle = \"食品投诉渠道\"\nsubject_codes = [\"01.02\"]\ntags = [\"食品\"]\n+++\n\
              食品安全问题可拨打 12315。\n";
    let csv = "title,body,region_codes\n价格投诉,价格问题可拨打 12315。,330106\n";
    let files = vec![
        pb::ImportArticleFile {
            file_name: "food.md".into(),
            content: md.into(),
        },
        pb::ImportArticleFile {
            file_name: "more.csv".into(),
            content: csv.into(),
        },
    ];
    let request = |files| pb::ImportArticlesRequest {
        owner_unit: "units/market-regulation".into(),
        files,
        ..Default::default()
    };
    let imported = unit.import(request(files.clone())).await.unwrap();
    let titles: Vec<&str> = imported.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(titles, ["食品投诉渠道", "价格投诉"]);
    assert!(
        imported
            .iter()
            .all(|a| a.state == pb::ArticleState::Draft as i32)
    );
    let events = unit.events(&imported[0].name).await;
    assert_eq!(events[0].kind, "imported");

    let mut broken = files;
    broken.push(pb::ImportArticleFile {
        file_name: "notes.txt".into(),
        content: "x".into(),
    });
    let status = unit.import(request(broken)).await.unwrap_err();
    assert_eq!(error_reason(&status).1, ["files[2].file_name"]);
    let listed = unit.list(pb::ListArticlesRequest::default()).await.unwrap();
    assert_eq!(listed.articles.len(), 2, "a broken import writes nothing");
    refused(
        app.agent().kb().import(request(Vec::new())).await,
        Code::PermissionDenied,
    );

    let id = "0193a5c0-0000-7000-8000-0000000000aa";
    let chosen = unit.create_with_id(gas_article(), id).await.unwrap();
    assert_eq!(chosen.name, format!("articles/{id}"));
    let retry = unit.create_with_id(gas_article(), id).await;
    refused(retry, Code::AlreadyExists);
    let status = unit
        .create_with_id(gas_article(), "nope")
        .await
        .unwrap_err();
    assert_eq!(error_reason(&status).1, ["article_id"]);
}
