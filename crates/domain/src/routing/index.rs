//! The index behind [`Router`](super::Router): rules compiled to keyword ids
//! and bitmasks, renumbered in rank order, and filed under one anchor each.
//!
//! - One Aho–Corasick automaton over every distinct keyword (trimmed,
//!   ASCII-lowercased; character-wise and double-array, see `keywords::Keywords`),
//!   scanned once over title and description (separately, so no keyword
//!   can straddle the two; ASCII-lowercased when they have capitals) with
//!   overlapping matches, so `扰民` is found inside `噪音扰民`.
//! - Each rule is filed under its most selective criterion (keywords, then
//!   subject, region, hotline, request type, urgency): a rule cannot match
//!   unless the input hits its anchor, so only rules whose anchor is hit are
//!   verified.
//! - Rules are numbered by (priority desc, positive criteria desc, id asc).
//!   A rule of an earlier (priority, criteria) group always outranks a rule
//!   of a later group (the criteria count is the leading term of the
//!   specificity), so a decision visits the candidates in number order and
//!   stops at the end of the group of the first match: usually it verifies
//!   a handful of rules, however many anchors the text hits.
//! - The keyword set of a decision lives in a thread-local scratch (a
//!   bitset over keyword ids, cleared through the list of keywords found),
//!   so a decision allocates nothing in proportion to the rule set.

use std::{
    cell::RefCell,
    cmp::Reverse,
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
};

use super::{RoutingInput, RuleSpec, Territorial, keywords::Keywords};
use crate::{
    ids::UnitId,
    text_enum::TextEnum,
    ticket::{RequestType, Urgency},
};

/// FNV-1a: the maps are keyed by short digit strings (codes, hotlines),
/// for which SipHash's setup dominates a lookup.
#[derive(Debug, Clone, Copy, Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type CodeMap = HashMap<String, Vec<u32>, BuildHasherDefault<Fnv>>;

/// Specificity of a match, higher is more specific. Four terms compared
/// lexicographically, packed into one `u32` a byte each:
///
/// ```text
/// specificity = criteria << 24 | min(keywords, 255) << 16 | min(depth, 255) << 8 | min(region_len, 255)
/// ```
///
/// - `criteria`: positive criteria the rule has (0–7: subject, request
///   type, region, keywords_any, keywords_all, hotline, urgency);
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

/// Position of an enum variant in `TextEnum::ALL`.
fn position<T: TextEnum + PartialEq>(value: T) -> usize {
    T::ALL.iter().position(|v| *v == value).unwrap_or(0)
}

/// Bit of an enum variant in a `u8` set (the enums here have < 8 variants).
fn bit<T: TextEnum + PartialEq>(value: T) -> u8 {
    1u8.checked_shl(to_u32(position(value))).unwrap_or(0)
}

/// Where a compiled rule sends a ticket.
#[derive(Debug)]
pub(super) enum Target {
    Unit(UnitId),
    Territorial(Territorial),
}

/// A rule with its keywords replaced by keyword ids and its sets by bitmasks.
#[derive(Debug)]
pub(super) struct CompiledRule {
    pub(super) id: String,
    pub(super) priority: i32,
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
    pub(super) target: Option<Target>,
    /// Parsed, sorted, distinct.
    pub(super) co_units: Vec<UnitId>,
}

impl CompiledRule {
    /// Checks every criterion; the specificity when all hold.
    pub(super) fn verify(&self, input: &RoutingInput<'_>, found: &Found<'_>) -> Option<u32> {
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
            let longest = self
                .regions
                .iter()
                .filter(|p| region.starts_with(p.as_str()))
                .map(String::len)
                .max()?;
            region_len = to_u32(longest);
        }
        let has = |kw: &u32| found.has(*kw);
        let any_ok = self.any_trivial || self.any.is_empty() || self.any.iter().any(has);
        if !any_ok || !self.all.iter().all(has) || self.none.iter().any(has) {
            return None;
        }
        let keywords = to_u32(self.positive_keywords.iter().filter(|k| has(k)).count());
        Some(specificity(self.positive, keywords, depth, region_len))
    }
}

/// Turns specs into compiled rules, numbering distinct keywords.
struct Compiler {
    keyword_ids: HashMap<String, u32>,
    patterns: Vec<String>,
}

