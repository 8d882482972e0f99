//! Roles, scopes and caller masking.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::{
    ids::RegionCode,
    ticket::{Channel, Intake, RequestType, Urgency},
};

const ALL_OPERATIONS: [Operation; 19] = [
    Operation::Intake,
    Operation::CentreDecision,
    Operation::UnitHandling,
    Operation::ReadTickets,
    Operation::ManageDirectory,
    Operation::ReadDirectory,
    Operation::AddNote,
    Operation::ManageRouting,
    Operation::ExplainRouting,
    Operation::FreezeMetrics,
    Operation::AuditPiiAccess,
    Operation::ManageWebhooks,
    Operation::UploadAttachment,
    Operation::DeleteAttachment,
    Operation::DraftArticles,
    Operation::ReviewArticles,
    Operation::ReadArticles,
    Operation::ReadHotspots,
    Operation::DecideHotspots,
];

fn unit(id: &str) -> UnitId {
    UnitId::parse(id).unwrap()
}

fn principal(roles: &[Role], unit_id: Option<&str>, region: Option<&str>) -> Principal {
    Principal {
        subject: "user-1".into(),
        roles: roles.to_vec(),
        unit: unit_id.map(unit),
        region: region.map(str::to_owned),
    }
}

fn agent() -> Principal {
    principal(&[Role::Agent], None, None)
}

fn admin() -> Principal {
    principal(&[Role::Admin], None, None)
}

fn supervisor(region: Option<&str>) -> Principal {
    principal(&[Role::Supervisor], None, region)
}

fn handler(unit_id: Option<&str>) -> Principal {
    principal(&[Role::UnitHandler], unit_id, None)
}

fn caller() -> Caller {
    Caller::parse("张三丰", "13800131234", false).unwrap()
}

/// A ticket in `region`, dispatched to `lead` if given.
fn ticket(region: &str, lead: Option<&str>, request_type: RequestType) -> Ticket {
    let intake = Intake {
        channel: Channel::Phone,
        legacy_hotline: None,
        caller: caller(),
        confidential: false,
        request_type,
        urgency: Urgency::Normal,
        subject_code: None,
        region_code: RegionCode::parse(region).unwrap(),
        address: "文三路 90 号".into(),
        title: "噪音扰民".into(),
        description: "夜间施工".into(),
    };
    let now = Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, 0).unwrap();
    let mut ticket = Ticket::accept(intake, "20250303000001".into(), &agent(), now).ticket;
    ticket.lead_unit = lead.map(unit);
    ticket
}

fn complaint(region: &str, lead: Option<&str>) -> Ticket {
    ticket(region, lead, RequestType::Complaint)
}

#[test]
fn authorize_follows_the_role_matrix() {
    use Operation as Op;
    let allowed = |role: Role, op: Operation| match op {
        Op::Intake => matches!(role, Role::Agent | Role::Admin),
        Op::CentreDecision => matches!(role, Role::Agent | Role::Supervisor | Role::Admin),
        Op::UnitHandling => role == Role::UnitHandler,
        Op::ReadTickets | Op::ReadDirectory => role != Role::Auditor,
        Op::ManageDirectory | Op::ManageRouting | Op::FreezeMetrics | Op::ManageWebhooks => {
            role == Role::Admin
        }
        Op::AddNote => role != Role::Auditor,
        Op::ExplainRouting => matches!(role, Role::Agent | Role::Supervisor | Role::Admin),
        Op::AuditPiiAccess => matches!(role, Role::Auditor | Role::Admin),
        Op::UploadAttachment => role != Role::Auditor,
        Op::DeleteAttachment => matches!(role, Role::Agent | Role::Supervisor | Role::Admin),
        Op::DraftArticles => matches!(role, Role::UnitHandler | Role::Admin),
        Op::ReviewArticles => matches!(role, Role::Supervisor | Role::Admin),
        Op::ReadArticles | Op::ReadHotspots => !matches!(role, Role::Auditor),
        Op::DecideHotspots => matches!(role, Role::Supervisor | Role::Admin),
    };
    let mut granted = 0;
    for &role in Role::ALL {
        let p = principal(&[role], Some("water-works"), Some("3301"));
        for op in ALL_OPERATIONS {
            let result = p.authorize(op);
            assert_eq!(result.is_ok(), allowed(role, op), "{role} {op:?}");
            if let Err(err) = result {
                assert!(matches!(err, DomainError::PermissionDenied(_)), "{err:?}");
            } else {
                granted += 1;
            }
        }
    }
    assert_eq!(granted, 48);
}

