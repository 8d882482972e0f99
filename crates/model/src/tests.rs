#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use linfa::traits::Fit;
use ndarray::{Array1, Array2};
use proptest::prelude::*;

use hotline_domain::{
    UnitId,
    routing::{DecisionSource, Router, RouterOptions, RoutingInput, RuleSpec, TerritoryMap},
    ticket::{RequestType, Urgency},
};

use crate::{
    Confusion, DispatchModel, Policy, Successions, TrainingOptions, TrainingTicket, decide,
    features::{
        Family, FeatureSpec, feature_key, feature_name, for_each_feature, parse_feature_name,
        values,
    },
    fold_of, train,
    train::{NEVER, balanced, calibration_splits, threshold},
};

fn ticket(id: &str, unit: &str, title: &str, description: &str) -> TrainingTicket {
    TrainingTicket {
        id: id.into(),
        subject_code: None,
        request_type: RequestType::Complaint,
        region_code: "330106004".into(),
        title: title.into(),
        description: description.into(),
        legacy_hotline: None,
        urgency: Urgency::Normal,
        unit: unit.into(),
    }
}

/// Three units, distinct matters, enough tickets for a held-out quarter.
fn history() -> Vec<TrainingTicket> {
    let matters = [
        (
            "urban-management",
            "占道经营",
            "小摊贩在人行道上占道经营，油烟噪音扰民",
        ),
        (
            "transport",
            "公交班次",
            "公交车班次太少，站台拥挤，希望增加线路",
        ),
        ("hrss", "拖欠工资", "公司拖欠工资，不交社保，不签劳动合同"),
    ];
    (0..36)
        .map(|i| {
            let (unit, title, body) = matters[i % 3];
            ticket(
                &format!("t{i:03}"),
                unit,
                &format!("{title}{i}"),
                &format!("{body}，第{i}次反映。"),
            )
        })
        .collect()
}

fn identity(unit: &str) -> Option<UnitId> {
    UnitId::parse(unit).ok()
}

fn features_of(spec: &FeatureSpec, input: &RoutingInput<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut scratch = String::new();
    for_each_feature(spec, input, &mut scratch, |family, text| {
        out.push(feature_name(family, text));
    });
    out
}

#[test]
fn features_cover_text_region_subject_hotline_and_type() {
    let mut t = ticket("1", "u1", "ＡＢＣ噪音", "夜间噪音扰民，电话13800138000。");
    t.subject_code = Some("01.02.03".into());
    t.legacy_hotline = Some("12345".into());
    let spec = FeatureSpec {
        words: true,
        ..FeatureSpec::default()
    };
    let names = features_of(&spec, &t.input());
    for expected in [
        "u:噪",
        "b:噪音",
        "w:噪音",
        "w:扰民",
        "t:噪音",
        "u:abc",
        "b:abc噪",
        "r:33",
        "r:3301",
        "r:330106",
        "r:330106004",
        "s:01",
        "s:01.02",
        "s:01.02.03",
        "h:12345",
        "q:complaint",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        !names
            .iter()
            .any(|n| n.contains("13800138000") || n.contains('，') || n.contains('\n')),
        "numbers and punctuation are no features: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n == "b:民电"),
        "bigrams do not cross punctuation"
    );
}

#[test]
fn families_can_be_switched_off_and_the_description_is_cut() {
    let t = ticket("1", "u1", "噪音", &"扰民".repeat(400));
    let spec = FeatureSpec {
        unigrams: false,
        words: false,
        title: false,
        region: false,
        request_type: false,
        max_description_chars: 10,
        ..FeatureSpec::default()
    };
    let names = features_of(&spec, &t.input());
    assert!(names.iter().all(|n| n.starts_with("b:")), "{names:?}");
    // The title's bigram and at most nine of the ten description characters'.
    assert!(names.len() <= 1 + 9, "{}", names.len());
}

#[test]
fn values_scale_text_features_to_unit_length_only() {
    let mut out = Vec::new();
    values(&[(0, true, 1), (1, true, 3), (2, false, 1)], &mut out);
    let text: f32 = out[..2].iter().map(|(_, v)| v * v).sum();
    assert!((text - 1.0).abs() < 1e-6, "{out:?}");
    assert_eq!(out[2], (2, 1.0));
    assert!(out[1].1 > out[0].1, "a repeated feature weighs more");
}

