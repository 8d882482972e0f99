//! Engine tests: each criterion, ranking, territorial targets, fallback,
//! explain. Validation is tested in `rule.rs`, the index against a naive
//! reference in `proptests.rs`.

use chrono::DateTime;

use super::{
    Decision, DecisionSource, Router, RouterOptions, RoutingInput, RuleSpec, Territorial,
    TerritoryMap, index::specificity,
};
use crate::domain::{
    directory::{Unit, UnitKind},
    ids::{RegionCode, UnitId},
    ticket::{RequestType, Urgency},
};

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
fn priority_beats_specificity() {
    let broad = RuleSpec {
        priority: 10,
        ..kw("broad", "market", &["噪音"])
    };
    let narrow = RuleSpec {
        region_prefixes: strings(&["330106"]),
        ..kw("narrow", "env", &["噪音"])
    };
    let d = router(vec![narrow, broad]).decide(&RoutingInput {
        title: "噪音",
        ..input()
    });
    assert_eq!(d.unwrap().rule_id.as_deref(), Some("broad"));
}

#[test]
fn specificity_terms_break_ties_in_order() {
    let t = RoutingInput {
        subject_code: Some("01.02.03"),
        title: "夜间施工噪音",
        ..input()
    };
    // More positive criteria first, even against more keywords.
    let two = RuleSpec {
        request_types: vec![RequestType::Complaint],
        ..kw("aa-two", "market", &["噪音"])
    };
    let many = kw("aa-many", "env", &["夜间", "施工", "噪音"]);
    assert_eq!(
        winner(&router(vec![many.clone(), two]), &t).as_deref(),
        Some("aa-two")
    );
    // Then distinct keywords found.
    let one = kw("aa-one", "market", &["噪音", "油烟"]);
    assert_eq!(
        winner(&router(vec![one, many]), &t).as_deref(),
        Some("aa-many")
    );
    // Then subject depth.
    let shallow = RuleSpec {
        subject_prefixes: strings(&["01", "09"]),
        ..rule("aa-shallow", "market")
    };
    let deep = RuleSpec {
        subject_prefixes: strings(&["01", "01.02"]),
        ..rule("zz-deep", "env")
    };
    assert_eq!(
        winner(&router(vec![shallow, deep]), &t).as_deref(),
        Some("zz-deep")
    );
    // Then region prefix length.
    let city = RuleSpec {
        region_prefixes: strings(&["3301"]),
        ..rule("aa-city", "market")
    };
    let street = RuleSpec {
        region_prefixes: strings(&["33", "330106001"]),
        ..rule("zz-street", "env")
    };
    assert_eq!(
        winner(&router(vec![city, street]), &t).as_deref(),
        Some("zz-street")
    );
    // Then the rule id.
    let b = kw("noise-b", "env", &["噪音"]);
    let a = kw("noise-a", "market", &["噪音"]);
    let r = router(vec![b, a]);
    assert_eq!(winner(&r, &t).as_deref(), Some("noise-a"));
    let ex = r.explain(&t, 10);
    assert_eq!(ex.matches[0].specificity, ex.matches[1].specificity);
}

#[test]
fn specificity_formula() {
    let r = RuleSpec {
        subject_prefixes: strings(&["01", "01.02"]),
        region_prefixes: strings(&["33", "330106"]),
        keywords_any: strings(&["噪音", "施工", "油烟"]),
        keywords_all: strings(&["夜间", "噪音"]),
        ..rule("f", "market")
    };
    let t = RoutingInput {
        subject_code: Some("01.02.07"),
        title: "夜间施工噪音",
        ..input()
    };
    let ex = router(vec![r]).explain(&t, 1);
    assert_eq!(ex.matches[0].specificity, specificity(4, 3, 2, 6));
    assert_eq!(specificity(4, 3, 2, 6), 0x0403_0206);
    assert!(specificity(2, 0, 0, 0) > specificity(1, 255, 4, 12));
}

