//! The knowledge index across restarts and replicas, and citations at
//! intake: a broken index directory is rebuilt at start, one merely behind
//! is caught up instead, one of another database is rebuilt; a publication
//! on one replica reaches another's suggestions within seconds; a
//! resolution at intake cites published articles only, and the citations
//! are counted.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use hotline::{
    proto::v1 as pb,
    store::testing::{FreshDatabase, TestBackend},
};
use tonic::Code;

use crate::{
    helpers::{TestApp, authed, complaint, error_reason, spawn_app, spawn_app_on},
    knowledge_client::{article, gas_article, publish, refused},
    ops::Scrape,
};

fn gas_leak_call() -> pb::SuggestArticlesRequest {
    pb::SuggestArticlesRequest {
        title: "燃气泄漏".into(),
        description: "家里闻到很重的燃气味，想问抢修电话。".into(),
        k: 3,
        ..Default::default()
    }
}

/// Damages the files under `dir` as `damage` does to each (which says
/// whether it touched the file); returns how many it damaged.
fn vandalize(dir: &Path, damage: Damage) -> usize {
    let mut broken = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            broken += vandalize(&path, damage);
        } else if damage(&path) {
            broken += 1;
        }
    }
    broken
}

/// What a damage does to one file of an index directory.
type Damage = fn(&Path) -> bool;

/// Whether `path` is a segment's file (not the index's list of segments,
/// `meta.json`, nor the directory's own bookkeeping).
fn in_a_segment(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.ends_with(".json") && !name.starts_with('.')
}

/// Every file overwritten; the segments' files overwritten; one byte in
/// the middle of the stored documents flipped, which leaves every file
/// openable (documents are read when shown) and only its checksum tells.
const DAMAGES: [(&str, Damage); 3] = [
    ("every file", |path| {
        std::fs::write(path, b"\xffnot an index\x00").unwrap();
        true
    }),
    ("segments overwritten", |path| {
        in_a_segment(path) && {
            std::fs::write(path, b"\xffnot an index\x00").unwrap();
            true
        }
    }),
    ("a byte flipped in the stored documents", |path| {
        let mut bytes = std::fs::read(path).unwrap();
        if path.extension().is_none_or(|e| e != "store") || bytes.len() < 64 {
            return false;
        }
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        std::fs::write(path, bytes).unwrap();
        true
    }),
];

#[tokio::test]
async fn a_broken_index_directory_is_rebuilt_at_start() {
    for (damage, how) in DAMAGES {
        let database = Arc::new(TestBackend::from_env().fresh_database().await);
        let index = tempfile::tempdir().unwrap();
        let first = serve(&database, index.path()).await;
        first.seed_directory().await;
        let published = publish(&first, gas_article()).await;
        stop(first).await;
        assert!(
            vandalize(index.path(), how) > 0,
            "{damage}: the index wrote files to break"
        );

        let restarted = serve(&database, index.path()).await;
        for reason in REASONS {
            let expected = if reason == "broken" { 1.0 } else { 0.0 };
            assert_eq!(
                rebuilds(&restarted, reason).await,
                expected,
                "{damage}: {reason}"
            );
        }
        let suggested = |hits: Vec<pb::ArticleHit>| hits.first().map(|h| h.article.clone());
        let hits = restarted.agent().kb().suggest(gas_leak_call()).await;
        assert_eq!(
            suggested(hits.unwrap()),
            Some(published.name.clone()),
            "{damage}"
        );
        stop(restarted).await;

        // The rebuilt index was written back to the directory, not kept in
        // memory only: the next start opens it as it is.
        let again = serve(&database, index.path()).await;
        for reason in REASONS {
            assert_eq!(
                rebuilds(&again, reason).await,
                0.0,
                "{damage}, again: {reason}"
            );
        }
        let hits = again.agent().kb().suggest(gas_leak_call()).await;
        assert_eq!(
            suggested(hits.unwrap()),
            Some(published.name.clone()),
            "{damage}"
        );
        stop(again).await;
    }
}

/// A server on `database` whose index lives in `dir`.
async fn serve(database: &Arc<FreshDatabase>, dir: &Path) -> TestApp {
    let dir = dir.to_owned();
    spawn_app_on(database.clone().open().await, move |s| {
        s.knowledge.index_dir = dir;
    })
    .await
}

/// Stops a server and waits for it to end.
async fn stop(app: TestApp) {
    let parts = app.into_parts();
    let _ = parts.shutdown.send(());
    parts.server.await.unwrap().unwrap();
}

/// `hotline_knowledge_index_rebuilds_total` of `reason` at `app`.
async fn rebuilds(app: &TestApp, reason: &str) -> f64 {
    let label = format!("reason=\"{reason}\"");
    let scrape = Scrape::of(app).await;
    scrape
        .get("hotline_knowledge_index_rebuilds_total", &[&label])
        .unwrap()
}

const REASONS: [&str; 6] = [
    "missing",
    "broken",
    "other_schema",
    "stale",
    "held_elsewhere",
    "unwritable",
];

/// The names `app`'s search finds for `query`.
async fn found(app: &TestApp, query: &str) -> Vec<String> {
    app.agent().kb().found(query).await
}

