//! Fixture helpers shared by the checks: fixed instants and days,
//! principals, intakes, units, and thin wrappers over store calls.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::domain::{
    Action, Caller, Principal, RegionCode, Role, SubjectCode, TicketEvent, TicketId, Transition,
    UnitId,
    directory::{Unit, UnitKind},
    ticket::{Channel, Intake, RequestType, Ticket, Urgency},
};
use crate::store::{IdempotencyKey, IdempotentResult, NewTicket, Store, StoreError};

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
    IdempotencyKey {
        subject: subject.into(),
        request_id: request_id.into(),
        operation,
    }
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
/// with the assigned number in its payload.
fn created_event(transition: &Transition, number: &str) -> TicketEvent {
    let mut event = transition.event.clone();
    event.payload["number"] = number.into();
    event
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

/// Dispatches to a unit without a note.
pub(super) fn dispatch(unit: &str) -> Action {
    Action::dispatch(unit_id(unit), String::new())
}

/// Inserts an accepted ticket, numbering it in `local_day`.
pub(super) async fn insert(
    store: &dyn Store,
    created: Transition,
    local_day: NaiveDate,
    key: Option<IdempotencyKey>,
) -> Result<Ticket, StoreError> {
    store
        .create_ticket(
            NewTicket {
                created,
                followups: Vec::new(),
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
