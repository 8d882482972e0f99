//! Duplicate candidates (重复件): how alike two requests are, and how
//! likely one duplicates the other.
//!
//! Text similarity is the Jaccard index of the character bigram and
//! trigram sets ("shingles") of the title and the start of the
//! description. Characters, not words: Chinese has no spaces, and bigrams
//! are how most Chinese words are written, so "路灯不亮" and "小区路灯坏了"
//! share 路灯 without a segmenter.
//!
//! Exact Jaccard is the reference; searches compare stored, keyed MinHash
//! sketches of it ([`TextSketch`], see `duplicates/sketch.rs`) so no
//! candidate's sealed description is opened and shingled again per search.
//! On texts this short a 64-bit SimHash cannot tell a paraphrase from
//! another matter (measured on 12345-style requests: paraphrases 17–22
//! bits apart, unrelated requests 22–40), where the shingle sets separate
//! them cleanly (Jaccard 0.2–0.45 against at most 0.03), and a 128-slot
//! MinHash tracks the Jaccard index closely. Why hand-rolled: it is a
//! sorted set intersection; shingle hashes are FNV-1a, fixed, so a result
//! is the same in every process and test (std's `DefaultHasher` is not
//! promised to be).

mod sketch;

pub(crate) use sketch::slot_similarity;
pub use sketch::{SKETCH_BYTES, SketchKey, TextSketch};

use crate::{event::EventKind, ticket::Ticket};

/// Characters of the description that take part: the start says what the
/// matter is, and the bound keeps a comparison cheap whatever the length.
pub const DESCRIPTION_CHARS: usize = 300;

/// Text similarity from which open tickets of the same place are
/// candidates (well below a paraphrase, well above unrelated requests).
pub const SIMILAR_TEXT: f64 = 0.15;

/// A request's text as its set of shingle hashes, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shingles(Vec<u64>);

/// Separates the title from the description, so no shingle spans both.
const SEPARATOR: char = '\u{1f}';

impl Shingles {
    /// The shingles of a title and description.
    ///
    /// The same set as "every 2- and 3-character window of the lowercased
    /// letters and digits, hashed" (the tests keep that plain version as
    /// the reference), computed with less work: it runs for every row a
    /// duplicate search compares and every ticket the hotspot detector
    /// sees. The common CJK ideographs skip the Unicode table look-up
    /// (they are letters and have no case), and a trigram's hash continues
    /// its leading bigram's (FNV-1a is a running hash), so each window
    /// costs one character's worth of hashing, not two or three.
    pub fn of(title: &str, description: &str) -> Self {
        let mut chars: Vec<char> = Vec::with_capacity(title.len() / 2 + DESCRIPTION_CHARS + 1);
        let text = title
            .chars()
            .chain([SEPARATOR])
            .chain(description.chars().take(DESCRIPTION_CHARS));
        for c in text {
            if is_common_ideograph(c) || c == SEPARATOR {
                chars.push(c);
            } else {
                chars.extend(c.to_lowercase().filter(|c| c.is_alphanumeric()));
            }
        }
        let mut set: Vec<u64> = Vec::with_capacity(2 * chars.len());
        for (i, pair) in chars.windows(2).enumerate() {
            if pair.contains(&SEPARATOR) {
                continue;
            }
            let bigram = fnv1a_continue(fnv1a_continue(FNV_OFFSET, pair[0]), pair[1]);
            set.push(bigram);
            if let Some(&third) = chars.get(i + 2)
                && third != SEPARATOR
            {
                set.push(fnv1a_continue(bigram, third));
            }
        }
        // A text of one character still has a shingle: itself.
        if chars.len() < 3 {
            set.extend(
                chars
                    .iter()
                    .filter(|c| **c != SEPARATOR)
                    .map(|c| fnv1a_continue(FNV_OFFSET, *c)),
            );
        }
        set.sort_unstable();
        set.dedup();
        Self(set)
    }

    /// Of a ticket's title and description.
    pub fn of_ticket(t: &Ticket) -> Self {
        Self::of(&t.intake.title, &t.intake.description)
    }

    /// The shingle hashes, sorted and distinct: what a sketch (the
    /// hotspot detector's MinHash) is computed from.
    pub fn hashes(&self) -> &[u64] {
        &self.0
    }

    /// The Jaccard index 0–1: shared shingles over all; two empty texts
    /// are not alike (0).
    pub fn similarity(&self, other: &Self) -> f64 {
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j, mut shared) = (0, 0, 0_u32);
        while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
            match x.cmp(y) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    shared += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        let all = u32::try_from(a.len() + b.len()).unwrap_or(u32::MAX) - shared;
        if all == 0 {
            0.0
        } else {
            f64::from(shared) / f64::from(all)
        }
    }
}