/// A replica stopped while another kept publishing starts over its old
/// index and applies the changes it missed, without a rebuild: the articles
/// published and retired meanwhile are served or dropped, and no rebuild
/// is counted.
#[tokio::test]
async fn an_index_merely_behind_is_caught_up_at_start_not_rebuilt() {
    let database = Arc::new(TestBackend::from_env().fresh_database().await);
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = serve(&database, ours.path()).await;
    first.seed_directory().await;
    assert_eq!(rebuilds(&first, "missing").await, 1.0);
    let gas = publish(&first, gas_article()).await;
    stop(first).await;

    let other = serve(&database, theirs.path()).await;
    let water = publish(
        &other,
        article("停水通知", "计划停水请关注自来水公司公告。"),
    )
    .await;
    other
        .supervisor("3301")
        .kb()
        .retire(&gas.name)
        .await
        .unwrap();
    stop(other).await;

    let restarted = serve(&database, ours.path()).await;
    for reason in REASONS {
        assert_eq!(rebuilds(&restarted, reason).await, 0.0, "{reason}");
    }
    assert_eq!(
        found(&restarted, "停水").await,
        std::slice::from_ref(&water.name)
    );
    assert!(
        found(&restarted, "燃气泄漏").await.is_empty(),
        "retired meanwhile"
    );
    let scrape = Scrape::of(&restarted).await;
    assert_eq!(
        scrape.get("hotline_knowledge_index_documents", &[]),
        Some(1.0)
    );
}

/// An index directory that followed another database is rebuilt, even when
/// this database's head is past its stamp: change numbers of another
/// sequence mean other changes.
#[tokio::test]
async fn an_index_of_another_database_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestBackend::from_env().fresh_database().await;
    let elsewhere = serve(&Arc::new(first), dir.path()).await;
    elsewhere.seed_directory().await;
    let gas = publish(&elsewhere, gas_article()).await;
    stop(elsewhere).await;

    let database = Arc::new(TestBackend::from_env().fresh_database().await);
    let other_dir = tempfile::tempdir().unwrap();
    let writer = serve(&database, other_dir.path()).await;
    writer.seed_directory().await;
    for title in ["停水通知", "停电通知"] {
        publish(&writer, article(title, "请关注公告。")).await;
    }
    stop(writer).await;

    let here = serve(&database, dir.path()).await;
    assert_eq!(rebuilds(&here, "stale").await, 1.0);
    assert!(!found(&here, "燃气泄漏").await.contains(&gas.name));
    assert_eq!(found(&here, "停水").await.len(), 1);
}

#[tokio::test]
async fn a_publication_on_one_replica_reaches_the_others_suggestions_within_seconds() {
    let (first, second) = TestBackend::from_env().fresh_store_pair().await;
    let quick = |s: &mut hotline::config::Settings| s.knowledge.follow_interval_ms = 100;
    let writer = spawn_app_on(first, quick).await;
    writer.seed_directory().await;
    let reader = spawn_app_on(second, quick).await;
    let mut agent = reader.agent().kb();
    assert!(agent.suggest(gas_leak_call()).await.unwrap().is_empty());

    let published = publish(&writer, gas_article()).await;
    let started = Instant::now();
    loop {
        let hits = agent.suggest(gas_leak_call()).await.unwrap();
        if hits.first().map(|h| h.article.as_str()) == Some(published.name.as_str()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the other replica did not follow within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writer
        .supervisor("3301")
        .kb()
        .retire(&published.name)
        .await
        .unwrap();
    let started = Instant::now();
    while !agent.suggest(gas_leak_call()).await.unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the retirement did not follow"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn resolving_at_intake_cites_published_articles_and_counts_them() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let published = publish(&app, gas_article()).await;
    let mut unit = app.unit_user("market-regulation").kb();
    let draft = unit.create(gas_article()).await.unwrap();
    let mut agent = app.agent();
    let start = app.clock_time_of_now();

    let resolve = |name: String, ids: Vec<String>| pb::ResolveAtIntakeRequest {
        name,
        answer: "已告知燃气抢修电话 96777".into(),
        article_ids: ids,
        ..Default::default()
    };
    let mut tickets = agent.tickets.clone();
    for bad in [
        vec!["articles/not-a-uuid".to_owned()],
        vec![draft.name.clone()],
        vec![
            published.name.clone(),
            "articles/0193a5c0-0000-7000-8000-000000000000".into(),
        ],
    ] {
        let ticket = agent.create(complaint()).await;
        let status = tickets
            .resolve_at_intake(authed(
                &agent.token,
                resolve(ticket.name.clone(), bad.clone()),
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}: {status:?}");
        assert!(
            error_reason(&status).1[0].starts_with("article_ids"),
            "{status:?}"
        );
        let unchanged = agent.get(&ticket.name).await.unwrap();
        assert_eq!(
            unchanged.state, ticket.state,
            "a refused citation writes nothing"
        );
    }
    for _ in 0..2 {
        let ticket = agent.create(complaint()).await;
        let bare_id = published.name.trim_start_matches("articles/").to_owned();
        tickets
            .resolve_at_intake(authed(
                &agent.token,
                resolve(ticket.name.clone(), vec![published.name.clone(), bare_id]),
            ))
            .await
            .unwrap();
        let events = agent.events(&ticket.name).await;
        let resolved = events
            .iter()
            .find(|e| e.kind == "resolved_at_intake")
            .unwrap();
        let payload = format!("{:?}", resolved.payload);
        assert!(
            payload.contains(published.name.trim_start_matches("articles/")),
            "{payload}"
        );
    }
    app.clock.advance(chrono::TimeDelta::minutes(1));
    let usage = app
        .agent()
        .kb()
        .usage(pb::ListArticleUsageRequest {
            start_time: Some(start),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (
            usage[0].article.as_str(),
            usage[0].title.as_str(),
            usage[0].uses
        ),
        (published.name.as_str(), "燃气泄漏报修电话", 2),
        "each ticket counts once"
    );
    let backwards = pb::ListArticleUsageRequest {
        start_time: Some(start),
        end_time: Some(prost_types::Timestamp {
            seconds: start.seconds - 1,
            nanos: 0,
        }),
        page_size: 0,
    };
    refused(
        app.agent().kb().usage(backwards).await,
        Code::InvalidArgument,
    );
}
