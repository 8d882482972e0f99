//! Engine tests: fixtures and each criterion here; ranking, territorial
//! targets, fallback and explain in `tests/ranking.rs`. Validation is tested
//! in `rule.rs`, the index against a naive reference in `proptests.rs`.

use chrono::DateTime;

use super::{
    Decision, DecisionSource, Router, RouterOptions, RoutingInput, RuleSpec, Territorial,
    TerritoryMap, index::specificity,
};
use crate::{
    directory::{Unit, UnitKind},
    ids::{RegionCode, UnitId},
    ticket::{RequestType, Urgency},
};

mod ranking;

pub(super) fn unit(id: &str, kind: UnitKind, region: &str) -> Unit {
    Unit {
        id: UnitId::parse(id).unwrap(),
        display_name: id.to_owned(),
        kind,
        region_code: RegionCode::parse(region).unwrap(),
        parent: None,
        create_time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    }
}

/// Xihu district (330106) with two streets; Binjiang (330108) has neither
/// district nor street units.
pub(super) fn territory() -> TerritoryMap {
    TerritoryMap::from_units(&[
        unit("d330106", UnitKind::District, "330106"),
        unit("s-beishan", UnitKind::Street, "330106001"),
        unit("s-xixi", UnitKind::Street, "330106002"),
        unit("market", UnitKind::Department, "330100"),
    ])
}

pub(super) fn uid(s: &str) -> UnitId {
    UnitId::parse(s).unwrap()
}

pub(super) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A rule to `target` with no criterion yet.
pub(super) fn rule(id: &str, target: &str) -> RuleSpec {
    RuleSpec {
        id: id.to_owned(),
        name: String::new(),
        priority: 0,
        subject_prefixes: Vec::new(),
        request_types: Vec::new(),
        region_prefixes: Vec::new(),
        keywords_any: Vec::new(),
        keywords_all: Vec::new(),
        keywords_none: Vec::new(),
        legacy_hotlines: Vec::new(),
        urgencies: Vec::new(),
        target_unit: Some(target.to_owned()),
        territorial: None,
        co_units: Vec::new(),
    }
}

fn territorial(id: &str, t: Territorial) -> RuleSpec {
    RuleSpec {
        target_unit: None,
        territorial: Some(t),
        ..rule(id, "unused")
    }
}

fn kw(id: &str, target: &str, any: &[&str]) -> RuleSpec {
    RuleSpec {
        keywords_any: strings(any),
        ..rule(id, target)
    }
}

/// A complaint in Beishan street, no subject, no text.
fn input() -> RoutingInput<'static> {
    RoutingInput {
        subject_code: None,
        request_type: RequestType::Complaint,
        region_code: "330106001",
        title: "",
        description: "",
        legacy_hotline: None,
        urgency: Urgency::Normal,
    }
}

const TRIAGE: RouterOptions = RouterOptions {
    fallback_to_district: false,
};
const FALLBACK: RouterOptions = RouterOptions {
    fallback_to_district: true,
};

fn router(rules: Vec<RuleSpec>) -> Router {
    Router::compile(7, rules, territory(), TRIAGE)
}

/// The winning rule id, if a rule decided.
fn winner(router: &Router, input: &RoutingInput<'_>) -> Option<String> {
    router.decide(input).and_then(|d| d.rule_id)
}

fn matches(r: RuleSpec, input: &RoutingInput<'_>) -> bool {
    winner(&router(vec![r]), input).is_some()
}

#[test]
fn subject_prefix_matches_at_segment_boundaries_only() {
    let r = RuleSpec {
        subject_prefixes: strings(&["01.02", "03"]),
        ..rule("subj", "market")
    };
    for (subject, expected) in [
        (Some("01.02"), true),
        (Some("01.02.03"), true),
        (Some("01.02.03.04"), true),
        (Some("03.11"), true),
        (Some("01.020"), false),
        (Some("01"), false),
        (Some("01.03"), false),
        (Some("04"), false),
        (None, false),
    ] {
        let i = RoutingInput {
            subject_code: subject,
            ..input()
        };
        assert_eq!(matches(r.clone(), &i), expected, "{subject:?}");
        // Same when the rule is anchored on a keyword rather than the subject.
        let with_kw = RuleSpec {
            keywords_any: strings(&["噪音"]),
            ..r.clone()
        };
        assert_eq!(
            matches(
                with_kw,
                &RoutingInput {
                    title: "噪音", ..i
                }
            ),
            expected,
            "{subject:?}"
        );
    }
}

