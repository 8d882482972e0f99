//! Events as earlier versions stored them stay readable: every row of
//! `tests/fixtures/ticket_events_v1.tsv` (captured from the untyped code)
//! decodes, writes back byte for byte, and the readers (metrics replay, the
//! scope of an old event) reach the same results the untyped code did.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::{EventCodecError, EventKind};
use crate::{
    Principal, RegionCode, TicketEvent, TicketId,
    access::Role,
    calendar::CHINA_STANDARD_TIME,
    metrics::replay,
    person::Caller,
    text_enum::TextEnum,
    ticket::{Channel, Intake, RequestType, Ticket, TicketState, Urgency},
};

const ROWS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/ticket_events_v1.tsv"
));
const REPLAYED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/ticket_events_v1_replay.tsv"
));
const SCOPES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/ticket_events_v1_scope.tsv"
));

/// One stored row, as text.
struct Row<'a> {
    ticket_id: &'a str,
    sequence: &'a str,
    kind: &'a str,
    actor: &'a str,
    actor_role: &'a str,
    from_state: &'a str,
    to_state: &'a str,
    payload: &'a str,
    time_us: &'a str,
}

/// Tab-separated lines of a fixture, comments and the header left out.
fn lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("ticket_id\t"))
        .map(|l| l.split('\t').collect())
}

fn rows() -> Vec<Row<'static>> {
    lines(ROWS)
        .map(|c| {
            assert_eq!(c.len(), 9, "{c:?}");
            Row {
                ticket_id: c[0],
                sequence: c[1],
                kind: c[2],
                actor: c[3],
                actor_role: c[4],
                from_state: c[5],
                to_state: c[6],
                payload: c[7],
                time_us: c[8],
            }
        })
        .collect()
}

fn state(code: &str) -> TicketState {
    TicketState::from_code(code).unwrap_or_else(|| panic!("state {code:?}"))
}

/// The row as the store reads it.
fn event(row: &Row<'_>) -> TicketEvent {
    TicketEvent {
        ticket_id: TicketId::parse(row.ticket_id).unwrap(),
        sequence: row.sequence.parse().unwrap(),
        kind: EventKind::from_columns(row.kind, row.payload)
            .unwrap_or_else(|e| panic!("{}#{}: {e}", row.ticket_id, row.sequence)),
        actor: row.actor.to_owned(),
        actor_role: row.actor_role.to_owned(),
        from_state: (!row.from_state.is_empty()).then(|| state(row.from_state)),
        to_state: state(row.to_state),
        time: DateTime::from_timestamp_micros(row.time_us.parse().unwrap()).unwrap(),
    }
}

/// The fixture's trails, by ticket, in the fixture's order.
fn trails() -> Vec<(String, Vec<TicketEvent>)> {
    let mut trails: Vec<(String, Vec<TicketEvent>)> = Vec::new();
    for row in rows() {
        match trails.last_mut() {
            Some((id, trail)) if id == row.ticket_id => trail.push(event(&row)),
            _ => trails.push((row.ticket_id.to_owned(), vec![event(&row)])),
        }
    }
    trails
}

#[test]
fn every_old_row_reads_and_writes_back_byte_for_byte() {
    for row in rows() {
        let at = format!("{}#{} {}", row.ticket_id, row.sequence, row.kind);
        let kind =
            EventKind::from_columns(row.kind, row.payload).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(kind.event_type(), row.kind, "{at}");
        let written = kind.payload().unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(written.to_string(), row.payload, "{at}");
        // The serde form is the two columns, adjacently tagged.
        let tagged = serde_json::to_value(&kind).unwrap();
        assert_eq!(
            tagged,
            json!({ "kind": row.kind, "payload": written }),
            "{at}"
        );
        assert_eq!(
            serde_json::from_value::<EventKind>(tagged).unwrap(),
            kind,
            "{at}"
        );
    }
}

/// Kinds added after the v1 capture (merging duplicates, 并单): the
/// untyped code never wrote them, so their layout is pinned by the
/// lifecycle's tests (`lifecycle::tests::merges`) instead of the fixture.
const SINCE_V1: [&str; 5] = [
    "merged_into",
    "merged_from",
    "unmerged",
    "unmerged_from",
    "merged_caller_called_back",
];

#[test]
fn the_fixture_holds_every_kind() {
    let seen: BTreeSet<&str> = rows().iter().map(|r| r.kind).collect();
    let known: BTreeSet<&str> = EventKind::TYPES
        .iter()
        .copied()
        .filter(|k| !SINCE_V1.contains(k))
        .collect();
    assert_eq!(seen, known);
    assert_eq!(EventKind::TYPES.len(), 26 + SINCE_V1.len());
}

