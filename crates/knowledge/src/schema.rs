//! The index's fields and how an [`IndexedArticle`] becomes a document.
//!
//! Title and body are each indexed twice, as jieba words and as character
//! bigrams ([`crate::tokenizer`]); tags are more values of the title fields
//! (a field of their own would add a term query per query term for little);
//! the body is stored once as plain text for snippets. Filters are raw terms (subject, region) and fast i64
//! fields (dates, in days).

use chrono::{Datelike, NaiveDate};
use pulldown_cmark::{Event, Parser, TagEnd};
use tantivy::{
    TantivyDocument,
    schema::{
        FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
        TextOptions,
    },
};

use crate::{IndexedArticle, tokenizer};

/// Bumped whenever the fields or their analysis change: an index of another
/// version is rebuilt on open.
pub const SCHEMA_VERSION: u32 = 1;

/// Term of the subject and region fields for "no restriction" (any subject,
/// city-wide).
pub const ANY: &str = "*";

/// Prefix of a subject term naming the article's own subject.
pub const SUBJECT_EXACT: &str = "=";
/// Prefix of a subject term naming a subject the article's lies under.
pub const SUBJECT_UNDER: &str = "<";

/// The fields, resolved once.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Article id (raw, stored): upsert and remove delete by it.
    pub id: Field,
    /// Version (stored).
    pub version: Field,
    /// Title, then tags, as jieba words (stored: hits return the first).
    pub title_words: Field,
    /// Title and tags as bigrams.
    pub title_bigrams: Field,
    /// Body as jieba words.
    pub body_words: Field,
    /// Body as bigrams.
    pub body_bigrams: Field,
    /// Body as plain text, stored only (snippets).
    pub body_text: Field,
    /// Subject terms ([`ANY`], [`SUBJECT_EXACT`]/[`SUBJECT_UNDER`] + code).
    pub subject: Field,
    /// Region codes of the article's scope, or [`ANY`].
    pub region: Field,
    /// First day in force, days from CE ([`i64::MIN`] when open).
    pub effective_from: Field,
    /// Last day in force, days from CE ([`i64::MAX`] when open).
    pub expires_on: Field,
}

fn text_options(analyzer: &str) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analyzer)
            .set_index_option(IndexRecordOption::WithFreqs),
    )
}

/// The schema and its fields.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        version: b.add_i64_field("version", STORED),
        title_words: b.add_text_field("title_words", text_options(tokenizer::WORDS) | STORED),
        title_bigrams: b.add_text_field("title_bigrams", text_options(tokenizer::BIGRAMS)),
        body_words: b.add_text_field("body_words", text_options(tokenizer::WORDS)),
        body_bigrams: b.add_text_field("body_bigrams", text_options(tokenizer::BIGRAMS)),
        body_text: b.add_text_field("body_text", STORED),
        subject: b.add_text_field("subject", STRING),
        region: b.add_text_field("region", STRING),
        effective_from: b.add_i64_field("effective_from", INDEXED | FAST),
        expires_on: b.add_i64_field("expires_on", INDEXED | FAST),
    };
    (b.build(), fields)
}

/// A date as the i64 of the date fields.
pub fn day_number(day: NaiveDate) -> i64 {
    i64::from(day.num_days_from_ce())
}

/// The code and its ancestors along `separator`, broadest first:
/// `01.02.03` → `01`, `01.02`, `01.02.03`.
pub fn dotted_ancestry(code: &str) -> impl Iterator<Item = &str> {
    code.match_indices('.')
        .map(|(at, _)| &code[..at])
        .chain(std::iter::once(code))
}

/// Markdown as plain text: paragraphs and list items on lines of their own,
/// markup and link targets dropped, code kept as its text.
pub fn markdown_to_text(markdown: &str) -> String {
    let mut text = String::with_capacity(markdown.len());
    for event in Parser::new(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak => text.push('\n'),
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item) => text.push('\n'),
            _ => {}
        }
    }
    text.trim_end().to_owned()
}

/// The document of an article.
pub fn document(fields: &Fields, article: &IndexedArticle) -> TantivyDocument {
    let body = markdown_to_text(&article.body);
    let mut doc = TantivyDocument::default();
    doc.add_text(fields.id, &article.id);
    doc.add_i64(fields.version, article.version);
    doc.add_text(fields.title_words, &article.title);
    doc.add_text(fields.title_bigrams, &article.title);
    for tag in &article.tags {
        doc.add_text(fields.title_words, tag);
        doc.add_text(fields.title_bigrams, tag);
    }
    doc.add_text(fields.body_words, &body);
    doc.add_text(fields.body_bigrams, &body);
    doc.add_text(fields.body_text, &body);
    if article.subjects.is_empty() {
        doc.add_text(fields.subject, ANY);
    }
    for subject in &article.subjects {
        doc.add_text(fields.subject, format!("{SUBJECT_EXACT}{subject}"));
        for ancestor in dotted_ancestry(subject) {
            doc.add_text(fields.subject, format!("{SUBJECT_UNDER}{ancestor}"));
        }
    }
    if article.regions.is_empty() {
        doc.add_text(fields.region, ANY);
    }
    for region in &article.regions {
        doc.add_text(fields.region, region);
    }
    doc.add_i64(
        fields.effective_from,
        article.effective_from.map_or(i64::MIN, day_number),
    );
    doc.add_i64(
        fields.expires_on,
        article.expires_on.map_or(i64::MAX, day_number),
    );
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_plain_lines() {
        let text =
            markdown_to_text("# 停车收费\n\n按**业主大会**决定。\n\n- 第一条\n- [链接](http://x)");
        assert_eq!(text, "停车收费\n按业主大会决定。\n第一条\n链接");
    }

    #[test]
    fn ancestry_of_dotted_codes() {
        assert_eq!(
            dotted_ancestry("01.02.03").collect::<Vec<_>>(),
            ["01", "01.02", "01.02.03"]
        );
        assert_eq!(dotted_ancestry("01").collect::<Vec<_>>(), ["01"]);
    }

    #[test]
    fn days_order_like_dates() {
        let a = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default();
        let b = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default();
        assert_eq!(day_number(a) + 1, day_number(b));
    }
}
