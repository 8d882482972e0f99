//! The statements the list builder writes.

use chrono::{TimeZone, Utc};
use hotline_domain::{TicketId, UnitId};
use sqlx::Postgres;

use super::*;
use crate::TicketCursor;

fn sql(q: &TicketQuery) -> String {
    list_query::<Postgres>(q, q.caller_phone.as_deref())
        .sql()
        .as_str()
        .to_owned()
}

fn where_of(q: &TicketQuery) -> String {
    let sql = sql(q);
    let from = sql.find(" FROM tickets").expect("one SELECT") + " FROM tickets".len();
    let to = sql.find(" ORDER BY").expect("an order");
    sql[from..to].to_owned()
}

fn region(prefix: &str) -> String {
    let mut q = TicketQuery::all(10);
    q.region_prefix = Some(prefix.into());
    where_of(&q)
}

#[test]
fn no_filter_writes_no_where() {
    assert_eq!(
        sql(&TicketQuery::all(10)),
        format!(
            "SELECT {} FROM tickets ORDER BY create_time_us DESC, id DESC LIMIT 10",
            *TICKET_COLUMN_LIST
        )
    );
}

#[test]
fn a_district_or_a_street_is_an_equality_and_other_prefixes_narrow_by_them() {
    assert_eq!(
        region("33"),
        " WHERE region_code >= $1 AND region_code < $2"
    );
    assert_eq!(region("330106"), " WHERE district_code = $1");
    assert_eq!(
        region("3301061"),
        " WHERE district_code = $1 AND region_code >= $2 AND region_code < $3"
    );
    assert_eq!(region("330106001"), " WHERE street_code = $1");
    assert_eq!(
        region("3301060012"),
        " WHERE street_code = $1 AND region_code >= $2 AND region_code < $3"
    );
    assert_eq!(
        region("330106001002"),
        " WHERE street_code = $1 AND region_code = $2"
    );
}

#[test]
fn a_legacy_number_is_an_equality_on_its_indexed_column() {
    let mut q = TicketQuery::all(10);
    q.legacy_number = Some("12315-2025-100201".into());
    assert_eq!(where_of(&q), " WHERE legacy_number = $1");
}

#[test]
fn every_value_gets_its_own_placeholder_in_order() {
    let at = Utc.timestamp_opt(1_790_000_000, 0).unwrap();
    let mut q = TicketQuery::all(10);
    q.states = vec![TicketState::Dispatched];
    q.request_type = Some(hotline_domain::ticket::RequestType::Complaint);
    q.supervision_open = true;
    q.after = Some(TicketCursor {
        create_time: at,
        id: TicketId::generate(at),
    });
    assert_eq!(
        where_of(&q),
        " WHERE state = $1 AND request_type = $2 AND supervision_issue_time_us IS NOT NULL \
         AND (create_time_us, id) < ($3, $4)"
    );
}

#[test]
fn a_scope_of_region_or_unit_is_three_parts_each_leaving_out_the_earlier() {
    let mut q = TicketQuery::all(10);
    q.scope = ListScope::Limited {
        region_prefix: Some("330106".into()),
        unit: Some(UnitId::parse("u-1").expect("unit id")),
    };
    let cols = &*TICKET_COLUMN_LIST;
    assert_eq!(
        sql(&q),
        format!(
            "SELECT * FROM (SELECT {cols} FROM tickets WHERE district_code = $1 \
             ORDER BY create_time_us DESC, id DESC LIMIT 10) AS b0 \
             UNION ALL SELECT * FROM (SELECT {cols} FROM tickets WHERE lead_unit_id = $2 \
             AND NOT (region_code >= $3 AND region_code < $4) \
             ORDER BY create_time_us DESC, id DESC LIMIT 10) AS b1 \
             UNION ALL SELECT * FROM (SELECT {cols} FROM ticket_co_units c JOIN tickets \
             ON tickets.id = c.ticket_id WHERE c.unit_id = $5 AND NOT (region_code >= $6 AND region_code < $7) \
             AND (lead_unit_id IS NULL OR lead_unit_id <> $8) \
             ORDER BY c.ticket_create_time_us DESC, c.ticket_id DESC LIMIT 10) AS b2 \
             ORDER BY create_time_us DESC, id DESC LIMIT 10"
        )
    );
}

#[test]
fn several_states_are_one_part_each_and_a_repeated_state_counts_once() {
    let mut q = TicketQuery::all(10);
    q.states = vec![
        TicketState::Dispatched,
        TicketState::InProgress,
        TicketState::Dispatched,
    ];
    let parts = branches(&q);
    assert_eq!(
        parts.iter().map(|b| b.states).collect::<Vec<_>>(),
        [
            States::One(TicketState::Dispatched),
            States::One(TicketState::InProgress)
        ]
    );
    q.scope = ListScope::Limited {
        region_prefix: None,
        unit: Some(UnitId::parse("u-1").expect("unit id")),
    };
    assert_eq!(branches(&q).len(), 4);
    assert!(sql(&q).contains("UNION ALL"));
}

#[test]
fn the_open_states_of_a_place_are_one_part_written_out_as_the_index_condition() {
    let mut q = TicketQuery::all(100);
    q.states = OPEN_STATES.iter().rev().copied().collect();
    q.states.push(TicketState::Dispatched);
    q.region_prefix = Some("330106001".into());
    assert_eq!(
        where_of(&q),
        format!(" WHERE {OPEN_STATES_SQL} AND street_code = $1")
    );
    q.region_prefix = Some("330106".into());
    assert_eq!(
        where_of(&q),
        format!(" WHERE {OPEN_STATES_SQL} AND district_code = $1")
    );
    // A supervisor's scope is still its own part, read the same way.
    q.scope = ListScope::Limited {
        region_prefix: Some("3301".into()),
        unit: None,
    };
    assert_eq!(
        where_of(&q),
        format!(
            " WHERE region_code >= $1 AND region_code < $2 AND {OPEN_STATES_SQL} \
             AND district_code = $3"
        )
    );
    // A city, or some of the open states, stay a part per state.
    q.scope = ListScope::All;
    q.region_prefix = Some("3301".into());
    assert_eq!(branches(&q).len(), 4);
    q.region_prefix = Some("330106".into());
    q.states = OPEN_STATES[..3].to_vec();
    assert_eq!(branches(&q).len(), 3);
    q.states.push(TicketState::Closed);
    assert_eq!(branches(&q).len(), 4);
}

#[test]
fn the_open_states_are_the_partial_indexes_condition_in_both_dialects() {
    let codes: Vec<String> = OPEN_STATES
        .iter()
        .map(|s| format!("'{}'", s.code()))
        .collect();
    assert_eq!(OPEN_STATES_SQL, format!("state IN ({})", codes.join(", ")));
    for migration in [
        include_str!("../../../../migrations/postgres/20261206000031_open_place_indexes.sql"),
        include_str!("../../../../migrations/sqlite/20261206000031_open_place_indexes.sql"),
    ] {
        let conditions = migration
            .lines()
            .filter(|l| l.trim_start().starts_with("WHERE"))
            .collect::<Vec<_>>();
        assert_eq!(conditions.len(), 2);
        for line in conditions {
            assert_eq!(line.trim(), format!("WHERE {OPEN_STATES_SQL};"));
        }
    }
}

#[test]
fn a_scope_with_nothing_in_it_matches_nothing() {
    let mut q = TicketQuery::all(10);
    q.scope = ListScope::Limited {
        region_prefix: None,
        unit: None,
    };
    assert_eq!(where_of(&q), " WHERE 1 = 0");
}