#[test]
fn old_trails_replay_to_the_counters_they_gave() {
    let mut got = String::new();
    for (id, trail) in trails() {
        for d in replay(&trail, CHINA_STANDARD_TIME).unwrap_or_else(|e| panic!("{id}: {e}")) {
            let unit = d.unit.map(|u| u.to_string()).unwrap_or_default();
            got += &format!("{id}\t{unit}\t{}\t{}\t{}\n", d.day, d.counter, d.delta);
        }
    }
    let expected: String = REPLAYED
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn old_trails_give_the_scopes_they_gave() {
    let agent = Principal {
        subject: "agent-1".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    };
    let intake = Intake {
        channel: Channel::Phone,
        legacy_hotline: None,
        caller: Caller::parse("", "", true).unwrap(),
        confidential: false,
        request_type: RequestType::Help,
        urgency: Urgency::Normal,
        subject_code: None,
        region_code: RegionCode::parse("330106").unwrap(),
        address: String::new(),
        title: String::new(),
        description: String::new(),
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
    let ticket = Ticket::accept(intake, String::new(), &agent, now).ticket;
    let trails: HashMap<String, Vec<TicketEvent>> = trails().into_iter().collect();
    let mut checked = 0;
    for line in lines(SCOPES) {
        let [id, sequence, lead, co, state] = line[..] else {
            panic!("{line:?}");
        };
        let upto: usize = sequence.parse().unwrap();
        let then = ticket.scope_as_of(&trails[id][..upto]);
        let co_units: Vec<String> = then.co_units.iter().map(ToString::to_string).collect();
        let got = (
            then.lead_unit.map(|u| u.to_string()).unwrap_or_default(),
            co_units.join(","),
            then.state.code(),
        );
        assert_eq!(got, (lead.to_owned(), co.to_owned(), state), "{id}#{upto}");
        checked += 1;
    }
    assert_eq!(checked, rows().len());
}

#[test]
fn alerts_are_the_kinds_the_feed_always_watched() {
    let alerts: BTreeSet<&str> = rows()
        .iter()
        .map(event)
        .filter(|e| e.kind.is_alert())
        .map(|e| e.kind.event_type())
        .collect();
    let expected = [
        "deadline_warning",
        "overdue",
        "sign_overdue",
        "supervision_answered",
        "supervision_issued",
        "urged",
    ];
    assert_eq!(alerts, BTreeSet::from(expected));
}

#[test]
fn an_unknown_kind_is_an_error_naming_it() {
    let err = EventKind::from_stored("split_into", json!({ "into": "tickets/x" })).unwrap_err();
    assert_eq!(err, EventCodecError::UnknownKind("split_into".into()));
    assert!(err.to_string().contains("newer version"), "{err}");
}

#[test]
fn a_payload_that_does_not_fit_its_kind_is_an_error() {
    let payload_error = |kind: &str, payload: &str| match EventKind::from_columns(kind, payload) {
        Err(EventCodecError::Payload { kind: k, message }) => {
            assert_eq!(k, kind);
            message
        }
        other => panic!("{kind} {payload}: {other:?}"),
    };
    payload_error("signed", "not json");
    let missing = payload_error("closed", r#"{"note":"结案"}"#);
    assert!(missing.contains("reason"), "{missing}");
    let unit = payload_error("signed", r#"{"unit":"water-works"}"#);
    assert!(unit.contains("units/"), "{unit}");
    let time = payload_error(
        "overdue",
        r#"{"deadline":"yesterday","unit":"units/water-works"}"#,
    );
    assert!(time.contains("RFC 3339"), "{time}");
    // Deadlines come as a group; a re-dispatch and triage exclude each other.
    let assigned = r#""co_units":[],"designated":false,"dispatch_count":1,"lead_unit":"units/a1","note":"","rule_id":null,"rule_set_version":null"#;
    let partial = payload_error(
        "dispatched",
        &format!(r#"{{{assigned},"sign_deadline":"2026-11-24T09:30:00+00:00"}}"#),
    );
    assert!(partial.contains("together"), "{partial}");
    let both = payload_error(
        "return_approved",
        &format!(r#"{{{assigned},"arbitration_note":"","returned_by":null,"to":"triage"}}"#),
    );
    assert!(both.contains("triage"), "{both}");
    let neither = payload_error(
        "return_approved",
        r#"{"arbitration_note":"","returned_by":null}"#,
    );
    assert!(neither.contains("triage"), "{neither}");
}
