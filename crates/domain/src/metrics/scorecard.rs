//! DOMAIN.md §6 metrics from summed counters, each with its numerator and
//! denominator so an auditor can check it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::counters::Counter;

/// A rate with the counts behind it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    /// What is counted.
    pub numerator: i64,
    /// What it is counted out of.
    pub denominator: i64,
}

impl Ratio {
    /// A ratio of two counts.
    pub fn new(numerator: i64, denominator: i64) -> Self {
        Self {
            numerator,
            denominator,
        }
    }

    /// The rate in `[0, 1]` for consistent counters; `None` when there is
    /// nothing to count out of (a rate of nothing is not 0 %).
    pub fn value(&self) -> Option<f64> {
        (self.denominator != 0).then(|| self.numerator as f64 / self.denominator as f64)
    }
}

/// A unit's (or a roll-up's) scorecard over a period: the counters of the
/// period's days summed, then divided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scorecard {
    /// 签收及时率 "signed within sign-for limit ÷ dispatched":
    /// `signed_on_time ÷ dispatched`.
    pub timely_sign_for: Ratio,
    /// 按时办结率 "replied by deadline (incl. approved extension) ÷ tickets
    /// whose deadline fell in the period or that were replied in it":
    /// `replied_on_time ÷ deadline_due`, where each round falls due once: on
    /// its reply day when replied by the deadline, else on the deadline's day.
    pub on_time_completion: Ratio,
    /// 办结率 "replied ÷ dispatched": `replied ÷ dispatched` (rounds).
    pub completion: Ratio,
    /// 退单率 "returns approved ÷ dispatched": `returns_approved ÷ dispatched`.
    pub return_rate: Ratio,
    /// 重办率 "reopened ÷ replied": `reopened ÷ replied`.
    pub rehandling_rate: Ratio,
    /// 满意率 "(satisfied + basically satisfied) ÷ rated":
    /// `(satisfied + basically_satisfied) ÷ rated`; not-rated tickets are
    /// outside the denominator.
    pub satisfaction: Ratio,
    /// 解决率 "citizen says resolved ÷ rated": `resolved ÷ rated`.
    pub resolution: Ratio,
    /// 响应率 "contacted the citizen or signed within the limit ÷ dispatched":
    /// `responded ÷ dispatched`.
    pub response: Ratio,
    /// 直办率 "resolved at intake ÷ accepted" (centre counters):
    /// `resolved_at_intake ÷ accepted`, exclusions outside `accepted`.
    pub resolved_at_intake: Ratio,
    /// 不当退单 "returns rejected": `returns_rejected`.
    pub improper_returns: i64,
    /// 超期 "open past deadline" as a flow: rounds whose reply deadline
    /// passed unreplied in the period (`overdue`, on the deadline's day). The
    /// list of tickets open past their deadline now is a ticket query.
    pub overdue: i64,
    /// Extensions granted (`extended`).
    pub extensions: i64,
    /// Callbacks closed without a rating (`not_rated`).
    pub not_rated: i64,
}

/// One §6 rate as counters: the numerator and the denominator are each the
/// sum of their counters over the period (and over units, for a roll-up).
/// The one definition the scorecard, `ExplainMetric` and reports share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDefinition {
    /// Stable name, e.g. `on_time_completion`.
    pub name: &'static str,
    /// Counters summed into the numerator.
    pub numerator: &'static [Counter],
    /// Counters summed into the denominator.
    pub denominator: &'static [Counter],
}

impl RateDefinition {
    /// The ratio over summed counters (missing counters count as zero).
    pub fn ratio(&self, totals: &HashMap<Counter, i64>) -> Ratio {
        let sum = |counters: &[Counter]| {
            counters
                .iter()
                .map(|c| totals.get(c).copied().unwrap_or(0))
                .sum()
        };
        Ratio::new(sum(self.numerator), sum(self.denominator))
    }
}

use Counter as C;

