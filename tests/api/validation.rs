//! Invalid input is INVALID_ARGUMENT naming the field, and writes nothing.

use hotline::{proto::v1 as pb, store::TicketQuery};
use tonic::Code;

use crate::helpers::{authed, complaint, error_reason, spawn_app};

/// Breaks one field of a valid intake.
type Breaker = Box<dyn Fn(&mut pb::Ticket)>;

#[tokio::test]
async fn invalid_intake_names_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let mut agent = app.agent();
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "ticket.description",
            Box::new(|t| t.description = "   ".into()),
        ),
        ("ticket.title", Box::new(|t| t.title.clear())),
        (
            "ticket.caller.phone",
            Box::new(|t| t.caller.as_mut().unwrap().phone = "12345".into()),
        ),
        (
            "ticket.caller.phone",
            Box::new(|t| t.caller.as_mut().unwrap().phone.clear()),
        ),
        (
            "ticket.region_code",
            Box::new(|t| t.region_code = "33".into()),
        ),
        ("ticket.request_type", Box::new(|t| t.request_type = 0)),
        ("ticket.channel", Box::new(|t| t.channel = 99)),
        (
            "ticket.subject_code",
            Box::new(|t| t.subject_code = "1.2".into()),
        ),
        (
            "ticket.legacy_hotline",
            Box::new(|t| t.legacy_hotline = "110".into()),
        ),
    ];
    for (field, break_it) in cases {
        let mut t = complaint();
        break_it(&mut t);
        let err = agent
            .tickets
            .create_ticket(authed(
                &agent.token,
                pb::CreateTicketRequest {
                    ticket: Some(t),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        let (reason, fields) = error_reason(&err);
        assert_eq!(reason, "INVALID_FIELD");
        assert_eq!(fields, [field], "{}", err.message());
    }
    let stored = app.store.list_tickets(&TicketQuery::all(10)).await.unwrap();
    assert!(stored.is_empty(), "no ticket was written");
}

/// What `google.protobuf.Timestamp` declares invalid — nanos outside
/// 0..1e9, seconds outside years 1 to 9999 — is refused naming the field,
/// not taken as a leap second (which shifted a computed deadline by one
/// second) or a time no other client could represent.
#[tokio::test]
async fn timestamps_outside_the_protobuf_range_name_the_field() {
    let app = spawn_app().await;
    let mut agent = app.agent();
    let bad = [
        (1_795_399_199, 1_500_000_000),
        (1_795_399_200, 1_000_000_000),
        (1_795_399_200, -1),
        (-62_135_596_801, 0),
        (253_402_300_800, 0),
        (-1_000_000_000_000, 0),
    ];
    for (seconds, nanos) in bad {
        let ts = Some(prost_types::Timestamp { seconds, nanos });
        let deadline = pb::ComputeDeadlineRequest {
            start_time: ts,
            limit: "2h".into(),
        };
        let err = agent
            .calendar
            .compute_deadline(authed(&agent.token, deadline))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{seconds}.{nanos}");
        assert_eq!(error_reason(&err).1, ["start_time"], "{}", err.message());
        let list = pb::ListTicketsRequest {
            create_time_from: ts,
            ..Default::default()
        };
        let err = agent
            .tickets
            .list_tickets(authed(&agent.token, list))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{seconds}.{nanos}");
        assert_eq!(
            error_reason(&err).1,
            ["create_time_from"],
            "{}",
            err.message()
        );
    }
    let edge = pb::ListTicketsRequest {
        create_time_from: Some(prost_types::Timestamp {
            seconds: -62_135_596_800,
            nanos: 999_999_999,
        }),
        create_time_to: Some(prost_types::Timestamp {
            seconds: 253_402_300_799,
            nanos: 999_999_999,
        }),
        ..Default::default()
    };
    agent
        .tickets
        .list_tickets(authed(&agent.token, edge))
        .await
        .expect("the protobuf range's own ends are valid");
}

#[tokio::test]
async fn dispatch_to_an_unknown_unit_is_invalid_and_changes_nothing() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let t = agent.create(complaint()).await;
    for (unit, field) in [("no-such-unit", "lead_unit"), ("Bad Unit", "lead_unit")] {
        let err = agent.dispatch_to(&t.name, unit).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(error_reason(&err).1, [field]);
    }
    let after = agent.get(&t.name).await.unwrap();
    assert_eq!(after.state, pb::TicketState::PendingDispatch as i32);
    assert_eq!(after.etag, t.etag);
    assert_eq!(agent.events(&t.name).await.len(), 1);
}

#[tokio::test]
async fn malformed_names_and_tokens_are_invalid() {
    let app = spawn_app().await;
    let mut agent = app.agent();
    let err = agent.get("tickets/123").await.unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec!["name".to_owned()])
    );
    let err = agent
        .get("tickets/0190f3a4-0000-7000-8000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = agent
        .tickets
        .list_tickets(authed(
            &agent.token,
            pb::ListTicketsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec!["page_token".to_owned()])
    );
}
