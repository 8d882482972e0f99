//! Upload declarations, content checks and who sees a file.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::{
    Caller, RegionCode, Role, UnitId,
    ticket::{Channel, Intake, RequestType, Urgency},
};

const PDF_SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn limits() -> UploadLimits {
    UploadLimits {
        max_bytes: 1000,
        allowed_types: vec!["application/pdf".into(), "text/plain".into()],
    }
}

fn declared() -> UploadDeclaration {
    UploadDeclaration {
        file_name: " 现场照片.pdf ".into(),
        content_type: "Application/PDF".into(),
        size_bytes: 10,
        sha256: PDF_SHA.to_ascii_uppercase(),
    }
}

/// A change that spoils a valid declaration.
type Spoil = fn(&mut UploadDeclaration);

fn field_of(err: DomainError) -> String {
    match err {
        DomainError::InvalidField { field, .. } => field,
        other => panic!("not a field error: {other:?}"),
    }
}

#[test]
fn a_valid_declaration_is_normalised() {
    let d = declared().validate(&limits()).unwrap();
    assert_eq!(d.file_name, "现场照片.pdf");
    assert_eq!(d.content_type, "application/pdf");
    assert_eq!(d.sha256, PDF_SHA);
}

#[test]
fn declarations_outside_the_limits_name_their_field() {
    let cases: [(Spoil, &str); 9] = [
        (|d| d.file_name = "  ".into(), "file_name"),
        (|d| d.file_name = "../etc/passwd".into(), "file_name"),
        (|d| d.file_name = "a\\b".into(), "file_name"),
        (|d| d.file_name = "x".repeat(256), "file_name"),
        (
            |d| d.content_type = "application/x-msdownload".into(),
            "content_type",
        ),
        (|d| d.size_bytes = 0, "size_bytes"),
        (|d| d.size_bytes = 1001, "size_bytes"),
        (|d| d.sha256 = "abc".into(), "sha256"),
        (|d| d.sha256 = "g".repeat(64), "sha256"),
    ];
    for (spoil, field) in cases {
        let mut d = declared();
        spoil(&mut d);
        let err = d.clone().validate(&limits()).unwrap_err();
        assert_eq!(field_of(err), field, "{d:?}");
    }
    let mut at_limit = declared();
    at_limit.size_bytes = 1000;
    assert!(at_limit.validate(&limits()).is_ok());
}

#[test]
fn content_must_match_size_digest_and_sniffed_type() {
    let d = declared().validate(&limits()).unwrap();
    assert_eq!(
        check_content(&d, 10, PDF_SHA, Some("application/pdf")),
        Ok(())
    );
    let short = check_content(&d, 9, PDF_SHA, Some("application/pdf")).unwrap_err();
    assert_eq!(field_of(short), "size_bytes");
    let corrupt = check_content(&d, 10, &"0".repeat(64), Some("application/pdf")).unwrap_err();
    assert!(corrupt.to_string().contains("corrupt"), "{corrupt}");
    assert_eq!(field_of(corrupt), "sha256");
    let disguised = check_content(&d, 10, PDF_SHA, Some("application/x-executable")).unwrap_err();
    assert_eq!(field_of(disguised), "content_type");
    let unrecognised = check_content(&d, 10, PDF_SHA, None).unwrap_err();
    assert_eq!(field_of(unrecognised), "content_type");

    let mut text = d.clone();
    text.content_type = "text/plain".into();
    assert_eq!(check_content(&text, 10, PDF_SHA, None), Ok(()));
    assert!(check_content(&text, 10, PDF_SHA, Some("application/pdf")).is_err());
}

#[test]
fn names_round_trip_and_reject_other_shapes() {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    let name = AttachmentName {
        ticket: TicketId::generate(now),
        id: AttachmentId::generate(now),
    };
    assert_eq!(AttachmentName::parse(&name.name()), Ok(name));
    for bad in [
        "",
        "attachments/x",
        &format!("tickets/{}", name.ticket),
        &format!("tickets/{}/attachments/", name.ticket),
        &format!("tickets/{}/notes/{}", name.ticket, name.id),
        &format!("tickets/nope/attachments/{}", name.id),
    ] {
        assert!(AttachmentName::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        object_key(name.ticket, name.id),
        format!("attachments/{}/{}", name.ticket, name.id)
    );
}

fn principal(role: Role, unit: Option<&str>) -> Principal {
    Principal {
        subject: "user-1".into(),
        roles: vec![role],
        unit: unit.map(|u| UnitId::parse(u).unwrap()),
        region: (role == Role::Supervisor).then(|| "3301".to_owned()),
    }
}

fn ticket(confidential: bool) -> Ticket {
    let intake = Intake {
        channel: Channel::Phone,
        legacy_hotline: None,
        caller: Caller::parse("张三丰", "13800131234", false).unwrap(),
        confidential,
        request_type: RequestType::Complaint,
        urgency: Urgency::Normal,
        subject_code: None,
        region_code: RegionCode::parse("330106").unwrap(),
        address: "文三路 90 号".into(),
        title: "噪音扰民".into(),
        description: "夜间施工".into(),
    };
    let now = Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, 0).unwrap();
    let mut t = Ticket::accept(
        intake,
        "20250303000001".into(),
        &principal(Role::Agent, None),
        now,
    )
    .ticket;
    t.lead_unit = Some(UnitId::parse("water-works").unwrap());
    t
}

#[test]
fn confidential_files_are_the_centres_unless_shared() {
    let lead = principal(Role::UnitHandler, Some("water-works"));
    let other = principal(Role::UnitHandler, Some("gas-works"));
    let centre = [
        principal(Role::Agent, None),
        principal(Role::Supervisor, None),
        principal(Role::Admin, None),
    ];
    for confidential in [false, true] {
        let t = ticket(confidential);
        for shared in [false, true] {
            assert_eq!(
                lead.can_see_attachment(&t, shared),
                !confidential || shared,
                "lead unit, confidential {confidential}, shared {shared}"
            );
            assert!(!other.can_see_attachment(&t, shared), "a unit out of scope");
            for staff in &centre {
                assert!(staff.can_see_attachment(&t, shared), "{staff:?}");
            }
            let auditor = principal(Role::Auditor, None);
            assert!(!auditor.can_see_attachment(&t, shared));
        }
    }
}

#[test]
fn a_units_upload_is_always_shared() {
    let lead = principal(Role::UnitHandler, Some("water-works"));
    assert!(lead.shares_upload(false));
    let agent = principal(Role::Agent, None);
    assert!(!agent.shares_upload(false));
    assert!(agent.shares_upload(true));
}

proptest! {
    /// Whatever a client sends as a file name, what is kept is never a
    /// path: no separator, no control character, not `.`/`..`, bounded.
    #[test]
    fn kept_file_names_are_never_paths(raw in "\\PC{0,300}|[./\\\\a-z\\x00-\\x1f]{0,12}") {
        let mut d = declared();
        d.file_name = raw;
        if let Ok(valid) = d.validate(&limits()) {
            let name = valid.file_name;
            prop_assert!(!name.is_empty() && name.len() <= MAX_FILE_NAME_BYTES);
            prop_assert!(!name.contains('/') && !name.contains('\\'));
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert!(name != "." && name != "..");
        }
    }

    /// A digest is accepted exactly when it is 64 hex digits, in any case.
    #[test]
    fn digests_are_64_hex_digits(raw in "[0-9a-fA-FxX]{60,68}") {
        let mut d = declared();
        d.sha256 = raw.clone();
        let ok = raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit());
        prop_assert_eq!(d.validate(&limits()).is_ok(), ok);
    }
}