impl Compiler {
    /// Keyword ids of a list (sorted, distinct) and whether it held a blank
    /// keyword.
    fn ids(&mut self, keywords: &[String]) -> (Vec<u32>, bool) {
        let mut blank = false;
        let mut ids = Vec::with_capacity(keywords.len());
        for k in keywords {
            let k = k.trim().to_ascii_lowercase();
            if k.is_empty() {
                blank = true;
                continue;
            }
            let next = to_u32(self.patterns.len());
            ids.push(*self.keyword_ids.entry(k).or_insert_with_key(|k| {
                self.patterns.push(k.clone());
                next
            }));
        }
        ids.sort_unstable();
        ids.dedup();
        (ids, blank)
    }

    fn rule(&mut self, spec: RuleSpec) -> CompiledRule {
        let (any, any_trivial) = self.ids(&spec.keywords_any);
        let (all, _) = self.ids(&spec.keywords_all);
        let (none, none_blank) = self.ids(&spec.keywords_none);
        let mut positive_keywords: Vec<u32> = any.iter().chain(&all).copied().collect();
        positive_keywords.sort_unstable();
        positive_keywords.dedup();
        let target = match (&spec.target_unit, spec.territorial) {
            _ if none_blank => None,
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
            target,
            co_units,
            id: spec.id,
        }
    }
}

/// The compiled rules of one version and their anchors.
#[derive(Debug, Default)]
pub(super) struct Index {
    /// In rank order; a rule's number is its position here.
    rules: Vec<CompiledRule>,
    /// For each rule, the number of the first rule of the next
    /// (priority, criteria) group.
    group_end: Vec<u32>,
    /// All distinct keywords; pattern value = keyword id.
    keywords: Option<Keywords>,
    /// Keyword id `k` → the rules anchored on it:
    /// `keyword_rules[keyword_offsets[k]..keyword_offsets[k + 1]]`.
    keyword_offsets: Vec<u32>,
    keyword_rules: Vec<u32>,
    by_subject: CodeMap,
    /// Bit `n` set when some subject anchor has `n` segments.
    subject_depths: u32,
    by_region: CodeMap,
    /// Bit `n` set when some region anchor has `n` digits.
    region_lens: u32,
    by_hotline: CodeMap,
    /// Indexed by `RequestType` position in `TextEnum::ALL`.
    by_request_type: Vec<Vec<u32>>,
    /// Indexed by `Urgency` position in `TextEnum::ALL`.
    by_urgency: Vec<Vec<u32>>,
    /// Rules with nothing to anchor on (only in unvalidated sets, e.g. an
    /// empty condition): verified on every decision.
    unanchored: Vec<u32>,
}

impl Index {
    pub(super) fn build(specs: Vec<RuleSpec>) -> Self {
        let mut compiler = Compiler {
            keyword_ids: HashMap::new(),
            patterns: Vec::new(),
        };
        let mut rules: Vec<CompiledRule> =
            specs.into_iter().map(|spec| compiler.rule(spec)).collect();
        rules.sort_by(|a, b| {
            (Reverse(a.priority), Reverse(a.positive), &a.id).cmp(&(
                Reverse(b.priority),
                Reverse(b.positive),
                &b.id,
            ))
        });
        let mut group_end = vec![to_u32(rules.len()); rules.len()];
        for i in (0..rules.len().saturating_sub(1)).rev() {
            let (a, b) = (&rules[i], &rules[i + 1]);
            group_end[i] = if (a.priority, a.positive) == (b.priority, b.positive) {
                group_end[i + 1]
            } else {
                to_u32(i + 1)
            };
        }
        let keywords = Keywords::build(&compiler.patterns);
        let mut by_keyword = vec![Vec::new(); compiler.patterns.len()];
        let mut index = Self {
            group_end,
            by_request_type: vec![Vec::new(); RequestType::ALL.len()],
            by_urgency: vec![Vec::new(); Urgency::ALL.len()],
            keywords,
            ..Self::default()
        };
        for (number, rule) in rules.iter().enumerate() {
            index.anchor(to_u32(number), rule, &compiler.patterns, &mut by_keyword);
        }
        index.keyword_offsets.push(0);
        for list in by_keyword {
            index.keyword_rules.extend(list);
            index
                .keyword_offsets
                .push(to_u32(index.keyword_rules.len()));
        }
        index.rules = rules;
        index
    }