#[test]
fn feature_names_parse_back_to_their_keys() {
    for (family, text) in [
        (Family::Word, "噪音"),
        (Family::Region, "3301"),
        (Family::Subject, "01.02"),
    ] {
        let name = feature_name(family, text);
        assert_eq!(parse_feature_name(&name), Some((family, text)));
    }
    assert_eq!(parse_feature_name("x:噪音"), None);
    assert_eq!(parse_feature_name("bb:噪音"), None);
    assert_eq!(parse_feature_name("噪音"), None);
    // Stored models rely on these exact keys: FNV-1a 64 of the tag and the text.
    assert_eq!(feature_key(Family::Word, ""), 0xaf63_ea4c_8602_0456);
    assert_eq!(feature_key(Family::Word, "噪音"), 0x8c9b_50db_059b_79c7);
    assert_ne!(
        feature_key(Family::Word, "噪音"),
        feature_key(Family::Bigram, "噪音")
    );
}

#[test]
fn a_trained_model_suggests_the_unit_of_the_matter() {
    let params = train(&history(), &TrainingOptions::default()).unwrap();
    assert_eq!(params.units, ["hrss", "transport", "urban-management"]);
    assert!(params.threshold > 0.0, "{}", params.threshold);
    let model = DispatchModel::compile(7, &params, &identity).unwrap();
    assert_eq!(model.version(), 7);
    for (title, body, unit) in [
        ("路边占道经营", "晚上小摊贩占道经营", "urban-management"),
        ("公交车太挤", "希望公交增加班次", "transport"),
        ("工资拖欠", "老板拖欠工资两个月", "hrss"),
    ] {
        let t = ticket("x", "", title, body);
        let s = model.suggest(&t.input()).unwrap();
        assert_eq!(s.unit.as_str(), unit, "{title}");
        let explained = model.explain(&t.input(), 3, 4);
        assert_eq!(explained.units.len(), 3);
        assert_eq!(explained.units[0], s);
        let total: f32 = explained.units.iter().map(|u| u.probability).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        assert!(explained.decisive.len() <= 4 && !explained.decisive.is_empty());
        assert!(explained.decisive.windows(2).all(|w| w[0].1 >= w[1].1));
    }
}

#[test]
fn sparse_inference_matches_linfa() {
    // Without pruning, the sparse dot product is linfa's own prediction.
    let options = TrainingOptions {
        prune_below: 0.0,
        regularization_candidates: Vec::new(),
        ..TrainingOptions::default()
    };
    let tickets = history();
    let params = train(&tickets, &options).unwrap();
    let model = DispatchModel::compile(1, &params, &identity).unwrap();
    // Refit with linfa on the same matrix, built from the model's own columns.
    let columns: Vec<(Family, &str)> = params
        .weights
        .iter()
        .map(|w| parse_feature_name(&w.feature).unwrap())
        .collect();
    let rows: Vec<Vec<(u32, f32)>> = tickets
        .iter()
        .map(|t| {
            let mut counts = vec![0u32; columns.len()];
            let mut scratch = String::new();
            for_each_feature(&params.features, &t.input(), &mut scratch, |f, text| {
                if let Some(c) = columns.iter().position(|&(cf, ct)| cf == f && ct == text) {
                    counts[c] += 1;
                }
            });
            let entries: Vec<(u32, bool, u32)> = counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(c, n)| (c as u32, columns[c].0.is_text(), *n))
                .collect();
            let mut out = Vec::new();
            values(&entries, &mut out);
            out
        })
        .collect();
    let mut x = Array2::<f32>::zeros((tickets.len(), columns.len()));
    for (i, row) in rows.iter().enumerate() {
        for &(c, v) in row {
            x[(i, c as usize)] = v;
        }
    }
    let units: Vec<&str> = params.units.iter().map(String::as_str).collect();
    let y: Array1<usize> = tickets
        .iter()
        .map(|t| units.iter().position(|u| *u == t.unit).unwrap())
        .collect();
    let fitted = linfa_logistic::MultiLogisticRegression::<f32>::default()
        .alpha(params.regularization)
        .max_iterations(options.max_iterations)
        .fit(&linfa::Dataset::new(x.clone(), y))
        .unwrap();
    let dense = fitted.predict_probabilities(&x);
    for (i, t) in tickets.iter().enumerate() {
        let explained = model.explain(&t.input(), 3, 0);
        for s in &explained.units {
            let k = units.iter().position(|u| *u == s.unit.as_str()).unwrap();
            assert!(
                (dense[(i, k)] - s.probability).abs() < 2e-3,
                "{}: {} vs {}",
                t.id,
                dense[(i, k)],
                s.probability
            );
        }
    }
}