#[test]
fn authorize_names_the_roles_needed_and_unions_multiple_roles() {
    let err = handler(Some("water-works"))
        .authorize(Operation::Intake)
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::PermissionDenied("requires one of the roles agent, admin".into())
    );
    let err = agent().authorize(Operation::ManageDirectory).unwrap_err();
    assert_eq!(
        err.to_string(),
        "permission denied: requires one of the roles admin"
    );

    let nobody = principal(&[], None, None);
    for op in ALL_OPERATIONS {
        assert!(nobody.authorize(op).is_err(), "{op:?}");
    }
    let both = principal(
        &[Role::UnitHandler, Role::Supervisor],
        Some("water-works"),
        Some("33"),
    );
    for op in [
        Operation::UnitHandling,
        Operation::CentreDecision,
        Operation::ReadTickets,
    ] {
        assert_eq!(both.authorize(op), Ok(()), "{op:?}");
    }
    for op in [Operation::Intake, Operation::ManageDirectory] {
        assert!(both.authorize(op).is_err(), "{op:?}");
    }
}

#[test]
fn acting_role_is_the_first_role() {
    let p = principal(&[Role::Supervisor, Role::Admin], None, Some("33"));
    assert_eq!(p.acting_role(), Role::Supervisor);
    assert!(p.has(Role::Admin) && !p.has(Role::Agent));
}

#[test]
fn row_scope_per_role() {
    let t = complaint("330106001", Some("water-works"));
    let cases = [
        ("agent", agent(), true),
        ("admin", admin(), true),
        ("supervisor of the city", supervisor(Some("3301")), true),
        (
            "supervisor of the district",
            supervisor(Some("330106")),
            true,
        ),
        (
            "supervisor of the exact township",
            supervisor(Some("330106001")),
            true,
        ),
        (
            "supervisor of another city",
            supervisor(Some("3302")),
            false,
        ),
        (
            "supervisor of a sibling township",
            supervisor(Some("330106002")),
            false,
        ),
        ("supervisor without region", supervisor(None), false),
        ("lead unit", handler(Some("water-works")), true),
        ("other unit", handler(Some("market-regulation")), false),
        ("unit user without unit", handler(None), false),
        (
            "no roles",
            principal(&[], Some("water-works"), Some("33")),
            false,
        ),
        (
            "region but not supervisor",
            principal(&[Role::UnitHandler], None, Some("33")),
            false,
        ),
        (
            "unit but not handler",
            principal(&[Role::Supervisor], Some("water-works"), None),
            false,
        ),
        (
            "handler of another unit who also supervises",
            principal(
                &[Role::UnitHandler, Role::Supervisor],
                Some("market-regulation"),
                Some("3301"),
            ),
            true,
        ),
    ];
    for (name, p, visible) in cases {
        assert_eq!(p.can_see(&t), visible, "{name}");
    }
}

#[test]
fn undispatched_tickets_are_invisible_to_every_unit() {
    let t = complaint("330106", None);
    assert!(!handler(None).can_see(&t), "None == None must not match");
    assert!(!handler(Some("water-works")).can_see(&t));
    assert!(!handler(None).is_lead_unit_of(&t));
    assert!(agent().can_see(&t));
}

#[test]
fn lead_unit_needs_the_unit_handler_role() {
    let t = complaint("330106", Some("water-works"));
    assert!(handler(Some("water-works")).is_lead_unit_of(&t));
    assert!(!handler(Some("market-regulation")).is_lead_unit_of(&t));
    assert!(!principal(&[Role::Supervisor], Some("water-works"), Some("33")).is_lead_unit_of(&t));
    assert!(!agent().is_lead_unit_of(&t));
}

