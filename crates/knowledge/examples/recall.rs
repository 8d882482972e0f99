//! Recall@1/3/5 of the knowledge search on the 78 real replies, for both
//! strippings of the restated title and the variants docs/knowledge.md
//! compares, then the misses of the default:
//! `cargo run -p hotline-knowledge --example recall`.

use hotline_knowledge::{
    eval::{self, Queries, QueryText, Setup, Stripping},
    query::Tuning,
};

const REPLIES: &str = include_str!("../../../tests/data/replies-train.csv");
const MESSAGES: &str = include_str!("../../../tests/data/messages-train.csv");

fn main() -> anyhow::Result<()> {
    let replies = eval::load_replies(REPLIES.as_bytes())?;
    let base = Tuning::default();
    let variants = [
        ("default", base),
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
            "no term left out for being common",
            Tuning {
                max_df_share: 1.0,
                ..base
            },
        ),
    ];
    let messages = eval::load_messages(MESSAGES.as_bytes())?;
    let (articles, asked) = eval::halves(&messages);
    println!("| variant | halves: asked | recall@1 | recall@3 | recall@5 |");
    println!("|---|---|---:|---:|---:|");
    for (name, tuning) in variants {
        let r = eval::Recall::of(&eval::ranks_among(articles.clone(), &asked, &tuning)?);
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:.3} |",
            r.queries, r.at1, r.at3, r.at5
        );
    }
    println!();
    println!("| variant | stripping | query | asked | recall@1 | recall@3 | recall@5 |");
    println!("|---|---|---|---|---:|---:|---:|");
    for (name, tuning) in variants {
        for stripping in [Stripping::RestatingSentences, Stripping::EveryTitleClause] {
            for text in [QueryText::Message, QueryText::TitleAndMessage] {
                for queries in [Queries::All, Queries::WithAnswer] {
                    let setup = Setup {
                        stripping,
                        queries,
                        text,
                    };
                    let r = eval::evaluate(&replies, setup, &tuning)?;
                    println!(
                        "| {name} | {stripping:?} | {text:?} | {queries:?} ({}) | {:.3} | {:.3} | {:.3} |",
                        r.queries, r.at1, r.at3, r.at5
                    );
                }
            }
        }
    }
    println!("\nmisses of the default (rank below 3):");
    for (id, rank) in eval::ranks(&replies, Setup::default(), &base)? {
        if rank.is_none_or(|r| r >= 3) {
            println!("  {id}: {rank:?}");
        }
    }
    Ok(())
}
