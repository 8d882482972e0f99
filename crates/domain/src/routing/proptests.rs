//! The indexed router against a brute-force reference that checks every
//! rule naively, over random small rule sets and inputs.

use std::cmp::Reverse;

use proptest::{prelude::*, sample::subsequence};

use super::{
    Decision, DecisionSource, Explanation, Router, RouterOptions, RoutingInput, RuleMatch,
    RuleSpec, Territorial, TerritoryMap, index::specificity, tests::territory, validate_rule_set,
};
use crate::{
    ids::UnitId,
    ticket::{RequestType, Urgency},
};

/// Overlapping keywords, ASCII case variants and a keyword that is a
/// prefix of another.
const VOCAB: &[&str] = &[
    "噪音",
    "噪音扰民",
    "扰民",
    "施工",
    "夜间施工",
    "油烟",
    "停水",
    "物业",
    "WiFi",
    "wifi信号",
    "abc",
];
const FILLER: &[&str] = &[
    "我家", "楼下", "每天", "晚上", "很吵", "WIFI", "ABC", " ", "\n", "信号",
];
const SUBJECT_PREFIXES: &[&str] = &["01", "01.02", "01.02.03", "02", "02.01", "03"];
const SUBJECTS: &[&str] = &[
    "01", "01.02", "01.02.03", "01.02.04", "01.020", "02.01.05", "03", "04",
];
const REGION_PREFIXES: &[&str] = &[
    "3",
    "33",
    "3301",
    "330106",
    "330106001",
    "330106002",
    "330108",
    "330108001",
];
const REGIONS: &[&str] = &[
    "330106",
    "330106001",
    "330106002",
    "330106001003",
    "330106004",
    "330108001",
    "330110",
];
const HOTLINES: &[&str] = &["12315", "12333", "12369"];
const UNITS: &[&str] = &["market", "env", "housing"];
const CO_UNITS: &[&str] = &["police", "market"];

/// Mostly empty (an absent criterion), else 1..=max entries of `items`.
fn sparse<T: Clone + std::fmt::Debug + 'static>(
    items: &'static [T],
    max: usize,
) -> impl Strategy<Value = Vec<T>> {
    prop_oneof![2 => Just(Vec::new()), 1 => subsequence(items, 1..=max)]
}

fn pick(items: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<String>> {
    sparse(items, max).prop_map(|v| v.into_iter().map(str::to_owned).collect())
}

fn rule_strategy() -> impl Strategy<Value = RuleSpec> {
    let target = prop_oneof![
        4 => prop::sample::select(UNITS).prop_map(|u| (Some(u.to_owned()), None)),
        1 => Just((None, Some(Territorial::Street))),
        1 => Just((None, Some(Territorial::District))),
    ];
    let criteria = (
        pick(SUBJECT_PREFIXES, 2),
        sparse(RequestType::ALL_VARIANTS, 3),
        pick(REGION_PREFIXES, 2),
        pick(VOCAB, 2),
        pick(VOCAB, 2),
        pick(VOCAB, 1),
        pick(HOTLINES, 2),
        sparse(Urgency::ALL_VARIANTS, 2),
    );
    (0..3i32, criteria, target, subsequence(CO_UNITS, 0..=2))
        .prop_map(
            |(
                priority,
                (subjects, types, regions, any, all, none, hotlines, urgencies),
                (unit, ter),
                co,
            )| {
                RuleSpec {
                    id: String::new(),
                    name: String::new(),
                    priority,
                    subject_prefixes: subjects,
                    request_types: types,
                    region_prefixes: regions,
                    keywords_any: any,
                    keywords_all: all,
                    keywords_none: none,
                    legacy_hotlines: hotlines,
                    urgencies,
                    co_units: co
                        .into_iter()
                        .filter(|c| Some(*c) != unit.as_deref())
                        .map(str::to_owned)
                        .collect(),
                    target_unit: unit,
                    territorial: ter,
                }
            },
        )
        .prop_filter(
            "needs a positive criterion",
            RuleSpec::has_positive_criterion,
        )
}

/// A valid rule set with ids `r0`, `r1`, … (ids decide the last tie-break).
fn rules_strategy() -> impl Strategy<Value = Vec<RuleSpec>> {
    prop::collection::vec(rule_strategy(), 0..12).prop_map(|rules| {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| RuleSpec {
                id: format!("r{i}"),
                ..r
            })
            .collect()
    })
}

