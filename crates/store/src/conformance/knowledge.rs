//! Knowledge-base articles: versions, audit trail and the optimistic
//! check of each change; the change sequence indexes follow; citations
//! counted from resolutions at intake.

use std::sync::Arc;

use crate::{ArticleChange, ArticleQuery, CounterScope, NewArticle, Store};
use hotline_domain::{
    Action,
    knowledge::{
        Article, ArticleAction, ArticleContent, ArticleEventKind, ArticleId, ArticleState,
    },
};

use super::fixtures::{
    agent, create_at, find, full_intake, is_already_exists, is_conflict, is_not_found, key, micros,
    produced, seed_units, step, t0, unit_id,
};

fn content(title: &str) -> ArticleContent {
    ArticleContent {
        title: title.into(),
        body: "携带身份证到街道办理。".into(),
        subjects: vec!["01.02".into()],
        regions: vec!["330106".into()],
        tags: vec!["居住证".into(), "办事指南".into()],
        effective_from: Some(super::fixtures::day(2026, 1, 1)),
        expires_on: None,
    }
}

fn new_article(offset_us: i64, title: &str) -> NewArticle {
    let at = t0() + micros(offset_us);
    let id = ArticleId::generate(at);
    let owner = unit_id("market-regulation");
    NewArticle {
        article: Article::drafted(id, owner, content(title), "unit-user-1", at),
        event: ArticleEventKind::Created,
        actor_role: "unit_handler".into(),
    }
}

/// The change `action` makes to `article` at `at_us`, as the domain
/// decides it.
fn change(article: &Article, action: ArticleAction, at_us: i64) -> ArticleChange {
    ArticleChange {
        id: article.id,
        expected_change_seq: article.change_seq,
        latest_version: article.latest.version,
        outcome: article.transition(action).expect("legal fixture action"),
        actor: "supervisor-1".into(),
        actor_role: "supervisor".into(),
        now: t0() + micros(at_us),
    }
}

/// Decides `action` on `article` in the domain and stores it.
async fn act(store: &dyn Store, article: &Article, action: ArticleAction, at_us: i64) -> Article {
    store
        .change_article(&change(article, action, at_us), None)
        .await
        .expect("change_article")
}

