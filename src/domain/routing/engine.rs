//! The compiled dispatch catalogue: an index over one published rule-set
//! version so a decision does not scan every rule.

use std::{
    cmp::{Ordering, Reverse},
    collections::HashMap,
};

use aho_corasick::{AhoCorasick, MatchKind};

use super::{RoutingInput, RuleSpec, Territorial, TerritoryMap};
use crate::domain::{
    ids::UnitId,
    text_enum::TextEnum,
    ticket::{RequestType, Urgency},
};

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
    /// The rule-set version that decided.
    pub rule_set_version: i64,
    /// Rule or fallback.
    pub source: DecisionSource,
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
/// The index: one Aho–Corasick automaton over every distinct keyword of
/// every rule, and maps from subject prefix, region prefix, legacy hotline,
/// request type and urgency to rules. Each rule is filed under one *anchor*,
/// its most selective criterion (keywords, then subject, region, hotline,
/// request type, urgency), which it cannot match without; a decision scans
/// the text once, gathers the rules whose anchor the input hits, verifies
/// each of them fully and ranks the matches.
#[derive(Debug)]
pub struct Router {
    version: i64,
    options: RouterOptions,
    territory: TerritoryMap,
    rules: Vec<CompiledRule>,
    /// All distinct keywords (trimmed, ASCII-lowercased), pattern id = keyword id.
    keywords: Option<AhoCorasick>,
    /// Keyword id → rules anchored on it.
    by_keyword: Vec<Vec<u32>>,
    by_subject: HashMap<String, Vec<u32>>,
    by_region: HashMap<String, Vec<u32>>,
    by_hotline: HashMap<String, Vec<u32>>,
    /// Indexed by `RequestType` position in `TextEnum::ALL`.
    by_request_type: Vec<Vec<u32>>,
    /// Indexed by `Urgency` position in `TextEnum::ALL`.
    by_urgency: Vec<Vec<u32>>,
    /// Rules with nothing to anchor on (only possible in unvalidated sets):
    /// always verified.
    unanchored: Vec<u32>,
}

/// Where a compiled rule sends a ticket.
#[derive(Debug)]
enum Target {
    Unit(UnitId),
    Territorial(Territorial),
}

/// A rule with its keywords replaced by keyword ids and its sets by bitmasks.
#[derive(Debug)]
struct CompiledRule {
    id: String,
    priority: i32,
    /// Positive criteria present (specificity's leading term).
    positive: u32,
    subjects: Vec<String>,
    request_types: u8,
    regions: Vec<String>,
    /// `keywords_any` ids; `any_trivial` when it held a blank keyword, which
    /// occurs in every text (substring semantics).
    any: Vec<u32>,
    any_trivial: bool,
    all: Vec<u32>,
    none: Vec<u32>,
    /// Distinct ids of `any` ∪ `all`, sorted.
    positive_keywords: Vec<u32>,
    hotlines: Vec<String>,
    urgencies: u8,
    /// `None` when the rule can never match (no usable target, or a blank
    /// keyword in `keywords_none`); such rules are not indexed.
    target: Option<Target>,
    co_units: Vec<UnitId>,
}

/// A verified match during one decision (borrowed; nothing cloned yet).
#[derive(Debug, Clone, Copy)]
struct Hit<'r> {
    rule: &'r CompiledRule,
    specificity: u32,
    unit: &'r UnitId,
}

impl Hit<'_> {
    /// Ranking: priority desc, specificity desc, rule id asc (unit id asc
    /// only matters for unvalidated sets with duplicate ids).
    fn rank(&self, other: &Self) -> Ordering {
        other
            .rule
            .priority
            .cmp(&self.rule.priority)
            .then(other.specificity.cmp(&self.specificity))
            .then_with(|| self.rule.id.cmp(&other.rule.id))
            .then_with(|| self.unit.cmp(other.unit))
    }
}