    /// Files rule `number` under its most selective criterion.
    fn anchor(
        &mut self,
        number: u32,
        rule: &CompiledRule,
        patterns: &[String],
        by_keyword: &mut [Vec<u32>],
    ) {
        if rule.target.is_none() {
            return; // can never match
        }
        let usable = |keys: &[String]| !keys.is_empty() && keys.iter().all(|k| !k.is_empty());
        let file = |map: &mut CodeMap, keys: &[String]| {
            for key in keys {
                let list = map.entry(key.clone()).or_default();
                if list.last() != Some(&number) {
                    list.push(number);
                }
            }
        };
        let len = |k: u32| patterns.get(k as usize).map_or(0, String::len);
        if let Some(&kw) = rule.all.iter().max_by_key(|&&k| (len(k), Reverse(k))) {
            // The longest keyword of `keywords_all`: likely the rarest.
            by_keyword[kw as usize].push(number);
        } else if !rule.any.is_empty() {
            for &kw in &rule.any {
                by_keyword[kw as usize].push(number);
            }
        } else if usable(&rule.subjects) {
            file(&mut self.by_subject, &rule.subjects);
            for s in &rule.subjects {
                self.subject_depths |= 1u32.checked_shl(to_u32(s.split('.').count())).unwrap_or(0);
            }
        } else if usable(&rule.regions) {
            file(&mut self.by_region, &rule.regions);
            for r in &rule.regions {
                self.region_lens |= 1u32.checked_shl(to_u32(r.len())).unwrap_or(0);
            }
        } else if usable(&rule.hotlines) {
            file(&mut self.by_hotline, &rule.hotlines);
        } else if rule.request_types != 0 {
            for (pos, list) in self.by_request_type.iter_mut().enumerate() {
                if rule.request_types & (1 << pos) != 0 {
                    list.push(number);
                }
            }
        } else if rule.urgencies != 0 {
            for (pos, list) in self.by_urgency.iter_mut().enumerate() {
                if rule.urgencies & (1 << pos) != 0 {
                    list.push(number);
                }
            }
        } else {
            self.unanchored.push(number);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.rules.len()
    }

    pub(super) fn rule(&self, number: u32) -> &CompiledRule {
        &self.rules[number as usize]
    }

    /// The first rule number that cannot outrank a match of rule `number`.
    pub(super) fn group_end(&self, number: u32) -> u32 {
        self.group_end[number as usize]
    }

    /// Scans title and description once and hands `f` the keywords found.
    pub(super) fn with_found<R>(
        &self,
        input: &RoutingInput<'_>,
        mut f: impl FnMut(&Found<'_>) -> R,
    ) -> R {
        let Some(ac) = &self.keywords else {
            return f(&Found {
                seen: &[],
                list: &[],
                candidates: &RefCell::default(),
            });
        };
        let mut run = |scratch: &mut Scratch| {
            scratch.start(ac.len());
            let Scratch {
                seen,
                found,
                candidates,
                lowered,
            } = &mut *scratch;
            for text in [input.title, input.description] {
                ac.scan(text, lowered, |kw| {
                    let (word, bit) = (kw as usize / 64, 1u64 << (kw % 64));
                    if let Some(w) = seen.get_mut(word)
                        && *w & bit == 0
                    {
                        *w |= bit;
                        found.push(kw);
                    }
                });
            }
            let buffer = RefCell::new(std::mem::take(candidates));
            let result = f(&Found {
                seen: seen.as_slice(),
                list: found.as_slice(),
                candidates: &buffer,
            });
            *candidates = buffer.into_inner();
            result
        };
        // A thread-local scratch: no allocation per decision. Should it be
        // unavailable (re-entry, thread teardown), a fresh one does the job.
        if let Ok(Some(result)) =
            SCRATCH.try_with(|cell| cell.try_borrow_mut().ok().map(|mut s| run(&mut s)))
        {
            return result;
        }
        run(&mut Scratch::default())
    }

    /// Calls `f` with every anchor list the input hits; each list is sorted
    /// by rule number. A rule may appear in more than one list.
    pub(super) fn for_each_list(
        &self,
        input: &RoutingInput<'_>,
        found: &Found<'_>,
        mut f: impl FnMut(&[u32]),
    ) {
        f(&self.unanchored);
        for &kw in found.list {
            let at = |k: usize| self.keyword_offsets.get(k).map_or(0, |&o| o as usize);
            let k = kw as usize;
            f(self.keyword_rules.get(at(k)..at(k + 1)).unwrap_or_default());
        }
        if let Some(subject) = input.subject_code
            && self.subject_depths != 0
        {
            let ends = subject
                .match_indices('.')
                .map(|(i, _)| i)
                .chain([subject.len()]);
            for (depth, end) in (1u32..).zip(ends) {
                if self.subject_depths & 1u32.checked_shl(depth).unwrap_or(0) != 0
                    && let Some(list) = subject.get(..end).and_then(|p| self.by_subject.get(p))
                {
                    f(list);
                }
            }
        }
        let region = input.region_code;
        for len in 1..=region.len().min(31) {
            if self.region_lens & (1 << len) != 0
                && let Some(list) = region.get(..len).and_then(|p| self.by_region.get(p))
            {
                f(list);
            }
        }
        if let Some(list) = input
            .legacy_hotline
            .and_then(|h| self.by_hotline.get(h.trim()))
        {
            f(list);
        }
        f(&self.by_request_type[position(input.request_type)]);
        f(&self.by_urgency[position(input.urgency)]);
    }
}

/// The keywords found in one input.
#[derive(Debug)]
pub(super) struct Found<'s> {
    /// Bit `kw` (of word `kw / 64`) set iff keyword `kw` was found.
    seen: &'s [u64],
    /// Distinct keyword ids found, in order of first occurrence.
    list: &'s [u32],
    /// A reusable buffer for candidate rule numbers.
    candidates: &'s RefCell<Vec<u32>>,
}

impl Found<'_> {
    pub(super) fn has(&self, kw: u32) -> bool {
        self.seen
            .get(kw as usize / 64)
            .is_some_and(|w| w >> (kw % 64) & 1 == 1)
    }
}

