#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Routes the 286 real citizen messages of `tests/data/messages-train.csv`
//! through the demo city's dispatch catalogue (`deploy/demo/city.toml`) and
//! checks that at least 80 % reach a unit of their labelled first-level
//! category. Prints the confusion table (`cargo test --test routing_accuracy
//! -- --nocapture`).

use std::collections::{BTreeSet, HashMap};

use chrono::DateTime;
use hotline::{
    demo::{self, CATEGORIES, DemoCity},
    domain::{
        directory::UnitKind,
        routing::{
            Router, RouterOptions, RoutingInput, Territorial, TerritoryMap, validate_rule_set,
        },
        ticket::{RequestType, Urgency},
    },
};

/// Column for "no unit" and for units outside the seven categories.
const NONE: &str = "triage/none";
const MIN_ACCURACY: f64 = 0.80;

struct Message {
    title: String,
    description: String,
    label: String,
}

fn messages() -> Vec<Message> {
    let path = format!(
        "{}/tests/data/messages-train.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut reader = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .unwrap_or_else(|| panic!("{path}: no column {name}"))
    };
    let (title, description, label) = (column("留言主题"), column("留言详情"), column("一级分类"));
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            Message {
                title: record[title].to_owned(),
                description: record[description].to_owned(),
                label: record[label].trim().to_owned(),
            }
        })
        .collect()
}

fn city() -> DemoCity {
    demo::load().unwrap()
}

/// The demo router, after asserting that the catalogue validates.
fn router(city: &DemoCity) -> Router {
    if let Err(violations) = validate_rule_set(&city.rules, &|id| city.unit_kind(id)) {
        panic!("demo rule set does not validate: {violations:#?}");
    }
    let units = city
        .domain_units(DateTime::from_timestamp(1_795_000_000, 0).unwrap())
        .unwrap();
    let territory = TerritoryMap::from_units(&units);
    Router::compile(
        1,
        city.rules.clone(),
        territory,
        RouterOptions {
            fallback_to_district: false,
        },
    )
}

fn input<'a>(title: &'a str, description: &'a str, region: &'a str) -> RoutingInput<'a> {
    RoutingInput {
        subject_code: None,
        request_type: RequestType::Complaint,
        region_code: region,
        title,
        description,
        legacy_hotline: None,
        urgency: Urgency::Normal,
    }
}

