//! Duplicate candidates (重复件): how alike two requests are, and how
//! likely one duplicates the other.
//!
//! Text similarity is the Jaccard index of the character bigram and
//! trigram sets ("shingles") of the title and the start of the
//! description. Characters, not words: Chinese has no spaces, and bigrams
//! are how most Chinese words are written, so "路灯不亮" and "小区路灯坏了"
//! share 路灯 without a segmenter.
//!
//! Why exact Jaccard rather than a sketch (SimHash, MinHash): the
//! candidate set is bounded by database indexes (the caller's blind
//! index; the street, open states and creation time) to a few hundred
//! rows before any text is compared, so a sketch has nothing to save, and
//! on texts this short a 64-bit SimHash cannot tell a paraphrase from
//! another matter (measured on 12345-style requests: paraphrases 17–22
//! bits apart, unrelated requests 22–40), where the shingle sets separate
//! them cleanly (Jaccard 0.2–0.45 against at most 0.03). Why hand-rolled:
//! it is a sorted set intersection; shingle hashes are FNV-1a, fixed, so a
//! result is the same in every process and test (std's `DefaultHasher` is
//! not promised to be).

use crate::ticket::Ticket;

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
    pub fn of(title: &str, description: &str) -> Self {
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
        // A text of one character still has a shingle: itself.
        set.extend(
            chars
                .iter()
                .filter(|c| **c != SEPARATOR)
                .map(std::slice::from_ref)
                .filter(|_| chars.len() < 3)
                .map(fnv1a),
        );
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

/// FNV-1a of a string's characters: a hash that is the same in every
/// process (the hotspot detector's caller keys).
pub(crate) fn fnv1a_str(s: &str) -> u64 {
    let chars: Vec<char> = s.chars().collect();
    fnv1a(&chars)
}

/// FNV-1a over the characters' UTF-32 bytes.
fn fnv1a(chars: &[char]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in chars {
        for b in u32::from(*c).to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
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