fn text_strategy(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select([VOCAB, FILLER].concat()), 0..=max)
        .prop_map(|v| v.concat())
}

#[derive(Debug, Clone)]
struct Input {
    subject: Option<String>,
    request_type: RequestType,
    region: String,
    title: String,
    description: String,
    hotline: Option<String>,
    urgency: Urgency,
}

impl Input {
    fn as_routing(&self) -> RoutingInput<'_> {
        RoutingInput {
            subject_code: self.subject.as_deref(),
            request_type: self.request_type,
            region_code: &self.region,
            title: &self.title,
            description: &self.description,
            legacy_hotline: self.hotline.as_deref(),
            urgency: self.urgency,
        }
    }
}

fn input_strategy() -> impl Strategy<Value = Input> {
    (
        prop::option::of(prop::sample::select(SUBJECTS)),
        prop::sample::select(RequestType::ALL_VARIANTS),
        prop::sample::select(REGIONS),
        text_strategy(3),
        text_strategy(6),
        prop::option::of(prop::sample::select(HOTLINES)),
        prop::sample::select(Urgency::ALL_VARIANTS),
    )
        .prop_map(
            |(subject, request_type, region, title, description, hotline, urgency)| Input {
                subject: subject.map(str::to_owned),
                request_type,
                region: region.to_owned(),
                title,
                description,
                hotline: hotline.map(str::to_owned),
                urgency,
            },
        )
}

trait AllVariants: Sized + 'static {
    const ALL_VARIANTS: &'static [Self];
}
impl AllVariants for RequestType {
    const ALL_VARIANTS: &'static [Self] = <Self as crate::text_enum::TextEnum>::ALL;
}
impl AllVariants for Urgency {
    const ALL_VARIANTS: &'static [Self] = <Self as crate::text_enum::TextEnum>::ALL;
}

/// Whether `keyword` occurs in title or description (ASCII case-insensitive).
fn occurs(keyword: &str, input: &Input) -> bool {
    let k = keyword.trim().to_ascii_lowercase();
    [&input.title, &input.description]
        .iter()
        .any(|t| t.to_ascii_lowercase().contains(&k))
}

/// Every rule checked one by one, straight from the definition.
fn reference(
    rules: &[RuleSpec],
    territory: &TerritoryMap,
    options: RouterOptions,
    input: &Input,
) -> Explanation {
    let mut hits: Vec<(&RuleSpec, u32, UnitId)> = Vec::new();
    for r in rules {
        let subject_depth = r
            .subject_prefixes
            .iter()
            .filter(|p| {
                input
                    .subject
                    .as_deref()
                    .is_some_and(|s| s == p.as_str() || s.starts_with(&format!("{p}.")))
            })
            .map(|p| p.split('.').count())
            .max();
        let region_len = r
            .region_prefixes
            .iter()
            .filter(|p| input.region.starts_with(p.as_str()))
            .map(|p| p.len())
            .max();
        let ok = (r.subject_prefixes.is_empty() || subject_depth.is_some())
            && (r.request_types.is_empty() || r.request_types.contains(&input.request_type))
            && (r.region_prefixes.is_empty() || region_len.is_some())
            && (r.keywords_any.is_empty() || r.keywords_any.iter().any(|k| occurs(k, input)))
            && r.keywords_all.iter().all(|k| occurs(k, input))
            && !r.keywords_none.iter().any(|k| occurs(k, input))
            && (r.legacy_hotlines.is_empty()
                || input
                    .hotline
                    .as_ref()
                    .is_some_and(|h| r.legacy_hotlines.contains(h)))
            && (r.urgencies.is_empty() || r.urgencies.contains(&input.urgency));
        if !ok {
            continue;
        }
        let unit = match (&r.target_unit, r.territorial) {
            (Some(u), _) => Some(UnitId::parse(u).unwrap()),
            (None, Some(Territorial::Street)) => territory.street_for(&input.region).cloned(),
            (None, Some(Territorial::District)) => territory.district_for(&input.region).cloned(),
            (None, None) => None,
        };
        let Some(unit) = unit else { continue };
        let mut found: Vec<String> = r
            .keywords_any
            .iter()
            .chain(&r.keywords_all)
            .filter(|k| occurs(k, input))
            .map(|k| k.trim().to_ascii_lowercase())
            .collect();
        found.sort();
        found.dedup();
        let spec = specificity(
            r.positive_criteria(),
            u32::try_from(found.len()).unwrap(),
            u32::try_from(subject_depth.unwrap_or(0)).unwrap(),
            u32::try_from(region_len.unwrap_or(0)).unwrap(),
        );
        hits.push((r, spec, unit));
    }
    hits.sort_by_key(|(r, spec, _)| (Reverse(r.priority), Reverse(*spec), r.id.clone()));
    let decision = match hits.first() {
        Some((r, _, unit)) => {
            let mut co: Vec<UnitId> = r
                .co_units
                .iter()
                .map(|c| UnitId::parse(c).unwrap())
                .filter(|c| c != unit)
                .collect();
            co.sort();
            co.dedup();
            Some(Decision {
                unit: unit.clone(),
                co_units: co,
                rule_id: Some(r.id.clone()),
                rule_set_version: 1,
                model_version: None,
                source: DecisionSource::Rule,
            })
        }
        None if options.fallback_to_district => {
            territory.district_for(&input.region).map(|u| Decision {
                unit: u.clone(),
                co_units: Vec::new(),
                rule_id: None,
                rule_set_version: 1,
                model_version: None,
                source: DecisionSource::DistrictFallback,
            })
        }
        None => None,
    };
    let matches = hits
        .into_iter()
        .map(|(r, specificity, unit)| RuleMatch {
            rule_id: r.id.clone(),
            priority: r.priority,
            specificity,
            unit,
        })
        .collect();
    Explanation { decision, matches }
}

