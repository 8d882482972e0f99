//! Every conversion of client input into domain values — the proto
//! messages (`crate::proto::convert` and the handlers' own), page tokens,
//! and the rules, calendar and time-limit files an operator imports —
//! returns a value or an error on any input, and never panics. The inputs
//! mix arbitrary text with near-valid documents, so the checks behind the
//! parsers are reached, not just the first syntax error.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use chrono::TimeZone;
use proptest::{collection::vec, option, prelude::*};

use super::{
    metrics, paging,
    routing::{rule_from_proto, rule_id_from_name, rule_set_version},
    supervision::scoped_query,
    ticket::{CursorToken, parse_cursor, patch_from_proto},
};
use crate::{
    domain::{
        Principal, Role,
        calendar::{Calendar, CalendarData, WorkingHours},
        directory::UnitKind,
        lifecycle::UPDATABLE_FIELDS,
        routing::{Router, RouterOptions, TerritoryMap, validate_rule_set},
        ticket::Ticket,
        timelimit::{Limit, TimeLimitPolicy},
    },
    proto::{
        convert::{
            from_timestamp, intake_from_proto, region_code_from_name, text, ticket_id, unit_id,
            unit_ids,
        },
        v1 as pb,
    },
    service::catalogue::{parse_rules_csv, parse_rules_toml},
};

/// Text that is sometimes valid: arbitrary, or built from the pieces the
/// parsers look for (digits, separators, prefixes, CJK, control bytes).
fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[0-9]{0,14}",
        "(tickets|units|regions|rules|ruleSets)/[a-z0-9:/_.-]{0,40}",
        "[ \t\n\r\u{0}\u{feff}0-9a-z.:|/+-]{0,30}",
        "[噪音西湖区文三路\u{1F600}]{0,10}",
    ]
}

fn enum_value() -> impl Strategy<Value = i32> {
    prop_oneof![-2i32..12, any::<i32>()]
}

prop_compose! {
    fn any_ticket()(
        channel in enum_value(),
        request_type in enum_value(),
        urgency in enum_value(),
        caller in option::of((input(), input(), any::<bool>())),
        strings in vec(input(), 8),
        confidential in any::<bool>(),
    ) -> pb::Ticket {
        pb::Ticket {
            name: strings[0].clone(),
            channel,
            caller: caller.map(|(name, phone, anonymous)| pb::Caller { name, phone, anonymous }),
            request_type,
            urgency,
            subject_code: strings[1].clone(),
            region_code: strings[2].clone(),
            address: strings[3].clone(),
            title: strings[4].clone(),
            description: strings[5].clone(),
            legacy_hotline: strings[6].clone(),
            etag: strings[7].clone(),
            confidential,
            ..Default::default()
        }
    }
}

prop_compose! {
    fn any_rule()(
        strings in vec(input(), 3),
        lists in vec(vec(input(), 0..3), 7),
        request_types in vec(enum_value(), 0..3),
        urgencies in vec(enum_value(), 0..3),
        priority in any::<i32>(),
        territorial in enum_value(),
    ) -> pb::Rule {
        pb::Rule {
            name: strings[0].clone(),
            display_name: strings[1].clone(),
            priority,
            subject_prefixes: lists[0].clone(),
            request_types,
            region_prefixes: lists[1].clone(),
            keywords_any: lists[2].clone(),
            keywords_all: lists[3].clone(),
            keywords_none: lists[4].clone(),
            legacy_hotlines: lists[5].clone(),
            urgencies,
            target_unit: strings[2].clone(),
            territorial,
            co_units: lists[6].clone(),
        }
    }
}

/// A ticket to correct with UpdateTicket.
fn current_ticket() -> Ticket {
    let draft = pb::Ticket {
        channel: pb::Channel::Phone as i32,
        request_type: pb::RequestType::Complaint as i32,
        urgency: pb::Urgency::Normal as i32,
        caller: Some(pb::Caller {
            name: "张三".into(),
            phone: "13800131234".into(),
            anonymous: false,
        }),
        region_code: "330106".into(),
        title: "噪音".into(),
        description: "夜间施工".into(),
        ..Default::default()
    };
    let agent = Principal {
        subject: "agent".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    };
    let now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    Ticket::accept(
        intake_from_proto(&draft, "ticket").unwrap(),
        "n".into(),
        &agent,
        now,
    )
    .ticket
}

