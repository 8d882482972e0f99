//! The index through its public API: ranking, filters, writes, commits,
//! stamps, rebuilds and garbage queries.

use chrono::NaiveDate;
use hotline_knowledge::{IndexedArticle, KnowledgeIndex, Opened, QueryError, Rebuild, SearchQuery};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date {y}-{m}-{d}"))
}

fn article(id: &str, title: &str, body: &str) -> IndexedArticle {
    IndexedArticle {
        id: id.to_owned(),
        version: 1,
        title: title.to_owned(),
        body: body.to_owned(),
        subjects: vec![],
        regions: vec![],
        tags: vec![],
        effective_from: None,
        expires_on: None,
    }
}

fn sample() -> Vec<IndexedArticle> {
    vec![
        article(
            "parking",
            "小区停车收费标准",
            "业委会制定的**停车收费**标准不高于周边小区价格，须经业主大会表决。",
        ),
        article(
            "road",
            "道路施工进度",
            "潇楚南路提质改造工程预计年底完工，施工期间请绕行。",
        ),
        article(
            "school",
            "学位申请",
            "适龄儿童入学须在报名系统提交户籍和房产证明。",
        ),
    ]
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        subject: None,
        region: None,
        on: day(2026, 12, 5),
        limit: 5,
    }
}

fn ids(index: &KnowledgeIndex, q: &SearchQuery) -> Vec<String> {
    index
        .search(q)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|h| h.id)
        .collect()
}

/// Opens the index in `dir`, kept only if committed with `stamp` itself.
fn open_at(
    dir: &std::path::Path,
    stamp: &str,
    all: impl FnOnce() -> anyhow::Result<Vec<IndexedArticle>>,
) -> anyhow::Result<KnowledgeIndex> {
    KnowledgeIndex::open_or_rebuild(dir, stamp, |had| had == stamp, all).map(|(index, _)| index)
}

