//! From a [`SearchQuery`] to tantivy queries, built from tokens rather than
//! handed to tantivy's query parser, so `"`, `:`, `(` or `AND` in a citizen's
//! text are just characters and nothing can make the parser fail.
//!
//! The text query is a flat union of boosted term queries (title and tags
//! above body, words and bigrams); the filters (subject, region, dates) are
//! a separate query, intersected with it. Long texts are cut and the terms
//! capped, keeping the rarest (highest IDF) ones and leaving out those in
//! more than a tenth of the articles: a 100 k character query costs as much
//! as a long description, and the cost of a search is the length of the
//! posting lists it reads.

use std::{collections::HashMap, ops::Bound};

use tantivy::{
    Searcher, Term,
    query::{BooleanQuery, BoostQuery, Occur, Query, RangeQuery, TermQuery},
    schema::{Field, IndexRecordOption},
    tokenizer::TextAnalyzer,
};

use crate::{
    QueryError, SearchQuery,
    schema::{self, ANY, Fields, SUBJECT_EXACT, SUBJECT_UNDER},
    tokenizer,
};

/// Characters of the query text looked at; the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 4_000;
/// Largest number of hits; larger limits are coerced to it.
pub const MAX_LIMIT: usize = 100;
/// Longest subject or region code accepted.
const MAX_CODE_CHARS: usize = 64;

/// Weights of the scoring: field boosts and how many terms a query keeps.
/// The defaults are the ones measured in docs/knowledge.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Boost of a title (or tag) match over a body match.
    pub title_boost: f32,
    /// Weight of the jieba word terms (0 leaves them out).
    pub words_weight: f32,
    /// Weight of the bigram terms (0 leaves them out).
    pub bigrams_weight: f32,
    /// Most distinct terms kept per analyzer (the rarest in the index).
    pub max_terms: usize,
    /// Whether a term repeated in the query weighs more (1 + ln(count)).
    pub weigh_repeats: bool,
    /// Terms found in more than this share of the articles are left out
    /// (their IDF adds little, their posting lists cost the most), except
    /// the [`KEEP_COMMON`] rarest when nothing rarer is left.
    pub max_df_share: f32,
}

/// Terms kept however common, so a query of common words still answers.
pub const KEEP_COMMON: usize = 4;

impl Tuning {
    fn repeat(&self, term: &QueryTerm) -> f32 {
        if self.weigh_repeats {
            term.repeat_weight()
        } else {
            1.0
        }
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            title_boost: 2.0,
            words_weight: 1.0,
            bigrams_weight: 1.0,
            max_terms: 48,
            weigh_repeats: false,
            max_df_share: 0.1,
        }
    }
}

/// A query ready to run: the scored text part, the filters, the snippet
/// terms and the number of hits.
pub(crate) struct Prepared {
    pub(crate) text: BooleanQuery,
    pub(crate) filter: BooleanQuery,
    /// Bigrams to highlight in the body, with a weight (higher for rarer).
    pub(crate) highlight: Vec<(String, f32)>,
    pub(crate) limit: usize,
}

/// Analyzers of a search, cloned per search (tantivy analyzers need `&mut`).
pub(crate) struct Analyzers {
    pub(crate) words: TextAnalyzer,
    pub(crate) bigrams: TextAnalyzer,
}

impl Analyzers {
    pub(crate) fn new() -> Self {
        Self {
            words: tokenizer::words_analyzer(),
            bigrams: tokenizer::bigrams_analyzer(),
        }
    }
}

/// The first `max` characters of `text`.
fn cut(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(at, _)| &text[..at])
}

/// A blank optional code is absent (proto3 strings); a long one is invalid.
fn code<'a>(value: &'a Option<String>, field: &'static str) -> Result<Option<&'a str>, QueryError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(code) if code.chars().count() > MAX_CODE_CHARS => Err(QueryError::invalid(
            field,
            format!("longer than {MAX_CODE_CHARS} characters"),
        )),
        Some(code) => Ok(Some(code)),
    }
}

/// A distinct query term found in the index.
#[derive(Debug, Clone, PartialEq)]
struct QueryTerm {
    text: String,
    /// Documents holding it (the most of the fields looked at).
    df: u64,
    /// Times it occurs in the query.
    count: u32,
}

impl QueryTerm {
    /// Weight of a term said several times: 1 + ln(count), so a citizen's
    /// repeated words weigh more without a long text drowning the rest.
    fn repeat_weight(&self) -> f32 {
        1.0 + (self.count as f32).ln()
    }

    /// Weight of the term in snippets: rarer terms pick the fragment.
    fn rarity(&self) -> f32 {
        1.0 / (1.0 + self.df as f32)
    }
}

/// Distinct terms of `tokens` present in `fields` of the index, at most
/// `max`, rarest first (ties: first seen).
fn rarest_terms(
    searcher: &Searcher,
    tokens: Vec<String>,
    fields: &[Field],
    tuning: &Tuning,
) -> Result<Vec<QueryTerm>, QueryError> {
    let mut seen: HashMap<String, Option<usize>> = HashMap::new();
    let mut terms: Vec<QueryTerm> = Vec::new();
    for token in tokens {
        if let Some(known) = seen.get(&token) {
            if let Some(term) = known.and_then(|at| terms.get_mut(at)) {
                term.count += 1;
            }
            continue;
        }
        let mut df = 0;
        for field in fields {
            df = df.max(searcher.doc_freq(&Term::from_field_text(*field, &token))?);
        }
        if df > 0 {
            seen.insert(token.clone(), Some(terms.len()));
            terms.push(QueryTerm {
                text: token,
                df,
                count: 1,
            });
        } else {
            seen.insert(token, None);
        }
    }
    terms.sort_by_key(|t| t.df);
    let common = (tuning.max_df_share as f64 * searcher.num_docs() as f64) as u64;
    let useful = terms.iter().filter(|t| t.df <= common).count();
    terms.truncate(tuning.max_terms.min(useful.max(KEEP_COMMON)));
    Ok(terms)
}