#[test]
fn retired_units_are_mapped_or_dropped_at_compile_time() {
    let params = train(&history(), &TrainingOptions::default()).unwrap();
    let successions = Successions::new([
        ("hrss".to_owned(), Some("labour-bureau".to_owned())),
        ("transport".to_owned(), None),
    ]);
    let exists = |u: &str| ["hrss", "transport", "urban-management", "labour-bureau"].contains(&u);
    let model = DispatchModel::compile(1, &params, &|u| successions.resolve(u, &exists)).unwrap();
    let live: Vec<&str> = model.live_units().iter().map(UnitId::as_str).collect();
    assert_eq!(live, ["labour-bureau", "urban-management"]);
    let wages = ticket("x", "", "拖欠工资", "公司拖欠工资");
    assert_eq!(
        model.suggest(&wages.input()).unwrap().unit.as_str(),
        "labour-bureau"
    );
    let bus = ticket("x", "", "公交班次", "公交车班次太少");
    let explained = model.explain(&bus.input(), 3, 3);
    assert!(
        explained
            .units
            .iter()
            .all(|s| s.unit.as_str() != "transport")
    );
    let total: f32 = explained.units.iter().map(|u| u.probability).sum();
    assert!(
        total < 0.9,
        "the abolished unit's share is not handed to others: {total}"
    );
    // Every unit gone: nothing to suggest.
    let none = DispatchModel::compile(1, &params, &|_| None).unwrap();
    assert_eq!(none.suggest(&bus.input()), None);
}

#[test]
fn relabelling_follows_chains_of_renames_and_drops_the_abolished() {
    let successions = Successions::new([
        ("a".to_owned(), Some("b".to_owned())),
        ("b".to_owned(), Some("cc".to_owned())),
        ("d".to_owned(), None),
        ("loop1".to_owned(), Some("loop2".to_owned())),
        ("loop2".to_owned(), Some("loop1".to_owned())),
    ]);
    let exists = |u: &str| u != "ghost";
    assert_eq!(successions.resolve("a", &exists).unwrap().as_str(), "cc");
    assert_eq!(successions.resolve("cc", &exists).unwrap().as_str(), "cc");
    assert_eq!(successions.resolve("d", &exists), None);
    assert_eq!(successions.resolve("ghost", &exists), None);
    assert_eq!(
        successions.resolve("loop1", &exists),
        None,
        "a corrupt cycle ends"
    );
    let out = successions.relabel(
        [
            ticket("1", "a", "", ""),
            ticket("2", "d", "", ""),
            ticket("3", "cc", "", ""),
            ticket("4", "ghost", "", ""),
        ],
        &exists,
    );
    assert_eq!((out.mapped, out.dropped), (1, 2));
    assert_eq!(
        out.tickets
            .iter()
            .map(|t| t.unit.as_str())
            .collect::<Vec<_>>(),
        ["cc", "cc"]
    );
}

#[test]
fn training_needs_two_units() {
    let one = vec![
        ticket("1", "hrss", "工资", "拖欠工资"),
        ticket("2", "hrss", "工资", "拖欠"),
    ];
    assert!(matches!(
        train(&one, &TrainingOptions::default()),
        Err(crate::ModelError::NotEnoughData(_))
    ));
    assert!(train(&[], &TrainingOptions::default()).is_err());
}

