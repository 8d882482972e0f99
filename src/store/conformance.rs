//! The store conformance suite: one set of checks that every [`Store`]
//! backend must pass, run unchanged against SQLite and PostgreSQL.
//!
//! Why one suite: the API layer is written against the [`Store`] trait, not
//! against a database, so the two backends must be indistinguishable through
//! it. They share one generic [`super::SqlStore`] and the same SQL, yet they
//! still differ underneath — column types (SQLite's dynamic typing against
//! PostgreSQL's `int4`/`int8`/`boolean`), how a lost write race or a broken
//! foreign key is reported, locking (`BEGIN IMMEDIATE` against row locks under
//! READ COMMITTED) and text ordering. Each check below states one promise of
//! the trait in terms of observable behaviour and is run on both, so a
//! backend-specific slip shows up as a failing check rather than as a
//! production incident.
//!
//! This is library code rather than `#[cfg(test)]` so integration tests
//! (`tests/store_conformance.rs`, one `#[tokio::test]` per check) can call it,
//! and any future backend can be held to the same contract. Checks panic with
//! a description on the first broken promise; each takes a fresh, empty store
//! (see [`TestBackend::fresh_store`]). Times are fixed instants with
//! microsecond parts — stores keep microseconds — and never the system clock.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::{
    IdempotencyKey, IdempotentResult, NewTicket, PiiAccess, Store, StoreError, TicketCursor,
    TicketQuery, testing::TestBackend,
};
use crate::domain::{
    Action, Caller, Principal, RegionCode, Role, SubjectCode, TicketEvent, TicketId, Transition,
    UnitId,
    access::ListScope,
    directory::{Region, Unit, UnitKind},
    lifecycle::IntakePatch,
    ticket::{
        Channel, CloseReason, EmergencyService, Intake, LegalChannel, RequestType, Satisfaction,
        Ticket, TicketState, Urgency,
    },
};

/// Runs every check, each on a fresh store of `backend`.
pub async fn run(backend: &TestBackend) {
    ticket_numbers_follow_the_daily_sequence(backend.fresh_store().await).await;
    concurrent_creates_get_distinct_numbers(backend.fresh_store().await).await;
    get_ticket_round_trips_every_field(backend.fresh_store().await).await;
    unknown_rows_are_not_found(backend.fresh_store().await).await;
    apply_transition_commits_ticket_and_event(backend.fresh_store().await).await;
    stale_version_conflicts_and_writes_nothing(backend.fresh_store().await).await;
    list_events_orders_and_pages(backend.fresh_store().await).await;
    idempotency_keys_record_what_they_produced(backend.fresh_store().await).await;
    reused_idempotency_key_is_rejected_and_writes_nothing(backend.fresh_store().await).await;
    list_tickets_filters(backend.fresh_store().await).await;
    list_tickets_pages_without_gaps_or_duplicates(backend.fresh_store().await).await;
    pii_access_is_logged_per_ticket(backend.fresh_store().await).await;
    units_create_get_and_list(backend.fresh_store().await).await;
    regions_create_get_and_list(backend.fresh_store().await).await;
    dispatch_to_unknown_unit_fails_and_writes_nothing(backend.fresh_store().await).await;
    concurrent_transitions_admit_exactly_one(backend.fresh_store().await).await;
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// A fixed UTC instant with a microsecond part.
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|day| day.and_hms_micro_opt(h, mi, s, us))
        .expect("valid fixture time")
        .and_utc()
}

/// 2026-11-23 09:15:30.123456 in Beijing.
fn t0() -> DateTime<Utc> {
    utc(2026, 11, 23, 1, 15, 30, 123_456)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid fixture day")
}

/// The centre's local day (Beijing, UTC+8) of an instant.
fn beijing_day(t: DateTime<Utc>) -> NaiveDate {
    (t + TimeDelta::hours(8)).date_naive()
}

fn micros(n: i64) -> TimeDelta {
    TimeDelta::microseconds(n)
}

fn agent() -> Principal {
    Principal {
        subject: "agent-0001".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    }
}

fn handler(unit: &UnitId) -> Principal {
    Principal {
        subject: format!("handler-of-{unit}"),
        roles: vec![Role::UnitHandler],
        unit: Some(unit.clone()),
        region: None,
    }
}

fn unit_id(id: &str) -> UnitId {
    UnitId::parse(id).expect("valid fixture unit id")
}

fn region(code: &str) -> RegionCode {
    RegionCode::parse(code).expect("valid fixture region code")
}

fn key(subject: &str, request_id: &str, operation: &'static str) -> IdempotencyKey {
    IdempotencyKey {
        subject: subject.into(),
        request_id: request_id.into(),
        operation,
    }
}

/// A complete intake: every optional field set, text with quotes and newlines.
fn full_intake() -> Intake {
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
fn intake(region_code: &str, request_type: RequestType, phone: Option<&str>) -> Intake {
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
async fn create_at(
    store: &dyn Store,
    intake: Intake,
    now: DateTime<Utc>,
    key: Option<IdempotencyKey>,
) -> (Ticket, TicketEvent) {
    let created = Ticket::accept(intake, String::new(), &agent(), now);
    let stored = store
        .create_ticket(
            NewTicket {
                created: created.clone(),
                local_day: beijing_day(now),
            },
            key,
        )
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
async fn step(
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
async fn assert_stored(store: &dyn Store, expected: &Ticket, when: &str) {
    let stored = store.get_ticket(expected.id).await.expect("get_ticket");
    assert_eq!(
        &stored, expected,
        "get_ticket round-trips the ticket {when}"
    );
}

async fn all_events(store: &dyn Store, id: TicketId) -> Vec<TicketEvent> {
    store.list_events(id, 0, 1000).await.expect("list_events")
}

fn unit(id: &str, kind: UnitKind, region_code: &str, parent: Option<&str>) -> Unit {
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
async fn seed_units(store: &dyn Store) {
    for u in [
        unit("market-regulation", UnitKind::Department, "330100", None),
        unit("d330106", UnitKind::District, "330106", None),
        unit("s330106001", UnitKind::Street, "330106001", Some("d330106")),
    ] {
        store.create_unit(&u, None).await.expect("create_unit");
    }
}

fn is_not_found<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound(_)))
}

fn is_already_exists<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::AlreadyExists(_)))
}

fn is_conflict<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

// ---------------------------------------------------------------------------
// Ticket numbers
// ---------------------------------------------------------------------------

