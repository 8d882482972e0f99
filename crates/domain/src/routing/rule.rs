//! One rule of the dispatch catalogue, as operators write it (TOML) and as
//! it is stored (JSON), and the validation of a whole rule set.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{
    directory::UnitKind,
    ids::{RegionCode, SubjectCode, UnitId},
    ticket::{RequestType, Urgency, parse_legacy_hotline},
};

/// Which territorial unit a territorial rule sends the ticket to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Territorial {
    /// The street office / township whose region contains the ticket's region.
    Street,
    /// The district government of the ticket's region (first 6 digits).
    District,
}

/// A dispatch rule. Every non-empty criterion must hold (AND); within a list
/// any entry may match (OR), except `keywords_all` (every keyword) and
/// `keywords_none` (no keyword). Exactly one of `target_unit` and
/// `territorial` names the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable id: 2–63 characters of `[a-z0-9-]`, starting with a letter.
    pub id: String,
    /// Human description.
    #[serde(default)]
    pub name: String,
    /// Higher wins; ties are broken by specificity, then by id.
    #[serde(default)]
    pub priority: i32,
    /// Subject code prefixes (`01`, `01.02`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_prefixes: Vec<String>,
    /// Request types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_types: Vec<RequestType>,
    /// GB/T 2260 region code prefixes (digits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub region_prefixes: Vec<String>,
    /// Any of these in title or description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords_any: Vec<String>,
    /// All of these in title or description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords_all: Vec<String>,
    /// None of these in title or description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords_none: Vec<String>,
    /// Retired departmental hotlines (`12315`, …) the call came through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legacy_hotlines: Vec<String>,
    /// Urgencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urgencies: Vec<Urgency>,
    /// The unit id the ticket goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_unit: Option<String>,
    /// Or: the territorial unit of the ticket's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territorial: Option<Territorial>,
    /// Co-handling units (协办) added with the lead unit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_units: Vec<String>,
}

/// One problem in a rule set, naming the rule and the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleViolation {
    /// The rule's id (or its position when the id itself is bad).
    pub rule_id: String,
    /// The field, e.g. `target_unit` or `subject_prefixes[1]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Checks a whole rule set: ids well-formed and unique, at least one
