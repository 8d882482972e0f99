//! The knowledge base on the admin port's `/metrics`: searches and
//! suggestions by outcome and their latency, the articles the index
//! serves, and how far a replica's follower lags behind the database.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use hotline::{
    proto::v1::{self as pb, metrics_service_client::MetricsServiceClient},
    store::testing::TestBackend,
};

use crate::{
    helpers::{TestApp, authed, complaint, spawn_app, spawn_app_on},
    knowledge_client::{gas_article, publish},
    ops::Scrape,
};

fn queries(scrape: &Scrape, kind: &str, outcome: &str) -> f64 {
    let (kind, outcome) = (format!("kind=\"{kind}\""), format!("outcome=\"{outcome}\""));
    scrape
        .get("hotline_knowledge_queries_total", &[&kind, &outcome])
        .unwrap_or_else(|| panic!("no {kind} {outcome} series"))
}

fn call(title: &str, description: &str) -> pb::SuggestArticlesRequest {
    pb::SuggestArticlesRequest {
        title: title.into(),
        description: description.into(),
        k: 3,
        ..Default::default()
    }
}

#[tokio::test]
async fn searches_and_suggestions_are_counted_by_outcome_and_timed() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let before = Scrape::of(&app).await;
    for outcome in ["hits", "empty", "invalid", "error"] {
        assert_eq!(queries(&before, "suggest", outcome), 0.0, "registered at 0");
    }
    assert_eq!(
        before.get("hotline_knowledge_index_documents", &[]),
        Some(0.0)
    );
    publish(&app, gas_article()).await;

    let mut agent = app.agent().kb();
    let hits = agent.suggest(call("燃气泄漏", "闻到燃气味")).await.unwrap();
    assert_eq!(hits.len(), 1);
    agent.suggest(call("！？", "……")).await.unwrap_err();
    agent.suggest(call("宠物", "小狗走丢了")).await.unwrap();
    assert_eq!(agent.found("燃气").await.len(), 1);
    agent.found_checked("").await.unwrap_err();
    // Not a search: a role that may not read is refused before counting.
    let auditor = app.auditor();
    auditor.kb().found_checked("燃气").await.unwrap_err();

    let after = Scrape::of(&app).await;
    let counted = [
        ("suggest", "hits", 1.0),
        ("suggest", "invalid", 1.0),
        ("suggest", "empty", 1.0),
        ("suggest", "error", 0.0),
        ("search", "hits", 1.0),
        ("search", "invalid", 1.0),
        ("search", "empty", 0.0),
    ];
    for (kind, outcome, n) in counted {
        assert_eq!(queries(&after, kind, outcome), n, "{kind} {outcome}");
    }
    let timed = |kind: &str| {
        after.get(
            "hotline_knowledge_query_duration_seconds_count",
            &[&format!("kind=\"{kind}\"")],
        )
    };
    assert_eq!((timed("suggest"), timed("search")), (Some(3.0), Some(2.0)));
    assert_eq!(
        after.get("hotline_knowledge_index_documents", &[]),
        Some(1.0)
    );
}