/// An article reads back as created; an update makes version 2 while
/// version 1 stays readable; every change is audited with its actor; a
/// change against a stale etag writes nothing; an unknown owner unit or
/// article is NotFound.
pub async fn articles_keep_versions_and_audit_every_change(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let orphan = new_article(1, "无主");
    assert!(
        is_not_found(&store.create_article(&orphan, None).await),
        "unknown owner"
    );
    seed_units(store).await;
    let new = new_article(10, "如何办理居住证");
    let created = store
        .create_article(&new, None)
        .await
        .expect("create_article");
    let mut expected = new.article.clone();
    expected.change_seq = created.change_seq;
    assert_eq!(created, expected, "create returns the article");
    assert_eq!(
        store.get_article(new.article.id).await.expect("get"),
        expected
    );

    let revised = act(
        store,
        &created,
        ArticleAction::Update(content("如何办理居住证（新）")),
        20,
    )
    .await;
    assert_eq!(revised.latest.version, 2);
    assert_eq!(revised.latest.content.title, "如何办理居住证（新）");
    assert!(
        revised.change_seq > created.change_seq,
        "a change takes a later number"
    );
    let stale = act_stale(store, &created).await;
    assert!(is_conflict(&stale), "a stale etag is a conflict: {stale:?}");

    let versions = store
        .list_article_versions(created.id, None, 10)
        .await
        .expect("versions");
    let titles: Vec<&str> = versions.iter().map(|v| v.content.title.as_str()).collect();
    assert_eq!(titles, ["如何办理居住证", "如何办理居住证（新）"]);
    assert_eq!(versions[0], created.latest, "version 1 round-trips");
    let later = store.list_article_versions(created.id, Some(1), 10).await;
    assert_eq!(later.expect("page").len(), 1);

    let events = store.article_events(created.id).await.expect("events");
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.version, e.actor.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (ArticleEventKind::Created, 1, "unit-user-1"),
            (ArticleEventKind::Updated, 2, "supervisor-1"),
        ]
    );
    let unknown = ArticleId::generate(t0());
    assert!(is_not_found(&store.get_article(unknown).await));
    assert!(is_not_found(
        &store.list_article_versions(unknown, None, 5).await
    ));

    // Ids are UUIDv7 (millisecond time, then random): 5 ms later sorts after.
    let second = store
        .create_article(&new_article(5_000, "第二篇"), None)
        .await
        .expect("create");
    let listed = store
        .list_articles(&ArticleQuery {
            limit: 10,
            ..ArticleQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(
        listed.iter().map(|a| a.id).collect::<Vec<_>>(),
        [created.id, second.id]
    );
    let drafts_after_first = store
        .list_articles(&ArticleQuery {
            owner_unit: Some(unit_id("market-regulation")),
            state: Some(ArticleState::Draft),
            after: Some(created.id),
            limit: 10,
        })
        .await
        .expect("list filtered");
    assert_eq!(drafts_after_first.len(), 1);
    assert_eq!(drafts_after_first[0].id, second.id);
}

async fn act_stale(store: &dyn Store, stale: &Article) -> crate::StoreResult<Article> {
    store
        .change_article(&change(stale, ArticleAction::Submit, 0), None)
        .await
}

/// The change sequence tells a follower what agents are served: nothing
/// for a draft, the approved version once published, still that version
/// while a revision is drafted, nothing once retired; the head is the
/// last number taken, of a sequence whose epoch never changes.
pub async fn served_changes_follow_publication_in_change_order(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let start = store.knowledge_head().await.expect("head");
    assert_eq!(start.seq, 0);
    assert!(start.epoch.len() >= 16, "a random epoch: {start:?}");
    let a = store
        .create_article(&new_article(10, "燃气报修"), None)
        .await
        .expect("create");
    let changes = store.served_changes(0, 10).await.expect("changes");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].served, None, "a draft is not served");

    let a = act(store, &a, ArticleAction::Submit, 20).await;
    let a = act(store, &a, ArticleAction::Approve, 30).await;
    let served = store.served_changes(0, 10).await.expect("changes");
    assert_eq!(served.len(), 1, "one row per article, its last change");
    assert_eq!(served[0].change_seq, a.change_seq);
    assert_eq!(served[0].served.as_ref().map(|v| v.version), Some(1));
    let head = store.knowledge_head().await.expect("head");
    assert_eq!(
        (head.epoch.as_str(), head.seq),
        (start.epoch.as_str(), a.change_seq)
    );

    let a = act(
        store,
        &a,
        ArticleAction::Update(content("燃气报修（修订）")),
        40,
    )
    .await;
    let during = store
        .served_changes(served[0].change_seq, 10)
        .await
        .expect("after");
    assert_eq!(during.len(), 1);
    let still = during[0]
        .served
        .as_ref()
        .expect("the published version stays served");
    assert_eq!(
        (still.version, still.content.title.as_str()),
        (1, "燃气报修")
    );
    let cited = store
        .served_versions(&[a.id, ArticleId::generate(t0())])
        .await;
    assert_eq!(cited.expect("served_versions").len(), 1);

    let a = act(store, &a, ArticleAction::Retire, 50).await;
    let after = store
        .served_changes(during[0].change_seq, 10)
        .await
        .expect("after");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].served, None, "retired: withdrawn");
    assert!(
        store
            .served_versions(&[a.id])
            .await
            .expect("served")
            .is_empty()
    );
    assert!(
        store
            .served_changes(a.change_seq, 10)
            .await
            .expect("caught up")
            .is_empty()
    );
}

/// Each ticket resolved at intake citing articles counts once per article
/// in the period it was resolved in; a unit's, a subtree's or a region's
/// count keeps the articles their units own, the centre's every article
/// (one no longer stored too).
pub async fn article_uses_count_citations_in_a_period(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let by_department = store
        .create_article(&new_article(0, "燃气报修"), None)
        .await
        .expect("create");
    let mut street_article = new_article(1, "街道停车");
    street_article.article.owner_unit = unit_id("s330106001");
    let by_street = store
        .create_article(&street_article, None)
        .await
        .expect("create");
    let gone = ArticleId::generate(t0() + micros(2));
    let (a, b) = (by_department.id, by_street.id);
    for (i, ids) in [&[a, b, gone][..], &[a][..], &[][..]]
        .into_iter()
        .enumerate()
    {
        let at = t0() + micros(100 * i64::try_from(i).unwrap_or(0));
        let (ticket, _) = create_at(store, full_intake(), at, None).await;
        let answer = Action::ResolveAtIntake {
            answer: "已告知办理流程".into(),
            article_ids: ids.iter().map(ToString::to_string).collect(),
        };
        step(store, &ticket, answer, &agent(), at + micros(10)).await;
    }
    let period = (t0(), t0() + micros(1_000));
    let counts = |scope: CounterScope, limit: u32| async move {
        let uses = store.article_uses(period.0, period.1, &scope, limit).await;
        let uses = uses.expect("article_uses");
        uses.iter().map(|u| (u.article, u.uses)).collect::<Vec<_>>()
    };
    let mut ones = [(b, 1), (gone, 1)];
    ones.sort();
    assert_eq!(
        counts(CounterScope::Centre, 10).await,
        [(a, 2), ones[0], ones[1]]
    );
    assert_eq!(counts(CounterScope::Centre, 1).await, [(a, 2)]);
    let market = unit_id("market-regulation");
    assert_eq!(counts(CounterScope::Unit(market), 10).await, [(a, 2)]);
    let district = unit_id("d330106");
    assert_eq!(counts(CounterScope::Unit(district.clone()), 10).await, []);
    assert_eq!(counts(CounterScope::Subtree(district), 10).await, [(b, 1)]);
    let region = CounterScope::Region("330106".into());
    assert_eq!(counts(region, 10).await, [(b, 1)]);
    let before = store
        .article_uses(t0() - micros(10), t0(), &CounterScope::Centre, 10)
        .await;
    assert!(before.expect("empty period").is_empty());
}