#[test]
fn territorial_rules_resolve_street_or_district_and_skip_otherwise() {
    let street = RuleSpec {
        priority: 5,
        ..territorial("to-street", Territorial::Street)
    };
    let street = RuleSpec {
        keywords_any: strings(&["占道"]),
        ..street
    };
    let district = RuleSpec {
        priority: 1,
        keywords_any: strings(&["占道"]),
        ..territorial("to-district", Territorial::District)
    };
    let r = router(vec![street, district]);
    let t = RoutingInput {
        title: "占道经营",
        ..input()
    };
    let d = r.decide(&t).unwrap();
    assert_eq!(
        (d.unit, d.rule_id.as_deref()),
        (uid("s-beishan"), Some("to-street"))
    );
    let d = r
        .decide(&RoutingInput {
            region_code: "330106002007",
            ..t
        })
        .unwrap();
    assert_eq!(d.unit, uid("s-xixi"));
    // No street for 330106003: the street rule is skipped, the district rule wins.
    let d = r
        .decide(&RoutingInput {
            region_code: "330106003",
            ..t
        })
        .unwrap();
    assert_eq!(
        (d.unit, d.rule_id.as_deref()),
        (uid("d330106"), Some("to-district"))
    );
    let ex = r.explain(
        &RoutingInput {
            region_code: "330106003",
            ..t
        },
        10,
    );
    assert_eq!(ex.matches.len(), 1);
    // Neither resolves in Binjiang: triage.
    assert_eq!(
        r.decide(&RoutingInput {
            region_code: "330108001",
            ..t
        }),
        None
    );
}

#[test]
fn decision_carries_co_units_version_and_source() {
    let r = RuleSpec {
        co_units: strings(&["police", "s-beishan", "police"]),
        ..kw("k", "market", &["噪音"])
    };
    let t = territorial("street", Territorial::Street);
    let t = RuleSpec {
        co_units: strings(&["s-beishan", "env"]),
        keywords_any: strings(&["占道"]),
        ..t
    };
    let router = router(vec![r, t]);
    let d = router
        .decide(&RoutingInput {
            title: "噪音",
            ..input()
        })
        .unwrap();
    assert_eq!(
        d,
        Decision {
            unit: uid("market"),
            co_units: vec![uid("police"), uid("s-beishan")],
            rule_id: Some("k".into()),
            rule_set_version: 7,
            source: DecisionSource::Rule,
        }
    );
    // The lead unit is never its own co-handler.
    let d = router
        .decide(&RoutingInput {
            title: "占道",
            ..input()
        })
        .unwrap();
    assert_eq!((d.unit, d.co_units), (uid("s-beishan"), vec![uid("env")]));
}

#[test]
fn no_match_falls_back_to_district_or_triage() {
    let rules = vec![kw("k", "market", &["噪音"])];
    let fallback = Router::compile(3, rules.clone(), territory(), FALLBACK);
    let t = RoutingInput {
        title: "油烟",
        ..input()
    };
    let d = fallback.decide(&t).unwrap();
    assert_eq!(
        d,
        Decision {
            unit: uid("d330106"),
            co_units: Vec::new(),
            rule_id: None,
            rule_set_version: 3,
            source: DecisionSource::DistrictFallback,
        }
    );
    assert_eq!(
        fallback.decide(&RoutingInput {
            region_code: "330108001",
            ..t
        }),
        None
    );
    assert_eq!(
        Router::compile(3, rules, territory(), TRIAGE).decide(&t),
        None
    );
    let ex = fallback.explain(&t, 5);
    assert_eq!((ex.decision, ex.matches.len()), (Some(d), 0));
}

#[test]
fn empty_router_routes_to_fallback_or_triage() {
    let empty = Router::empty(territory(), FALLBACK);
    assert_eq!((empty.version(), empty.rule_count()), (0, 0));
    let d = empty
        .decide(&RoutingInput {
            title: "噪音",
            ..input()
        })
        .unwrap();
    assert_eq!(
        (d.source, d.unit, d.rule_set_version),
        (DecisionSource::DistrictFallback, uid("d330106"), 0)
    );
    assert_eq!(
        Router::empty(TerritoryMap::default(), FALLBACK).decide(&input()),
        None
    );
    assert_eq!(
        Router::empty(territory(), TRIAGE)
            .explain(&input(), 3)
            .decision,
        None
    );
}

#[test]
fn explain_lists_winner_then_runner_ups_up_to_limit() {
    let rules = vec![
        kw("low", "env", &["噪音"]),
        RuleSpec {
            priority: 9,
            ..kw("high", "market", &["噪音"])
        },
        RuleSpec {
            region_prefixes: strings(&["3301"]),
            ..kw("mid", "housing", &["噪音"])
        },
        kw("other", "env", &["油烟"]),
    ];
    let r = router(rules);
    let t = RoutingInput {
        title: "噪音",
        ..input()
    };
    let ex = r.explain(&t, 10);
    let ids: Vec<&str> = ex.matches.iter().map(|m| m.rule_id.as_str()).collect();
    assert_eq!(ids, ["high", "mid", "low"]);
    assert_eq!(ex.decision, r.decide(&t));
    assert_eq!(ex.matches[0].priority, 9);
    assert_eq!(ex.matches[1].unit, uid("housing"));
    let two = r.explain(&t, 2);
    assert_eq!(two.matches, ex.matches[..2]);
    let none = r.explain(&t, 0);
    assert!(none.matches.is_empty());
    assert_eq!(none.decision.unwrap().rule_id.as_deref(), Some("high"));
}

