//! Searching: the engine's path (filtered top-k with pruning, snippets) and
//! the baselines the benchmark measures it against.

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

/// A simpler way to answer the same query, for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// `text AND filters` as one boolean query under tantivy's own top-k
    /// collector: the obvious implementation, which scores every document
    /// that passes the filters and holds a query term. Same hits.
    Intersection,
    /// The text query alone (no filters, no snippets): tantivy's Block-WAND
    /// at its best, a floor for the cost of the text part. Other hits.
    Unfiltered,
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
        let filter = prepared
            .filter
            .weight(EnableScoring::disabled_from_searcher(&searcher))?;
        let top = searcher.search(
            &prepared.text,
            &FilteredTopDocs::new(prepared.limit, filter),
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
        let prepared = query::prepare(
            &searcher,
            fields,
            &mut Analyzers::new(),
            &self.inner.tuning,
            query,
        )?;
        let top = TopDocs::with_limit(prepared.limit).order_by_score();
        let found = match baseline {
            Baseline::Intersection => {
                let filter = ConstScoreQuery::new(Box::new(prepared.filter), 0.0);
                let both = BooleanQuery::new(vec![
                    (Occur::Must, Box::new(prepared.text) as Box<dyn Query>),
                    (Occur::Must, Box::new(filter)),
                ]);
                searcher.search(&both, &top)?
            }
            Baseline::Unfiltered => searcher.search(&prepared.text, &top)?,
        };
        found
            .into_iter()
            .map(|(score, address)| Ok((id_of(&searcher, fields, address)?, score)))
            .collect()
    }
}