/// Whether an event corrected the text duplicate search compares (the
/// title or the description), so a stored sketch of it is stale.
pub fn rewrites_text(kind: &EventKind) -> bool {
    match kind {
        EventKind::Updated(u) => u.fields.iter().any(|f| f == "title" || f == "description"),
        _ => false,
    }
}

/// FNV-1a of a string's characters: a hash that is the same in every
/// process (the hotspot detector's caller keys).
pub(crate) fn fnv1a_str(s: &str) -> u64 {
    let chars: Vec<char> = s.chars().collect();
    fnv1a(&chars)
}

/// FNV-1a's starting value.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over the characters' UTF-32 bytes.
fn fnv1a(chars: &[char]) -> u64 {
    chars.iter().fold(FNV_OFFSET, |h, c| fnv1a_continue(h, *c))
}

/// FNV-1a of what `h` hashed followed by `c`'s UTF-32 bytes.
fn fnv1a_continue(mut h: u64, c: char) -> u64 {
    for b in u32::from(c).to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// CJK Unified Ideographs (U+4E00–U+9FFF), nearly every character of a
/// Chinese request: alphanumeric and caseless, known without a table.
fn is_common_ideograph(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Why a ticket is a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The same caller phone within the window.
    SameCaller,
    /// Open in the same street (or district) with similar text.
    SamePlaceSimilarText,
}

/// A scored candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// How likely a duplicate, 0–1.
    pub score: f64,
    /// Text similarity, 0–1.
    pub text_similarity: f64,
    /// Why, in [`Reason`] order.
    pub reasons: Vec<Reason>,
}

