use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::{
    DomainError, TicketId,
    access::{Principal, Role},
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

fn hotspot(area: &str, state: HotspotState) -> Hotspot {
    let seed = TicketId::generate(t0());
    Hotspot {
        id: HotspotId::generate(t0()),
        seed_ticket: seed,
        state,
        merged_into: None,
        area: area.into(),
        district: area[..6].into(),
        subject: "01".into(),
        heat: Heat {
            count: 4,
            recent: 4,
            growth: 2,
            callers: 4,
            first: t0(),
            last: t0(),
            areas: vec![area.into()],
            top_words: vec!["水管".into()],
            examples: vec![seed],
        },
        tickets: vec![seed],
        merged_from: Vec::new(),
        supervision: SupervisionItem::opened(t0()),
        note: None,
        create_time: t0(),
        update_time: t0(),
        change_seq: 1,
        create_seq: 1,
    }
}

fn who(role: Role, region: Option<&str>) -> Principal {
    Principal {
        subject: format!("{role}-1"),
        roles: vec![role],
        unit: (role == Role::UnitHandler).then(|| crate::UnitId::parse("water").unwrap()),
        region: region.map(Into::into),
    }
}

fn confirm() -> HotspotAction {
    HotspotAction::Confirm {
        note: "  派水务集团抢修 ".into(),
    }
}

fn dismiss(reason: &str) -> HotspotAction {
    HotspotAction::Dismiss {
        reason: reason.into(),
    }
}

fn kind(e: DomainError) -> String {
    match e {
        DomainError::InvalidField { field, .. } => format!("invalid {field}"),
        DomainError::PreconditionFailed { kind, .. } => kind.into(),
        DomainError::PermissionDenied(_) => "denied".into(),
        DomainError::IllegalTransition { .. } => "illegal".into(),
    }
}

#[test]
fn the_first_response_is_due_five_natural_hours_after_detection() {
    let item = SupervisionItem::opened(t0());
    assert_eq!(item.deadline, t0() + Duration::hours(5));
    assert!(!item.is_overdue(t0() + Duration::hours(5)));
    assert!(item.is_overdue(t0() + Duration::hours(5) + Duration::seconds(1)));
    let answered = SupervisionItem {
        response_time: Some(t0() + Duration::hours(1)),
        responder: Some("sup".into()),
        ..item
    };
    assert!(!answered.is_overdue(t0() + Duration::hours(9)));
}

#[test]
fn a_detected_hotspot_is_confirmed_dismissed_or_merged_once() {
    let sup = who(Role::Supervisor, Some("3301"));
    let h = hotspot("330106001", HotspotState::Detected);
    let confirmed = h.decide(&sup, &confirm(), None).unwrap();
    assert_eq!(confirmed.state, HotspotState::Confirmed);
    assert_eq!(confirmed.note.as_deref(), Some("派水务集团抢修"), "trimmed");
    let dismissed = h.decide(&sup, &dismiss("巧合"), None).unwrap();
    assert_eq!(
        (dismissed.state, dismissed.event),
        (HotspotState::Dismissed, HotspotEventKind::Dismissed)
    );
    let target = hotspot("330106002", HotspotState::Confirmed);
    let merge = HotspotAction::MergeInto { target: target.id };
    let merged = h.decide(&sup, &merge, Some(&target)).unwrap();
    assert_eq!(merged.merged_into, Some(target.id));

    let done = Hotspot {
        state: HotspotState::Confirmed,
        ..h.clone()
    };
    assert_eq!(
        kind(done.decide(&sup, &confirm(), None).unwrap_err()),
        "HOTSPOT_STATE"
    );
    assert_eq!(
        kind(done.decide(&sup, &dismiss("x"), None).unwrap_err()),
        "HOTSPOT_STATE"
    );
    assert!(
        done.decide(&sup, &merge, Some(&target)).is_ok(),
        "a confirmed split still folds into its twin"
    );
}

#[test]
fn bad_input_names_its_field() {
    let sup = who(Role::Admin, None);
    let h = hotspot("330106001", HotspotState::Detected);
    assert_eq!(
        kind(h.decide(&sup, &dismiss("  "), None).unwrap_err()),
        "invalid reason"
    );
    let long = "很".repeat(MAX_NOTE_CHARS + 1);
    assert_eq!(
        kind(h.decide(&sup, &dismiss(&long), None).unwrap_err()),
        "invalid reason"
    );
    let note = HotspotAction::Confirm { note: long };
    assert_eq!(
        kind(h.decide(&sup, &note, None).unwrap_err()),
        "invalid note"
    );
    let itself = HotspotAction::MergeInto { target: h.id };
    assert_eq!(
        kind(h.decide(&sup, &itself, Some(&h)).unwrap_err()),
        "invalid target"
    );
}

#[test]
fn merging_into_a_closed_hotspot_is_a_state_error() {
    let sup = who(Role::Admin, None);
    let h = hotspot("330106001", HotspotState::Detected);
    for state in [HotspotState::Dismissed, HotspotState::Merged] {
        let target = hotspot("330106001", state);
        let merge = HotspotAction::MergeInto { target: target.id };
        assert_eq!(
            kind(h.decide(&sup, &merge, Some(&target)).unwrap_err()),
            "HOTSPOT_STATE"
        );
    }
}

#[test]
fn only_the_centre_decides_and_a_supervisor_only_in_its_region() {
    let h = hotspot("330106001", HotspotState::Detected);
    for role in [Role::Agent, Role::UnitHandler, Role::Auditor] {
        assert_eq!(
            kind(h.decide(&who(role, None), &confirm(), None).unwrap_err()),
            "denied",
            "{role}"
        );
    }
    let elsewhere = who(Role::Supervisor, Some("330108"));
    assert_eq!(
        kind(h.decide(&elsewhere, &confirm(), None).unwrap_err()),
        "denied"
    );
    let here = who(Role::Supervisor, Some("330106"));
    assert!(h.decide(&here, &confirm(), None).is_ok());
    let far = hotspot("330108001", HotspotState::Detected);
    let merge = HotspotAction::MergeInto { target: far.id };
    assert_eq!(
        kind(h.decide(&here, &merge, Some(&far)).unwrap_err()),
        "denied",
        "the target too must be in the region"
    );
}

#[test]
fn readers_see_hotspots_of_their_area_at_most() {
    assert_eq!(
        AreaScope::of_reader(&who(Role::Agent, None), None),
        Ok(AreaScope::All)
    );
    let sup = AreaScope::of_reader(&who(Role::Supervisor, Some("330106")), None).unwrap();
    assert!(sup.covers("330106001") && !sup.covers("330108001"));
    let unit = AreaScope::of_reader(&who(Role::UnitHandler, None), Some("330106001")).unwrap();
    assert!(unit.covers("330106001") && !unit.covers("330106002"));
    assert!(
        !unit.covers("330106"),
        "a district's hotspot is wider than a street unit"
    );
    assert!(AreaScope::of_reader(&who(Role::UnitHandler, None), None).is_err());
    assert!(AreaScope::of_reader(&who(Role::Auditor, None), None).is_err());
}

#[test]
fn ids_round_trip_their_names() {
    let id = HotspotId::generate(t0());
    assert_eq!(HotspotId::from_name(&id.name()), Ok(id));
    assert!(HotspotId::from_name("tickets/x").is_err());
    assert!(HotspotId::parse("nope").is_err());
}

fn action() -> impl Strategy<Value = u8> {
    0_u8..4
}

proptest! {
    /// No sequence of decisions leaves a final state or reaches one by
    /// another way than the rules say: dismissed and merged are final,
    /// confirmed is reached from detected only, merged always names its
    /// target.
    #[test]
    fn no_sequence_of_decisions_breaks_the_lifecycle(
        actions in prop::collection::vec(action(), 1..12)
    ) {
        let admin = who(Role::Admin, None);
        let target = hotspot("330106002", HotspotState::Detected);
        let mut h = hotspot("330106001", HotspotState::Detected);
        for a in actions {
            let action = match a {
                0 => confirm(),
                1 => dismiss("巧合"),
                2 => HotspotAction::MergeInto { target: target.id },
                _ => HotspotAction::Confirm { note: String::new() },
            };
            let before = h.state;
            match h.decide(&admin, &action, Some(&target)) {
                Ok(d) => {
                    prop_assert!(before.is_open(), "{before} is final");
                    prop_assert_ne!(d.state, HotspotState::Detected);
                    if d.state == HotspotState::Confirmed {
                        prop_assert_eq!(before, HotspotState::Detected);
                    }
                    prop_assert_eq!(d.state == HotspotState::Merged, d.merged_into.is_some());
                    h.state = d.state;
                    h.merged_into = d.merged_into;
                }
                Err(e) => prop_assert_eq!(kind(e), "HOTSPOT_STATE"),
            }
        }
    }
}
