//! Responsibility routing (按责转办): the dispatch catalogue (派单目录) as
//! data, validated, compiled into an index, and asked "which unit answers
//! for this ticket, by which rule?".
//!
//! Pure: the store persists [`RuleSpec`]s and published versions; the
//! server keeps the compiled [`Router`] of the active version in memory.

mod engine;
mod index;
mod keywords;
mod rule;
mod territory;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use engine::{
    Decision, DecisionSource, Explanation, Router, RouterOptions, RuleDecision, RuleMatch,
};
pub use rule::{RuleSpec, RuleViolation, Territorial, validate_rule_set};
pub use territory::TerritoryMap;

use super::ticket::{RequestType, Urgency};

/// What routing looks at: the ticket's intake attributes.
#[derive(Debug, Clone, Copy)]
pub struct RoutingInput<'a> {
    /// Taxonomy subject code, e.g. `01.02.03`.
    pub subject_code: Option<&'a str>,
    /// Request type.
    pub request_type: RequestType,
    /// GB/T 2260 region code of the matter (6, 9 or 12 digits).
    pub region_code: &'a str,
    /// Short title.
    pub title: &'a str,
    /// Description in the caller's words.
    pub description: &'a str,
    /// Retired departmental hotline the call came through.
    pub legacy_hotline: Option<&'a str>,
    /// Urgency.
    pub urgency: Urgency,
}
