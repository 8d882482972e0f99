//! Top-k by score among the documents a filter query accepts, with
//! Block-WAND pruning: the text query runs alone, pruned by the k-th best
//! score so far (Block-WAND skips blocks that cannot beat it), and the
//! filter is only consulted for the candidates that could enter the top k.
//! Candidates arrive in increasing document order, so the filter's doc set
//! is only ever sought forward. Correct because a document the filter
//! rejects never enters the heap, so the threshold is always the k-th best
//! score of accepted documents.
//!
//! Measured (docs/knowledge.md), it loses to the plain `text AND filters` on
//! the long texts of intake: with dozens of query terms Block-WAND re-sorts
//! its term cursors at every step, where the plain union scans posting
//! blocks. It stays as the benchmark's [`crate::search::Baseline::Pruned`],
//! which would win on short queries over a large base.

use std::{cmp::Ordering, collections::BinaryHeap};

use tantivy::{
    DocAddress, DocId, DocSet, Score, SegmentReader, TERMINATED,
    collector::{Collector, SegmentCollector},
    fastfield::AliveBitSet,
    query::{Scorer, Weight},
};

/// [`Collector`] of the best `limit` documents that `filter` matches.
pub struct FilteredTopDocs {
    limit: usize,
    filter: Box<dyn Weight>,
}

impl std::fmt::Debug for FilteredTopDocs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilteredTopDocs")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl FilteredTopDocs {
    /// The best `limit` documents among those of `filter` (a weight made
    /// without scoring).
    pub fn new(limit: usize, filter: Box<dyn Weight>) -> Self {
        Self { limit, filter }
    }
}

/// A scored document, ordered by score, then by lower doc id first.
#[derive(Debug, Clone, Copy)]
struct Scored {
    score: Score,
    doc: DocId,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.doc.cmp(&self.doc))
    }
}

/// Per segment: the filter's doc set, deletions and a min-heap of the best.
pub struct FilteredTopSegment {
    limit: usize,
    segment_ord: u32,
    filter: Box<dyn Scorer>,
    alive: Option<AliveBitSet>,
    best: BinaryHeap<std::cmp::Reverse<Scored>>,
}

impl std::fmt::Debug for FilteredTopSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilteredTopSegment")
            .field("segment_ord", &self.segment_ord)
            .field("kept", &self.best.len())
            .finish_non_exhaustive()
    }
}

impl FilteredTopSegment {
    /// Whether the filter accepts `doc`; `doc` never decreases between calls.
    fn accepts(&mut self, doc: DocId) -> bool {
        if self.alive.as_ref().is_some_and(|a| a.is_deleted(doc)) {
            return false;
        }
        let mut at = self.filter.doc();
        if at < doc && at != TERMINATED {
            at = self.filter.seek(doc);
        }
        at == doc
    }

    /// Offers a candidate; returns the score a later one must beat.
    fn offer(&mut self, doc: DocId, score: Score) -> Score {
        let full = self.best.len() >= self.limit;
        let beats = |s: &Scored| (Scored { score, doc }) > *s;
        if (!full || self.best.peek().is_some_and(|min| beats(&min.0))) && self.accepts(doc) {
            self.best.push(std::cmp::Reverse(Scored { score, doc }));
            if self.best.len() > self.limit {
                self.best.pop();
            }
        }
        self.threshold()
    }

    fn threshold(&self) -> Score {
        match self.best.peek() {
            Some(min) if self.best.len() >= self.limit => min.0.score,
            _ => Score::MIN,
        }
    }
}

impl SegmentCollector for FilteredTopSegment {
    type Fruit = Vec<(Score, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.offer(doc, score);
    }

    fn harvest(self) -> Self::Fruit {
        let segment_ord = self.segment_ord;
        self.best
            .into_iter()
            .map(|s| (s.0.score, DocAddress::new(segment_ord, s.0.doc)))
            .collect()
    }
}

impl Collector for FilteredTopDocs {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = FilteredTopSegment;

