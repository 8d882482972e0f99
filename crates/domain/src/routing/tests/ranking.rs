//! Ranking (priority, specificity, id), territorial targets, fallback and
//! triage, explain, and the index at scale.

use super::*;

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
            model_version: None,
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
            model_version: None,
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
fn the_district_fallback_ignores_matching_rules_and_the_option() {
    let rules = vec![kw("k", "market", &["噪音"])];
    for options in [FALLBACK, TRIAGE] {
        let router = Router::compile(4, rules.clone(), territory(), options);
        let d = router.district_fallback("330106999").unwrap();
        assert_eq!(
            (d.unit, d.rule_id, d.source),
            (uid("d330106"), None, DecisionSource::DistrictFallback)
        );
        assert_eq!(
            router.district_fallback("330108001"),
            None,
            "no district unit"
        );
    }
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

#[test]
fn many_failing_candidates_before_the_winner() {
    // Twenty better-ranked candidates whose anchor is hit but which fail
    // (keywords_none), then the winner: the walk goes past its first passes.
    let mut rules: Vec<RuleSpec> = (0..20)
        .map(|i| RuleSpec {
            priority: 50 + i,
            keywords_none: strings(&["扰民"]),
            ..kw(&format!("fails-{i:02}"), "env", &["噪音"])
        })
        .collect();
    rules.push(RuleSpec {
        priority: 1,
        ..kw("winner", "market", &["噪音"])
    });
    rules.push(kw("runner-up", "housing", &["噪音"]));
    let r = router(rules);
    let t = RoutingInput {
        title: "噪音扰民",
        ..input()
    };
    assert_eq!(winner(&r, &t).as_deref(), Some("winner"));
    let ids: Vec<String> = r
        .explain(&t, 10)
        .matches
        .into_iter()
        .map(|m| m.rule_id)
        .collect();
    assert_eq!(ids, ["winner", "runner-up"]);
    // Without the excluding keyword all twenty-two match, best first.
    let t = RoutingInput {
        title: "噪音", ..t
    };
    let ex = r.explain(&t, 100);
    assert_eq!(ex.matches.len(), 22);
    assert_eq!(ex.matches[0].rule_id, "fails-19");
    assert_eq!(ex.matches[21].rule_id, "runner-up");
    assert!(
        ex.matches
            .windows(2)
            .all(|w| w[0].priority >= w[1].priority)
    );
    assert_eq!(r.decide(&t), ex.decision);
}