fn index_of(articles: Vec<IndexedArticle>) -> KnowledgeIndex {
    KnowledgeIndex::open_in_memory(articles).unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn finds_the_article_on_the_subject_with_a_highlighted_snippet() {
    let index = index_of(sample());
    let hits = index
        .search(&query("我们小区的停车费收得太高了，物业乱收费"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        hits.first().map(|h| h.id.as_str()),
        Some("parking"),
        "{hits:?}"
    );
    let top = &hits[0];
    assert_eq!(top.title, "小区停车收费标准");
    assert_eq!(top.version, 1);
    assert!(top.score > 0.0);
    assert!(top.snippet.contains("<em>"), "{}", top.snippet);
    assert!(
        !top.snippet.contains("**"),
        "markdown is not quoted: {}",
        top.snippet
    );
}

#[test]
fn a_title_match_outranks_the_same_words_in_a_body() {
    let index = index_of(vec![
        article(
            "in-body",
            "物业服务",
            "关于路灯维修的说明，路灯由街道负责。",
        ),
        article("in-title", "路灯维修", "请联系所在街道办事处。"),
    ]);
    assert_eq!(ids(&index, &query("路灯维修"))[0], "in-title");
}

#[test]
fn regions_cover_what_lies_under_them() {
    let mut district = article("district", "停车收费", "停车收费按区定价。");
    district.regions = vec!["330106".into()];
    let mut other = article("other-district", "停车收费", "停车收费按区定价。");
    other.regions = vec!["330105".into()];
    let citywide = article("citywide", "停车收费", "停车收费按市定价。");
    let index = index_of(vec![district, other, citywide]);
    let mut q = query("停车收费");
    q.region = Some("330106001".into());
    let mut found = ids(&index, &q);
    found.sort();
    assert_eq!(found, ["citywide", "district"]);
    q.region = Some("   ".into());
    assert_eq!(ids(&index, &q).len(), 3, "a blank region is no filter");
}

#[test]
fn subjects_match_broader_narrower_and_none() {
    let mut broad = article("broad", "停车收费", "停车收费");
    broad.subjects = vec!["01".into()];
    let mut exact = article("exact", "停车收费", "停车收费");
    exact.subjects = vec!["01.02".into()];
    let mut narrower = article("narrower", "停车收费", "停车收费");
    narrower.subjects = vec!["01.02.03".into()];
    let mut sibling = article("sibling", "停车收费", "停车收费");
    sibling.subjects = vec!["01.03".into()];
    let general = article("general", "停车收费", "停车收费");
    let index = index_of(vec![broad, exact, narrower, sibling, general]);
    let mut q = query("停车收费");
    q.subject = Some("01.02".into());
    let mut found = ids(&index, &q);
    found.sort();
    assert_eq!(found, ["broad", "exact", "general", "narrower"]);
}

#[test]
fn only_articles_in_force_on_the_day() {
    let mut expired = article("expired", "停车收费", "停车收费");
    expired.expires_on = Some(day(2026, 12, 4));
    let mut last_day = article("last-day", "停车收费", "停车收费");
    last_day.expires_on = Some(day(2026, 12, 5));
    let mut future = article("future", "停车收费", "停车收费");
    future.effective_from = Some(day(2026, 12, 6));
    let mut first_day = article("first-day", "停车收费", "停车收费");
    first_day.effective_from = Some(day(2026, 12, 5));
    let articles = vec![expired, last_day, future, first_day];
    let on = day(2026, 12, 5);
    let expected: Vec<&str> = articles
        .iter()
        .filter(|a| a.in_force_on(on))
        .map(|a| a.id.as_str())
        .collect();
    let index = index_of(articles.clone());
    let mut found = ids(&index, &query("停车收费"));
    found.sort();
    assert_eq!(found, ["first-day", "last-day"]);
    assert_eq!(expected, ["last-day", "first-day"]);
}

#[test]
fn upserts_replace_removals_drop_and_commits_publish() {
    let index = index_of(sample());
    let mut changed = article("parking", "电动车充电桩", "小区充电桩由物业统一安装。");
    changed.version = 2;
    index.upsert(changed).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        ids(&index, &query("停车收费"))[0],
        "parking",
        "not visible before commit"
    );
    index.commit("cursor-2").unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(index.stamp().as_deref(), Some("cursor-2"));
    assert!(!ids(&index, &query("停车收费")).contains(&"parking".to_owned()));
    let hits = index
        .search(&query("充电桩"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((hits[0].id.as_str(), hits[0].version), ("parking", 2));
    assert_eq!(index.len(), 3);
    index.remove("parking").unwrap_or_else(|e| panic!("{e:#}"));
    index
        .remove("never-indexed")
        .unwrap_or_else(|e| panic!("{e:#}"));
    index.commit("cursor-3").unwrap_or_else(|e| panic!("{e:#}"));
    assert!(ids(&index, &query("充电桩")).is_empty());
    assert_eq!(index.len(), 2);
}

#[test]
fn reopens_a_current_index_and_rebuilds_a_stale_or_broken_one() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let built = open_at(dir.path(), "s1", || Ok(sample())).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(built.stamp().as_deref(), Some("s1"));
    drop(built);

    let reopened = open_at(dir.path(), "s1", || {
        panic!("a current index is not rebuilt")
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(reopened.len(), 3);
    drop(reopened);

    let rebuilt = open_at(dir.path(), "s2", || {
        Ok(vec![article("only", "学位申请", "入学报名")])
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!((rebuilt.len(), rebuilt.stamp().as_deref()), (1, Some("s2")));
    drop(rebuilt);

    let index_dir = dir.path().join("tantivy");
    std::fs::write(index_dir.join("meta.json"), "{ not json").unwrap_or_else(|e| panic!("{e}"));
    let repaired = open_at(dir.path(), "s2", || Ok(sample())).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(repaired.len(), 3);
    assert_eq!(ids(&repaired, &query("停车收费"))[0], "parking");
    drop(repaired);

    std::fs::remove_dir_all(&index_dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&index_dir, "a file where the index should be")
        .unwrap_or_else(|e| panic!("{e}"));
    let replaced = open_at(dir.path(), "s3", || Ok(sample())).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(replaced.len(), 3);
}

/// An index whose stamp the caller keeps is opened as it is, without
/// reading every article; the caller applies what changed after the stamp
/// (here: one article retired, one revised) and commits the new stamp. A
/// stamp the caller refuses is rebuilt, and each way says so.
#[test]
fn a_kept_index_is_caught_up_by_the_caller_not_rebuilt() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let behind = |had: &str| had.parse::<u32>().is_ok_and(|n| n <= 7);
    let (built, how) = KnowledgeIndex::open_or_rebuild(dir.path(), "5", behind, || Ok(sample()))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(how, Opened::Rebuilt(Rebuild::Missing));
    drop(built);

    let (kept, how) = KnowledgeIndex::open_or_rebuild(dir.path(), "7", behind, || {
        panic!("an index merely behind is not rebuilt")
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(how, Opened::Kept("5".into()));
    assert_eq!((kept.len(), kept.stamp().as_deref()), (3, Some("5")));
    kept.remove("parking").unwrap_or_else(|e| panic!("{e:#}"));
    kept.upsert(article("deposit", "押金退还", "幼儿园押金退还办法"))
        .unwrap_or_else(|e| panic!("{e:#}"));
    kept.commit("7").unwrap_or_else(|e| panic!("{e:#}"));
    assert!(ids(&kept, &query("停车收费")).is_empty());
    assert_eq!(ids(&kept, &query("押金退还")), ["deposit"]);
    drop(kept);

    let ahead = |had: &str| had.parse::<u32>().is_ok_and(|n| n <= 6);
    let (rebuilt, how) = KnowledgeIndex::open_or_rebuild(dir.path(), "6", ahead, || Ok(sample()))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(how, Opened::Rebuilt(Rebuild::Stale));
    assert_eq!((rebuilt.len(), rebuilt.stamp().as_deref()), (3, Some("6")));
}

#[test]
fn a_failing_source_is_an_error_not_an_empty_index() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let result = open_at(dir.path(), "s1", || anyhow::bail!("db down"));
    assert!(result.is_err());
}

#[test]
fn garbage_queries_answer_or_say_which_field() {
    let index = index_of(sample());
    for text in ["", "   ", "！？。，……", "\"\"\"", ":(", ")AND(OR NOT*"] {
        match index.search(&query(text)) {
            Ok(_) => {}
            Err(QueryError::Invalid { field, .. }) => assert_eq!(field, "text", "{text:?}"),
            Err(e) => panic!("{text:?}: {e}"),
        }
    }
    for text in [
        "title:停车 AND (收费 OR \"物业\")",
        "停车 parking Стоянка 駐車場 🚗",
        &"停车收费".repeat(25_000),
    ] {
        assert!(
            index.search(&query(text)).is_ok(),
            "{}",
            &text[..20.min(text.len())]
        );
    }
    assert!(!ids(&index, &query(&"停车收费".repeat(25_000))).is_empty());
    let mut zero = query("停车");
    zero.limit = 0;
    assert!(matches!(
        index.search(&zero),
        Err(QueryError::Invalid { field: "limit", .. })
    ));
    let mut huge = query("停车");
    huge.limit = usize::MAX;
    assert!(index.search(&huge).is_ok());
    let mut long_region = query("停车");
    long_region.region = Some("3".repeat(1000));
    assert!(matches!(
        index.search(&long_region),
        Err(QueryError::Invalid {
            field: "region",
            ..
        })
    ));
}

#[test]
fn an_empty_index_answers_nothing() {
    let index = index_of(vec![]);
    assert!(index.is_empty());
    assert!(ids(&index, &query("停车收费")).is_empty());
}

#[test]
fn tags_match_like_the_title_and_the_title_stays_the_title() {
    let mut tagged = article("tagged", "物业服务", "请联系所在街道办事处。");
    tagged.tags = vec!["电梯加装".into()];
    let index = index_of(vec![tagged, article("other", "学位申请", "入学报名")]);
    let hits = index
        .search(&query("加装电梯"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (hits[0].id.as_str(), hits[0].title.as_str()),
        ("tagged", "物业服务")
    );
}

/// An index at `dir/tantivy` with `schema`, committed with `payload`.
fn foreign_index(dir: &std::path::Path, schema: tantivy::schema::Schema, payload: &str) {
    let path = dir.join("tantivy");
    std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{e}"));
    let index = tantivy::Index::create_in_dir(&path, schema).unwrap_or_else(|e| panic!("{e}"));
    let mut writer: tantivy::IndexWriter = index
        .writer_with_num_threads(1, 15_000_000)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut prepared = writer.prepare_commit().unwrap_or_else(|e| panic!("{e}"));
    prepared.set_payload(payload);
    prepared.commit().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_index_of_another_schema_or_version_is_rebuilt() {
    let current = r#"{"schema":1,"stamp":"s1"}"#;
    let mut other = tantivy::schema::Schema::builder();
    other.add_text_field("text", tantivy::schema::TEXT);
    let (ours, _) = hotline_knowledge::schema::build();
    let future = format!(
        r#"{{"schema":{},"stamp":"s1"}}"#,
        hotline_knowledge::schema::SCHEMA_VERSION + 1
    );
    for (schema, payload) in [(other.build(), current.to_owned()), (ours, future)] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        foreign_index(dir.path(), schema, &payload);
        let (index, how) =
            KnowledgeIndex::open_or_rebuild(dir.path(), "s1", |_| true, || Ok(sample()))
                .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(how, Opened::Rebuilt(Rebuild::OtherSchema), "{payload}");
        assert_eq!(index.len(), 3);
    }
}

#[test]
fn a_directory_held_by_another_instance_is_left_alone_and_the_second_searches_from_memory() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first = open_at(dir.path(), "s1", || Ok(sample())).unwrap_or_else(|e| panic!("{e:#}"));
    for stamp in ["s1", "s2"] {
        let (second, how) =
            KnowledgeIndex::open_or_rebuild(dir.path(), stamp, |_| true, || Ok(sample()))
                .unwrap_or_else(|e| panic!("{stamp}: {e:#}"));
        assert_eq!(how, Opened::Rebuilt(Rebuild::HeldElsewhere), "{stamp}");
        assert_eq!(second.len(), 3, "{stamp}");
        assert_eq!(ids(&second, &query("停车收费"))[0], "parking", "{stamp}");
    }
    assert_eq!(first.len(), 3);
    first.commit("s1").unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(ids(&first, &query("停车收费"))[0], "parking");
}