/// The title and body clauses of `terms`, weighted `weight` (the title's
/// boosted).
fn push_clauses(
    clauses: &mut Vec<(Occur, Box<dyn Query>)>,
    terms: &[QueryTerm],
    (title, body): (Field, Field),
    weight: f32,
    tuning: &Tuning,
) {
    for term in terms {
        let w = weight * tuning.repeat(term);
        clauses.push(boosted_term(title, &term.text, w * tuning.title_boost));
        clauses.push(boosted_term(body, &term.text, w));
    }
}

fn boosted_term(field: Field, text: &str, boost: f32) -> (Occur, Box<dyn Query>) {
    let term = TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    );
    (
        Occur::Should,
        Box::new(BoostQuery::new(Box::new(term), boost)),
    )
}

fn any_term(field: Field, values: impl IntoIterator<Item = String>) -> Box<dyn Query> {
    let clauses = values
        .into_iter()
        .map(|v| {
            let term = TermQuery::new(Term::from_field_text(field, &v), IndexRecordOption::Basic);
            (Occur::Should, Box::new(term) as Box<dyn Query>)
        })
        .collect();
    Box::new(BooleanQuery::new(clauses))
}

/// The filters: in force on the day, and subject and region when given.
fn filter(fields: &Fields, query: &SearchQuery) -> Result<BooleanQuery, QueryError> {
    let day = schema::day_number(query.on);
    let mut must: Vec<(Occur, Box<dyn Query>)> = vec![
        (
            Occur::Must,
            Box::new(RangeQuery::new(
                Bound::Unbounded,
                Bound::Included(Term::from_field_i64(fields.effective_from, day)),
            )),
        ),
        (
            Occur::Must,
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_i64(fields.expires_on, day)),
                Bound::Unbounded,
            )),
        ),
    ];
    if let Some(region) = code(&query.region, "region")? {
        let scopes = region
            .char_indices()
            .map(|(at, c)| region[..at + c.len_utf8()].to_owned())
            .chain([ANY.to_owned()]);
        must.push((Occur::Must, any_term(fields.region, scopes)));
    }
    if let Some(subject) = code(&query.subject, "subject")? {
        let related = schema::dotted_ancestry(subject)
            .map(|s| format!("{SUBJECT_EXACT}{s}"))
            .chain([format!("{SUBJECT_UNDER}{subject}"), ANY.to_owned()]);
        must.push((Occur::Must, any_term(fields.subject, related)));
    }
    Ok(BooleanQuery::new(must))
}

/// Builds the query, or says why it cannot be answered.
pub(crate) fn prepare(
    searcher: &Searcher,
    fields: &Fields,
    analyzers: &mut Analyzers,
    tuning: &Tuning,
    query: &SearchQuery,
) -> Result<Prepared, QueryError> {
    if query.limit == 0 {
        return Err(QueryError::invalid("limit", "must be at least 1"));
    }
    let filter = filter(fields, query)?;
    let text = cut(&query.text, MAX_QUERY_CHARS);
    let words = tokenizer::token_texts(&mut analyzers.words, text);
    let bigrams = tokenizer::token_texts(&mut analyzers.bigrams, text);
    if words.is_empty() && bigrams.is_empty() {
        return Err(QueryError::invalid(
            "text",
            "has no searchable words (only spaces or punctuation)",
        ));
    }
    let mut clauses = Vec::new();
    let mut highlight = Vec::new();
    if tuning.words_weight > 0.0 {
        let pair = (fields.title_words, fields.body_words);
        let words = rarest_terms(searcher, words, &[pair.0, pair.1], tuning)?;
        push_clauses(&mut clauses, &words, pair, tuning.words_weight, tuning);
        if tuning.bigrams_weight <= 0.0 {
            for word in &words {
                for bigram in tokenizer::token_texts(&mut analyzers.bigrams, &word.text) {
                    highlight.push((bigram, word.rarity()));
                }
            }
        }
    }
    if tuning.bigrams_weight > 0.0 {
        let pair = (fields.title_bigrams, fields.body_bigrams);
        let bigrams = rarest_terms(searcher, bigrams, &[pair.0, pair.1], tuning)?;
        push_clauses(&mut clauses, &bigrams, pair, tuning.bigrams_weight, tuning);
        highlight.extend(bigrams.into_iter().map(|b| {
            let rarity = b.rarity();
            (b.text, rarity)
        }));
    }
    Ok(Prepared {
        text: BooleanQuery::new(clauses),
        filter,
        highlight,
        limit: query.limit.min(MAX_LIMIT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_counts_characters_not_bytes() {
        assert_eq!(cut("物业管理", 2), "物业");
        assert_eq!(cut("ab", 5), "ab");
        assert_eq!(cut("", 0), "");
    }

    #[test]
    fn blank_codes_are_absent_and_long_ones_invalid() {
        assert!(matches!(code(&Some("  ".into()), "region"), Ok(None)));
        assert!(matches!(code(&None, "region"), Ok(None)));
        assert!(matches!(
            code(&Some("330106".into()), "region"),
            Ok(Some("330106"))
        ));
        assert!(matches!(
            code(&Some("9".repeat(65)), "region"),
            Err(QueryError::Invalid {
                field: "region",
                ..
            })
        ));
    }
}