#[test]
fn request_type_urgency_and_hotline_are_sets() {
    let types = RuleSpec {
        request_types: vec![RequestType::Report, RequestType::Help],
        ..rule("t", "market")
    };
    assert!(matches(
        types.clone(),
        &RoutingInput {
            request_type: RequestType::Report,
            ..input()
        }
    ));
    assert!(matches(
        types.clone(),
        &RoutingInput {
            request_type: RequestType::Help,
            ..input()
        }
    ));
    assert!(!matches(types, &input()));

    let urgent = RuleSpec {
        urgencies: vec![Urgency::UtilityOutage],
        ..rule("u", "market")
    };
    assert!(matches(
        urgent.clone(),
        &RoutingInput {
            urgency: Urgency::UtilityOutage,
            ..input()
        }
    ));
    assert!(!matches(urgent, &input()));

    let hotline = RuleSpec {
        legacy_hotlines: strings(&["12315", "12333"]),
        ..rule("h", "market")
    };
    assert!(matches(
        hotline.clone(),
        &RoutingInput {
            legacy_hotline: Some("12333"),
            ..input()
        }
    ));
    assert!(!matches(
        hotline.clone(),
        &RoutingInput {
            legacy_hotline: Some("12345"),
            ..input()
        }
    ));
    assert!(!matches(hotline, &input()));
}

#[test]
fn region_prefix_is_a_plain_prefix() {
    let r = RuleSpec {
        region_prefixes: strings(&["330106", "3302"]),
        ..rule("r", "market")
    };
    for (region, expected) in [
        ("330106", true),
        ("330106001", true),
        ("330106001002", true),
        ("330211", true),
        ("330108", false),
        ("3301", false),
    ] {
        assert_eq!(
            matches(
                r.clone(),
                &RoutingInput {
                    region_code: region,
                    ..input()
                }
            ),
            expected,
            "{region}"
        );
    }
}

#[test]
fn keywords_any_in_title_or_description_ascii_case_insensitive() {
    let r = kw("k", "market", &["噪音", "WiFi"]);
    assert!(matches(
        r.clone(),
        &RoutingInput {
            title: "楼下噪音",
            ..input()
        }
    ));
    assert!(matches(
        r.clone(),
        &RoutingInput {
            description: "每天晚上噪音很大",
            ..input()
        }
    ));
    assert!(matches(
        r.clone(),
        &RoutingInput {
            description: "小区wifi信号差",
            ..input()
        }
    ));
    assert!(matches(
        r.clone(),
        &RoutingInput {
            title: "WIFI",
            ..input()
        }
    ));
    assert!(!matches(
        r.clone(),
        &RoutingInput {
            title: "油烟扰民",
            description: "Wi-Fi",
            ..input()
        }
    ));
    // Title and description are separate texts: no match across the seam.
    assert!(!matches(
        r,
        &RoutingInput {
            title: "楼下噪",
            description: "音很大",
            ..input()
        }
    ));
}

#[test]
fn keyword_search_folds_ascii_only_and_keeps_the_texts_apart() {
    // Only ASCII letters fold: `Ä` and `ä` differ, full-width letters too.
    let r = kw("k", "market", &["Äpfel"]);
    for (title, hit) in [("ÄPFEL", true), ("Äpfel", true), ("äpfel", false)] {
        assert_eq!(
            matches(r.clone(), &RoutingInput { title, ..input() }),
            hit,
            "{title}"
        );
    }
    let r = kw("k", "market", &["wifi"]);
    assert!(!matches(
        r.clone(),
        &RoutingInput {
            title: "ＷｉＦｉ",
            ..input()
        }
    ));
    // A lowered title must not leak into the description's search.
    for (title, description, hit) in [
        ("WI", "FI", false),
        ("LONG TITLE WI", "FI", false),
        ("LONG TITLE", "WIFI", true),
        ("WIFI", "短", true),
    ] {
        assert_eq!(
            matches(
                r.clone(),
                &RoutingInput {
                    title,
                    description,
                    ..input()
                }
            ),
            hit,
            "{title} / {description}"
        );
    }
}

