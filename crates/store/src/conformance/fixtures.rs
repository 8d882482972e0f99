//! Fixture helpers shared by the checks: fixed instants and days,
//! principals, intakes, units, and thin wrappers over store calls.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::{IdempotencyKey, IdempotentResult, NewTicket, Store, StoreError, TicketQuery};
use hotline_domain::{
    Action, Caller, Principal, RegionCode, Role, SubjectCode, TicketEvent, TicketId, Transition,
    UnitId,
    access::ListScope,
    directory::{Unit, UnitKind},
    lifecycle::{Assignment, DEFAULT_DESIGNATE_AFTER, ReturnPolicy},
    routing::{RuleSpec, Territorial},
    ticket::{Channel, Intake, RequestType, RoutingRef, Ticket, Urgency},
};

/// A fixed UTC instant with a microsecond part.
pub(super) fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|day| day.and_hms_micro_opt(h, mi, s, us))
        .expect("valid fixture time")
        .and_utc()
}

/// 2026-11-23 09:15:30.123456 in Beijing.
pub(super) fn t0() -> DateTime<Utc> {
    utc(2026, 11, 23, 1, 15, 30, 123_456)
}

pub(super) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid fixture day")
}

/// The centre's local day (Beijing, UTC+8) of an instant.
pub(super) fn beijing_day(t: DateTime<Utc>) -> NaiveDate {
    (t + TimeDelta::hours(8)).date_naive()
}

pub(super) fn micros(n: i64) -> TimeDelta {
    TimeDelta::microseconds(n)
}

pub(super) fn agent() -> Principal {
    Principal {
        subject: "agent-0001".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    }
}

pub(super) fn handler(unit: &UnitId) -> Principal {
    Principal {
        subject: format!("handler-of-{unit}"),
        roles: vec![Role::UnitHandler],
        unit: Some(unit.clone()),
        region: None,
    }
}

pub(super) fn unit_id(id: &str) -> UnitId {
    UnitId::parse(id).expect("valid fixture unit id")
}

pub(super) fn region(code: &str) -> RegionCode {
    RegionCode::parse(code).expect("valid fixture region code")
}

pub(super) fn key(subject: &str, request_id: &str, operation: &'static str) -> IdempotencyKey {
    keyed(subject, request_id, operation, &fingerprint(operation))
}

/// An idempotency key sent with a request of the given fingerprint.
pub(super) fn keyed(
    subject: &str,
    request_id: &str,
    operation: &'static str,
    fingerprint: &str,
) -> IdempotencyKey {
    IdempotencyKey {
        subject: subject.into(),
        request_id: request_id.into(),
        operation,
        fingerprint: fingerprint.into(),
    }
}

/// The fingerprint [`key`] sends: one per operation, as if every request
/// of an operation in a check were the same.
pub(super) fn fingerprint(operation: &str) -> String {
    format!("fp-{operation}")
}

/// A complete intake: every optional field set, text with quotes and newlines.
pub(super) fn full_intake() -> Intake {
    Intake {
        channel: Channel::Phone,
        legacy_hotline: Some("12315".into()),
        caller: Caller::parse("张三", "+86 138-0013-1234", false).expect("valid caller"),
        confidential: false,
        request_type: RequestType::Complaint,
        urgency: Urgency::Urgent,
        subject_code: Some(SubjectCode::parse("01.02.03").expect("valid subject")),
        region_code: region("330106001"),
        address: "西湖区文三路 90 号".into(),
        title: "噪音扰民 'night works'".into(),
        description: "工地夜间施工。\nSecond line with \"quotes\", a backslash \\ and 100%.".into(),
    }
}

/// A minimal intake in a given region, of a given type, from a given phone
/// (`None`: an anonymous caller who left no number).
pub(super) fn intake(region_code: &str, request_type: RequestType, phone: Option<&str>) -> Intake {
    let caller = match phone {
        Some(p) => Caller::parse("李四", p, false),
        None => Caller::parse("", "", true),
    }
    .expect("valid caller");
    Intake {
        channel: Channel::Web,
        legacy_hotline: None,
        caller,
        confidential: false,
        request_type,
        urgency: Urgency::Normal,
        subject_code: None,
        region_code: region(region_code),
        address: "某路 1 号".into(),
        title: "诉求".into(),
        description: "描述".into(),
    }
}