/// `create_ticket` numbers tickets `YYYYMMDD` + a 6-digit sequence that counts
/// 1, 2, … within each local day, restarts on a new day, and continues a day's
/// own sequence when a late ticket still counts in an earlier day. The
/// `created` event carries the number.
pub async fn ticket_numbers_follow_the_daily_sequence(store: Arc<dyn Store>) {
    let store = store.as_ref();
    // 23:59:59.999999 and 00:00:00 on the centre's clock (UTC+8).
    let before_midnight = utc(2026, 11, 23, 15, 59, 59, 999_999);
    let after_midnight = utc(2026, 11, 23, 16, 0, 0, 0);
    assert_eq!(beijing_day(before_midnight), day(2026, 11, 23));
    assert_eq!(beijing_day(after_midnight), day(2026, 11, 24));

    let mut numbers = Vec::new();
    for i in 0..3 {
        let (t, event) = create_at(
            store,
            intake("330106", RequestType::Enquiry, Some("13800131234")),
            t0() + micros(i),
            None,
        )
        .await;
        assert_eq!(
            all_events(store, t.id).await,
            vec![event],
            "created event carries the number"
        );
        numbers.push(t.number);
    }
    let (t, _) = create_at(store, full_intake(), before_midnight, None).await;
    numbers.push(t.number);
    let (t, _) = create_at(store, full_intake(), after_midnight, None).await;
    numbers.push(t.number);
    let (t, _) = create_at(store, full_intake(), after_midnight + micros(1), None).await;
    numbers.push(t.number);

    // A ticket that still counts in the previous day continues that day's sequence.
    let created = Ticket::accept(full_intake(), String::new(), &agent(), after_midnight);
    let late = store
        .create_ticket(
            NewTicket {
                created,
                local_day: day(2026, 11, 23),
            },
            None,
        )
        .await
        .expect("create_ticket");
    numbers.push(late.number);

    // A new year and a single-digit month/day keep the fixed width.
    let created = Ticket::accept(full_intake(), String::new(), &agent(), t0());
    let new_year = store
        .create_ticket(
            NewTicket {
                created,
                local_day: day(2027, 1, 5),
            },
            None,
        )
        .await
        .expect("create_ticket");
    numbers.push(new_year.number);

    assert_eq!(
        numbers,
        [
            "20261123000001",
            "20261123000002",
            "20261123000003",
            "20261123000004",
            "20261124000001",
            "20261124000002",
            "20261123000005",
            "20270105000001",
        ]
    );
}

/// Tickets created concurrently on the same day all get distinct numbers
/// 1..=n: the daily counter is incremented atomically.
pub async fn concurrent_creates_get_distinct_numbers(store: Arc<dyn Store>) {
    const N: i64 = 20;
    let mut tasks = Vec::new();
    for i in 0..N {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let now = t0() + micros(i);
            let created = Ticket::accept(
                intake("330106", RequestType::Help, Some("13800131234")),
                String::new(),
                &agent(),
                now,
            );
            store
                .create_ticket(
                    NewTicket {
                        created,
                        local_day: beijing_day(now),
                    },
                    None,
                )
                .await
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        let ticket = task.await.expect("task").expect("concurrent create_ticket");
        numbers.push(ticket.number);
    }
    numbers.sort();
    let expected: Vec<String> = (1..=N).map(|n| format!("20261123{n:06}")).collect();
    assert_eq!(
        numbers, expected,
        "concurrent creates take each number exactly once"
    );
    let listed = store
        .list_tickets(&TicketQuery::all(100))
        .await
        .expect("list_tickets");
    assert_eq!(listed.len(), N as usize);
}

// ---------------------------------------------------------------------------
// Round trips and transitions
// ---------------------------------------------------------------------------

