//! Highlighted fragments of a hit's body: tantivy's snippet generator
//! (best-scoring window, HTML-escaped, overlapping matches merged, so
//! adjacent matched bigrams read as one highlighted phrase) with `<em>` marks,
//! and the body's opening when no query term occurs in it (a title-only
//! match).
//!
//! Highlighting is always by bigrams: tantivy's fragment search needs tokens
//! in increasing offsets, and jieba's search mode emits a long word after
//! the shorter words inside it (it underflows on them).

use std::collections::BTreeMap;

use tantivy::{schema::Field, snippet::SnippetGenerator};

use crate::tokenizer;

/// Length of a fragment in bytes (tantivy counts bytes): about 80 Chinese
/// characters, what a suggestion list shows on one or two lines.
pub const FRAGMENT_BYTES: usize = 240;

/// Opening and closing marks of a highlighted match.
pub const MARKS: (&str, &str) = ("<em>", "</em>");

/// Makes snippets for the hits of one search.
pub(crate) struct Snippets {
    generator: SnippetGenerator,
}

impl Snippets {
    /// A generator for `terms` (bigram texts with a weight, higher for
    /// rarer). `field` is only the generator's label: the text is passed to
    /// [`Self::of`].
    pub(crate) fn new(terms: &[(String, f32)], field: Field) -> Self {
        let terms: BTreeMap<String, f32> = terms.iter().cloned().collect();
        let analyzer = tokenizer::bigrams_analyzer();
        Self {
            generator: SnippetGenerator::new(terms, analyzer, field, FRAGMENT_BYTES),
        }
    }

    /// The snippet of `body` as HTML.
    pub(crate) fn of(&self, body: &str) -> String {
        let mut snippet = self.generator.snippet(body);
        if snippet.fragment().is_empty() {
            return opening(body);
        }
        snippet.set_snippet_prefix_postfix(MARKS.0, MARKS.1);
        snippet.to_html()
    }
}

/// The first [`FRAGMENT_BYTES`] of `body` (at a character boundary), escaped.
fn opening(body: &str) -> String {
    let mut end = FRAGMENT_BYTES.min(body.len());
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    escape(&body[..end])
}

/// The escaping tantivy applies to highlighted fragments, for the plain
/// opening (four replacements do not justify an HTML crate).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::Schema;

    fn field() -> Field {
        let mut b = Schema::builder();
        b.add_text_field("body", tantivy::schema::TEXT)
    }

    #[test]
    fn matched_bigrams_merge_into_one_highlight() {
        let terms = [
            ("停车".to_owned(), 0.5),
            ("车收".to_owned(), 0.5),
            ("收费".to_owned(), 0.5),
        ];
        let html =
            Snippets::new(&terms, field()).of("业委会制定的停车收费标准不高于周边小区价格。");
        assert!(html.contains("<em>停车收费</em>"), "{html}");
    }

    #[test]
    fn markup_in_the_body_is_escaped() {
        let terms = [("停车".to_owned(), 0.5)];
        let html = Snippets::new(&terms, field()).of("<script>停车</script>");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<em>停车</em>"), "{html}");
    }

    #[test]
    fn no_match_gives_the_escaped_opening() {
        let snippets = Snippets::new(&[("停车".to_owned(), 0.5)], field());
        let body = format!("a<b{}", "物".repeat(200));
        let html = snippets.of(&body);
        assert!(html.starts_with("a&lt;b物"), "{html}");
        assert!(html.len() <= FRAGMENT_BYTES + 3, "{}", html.len());
    }
}
