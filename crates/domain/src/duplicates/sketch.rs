//! A ticket's stored text sketch: what duplicate search compares instead
//! of re-shingling every candidate's text on every search.
//!
//! Why a stored sketch: a search compares up to 150 tickets, and reading
//! their texts meant opening each one's sealed description and shingling
//! it again (~90 k instructions a row), most of a search's CPU at ten
//! million tickets. A fixed 256-byte sketch written with the row is read
//! with the candidate's id and compared in a loop of 128.
//!
//! Why one-permutation MinHash with 16-bit slot values (b-bit minwise
//! hashing, Li and König 2010): each shingle hash (of [`Shingles`]) is
//! mixed once, its low bits choose one of [`SLOTS`] slots and the rest
//! compete for the slot's minimum, so a sketch costs one mix per shingle;
//! two texts agree on a slot with probability equal to their Jaccard
//! index. Keeping 16 bits of each minimum instead of 32 halves the bytes
//! and adds a false agreement of 1 in 65 535 per slot, far below the
//! estimate's own spread; the bytes saved buy twice the slots, which
//! halves the variance. Slots empty in both texts are left out (Li, Owen
//! and Zhang, 2012).
//!
//! Why keyed: descriptions are sealed at rest, and a sketch of plain FNV
//! trigram hashes could be read back with a dictionary of Chinese
//! trigrams. Each slot's minimum is therefore stored as HMAC-SHA256 under
//! a secret key (16 bits of it), the way the caller phone's blind index is
//! keyed: equal minima still give equal values, so the estimate is the
//! same as without the key, but without the key a value says nothing of
//! the text. The choice of minima uses the unkeyed mix, so which shingle
//! wins a slot does not depend on the key and the estimate is the same
//! under every key (up to the 16-bit coincidences).

use hmac::{Hmac, KeyInit, Mac};
use pii_sha2::Sha256;

use super::Shingles;

/// Slots of a sketch (a power of two: the slot is the mixed hash's low
/// bits).
const SLOTS: usize = 128;

/// Bytes of a stored sketch: each slot's 16-bit value, little-endian.
pub const SKETCH_BYTES: usize = 2 * SLOTS;

/// A slot no shingle fell into (a keyed value of 0 is stored as 1).
const EMPTY: u16 = 0;

/// The secret that keys sketches (derived by the store from its PII
/// keyring). `Debug` does not show it.
#[derive(Clone)]
pub struct SketchKey([u8; 32]);

impl SketchKey {
    /// A key of 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for SketchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SketchKey(..)")
    }
}

/// The keyed MinHash sketch of a ticket's title and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSketch([u16; SLOTS]);

impl TextSketch {
    /// The sketch of a title and description under `key`.
    pub fn of(title: &str, description: &str, key: &SketchKey) -> Self {
        Self::of_shingles(&Shingles::of(title, description), key)
    }

    /// The sketch of a shingle set under `key`.
    pub fn of_shingles(shingles: &Shingles, key: &SketchKey) -> Self {
        let mut minima = [u64::MAX; SLOTS];
        for h in shingles.hashes() {
            let mixed = crate::hotspot::sketch::mix(*h);
            let slot = (mixed as usize) & (SLOTS - 1);
            if let Some(m) = minima.get_mut(slot) {
                *m = (*m).min(mixed >> SLOTS.trailing_zeros());
            }
        }
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        let mut slots = [EMPTY; SLOTS];
        for (i, (slot, minimum)) in slots.iter_mut().zip(minima).enumerate() {
            if minimum == u64::MAX {
                continue;
            }
            let mut mac = mac.clone();
            mac.update(b"sketch:");
            mac.update(&(i as u64).to_le_bytes());
            mac.update(&minimum.to_le_bytes());
            let digest = mac.finalize().into_bytes();
            *slot = u16::from_le_bytes([digest[0], digest[1]]).max(1);
        }
        Self(slots)
    }

    /// Estimated Jaccard index 0–1 of the two texts' shingle sets: slots
    /// with the same value over slots filled in either; 0 when both are
    /// empty (two empty texts are not alike, as with [`Shingles`]).
    pub fn similarity(&self, other: &Self) -> f64 {
        slot_similarity(&self.0, &other.0, EMPTY)
    }

    /// The stored form: [`SKETCH_BYTES`] bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// A sketch from its stored form; `None` if it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != SKETCH_BYTES {
            return None;
        }
        let mut slots = [EMPTY; SLOTS];
        for (slot, pair) in slots.iter_mut().zip(bytes.chunks_exact(2)) {
            *slot = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Some(Self(slots))
    }
}

/// The MinHash estimate both sketches of the crate use (this one and the
/// hotspot detector's): slots equal in both over slots filled in either,
/// `empty` marking a slot no shingle reached; 0 when all are empty.
pub(crate) fn slot_similarity<T: PartialEq + Copy>(a: &[T], b: &[T], empty: T) -> f64 {
    let (mut same, mut filled) = (0_u32, 0_u32);
    for (x, y) in a.iter().zip(b.iter()) {
        if *x != empty || *y != empty {
            filled += 1;
            same += u32::from(x == y);
        }
    }
    if filled == 0 {
        0.0
    } else {
        f64::from(same) / f64::from(filled)
    }
}

#[cfg(test)]
mod tests;
