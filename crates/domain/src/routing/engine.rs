//! The compiled dispatch catalogue: an index over one published rule-set
//! version so a decision does not scan every rule.

use std::cmp::Ordering;

use super::{
    RoutingInput, RuleSpec, Territorial, TerritoryMap,
    index::{CompiledRule, Found, Index, Target},
};
use crate::ids::UnitId;

/// Compile-time options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterOptions {
    /// With no matching rule, send the ticket to the district government of
    /// its region (兜底) instead of leaving it in the triage queue.
    pub fallback_to_district: bool,
}

/// Why a unit was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionSource {
    /// A catalogue rule matched.
    Rule,
    /// No rule matched; the district of the region (兜底).
    DistrictFallback,
    /// The learned dispatch model suggested the unit with enough
    /// confidence, and no rule of high priority matched (see
    /// `hotline-model`'s `combine`).
    Model,
}

/// The routing decision for one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Lead unit.
    pub unit: UnitId,
    /// Co-handling units.
    pub co_units: Vec<UnitId>,
    /// The winning rule; `None` for the district fallback.
    pub rule_id: Option<String>,
    /// The rule-set version in force when it was decided.
    pub rule_set_version: i64,
    /// The dispatch-model version that decided, for [`DecisionSource::Model`].
    pub model_version: Option<i64>,
    /// Rule, fallback or model.
    pub source: DecisionSource,
}

/// The winning rule's decision with the rule's priority, which decides
/// whether a rule outranks the learned model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDecision {
    /// The decision, [`DecisionSource::Rule`].
    pub decision: Decision,
    /// The winning rule's priority.
    pub priority: i32,
}

/// A rule that matched, with the unit it would send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// Rule id.
    pub rule_id: String,
    /// Its priority.
    pub priority: i32,
    /// Its specificity for this input (higher is more specific).
    pub specificity: u32,
    /// The unit it resolves to.
    pub unit: UnitId,
}

/// A dry run: the decision and every matching rule, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// What `decide` returns.
    pub decision: Option<Decision>,
    /// The winner (if by rule) followed by the runner-ups, best first.
    pub matches: Vec<RuleMatch>,
}

/// One compiled, immutable rule-set version.
///
/// Compiling builds an index (see `index.rs`): one Aho–Corasick automaton
/// (character-wise double array) over every distinct keyword, prefix maps for subject and region codes,
/// maps for hotlines, request types and urgencies, each rule filed under its
/// most selective criterion. A decision scans the text once, gathers the
/// rules whose anchor the input hits, verifies them fully in rank order
/// (stopping once no later rule can outrank a match) and ranks the matches:
/// priority desc, specificity desc, rule id asc.
#[derive(Debug)]
pub struct Router {
    version: i64,
    options: RouterOptions,
    territory: TerritoryMap,
    index: Index,
}

/// A verified match during one decision (borrowed; nothing cloned yet).
#[derive(Debug, Clone, Copy)]
struct Hit<'r> {
    /// Position in the index (rank order); the last tie-break.
    number: u32,
    rule: &'r CompiledRule,
    specificity: u32,
    unit: &'r UnitId,
}

impl Hit<'_> {
    /// Ranking: priority desc, specificity desc, rule id asc (unit id and
    /// rule number only matter for unvalidated sets with duplicate ids).
    fn rank(&self, other: &Self) -> Ordering {
        other
            .rule
            .priority
            .cmp(&self.rule.priority)
            .then(other.specificity.cmp(&self.specificity))
            .then_with(|| self.rule.id.cmp(&other.rule.id))
            .then_with(|| self.unit.cmp(other.unit))
            .then(self.number.cmp(&other.number))
    }
}

impl Router {
    /// Compiles validated rules (see `validate_rule_set`).
    ///
    /// Unvalidated rules do not panic: a rule without a usable target never
    /// matches, and a rule without a positive criterion is checked on every
    /// decision.
    pub fn compile(
        version: i64,
        rules: Vec<RuleSpec>,
        territory: TerritoryMap,
        options: RouterOptions,
    ) -> Self {
        Self {
            version,
            options,
            territory,
            index: Index::build(rules),
        }
    }

    /// An empty router: no rules (everything to fallback or triage).
    pub fn empty(territory: TerritoryMap, options: RouterOptions) -> Self {
        Self::compile(0, Vec::new(), territory, options)
    }