/// 签收及时率.
pub(super) const TIMELY_SIGN_FOR: RateDefinition = RateDefinition {
    name: "timely_sign_for",
    numerator: &[C::SignedOnTime],
    denominator: &[C::Dispatched],
};
/// 按时办结率.
pub(super) const ON_TIME_COMPLETION: RateDefinition = RateDefinition {
    name: "on_time_completion",
    numerator: &[C::RepliedOnTime],
    denominator: &[C::DeadlineDue],
};
/// 办结率.
pub(super) const COMPLETION: RateDefinition = RateDefinition {
    name: "completion",
    numerator: &[C::Replied],
    denominator: &[C::Dispatched],
};
/// 退单率.
pub(super) const RETURN_RATE: RateDefinition = RateDefinition {
    name: "return_rate",
    numerator: &[C::ReturnsApproved],
    denominator: &[C::Dispatched],
};
/// 重办率.
pub(super) const REHANDLING_RATE: RateDefinition = RateDefinition {
    name: "rehandling_rate",
    numerator: &[C::Reopened],
    denominator: &[C::Replied],
};
/// 满意率.
pub(super) const SATISFACTION: RateDefinition = RateDefinition {
    name: "satisfaction",
    numerator: &[C::Satisfied, C::BasicallySatisfied],
    denominator: &[C::Rated],
};
/// 解决率.
pub(super) const RESOLUTION: RateDefinition = RateDefinition {
    name: "resolution",
    numerator: &[C::Resolved],
    denominator: &[C::Rated],
};
/// 响应率.
pub(super) const RESPONSE: RateDefinition = RateDefinition {
    name: "response",
    numerator: &[C::Responded],
    denominator: &[C::Dispatched],
};
/// 直办率.
pub(super) const RESOLVED_AT_INTAKE: RateDefinition = RateDefinition {
    name: "resolved_at_intake",
    numerator: &[C::ResolvedAtIntake],
    denominator: &[C::Accepted],
};
// 办复率 ("replied ÷ accepted, per request type", DOMAIN §6) is not a
// scorecard rate: its cohort is the tickets accepted in a period and
// whether each has a standing reply (at intake or by a unit), which day
// counters cannot give — `replied` counts handling rounds on their reply
// days, per unit, and `accepted` is the centre's. Summing them gave 0 for
// the centre's own card and over 100 % after reopened rounds. The
// disclosure report computes it from the tickets (`hotline report`).

/// Every rate of the scorecard, in the order the API lists them.
pub const RATES: [RateDefinition; 9] = [
    TIMELY_SIGN_FOR,
    ON_TIME_COMPLETION,
    COMPLETION,
    RETURN_RATE,
    REHANDLING_RATE,
    SATISFACTION,
    RESOLUTION,
    RESPONSE,
    RESOLVED_AT_INTAKE,
];

/// The plain counts of the scorecard (name, counter).
pub const COUNTS: [(&str, Counter); 4] = [
    ("improper_returns", C::ReturnsRejected),
    ("overdue", C::Overdue),
    ("extensions", C::Extended),
    ("not_rated", C::NotRated),
];

/// The counters behind one side of a metric: `rate` names a rate or a
/// count; `denominator` picks the side of a rate (a count has no
/// denominator: `None`). `None` for an unknown name.
pub fn metric_counters(metric: &str, denominator: bool) -> Option<&'static [Counter]> {
    if let Some(rate) = RATES.iter().find(|r| r.name == metric) {
        return Some(if denominator {
            rate.denominator
        } else {
            rate.numerator
        });
    }
    let (_, counter) = COUNTS.iter().find(|(name, _)| *name == metric)?;
    (!denominator).then_some(std::slice::from_ref(counter))
}

/// The §6 metrics from counters summed over a period (and over units, for a
/// roll-up). Missing counters count as zero.
pub fn scorecard(totals: &HashMap<Counter, i64>) -> Scorecard {
    let n = |c: Counter| totals.get(&c).copied().unwrap_or(0);
    Scorecard {
        timely_sign_for: TIMELY_SIGN_FOR.ratio(totals),
        on_time_completion: ON_TIME_COMPLETION.ratio(totals),
        completion: COMPLETION.ratio(totals),
        return_rate: RETURN_RATE.ratio(totals),
        rehandling_rate: REHANDLING_RATE.ratio(totals),
        satisfaction: SATISFACTION.ratio(totals),
        resolution: RESOLUTION.ratio(totals),
        response: RESPONSE.ratio(totals),
        resolved_at_intake: RESOLVED_AT_INTAKE.ratio(totals),
        improper_returns: n(C::ReturnsRejected),
        overdue: n(C::Overdue),
        extensions: n(C::Extended),
        not_rated: n(C::NotRated),
    }
}

impl Scorecard {
    /// The rates in [`RATES`] order, with their names.
    pub fn rates(&self) -> [(&'static str, Ratio); 9] {
        [
            (TIMELY_SIGN_FOR.name, self.timely_sign_for),
            (ON_TIME_COMPLETION.name, self.on_time_completion),
            (COMPLETION.name, self.completion),
            (RETURN_RATE.name, self.return_rate),
            (REHANDLING_RATE.name, self.rehandling_rate),
            (SATISFACTION.name, self.satisfaction),
            (RESOLUTION.name, self.resolution),
            (RESPONSE.name, self.response),
            (RESOLVED_AT_INTAKE.name, self.resolved_at_intake),
        ]
    }
}