/// Bit of an enum variant in a `u8` set (enums here have < 8 variants).
fn bit<T: TextEnum + PartialEq>(value: T) -> u8 {
    let pos = T::ALL.iter().position(|v| *v == value).unwrap_or(0);
    1u8.checked_shl(u32::try_from(pos).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

fn position<T: TextEnum + PartialEq>(value: T) -> usize {
    T::ALL.iter().position(|v| *v == value).unwrap_or(0)
}

/// Specificity of a match, higher is more specific. Four terms compared
/// lexicographically, packed into one `u32` a byte each:
///
/// ```text
/// specificity = criteria << 24 | min(keywords, 255) << 16 | min(depth, 255) << 8 | min(region_len, 255)
/// ```
///
/// - `criteria`: positive criteria the rule has (0–7);
/// - `keywords`: distinct keywords of `keywords_any` ∪ `keywords_all` found in the text;
/// - `depth`: segments of the deepest subject prefix that matched (0–4, 0 without one);
/// - `region_len`: digits of the longest region prefix that matched (0–12, 0 without one).
pub(super) fn specificity(criteria: u32, keywords: u32, depth: u32, region_len: u32) -> u32 {
    (criteria.min(255) << 24)
        | (keywords.min(255) << 16)
        | (depth.min(255) << 8)
        | region_len.min(255)
}

/// Whether `subject` lies under `prefix` at a segment boundary
/// (`01.02` covers `01.02` and `01.02.03`, not `01.020`).
pub(super) fn subject_within(subject: &str, prefix: &str) -> bool {
    subject.starts_with(prefix) && matches!(subject.as_bytes().get(prefix.len()), None | Some(b'.'))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct Compiler {
    keyword_ids: HashMap<String, u32>,
    patterns: Vec<String>,
}

impl Compiler {
    /// Keyword ids of a list; `None` stands for a blank keyword.
    fn ids(&mut self, keywords: &[String]) -> Vec<Option<u32>> {
        keywords
            .iter()
            .map(|k| {
                let k = k.trim().to_ascii_lowercase();
                if k.is_empty() {
                    return None;
                }
                let next = to_u32(self.patterns.len());
                Some(*self.keyword_ids.entry(k).or_insert_with_key(|k| {
                    self.patterns.push(k.clone());
                    next
                }))
            })
            .collect()
    }

    fn rule(&mut self, spec: RuleSpec) -> CompiledRule {
        let any = self.ids(&spec.keywords_any);
        let all = self.ids(&spec.keywords_all);
        let none = self.ids(&spec.keywords_none);
        let dedup = |ids: &[Option<u32>]| {
            let mut v: Vec<u32> = ids.iter().flatten().copied().collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let any_trivial = any.iter().any(Option::is_none);
        let none_blank = none.iter().any(Option::is_none);
        let (any, all, none) = (dedup(&any), dedup(&all), dedup(&none));
        let mut positive_keywords: Vec<u32> = any.iter().chain(&all).copied().collect();
        positive_keywords.sort_unstable();
        positive_keywords.dedup();
        let target = match (&spec.target_unit, spec.territorial) {
            (Some(unit), None) => UnitId::parse(unit).ok().map(Target::Unit),
            (None, Some(t)) => Some(Target::Territorial(t)),
            _ => None,
        };
        let mut co_units: Vec<UnitId> = spec
            .co_units
            .iter()
            .filter_map(|u| UnitId::parse(u).ok())
            .collect();
        co_units.sort();
        co_units.dedup();
        CompiledRule {
            positive: spec.positive_criteria(),
            priority: spec.priority,
            request_types: spec.request_types.iter().fold(0, |m, &t| m | bit(t)),
            urgencies: spec.urgencies.iter().fold(0, |m, &u| m | bit(u)),
            hotlines: spec
                .legacy_hotlines
                .iter()
                .map(|h| h.trim().to_owned())
                .collect(),
            subjects: spec.subject_prefixes,
            regions: spec.region_prefixes,
            any: if any_trivial { Vec::new() } else { any },
            any_trivial,
            all,
            none,
            positive_keywords,
            target: if none_blank { None } else { target },
            co_units,
            id: spec.id,
        }
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
        let mut compiler = Compiler {
            keyword_ids: HashMap::new(),
            patterns: Vec::new(),
        };
        let rules: Vec<CompiledRule> = rules.into_iter().map(|spec| compiler.rule(spec)).collect();
        let keywords = if compiler.patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&compiler.patterns)
                .ok()
        };
        let mut router = Self {
            version,
            options,
            territory,
            by_keyword: vec![Vec::new(); compiler.patterns.len()],
            by_subject: HashMap::new(),
            by_region: HashMap::new(),
            by_hotline: HashMap::new(),
            by_request_type: vec![Vec::new(); RequestType::ALL.len()],
            by_urgency: vec![Vec::new(); Urgency::ALL.len()],
            unanchored: Vec::new(),
            keywords,
            rules: Vec::new(),
        };
        for (idx, rule) in rules.iter().enumerate() {
            router.anchor(to_u32(idx), rule, &compiler.patterns);
        }
        router.rules = rules;
        router
    }

    /// Files rule `idx` under its most selective criterion.
    fn anchor(&mut self, idx: u32, rule: &CompiledRule, patterns: &[String]) {
        if rule.target.is_none() {
            return; // can never match
        }
        let file = |map: &mut HashMap<String, Vec<u32>>, keys: &[String]| {
            for key in keys {
                map.entry(key.clone()).or_default().push(idx);
            }
        };
        let no_blank = |keys: &[String]| !keys.is_empty() && keys.iter().all(|k| !k.is_empty());
        let len = |k: u32| patterns.get(k as usize).map_or(0, String::len);
        if let Some(&kw) = rule.all.iter().max_by_key(|&&k| (len(k), Reverse(k))) {
            // Longest keyword of `keywords_all`: likely the rarest.
            self.by_keyword[kw as usize].push(idx);
        } else if !rule.any.is_empty() {
            for &kw in &rule.any {
                self.by_keyword[kw as usize].push(idx);
            }
        } else if no_blank(&rule.subjects) {
            file(&mut self.by_subject, &rule.subjects);
        } else if no_blank(&rule.regions) {
            file(&mut self.by_region, &rule.regions);
        } else if !rule.hotlines.is_empty() {
            file(&mut self.by_hotline, &rule.hotlines);
        } else if rule.request_types != 0 {
            for (pos, list) in self.by_request_type.iter_mut().enumerate() {
                if rule.request_types & (1 << pos) != 0 {
                    list.push(idx);
                }
            }
        } else if rule.urgencies != 0 {
            for (pos, list) in self.by_urgency.iter_mut().enumerate() {
                if rule.urgencies & (1 << pos) != 0 {
                    list.push(idx);
                }
            }
        } else {
            self.unanchored.push(idx);
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
        self.rules.len()
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
        let mut best: Option<Hit<'_>> = None;
        self.each_match(input, |hit| {
            if best.is_none_or(|b| hit.rank(&b).is_lt()) {
                best = Some(hit);
            }
        });
        match best {
            Some(hit) => Some(self.rule_decision(hit)),
            None => self.fallback(input),
        }
    }

    /// The decision plus the matching rules, best first, at most `limit`.
    pub fn explain(&self, input: &RoutingInput<'_>, limit: usize) -> Explanation {
        let mut hits = Vec::new();
        self.each_match(input, |hit| hits.push(hit));
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
            source: DecisionSource::Rule,
        }
    }

    /// 兜底: the district of the region, when configured and known.
    fn fallback(&self, input: &RoutingInput<'_>) -> Option<Decision> {
        if !self.options.fallback_to_district {
            return None;
        }
        self.territory
            .district_for(input.region_code)
            .map(|unit| Decision {
                unit: unit.clone(),
                co_units: Vec::new(),
                rule_id: None,
                rule_set_version: self.version,
                source: DecisionSource::DistrictFallback,
            })
    }

    /// Calls `visit` once for every rule that matches `input` and resolves
    /// to a unit, in no particular order.
    fn each_match<'r>(&'r self, input: &RoutingInput<'_>, mut visit: impl FnMut(Hit<'r>)) {
        // Keyword ids found in title or description, sorted and distinct.
        // Title and description are scanned separately: no keyword can
        // straddle the two.
        let mut found: Vec<u32> = Vec::new();
        if let Some(ac) = &self.keywords {
            for text in [input.title, input.description] {
                found.extend(
                    ac.find_overlapping_iter(text)
                        .map(|m| to_u32(m.pattern().as_usize())),
                );
            }
            found.sort_unstable();
            found.dedup();
        }

        // Candidates: the rules whose anchor the input hits.
        let mut candidates: Vec<u32> = self.unanchored.clone();
        for &kw in &found {
            candidates.extend_from_slice(&self.by_keyword[kw as usize]);
        }
        if !self.by_subject.is_empty()
            && let Some(subject) = input.subject_code
        {
            let boundaries = subject
                .match_indices('.')
                .map(|(i, _)| i)
                .chain([subject.len()]);
            for end in boundaries {
                if let Some(list) = subject.get(..end).and_then(|p| self.by_subject.get(p)) {
                    candidates.extend_from_slice(list);
                }
            }
        }
        if !self.by_region.is_empty() {
            for end in 1..=input.region_code.len() {
                if let Some(list) = input
                    .region_code
                    .get(..end)
                    .and_then(|p| self.by_region.get(p))
                {
                    candidates.extend_from_slice(list);
                }
            }
        }
        if let Some(list) = input
            .legacy_hotline
            .and_then(|h| self.by_hotline.get(h.trim()))
        {
            candidates.extend_from_slice(list);
        }
        candidates.extend_from_slice(&self.by_request_type[position(input.request_type)]);
        candidates.extend_from_slice(&self.by_urgency[position(input.urgency)]);
        candidates.sort_unstable();
        candidates.dedup();

        for idx in candidates {
            let rule = &self.rules[idx as usize];
            if let Some(specificity) = rule.verify(input, &found)
                && let Some(unit) = self.resolve(rule, input.region_code)
            {
                visit(Hit {
                    rule,
                    specificity,
                    unit,
                });
            }
        }
    }

    fn resolve<'r>(&'r self, rule: &'r CompiledRule, region: &str) -> Option<&'r UnitId> {
        match rule.target.as_ref()? {
            Target::Unit(unit) => Some(unit),
            Target::Territorial(Territorial::Street) => self.territory.street_for(region),
            Target::Territorial(Territorial::District) => self.territory.district_for(region),
        }
    }
}