/// Every unit of the generated rules, as companies: no rule set of them
/// can push a department matter to a street.
fn all_units(u: &str) -> Option<crate::directory::UnitKind> {
    (UNITS.contains(&u) || CO_UNITS.contains(&u)).then_some(crate::directory::UnitKind::Company)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn index_agrees_with_brute_force(
        rules in rules_strategy(),
        inputs in prop::collection::vec(input_strategy(), 1..6),
        fallback in any::<bool>(),
        limit in 0usize..4,
    ) {
        prop_assert_eq!(validate_rule_set(&rules, &all_units), Ok(()));
        let options = RouterOptions { fallback_to_district: fallback };
        let router = Router::compile(1, rules.clone(), territory(), options);
        for input in &inputs {
            let expected = reference(&rules, &territory(), options, input);
            let got = router.explain(&input.as_routing(), usize::MAX);
            prop_assert_eq!(&got, &expected, "input {:?}", input);
            prop_assert_eq!(router.decide(&input.as_routing()), expected.decision.clone());
            let short = router.explain(&input.as_routing(), limit);
            prop_assert_eq!(&short.matches[..], &expected.matches[..limit.min(expected.matches.len())]);
            prop_assert_eq!(short.decision, expected.decision);
        }
    }

    #[test]
    fn rule_order_does_not_change_the_decision(
        (rules, shuffled) in rules_strategy().prop_flat_map(|r| (Just(r.clone()), Just(r).prop_shuffle())),
        inputs in prop::collection::vec(input_strategy(), 1..6),
    ) {
        let options = RouterOptions { fallback_to_district: true };
        let a = Router::compile(1, rules, territory(), options);
        let b = Router::compile(1, shuffled, territory(), options);
        for input in &inputs {
            prop_assert_eq!(a.explain(&input.as_routing(), usize::MAX), b.explain(&input.as_routing(), usize::MAX));
        }
    }
}

#[test]
fn generated_cases_exercise_matches() {
    use proptest::{strategy::ValueTree, test_runner::TestRunner};
    let mut runner = TestRunner::deterministic();
    let (mut inputs, mut with_match, mut total) = (0, 0, 0);
    for _ in 0..300 {
        let rules = rules_strategy().new_tree(&mut runner).unwrap().current();
        let input = input_strategy().new_tree(&mut runner).unwrap().current();
        let n = reference(
            &rules,
            &territory(),
            RouterOptions {
                fallback_to_district: false,
            },
            &input,
        )
        .matches
        .len();
        inputs += 1;
        with_match += usize::from(n > 0);
        total += n;
    }
    eprintln!("{with_match}/{inputs} inputs matched, {total} matches");
    assert!(with_match * 3 > inputs, "{with_match}/{inputs}");
}
