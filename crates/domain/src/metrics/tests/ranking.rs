//! Rankings on a hand-computed example.

use super::*;
use crate::metrics::{RankingWeights, Ratio, Scorecard, rank, weighted_score};

fn card(
    response: (i64, i64),
    resolution: (i64, i64),
    satisfaction: (i64, i64),
    on_time: (i64, i64),
) -> Scorecard {
    let r = |(n, d)| Ratio::new(n, d);
    Scorecard {
        response: r(response),
        resolution: r(resolution),
        satisfaction: r(satisfaction),
        on_time_completion: r(on_time),
        ..Scorecard::default()
    }
}

/// Scores under the default weights 0.2 / 0.3 / 0.3 / 0.2:
/// * water-works: 0.2·0.9 + 0.3·0.8 + 0.3·0.9 + 0.2·1 = 0.89 → 89
/// * market-regulation: 0.2·1 + 0.3·0.5 + 0.3·1 + 0.2·0.75 = 0.80 → 80
/// * d330106: the same rates from other counts → 80, before
///   market-regulation by id
/// * housing-bureau: nothing rated, so only response and on-time count:
///   (0.2·0.8 + 0.2·0.5) ÷ 0.4 = 0.65 → 65
/// * zz-idle: no rate at all → 0
fn units() -> Vec<(UnitId, Scorecard)> {
    vec![
        (unit("zz-idle"), Scorecard::default()),
        (unit(B), card((1, 1), (1, 2), (1, 1), (3, 4))),
        (unit("housing-bureau"), card((4, 5), (0, 0), (0, 0), (1, 2))),
        (unit(A), card((9, 10), (8, 10), (9, 10), (10, 10))),
        (unit(C), card((2, 2), (2, 4), (3, 3), (6, 8))),
    ]
}

fn order(ranked: &[crate::metrics::RankedUnit]) -> Vec<(u32, &str, f64)> {
    ranked
        .iter()
        .map(|r| (r.rank, r.unit.as_str(), r.score))
        .collect()
}

#[test]
fn default_weights_rank_by_hand_computed_scores() {
    let w = RankingWeights::default();
    let ranked = rank(units(), &w);
    assert_eq!(
        order(&ranked),
        vec![
            (1, A, 89.0),
            (2, C, 80.0),
            (3, B, 80.0),
            (4, "housing-bureau", 65.0),
            (5, "zz-idle", 0.0),
        ]
    );
    assert_eq!(ranked[0].scorecard, units()[3].1);
    assert_eq!(weighted_score(&units()[3].1, &w), 89.0);
}

#[test]
fn custom_weights_change_the_order() {
    let w = RankingWeights {
        response: 0.0,
        resolution: 0.0,
        satisfaction: 1.0,
        on_time: 0.0,
    };
    let ranked = rank(units(), &w);
    assert_eq!(
        order(&ranked),
        vec![
            (1, C, 100.0),
            (2, B, 100.0),
            (3, A, 90.0),
            (4, "housing-bureau", 0.0),
            (5, "zz-idle", 0.0),
        ]
    );
    // Weights need not sum to one: doubling them all changes nothing.
    let doubled = RankingWeights {
        response: 0.4,
        resolution: 0.6,
        satisfaction: 0.6,
        on_time: 0.4,
    };
    assert_eq!(
        order(&rank(units(), &doubled)),
        order(&rank(units(), &RankingWeights::default()))
    );
    assert!(rank(Vec::new(), &w).is_empty());
}

#[test]
fn weights_read_from_config_and_are_validated() {
    let w: RankingWeights = toml::from_str("satisfaction = 0.5\n").unwrap();
    assert_eq!(
        w,
        RankingWeights {
            satisfaction: 0.5,
            ..RankingWeights::default()
        }
    );
    assert!(toml::from_str::<RankingWeights>("speed = 1.0\n").is_err());
    assert!(RankingWeights::default().validate().is_ok());
    let bad = |f: fn(&mut RankingWeights)| {
        let mut w = RankingWeights::default();
        f(&mut w);
        w.validate().is_err()
    };
    assert!(bad(|w| w.response = -0.1));
    assert!(bad(|w| w.on_time = f64::NAN));
    assert!(bad(|w| w.resolution = f64::INFINITY));
    assert!(bad(|w| {
        *w = RankingWeights {
            response: 0.0,
            resolution: 0.0,
            satisfaction: 0.0,
            on_time: 0.0,
        }
    }));
}