/// Polls `app`'s lag gauge until `check` holds; fails after `within`.
async fn lag_until(app: &TestApp, within: Duration, check: impl Fn(f64) -> bool) -> f64 {
    let started = Instant::now();
    loop {
        let lag = Scrape::of(app)
            .await
            .get("hotline_knowledge_follow_lag", &[])
            .unwrap();
        if check(lag) {
            return lag;
        }
        assert!(started.elapsed() < within, "lag stayed at {lag}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A replica's follower reads the lag before applying what built up since
/// its last round: the changes another replica committed meanwhile (a
/// publication is three: create, submit, approve), then none.
#[tokio::test]
async fn the_follow_lag_counts_the_changes_a_replica_has_not_applied() {
    let (first, second) = TestBackend::from_env().fresh_store_pair().await;
    let writer = spawn_app_on(first, |_| {}).await;
    writer.seed_directory().await;
    // Rounds 2 s apart: the lag shows between two rounds, a window the
    // 25 ms polls must not miss on a loaded machine.
    let reader = spawn_app_on(second, |s| s.knowledge.follow_interval_ms = 2_000).await;
    assert_eq!(
        lag_until(&reader, Duration::from_secs(5), |l| l == 0.0).await,
        0.0
    );

    publish(&writer, gas_article()).await;
    let seen = lag_until(&reader, Duration::from_secs(8), |l| l > 0.0).await;
    assert!(seen <= 3.0, "{seen}");
    lag_until(&reader, Duration::from_secs(8), |l| l == 0.0).await;
    let scrape = Scrape::of(&reader).await;
    assert_eq!(
        scrape.get("hotline_knowledge_index_documents", &[]),
        Some(1.0)
    );
}

/// The scorecards list the articles cited by their days' resolutions at
/// intake: the centre's (beside its direct-answer rate), the owner unit's
/// and its region's; not another unit's. Days are the centre's (UTC+8).
#[tokio::test]
async fn scorecards_list_the_articles_their_days_cited() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let published = publish(&app, gas_article()).await;
    let mut agent = app.agent();
    // The test clock stands at 10:00 on 2026-11-23 in the centre; the third
    // resolution is at 07:01 on 11-24 there, still 11-23 in UTC.
    for minutes in [0, 1, 21 * 60] {
        app.clock.advance(TimeDelta::minutes(minutes));
        let ticket = agent.create(complaint()).await;
        let request = pb::ResolveAtIntakeRequest {
            name: ticket.name,
            answer: "已告知燃气抢修电话 96777".into(),
            article_ids: vec![published.name.clone()],
            ..Default::default()
        };
        let mut tickets = agent.tickets.clone();
        tickets
            .resolve_at_intake(authed(&agent.token, request))
            .await
            .unwrap();
    }
    let mut metrics = MetricsServiceClient::new(agent.channel());
    for (day, unit, region, uses) in [
        ("2026-11-23", "", "", Some(2)),
        ("2026-11-24", "", "", Some(1)),
        ("2026-11-23", "units/market-regulation", "", Some(2)),
        ("2026-11-23", "", "330106", Some(2)),
        ("2026-11-23", "units/xihu-street", "", None),
    ] {
        let request = pb::GetUnitScorecardRequest {
            unit: unit.into(),
            region_code: region.into(),
            start_day: day.into(),
            end_day: day.into(),
            ..Default::default()
        };
        let card = metrics.get_unit_scorecard(authed(&agent.token, request));
        let card = card.await.unwrap().into_inner();
        let listed: Vec<_> = card
            .cited_articles
            .iter()
            .map(|u| (u.article.as_str(), u.title.as_str(), u.uses))
            .collect();
        let expected: Vec<_> = uses
            .map(|n| (published.name.as_str(), "燃气泄漏报修电话", n))
            .into_iter()
            .collect();
        assert_eq!(listed, expected, "{day} {unit}{region}");
        if unit.is_empty() && region.is_empty() {
            let rate = card
                .ratios
                .iter()
                .find(|r| r.metric == "resolved_at_intake");
            assert_eq!(rate.map(|r| r.numerator), uses, "{day}");
        }
    }
    let uses = |card: pb::GetUnitScorecardResponse| -> Vec<i64> {
        card.cited_articles.iter().map(|u| u.uses).collect()
    };
    // The owner unit's handler reads its own unit's, over both days.
    let handler = app.unit_user("market-regulation");
    let own = pb::GetUnitScorecardRequest {
        unit: "units/market-regulation".into(),
        start_day: "2026-11-23".into(),
        end_day: "2026-11-24".into(),
        ..Default::default()
    };
    let card = MetricsServiceClient::new(handler.channel())
        .get_unit_scorecard(authed(&handler.token, own))
        .await
        .unwrap();
    assert_eq!(uses(card.into_inner()), [3]);
    // A frozen month lists its citations too (counted from the log, which
    // later changes do not rewrite).
    app.clock.advance(TimeDelta::days(8));
    let admin = app.admin();
    let freeze = pb::FreezeMonthRequest {
        month: "2026-11".into(),
    };
    MetricsServiceClient::new(admin.channel())
        .freeze_month(authed(&admin.token, freeze))
        .await
        .unwrap();
    let frozen = pb::GetUnitScorecardRequest {
        frozen_month: "2026-11".into(),
        ..Default::default()
    };
    let card = metrics.get_unit_scorecard(authed(&agent.token, frozen));
    assert_eq!(uses(card.await.unwrap().into_inner()), [3]);
}