/// The `created` event as the store must have recorded it: the domain's event
/// with the assigned number.
pub(super) fn created_event(transition: &Transition, number: &str) -> TicketEvent {
    let mut numbered = transition.clone();
    numbered.assign_number(number);
    numbered.event
}

/// Accepts `intake` at `now` and stores it; checks the returned ticket is the
/// accepted one plus its number. Returns the stored ticket and the expected
/// `created` event.
pub(super) async fn create_at(
    store: &dyn Store,
    intake: Intake,
    now: DateTime<Utc>,
    key: Option<IdempotencyKey>,
) -> (Ticket, TicketEvent) {
    let created = Ticket::accept(intake, String::new(), &agent(), now);
    let stored = insert(store, created.clone(), beijing_day(now), key)
        .await
        .expect("create_ticket");
    let mut expected = created.ticket.clone();
    expected.number = stored.number.clone();
    assert_eq!(
        stored, expected,
        "create_ticket returns the accepted ticket with its number"
    );
    let event = created_event(&created, &stored.number);
    (stored, event)
}

/// Applies `action` to `ticket` in the domain and commits it at the ticket's
/// version; returns the transition.
pub(super) async fn step(
    store: &dyn Store,
    ticket: &Ticket,
    action: Action,
    actor: &Principal,
    now: DateTime<Utc>,
) -> Transition {
    let transition = ticket
        .apply(action, actor, now)
        .expect("legal fixture transition");
    store
        .apply_transition(ticket.version, &transition, None)
        .await
        .expect("apply_transition");
    transition
}

/// Reads a ticket and asserts it equals `expected` field by field.
pub(super) async fn assert_stored(store: &dyn Store, expected: &Ticket, when: &str) {
    let stored = store.get_ticket(expected.id).await.expect("get_ticket");
    assert_eq!(
        &stored, expected,
        "get_ticket round-trips the ticket {when}"
    );
}

pub(super) async fn all_events(store: &dyn Store, id: TicketId) -> Vec<TicketEvent> {
    store.list_events(id, 0, 1000).await.expect("list_events")
}

pub(super) fn unit(id: &str, kind: UnitKind, region_code: &str, parent: Option<&str>) -> Unit {
    Unit {
        id: unit_id(id),
        display_name: format!("单位 {id}"),
        kind,
        region_code: region(region_code),
        parent: parent.map(unit_id),
        create_time: t0() + micros(7),
    }
}

/// The units the ticket fixtures dispatch to.
pub(super) async fn seed_units(store: &dyn Store) {
    for u in [
        unit("market-regulation", UnitKind::Department, "330100", None),
        unit("d330106", UnitKind::District, "330106", None),
        unit("s330106001", UnitKind::Street, "330106001", Some("d330106")),
    ] {
        store.create_unit(&u, None).await.expect("create_unit");
    }
}

/// Two more units for co-handling: a department and a police station.
pub(super) async fn seed_more_units(store: &dyn Store) {
    for u in [
        unit("env-bureau", UnitKind::Department, "330100", None),
        unit("police-330106", UnitKind::Department, "330106", None),
    ] {
        store.create_unit(&u, None).await.expect("create_unit");
    }
}

/// Dispatches to a unit without a note.
pub(super) fn dispatch(unit: &str) -> Action {
    Action::dispatch(unit_id(unit), String::new())
}

/// An assignment to `unit` with co-handling units, the routing reference
/// and the designation threshold given.
pub(super) fn assignment(
    unit: &str,
    co_units: &[&str],
    routing: Option<RoutingRef>,
    designate_after: i32,
) -> Assignment {
    Assignment {
        unit: unit_id(unit),
        co_units: co_units.iter().map(|u| unit_id(u)).collect(),
        note: format!("派 {unit}"),
        routing,
        designate_after,
        timing: None,
    }
}

/// A manual dispatch to `unit` with co-handling units.
pub(super) fn dispatch_with(unit: &str, co_units: &[&str]) -> Action {
    Action::Dispatch(assignment(unit, co_units, None, DEFAULT_DESIGNATE_AFTER))
}

