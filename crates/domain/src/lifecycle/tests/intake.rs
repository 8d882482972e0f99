//! Intake dispositions and intake corrections.

use super::*;
use crate::lifecycle::UPDATABLE_FIELDS;

#[test]
fn intake_dispositions_record_what_the_caller_was_told() {
    let resolved = step(&fresh(), resolve());
    assert_eq!(resolved.outcome.intake_answer.as_deref(), Some("已解答"));
    assert_eq!((resolved.lead_unit, resolved.dispatch_count), (None, 0));

    for &service in EmergencyService::ALL {
        let t = step(&fresh(), transfer(service));
        assert_eq!(t.state, S::TransferredEmergency);
        assert_eq!(t.outcome.emergency_service, Some(service));
        assert_eq!(t.outcome.disposition_note.as_deref(), Some("移交"));
    }
    for &channel in LegalChannel::ALL {
        let t = step(&fresh(), not_accepted(channel));
        assert_eq!(t.state, S::NotAccepted);
        assert_eq!(t.outcome.legal_channel, Some(channel));
        assert_eq!(t.outcome.disposition_note.as_deref(), Some("告知渠道"));
    }
}

#[test]
fn a_report_is_confidential_whatever_the_agent_ticks() {
    let created = accept(RequestType::Report, false);
    assert!(created.ticket.intake.confidential);
    assert_eq!(payload(&created.event)["confidential"], true);
    assert!(!fresh().intake.confidential);

    let report = created.ticket;
    let as_report = intake(RequestType::Report, false);
    let cleared = step(&report, patch(as_report.clone(), &["confidential"]));
    assert!(
        cleared.intake.confidential,
        "unticking confidential on a report"
    );

    let retyped = step(&fresh(), patch(as_report.clone(), &["request_type"]));
    assert_eq!(retyped.intake.request_type, RequestType::Report);
    assert!(retyped.intake.confidential, "changing the type to report");

    let both = step(
        &fresh(),
        patch(as_report, &["confidential", "request_type"]),
    );
    assert!(both.intake.confidential, "type and flag together");

    let complaint = intake(RequestType::Complaint, false);
    let demoted = step(&report, patch(complaint.clone(), &["request_type"]));
    assert!(
        demoted.intake.confidential,
        "a former report stays confidential unless unticked"
    );

    let ordinary = accept(RequestType::Complaint, true).ticket;
    let unticked = step(&ordinary, patch(complaint, &["confidential"]));
    assert!(
        !unticked.intake.confidential,
        "a complaint's flag is the agent's choice"
    );
}

#[test]
fn update_takes_only_the_masked_fields() {
    let original = fresh();
    let mut other = intake(RequestType::Suggestion, true);
    other.caller = Caller::parse("李四", "13900001111", false).unwrap();
    other.channel = Channel::Web;
    other.legacy_hotline = Some("12315".into());
    other.urgency = Urgency::Urgent;
    other.subject_code = None;
    other.region_code = RegionCode::parse("330106001").unwrap();
    other.address = "other address".into();
    other.title = "other title".into();
    other.description = "other description".into();

    for &field in UPDATABLE_FIELDS {
        let updated = step(&original, patch(other.clone(), &[field])).intake;
        let mut expected = original.intake.clone();
        match field {
            "request_type" => expected.request_type = other.request_type,
            "urgency" => expected.urgency = other.urgency,
            "subject_code" => expected.subject_code = other.subject_code.clone(),
            "region_code" => expected.region_code = other.region_code.clone(),
            "address" => expected.address = other.address.clone(),
            "title" => expected.title = other.title.clone(),
            "description" => expected.description = other.description.clone(),
            "confidential" => expected.confidential = other.confidential,
            "legacy_hotline" => expected.legacy_hotline = other.legacy_hotline.clone(),
            unknown => panic!("test does not know {unknown}"),
        }
        assert_ne!(
            expected, original.intake,
            "{field} should differ in the test data"
        );
        assert_eq!(updated, expected, "{field}");
    }

    let all = step(&original, patch(other, UPDATABLE_FIELDS)).intake;
    assert_eq!(
        all.caller, original.intake.caller,
        "caller is not updatable"
    );
    assert_eq!(
        all.channel, original.intake.channel,
        "channel is not updatable"
    );
    assert_eq!(
        (all.title.as_str(), all.urgency),
        ("other title", Urgency::Urgent)
    );
}

#[test]
fn update_rejects_bad_masks_on_update_mask() {
    let ticket = fresh();
    let values = intake(RequestType::Help, false);
    let masks: [&[&str]; 5] = [
        &[],
        &["caller"],
        &["state"],
        &["title", "channel"],
        &["Title"],
    ];
    for fields in masks {
        let err = ticket
            .apply(patch(values.clone(), fields), &agent(), t0())
            .unwrap_err();
        let DomainError::InvalidField { field, message } = &err else {
            panic!("{fields:?}: expected InvalidField, got {err:?}");
        };
        assert_eq!(field, "update_mask", "{fields:?}");
        if let Some(bad) = fields
            .iter()
            .copied()
            .find(|f| !UPDATABLE_FIELDS.contains(f))
        {
            assert!(message.contains(bad), "{message} should name {bad}");
        }
    }
    let no_values = Action::Update(IntakePatch {
        values: None,
        fields: vec!["title".into()],
        ..Default::default()
    });
    let err = ticket.apply(no_values, &agent(), t0()).unwrap_err();
    assert!(
        matches!(&err, DomainError::InvalidField { field, .. } if field == "ticket"),
        "{err:?}"
    );
}

#[test]
fn a_region_note_goes_on_the_ticket_and_its_created_event_and_follows_region_corrections() {
    let plain = accept(RequestType::Complaint, false);
    assert_eq!(plain.ticket.region_note, None);
    assert!(
        payload(&plain.event).get("region_note").is_none(),
        "left out when there is none, as older events were written"
    );

    let mut noted = accept(RequestType::Complaint, false);
    noted.note_region(Some("街道 330106999 不在区划目录中".into()));
    assert_eq!(
        noted.ticket.region_note.as_deref(),
        Some("街道 330106999 不在区划目录中")
    );
    assert_eq!(
        payload(&noted.event)["region_note"],
        "街道 330106999 不在区划目录中"
    );
    let dispatched = step(&noted.ticket, dispatch());
    assert_eq!(dispatched.region_note, noted.ticket.region_note, "kept");

    // Another field corrected: the note stays; the region corrected: the
    // patch's note (none for a known street) replaces it.
    let values = intake(RequestType::Complaint, false);
    let retitled = step(&noted.ticket, patch(values.clone(), &["title"]));
    assert_eq!(retitled.region_note, noted.ticket.region_note);
    let corrected = step(&noted.ticket, patch(values.clone(), &["region_code"]));
    assert_eq!(corrected.region_note, None);
    let renoted = step(
        &fresh(),
        Action::Update(IntakePatch {
            values: Some(Box::new(values)),
            fields: vec!["region_code".into()],
            region_note: Some("另一条".into()),
        }),
    );
    assert_eq!(renoted.region_note.as_deref(), Some("另一条"));
}
