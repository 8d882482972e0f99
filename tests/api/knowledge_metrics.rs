//! The knowledge base on the admin port's `/metrics`: searches and
//! suggestions by outcome and their latency, the articles the index
//! serves, and how far a replica's follower lags behind the database.

use std::time::{Duration, Instant};

use hotline::{proto::v1 as pb, store::testing::TestBackend};

use crate::{
    helpers::{TestApp, spawn_app, spawn_app_on},
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
