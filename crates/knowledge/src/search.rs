//! Searching: the engine's path (bounded terms, `text AND filters`, top k,
//! snippets) and the baselines the benchmark measures it against.

use tantivy::{
    DocAddress, Score, Searcher, TantivyDocument,
    collector::TopDocs,
    query::{BooleanQuery, ConstScoreQuery, EnableScoring, Occur, Query},
    schema::Value,
};

use crate::{
    KnowledgeIndex, QueryError, SearchHit, SearchQuery,
    collector::FilteredTopDocs,
    query::{self, Analyzers, Tuning},
    schema::Fields,
    snippet::Snippets,
};

/// Another way to answer the same query, for comparison (no snippets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The text query under a top-k collector with Block-WAND pruning that
    /// checks the filters per candidate ([`crate::collector`]). Same hits;
    /// slower on the long texts of intake (Block-WAND re-sorts dozens of
    /// term cursors at every step, where the plain union scans blocks).
    Pruned,
    /// Every distinct term of the text (no cap, no common terms left out),
    /// `text AND filters`: the query as a first version would build it.
    EveryTerm,
    /// The text query alone: no filters, no snippets. Other hits.
    Unfiltered,
}

/// `text AND filter`, the filter adding nothing to the score.
fn text_and_filter(text: BooleanQuery, filter: BooleanQuery) -> BooleanQuery {
    BooleanQuery::new(vec![
        (Occur::Must, Box::new(text) as Box<dyn Query>),
        (
            Occur::Must,
            Box::new(ConstScoreQuery::new(Box::new(filter), 0.0)),
        ),
    ])
}

fn text_of(doc: &TantivyDocument, field: tantivy::schema::Field) -> &str {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

fn id_of(searcher: &Searcher, fields: &Fields, address: DocAddress) -> Result<String, QueryError> {
    let doc: TantivyDocument = searcher.doc(address)?;
    Ok(text_of(&doc, fields.id).to_owned())
}

impl KnowledgeIndex {
    /// The best articles for `query`, in force on its day and within its
    /// subject and region, with highlighted snippets.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, QueryError> {
        self.search_tuned(query, &self.inner.tuning)
    }

    /// [`Self::search`] with other weights (evaluation, benchmark).
    pub fn search_tuned(
        &self,
        query: &SearchQuery,
        tuning: &Tuning,
    ) -> Result<Vec<SearchHit>, QueryError> {
        let searcher = self.inner.reader.searcher();
        let fields = &self.inner.fields;
        let prepared = query::prepare(&searcher, fields, &mut Analyzers::new(), tuning, query)?;
        let top = searcher.search(
            &text_and_filter(prepared.text, prepared.filter),
            &TopDocs::with_limit(prepared.limit).order_by_score(),
        )?;
        let snippets = Snippets::new(&prepared.highlight, fields.body_text);
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
            };
            hits.push(SearchHit {
                id: text(fields.id).to_owned(),
                version: doc
                    .get_first(fields.version)
                    .and_then(|v| v.as_i64())
                    .unwrap_or_default(),
                score,
                title: text(fields.title_words).to_owned(),
                snippet: snippets.of(text(fields.body_text)),
            });
        }
        Ok(hits)
    }

    /// Answers `query` the [`Baseline`] way: ids and scores, best first.
    pub fn search_baseline(
        &self,
        query: &SearchQuery,
        baseline: Baseline,
    ) -> Result<Vec<(String, Score)>, QueryError> {
        let searcher = self.inner.reader.searcher();
        let fields = &self.inner.fields;
        let tuning = match baseline {
            Baseline::EveryTerm => Tuning {
                max_terms: usize::MAX,
                max_df_share: 1.0,
                ..self.inner.tuning
            },
            Baseline::Pruned | Baseline::Unfiltered => self.inner.tuning,
        };
        let prepared = query::prepare(&searcher, fields, &mut Analyzers::new(), &tuning, query)?;
        let top = TopDocs::with_limit(prepared.limit).order_by_score();
        let found = match baseline {
            Baseline::Pruned => {
                let filter = prepared
                    .filter
                    .weight(EnableScoring::disabled_from_searcher(&searcher))?;
                searcher.search(
                    &prepared.text,
                    &FilteredTopDocs::new(prepared.limit, filter),
                )?
            }
            Baseline::EveryTerm => {
                searcher.search(&text_and_filter(prepared.text, prepared.filter), &top)?
            }
            Baseline::Unfiltered => searcher.search(&prepared.text, &top)?,
        };
        found
            .into_iter()
            .map(|(score, address)| Ok((id_of(&searcher, fields, address)?, score)))
            .collect()
    }
}