/// `get_ticket` returns exactly what was stored: every intake field (caller
/// name and phone included), every outcome field after the transitions that
/// set them, lead unit, dispatch count, creator, version, and times to the
/// microsecond. Events round-trip too, payload included.
pub async fn get_ticket_round_trips_every_field(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let market = unit_id("market-regulation");
    let unit_user = handler(&market);

    // The full path: update, dispatch, sign, reply, callback, close.
    let (mut ticket, created) = create_at(store, full_intake(), t0(), None).await;
    assert_eq!(
        ticket.intake.caller.name.as_ref().map(|n| n.expose()),
        Some("张三")
    );
    assert_eq!(
        ticket.intake.caller.phone.as_ref().map(|p| p.expose()),
        Some("13800131234")
    );
    assert_stored(store, &ticket, "after create").await;
    let mut events = vec![created];

    let mut values = full_intake();
    values.urgency = Urgency::UtilityOutage;
    values.subject_code = Some(SubjectCode::parse("02.01").expect("valid subject"));
    values.region_code = region("330106002");
    values.address = "新地址".into();
    values.legacy_hotline = Some("12369".into());
    let patch = IntakePatch {
        values: Some(Box::new(values)),
        fields: vec![
            "urgency".into(),
            "subject_code".into(),
            "region_code".into(),
            "address".into(),
            "legacy_hotline".into(),
        ],
    };
    let steps: Vec<(Action, Principal, DateTime<Utc>)> = vec![
        (
            Action::Update(patch),
            agent(),
            t0() + TimeDelta::minutes(1) + micros(1),
        ),
        (
            Action::Dispatch {
                unit: market.clone(),
                note: "请核查".into(),
            },
            agent(),
            t0() + TimeDelta::minutes(2) + micros(2),
        ),
        (
            Action::Sign,
            unit_user.clone(),
            t0() + TimeDelta::hours(1) + micros(3),
        ),
        (
            Action::Reply {
                text: "已责令停工。".into(),
                contacted_citizen: true,
            },
            unit_user.clone(),
            t0() + TimeDelta::days(2) + micros(999_999),
        ),
        (
            Action::RecordCallback {
                satisfaction: Satisfaction::BasicallySatisfied,
                resolved: false,
                comment: "基本满意".into(),
            },
            agent(),
            t0() + TimeDelta::days(3) + micros(5),
        ),
        (
            Action::Close {
                reason: None,
                note: "办结".into(),
            },
            agent(),
            t0() + TimeDelta::days(3) + micros(6),
        ),
    ];
    for (action, actor, now) in steps {
        let verb = action.verb();
        let transition = step(store, &ticket, action, &actor, now).await;
        ticket = transition.ticket;
        events.push(transition.event);
        assert_stored(store, &ticket, &format!("after {verb}")).await;
    }
    let o = &ticket.outcome;
    assert_eq!(ticket.state, TicketState::Closed);
    assert_eq!(ticket.lead_unit.as_ref(), Some(&market));
    assert_eq!(ticket.dispatch_count, 1);
    assert_eq!(ticket.version, 7);
    assert_eq!(o.reply_contacted_citizen, Some(true));
    assert_eq!(
        o.reply_time,
        Some(t0() + TimeDelta::days(2) + micros(999_999))
    );
    assert_eq!(o.satisfaction, Some(Satisfaction::BasicallySatisfied));
    assert_eq!(o.resolved, Some(false));
    assert_eq!(o.callback_time, Some(t0() + TimeDelta::days(3) + micros(5)));
    assert_eq!(o.close_reason, Some(CloseReason::Completed));
    assert_eq!(
        all_events(store, ticket.id).await,
        events,
        "events round-trip"
    );

    // A dissatisfied callback closed with a stated reason.
    let (t, _) = create_at(store, full_intake(), t0() + micros(10), None).await;
    let t = step(
        store,
        &t,
        Action::Dispatch {
            unit: unit_id("d330106"),
            note: String::new(),
        },
        &agent(),
        t0() + micros(11),
    )
    .await
    .ticket;
    let district = handler(&unit_id("d330106"));
    let t = step(store, &t, Action::Sign, &district, t0() + micros(12))
        .await
        .ticket;
    let t = step(
        store,
        &t,
        Action::Reply {
            text: "reply".into(),
            contacted_citizen: false,
        },
        &district,
        t0() + micros(13),
    )
    .await
    .ticket;
    let t = step(
        store,
        &t,
        Action::RecordCallback {
            satisfaction: Satisfaction::VeryDissatisfied,
            resolved: true,
            comment: String::new(),
        },
        &agent(),
        t0() + micros(14),
    )
    .await
    .ticket;
    assert_stored(store, &t, "after a dissatisfied callback").await;
    let t = step(
        store,
        &t,
        Action::Close {
            reason: Some(CloseReason::UnreasonableDemand),
            note: "诉求不合理".into(),
        },
        &agent(),
        t0() + micros(15),
    )
    .await
    .ticket;
    assert_eq!(t.outcome.reply_contacted_citizen, Some(false));
    assert_eq!(t.outcome.resolved, Some(true));
    assert_eq!(
        t.outcome.close_reason,
        Some(CloseReason::UnreasonableDemand)
    );
    assert_stored(store, &t, "after closing as unreasonable").await;

    // Resolved at intake: the answer.
    let (t, _) = create_at(store, full_intake(), t0() + micros(20), None).await;
    let t = step(
        store,
        &t,
        Action::ResolveAtIntake {
            answer: "营业时间为 9:00–17:00".into(),
        },
        &agent(),
        t0() + micros(21),
    )
    .await
    .ticket;
    assert_eq!(
        t.outcome.intake_answer.as_deref(),
        Some("营业时间为 9:00–17:00")
    );
    assert_stored(store, &t, "after resolve_at_intake").await;

    // Handed to an emergency line: service and note.
    let (t, _) = create_at(store, full_intake(), t0() + micros(30), None).await;
    let t = step(
        store,
        &t,
        Action::TransferEmergency {
            service: EmergencyService::Fire119,
            note: "燃气泄漏".into(),
        },
        &agent(),
        t0() + micros(31),
    )
    .await
    .ticket;
    assert_eq!(t.outcome.emergency_service, Some(EmergencyService::Fire119));
    assert_stored(store, &t, "after transfer_emergency").await;

    // Not accepted: legal channel and note.
    let (t, _) = create_at(store, full_intake(), t0() + micros(40), None).await;
    let t = step(
        store,
        &t,
        Action::MarkNotAccepted {
            channel: LegalChannel::AdministrativeReview,
            note: "请申请行政复议".into(),
        },
        &agent(),
        t0() + micros(41),
    )
    .await
    .ticket;
    assert_eq!(
        t.outcome.legal_channel,
        Some(LegalChannel::AdministrativeReview)
    );
    assert_eq!(
        t.outcome.disposition_note.as_deref(),
        Some("请申请行政复议")
    );
    assert_stored(store, &t, "after mark_not_accepted").await;

    // An anonymous caller without a phone, and a report (confidential by rule).
    let (t, _) = create_at(
        store,
        intake("110101", RequestType::Report, None),
        t0() + micros(50),
        None,
    )
    .await;
    assert!(t.intake.confidential);
    assert!(t.intake.caller.anonymous);
    assert_eq!(t.intake.caller.name, None);
    assert_eq!(t.intake.caller.phone, None);
    assert_stored(store, &t, "with an anonymous caller").await;

    // A landline number and a far-future time survive as well.
    let mut landline = intake("330106", RequestType::Other, Some("0571-87654321"));
    landline.channel = Channel::Transfer110;
    let (t, _) = create_at(
        store,
        landline,
        utc(2099, 12, 31, 23, 59, 59, 999_999),
        None,
    )
    .await;
    assert_eq!(
        t.intake.caller.phone.as_ref().map(|p| p.expose()),
        Some("057187654321")
    );
    assert_stored(store, &t, "with a landline").await;
}

/// Unknown ids are `NotFound`, not an empty value or an internal error.
pub async fn unknown_rows_are_not_found(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (known, _) = create_at(store, full_intake(), t0(), None).await;
    let unknown = TicketId::generate(chrono::DateTime::UNIX_EPOCH);
    assert_ne!(known.id, unknown);
    assert!(
        is_not_found(&store.get_ticket(unknown).await),
        "get_ticket of an unknown id"
    );
    assert!(
        is_not_found(&store.get_unit(&unit_id("no-such-unit")).await),
        "get_unit of an unknown id"
    );
    assert!(
        is_not_found(&store.get_region(&region("990000")).await),
        "get_region of an unknown code"
    );
    assert_eq!(
        store
            .list_events(unknown, 0, 10)
            .await
            .expect("list_events"),
        vec![]
    );
    assert_eq!(
        store
            .count_pii_access(unknown)
            .await
            .expect("count_pii_access"),
        0
    );
    assert_eq!(
        store
            .find_idempotent("agent-0001", "never-used")
            .await
            .expect("find"),
        None
    );
}

/// `apply_transition` at the current version stores the new ticket and
/// appends its event, in one go.
pub async fn apply_transition_commits_ticket_and_event(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (ticket, created) = create_at(store, full_intake(), t0(), None).await;
    let dispatch = ticket
        .apply(
            Action::Dispatch {
                unit: unit_id("d330106"),
                note: "属地处理".into(),
            },
            &agent(),
            t0() + micros(1),
        )
        .expect("dispatch");
    store
        .apply_transition(1, &dispatch, None)
        .await
        .expect("apply_transition at version 1");
    assert_stored(store, &dispatch.ticket, "after dispatch").await;
    assert_eq!(dispatch.ticket.version, 2);
    assert_eq!(
        all_events(store, ticket.id).await,
        vec![created, dispatch.event.clone()]
    );

    // The next transition must use the new version.
    let sign = dispatch
        .ticket
        .apply(
            Action::Sign,
            &handler(&unit_id("d330106")),
            t0() + micros(2),
        )
        .expect("sign");
    store
        .apply_transition(2, &sign, None)
        .await
        .expect("apply_transition at version 2");
    assert_stored(store, &sign.ticket, "after sign").await;
    assert_eq!(all_events(store, ticket.id).await.len(), 3);
}