/// `doc` with up to `edits` of its characters replaced by pieces that
/// break documents in interesting ways.
fn mutated(doc: &'static str) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(String::new()),
        Just("\"".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("\n".to_owned()),
        Just(",".to_owned()),
        Just("|".to_owned()),
        Just("=".to_owned()),
        Just("-".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("-2147483648".to_owned()),
        Just("0000-02-30".to_owned()),
        "[0-9a-z]{1,4}",
    ];
    vec((any::<prop::sample::Index>(), piece), 0..6).prop_map(move |edits| {
        let mut chars: Vec<String> = doc.chars().map(String::from).collect();
        for (at, piece) in edits {
            let i = at.index(chars.len());
            chars[i] = piece;
        }
        chars.concat()
    })
}

const RULES_TOML: &str = r#"
[[rule]]
id = "noise"
name = "噪音"
priority = 10
subject_prefixes = ["01.02"]
request_types = ["complaint"]
region_prefixes = ["3301"]
keywords_any = ["噪音", "施工"]
keywords_none = ["白天"]
urgencies = ["normal"]
target_unit = "urban-management"
co_units = ["market-regulation"]

[[rule]]
id = "street"
keywords_all = ["占道"]
territorial = "street"
"#;

const RULES_CSV: &str = "id,name,priority,request_types,region_prefixes,keywords_any,urgencies,target_unit,territorial,co_units\n\
noise,噪音,10,complaint|help,3301,噪音|施工,normal,urban-management,,market-regulation\n\
street,占道,5,,330106,占道,,,street,\n";

const CALENDAR_TOML: &str = r#"
[[year]]
year = 2026
days_off = [["2026-01-01", "2026-01-03"], "2026-05-01"]
makeup_days = ["2026-01-04"]

[[year]]
year = 2026
layer = "local"
days_off = ["2026-03-02"]
"#;

const POLICY_TOML: &str = r#"
max_extensions = 1
max_extension_days = 10
[complaint]
sign = "1wd"
reply = "15wd"
[urgent]
sign = "15m"
reply = "2h"
"#;

fn unit_kind(id: &str) -> Option<UnitKind> {
    match id {
        "urban-management" | "market-regulation" => Some(UnitKind::Department),
        "lingyin-street" => Some(UnitKind::Street),
        _ => None,
    }
}

/// The rules importer end to end: parse, validate, compile, decide.
fn import_rules(rules: Vec<crate::domain::routing::RuleSpec>) {
    let _ = validate_rule_set(&rules, &unit_kind);
    let router = Router::compile(
        1,
        rules,
        TerritoryMap::default(),
        RouterOptions {
            fallback_to_district: true,
        },
    );
    let ticket = current_ticket();
    let _ = router.decide(&ticket.intake.routing_input());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn intakes_from_any_ticket_message(ticket in any_ticket(), prefix in "[a-z.]{0,8}") {
        let _ = intake_from_proto(&ticket, &prefix);
    }

    #[test]
    fn corrections_from_any_message_and_mask(
        values in any_ticket(),
        mask in vec(prop_oneof![prop::sample::select(UPDATABLE_FIELDS).prop_map(str::to_owned), input()], 0..5),
    ) {
        let _ = patch_from_proto(&current_ticket(), &values, &mask);
    }

    #[test]
    fn rules_from_any_rule_message(rule in any_rule(), id in input()) {
        if let Ok(spec) = rule_from_proto(&rule, id) {
            import_rules(vec![spec]);
        }
    }

    #[test]
    fn names_and_fields_from_any_text(raw in input(), max in 0usize..50, required in any::<bool>(), many in vec(input(), 0..4)) {
        let _ = ticket_id(&raw, "name");
        let _ = unit_id(&raw, "unit");
        let _ = unit_ids(&many, "units");
        let _ = region_code_from_name(&raw, "region");
        let _ = text(&raw, "field", required, max);
        let _ = rule_id_from_name(&raw, "name");
        let _ = rule_set_version(&raw, "name");
        let _ = scoped_query(&raw, &raw);
        let _ = metrics::day(&raw, "day");
        let _ = metrics::days(&raw, &many.first().cloned().unwrap_or_default());
        let _ = metrics::month(&raw, "month");
        let _ = metrics::source(&raw, &raw, &raw);
        let _ = metrics::scope(&raw, &raw, required);
        let _ = metrics::region_prefix(&raw);
    }

    /// Any timestamp converts or is refused; exactly the ones valid as a
    /// `google.protobuf.Timestamp` (years 1 to 9999, nanos below 1e9)
    /// convert, and they convert back unchanged.
    #[test]
    fn timestamps_of_any_value(
        seconds in prop_oneof![any::<i64>(), -62_135_596_801i64..=253_402_300_800],
        nanos in prop_oneof![any::<i32>(), -1i32..=1_000_000_000, 1_000_000_000i32..2_000_000_000],
    ) {
        let ts = prost_types::Timestamp { seconds, nanos };
        let valid = (-62_135_596_800..=253_402_300_799).contains(&seconds)
            && (0..1_000_000_000).contains(&nanos);
        match from_timestamp(&ts, "time") {
            Ok(t) => {
                prop_assert!(valid, "{ts:?} was accepted");
                prop_assert_eq!(crate::proto::convert::to_timestamp(t), ts);
            }
            Err(_) => prop_assert!(!valid, "{ts:?} was refused"),
        }
    }

    /// Page tokens: arbitrary text, and well-formed tokens carrying any
    /// cursor value, for every cursor type a List decodes.
    #[test]
    fn page_tokens_of_any_text_or_cursor(
        token in input(),
        micros in any::<i64>(),
        id in input(),
        offset in any::<u64>(),
        json in ".{0,30}",
    ) {
        let fp = "fp";
        let _ = paging::decode::<String>(&token, fp);
        let _ = paging::decode::<i64>(&token, fp);
        let _ = paging::decode::<usize>(&token, fp);
        if let Ok(cursor) = paging::decode::<CursorToken>(&token, fp) {
            let _ = parse_cursor(cursor);
        }
        let cursor: CursorToken = (micros, id.clone());
        let encoded = paging::encode(&cursor, fp);
        let back = paging::decode::<CursorToken>(&encoded, fp).unwrap();
        prop_assert_eq!(back.as_ref(), Some(&cursor));
        let _ = parse_cursor(back);
        let _ = paging::decode::<usize>(&paging::encode(&offset, fp), fp);
        let _ = paging::decode::<i64>(&paging::encode(&id, fp), fp);
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{{\"c\":{json},\"f\":\"fp\"}}"));
        let _ = paging::decode::<CursorToken>(&raw, fp).map(parse_cursor);
    }

    #[test]
    fn rules_files_of_any_text(text in prop_oneof![".{0,200}", mutated(RULES_TOML), mutated(RULES_CSV)]) {
        if let Ok(rules) = parse_rules_toml(&text) {
            import_rules(rules);
        }
        if let Ok(rules) = parse_rules_csv(&text) {
            import_rules(rules);
        }
    }

    /// The calendar importer end to end: parse and validate, merge with
    /// the national schedules, build the calendar and compute a deadline.
    #[test]
    fn calendar_and_policy_files_of_any_text(
        text in prop_oneof![".{0,200}", mutated(CALENDAR_TOML), mutated(POLICY_TOML)],
        limit in prop_oneof!["[0-9]{0,12}(wd|wh|wm|h|m|d|)", input()],
        at in 0i64..7_258_118_400,
    ) {
        if let Ok(data) = CalendarData::from_toml(&text) {
            let merged = CalendarData::national().merge(&data);
            let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
            if let Ok(calendar) = Calendar::new(merged, WorkingHours::default(), offset, 1)
                && let Ok(limit) = limit.parse::<Limit>()
            {
                let start = chrono::DateTime::from_timestamp(at, 0).unwrap();
                let _ = limit.deadline(&calendar, start);
            }
        }
        let _ = toml::from_str::<TimeLimitPolicy>(&text);
    }
}

/// The documents the mutations start from are valid, so the unmutated
/// and lightly mutated cases reach the checks behind the parsers.
#[test]
fn the_sample_documents_are_valid() {
    let toml = parse_rules_toml(RULES_TOML).unwrap();
    let csv = parse_rules_csv(RULES_CSV).unwrap();
    assert_eq!((toml.len(), csv.len()), (2, 2));
    validate_rule_set(&toml, &unit_kind).unwrap();
    validate_rule_set(&csv, &unit_kind).unwrap();
    let data = CalendarData::from_toml(CALENDAR_TOML).unwrap();
    let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    Calendar::new(
        CalendarData::national().merge(&data),
        WorkingHours::default(),
        offset,
        1,
    )
    .unwrap();
    toml::from_str::<TimeLimitPolicy>(POLICY_TOML).unwrap();
}