/// The lead unit asks to return the ticket, within a one-day window.
pub(super) fn return_request(reason: &str, legal_basis: &str) -> Action {
    Action::Return {
        reason: reason.into(),
        legal_basis: legal_basis.into(),
        policy: ReturnPolicy::natural(TimeDelta::days(1)),
    }
}

/// Ids of the tickets a unit user's row scope lists, newest first.
pub(super) async fn visible_to(store: &dyn Store, unit: &str) -> Vec<TicketId> {
    let mut q = TicketQuery::all(1000);
    q.scope = ListScope::Limited {
        region_prefix: None,
        unit: Some(unit_id(unit)),
    };
    ids(&store.list_tickets(&q).await.expect("list_tickets"))
}

pub(super) fn ids(tickets: &[Ticket]) -> Vec<TicketId> {
    tickets.iter().map(|t| t.id).collect()
}

/// A draft rule to `target` on one keyword.
pub(super) fn rule(id: &str, target: &str) -> RuleSpec {
    RuleSpec {
        id: id.to_owned(),
        name: format!("规则 {id}"),
        priority: 0,
        subject_prefixes: Vec::new(),
        request_types: Vec::new(),
        region_prefixes: Vec::new(),
        keywords_any: vec!["噪音".into()],
        keywords_all: Vec::new(),
        keywords_none: Vec::new(),
        legacy_hotlines: Vec::new(),
        urgencies: Vec::new(),
        target_unit: Some(target.to_owned()),
        territorial: None,
        co_units: Vec::new(),
    }
}

/// A rule with every field set to a non-default value, text with quotes,
/// backslashes, newlines and non-ASCII characters.
pub(super) fn full_rule(id: &str) -> RuleSpec {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    RuleSpec {
        id: id.to_owned(),
        name: "夜间施工 \"night works\" \\ 100%\nsecond line".into(),
        priority: i32::MIN,
        subject_prefixes: strings(&["01", "01.02.03.04"]),
        request_types: vec![RequestType::Complaint, RequestType::Report],
        region_prefixes: strings(&["3301", "330106001002"]),
        keywords_any: strings(&["噪音", "noise \"loud\""]),
        keywords_all: strings(&["夜间", "施工"]),
        keywords_none: strings(&["已解决", "a\\b"]),
        legacy_hotlines: strings(&["12315", "12369"]),
        urgencies: vec![Urgency::Urgent, Urgency::UtilityOutage],
        target_unit: Some("env-bureau".into()),
        territorial: Some(Territorial::District),
        co_units: strings(&["police-330106", "d330106"]),
    }
}

/// Inserts an accepted ticket, numbering it in `local_day`.
pub(super) async fn insert(
    store: &dyn Store,
    created: Transition,
    local_day: NaiveDate,
    key: Option<IdempotencyKey>,
) -> Result<Ticket, StoreError> {
    insert_with(store, created, Vec::new(), local_day, key).await
}

/// Inserts an accepted ticket together with transitions applied on intake.
pub(super) async fn insert_with(
    store: &dyn Store,
    created: Transition,
    followups: Vec<Transition>,
    local_day: NaiveDate,
    key: Option<IdempotencyKey>,
) -> Result<Ticket, StoreError> {
    store
        .create_ticket(
            NewTicket {
                created,
                followups,
                counters: Vec::new(),
                local_day,
            },
            key,
        )
        .await
}

/// What an idempotency key produced, if anything.
pub(super) async fn find(
    store: &dyn Store,
    subject: &str,
    request_id: &str,
) -> Option<IdempotentResult> {
    store
        .find_idempotent(subject, request_id)
        .await
        .expect("find_idempotent")
}

/// A recorded idempotency result.
pub(super) fn produced(operation: &str, resource: String) -> Option<IdempotentResult> {
    Some(IdempotentResult {
        operation: operation.into(),
        resource,
        fingerprint: Some(fingerprint(operation)),
    })
}

pub(super) fn is_not_found<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound(_)))
}

pub(super) fn is_already_exists<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::AlreadyExists(_)))
}

pub(super) fn is_conflict<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}