/// A stale `expected_version` is `Conflict`, and nothing is written: the
/// ticket is unchanged, no event is appended and the idempotency key is not
/// recorded.
pub async fn stale_version_conflicts_and_writes_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (v1, created) = create_at(store, full_intake(), t0(), None).await;
    let v2 = step(
        store,
        &v1,
        Action::Dispatch {
            unit: unit_id("market-regulation"),
            note: String::new(),
        },
        &agent(),
        t0() + micros(1),
    )
    .await;

    // Someone still holding version 1 tries another action.
    let stale = v1
        .apply(
            Action::ResolveAtIntake {
                answer: "late answer".into(),
            },
            &agent(),
            t0() + micros(2),
        )
        .expect("legal on version 1");
    let result = store
        .apply_transition(
            1,
            &stale,
            Some(key("agent-0001", "stale-1", "ResolveAtIntake")),
        )
        .await;
    assert!(
        is_conflict(&result),
        "stale version must conflict, got {result:?}"
    );
    assert_stored(store, &v2.ticket, "after a conflicting write").await;
    assert_eq!(
        all_events(store, v1.id).await,
        vec![created.clone(), v2.event.clone()]
    );
    assert_eq!(
        store
            .find_idempotent("agent-0001", "stale-1")
            .await
            .expect("find"),
        None,
        "a conflicting write records no idempotency key"
    );

    // A version from the future conflicts as well.
    let ahead = v2.ticket.apply(
        Action::Sign,
        &handler(&unit_id("market-regulation")),
        t0() + micros(3),
    );
    let ahead = ahead.expect("sign");
    assert!(is_conflict(&store.apply_transition(7, &ahead, None).await));
    assert_stored(store, &v2.ticket, "after a future-version write").await;

    // A transition for a ticket that does not exist changes nothing either.
    let mut ghost = ahead.clone();
    ghost.ticket.id = TicketId::generate(chrono::DateTime::UNIX_EPOCH);
    ghost.event.ticket_id = ghost.ticket.id;
    let result = store.apply_transition(2, &ghost, None).await;
    assert!(
        result.is_err(),
        "a transition of an unknown ticket must fail"
    );
    assert!(is_not_found(&store.get_ticket(ghost.ticket.id).await));
    assert_eq!(all_events(store, ghost.ticket.id).await, vec![]);
}

/// `list_events` returns events oldest first by sequence, only those after
/// `after`, at most `limit`; paging by the last sequence walks the trail.
pub async fn list_events_orders_and_pages(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let unit = unit_id("d330106");
    let (mut ticket, created) = create_at(store, full_intake(), t0(), None).await;
    // Another ticket's events must not leak into this trail.
    let (other, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    step(
        store,
        &other,
        Action::Dispatch {
            unit: unit.clone(),
            note: String::new(),
        },
        &agent(),
        t0(),
    )
    .await;

    let mut events = vec![created];
    let actions = [
        (
            Action::Dispatch {
                unit: unit.clone(),
                note: "n".into(),
            },
            agent(),
        ),
        (Action::Sign, handler(&unit)),
        (
            Action::Reply {
                text: "done".into(),
                contacted_citizen: true,
            },
            handler(&unit),
        ),
        (
            Action::RecordCallback {
                satisfaction: Satisfaction::Satisfied,
                resolved: true,
                comment: String::new(),
            },
            agent(),
        ),
        (
            Action::Close {
                reason: None,
                note: String::new(),
            },
            agent(),
        ),
    ];
    // Event times deliberately go backwards: order is by sequence, not time.
    for (i, (action, actor)) in actions.into_iter().enumerate() {
        let now = t0() - micros(i as i64 + 1);
        let transition = step(store, &ticket, action, &actor, now).await;
        ticket = transition.ticket;
        events.push(transition.event);
    }
    let all = all_events(store, ticket.id).await;
    assert_eq!(all, events, "all events, oldest first");
    let sequences: Vec<i64> = all.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5, 6]);

    assert_eq!(
        store.list_events(ticket.id, 2, 2).await.expect("page"),
        events[2..4].to_vec()
    );
    assert_eq!(
        store.list_events(ticket.id, 5, 10).await.expect("page"),
        events[5..].to_vec()
    );
    assert_eq!(
        store.list_events(ticket.id, 6, 10).await.expect("page"),
        vec![]
    );
    assert_eq!(
        store.list_events(ticket.id, 0, 0).await.expect("page"),
        vec![]
    );
    assert_eq!(
        store.list_events(ticket.id, 0, 1).await.expect("page"),
        events[..1].to_vec()
    );

    for size in [1_u32, 2, 4, 6, 7] {
        let mut walked = Vec::new();
        let mut after = 0;
        loop {
            let page = store
                .list_events(ticket.id, after, size)
                .await
                .expect("page");
            assert!(page.len() <= size as usize);
            let Some(last) = page.last() else { break };
            after = last.sequence;
            let short = page.len() < size as usize;
            walked.extend(page);
            if short {
                break;
            }
            assert!(walked.len() <= events.len(), "paging must terminate");
        }
        assert_eq!(walked, events, "paging events by {size}");
    }
}

// ---------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------

/// A key used with a create or a transition remembers the operation and the
/// resource it produced; keys are scoped to their subject.
pub async fn idempotency_keys_record_what_they_produced(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (ticket, _) = create_at(
        store,
        full_intake(),
        t0(),
        Some(key("agent-0001", "req-create", "CreateTicket")),
    )
    .await;
    assert_eq!(
        store
            .find_idempotent("agent-0001", "req-create")
            .await
            .expect("find"),
        Some(IdempotentResult {
            operation: "CreateTicket".into(),
            resource: ticket.id.name(),
        })
    );

    let dispatch = ticket
        .apply(
            Action::Dispatch {
                unit: unit_id("market-regulation"),
                note: String::new(),
            },
            &agent(),
            t0() + micros(1),
        )
        .expect("dispatch");
    store
        .apply_transition(
            1,
            &dispatch,
            Some(key("agent-0001", "req-dispatch", "DispatchTicket")),
        )
        .await
        .expect("apply_transition with a key");
    assert_eq!(
        store
            .find_idempotent("agent-0001", "req-dispatch")
            .await
            .expect("find"),
        Some(IdempotentResult {
            operation: "DispatchTicket".into(),
            resource: ticket.id.name(),
        })
    );

    let u = unit("water-company", UnitKind::Company, "330100", None);
    store
        .create_unit(&u, Some(key("admin-1", "req-unit", "CreateUnit")))
        .await
        .expect("create_unit with a key");
    assert_eq!(
        store
            .find_idempotent("admin-1", "req-unit")
            .await
            .expect("find"),
        Some(IdempotentResult {
            operation: "CreateUnit".into(),
            resource: "units/water-company".into(),
        })
    );

    // Keys belong to their subject.
    assert_eq!(
        store
            .find_idempotent("agent-0002", "req-create")
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        store
            .find_idempotent("agent-0001", "req-unit")
            .await
            .expect("find"),
        None
    );
}

