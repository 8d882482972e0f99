//! Unit rankings (排名) by a configurable weighted score.

use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use super::{
    counters::Counter,
    scorecard::{Scorecard, scorecard},
};
use crate::{error::DomainError, ids::UnitId};

/// Weights of the rates in a unit's score. They need not sum to one: the
/// score divides by the weights of the rates it could compute.
///
/// Defaults: response 0.2, resolution 0.3, satisfaction 0.3, on-time
/// completion 0.2: Beijing's three rates (三率) plus on-time completion
/// (限时办结), with the citizen's verdict (resolution, satisfaction) weighing
/// more than the unit's own promptness. A choice of this product, not a
/// rule; deployments set their own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankingWeights {
    /// 响应率.
    pub response: f64,
    /// 解决率.
    pub resolution: f64,
    /// 满意率.
    pub satisfaction: f64,
    /// 按时办结率.
    pub on_time: f64,
}

impl Default for RankingWeights {
    fn default() -> Self {
        Self {
            response: 0.2,
            resolution: 0.3,
            satisfaction: 0.3,
            on_time: 0.2,
        }
    }
}

impl RankingWeights {
    /// Every weight finite and non-negative, and at least one positive.
    pub fn validate(&self) -> Result<(), DomainError> {
        let named = self.named();
        for (name, w) in named {
            if !w.is_finite() || w < 0.0 {
                return Err(DomainError::invalid(
                    name,
                    "must be a finite, non-negative number",
                ));
            }
        }
        if named.iter().all(|(_, w)| *w == 0.0) {
            return Err(DomainError::invalid(
                "weights",
                "at least one must be positive",
            ));
        }
        Ok(())
    }

    fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("response", self.response),
            ("resolution", self.resolution),
            ("satisfaction", self.satisfaction),
            ("on_time", self.on_time),
        ]
    }
}

/// The weighted score in points (0–100):
/// `100 × Σ wᵢ·rateᵢ ÷ Σ wᵢ` over the weighted rates that have a value. A
/// rate with an empty denominator (e.g. nothing rated yet) is left out rather
/// than counted as 0 %; with no rate at all the score is 0. Rounded to 1e-6
/// points, so equal scores computed in different orders tie exactly.
pub fn weighted_score(card: &Scorecard, weights: &RankingWeights) -> f64 {
    let parts = [
        (weights.response, card.response.value()),
        (weights.resolution, card.resolution.value()),
        (weights.satisfaction, card.satisfaction.value()),
        (weights.on_time, card.on_time_completion.value()),
    ];
    let (mut sum, mut weight) = (0.0, 0.0);
    for (w, value) in parts {
        if let Some(v) = value
            && w > 0.0
        {
            sum += w * v;
            weight += w;
        }
    }
    if weight > 0.0 {
        (100.0 * sum / weight * 1e6).round() / 1e6
    } else {
        0.0
    }
}

/// One line of a ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedUnit {
    /// Position from 1; ties are ordered by unit id, so positions are unique.
    pub rank: u32,
    /// The unit.
    pub unit: UnitId,
    /// [`weighted_score`] of its scorecard.
    pub score: f64,
    /// The scorecard it was ranked on.
    pub scorecard: Scorecard,
}

/// Units by descending score; equal scores by ascending unit id.
pub fn rank(units: Vec<(UnitId, Scorecard)>, weights: &RankingWeights) -> Vec<RankedUnit> {
    let mut scored: Vec<(f64, UnitId, Scorecard)> = units
        .into_iter()
        .map(|(unit, card)| (weighted_score(&card, weights), unit, card))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    (1_u32..)
        .zip(scored)
        .map(|(rank, (score, unit, scorecard))| RankedUnit {
            rank,
            unit,
            score,
            scorecard,
        })
        .collect()
}

/// Ranks per-unit counter sums as the store returns them (rows grouped by
/// unit, one row per counter): each unit's scorecard, then [`rank`].
pub fn rank_unit_sums(
    rows: impl IntoIterator<Item = (UnitId, Counter, i64)>,
    weights: &RankingWeights,
) -> Vec<RankedUnit> {
    let mut by_unit: Vec<(UnitId, HashMap<Counter, i64>)> = Vec::new();
    for (unit, counter, sum) in rows {
        match by_unit.last_mut() {
            Some((last, totals)) if *last == unit => {
                totals.insert(counter, sum);
            }
            _ => by_unit.push((unit, HashMap::from([(counter, sum)]))),
        }
    }
    rank(
        by_unit
            .into_iter()
            .map(|(unit, totals)| (unit, scorecard(&totals)))
            .collect(),
        weights,
    )
}
