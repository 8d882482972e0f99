//! The keyword automaton of the routing index: every distinct keyword of
//! a rule set, found in a text in one pass.

use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder, MatchKind};

/// Every distinct keyword of a rule set in one automaton: a character-wise
/// double-array Aho–Corasick (`daachorse`), whose transitions are taken per
/// `char`, not per byte, so a CJK text costs one transition per character
/// in a compact array instead of three in a byte automaton.
///
/// Keywords are stored ASCII-lowercased; a text with ASCII capitals is
/// lowered into a reused buffer first, which keeps substring matching
/// ASCII case-insensitive (non-ASCII characters are compared as they are).
/// The search is overlapping: every occurrence of every keyword.
pub(super) struct Keywords {
    automaton: CharwiseDoubleArrayAhoCorasick<u32>,
    /// Keyword ids are `0..len`.
    len: usize,
}

/// Up to this many keywords, the automaton gets daachorse's prefilter.
const PREFILTER_MAX_KEYWORDS: usize = 1_000;

impl Keywords {
    /// `None` without keywords (or, in theory, past the automaton's
    /// 2^32-state scale: no keyword is then found).
    pub(super) fn build(patterns: &[String]) -> Option<Self> {
        if patterns.is_empty() {
            return None;
        }
        let automaton = CharwiseDoubleArrayAhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            // The 2-gram prefilter skips text no keyword can start in: it
            // pays off while keywords are few (31 keywords: half the time
            // per message, messages in turn), and costs once most positions
            // can start one (2,600 and 10,500 keywords: 5-30 % slower).
            .use_prefilter(patterns.len() <= PREFILTER_MAX_KEYWORDS)
            .build(patterns)
            .ok()?;
        Some(Self {
            automaton,
            len: patterns.len(),
        })
    }

    /// How many keywords (their ids are `0..len`).
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Calls `f` with the id of every keyword occurrence in `text`
    /// (overlapping, ASCII case-insensitive).
    pub(super) fn scan(&self, text: &str, lowered: &mut String, mut f: impl FnMut(u32)) {
        // A branch-free test, vectorized: cheaper than lowering every text.
        let capitals = text
            .as_bytes()
            .iter()
            .fold(false, |any, b| any | b.is_ascii_uppercase());
        let text = if capitals {
            lowered.clear();
            lowered.push_str(text);
            lowered.make_ascii_lowercase();
            lowered.as_str()
        } else {
            text
        };
        for m in self.automaton.find_overlapping_iter(text) {
            f(m.value());
        }
    }
}

impl std::fmt::Debug for Keywords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keywords")
            .field("len", &self.len)
            .field("heap_bytes", &self.automaton.heap_bytes())
            .finish_non_exhaustive()
    }
}