/// A second write with a used `(subject, request_id)` is `AlreadyExists` and
/// writes nothing — no second ticket, no number consumed, no transition — and
/// the first result stays recorded. The same `request_id` from another
/// subject is an independent request.
pub async fn reused_idempotency_key_is_rejected_and_writes_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (first, first_event) = create_at(
        store,
        full_intake(),
        t0(),
        Some(key("agent-0001", "req-1", "CreateTicket")),
    )
    .await;
    assert_eq!(first.number, "20261123000001");

    let retry = Ticket::accept(full_intake(), String::new(), &agent(), t0() + micros(1));
    let retry_id = retry.ticket.id;
    let result = store
        .create_ticket(
            NewTicket {
                created: retry,
                local_day: beijing_day(t0()),
            },
            Some(key("agent-0001", "req-1", "CreateTicket")),
        )
        .await;
    assert!(
        is_already_exists(&result),
        "reused key must be AlreadyExists, got {result:?}"
    );
    assert!(
        is_not_found(&store.get_ticket(retry_id).await),
        "the rejected ticket is not stored"
    );
    assert_eq!(all_events(store, retry_id).await, vec![]);
    let listed = store
        .list_tickets(&TicketQuery::all(10))
        .await
        .expect("list_tickets");
    assert_eq!(listed, vec![first.clone()], "only the first ticket exists");
    assert_eq!(
        store
            .find_idempotent("agent-0001", "req-1")
            .await
            .expect("find"),
        Some(IdempotentResult {
            operation: "CreateTicket".into(),
            resource: first.id.name(),
        }),
        "the key still points at the first ticket"
    );

    // Another subject may use the same request_id.
    let (second, _) = create_at(
        store,
        full_intake(),
        t0() + micros(2),
        Some(key("agent-0002", "req-1", "CreateTicket")),
    )
    .await;
    assert_eq!(
        second.number, "20261123000002",
        "the rejected create consumed no number"
    );
    assert_eq!(
        store
            .find_idempotent("agent-0002", "req-1")
            .await
            .expect("find"),
        Some(IdempotentResult {
            operation: "CreateTicket".into(),
            resource: second.id.name(),
        })
    );
    assert_eq!(
        store
            .find_idempotent("agent-0001", "req-1")
            .await
            .expect("find")
            .map(|r| r.resource),
        Some(first.id.name())
    );

    // A transition with a used key is rejected the same way.
    let dispatch = first
        .apply(
            Action::Dispatch {
                unit: unit_id("d330106"),
                note: String::new(),
            },
            &agent(),
            t0() + micros(3),
        )
        .expect("dispatch");
    let result = store
        .apply_transition(
            1,
            &dispatch,
            Some(key("agent-0001", "req-1", "DispatchTicket")),
        )
        .await;
    assert!(
        is_already_exists(&result),
        "reused key must be AlreadyExists, got {result:?}"
    );
    assert_stored(store, &first, "after a rejected transition").await;
    assert_eq!(all_events(store, first.id).await, vec![first_event]);

    // A unit with a used key: no unit.
    let u = unit("gas-company", UnitKind::Company, "330100", None);
    let result = store
        .create_unit(&u, Some(key("agent-0001", "req-1", "CreateUnit")))
        .await;
    assert!(
        is_already_exists(&result),
        "reused key must be AlreadyExists, got {result:?}"
    );
    assert!(
        is_not_found(&store.get_unit(&u.id).await),
        "the rejected unit is not stored"
    );
}

// ---------------------------------------------------------------------------
// Listing tickets
// ---------------------------------------------------------------------------

const PHONES: [Option<&str>; 4] = [
    Some("13800131234"),
    Some("13900001111"),
    Some("057187654321"),
    None,
];
const REGIONS: [&str; 5] = ["330106001", "330106", "330102", "330201", "110101"];
const TYPES: [RequestType; 4] = [
    RequestType::Enquiry,
    RequestType::Complaint,
    RequestType::Help,
    RequestType::Suggestion,
];

/// When the tickets with identical `create_time` were created.
fn same_instant() -> DateTime<Utc> {
    t0() + TimeDelta::minutes(10) + micros(500_000)
}

/// 25 tickets one minute (plus a microsecond) apart, then 6 created at the
/// very same instant, spread over regions, types, phones, states and lead
/// units. Returns them as stored.
async fn seed_tickets(store: &dyn Store) -> Vec<Ticket> {
    seed_units(store).await;
    let market = unit_id("market-regulation");
    let district = unit_id("d330106");
    let mut tickets = Vec::new();
    let mut times: Vec<DateTime<Utc>> = (0..25)
        .map(|i| t0() + TimeDelta::minutes(i) + micros(i))
        .collect();
    times.extend(std::iter::repeat_n(same_instant(), 6));
    for (i, now) in times.into_iter().enumerate() {
        // Spread the attributes so that no two of them move in lockstep.
        let phone = PHONES[i % PHONES.len()];
        let request_type = if i % 9 == 4 {
            RequestType::Report
        } else {
            TYPES[(i / 2) % TYPES.len()]
        };
        let region_code = REGIONS[(i + i / 5) % REGIONS.len()];
        let (t, _) = create_at(store, intake(region_code, request_type, phone), now, None).await;
        let later = now + TimeDelta::seconds(5);
        let t = match i % 5 {
            0 => t,
            1 => {
                step(
                    store,
                    &t,
                    Action::Dispatch {
                        unit: market.clone(),
                        note: String::new(),
                    },
                    &agent(),
                    later,
                )
                .await
                .ticket
            }
            2 => {
                let t = step(
                    store,
                    &t,
                    Action::Dispatch {
                        unit: district.clone(),
                        note: String::new(),
                    },
                    &agent(),
                    later,
                )
                .await
                .ticket;
                step(
                    store,
                    &t,
                    Action::Sign,
                    &handler(&district),
                    later + micros(1),
                )
                .await
                .ticket
            }
            3 => {
                step(
                    store,
                    &t,
                    Action::ResolveAtIntake {
                        answer: "已答复".into(),
                    },
                    &agent(),
                    later,
                )
                .await
                .ticket
            }
            _ => {
                step(
                    store,
                    &t,
                    Action::Dispatch {
                        unit: district.clone(),
                        note: String::new(),
                    },
                    &agent(),
                    later,
                )
                .await
                .ticket
            }
        };
        tickets.push(t);
    }
    tickets
}

/// What `list_tickets` must return for `q`, computed from the fixtures.
fn expected_list(tickets: &[Ticket], q: &TicketQuery) -> Vec<Ticket> {
    let mut out: Vec<Ticket> = tickets.iter().filter(|t| selects(q, t)).cloned().collect();
    out.sort_by_key(|t| std::cmp::Reverse((t.create_time, t.id)));
    out.truncate(q.limit as usize);
    out
}

/// The documented meaning of each [`TicketQuery`] filter.
fn selects(q: &TicketQuery, t: &Ticket) -> bool {
    let in_scope = match &q.scope {
        ListScope::All => true,
        ListScope::Limited {
            region_prefix,
            unit,
        } => {
            region_prefix
                .as_deref()
                .is_some_and(|r| t.intake.region_code.within(r))
                || unit
                    .as_ref()
                    .is_some_and(|u| t.lead_unit.as_ref() == Some(u))
        }
    };
    in_scope
        && (q.states.is_empty() || q.states.contains(&t.state))
        && q.lead_unit
            .as_ref()
            .is_none_or(|u| t.lead_unit.as_ref() == Some(u))
        && q.request_type.is_none_or(|r| t.intake.request_type == r)
        && q.region_prefix
            .as_deref()
            .is_none_or(|r| t.intake.region_code.within(r))
        && q.created_from.is_none_or(|from| t.create_time >= from)
        && q.created_to.is_none_or(|to| t.create_time < to)
        && q.caller_phone.as_deref().is_none_or(|p| {
            t.intake
                .caller
                .phone
                .as_ref()
                .is_some_and(|ph| ph.expose() == p)
        })
        && q.after
            .is_none_or(|a| (t.create_time, t.id) < (a.create_time, a.id))
}

