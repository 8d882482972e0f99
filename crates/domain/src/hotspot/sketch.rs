//! A text's MinHash sketch: 64 slots that estimate the Jaccard index of
//! two shingle sets (those of [`crate::duplicates::Shingles`]) in a fixed,
//! small space and a comparison of 64 integers.
//!
//! Why a sketch here when duplicate search compares exact sets: the
//! detector keeps every recent ticket of a street as a possible cluster
//! seed (thousands city-wide), so exact sets of ~500 hashes each would cost
//! megabytes and a merge per comparison; 256 bytes and a loop of 64 do not.
//! Why one-permutation hashing (one hash per shingle, its low bits choose
//! the slot, the rest compete for the minimum) rather than 64 hash
//! functions: it costs one mix per shingle instead of 64, and on texts of
//! a few hundred shingles almost every slot is filled; the estimator below
//! leaves out the slots empty in both texts (Li, Owen and Zhang, 2012).
//! Why hand-rolled: a mix function and a loop; the crates that offer MinHash
//! bring their own shingling and hashers, and the detector must reuse the
//! duplicate search's shingles so the two agree on what "similar" means.

use crate::duplicates::{Shingles, slot_similarity};

/// Slots of a sketch (a power of two: the slot is the hash's low bits).
const SLOTS: usize = 64;

/// A slot no shingle fell into.
const EMPTY: u32 = u32::MAX;

/// The MinHash sketch of one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch([u32; SLOTS]);

impl Sketch {
    /// The sketch of a title and description (shingled as duplicate search
    /// does).
    pub fn of(title: &str, description: &str) -> Self {
        Self::of_shingles(&Shingles::of(title, description))
    }

    /// The sketch of a shingle set.
    pub fn of_shingles(shingles: &Shingles) -> Self {
        Self::of_hashes(shingles.hashes().iter().copied())
    }

    /// The sketch of some shingle hashes (a set less its boilerplate).
    pub fn of_hashes(hashes: impl Iterator<Item = u64>) -> Self {
        let mut slots = [EMPTY; SLOTS];
        for h in hashes {
            let mixed = mix(h);
            let slot = (mixed as usize) & (SLOTS - 1);
            let value = (mixed >> 32) as u32;
            if let Some(s) = slots.get_mut(slot) {
                *s = (*s).min(value);
            }
        }
        Self(slots)
    }

    /// Estimated Jaccard index 0–1: slots with the same minimum over slots
    /// filled in either text; 0 when both are empty.
    pub fn similarity(&self, other: &Self) -> f64 {
        slot_similarity(&self.0, &other.0, EMPTY)
    }
}

/// The SplitMix64 finaliser: spreads FNV's weak low bits over all 64, so the
/// slot and the value are independent.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_sketch_estimates_the_exact_jaccard_index() {
        let pairs = [
            (
                ("路灯不亮", "文三路90号小区门口的路灯坏了一周，晚上很黑"),
                ("路灯坏了", "文三路90号小区门口路灯坏了一个星期了，晚上太黑"),
            ),
            (
                ("停水", "天目山路小区今天早上开始停水，没有通知"),
                (
                    "工地夜间施工噪音",
                    "每天晚上十一点以后还在打桩，严重影响休息",
                ),
            ),
        ];
        for (a, b) in pairs {
            let exact = Shingles::of(a.0, a.1).similarity(&Shingles::of(b.0, b.1));
            let estimate = Sketch::of(a.0, a.1).similarity(&Sketch::of(b.0, b.1));
            assert!((exact - estimate).abs() < 0.2, "{exact} vs {estimate}");
        }
        let lamp = Sketch::of("路灯不亮", "文三路90号小区门口的路灯坏了一周");
        assert_eq!(lamp.similarity(&lamp), 1.0);
        assert_eq!(Sketch::of("", "").similarity(&Sketch::of("", "")), 0.0);
    }

    proptest! {
        #[test]
        fn similarity_is_symmetric_and_bounded(a in "\\PC{0,60}", b in "\\PC{0,60}") {
            let (x, y) = (Sketch::of(&a, ""), Sketch::of(&b, ""));
            prop_assert_eq!(x.similarity(&y), y.similarity(&x));
            prop_assert!((0.0..=1.0).contains(&x.similarity(&y)));
        }
    }
}