/// positive criterion per rule, well-formed codes, exactly one target, and
/// every unit known to `unit_exists`. Returns every violation, not just the
/// first, so an operator can fix a file in one pass.
pub fn validate_rule_set(
    rules: &[RuleSpec],
    unit_kind: &dyn Fn(&str) -> Option<UnitKind>,
) -> Result<(), Vec<RuleViolation>> {
    let unit_exists = |id: &str| unit_kind(id).is_some();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (pos, rule) in rules.iter().enumerate() {
        let id_ok = UnitId::parse(&rule.id).is_ok();
        // A rule whose id is unusable is named by its position instead.
        let label = if id_ok {
            rule.id.clone()
        } else {
            format!("rules[{pos}]")
        };
        let mut report = |field: String, message: String| {
            out.push(RuleViolation {
                rule_id: label.clone(),
                field,
                message,
            });
        };
        if !id_ok {
            report(
                "id".into(),
                format!(
                    "rule id {:?} must be 2-63 characters of a-z, 0-9 and '-', starting with a letter",
                    rule.id
                ),
            );
        } else if !seen.insert(rule.id.as_str()) {
            report("id".into(), "duplicate rule id".into());
        }
        check_rule(rule, &unit_exists, &mut report);
    }
    out.extend(department_matters_sent_to_streets(rules, unit_kind));
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// DOMAIN §5: "department matters must not be pushed to streets". A
/// subject a rule routes to a department (条) is a department matter; a rule
/// sending an overlapping subject prefix (the same, a narrower or a wider
/// one) to a street — a street unit, or territorial dispatch to the street
/// of the region — would push it down to the street (块), and is refused
/// with the department rule named.
fn department_matters_sent_to_streets(
    rules: &[RuleSpec],
    unit_kind: &dyn Fn(&str) -> Option<UnitKind>,
) -> Vec<RuleViolation> {
    let kind = |rule: &RuleSpec| match (&rule.target_unit, rule.territorial) {
        (Some(unit), None) => unit_kind(unit),
        (None, Some(Territorial::Street)) => Some(UnitKind::Street),
        (None, Some(Territorial::District)) => Some(UnitKind::District),
        _ => None,
    };
    let department: Vec<(&RuleSpec, &String)> = rules
        .iter()
        .filter(|r| kind(r) == Some(UnitKind::Department))
        .flat_map(|r| r.subject_prefixes.iter().map(move |p| (r, p)))
        .collect();
    let mut out = Vec::new();
    for rule in rules.iter().filter(|r| kind(r) == Some(UnitKind::Street)) {
        for (i, prefix) in rule.subject_prefixes.iter().enumerate() {
            let overlaps = |other: &String| {
                super::index::subject_within(prefix, other)
                    || super::index::subject_within(other, prefix)
            };
            if let Some((owner, claimed)) = department.iter().find(|(_, p)| overlaps(p)) {
                out.push(RuleViolation {
                    rule_id: rule.id.clone(),
                    field: format!("subject_prefixes[{i}]"),
                    message: format!(
                        "department matter: subject {claimed} goes to department {} by rule {}; \
                         it must not be pushed to a street",
                        owner.target_unit.as_deref().unwrap_or_default(),
                        owner.id
                    ),
                });
            }
        }
    }
    out
}

/// Longest keyword, in characters.
pub(super) const MAX_KEYWORD_CHARS: usize = 50;

fn check_rule(
    rule: &RuleSpec,
    unit_exists: &dyn Fn(&str) -> bool,
    report: &mut dyn FnMut(String, String),
) {
    if rule.name.chars().any(char::is_control) {
        report(
            "display_name".into(),
            "must not contain control characters".into(),
        );
    }
    if !rule.has_positive_criterion() {
        report(
            "condition".into(),
            "empty condition: a rule needs at least one of subject_prefixes, request_types, region_prefixes, \
             keywords_any, keywords_all, legacy_hotlines or urgencies (keywords_none alone is not enough)"
                .into(),
        );
    }
    for (i, prefix) in rule.subject_prefixes.iter().enumerate() {
        if SubjectCode::parse(prefix).is_err() {
            report(
                format!("subject_prefixes[{i}]"),
                format!(
                    "malformed subject code {prefix:?}: must look like 01.02.03 (1-4 two-digit levels)"
                ),
            );
        }
    }
    for (i, prefix) in rule.region_prefixes.iter().enumerate() {
        if RegionCode::parse_prefix(prefix).is_err() {
            report(
                format!("region_prefixes[{i}]"),
                format!("malformed region code prefix {prefix:?}: must be 1-12 digits (GB/T 2260)"),
            );
        }
    }
    for (i, hotline) in rule.legacy_hotlines.iter().enumerate() {
        if !matches!(parse_legacy_hotline(hotline), Ok(Some(_))) {
            report(
                format!("legacy_hotlines[{i}]"),
                format!(
                    "malformed hotline {hotline:?}: must be a 5-digit 123xx number, e.g. 12315"
                ),
            );
        }
    }
    for (field, list) in [
        ("keywords_any", &rule.keywords_any),
        ("keywords_all", &rule.keywords_all),
        ("keywords_none", &rule.keywords_none),
    ] {
        for (i, keyword) in list.iter().enumerate() {
            let keyword = keyword.trim();
            if keyword.is_empty() {
                report(format!("{field}[{i}]"), "keyword must not be empty".into());
            } else if keyword.chars().any(char::is_control) {
                report(
                    format!("{field}[{i}]"),
                    "keyword must not contain control characters".into(),
                );
            } else if keyword.chars().count() > MAX_KEYWORD_CHARS {
                report(
                    format!("{field}[{i}]"),
                    format!("keyword longer than {MAX_KEYWORD_CHARS} characters"),
                );
            }
        }
    }
    match (&rule.target_unit, rule.territorial) {
        (Some(_), Some(_)) => report(
            "target".into(),
            "both target_unit and territorial are set: exactly one is required".into(),
        ),
        (None, None) => report(
            "target".into(),
            "no target: exactly one of target_unit and territorial is required".into(),
        ),
        _ => {}
    }
    if let Some(unit) = &rule.target_unit
        && !unit_exists(unit)
    {
        report("target_unit".into(), format!("unknown unit {unit:?}"));
    }
    for (i, unit) in rule.co_units.iter().enumerate() {
        if !unit_exists(unit) {
            report(format!("co_units[{i}]"), format!("unknown unit {unit:?}"));
        } else if rule.target_unit.as_deref() == Some(unit.as_str()) {
            report(
                format!("co_units[{i}]"),
                format!("co-handling unit {unit:?} is the target unit"),
            );
        }
    }
}

impl RuleSpec {
    /// Whether the rule has at least one criterion that must be present in
    /// the input (everything except `keywords_none`).
    pub fn has_positive_criterion(&self) -> bool {
        self.positive_criteria() > 0
    }

    /// How many positive criteria (non-empty lists other than
    /// `keywords_none`) the rule has.
    pub fn positive_criteria(&self) -> u32 {
        [
            !self.subject_prefixes.is_empty(),
            !self.request_types.is_empty(),
            !self.region_prefixes.is_empty(),
            !self.keywords_any.is_empty(),
            !self.keywords_all.is_empty(),
            !self.legacy_hotlines.is_empty(),
            !self.urgencies.is_empty(),
        ]
        .into_iter()
        .map(u32::from)
        .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::tests::{rule, strings};

    const UNITS: &[&str] = &["market", "env", "police"];

    fn check(rules: &[RuleSpec]) -> Result<(), Vec<RuleViolation>> {
        validate_rule_set(rules, &|u| {
            UNITS.contains(&u).then_some(UnitKind::Department)
        })
    }

    /// The (rule, field) pairs of the violations.
    fn named(rules: &[RuleSpec]) -> Vec<(String, String)> {
        check(rules)
            .unwrap_err()
            .into_iter()
            .map(|v| (v.rule_id, v.field))
            .collect()
    }

    fn pair(rule: &str, field: &str) -> (String, String) {
        (rule.to_owned(), field.to_owned())
    }

    fn noise(id: &str) -> RuleSpec {
        RuleSpec {
            keywords_any: strings(&["噪音"]),
            ..rule(id, "env")
        }
    }

    #[test]
    fn a_good_set_passes() {
        let territorial = RuleSpec {
            target_unit: None,
            territorial: Some(Territorial::Street),
            subject_prefixes: strings(&["01", "01.02.03.04"]),
            region_prefixes: strings(&["3", "330106001002"]),
            legacy_hotlines: strings(&["12315"]),
            keywords_all: strings(&["占道", " 经营 "]),
            keywords_none: strings(&["A".repeat(50).as_str()]),
            co_units: strings(&["market", "police"]),
            ..rule("street-stalls", "unused")
        };
        let types = RuleSpec {
            request_types: vec![RequestType::Report],
            ..rule("reports", "police")
        };
        let urgent = RuleSpec {
            urgencies: vec![Urgency::Urgent],
            ..rule("u2", "police")
        };
        assert_eq!(check(&[noise("noise"), territorial, types, urgent]), Ok(()));
        assert_eq!(check(&[]), Ok(()));
    }

    #[test]
    fn control_characters_in_keywords_and_names_are_named() {
        let keyword = RuleSpec {
            keywords_any: strings(&["噪音", "噪\0音"]),
            ..rule("nul-keyword", "env")
        };
        let name = RuleSpec {
            name: "噪音\n规则".into(),
            ..noise("line-break-name")
        };
        assert_eq!(
            named(&[keyword, name]),
            vec![
                pair("nul-keyword", "keywords_any[1]"),
                pair("line-break-name", "display_name"),
            ]
        );
    }

    #[test]
    fn department_matters_are_not_pushed_to_streets() {
        let kinds = |u: &str| match u {
            "market" => Some(UnitKind::Department),
            "lingyin" => Some(UnitKind::Street),
            "xihu" => Some(UnitKind::District),
            _ => None,
        };
        let with_subjects = |mut r: RuleSpec, subjects: &[&str]| {
            r.subject_prefixes = strings(subjects);
            r
        };
        let department = with_subjects(rule("food-safety", "market"), &["03.02"]);
        let street_rule =
            |id: &str, subjects: &[&str]| with_subjects(rule(id, "lingyin"), subjects);
        let to_street = RuleSpec {
            target_unit: None,
            territorial: Some(Territorial::Street),
            ..with_subjects(rule("street-all", "x"), &["03"])
        };
        let rules = [
            department.clone(),
            street_rule("narrower", &["01", "03.02.01"]),
            street_rule("same", &["03.02"]),
            street_rule("elsewhere", &["03.03"]),
            to_street,
            with_subjects(rule("district-ok", "xihu"), &["03.02"]),
        ];
        let violations = validate_rule_set(&rules, &kinds).unwrap_err();
        let named: Vec<(&str, &str)> = violations
            .iter()
            .map(|v| (v.rule_id.as_str(), v.field.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("narrower", "subject_prefixes[1]"),
                ("same", "subject_prefixes[0]"),
                ("street-all", "subject_prefixes[0]"),
            ],
            "a narrower, the same or a wider prefix; districts may take department matters"
        );
        assert!(
            violations[0].message.contains("rule food-safety"),
            "{}",
            violations[0].message
        );
        assert_eq!(validate_rule_set(&[department], &kinds), Ok(()));
    }

    #[test]
    fn unknown_units_are_named() {
        let r = RuleSpec {
            co_units: strings(&["police", "nowhere", "Bad Id"]),
            ..noise("x1")
        };
        let r = RuleSpec {
            target_unit: Some("ghost".into()),
            ..r
        };
        assert_eq!(
            named(&[r]),
            [
                pair("x1", "target_unit"),
                pair("x1", "co_units[1]"),
                pair("x1", "co_units[2]")
            ]
        );
        let err = check(&[RuleSpec {
            target_unit: Some("ghost".into()),
            ..noise("x1")
        }])
        .unwrap_err();
        assert!(
            err[0].message.contains("unknown unit"),
            "{}",
            err[0].message
        );
    }

    #[test]
    fn co_unit_repeating_the_target_is_rejected() {
        let r = RuleSpec {
            co_units: strings(&["police", "env"]),
            ..noise("dup")
        };
        assert_eq!(named(&[r]), [pair("dup", "co_units[1]")]);
    }

    #[test]
    fn empty_condition() {
        let bare = rule("bare", "env");
        let only_none = RuleSpec {
            keywords_none: strings(&["噪音"]),
            ..rule("only-none", "env")
        };
        assert_eq!(
            named(&[bare, only_none]),
            [pair("bare", "condition"), pair("only-none", "condition")]
        );
        let err = check(&[rule("bare", "env")]).unwrap_err();
        assert!(err[0].message.starts_with("empty condition"));
    }

    #[test]
    fn malformed_codes_are_named_by_index() {
        let r = RuleSpec {
            subject_prefixes: strings(&["01", "1", "01.020", "01.02.03.04.05", ""]),
            region_prefixes: strings(&["3301", "", "33a", "3301060010021"]),
            legacy_hotlines: strings(&["12315", "12345678", "96315", "", "1231x"]),
            ..rule("codes", "env")
        };
        assert_eq!(
            named(&[r]),
            [
                pair("codes", "subject_prefixes[1]"),
                pair("codes", "subject_prefixes[2]"),
                pair("codes", "subject_prefixes[3]"),
                pair("codes", "subject_prefixes[4]"),
                pair("codes", "region_prefixes[1]"),
                pair("codes", "region_prefixes[2]"),
                pair("codes", "region_prefixes[3]"),
                pair("codes", "legacy_hotlines[1]"),
                pair("codes", "legacy_hotlines[2]"),
                pair("codes", "legacy_hotlines[3]"),
                pair("codes", "legacy_hotlines[4]"),
            ]
        );
    }

    #[test]
    fn blank_and_long_keywords() {
        let r = RuleSpec {
            keywords_any: strings(&["噪音", "  "]),
            keywords_all: strings(&["", "夜间"]),
            keywords_none: strings(&["噪".repeat(51).as_str()]),
            ..rule("kws", "env")
        };
        assert_eq!(
            named(&[r]),
            [
                pair("kws", "keywords_any[1]"),
                pair("kws", "keywords_all[0]"),
                pair("kws", "keywords_none[0]")
            ]
        );
    }

    #[test]
    fn exactly_one_target() {
        let both = RuleSpec {
            territorial: Some(Territorial::District),
            ..noise("both")
        };
        let neither = RuleSpec {
            target_unit: None,
            ..noise("neither")
        };
        assert_eq!(
            named(&[both, neither]),
            [pair("both", "target"), pair("neither", "target")]
        );
    }

    #[test]
    fn ids_are_well_formed_and_unique() {
        let rules = [
            noise("same"),
            noise("Bad_Id"),
            noise("same"),
            noise("x"),
            noise("same"),
            noise("ok-1"),
        ];
        assert_eq!(
            named(&rules),
            [
                pair("rules[1]", "id"),
                pair("same", "id"),
                pair("rules[3]", "id"),
                pair("same", "id")
            ]
        );
        let err = check(&rules).unwrap_err();
        assert_eq!(err[1].message, "duplicate rule id");
        // Other violations of a rule with a bad id are named by position too.
        let bad = RuleSpec {
            target_unit: Some("ghost".into()),
            ..noise("9lives")
        };
        assert_eq!(
            named(&[bad]),
            [pair("rules[0]", "id"), pair("rules[0]", "target_unit")]
        );
    }

    #[test]
    fn every_violation_is_reported_in_one_pass() {
        let a = RuleSpec {
            subject_prefixes: strings(&["x"]),
            target_unit: None,
            ..rule("a1", "env")
        };
        let b = RuleSpec {
            region_prefixes: strings(&["33"]),
            target_unit: Some("ghost".into()),
            ..rule("b1", "env")
        };
        assert_eq!(
            named(&[a, b]),
            [
                pair("a1", "subject_prefixes[0]"),
                pair("a1", "target"),
                pair("b1", "target_unit")
            ]
        );
    }

    #[test]
    fn rules_round_trip_through_toml_and_json_shapes() {
        let spec: RuleSpec = serde_json::from_value(serde_json::json!({
            "id": "noise", "priority": 3, "keywords_any": ["噪音"], "request_types": ["complaint"],
            "territorial": "street", "urgencies": ["utility_outage"]
        }))
        .unwrap();
        assert_eq!(spec.territorial, Some(Territorial::Street));
        assert_eq!(spec.positive_criteria(), 3);
        let back: RuleSpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
        assert!(
            serde_json::from_value::<RuleSpec>(serde_json::json!({"id": "x1", "bogus": 1}))
                .is_err()
        );
    }
}
