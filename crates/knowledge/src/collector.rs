//! Top-k by score among the documents a filter query accepts, without losing
//! Block-WAND.
//!
//! The obvious query, `text AND filters`, makes tantivy score every document
//! that passes the filters and contains any query term: with city-wide
//! articles in force the filters pass nearly all of them, and a long citizen
//! text has common terms. Here the text query runs alone, pruned by the k-th
//! best score so far (Block-WAND skips blocks that cannot beat it), and the
//! filter is only consulted for the candidates that could enter the top k.
//! Candidates arrive in increasing document order, so the filter's doc set
//! is only ever sought forward. Correct because a document the filter
//! rejects never enters the heap, so the threshold is always the k-th best
//! score of accepted documents.

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
