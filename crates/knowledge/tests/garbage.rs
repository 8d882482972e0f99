//! Any text, subject, region or limit gets an answer or a
//! `QueryError::Invalid` naming the field, never a panic.

use std::sync::OnceLock;

use chrono::NaiveDate;
use hotline_knowledge::{IndexedArticle, KnowledgeIndex, QueryError, SearchQuery};
use proptest::prelude::*;

const REPLIES: &str = include_str!("../../../tests/data/replies-train.csv");

fn index() -> &'static KnowledgeIndex {
    static INDEX: OnceLock<KnowledgeIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let replies = hotline_knowledge::eval::load_replies(REPLIES.as_bytes())
            .unwrap_or_else(|e| panic!("{e:#}"));
        let articles: Vec<IndexedArticle> = replies
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut a = hotline_knowledge::eval::article_of(r);
                a.title = r.title.clone();
                a.subjects = vec![format!("{:02}.{:02}", i % 7, i % 3)];
                a.regions = if i % 2 == 0 {
                    vec![]
                } else {
                    vec![format!("4301{:02}", i % 10)]
                };
                a
            })
            .collect();
        KnowledgeIndex::open_in_memory(articles).unwrap_or_else(|e| panic!("{e:#}"))
    })
}

/// Text that stresses the analysis: CJK, ASCII, tantivy query syntax,
/// punctuation, emoji, combining marks, control characters.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,300}",
        "[停车收费物业小区 \"':()\\[\\]{}^~*?!+\\-&|AND OR NOT\\\\/]{0,120}",
        "[\\p{Han}\\p{Punct}\\p{Emoji}\u{0300}\u{200b}\u{0}-\u{1f}a-zA-Z0-9 ]{0,200}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics(
        text in nasty_text(),
        subject in proptest::option::of(".{0,20}"),
        region in proptest::option::of("[0-9]{0,14}|.{0,10}"),
        limit in 0usize..200,
        days in 0i64..20_000,
    ) {
        let query = SearchQuery {
            text,
            subject,
            region,
            on: NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default() + chrono::Days::new(days as u64),
            limit,
        };
        match index().search(&query) {
            Ok(hits) => {
                prop_assert!(hits.len() <= limit.min(hotline_knowledge::query::MAX_LIMIT));
                for pair in hits.windows(2) {
                    prop_assert!(pair[0].score >= pair[1].score);
                }
            }
            Err(QueryError::Invalid { field, .. }) => {
                prop_assert!(["text", "limit", "subject", "region"].contains(&field));
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

/// Words of the replies to build realistic queries from.
fn words() -> impl Strategy<Value = String> {
    let pool: Vec<&str> = vec![
        "停车",
        "收费",
        "物业",
        "小区",
        "学校",
        "补课",
        "公交",
        "班次",
        "养猪场",
        "污染",
        "户口",
        "迁移",
        "补贴",
        "购房",
        "施工",
        "道路",
        "电梯",
        "幼儿园",
        "教师",
        "待遇",
        "医保",
        "养老保险",
        "扰民",
        "噪音",
        "投诉",
        "拆迁",
        "档案",
        "证件",
        "疫苗",
        "工资",
    ];
    proptest::collection::vec(proptest::sample::select(pool), 1..12).prop_map(|w| w.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The pruned, filter-per-candidate collector returns what the engine's
    /// `text AND filters` returns.
    #[test]
    fn pruning_finds_what_the_intersection_finds(
        text in words(),
        subject in proptest::option::of("0[0-6](\\.0[0-2])?"),
        region in proptest::option::of("4301(0[0-9])?(00[0-9])?"),
        limit in 1usize..12,
    ) {
        let query = SearchQuery {
            text,
            subject,
            region,
            on: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default(),
            limit,
        };
        let engine: Vec<(String, f32)> = index()
            .search(&query)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|h| (h.id, h.score))
            .collect();
        let plain = index()
            .search_baseline(&query, hotline_knowledge::search::Baseline::Pruned)
            .unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(engine.len(), plain.len());
        for (a, b) in engine.iter().zip(&plain) {
            prop_assert!((a.1 - b.1).abs() <= 1e-3 * a.1.abs().max(1.0), "{engine:?} vs {plain:?}");
        }
        let strictly_above_last = |hits: &[(String, f32)]| {
            let last = hits.last().map_or(f32::MIN, |h| h.1 + 1e-3);
            let mut ids: Vec<String> = hits.iter().filter(|h| h.1 > last).map(|h| h.0.clone()).collect();
            ids.sort();
            ids
        };
        prop_assert_eq!(strictly_above_last(&engine), strictly_above_last(&plain));
    }
}
