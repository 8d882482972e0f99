//! The list queries the plan check runs: every list kind and filter
//! combination a console or a supervisor sends.

use chrono::TimeDelta;

use crate::{TicketCursor, TicketQuery};
use hotline_domain::{
    PhoneNumber, UnitId,
    access::ListScope,
    ticket::{RequestType, TicketState},
};

use super::{PAGE, t0};

/// ListDuplicateCandidates' place reads: the open tickets of a street or
/// a district since a day (for an agent, or a supervisor of a city), and
/// the partial index of open tickets each must be one range of, without
/// visiting the table (an index-only scan: it carries what the narrow
/// read returns and what a supervisor's area checks).
pub(super) const OPEN_PLACE_READS: [(&str, &str, Option<&str>, &str); 3] = [
    (
        "a street's open tickets since (duplicate candidates)",
        "330106001",
        None,
        "tickets_open_street",
    ),
    (
        "a district's open tickets since (duplicate candidates)",
        "330106",
        None,
        "tickets_open_district",
    ),
    (
        "a street's open tickets since, for a city's supervisor (duplicate candidates)",
        "330106001",
        Some("3301"),
        "tickets_open_street",
    ),
];

/// A unit's work lists: the unit's own partial index (its tickets in
/// handling, its open supervision orders) holds only the unit's current
/// workload, so a generic plan that expects a few rows of it may read them
/// all by bitmap and sort them: bounded by the unit's workload, never the
/// table. Held to that index instead of to the page.
pub(super) const UNIT_WORK_LISTS: [(&str, &str); 2] = [
    ("a unit's overdue", "tickets_handling_lead_unit"),
    (
        "a unit's supervision orders",
        "tickets_supervision_lead_unit",
    ),
];