#[test]
fn keywords_all_may_be_split_between_title_and_description() {
    let r = RuleSpec {
        keywords_all: strings(&["夜间", "施工"]),
        ..rule("k", "market")
    };
    assert!(matches(
        r.clone(),
        &RoutingInput {
            title: "夜间施工扰民",
            ..input()
        }
    ));
    assert!(matches(
        r.clone(),
        &RoutingInput {
            title: "夜间",
            description: "工地施工",
            ..input()
        }
    ));
    assert!(!matches(
        r,
        &RoutingInput {
            title: "白天施工",
            ..input()
        }
    ));
}

#[test]
fn keywords_none_excludes_and_overlapping_keywords_all_count() {
    let r = RuleSpec {
        keywords_none: strings(&["扰民"]),
        ..kw("k", "market", &["噪音"])
    };
    assert!(matches(
        r.clone(),
        &RoutingInput {
            title: "噪音",
            ..input()
        }
    ));
    assert!(!matches(
        r.clone(),
        &RoutingInput {
            title: "噪音",
            description: "噪音扰民",
            ..input()
        }
    ));
    // Overlapping keywords are all found: "扰民" inside "噪音扰民".
    assert!(!matches(
        r,
        &RoutingInput {
            title: "噪音扰民",
            ..input()
        }
    ));
    let both = kw("both", "market", &["噪音扰民", "扰民"]);
    let got = router(vec![both]).explain(
        &RoutingInput {
            title: "噪音扰民",
            ..input()
        },
        5,
    );
    assert_eq!(got.matches[0].specificity, specificity(1, 2, 0, 0));
}

#[test]
fn every_criterion_must_hold() {
    let r = RuleSpec {
        subject_prefixes: strings(&["01"]),
        request_types: vec![RequestType::Complaint],
        region_prefixes: strings(&["3301"]),
        keywords_any: strings(&["噪音"]),
        legacy_hotlines: strings(&["12369"]),
        urgencies: vec![Urgency::Normal],
        ..rule("all", "market")
    };
    let full = RoutingInput {
        subject_code: Some("01.02"),
        title: "噪音",
        legacy_hotline: Some("12369"),
        ..input()
    };
    assert!(matches(r.clone(), &full));
    assert!(!matches(
        r.clone(),
        &RoutingInput {
            subject_code: Some("02"),
            ..full
        }
    ));
    assert!(!matches(
        r.clone(),
        &RoutingInput {
            request_type: RequestType::Help,
            ..full
        }
    ));
    assert!(!matches(
        r.clone(),
        &RoutingInput {
            region_code: "330211",
            ..full
        }
    ));
    assert!(!matches(
        r.clone(),
        &RoutingInput {
            title: "油烟",
            ..full
        }
    ));
    assert!(!matches(
        r.clone(),
        &RoutingInput {
            legacy_hotline: None,
            ..full
        }
    ));
    assert!(!matches(
        r,
        &RoutingInput {
            urgency: Urgency::Urgent,
            ..full
        }
    ));
}

#[test]
fn unvalidated_rules_compile_without_panicking() {
    let rules = vec![
        RuleSpec {
            target_unit: None,
            ..kw("no-target", "env", &["噪音"])
        },
        RuleSpec {
            territorial: Some(Territorial::Street),
            ..kw("two-targets", "env", &["噪音"])
        },
        kw("Bad Target", "NOT A UNIT", &["噪音"]),
        RuleSpec {
            keywords_none: strings(&["  "]),
            ..kw("blank-none", "env", &["噪音"])
        },
        RuleSpec {
            co_units: strings(&["??", "police"]),
            region_prefixes: strings(&["", "33"]),
            ..kw("blank-any", "market", &["", "油烟"])
        },
    ];
    let r = router(rules);
    // A blank `keywords_any` entry occurs in every text, a blank region
    // prefix is a prefix of every region.
    let d = r
        .decide(&RoutingInput {
            title: "油烟",
            ..input()
        })
        .unwrap();
    assert_eq!(d.rule_id.as_deref(), Some("blank-any"));
    assert_eq!(d.co_units, vec![uid("police")]);
    // A blank `keywords_none` entry excludes every text and the rules
    // without a usable target never match: only `blank-any` is left.
    let ex = r.explain(
        &RoutingInput {
            title: "噪音",
            ..input()
        },
        10,
    );
    let ids: Vec<&str> = ex.matches.iter().map(|m| m.rule_id.as_str()).collect();
    assert_eq!(ids, ["blank-any"]);
}
