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
    /// 办复率 "replied ÷ accepted": `replied ÷ accepted`; meaningful on
    /// centre-wide totals (every unit's counters plus the centre's).
    pub reply_rate: Ratio,
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

/// The §6 metrics from counters summed over a period (and over units, for a
/// roll-up). Missing counters count as zero.
pub fn scorecard(totals: &HashMap<Counter, i64>) -> Scorecard {
    let n = |c: Counter| totals.get(&c).copied().unwrap_or(0);
    use Counter as C;
    Scorecard {
        timely_sign_for: Ratio::new(n(C::SignedOnTime), n(C::Dispatched)),
        on_time_completion: Ratio::new(n(C::RepliedOnTime), n(C::DeadlineDue)),
        completion: Ratio::new(n(C::Replied), n(C::Dispatched)),
        return_rate: Ratio::new(n(C::ReturnsApproved), n(C::Dispatched)),
        rehandling_rate: Ratio::new(n(C::Reopened), n(C::Replied)),
        satisfaction: Ratio::new(n(C::Satisfied) + n(C::BasicallySatisfied), n(C::Rated)),
        resolution: Ratio::new(n(C::Resolved), n(C::Rated)),
        response: Ratio::new(n(C::Responded), n(C::Dispatched)),
        resolved_at_intake: Ratio::new(n(C::ResolvedAtIntake), n(C::Accepted)),
        reply_rate: Ratio::new(n(C::Replied), n(C::Accepted)),
        improper_returns: n(C::ReturnsRejected),
        overdue: n(C::Overdue),
        extensions: n(C::Extended),
        not_rated: n(C::NotRated),
    }
}