#[test]
fn the_threshold_is_the_lowest_probability_precise_enough() {
    let p = |v: &[(f32, bool)]| v.to_vec();
    // Sorted: .95 .9 .8 .7 .6 (wrong) .5 .4 (wrong)
    let predictions = p(&[
        (0.9, true),
        (0.4, false),
        (0.95, true),
        (0.6, false),
        (0.8, true),
        (0.7, true),
        (0.5, true),
    ]);
    // Six decisions at >= .5: five right (0.83); five at >= .6: four (0.8).
    assert_eq!(threshold(predictions.clone(), 0.8), 0.5);
    assert_eq!(
        threshold(predictions.clone(), 0.85),
        NEVER,
        "four at .7 is below five decisions"
    );
    assert_eq!(
        threshold(p(&[(0.9, true); 3]), 0.5),
        NEVER,
        "too few decisions"
    );
    assert_eq!(threshold(p(&[(0.9, true); 6]), 1.0), 0.9);
}

#[test]
fn balancing_repeats_the_tickets_of_small_units() {
    let y = Array1::from(vec![0usize, 0, 0, 0, 1, 2, 2, 0]);
    // Unit 0: 5 rows; unit 1: 1 → 5 times; unit 2: 2 → round(2.5) = 3 times.
    assert_eq!(
        balanced(&[0, 1, 2, 3, 4, 5, 6, 7], &y),
        [0, 1, 2, 3, 4, 4, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7]
    );
    // Counted within the rows given, not the whole set.
    assert_eq!(balanced(&[0, 4], &y), [0, 4]);
    assert!(balanced(&[], &y).is_empty());
}

#[test]
fn balanced_training_still_learns_the_matters() {
    let mut tickets = history();
    // Leave transport a third of its tickets.
    let mut transport = 0;
    tickets.retain(|t| {
        t.unit != "transport" || {
            transport += 1;
            transport % 3 == 0
        }
    });
    let options = TrainingOptions {
        balance_units: true,
        ..TrainingOptions::default()
    };
    let model = DispatchModel::compile(1, &train(&tickets, &options).unwrap(), &identity).unwrap();
    let t = ticket("x", "", "公交车太挤", "希望公交增加班次");
    assert_eq!(
        model.suggest(&t.input()).unwrap().unit.as_str(),
        "transport"
    );
}

#[test]
fn calibration_holds_out_each_quarter_in_turn() {
    let quarter = [0u32, 1, 2, 3, 0, 1, 2, 3, 1];
    let y = Array1::from(vec![0usize, 1, 0, 1, 0, 1, 0, 1, 0]);
    let splits = calibration_splits(&quarter, &y, 4);
    assert_eq!(splits.len(), 4);
    let mut held: Vec<usize> = splits.iter().flat_map(|(_, h)| h.clone()).collect();
    held.sort_unstable();
    assert_eq!(
        held,
        (0..9).collect::<Vec<_>>(),
        "every ticket predicted once"
    );
    for (fit, check) in &splits {
        assert!(fit.iter().all(|i| !check.contains(i)));
        assert_eq!(fit.len() + check.len(), 9);
    }
    // One fold: the first quarter only, as before cross-fitting.
    assert_eq!(
        calibration_splits(&quarter, &y, 1),
        [(vec![1, 2, 3, 5, 6, 7, 8], vec![0, 4])]
    );
    // A quarter whose complement has one unit only is left out.
    let y = Array1::from(vec![0usize, 1, 0, 0, 0, 1, 0, 0, 0]);
    let held: Vec<Vec<usize>> = calibration_splits(&quarter, &y, 4)
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    assert_eq!(held, [vec![0, 4], vec![2, 6], vec![3, 7]]);
}