/// Concurrent writers take distinct change numbers without gaps, and a
/// follower reading after any number misses none of them.
pub async fn concurrent_article_writes_take_distinct_change_numbers(store: Arc<dyn Store>) {
    seed_units(store.as_ref()).await;
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let new = new_article(10 + i, &format!("并发 {i}"));
                store
                    .create_article(&new, None)
                    .await
                    .expect("create_article")
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for writer in writers {
        seqs.push(writer.await.expect("writer").change_seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<i64>>(), "distinct, no gaps");
    assert_eq!(store.knowledge_head().await.expect("head").seq, 8);
    let after_three = store.served_changes(3, 100).await.expect("changes");
    let followed: Vec<i64> = after_three.iter().map(|c| c.change_seq).collect();
    assert_eq!(followed, [4, 5, 6, 7, 8]);
}

/// Articles created together are all written or none (an unknown owner
/// unit fails the whole import); a key given with a write is recorded with
/// it, naming every article it produced; the key used again is
/// `AlreadyExists` and writes nothing: no article, no version, no change
/// number.
pub async fn keyed_article_writes_record_what_they_produced(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let lone = new_article(5, "无主之前");
    let mut orphan = new_article(6, "无主");
    orphan.article.owner_unit = unit_id("no-such-unit");
    let imported = store.create_articles(&[lone.clone(), orphan], None).await;
    assert!(is_not_found(&imported), "unknown owner fails the import");
    assert!(is_not_found(&store.get_article(lone.article.id).await));
    assert_eq!(store.knowledge_head().await.expect("head").seq, 0);

    let (a, b) = (new_article(10, "甲"), new_article(11, "乙"));
    let import = key("unit-user-1", "req-import", "ImportArticles");
    let created = store
        .create_articles(&[a.clone(), b.clone()], Some(import.clone()))
        .await
        .expect("create_articles with a key");
    assert_eq!(created.len(), 2);
    assert_eq!(
        find(store, "unit-user-1", "req-import").await,
        produced(
            "ImportArticles",
            format!("{} {}", a.article.id.name(), b.article.id.name())
        )
    );
    let again = new_article(12, "丙");
    let reused = store.create_article(&again, Some(import)).await;
    assert!(is_already_exists(&reused), "{reused:?}");
    assert!(is_not_found(&store.get_article(again.article.id).await));
    assert_eq!(store.knowledge_head().await.expect("head").seq, 2);

    let submit = key("unit-user-1", "req-submit", "SubmitArticle");
    let submitted = store
        .change_article(
            &change(&created[0], ArticleAction::Submit, 20),
            Some(submit.clone()),
        )
        .await
        .expect("change_article with a key");
    assert_eq!(
        find(store, "unit-user-1", "req-submit").await,
        produced("SubmitArticle", a.article.id.name())
    );
    let reused = store
        .change_article(
            &change(&created[1], ArticleAction::Submit, 30),
            Some(submit),
        )
        .await;
    assert!(is_already_exists(&reused), "{reused:?}");
    let untouched = store.get_article(b.article.id).await.expect("get");
    assert_eq!(untouched, created[1], "the refused change wrote nothing");
    assert_eq!(
        store
            .article_events(b.article.id)
            .await
            .expect("events")
            .len(),
        1
    );
    assert_eq!(
        store.knowledge_head().await.expect("head").seq,
        submitted.change_seq
    );
}