    /// The rule-set version compiled in (0 when none is published).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// How many rules are compiled in.
    pub fn rule_count(&self) -> usize {
        self.index.len()
    }

    /// The options compiled in.
    pub fn options(&self) -> RouterOptions {
        self.options
    }

    /// The territorial map compiled in.
    pub fn territory(&self) -> &TerritoryMap {
        &self.territory
    }

    /// Decides the lead unit, or `None` for the triage queue.
    pub fn decide(&self, input: &RoutingInput<'_>) -> Option<Decision> {
        self.decide_by_rule(input)
            .map(|r| r.decision)
            .or_else(|| self.fallback(input))
    }

    /// The winning rule's decision and priority, without the fallback.
    pub fn decide_by_rule(&self, input: &RoutingInput<'_>) -> Option<RuleDecision> {
        self.index.with_found(input, |found| {
            let mut best: Option<Hit<'_>> = None;
            self.index.walk_candidates(input, found, |number| {
                if let Some(hit) = self.hit(number, input, found)
                    && best.is_none_or(|b| hit.rank(&b).is_lt())
                {
                    best = Some(hit);
                }
                // Once a rule matched, later groups cannot outrank it.
                if best.is_some() {
                    self.index.group_end(number)
                } else {
                    u32::MAX
                }
            });
            best.map(|hit| RuleDecision {
                decision: self.rule_decision(hit),
                priority: hit.rule.priority,
            })
        })
    }

    /// The decision plus the matching rules, best first, at most `limit`.
    pub fn explain(&self, input: &RoutingInput<'_>, limit: usize) -> Explanation {
        self.index.with_found(input, |found| {
            let mut hits: Vec<Hit<'_>> = Vec::new();
            self.index.walk_candidates(input, found, |number| {
                hits.extend(self.hit(number, input, found));
                u32::MAX
            });
            hits.sort_unstable_by(Hit::rank);
            let decision = match hits.first() {
                Some(&hit) => Some(self.rule_decision(hit)),
                None => self.fallback(input),
            };
            let matches = hits
                .iter()
                .take(limit)
                .map(|hit| RuleMatch {
                    rule_id: hit.rule.id.clone(),
                    priority: hit.rule.priority,
                    specificity: hit.specificity,
                    unit: hit.unit.clone(),
                })
                .collect();
            Explanation { decision, matches }
        })
    }

    /// Rule `number` verified against the input and resolved to a unit.
    fn hit(&self, number: u32, input: &RoutingInput<'_>, found: &Found<'_>) -> Option<Hit<'_>> {
        let rule = self.index.rule(number);
        let unit = match rule.target.as_ref()? {
            Target::Unit(unit) => unit,
            Target::Territorial(Territorial::Street) => {
                self.territory.street_for(input.region_code)?
            }
            Target::Territorial(Territorial::District) => {
                self.territory.district_for(input.region_code)?
            }
        };
        let specificity = rule.verify(input, found)?;
        Some(Hit {
            number,
            rule,
            specificity,
            unit,
        })
    }

    fn rule_decision(&self, hit: Hit<'_>) -> Decision {
        Decision {
            unit: hit.unit.clone(),
            co_units: hit
                .rule
                .co_units
                .iter()
                .filter(|u| *u != hit.unit)
                .cloned()
                .collect(),
            rule_id: Some(hit.rule.id.clone()),
            rule_set_version: self.version,
            model_version: None,
            source: DecisionSource::Rule,
        }
    }

    /// 兜底: the district of the region, when configured and known.
    pub fn fallback(&self, input: &RoutingInput<'_>) -> Option<Decision> {
        if !self.options.fallback_to_district {
            return None;
        }
        self.district_fallback(input.region_code)
    }

    /// The district government of `region` (its first six digits), as a
    /// 兜底 decision, whatever the rules and options say; `None` when no
    /// district unit answers for it. For a street the directory does not
    /// know, which no rule can be trusted to place.
    pub fn district_fallback(&self, region: &str) -> Option<Decision> {
        self.territory.district_for(region).map(|unit| Decision {
            unit: unit.clone(),
            co_units: Vec::new(),
            rule_id: None,
            rule_set_version: self.version,
            model_version: None,
            source: DecisionSource::DistrictFallback,
        })
    }
}