/// Every list kind the API sends, with the filters and scopes a console
/// or a supervisor uses, named for the failure message.
pub(super) fn cases() -> Vec<(&'static str, TicketQuery)> {
    let unit = |u: &str| UnitId::parse(u).expect("unit id");
    let q = || TicketQuery::all(PAGE);
    let with = |f: &dyn Fn(&mut TicketQuery)| {
        let mut q = q();
        f(&mut q);
        q
    };
    let supervisor = |r: &str| ListScope::Limited {
        region_prefix: Some(r.into()),
        unit: None,
    };
    let unit_user = |u: &str| ListScope::Limited {
        region_prefix: None,
        unit: Some(unit(u)),
    };
    let cursor = TicketCursor {
        create_time: t0() + TimeDelta::hours(60),
        id: crate::TicketId::generate(t0()),
    };
    let open = [TicketState::Dispatched, TicketState::InProgress];
    let mut cases = vec![
        ("everything, newest first", q()),
        (
            "a district",
            with(&|q| q.region_prefix = Some("330106".into())),
        ),
        (
            "a street",
            with(&|q| q.region_prefix = Some("330106001".into())),
        ),
        (
            "a city (range)",
            with(&|q| q.region_prefix = Some("3301".into())),
        ),
        (
            "a community",
            with(&|q| q.region_prefix = Some("330106001002".into())),
        ),
        ("a lead unit", with(&|q| q.lead_unit = Some(unit("u05")))),
        (
            "a state",
            with(&|q| q.states = vec![TicketState::Dispatched]),
        ),
        ("two states", with(&|q| q.states = open.to_vec())),
        (
            "a request type",
            with(&|q| q.request_type = Some(RequestType::Complaint)),
        ),
        (
            "created in a range",
            with(&|q| {
                q.created_from = Some(t0() + TimeDelta::hours(10));
                q.created_to = Some(t0() + TimeDelta::hours(50));
            }),
        ),
        (
            "a district and a state",
            with(&|q| {
                q.region_prefix = Some("330106".into());
                q.states = vec![TicketState::Dispatched];
            }),
        ),
        (
            "a district and two states",
            with(&|q| {
                q.region_prefix = Some("330106".into());
                q.states = open.to_vec();
            }),
        ),
        (
            "a street and a state",
            with(&|q| {
                q.region_prefix = Some("330106001".into());
                q.states = vec![TicketState::InProgress];
            }),
        ),
        (
            "a lead unit and a state",
            with(&|q| {
                q.lead_unit = Some(unit("u03"));
                q.states = vec![TicketState::InProgress];
            }),
        ),
        (
            "a district and a type",
            with(&|q| {
                q.region_prefix = Some("330102".into());
                q.request_type = Some(RequestType::Help);
            }),
        ),
        (
            "a district created in a range",
            with(&|q| {
                q.region_prefix = Some("330106".into());
                q.created_from = Some(t0() + TimeDelta::hours(10));
            }),
        ),
        (
            "a district's next page",
            with(&|q| {
                q.region_prefix = Some("330106".into());
                q.after = Some(cursor);
            }),
        ),
        (
            "a supervisor's district",
            with(&|q| q.scope = supervisor("330106")),
        ),
        (
            "a supervisor's street, by state",
            with(&|q| {
                q.scope = supervisor("330106001");
                q.states = vec![TicketState::Dispatched];
            }),
        ),
        ("a unit's inbox", with(&|q| q.scope = unit_user("u03"))),
        (
            "a unit's inbox by state",
            with(&|q| {
                q.scope = unit_user("u03");
                q.states = vec![TicketState::Dispatched];
            }),
        ),
        (
            "a unit's inbox, two states, next page",
            with(&|q| {
                q.scope = unit_user("u07");
                q.states = open.to_vec();
                q.after = Some(cursor);
            }),
        ),
        (
            "a supervisor who is also a unit",
            with(&|q| {
                q.scope = ListScope::Limited {
                    region_prefix: Some("330102".into()),
                    unit: Some(unit("u05")),
                };
            }),
        ),
        (
            "the triage queue",
            with(&|q| {
                q.states = vec![TicketState::PendingDispatch];
                q.oldest_first = true;
            }),
        ),
        (
            "a district's triage queue",
            with(&|q| {
                q.states = vec![TicketState::PendingDispatch];
                q.region_prefix = Some("330106".into());
                q.oldest_first = true;
            }),
        ),
        (
            "overdue",
            with(&|q| {
                q.overdue_at = Some(t0() + TimeDelta::days(30));
                q.oldest_first = true;
            }),
        ),
        (
            "a district's overdue",
            with(&|q| {
                q.overdue_at = Some(t0() + TimeDelta::days(30));
                q.region_prefix = Some("330108".into());
                q.oldest_first = true;
            }),
        ),
        (
            "a supervisor's overdue",
            with(&|q| {
                q.scope = supervisor("330106");
                q.overdue_at = Some(t0() + TimeDelta::days(30));
                q.oldest_first = true;
            }),
        ),
        (
            "a street's overdue",
            with(&|q| {
                q.overdue_at = Some(t0() + TimeDelta::days(30));
                q.region_prefix = Some("330106001".into());
                q.oldest_first = true;
            }),
        ),
        (
            "a street supervisor's overdue",
            with(&|q| {
                q.scope = supervisor("330106002");
                q.overdue_at = Some(t0() + TimeDelta::days(30));
                q.oldest_first = true;
            }),
        ),
        (
            "a unit's overdue",
            with(&|q| {
                q.overdue_at = Some(t0() + TimeDelta::days(30));
                q.lead_unit = Some(unit("u04"));
                q.oldest_first = true;
            }),
        ),
        (
            "open supervision orders",
            with(&|q| {
                q.supervision_open = true;
                q.oldest_first = true;
            }),
        ),
        (
            "a district's supervision orders",
            with(&|q| {
                q.supervision_open = true;
                q.region_prefix = Some("330106".into());
                q.oldest_first = true;
            }),
        ),
        (
            "a unit's supervision orders",
            with(&|q| {
                q.supervision_open = true;
                q.lead_unit = Some(unit("u02"));
                q.oldest_first = true;
            }),
        ),
        (
            "a street's triage queue",
            with(&|q| {
                q.states = vec![TicketState::PendingDispatch];
                q.region_prefix = Some("330106001".into());
                q.oldest_first = true;
            }),
        ),
        (
            "a retired hotline's number",
            with(&|q| q.legacy_number = Some("12315-2025-100446".into())),
        ),
        (
            "a street's supervision orders",
            with(&|q| {
                q.supervision_open = true;
                q.region_prefix = Some("330106002".into());
                q.oldest_first = true;
            }),
        ),
    ];
    let mut lookup = q();
    lookup.caller_phone = Some(
        PhoneNumber::parse("13800131234")
            .expect("phone")
            .expose()
            .to_owned(),
    );
    cases.push(("a caller's history", lookup.clone()));
    // ListDuplicateCandidates: the caller's recent tickets, and the open
    // tickets of a street or district since a day.
    let mut recent = lookup.clone();
    recent.created_from = Some(t0() + TimeDelta::hours(10));
    cases.push(("a caller's recent tickets (duplicate candidates)", recent));
    lookup.after = Some(cursor);
    cases.push(("a caller's next page", lookup));
    for (name, place, scope) in OPEN_PLACE_READS.map(|(name, place, scope, _)| (name, place, scope))
    {
        let mut q = q();
        q.region_prefix = Some(place.into());
        q.states = crate::OPEN_STATES.to_vec();
        q.created_from = Some(t0() + TimeDelta::hours(10));
        if let Some(area) = scope {
            q.scope = supervisor(area);
        }
        cases.push((name, q));
    }
    cases
}