impl CompiledRule {
    /// Checks every criterion; the specificity when all hold.
    fn verify(&self, input: &RoutingInput<'_>, found: &[u32]) -> Option<u32> {
        let has = |kw: &u32| found.binary_search(kw).is_ok();
        if self.request_types != 0 && self.request_types & bit(input.request_type) == 0 {
            return None;
        }
        if self.urgencies != 0 && self.urgencies & bit(input.urgency) == 0 {
            return None;
        }
        if !self.hotlines.is_empty() {
            let hotline = input.legacy_hotline.map(str::trim)?;
            if !self.hotlines.iter().any(|h| h == hotline) {
                return None;
            }
        }
        let mut depth = 0;
        if !self.subjects.is_empty() {
            let subject = input.subject_code?;
            let deepest = self
                .subjects
                .iter()
                .filter(|p| subject_within(subject, p))
                .map(|p| p.split('.').count())
                .max()?;
            depth = to_u32(deepest);
        }
        let mut region_len = 0;
        if !self.regions.is_empty() {
            let region = input.region_code;
            region_len = to_u32(
                self.regions
                    .iter()
                    .filter(|p| region.starts_with(p.as_str()))
                    .map(|p| p.len())
                    .max()?,
            );
        }
        let any_ok = self.any_trivial || self.any.is_empty() || self.any.iter().any(has);
        if !any_ok || !self.all.iter().all(has) || self.none.iter().any(has) {
            return None;
        }
        let keywords = to_u32(self.positive_keywords.iter().filter(|k| has(k)).count());
        Some(specificity(self.positive, keywords, depth, region_len))
    }
}