    fn for_segment(
        &self,
        segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<FilteredTopSegment> {
        Ok(FilteredTopSegment {
            limit: self.limit,
            segment_ord,
            filter: self.filter.scorer(reader, 1.0)?,
            alive: reader.alive_bitset().cloned(),
            best: BinaryHeap::with_capacity(self.limit + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(Score, DocAddress)> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        all.truncate(self.limit);
        Ok(all)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Fruit> {
        let mut segment = self.for_segment(segment_ord, reader)?;
        weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
            segment.offer(doc, score)
        })?;
        Ok(segment.harvest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::{
        Index, IndexWriter, TantivyDocument, Term,
        collector::TopDocs,
        query::{BooleanQuery, ConstScoreQuery, EnableScoring, Occur, Query, TermQuery},
        schema::{IndexRecordOption, STORED, STRING, Schema, TEXT},
    };

    /// 600 documents: `word` repeated 1 to 6 times (so scores tie in
    /// groups), every third one tagged `keep`, one segment per 100.
    fn index() -> (Index, tantivy::schema::Field, tantivy::schema::Field) {
        let mut b = Schema::builder();
        let text = b.add_text_field("text", TEXT);
        let tag = b.add_text_field("tag", STRING | STORED);
        let index = Index::create_in_ram(b.build());
        let mut writer: IndexWriter = index
            .writer_with_num_threads(1, 15_000_000)
            .unwrap_or_else(|e| panic!("{e}"));
        for n in 0..600 {
            let mut doc = TantivyDocument::default();
            doc.add_text(text, format!("{} filler", "word ".repeat(n % 6 + 1)));
            doc.add_text(tag, if n % 3 == 0 { "keep" } else { "drop" });
            writer.add_document(doc).unwrap_or_else(|e| panic!("{e}"));
            if n % 100 == 99 {
                writer.commit().unwrap_or_else(|e| panic!("{e}"));
            }
        }
        writer.commit().unwrap_or_else(|e| panic!("{e}"));
        (index, text, tag)
    }

    #[test]
    fn keeps_the_best_of_the_filtered_documents() {
        let (index, text, tag) = index();
        let searcher = index.reader().unwrap_or_else(|e| panic!("{e}")).searcher();
        let words = TermQuery::new(
            Term::from_field_text(text, "word"),
            IndexRecordOption::WithFreqs,
        );
        let keep = TermQuery::new(Term::from_field_text(tag, "keep"), IndexRecordOption::Basic);
        for limit in [1, 7, 150, 1000] {
            let filter = keep
                .weight(EnableScoring::disabled_from_searcher(&searcher))
                .unwrap_or_else(|e| panic!("{e}"));
            let ours = searcher
                .search(&words, &FilteredTopDocs::new(limit, filter))
                .unwrap_or_else(|e| panic!("{e}"));
            let both = BooleanQuery::new(vec![
                (Occur::Must, Box::new(words.clone()) as Box<dyn Query>),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(Box::new(keep.clone()), 0.0)),
                ),
            ]);
            let plain = searcher
                .search(&both, &TopDocs::with_limit(limit).order_by_score())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ours.len(), plain.len().min(200), "limit {limit}");
            let scores = |v: &[(Score, DocAddress)]| v.iter().map(|h| h.0).collect::<Vec<_>>();
            assert_eq!(scores(&ours), scores(&plain), "limit {limit}");
            for (_, address) in &ours {
                let doc: TantivyDocument = searcher.doc(*address).unwrap_or_else(|e| panic!("{e}"));
                let tag_value = doc
                    .get_first(tag)
                    .and_then(|v| tantivy::schema::Value::as_str(&v).map(str::to_owned));
                assert_eq!(tag_value.as_deref(), Some("keep"));
            }
        }
    }

    #[test]
    fn ties_prefer_the_lower_document() {
        let low = Scored { score: 1.0, doc: 3 };
        let high = Scored { score: 1.0, doc: 9 };
        assert!(low > high);
        assert!(Scored { score: 2.0, doc: 9 } > low);
    }
}