/// Scores a ticket found by the caller's phone (`same_caller`) and/or by
/// place, given its text similarity; `None` when it is no candidate (found
/// by place only, with dissimilar text). The same caller weighs most (a
/// citizen calling again about the matter is the commonest duplicate), and
/// text raises it; a place match is as strong as the text is similar.
pub fn score(same_caller: bool, same_place: bool, text_similarity: f64) -> Option<Scored> {
    let mut reasons = Vec::new();
    if same_caller {
        reasons.push(Reason::SameCaller);
    }
    let similar_here = same_place && text_similarity >= SIMILAR_TEXT;
    if similar_here {
        reasons.push(Reason::SamePlaceSimilarText);
    }
    let score = match (same_caller, similar_here) {
        (false, false) => return None,
        (true, _) => 0.6 + 0.4 * text_similarity,
        // A clear paraphrase shares about half its shingles.
        (false, true) => 0.9 * (2.0 * text_similarity).min(1.0),
    };
    Some(Scored {
        score,
        text_similarity,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sim(a: (&str, &str), b: (&str, &str)) -> f64 {
        Shingles::of(a.0, a.1).similarity(&Shingles::of(b.0, b.1))
    }

    #[test]
    fn the_same_matter_in_other_words_is_similar_and_another_matter_is_not() {
        let lamp = ("路灯不亮", "文三路90号小区门口的路灯坏了一周，晚上很黑");
        let lamp_again = ("路灯坏了", "文三路90号小区门口路灯坏了一个星期了，晚上太黑");
        let noise = (
            "工地夜间施工噪音",
            "每天晚上十一点以后还在打桩，严重影响休息",
        );
        assert_eq!(sim(lamp, lamp), 1.0);
        let close = sim(lamp, lamp_again);
        let far = sim(lamp, noise);
        assert!(close >= SIMILAR_TEXT, "{close}");
        assert!(far < SIMILAR_TEXT, "{far}");
        assert!(close > far + 0.2, "{close} vs {far}");
        let water = ("停水", "天目山路小区今天早上开始停水，没有通知");
        let water_again = ("小区停水", "天目山路小区从早上停水到现在，也没通知");
        assert!(sim(water, water_again) >= SIMILAR_TEXT);
        assert!(sim(water, lamp) < SIMILAR_TEXT);
        assert_eq!(sim(("", ""), ("", "")), 0.0, "no text is like nothing");
        assert_eq!(
            sim(("灯", ""), ("灯", "")),
            1.0,
            "one character is a shingle"
        );
    }

    #[test]
    fn only_a_correction_of_the_title_or_description_rewrites_the_text() {
        use crate::event::Updated;
        let updated = |fields: &[&str]| {
            EventKind::Updated(Updated {
                fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            })
        };
        assert!(rewrites_text(&updated(&["description"])));
        assert!(rewrites_text(&updated(&["address", "title"])));
        assert!(!rewrites_text(&updated(&["address", "urgency"])));
    }

    #[test]
    fn case_spaces_and_punctuation_do_not_matter() {
        assert_eq!(
            sim(("Street Lamp", "broken!"), ("street lamp", "BROKEN")),
            1.0
        );
    }

    #[test]
    fn only_the_start_of_a_long_description_counts() {
        let start = "路".repeat(DESCRIPTION_CHARS);
        let a = Shingles::of("t", &format!("{start}甲乙丙丁"));
        let b = Shingles::of("t", &format!("{start}戊己庚辛"));
        assert_eq!(a, b);
    }

    #[test]
    fn scores_rank_the_same_caller_first_and_need_similar_text_otherwise() {
        let caller = score(true, false, 0.0).unwrap();
        assert_eq!(caller.reasons, vec![Reason::SameCaller]);
        assert!((caller.score - 0.6).abs() < 1e-9);
        assert_eq!(score(false, true, SIMILAR_TEXT - 0.01), None);
        let place = score(false, true, 0.4).unwrap();
        assert_eq!(place.reasons, vec![Reason::SamePlaceSimilarText]);
        let both = score(true, true, 0.4).unwrap();
        assert_eq!(
            both.reasons,
            vec![Reason::SameCaller, Reason::SamePlaceSimilarText]
        );
        assert!(both.score > place.score && both.score > caller.score);
        assert_eq!(score(false, false, 1.0), None);
    }

    /// The plain statement of what [`Shingles::of`] computes.
    fn reference(title: &str, description: &str) -> Vec<u64> {
        let chars: Vec<char> = title
            .chars()
            .chain([SEPARATOR])
            .chain(description.chars().take(DESCRIPTION_CHARS))
            .flat_map(char::to_lowercase)
            .filter(|c| c.is_alphanumeric() || *c == SEPARATOR)
            .collect();
        let mut set: Vec<u64> = [2, 3]
            .into_iter()
            .flat_map(|n| chars.windows(n))
            .filter(|shingle| !shingle.contains(&SEPARATOR))
            .map(fnv1a)
            .collect();
        if chars.len() < 3 {
            set.extend(
                chars
                    .iter()
                    .filter(|c| **c != SEPARATOR)
                    .map(std::slice::from_ref)
                    .map(fnv1a),
            );
        }
        set.sort_unstable();
        set.dedup();
        set
    }

    #[test]
    fn the_common_ideographs_are_caseless_letters() {
        for c in '\u{4e00}'..='\u{9fff}' {
            assert!(is_common_ideograph(c));
            assert!(c.is_alphanumeric(), "{c:?}");
            assert!(c.to_lowercase().eq([c]), "{c:?}");
        }
        assert!(!is_common_ideograph('\u{4dff}') && !is_common_ideograph('\u{a000}'));
    }

    #[test]
    fn the_fast_shingles_are_the_plain_ones_on_real_requests() {
        let requests = [
            ("路灯不亮", "文三路90号小区门口的路灯坏了一周，晚上很黑"),
            (
                "A市在水一方大厦人为烂尾多年",
                "位于书院路主干道的在水一方大厦一楼至四楼人为拆除水、电等设施后",
            ),
            ("Ünïcode ÀÉ ǅ İstanbul", "Straße ΣΑΣ 12345 ①②"),
            ("", ""),
            ("灯", ""),
            ("", "a"),
            ("ab", ""),
        ];
        for (title, description) in requests {
            assert_eq!(
                Shingles::of(title, description).0,
                reference(title, description)
            );
        }
    }

    proptest! {
        #[test]
        fn similarity_is_symmetric_bounded_and_one_on_itself(
            a in "\\PC{0,40}", b in "\\PC{0,40}", c in "\\PC{0,40}"
        ) {
            let (x, y) = (Shingles::of(&a, &b), Shingles::of(&b, &c));
            prop_assert_eq!(x.similarity(&y), y.similarity(&x));
            prop_assert!((0.0..=1.0).contains(&x.similarity(&y)));
            if !x.0.is_empty() {
                prop_assert_eq!(x.similarity(&x), 1.0);
            }
        }

        #[test]
        fn the_fast_shingles_are_the_plain_ones(
            title in "\\PC{0,30}", description in "(\\PC|[\u{4e00}-\u{9fff}]){0,320}"
        ) {
            prop_assert_eq!(Shingles::of(&title, &description).0, reference(&title, &description));
        }

        #[test]
        fn scores_stay_within_zero_and_one(
            caller in any::<bool>(), place in any::<bool>(), s in 0.0_f64..=1.0
        ) {
            if let Some(scored) = score(caller, place, s) {
                prop_assert!((0.0..=1.0).contains(&scored.score));
                prop_assert!(!scored.reasons.is_empty());
            }
        }
    }
}
