//! The knowledge base's search engine: Chinese full-text search over policy
//! articles, for agents answering at intake (issue 17).
//!
//! It owns no data: the caller (the service layer) feeds it published
//! articles with [`KnowledgeIndex::upsert`] / [`KnowledgeIndex::remove`] and
//! marks how far it got with the stamp of [`KnowledgeIndex::commit`] (e.g. the
//! database's change cursor), so a restart can tell whether the on-disk index
//! still reflects the database ([`KnowledgeIndex::open_or_rebuild`]).
//!
//! One module a job: [`tokenizer`] (jieba words and character bigrams),
//! [`schema`] (fields and the article → document mapping), [`index`] (open,
//! rebuild, write, commit), [`query`] (user text → bounded term query and
//! filters), [`collector`] (a filtered top-k with Block-WAND pruning, measured
//! as a baseline),
//! [`search`] (hits, and the baselines the benchmark compares),
//! [`snippet`] (highlighted fragments), [`eval`] (recall on the real
//! replies).

pub mod collector;
pub mod eval;
pub mod index;
pub mod query;
pub mod schema;
pub mod search;
pub mod snippet;
pub mod tokenizer;

use chrono::NaiveDate;

pub use index::{KnowledgeIndex, Opened, Rebuild};

/// One published article as the index sees it: what search matches on
/// (title, body, tags), what filters on (subjects, regions, dates) and what a
/// hit cites (id, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedArticle {
    /// The article's id; [`KnowledgeIndex::upsert`] replaces by it.
    pub id: String,
    /// The published version, returned with hits so a citation names it.
    pub version: i64,
    /// Title, matched with a higher boost than the body.
    pub title: String,
    /// Body in Markdown; indexed and quoted as plain text.
    pub body: String,
    /// Subject codes (dotted paths such as `01.02`); empty means any subject.
    pub subjects: Vec<String>,
    /// Region codes the article applies to, each with everything under it
    /// (a district's code covers its streets); empty means city-wide.
    pub regions: Vec<String>,
    /// Free tags, matched like words of the title.
    pub tags: Vec<String>,
    /// First day in force; `None`: in force from the start.
    pub effective_from: Option<NaiveDate>,
    /// Last day in force (inclusive, as 有效期至 reads); `None`: no end.
    pub expires_on: Option<NaiveDate>,
}

impl IndexedArticle {
    /// Whether the article is in force on `day`: the one rule of the dates,
    /// which the index's date filter implements and callers may reuse.
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.effective_from.is_none_or(|from| from <= day)
            && self.expires_on.is_none_or(|last| day <= last)
    }
}

/// A search: the citizen's words, optional subject and region, the day the
/// answer must be valid on, and how many hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Free text (title and description of the call); any string is
    /// accepted, longer than [`query::MAX_QUERY_CHARS`] is cut.
    pub text: String,
    /// Only articles on this subject, on a broader one, on a narrower one, or
    /// on none.
    pub subject: Option<String>,
    /// Only articles whose region scope contains this region (or city-wide).
    pub region: Option<String>,
    /// Only articles in force on this day.
    pub on: NaiveDate,
    /// Number of hits, 1 to [`query::MAX_LIMIT`] (larger is coerced).
    pub limit: usize,
}

/// One ranked article.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The article's id.
    pub id: String,
    /// Its version that was indexed.
    pub version: i64,
    /// BM25 score (higher is better; comparable within one search only).
    pub score: f32,
    /// The title.
    pub title: String,
    /// A fragment of the body with the matched words in `<em>…</em>`,
    /// HTML-escaped otherwise.
    pub snippet: String,
}

/// Why a search could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query cannot be answered as given (the field names the culprit);
    /// the service maps it to INVALID_ARGUMENT.
    #[error("{field}: {reason}")]
    Invalid {
        /// The offending field of [`SearchQuery`].
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The index failed (I/O): INTERNAL or UNAVAILABLE for the caller.
    #[error("knowledge index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

impl QueryError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
