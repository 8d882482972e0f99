//! Boilerplate: shingles so common across recent tickets that sharing them
//! says nothing ("我要反映一个问题", "希望尽快处理", an agent's "来电人反映").
//!
//! Two short requests that share only their framing look like paraphrases
//! to a Jaccard index; leaving the commonest shingles out of the sketches
//! (what IDF does for TF-IDF, here as a cut-off) keeps them apart. The
//! counts are a count-min sketch (fixed memory whatever the vocabulary)
//! with conservative update, halved every `halve_every` tickets so that
//! the notion of common follows the stream. Why hand-rolled: forty lines,
//! and it must hash exactly as the detector's sketches do.

use super::sketch::mix;

const ROWS: usize = 4;
const WIDTH: usize = 1 << 15;

/// Tickets seen before anything counts as common.
const MIN_TICKETS: u32 = 1_000;

/// Approximate shingle frequencies over recent tickets.
#[derive(Debug, Clone)]
pub(super) struct Common {
    counts: Vec<u32>,
    tickets: u32,
    halve_every: u32,
}

impl Common {
    /// Empty; counts halve every `halve_every` tickets.
    pub(super) fn new(halve_every: u32) -> Self {
        Self {
            counts: vec![0; ROWS * WIDTH],
            tickets: 0,
            halve_every: halve_every.max(MIN_TICKETS * 2),
        }
    }

    fn cells(h: u64) -> [usize; ROWS] {
        let m = mix(h ^ 0x9e37_79b9_7f4a_7c15);
        std::array::from_fn(|row| row * WIDTH + ((m >> (16 * row)) as usize & (WIDTH - 1)))
    }

    fn estimate(&self, cells: &[usize; ROWS]) -> u32 {
        cells
            .iter()
            .map(|c| self.counts.get(*c).copied().unwrap_or(0))
            .min()
            .unwrap_or(0)
    }

    /// Whether a shingle is in more than `share` of the recent tickets.
    pub(super) fn is_common(&self, h: u64, share: f64) -> bool {
        self.tickets >= MIN_TICKETS
            && f64::from(self.estimate(&Self::cells(h))) > share * f64::from(self.tickets)
    }

    /// Counts one ticket's distinct shingles.
    pub(super) fn record(&mut self, hashes: &[u64]) {
        for h in hashes {
            let cells = Self::cells(*h);
            let floor = self.estimate(&cells);
            for c in cells {
                if let Some(count) = self.counts.get_mut(c)
                    && *count == floor
                {
                    *count += 1;
                }
            }
        }
        self.tickets += 1;
        if self.tickets >= self.halve_every {
            self.counts.iter_mut().for_each(|c| *c /= 2);
            self.tickets /= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shingle_in_every_ticket_is_common_and_a_rare_one_is_not() {
        let mut common = Common::new(10_000);
        for i in 0..3_000_u64 {
            common.record(&[1, 1_000_000 + i]);
            assert!(!common.is_common(1, 0.01) || i + 1 >= u64::from(MIN_TICKETS));
        }
        assert!(common.is_common(1, 0.5));
        assert!(!common.is_common(1_000_005, 0.01));
        assert!(!common.is_common(42, 0.01));
    }

    #[test]
    fn counts_halve_and_follow_the_stream() {
        let mut common = Common::new(2_000);
        for _ in 0..1_999 {
            common.record(&[7]);
        }
        for i in 0..20_000_u64 {
            common.record(&[i + 100]);
        }
        assert!(!common.is_common(7, 0.01), "forgotten after many halvings");
    }
}