#[test]
fn demo_messages_reach_the_unit_of_their_category() {
    let city = city();
    let router = router(&city);
    let category: HashMap<&str, &str> = city
        .units
        .iter()
        .filter_map(|u| Some((u.id.as_str(), u.category.as_deref()?)))
        .collect();
    let messages = messages();
    assert_eq!(messages.len(), 286, "messages-train.csv holds 286 messages");

    let columns: Vec<&str> = CATEGORIES.iter().copied().chain([NONE]).collect();
    let mut table = vec![vec![0usize; columns.len()]; CATEGORIES.len()];
    let mut by_rule: HashMap<String, usize> = HashMap::new();
    let mut correct = 0usize;
    for m in &messages {
        let row = CATEGORIES
            .iter()
            .position(|c| *c == m.label)
            .unwrap_or_else(|| panic!("unknown label {:?} on {:?}", m.label, m.title));
        let decision = router.decide(&input(&m.title, &m.description, "430100"));
        let routed = decision
            .as_ref()
            .and_then(|d| category.get(d.unit.as_str()).copied())
            .unwrap_or(NONE);
        let col = columns.iter().position(|c| *c == routed).unwrap();
        table[row][col] += 1;
        if routed == m.label {
            correct += 1;
        }
        let rule = decision
            .and_then(|d| d.rule_id)
            .unwrap_or_else(|| "(none)".into());
        *by_rule.entry(rule).or_default() += 1;
    }

    let accuracy = correct as f64 / messages.len() as f64;
    println!(
        "routing accuracy: {correct}/{} = {:.1} %",
        messages.len(),
        accuracy * 100.0
    );
    println!("rows: labelled category; columns: category of the routed unit");
    // Right-aligns by display width (a Han character takes two columns).
    let cell = |s: &str, width: usize| {
        let shown: usize = s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
        format!("{}{s}", " ".repeat(width.saturating_sub(shown)))
    };
    let mut header = cell("label \\ routed", 16);
    for c in &columns {
        header.push_str(&cell(c, 16));
    }
    println!("{header}{}{}", cell("total", 8), cell("recall", 9));
    for (row, label) in CATEGORIES.iter().enumerate() {
        let total: usize = table[row].iter().sum();
        let mut line = cell(label, 16);
        for n in &table[row] {
            line.push_str(&cell(&n.to_string(), 16));
        }
        let recall = if total == 0 {
            0.0
        } else {
            table[row][row] as f64 / total as f64 * 100.0
        };
        println!(
            "{line}{}{}",
            cell(&total.to_string(), 8),
            cell(&format!("{recall:.1} %"), 9)
        );
    }
    let mut rules: Vec<_> = by_rule.into_iter().collect();
    rules.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!(
        "winning rules: {}",
        rules
            .iter()
            .map(|(r, n)| format!("{r}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    assert!(
        accuracy >= MIN_ACCURACY,
        "routing accuracy {:.1} % is below {:.0} %",
        accuracy * 100.0,
        MIN_ACCURACY * 100.0
    );
}

#[test]
fn demo_city_has_departments_for_every_category() {
    let city = city();
    let departments = city
        .units
        .iter()
        .filter(|u| u.kind == UnitKind::Department)
        .count();
    assert!(departments >= 30, "{departments} departments, want 30+");

    // Every category has a unit, and some rule sends tickets to one of them.
    let targets: BTreeSet<&str> = city
        .rules
        .iter()
        .filter_map(|r| r.target_unit.as_deref())
        .collect();
    for category in CATEGORIES {
        let units: Vec<&str> = city
            .units
            .iter()
            .filter(|u| u.category.as_deref() == Some(category))
            .map(|u| u.id.as_str())
            .collect();
        assert!(!units.is_empty(), "no unit for {category}");
        assert!(
            units.iter().any(|u| targets.contains(u)),
            "no rule routes to a unit for {category}"
        );
    }

    // Every district has its government and at least two streets under it.
    for district in city.units.iter().filter(|u| u.kind == UnitKind::District) {
        let streets = city
            .units
            .iter()
            .filter(|u| {
                u.kind == UnitKind::Street && u.parent.as_deref() == Some(district.id.as_str())
            })
            .filter(|u| u.region.starts_with(&district.region) && u.region.len() == 9)
            .count();
        assert!(streets >= 2, "{} has {streets} streets", district.id);
    }
}

#[test]
fn demo_catalogue_uses_every_criterion() {
    let city = city();
    let rules = &city.rules;
    let uses = |what: &str, used: &dyn Fn(&hotline::domain::routing::RuleSpec) -> bool| {
        assert!(rules.iter().any(used), "no demo rule uses {what}");
    };
    uses("subject_prefixes", &|r| !r.subject_prefixes.is_empty());
    uses("request_types", &|r| !r.request_types.is_empty());
    uses("region_prefixes", &|r| !r.region_prefixes.is_empty());
    uses("keywords_any", &|r| !r.keywords_any.is_empty());
    uses("keywords_all", &|r| !r.keywords_all.is_empty());
    uses("keywords_none", &|r| !r.keywords_none.is_empty());
    uses("legacy_hotlines", &|r| !r.legacy_hotlines.is_empty());
    uses("urgencies", &|r| !r.urgencies.is_empty());
    uses("territorial street", &|r| {
        r.territorial == Some(Territorial::Street)
    });
    uses("territorial district", &|r| {
        r.territorial == Some(Territorial::District)
    });
    uses("co_units", &|r| !r.co_units.is_empty());
}

#[test]
fn retired_hotlines_route_to_their_former_owners() {
    let city = city();
    let router = router(&city);
    for (hotline, owner) in [
        ("12315", "market-regulation"),
        ("12333", "human-resources"),
        ("12328", "transport"),
        ("12319", "urban-management"),
        ("12320", "health"),
        ("12369", "ecology-environment"),
    ] {
        assert!(city.unit_exists(owner), "{owner}");
        let mut call = input("来电", "市民来电反映问题", "430102");
        call.legacy_hotline = Some(hotline);
        let decision = router
            .decide(&call)
            .unwrap_or_else(|| panic!("{hotline} not routed"));
        assert_eq!(decision.unit.as_str(), owner, "{hotline}");
    }
}

#[test]
fn neighbourhood_matters_go_to_the_street_of_the_region() {
    let city = city();
    let router = router(&city);
    for street in city.units.iter().filter(|u| u.kind == UnitKind::Street) {
        let decision = router
            .decide(&input(
                "楼上邻居深夜噪音",
                "楼上每晚跳绳噪音扰民，协商无果。",
                &street.region,
            ))
            .unwrap_or_else(|| panic!("{}: not routed", street.id));
        assert_eq!(
            decision.unit.as_str(),
            street.id,
            "region {}",
            street.region
        );
    }
    // Above street level there is no street: the department takes it.
    let decision = router
        .decide(&input(
            "楼上邻居深夜噪音",
            "楼上每晚跳绳噪音扰民。",
            "430100",
        ))
        .unwrap();
    assert_eq!(decision.unit.as_str(), "ecology-environment");
}