#[test]
fn list_scope_per_role() {
    let limited = |region: Option<&str>, unit_id: Option<&str>| ListScope::Limited {
        region_prefix: region.map(str::to_owned),
        unit: unit_id.map(unit),
    };
    let cases = [
        (agent(), ListScope::All),
        (admin(), ListScope::All),
        (
            principal(&[Role::UnitHandler, Role::Agent], Some("water-works"), None),
            ListScope::All,
        ),
        (supervisor(Some("3301")), limited(Some("3301"), None)),
        (supervisor(None), limited(None, None)),
        (
            handler(Some("water-works")),
            limited(None, Some("water-works")),
        ),
        (handler(None), limited(None, None)),
        (
            principal(&[Role::UnitHandler], Some("water-works"), Some("33")),
            limited(None, Some("water-works")),
        ),
        (
            principal(&[Role::Supervisor], Some("water-works"), Some("33")),
            limited(Some("33"), None),
        ),
        (
            principal(
                &[Role::Supervisor, Role::UnitHandler],
                Some("water-works"),
                Some("33"),
            ),
            limited(Some("33"), Some("water-works")),
        ),
        (
            principal(&[], Some("water-works"), Some("33")),
            limited(None, None),
        ),
    ];
    for (p, expected) in cases {
        assert_eq!(p.list_scope(), expected, "{:?}", p.roles);
    }
}

fn some_unit() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(vec![
        "water-works",
        "market-regulation",
    ]))
}

/// How a store applies a list scope, as `ListScope` documents it.
fn scope_admits(scope: &ListScope, t: &Ticket) -> bool {
    match scope {
        ListScope::All => true,
        ListScope::Limited {
            region_prefix,
            unit,
        } => {
            region_prefix
                .as_deref()
                .is_some_and(|r| t.intake.region_code.within(r))
                || unit.is_some() && *unit == t.lead_unit
        }
    }
}

proptest! {
    /// A list must show exactly the tickets a single read would allow.
    #[test]
    fn list_scope_agrees_with_can_see(
        roles in prop::sample::subsequence(Role::ALL.to_vec(), 0..=4),
        unit_id in some_unit(),
        region in prop::option::of(prop::sample::select(vec!["33", "3301", "330106", "3302"])),
        ticket_region in prop::sample::select(vec!["330106", "330106001", "330205", "110101"]),
        lead in some_unit(),
    ) {
        let p = principal(&roles, unit_id, region);
        let t = complaint(ticket_region, lead);
        prop_assert_eq!(p.can_see(&t), scope_admits(&p.list_scope(), &t), "{:?}", p);
    }
}

#[test]
fn unit_users_see_the_caller_masked() {
    let t = complaint("330106", Some("water-works"));
    let unit_user = handler(Some("water-works"));
    for single in [true, false] {
        assert_eq!(
            caller_visibility(&unit_user, &t, single),
            CallerVisibility::Masked
        );
    }
    let view = view_caller(&t.intake.caller, CallerVisibility::Masked);
    assert_eq!(view.phone, "138****1234");
    assert_eq!(view.name, "张**");
    assert!(!view.anonymous);
}

#[test]
fn confidential_tickets_withhold_the_caller_from_units() {
    let mut flagged = complaint("330106", Some("water-works"));
    flagged.intake.confidential = true;
    let report = ticket("330106", Some("water-works"), RequestType::Report);
    assert!(report.intake.confidential);
    let unit_user = handler(Some("water-works"));
    for t in [&flagged, &report] {
        for single in [true, false] {
            assert_eq!(
                caller_visibility(&unit_user, t, single),
                CallerVisibility::Withheld
            );
        }
    }
    let view = view_caller(&report.intake.caller, CallerVisibility::Withheld);
    assert_eq!(
        view,
        CallerView {
            name: String::new(),
            phone: String::new(),
            anonymous: false
        }
    );
}

