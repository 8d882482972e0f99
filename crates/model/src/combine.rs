//! How routing combines the rules and the model (issue #18): a rule of
//! high priority wins; otherwise the model's unit when it is confident
//! enough; otherwise any other matching rule; otherwise the district
//! fallback (兜底) or the triage queue, as the router is configured.
//!
//! Why weaker rules still come before the fallback: a keyword rule that
//! the model overrules only when the model is sure is still better than
//! sending the ticket to the district or to an agent's queue.

use serde::{Deserialize, Serialize};

use hotline_domain::routing::{Decision, DecisionSource, Router, RoutingInput};

use crate::model::DispatchModel;

/// When the model may decide.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Rules of at least this priority win over the model.
    pub rule_priority_floor: i32,
    /// The model decides only with at least this probability; `None`:
    /// the model's own threshold, set at training from the precision of
    /// its predictions on held-out tickets.
    pub min_probability: Option<f32>,
}

impl Default for Policy {
    /// Chosen before any evaluation: the model's own calibrated
    /// threshold, and rules of priority 81 and up — in the demo catalogue
    /// the retired-hotline, utility-outage, subject and combined-criteria
    /// rules, everything but plain keyword rules — stay in charge.
    fn default() -> Self {
        Self {
            rule_priority_floor: 81,
            min_probability: None,
        }
    }
}

/// The lead unit of a ticket by rules and model, or `None` for triage.
pub fn decide(
    router: &Router,
    model: Option<&DispatchModel>,
    policy: Policy,
    input: &RoutingInput<'_>,
) -> Option<Decision> {
    match router.decide_by_rule(input) {
        Some(rule) if rule.priority >= policy.rule_priority_floor => Some(rule.decision),
        rule => model
            .and_then(|m| model_decision(router, m, policy, input))
            .or_else(|| rule.map(|r| r.decision))
            .or_else(|| router.fallback(input)),
    }
}

/// The model's decision, if it is confident enough.
fn model_decision(
    router: &Router,
    model: &DispatchModel,
    policy: Policy,
    input: &RoutingInput<'_>,
) -> Option<Decision> {
    let suggestion = model.suggest(input)?;
    let threshold = policy.min_probability.unwrap_or(model.threshold());
    (suggestion.probability >= threshold).then(|| Decision {
        unit: suggestion.unit,
        co_units: Vec::new(),
        rule_id: None,
        rule_set_version: router.version(),
        model_version: Some(model.version()),
        source: DecisionSource::Model,
    })
}