/// Named queries exercising every filter alone and in combination.
fn filter_queries(tickets: &[Ticket]) -> Vec<(String, TicketQuery)> {
    let base = TicketQuery::all(1000);
    let mut out = vec![("no filter".to_owned(), base.clone())];
    let mut add = |name: String, f: &dyn Fn(&mut TicketQuery)| {
        let mut q = base.clone();
        f(&mut q);
        out.push((name, q));
    };
    for state in [
        TicketState::PendingDispatch,
        TicketState::Dispatched,
        TicketState::InProgress,
        TicketState::ResolvedAtIntake,
    ] {
        add(format!("state {state}"), &|q| q.states = vec![state]);
    }
    add("states dispatched|in_progress".into(), &|q| {
        q.states = vec![TicketState::Dispatched, TicketState::InProgress]
    });
    add("state closed (none)".into(), &|q| {
        q.states = vec![TicketState::Closed]
    });
    for u in ["market-regulation", "d330106", "s330106001"] {
        add(format!("lead unit {u}"), &|q| {
            q.lead_unit = Some(unit_id(u))
        });
    }
    for r in [
        RequestType::Enquiry,
        RequestType::Complaint,
        RequestType::Report,
        RequestType::Praise,
    ] {
        add(format!("request type {r}"), &|q| q.request_type = Some(r));
    }
    for p in [
        "3",
        "33",
        "3301",
        "330106",
        "330106001",
        "3302",
        "1101",
        "9",
    ] {
        add(format!("region prefix {p}"), &|q| {
            q.region_prefix = Some(p.into())
        });
    }
    // Time windows whose bounds fall exactly on create times: from is
    // inclusive, to exclusive.
    let t5 = tickets[5].create_time;
    let t12 = tickets[12].create_time;
    let same = same_instant();
    add("created from t5".into(), &|q| q.created_from = Some(t5));
    add("created to t5".into(), &|q| q.created_to = Some(t5));
    add("created in [t5, t12)".into(), &|q| {
        q.created_from = Some(t5);
        q.created_to = Some(t12);
    });
    add("created in [t5, t5 + 1us)".into(), &|q| {
        q.created_from = Some(t5);
        q.created_to = Some(t5 + micros(1));
    });
    add("created in [t5 + 1us, t5 + 60s)".into(), &|q| {
        q.created_from = Some(t5 + micros(1));
        q.created_to = Some(t5 + TimeDelta::seconds(60));
    });
    add("created in [same, same]".into(), &|q| {
        q.created_from = Some(same);
        q.created_to = Some(same);
    });
    add("created at the shared instant".into(), &|q| {
        q.created_from = Some(same);
        q.created_to = Some(same + micros(1));
    });
    for p in ["13800131234", "13900001111", "057187654321", "13700000000"] {
        add(format!("caller phone {p}"), &|q| {
            q.caller_phone = Some(p.into())
        });
    }
    add("scope region 330106".into(), &|q| {
        q.scope = ListScope::Limited {
            region_prefix: Some("330106".into()),
            unit: None,
        }
    });
    add("scope unit market-regulation".into(), &|q| {
        q.scope = ListScope::Limited {
            region_prefix: None,
            unit: Some(unit_id("market-regulation")),
        }
    });
    add("scope region 1101 or unit market-regulation".into(), &|q| {
        q.scope = ListScope::Limited {
            region_prefix: Some("1101".into()),
            unit: Some(unit_id("market-regulation")),
        }
    });
    add("scope nothing".into(), &|q| {
        q.scope = ListScope::Limited {
            region_prefix: None,
            unit: None,
        }
    });
    add(
        "scope region 3301 + state dispatched + phone".into(),
        &|q| {
            q.scope = ListScope::Limited {
                region_prefix: Some("3301".into()),
                unit: None,
            };
            q.states = vec![TicketState::Dispatched];
            q.caller_phone = Some("13900001111".into());
        },
    );
    add("unit d330106 + region 330106 + enquiry".into(), &|q| {
        q.lead_unit = Some(unit_id("d330106"));
        q.region_prefix = Some("330106".into());
        q.request_type = Some(RequestType::Enquiry);
    });
    add("pending + region 33 + after t12".into(), &|q| {
        q.states = vec![TicketState::PendingDispatch];
        q.region_prefix = Some("33".into());
        q.created_from = Some(t12);
    });
    out
}

/// Each `list_tickets` filter — states, lead unit, request type, region
/// prefix, created from (inclusive) / to (exclusive), caller phone and the
/// reader's row scope — selects exactly the matching tickets, newest first.
pub async fn list_tickets_filters(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tickets = seed_tickets(store).await;
    let all = tickets.len();
    // Queries that select nothing; every other filter must select something
    // but not everything, so no check passes vacuously.
    let empty = [
        "state closed (none)",
        "lead unit s330106001",
        "request type praise",
        "region prefix 9",
        "created in [same, same]",
        "created in [t5 + 1us, t5 + 60s)",
        "caller phone 13700000000",
        "scope nothing",
    ];
    for (name, q) in filter_queries(&tickets) {
        let expected = expected_list(&tickets, &q);
        let got = store.list_tickets(&q).await.expect("list_tickets");
        assert_eq!(
            ids(&got),
            ids(&expected),
            "list_tickets({name}) returns the matching tickets newest first"
        );
        assert_eq!(got, expected, "list_tickets({name}) returns whole tickets");
        if name == "no filter" {
            assert_eq!(got.len(), all);
        } else if empty.contains(&name.as_str()) {
            assert!(got.is_empty(), "list_tickets({name}) must be empty");
        } else {
            assert!(
                !got.is_empty() && got.len() < all,
                "list_tickets({name}) must filter: {}",
                got.len()
            );
        }
    }

    // The limit caps the page.
    let got = store
        .list_tickets(&TicketQuery::all(3))
        .await
        .expect("list_tickets");
    assert_eq!(got, expected_list(&tickets, &TicketQuery::all(3)));
    assert!(
        store
            .list_tickets(&TicketQuery::all(0))
            .await
            .expect("list_tickets")
            .is_empty()
    );
}

fn ids(tickets: &[Ticket]) -> Vec<TicketId> {
    tickets.iter().map(|t| t.id).collect()
}

