//! Recall on the 78 real citizen messages and their official replies
//! (docs/knowledge.md, "Search"): fails below the figures reached, rounded
//! down a little, so a change that loses answers is seen.

use hotline_knowledge::{
    eval::{self, Queries, QueryText},
    query::Tuning,
};

const REPLIES: &str = include_str!("../../../tests/data/replies-train.csv");

fn replies() -> Vec<eval::Reply> {
    eval::load_replies(REPLIES.as_bytes()).unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn the_message_text_finds_its_reply() {
    let replies = replies();
    assert_eq!(replies.len(), 78);
    let all = eval::evaluate(
        &replies,
        Queries::All,
        QueryText::Message,
        &Tuning::default(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(all.at1 >= 0.70, "recall@1 {all:?}");
    assert!(all.at3 >= 0.80, "recall@3 {all:?}");
    assert!(all.at5 >= 0.80, "recall@5 {all:?}");
    let answered = eval::evaluate(
        &replies,
        Queries::WithAnswer,
        QueryText::Message,
        &Tuning::default(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(answered.queries, 70);
    assert!(
        answered.at3 >= 0.90,
        "recall@3 of replies with an answer {answered:?}"
    );
}

#[test]
fn stripped_replies_no_longer_quote_their_title() {
    for reply in replies() {
        let body = eval::article_of(&reply).body;
        let bare = reply.title.trim_end_matches(|c: char| !c.is_alphanumeric());
        assert!(!body.contains(bare), "{}: {body}", reply.id);
    }
}