impl Index {
    /// Visits the candidate rules of `input` (those whose anchor it hits)
    /// once each, in rule-number order, that is best (priority, criteria)
    /// group first; `visit` returns the first number it no longer needs
    /// (`u32::MAX` for all), and the walk stops there.
    pub(super) fn walk_candidates(
        &self,
        input: &RoutingInput<'_>,
        found: &Found<'_>,
        mut visit: impl FnMut(u32) -> u32,
    ) {
        let mut buffer = found.candidates.take();
        buffer.clear();
        self.for_each_list(input, found, |list| {
            // Lists are short (a keyword anchors a few rules): element-wise
            // pushes beat a `memcpy` call per list.
            buffer.reserve(list.len());
            for &number in list {
                buffer.push(number);
            }
        });
        let mut bound = u32::MAX;
        // Usually the smallest candidate matches and bounds the walk to its
        // group: a few linear (branch-free) minimum scans beat sorting.
        let mut next = 0u32; // smallest number not visited yet
        for _ in 0..8 {
            // The smallest number >= `next`: shifted by `next`, numbers
            // below it wrap past every number above it (numbers < u32::MAX),
            // so a plain (vectorized) minimum finds it.
            let min = buffer
                .iter()
                .map(|&n| n.wrapping_sub(next))
                .min()
                .map_or(u32::MAX, |m| m.wrapping_add(next));
            let min = if min < next { u32::MAX } else { min };
            if min >= bound {
                found.candidates.replace(buffer);
                return;
            }
            bound = bound.min(visit(min));
            next = min + 1; // min < bound <= u32::MAX
        }
        buffer.retain(|&n| n >= next && n < bound);
        buffer.sort_unstable();
        buffer.dedup();
        for &number in &buffer {
            if number >= bound {
                break;
            }
            bound = bound.min(visit(number));
        }
        found.candidates.replace(buffer);
    }
}

/// Per-thread buffers for the keyword set, reused across decisions (and
/// across rule-set versions: ids beyond a smaller set stay clear).
#[derive(Debug, Default)]
struct Scratch {
    /// A bit per keyword id, set iff the id is in `found`: 1.3 KB for
    /// 10,000 keywords, so the set stays in L1 whatever the keyword count.
    seen: Vec<u64>,
    /// Keyword ids found by the current (or last) decision.
    found: Vec<u32>,
    candidates: Vec<u32>,
    /// A text with its ASCII letters lowered, when it has capitals.
    lowered: String,
}

impl Scratch {
    /// Starts a decision over `keywords` keyword ids: clears the bits of
    /// the last decision's keywords (not the whole set) and sizes the set.
    fn start(&mut self, keywords: usize) {
        for kw in self.found.drain(..) {
            if let Some(w) = self.seen.get_mut(kw as usize / 64) {
                *w &= !(1u64 << (kw % 64));
            }
        }
        let words = keywords.div_ceil(64);
        if self.seen.len() < words {
            self.seen.resize(words, 0);
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}