/// Keyset paging with the `(create_time, id)` cursor of the last row walks
/// every matching ticket exactly once, in order — including tickets that
/// share a `create_time`, which the id breaks ties between.
pub async fn list_tickets_pages_without_gaps_or_duplicates(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tickets = seed_tickets(store).await;
    let same: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| t.create_time == same_instant())
        .collect();
    assert_eq!(same.len(), 6, "fixture has tickets sharing a create_time");

    let queries = filter_queries(&tickets);
    let chosen = [
        "no filter",
        "region prefix 3301",
        "states dispatched|in_progress",
        "created at the shared instant",
        "scope region 1101 or unit market-regulation",
        "caller phone 13800131234",
    ];
    for (name, q) in queries
        .into_iter()
        .filter(|(n, _)| chosen.contains(&n.as_str()))
    {
        let expected = expected_list(&tickets, &q);
        assert!(!expected.is_empty(), "{name}: fixture selects something");
        for size in [1_u32, 2, 4, 5, 7, 1000] {
            let mut walked: Vec<Ticket> = Vec::new();
            let mut cursor = None;
            loop {
                let mut page_query = q.clone();
                page_query.after = cursor;
                page_query.limit = size;
                let page = store
                    .list_tickets(&page_query)
                    .await
                    .expect("list_tickets page");
                assert!(
                    page.len() <= size as usize,
                    "{name}/{size}: page within limit"
                );
                assert_eq!(
                    page,
                    expected_list(&tickets, &page_query),
                    "{name}/{size}: page content"
                );
                let Some(last) = page.last() else { break };
                cursor = Some(TicketCursor {
                    create_time: last.create_time,
                    id: last.id,
                });
                let short = page.len() < size as usize;
                walked.extend(page);
                assert!(
                    walked.len() <= expected.len(),
                    "{name}/{size}: paging repeats rows"
                );
                if short {
                    break;
                }
            }
            let unique: HashSet<TicketId> = walked.iter().map(|t| t.id).collect();
            assert_eq!(
                unique.len(),
                walked.len(),
                "{name}/{size}: no duplicates across pages"
            );
            assert_eq!(
                ids(&walked),
                ids(&expected),
                "{name}/{size}: no gaps, newest first"
            );
        }
    }

    // A cursor in the middle of the shared instant continues with the rest of
    // that instant (smaller ids) and then older tickets.
    let mut same_sorted = same.clone();
    same_sorted.sort_by_key(|t| std::cmp::Reverse(t.id));
    let pivot = same_sorted[2];
    let mut q = TicketQuery::all(1000);
    q.after = Some(TicketCursor {
        create_time: pivot.create_time,
        id: pivot.id,
    });
    let got = store.list_tickets(&q).await.expect("list_tickets");
    let rest_of_instant: Vec<TicketId> = same_sorted[3..].iter().map(|t| t.id).collect();
    assert_eq!(
        ids(&got[..3]),
        rest_of_instant,
        "the cursor's instant continues by id"
    );
    assert_eq!(ids(&got), ids(&expected_list(&tickets, &q)));
}

// ---------------------------------------------------------------------------
// PII access log
// ---------------------------------------------------------------------------