#[test]
fn confusion_counts_accuracy_and_macro_f1() {
    let mut c = Confusion::new(vec!["a".into(), "b".into()]);
    for (truth, decided) in [
        ("a", Some("a")),
        ("a", Some("b")),
        ("b", Some("b")),
        ("b", None),
        ("x", Some("a")),
    ] {
        c.add(truth, decided);
    }
    assert_eq!(
        (c.correct(), c.total()),
        (2, 4),
        "a truth outside the labels is ignored"
    );
    assert!((c.accuracy() - 0.5).abs() < 1e-9);
    // a: precision 1, recall 1/2 → 2/3; b: precision 1/2, recall 1/2 → 1/2.
    assert!(
        (c.macro_f1() - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-9,
        "{}",
        c.macro_f1()
    );
    assert!(c.render("none").contains("50.0 %"));
}

#[test]
fn folds_are_fixed_by_the_id() {
    assert_eq!(fold_of("24", 5), 4);
    assert_eq!(fold_of("185610", 5), 0);
    assert_eq!(fold_of("t-1", 5), fold_of("t-1", 5));
    assert!(fold_of("t-1", 5) < 5);
}

fn rule(id: &str, priority: i32, keyword: &str, unit: &str) -> RuleSpec {
    RuleSpec {
        id: id.into(),
        name: String::new(),
        priority,
        subject_prefixes: Vec::new(),
        request_types: Vec::new(),
        region_prefixes: Vec::new(),
        keywords_any: vec![keyword.into()],
        keywords_all: Vec::new(),
        keywords_none: Vec::new(),
        legacy_hotlines: Vec::new(),
        urgencies: Vec::new(),
        target_unit: Some(unit.into()),
        territorial: None,
        co_units: Vec::new(),
    }
}

#[test]
fn strong_rules_then_the_confident_model_then_weak_rules() {
    let params = train(&history(), &TrainingOptions::default()).unwrap();
    let model = DispatchModel::compile(3, &params, &identity).unwrap();
    let router = Router::compile(
        9,
        vec![
            rule("strong", 90, "强制", "market"),
            rule("weak", 10, "工资", "market"),
        ],
        TerritoryMap::from_units(&[]),
        RouterOptions {
            fallback_to_district: false,
        },
    );
    let sure = Policy {
        rule_priority_floor: 81,
        min_probability: Some(0.3),
    };
    let wages = ticket("x", "", "拖欠工资", "公司拖欠工资，不交社保");
    let d = decide(&router, Some(&model), sure, &wages.input()).unwrap();
    assert_eq!(
        (d.source, d.unit.as_str(), d.model_version),
        (DecisionSource::Model, "hrss", Some(3))
    );
    assert_eq!(d.rule_set_version, 9);
    let strong = ticket("x", "", "强制 拖欠工资", "公司拖欠工资");
    let d = decide(&router, Some(&model), sure, &strong.input()).unwrap();
    assert_eq!(
        (d.source, d.rule_id.as_deref()),
        (DecisionSource::Rule, Some("strong"))
    );
    let unsure = Policy {
        min_probability: Some(1.01),
        ..sure
    };
    let d = decide(&router, Some(&model), unsure, &wages.input()).unwrap();
    assert_eq!(
        d.rule_id.as_deref(),
        Some("weak"),
        "the weak rule when the model is unsure"
    );
    let nothing = ticket("x", "", "其他", "别的事情");
    assert_eq!(
        decide(&router, Some(&model), unsure, &nothing.input()),
        None,
        "triage"
    );
    assert_eq!(
        decide(&router, None, sure, &wages.input())
            .unwrap()
            .rule_id
            .as_deref(),
        Some("weak")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Feature extraction is a pure function of the input: the same
    /// ticket gives the same features, and text features never hold
    /// punctuation or whitespace.
    #[test]
    fn features_are_stable(title in "[\\PC]{0,20}", body in "[\\PC]{0,80}") {
        let t = ticket("1", "u", &title, &body);
        let spec = FeatureSpec::default();
        let first = features_of(&spec, &t.input());
        prop_assert_eq!(&first, &features_of(&spec, &t.input()));
        for name in &first {
            let (family, text) = parse_feature_name(name).unwrap();
            if family.is_text() {
                prop_assert!(text.chars().all(char::is_alphanumeric), "{}", name);
            }
        }
    }

    /// Training is deterministic: the same tickets in any order give the
    /// same model, byte for byte once serialized.
    #[test]
    fn same_data_same_model(seed in 0u64..1000) {
        let mut tickets = history();
        // A seeded shuffle of the order.
        let n = tickets.len();
        for i in 0..n {
            let j = (seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add((i as u64).wrapping_mul(1_442_695_040_888_963_407))
                % n as u64) as usize;
            tickets.swap(i, j);
        }
        let options = TrainingOptions { regularization_candidates: vec![0.3, 0.1], max_iterations: 30, ..TrainingOptions::default() };
        let a = serde_json::to_string(&train(&tickets, &options).unwrap()).unwrap();
        let b = serde_json::to_string(&train(&history(), &options).unwrap()).unwrap();
        prop_assert_eq!(a, b);
    }
}