#[test]
fn anchors_each_criterion_kind() {
    // One rule anchored on each kind; each is found through its index.
    let rules = vec![
        RuleSpec {
            keywords_all: strings(&["夜间", "施工"]),
            keywords_any: strings(&["工地"]),
            ..rule("by-all", "env")
        },
        RuleSpec {
            subject_prefixes: strings(&["05.01"]),
            ..rule("by-subject", "market")
        },
        RuleSpec {
            region_prefixes: strings(&["3302"]),
            ..rule("by-region", "market")
        },
        RuleSpec {
            legacy_hotlines: strings(&["12328"]),
            ..rule("by-hotline", "market")
        },
        RuleSpec {
            request_types: vec![RequestType::Praise],
            ..rule("by-type", "market")
        },
        RuleSpec {
            urgencies: vec![Urgency::Urgent],
            ..rule("by-urgency", "market")
        },
        RuleSpec {
            keywords_none: strings(&["噪音"]),
            ..rule("unanchored", "market")
        },
    ];
    let r = router(rules);
    let only = |i: RoutingInput<'_>| {
        let ex = r.explain(
            &RoutingInput {
                title: "噪音", ..i
            },
            10,
        );
        ex.matches
            .into_iter()
            .map(|m| m.rule_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        only(RoutingInput {
            description: "工地夜间施工",
            ..input()
        }),
        ["by-all"]
    );
    assert_eq!(
        only(RoutingInput {
            description: "夜间施工",
            ..input()
        }),
        Vec::<String>::new()
    );
    assert_eq!(
        only(RoutingInput {
            subject_code: Some("05.01.02"),
            ..input()
        }),
        ["by-subject"]
    );
    assert_eq!(
        only(RoutingInput {
            region_code: "330211",
            ..input()
        }),
        ["by-region"]
    );
    assert_eq!(
        only(RoutingInput {
            legacy_hotline: Some("12328"),
            ..input()
        }),
        ["by-hotline"]
    );
    assert_eq!(
        only(RoutingInput {
            request_type: RequestType::Praise,
            ..input()
        }),
        ["by-type"]
    );
    assert_eq!(
        only(RoutingInput {
            urgency: Urgency::Urgent,
            ..input()
        }),
        ["by-urgency"]
    );
    // An unvalidated rule with only keywords_none is still evaluated.
    assert_eq!(winner(&r, &input()).as_deref(), Some("unanchored"));
}

#[test]
fn ten_thousand_rules_decide_the_same_as_a_few() {
    // Filler rules on keywords that never occur; the two real rules still win.
    let mut rules: Vec<RuleSpec> = (0..10_000)
        .map(|i| {
            let mut r = kw(
                &format!("filler-{i}"),
                "env",
                &[&format!("关键词{i}号"), &format!("kw{i}x")],
            );
            r.priority = 100;
            if i % 3 == 0 {
                r.subject_prefixes = strings(&[&format!("{:02}", i % 90)]);
                r.keywords_any.clear();
            }
            r
        })
        .collect();
    rules.push(kw("noise", "market", &["噪音"]));
    rules.push(RuleSpec {
        subject_prefixes: strings(&["99"]),
        ..kw("noise-99", "env", &["噪音"])
    });
    let r = router(rules);
    let t = RoutingInput {
        title: "噪音扰民",
        description: "楼下KW12Y每天晚上噪音很大",
        ..input()
    };
    assert_eq!(winner(&r, &t).as_deref(), Some("noise"));
    let t = RoutingInput {
        subject_code: Some("99.01"),
        ..t
    };
    let ex = r.explain(&t, 10);
    let ids: Vec<&str> = ex.matches.iter().map(|m| m.rule_id.as_str()).collect();
    assert_eq!(ids, ["noise-99", "noise"]);
    let t = RoutingInput {
        title: "关键词13号",
        ..t
    };
    assert_eq!(winner(&r, &t).as_deref(), Some("filler-13"));
}