/// Every recorded PII access counts for its ticket only; an access to an
/// unknown ticket is rejected (`NotFound`).
pub async fn pii_access_is_logged_per_ticket(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (a, _) = create_at(store, full_intake(), t0(), None).await;
    let (b, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    assert_eq!(store.count_pii_access(a.id).await.expect("count"), 0);
    for (i, purpose) in ["GetTicket", "GetTicket", "LookupCaller"]
        .into_iter()
        .enumerate()
    {
        store
            .record_pii_access(&PiiAccess {
                subject: "agent-0001".into(),
                ticket_id: a.id,
                purpose,
                time: t0() + micros(10 + i as i64),
            })
            .await
            .expect("record_pii_access");
    }
    store
        .record_pii_access(&PiiAccess {
            subject: "supervisor-1".into(),
            ticket_id: b.id,
            purpose: "GetTicket",
            time: t0() + micros(20),
        })
        .await
        .expect("record_pii_access");
    assert_eq!(store.count_pii_access(a.id).await.expect("count"), 3);
    assert_eq!(store.count_pii_access(b.id).await.expect("count"), 1);

    let unknown = TicketId::generate(chrono::DateTime::UNIX_EPOCH);
    let result = store
        .record_pii_access(&PiiAccess {
            subject: "agent-0001".into(),
            ticket_id: unknown,
            purpose: "GetTicket",
            time: t0(),
        })
        .await;
    assert!(
        is_not_found(&result),
        "PII access of an unknown ticket must be NotFound, got {result:?}"
    );
    assert_eq!(store.count_pii_access(unknown).await.expect("count"), 0);
}

// ---------------------------------------------------------------------------
// Directory
// ---------------------------------------------------------------------------

/// Units round-trip; ids are unique (`AlreadyExists`); a parent must exist
/// (`NotFound`); lists order by id and filter by region prefix and kind, and
/// page with `after`.
pub async fn units_create_get_and_list(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut units = vec![
        unit("market-regulation", UnitKind::Department, "330100", None),
        unit("d330106", UnitKind::District, "330106", None),
        unit("s330106001", UnitKind::Street, "330106001", Some("d330106")),
        unit("s330106002", UnitKind::Street, "330106002", Some("d330106")),
        unit("d330102", UnitKind::District, "330102", None),
        unit(
            "water-company",
            UnitKind::Company,
            "330100",
            Some("market-regulation"),
        ),
        unit("bj-market", UnitKind::Department, "110000", None),
    ];
    units[0].create_time = utc(2026, 1, 1, 0, 0, 0, 1);
    units[1].display_name = "西湖区人民政府 \"West Lake\"".into();
    for u in &units {
        store.create_unit(u, None).await.expect("create_unit");
    }
    for u in &units {
        assert_eq!(
            &store.get_unit(&u.id).await.expect("get_unit"),
            u,
            "unit round-trips"
        );
    }

    let mut duplicate = unit("d330106", UnitKind::Company, "110000", None);
    duplicate.display_name = "other".into();
    let result = store.create_unit(&duplicate, None).await;
    assert!(
        is_already_exists(&result),
        "duplicate unit id must be AlreadyExists, got {result:?}"
    );
    assert_eq!(
        store.get_unit(&duplicate.id).await.expect("get_unit"),
        units[1],
        "unchanged"
    );

    let orphan = unit(
        "orphan-street",
        UnitKind::Street,
        "330106003",
        Some("no-such-parent"),
    );
    let result = store.create_unit(&orphan, None).await;
    assert!(
        is_not_found(&result),
        "unknown parent must be NotFound, got {result:?}"
    );
    assert!(
        is_not_found(&store.get_unit(&orphan.id).await),
        "the orphan is not stored"
    );

    let mut sorted = units.clone();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let select = |prefix: Option<&str>, kind: Option<UnitKind>| -> Vec<Unit> {
        sorted
            .iter()
            .filter(|u| prefix.is_none_or(|p| u.region_code.within(p)))
            .filter(|u| kind.is_none_or(|k| u.kind == k))
            .cloned()
            .collect()
    };
    let cases: [(Option<&str>, Option<UnitKind>, usize); 8] = [
        (None, None, 7),
        (Some("3301"), None, 6),
        (Some("330106"), None, 3),
        (Some("330106001"), None, 1),
        (Some("9"), None, 0),
        (None, Some(UnitKind::Street), 2),
        (Some("3301"), Some(UnitKind::Department), 1),
        (Some("11"), Some(UnitKind::District), 0),
    ];
    for (prefix, kind, count) in cases {
        let expected = select(prefix, kind);
        assert_eq!(expected.len(), count, "fixture for {prefix:?}/{kind:?}");
        let got = store
            .list_units(prefix, kind, None, 100)
            .await
            .expect("list_units");
        assert_eq!(got, expected, "list_units({prefix:?}, {kind:?})");
        for size in [1_u32, 2, 3] {
            let mut walked: Vec<Unit> = Vec::new();
            loop {
                let after = walked.last().map(|u| u.id.clone());
                let page = store
                    .list_units(prefix, kind, after.as_ref(), size)
                    .await
                    .expect("list_units page");
                assert!(page.len() <= size as usize);
                let short = page.len() < size as usize;
                walked.extend(page);
                assert!(walked.len() <= expected.len(), "unit paging repeats rows");
                if short {
                    break;
                }
            }
            assert_eq!(
                walked, expected,
                "paging units {prefix:?}/{kind:?} by {size}"
            );
        }
    }
}

/// Regions round-trip; codes are unique (`AlreadyExists`); a parent must
/// exist (`NotFound`); lists order by code, filter by prefix and page with
/// `after`.
pub async fn regions_create_get_and_list(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let r = |code: &str, name: &str, parent: Option<&str>| Region {
        code: region(code),
        display_name: name.into(),
        parent: parent.map(region),
    };
    let regions = vec![
        r("330000", "浙江省", None),
        r("330100", "杭州市", Some("330000")),
        r("330106", "西湖区", Some("330100")),
        r("330106001", "北山街道", Some("330106")),
        r("330106001001", "某社区", Some("330106001")),
        r("330102", "上城区", Some("330100")),
        r("110000", "北京市", None),
        r("110101", "东城区", Some("110000")),
    ];
    for region in &regions {
        store.create_region(region).await.expect("create_region");
    }
    for region in &regions {
        assert_eq!(
            &store.get_region(&region.code).await.expect("get_region"),
            region
        );
    }

    let result = store.create_region(&r("330106", "duplicate", None)).await;
    assert!(
        is_already_exists(&result),
        "duplicate region must be AlreadyExists, got {result:?}"
    );
    assert_eq!(
        store
            .get_region(&region("330106"))
            .await
            .expect("get_region"),
        regions[2]
    );

    let result = store
        .create_region(&r("440100", "广州市", Some("440000")))
        .await;
    assert!(
        is_not_found(&result),
        "unknown parent must be NotFound, got {result:?}"
    );
    assert!(is_not_found(&store.get_region(&region("440100")).await));

    let mut sorted = regions.clone();
    sorted.sort_by(|a, b| a.code.cmp(&b.code));
    for (prefix, count) in [
        (None, 8),
        (Some("33"), 6),
        (Some("3301"), 5),
        (Some("330106"), 3),
        (Some("11"), 2),
        (Some("4"), 0),
    ] {
        let expected: Vec<Region> = sorted
            .iter()
            .filter(|r| prefix.is_none_or(|p| r.code.within(p)))
            .cloned()
            .collect();
        assert_eq!(expected.len(), count, "fixture for {prefix:?}");
        assert_eq!(
            store
                .list_regions(prefix, None, 100)
                .await
                .expect("list_regions"),
            expected,
            "list_regions({prefix:?})"
        );
        for size in [1_u32, 3] {
            let mut walked: Vec<Region> = Vec::new();
            loop {
                let after = walked.last().map(|r| r.code.clone());
                let page = store
                    .list_regions(prefix, after.as_ref(), size)
                    .await
                    .expect("page");
                assert!(page.len() <= size as usize);
                let short = page.len() < size as usize;
                walked.extend(page);
                assert!(walked.len() <= expected.len(), "region paging repeats rows");
                if short {
                    break;
                }
            }
            assert_eq!(walked, expected, "paging regions {prefix:?} by {size}");
        }
    }
}

/// Dispatching to a unit that does not exist fails with `NotFound` (the
/// foreign key) and writes nothing: ticket, trail and key stay as they were.
pub async fn dispatch_to_unknown_unit_fails_and_writes_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (ticket, created) = create_at(store, full_intake(), t0(), None).await;
    let bad = ticket
        .apply(
            Action::Dispatch {
                unit: unit_id("no-such-unit"),
                note: String::new(),
            },
            &agent(),
            t0() + micros(1),
        )
        .expect("the domain does not know the directory");
    let result = store
        .apply_transition(
            1,
            &bad,
            Some(key("agent-0001", "dispatch-1", "DispatchTicket")),
        )
        .await;
    assert!(
        is_not_found(&result),
        "dispatch to an unknown unit must be NotFound, got {result:?}"
    );
    assert_stored(store, &ticket, "after a failed dispatch").await;
    assert_eq!(all_events(store, ticket.id).await, vec![created]);
    assert_eq!(
        store
            .find_idempotent("agent-0001", "dispatch-1")
            .await
            .expect("find"),
        None
    );

    // The ticket is still at version 1 and can be dispatched properly.
    let good = step(
        store,
        &ticket,
        Action::Dispatch {
            unit: unit_id("d330106"),
            note: String::new(),
        },
        &agent(),
        t0() + micros(2),
    )
    .await;
    assert_stored(store, &good.ticket, "after the corrected dispatch").await;
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

/// 50 writers race to apply a transition to the same version: exactly one
/// wins, the other 49 get `Conflict`, and the trail gains exactly one event —
/// the winner's.
pub async fn concurrent_transitions_admit_exactly_one(store: Arc<dyn Store>) {
    const WRITERS: i64 = 50;
    seed_units(store.as_ref()).await;
    let (ticket, created) = create_at(store.as_ref(), full_intake(), t0(), None).await;
    let units = ["market-regulation", "d330106", "s330106001"];

    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let transition = ticket
            .apply(
                Action::Dispatch {
                    unit: unit_id(units[i as usize % units.len()]),
                    note: format!("writer {i}"),
                },
                &agent(),
                t0() + micros(i + 1),
            )
            .expect("dispatch");
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let result = store.apply_transition(1, &transition, None).await;
            (transition, result)
        }));
    }
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let (transition, result) = task.await.expect("task");
        match result {
            Ok(()) => winners.push(transition),
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("a losing writer must get Conflict, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    assert_eq!(conflicts, WRITERS - 1, "every other writer conflicts");
    let winner = &winners[0];
    assert_stored(store.as_ref(), &winner.ticket, "after the race").await;
    assert_eq!(
        all_events(store.as_ref(), ticket.id).await,
        vec![created, winner.event.clone()],
        "exactly one new event, the winner's"
    );
}