#[test]
fn centre_staff_see_the_caller_in_full_only_on_single_reads() {
    let mut t = complaint("330106", Some("water-works"));
    t.intake.confidential = true;
    let staff = [
        agent(),
        admin(),
        supervisor(Some("3301")),
        principal(&[Role::UnitHandler, Role::Agent], Some("gas-company"), None),
    ];
    let handling_staff = principal(&[Role::UnitHandler, Role::Agent], Some("water-works"), None);
    for single in [true, false] {
        assert_eq!(
            caller_visibility(&handling_staff, &t, single),
            CallerVisibility::Withheld,
            "a unit never sees who reported it, whatever else its user may be"
        );
    }
    for p in &staff {
        assert_eq!(
            caller_visibility(p, &t, true),
            CallerVisibility::Full,
            "{:?}",
            p.roles
        );
        assert_eq!(
            caller_visibility(p, &t, false),
            CallerVisibility::Masked,
            "{:?}",
            p.roles
        );
    }
    let full = view_caller(&t.intake.caller, CallerVisibility::Full);
    assert_eq!(
        (full.name.as_str(), full.phone.as_str()),
        ("张三丰", "13800131234")
    );
    let masked = view_caller(&t.intake.caller, CallerVisibility::Masked);
    assert_eq!(
        (masked.name.as_str(), masked.phone.as_str()),
        ("张**", "138****1234")
    );
}

#[test]
fn merged_callers_are_shown_in_full_only_to_readers_who_may_see_their_ticket() {
    let duplicate = complaint("440305", None);
    for reader in [agent(), admin(), supervisor(Some("4403"))] {
        assert_eq!(
            merged_caller_visibility(&reader, &duplicate),
            CallerVisibility::Full,
            "{:?}",
            reader.roles
        );
    }
    assert_eq!(
        merged_caller_visibility(&supervisor(Some("3301")), &duplicate),
        CallerVisibility::Masked,
        "a supervisor of another region"
    );
    assert_eq!(
        merged_caller_visibility(&handler(Some("water-works")), &duplicate),
        CallerVisibility::Masked
    );
    let mut secret = duplicate.clone();
    secret.intake.confidential = true;
    assert_eq!(
        merged_caller_visibility(&handler(Some("water-works")), &secret),
        CallerVisibility::Withheld
    );
}

#[test]
fn views_of_anonymous_and_landline_callers() {
    let anonymous = Caller::parse("", "0571-87654321", true).unwrap();
    let masked = view_caller(&anonymous, CallerVisibility::Masked);
    assert_eq!(
        masked,
        CallerView {
            name: String::new(),
            phone: "057*****4321".into(),
            anonymous: true
        }
    );
    let withheld = view_caller(&anonymous, CallerVisibility::Withheld);
    assert_eq!(
        withheld,
        CallerView {
            name: String::new(),
            phone: String::new(),
            anonymous: true
        }
    );
    let nothing = Caller::parse("", "", true).unwrap();
    for visibility in [CallerVisibility::Full, CallerVisibility::Masked] {
        let view = view_caller(&nothing, visibility);
        assert_eq!(
            (view.name.as_str(), view.phone.as_str(), view.anonymous),
            ("", "", true)
        );
    }
}

proptest! {
    /// A masked view keeps only the ends of the number and the first
    /// character of the name; a withheld view keeps neither.
    #[test]
    fn masked_and_withheld_views_hide_the_middle(
        second in 3u8..=9,
        rest in "[0-9]{9}",
        name in "[一-龥]{1,4}",
    ) {
        let phone = format!("1{second}{rest}");
        let c = Caller::parse(&name, &phone, false).unwrap();
        let masked = view_caller(&c, CallerVisibility::Masked);
        prop_assert_eq!(&masked.phone, &format!("{}****{}", &phone[..3], &phone[7..]));
        let first: String = name.chars().take(1).collect();
        let stars = "*".repeat(name.chars().count() - 1);
        prop_assert_eq!(&masked.name, &format!("{first}{stars}"));
        let withheld = view_caller(&c, CallerVisibility::Withheld);
        prop_assert_eq!(withheld, CallerView::default());
        let full = view_caller(&c, CallerVisibility::Full);
        prop_assert_eq!((full.name, full.phone), (name, phone));
    }
}

#[test]
fn an_auditor_reads_the_access_log_and_sees_no_ticket() {
    let auditor = principal(&[Role::Auditor], None, None);
    assert!(auditor.authorize(Operation::AuditPiiAccess).is_ok());
    assert!(auditor.authorize(Operation::ReadTickets).is_err());
    assert!(!auditor.can_see(&complaint("330106", None)));
    assert_eq!(
        auditor.list_scope(),
        ListScope::Limited {
            region_prefix: None,
            unit: None
        }
    );
    assert!(!auditor.is_centre_staff(), "no unmasked callers either");
}
