//! Recall@1/3/5 of the knowledge search on the 78 real replies, for the
//! default weights and the variants docs/knowledge.md compares:
//! `cargo run -p hotline-knowledge --example recall`.

use hotline_knowledge::{
    eval::{self, Queries, QueryText},
    query::Tuning,
};

const REPLIES: &str = include_str!("../../../tests/data/replies-train.csv");

fn main() -> anyhow::Result<()> {
    let replies = eval::load_replies(REPLIES.as_bytes())?;
    let base = Tuning::default();
    let variants = [
        ("words + bigrams, terms in > 10 % left out (default)", base),
        (
            "jieba words only",
            Tuning {
                bigrams_weight: 0.0,
                ..base
            },
        ),
        (
            "bigrams only",
            Tuning {
                words_weight: 0.0,
                ..base
            },
        ),
        (
            "repeats weighed 1 + ln n",
            Tuning {
                weigh_repeats: true,
                ..base
            },
        ),
        (
            "terms in > 20 % of articles left out",
            Tuning {
                max_df_share: 0.2,
                ..base
            },
        ),
        (
            "no term left out for being common",
            Tuning {
                max_df_share: 1.0,
                ..base
            },
        ),
        (
            "terms in > 5 % of articles left out",
            Tuning {
                max_df_share: 0.05,
                ..base
            },
        ),
        (
            "words + bigrams, 24 terms",
            Tuning {
                max_terms: 24,
                ..base
            },
        ),
        (
            "words + bigrams, 96 terms",
            Tuning {
                max_terms: 96,
                ..base
            },
        ),
        (
            "words + bigrams, 512 terms",
            Tuning {
                max_terms: 512,
                ..base
            },
        ),
    ];
    println!("| variant | query | asked | recall@1 | recall@3 | recall@5 |");
    println!("|---|---|---|---:|---:|---:|");
    for (name, tuning) in variants {
        for text in [QueryText::Message, QueryText::TitleAndMessage] {
            for queries in [Queries::All, Queries::WithAnswer] {
                let r = eval::evaluate(&replies, queries, text, &tuning)?;
                println!(
                    "| {name} | {text:?} | {queries:?} ({}) | {:.3} | {:.3} | {:.3} |",
                    r.queries, r.at1, r.at3, r.at5
                );
            }
        }
    }
    Ok(())
}
