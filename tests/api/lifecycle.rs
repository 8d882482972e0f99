//! The ticket lifecycle end to end, with the audit trail.

use hotline::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{authed, complaint, error_reason, spawn_app};

#[tokio::test]
async fn happy_path_from_intake_to_close_leaves_a_complete_trail() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");

    let created = agent.create(complaint()).await;
    assert_eq!(created.state, pb::TicketState::PendingDispatch as i32);
    assert!(created.name.starts_with("tickets/"));
    assert_eq!(
        created.number, "20261123000001",
        "YYYYMMDD + daily sequence in Beijing time"
    );
    let name = created.name.clone();

    let dispatched = agent.dispatch_to(&name, "market-regulation").await.unwrap();
    assert_eq!(dispatched.state, pb::TicketState::Dispatched as i32);
    assert_eq!(dispatched.lead_unit, "units/market-regulation");
    assert_eq!(dispatched.dispatch_count, 1);

    app.clock.advance(chrono::TimeDelta::hours(1));
    let signed = unit.sign(&name).await.unwrap();
    assert_eq!(signed.state, pb::TicketState::InProgress as i32);
    let replied = unit
        .reply(&name, "已责令施工方夜间停工，并现场复查。")
        .await
        .unwrap();
    assert_eq!(replied.state, pb::TicketState::AwaitingCallback as i32);

    let rated = agent
        .dispatch
        .record_callback(authed(
            &agent.token,
            pb::RecordCallbackRequest {
                name: name.clone(),
                satisfaction: pb::Satisfaction::Satisfied as i32,
                resolved: true,
                comment: "市民表示满意".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(rated.state, pb::TicketState::CallbackDone as i32);

    let closed = agent
        .dispatch
        .close_ticket(authed(
            &agent.token,
            pb::CloseTicketRequest {
                name: name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(closed.state, pb::TicketState::Closed as i32);
    let outcome = closed.outcome.unwrap();
    assert_eq!(outcome.close_reason, pb::CloseReason::Completed as i32);
    assert_eq!(outcome.satisfaction, pb::Satisfaction::Satisfied as i32);
    assert!(outcome.reply.contains("停工"));

    let events = agent.events(&name).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "dispatched",
            "signed",
            "replied",
            "callback_recorded",
            "closed"
        ]
    );
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5, 6]);
    assert_eq!(events[2].actor, "handler-market-regulation");
    assert_eq!(events[2].actor_role, "unit_handler");
    assert_eq!(events[1].actor, "agent-alice");
    for pair in events.windows(2) {
        assert_eq!(
            pair[0].to_state, pair[1].from_state,
            "trail is a chain of states"
        );
    }
    let payload = events[1].payload.clone().unwrap();
    let unit_field = payload.fields.get("lead_unit").and_then(|v| v.kind.clone());
    assert_eq!(
        unit_field,
        Some(prost_types::value::Kind::StringValue(
            "units/market-regulation".into()
        ))
    );
}

#[tokio::test]
async fn ticket_numbers_count_per_local_day() {
    let app = spawn_app().await;
    app.add_regions(&["330106"]).await;
    let mut agent = app.agent();
    let a = agent.create(complaint()).await;
    let b = agent.create(complaint()).await;
    assert_eq!(a.number, "20261123000001");
    assert_eq!(b.number, "20261123000002");
    // 2026-11-23 16:00 UTC is already 2026-11-24 00:00 in Beijing.
    app.clock.advance(chrono::TimeDelta::hours(14));
    let c = agent.create(complaint()).await;
    assert_eq!(c.number, "20261124000001");
}

#[tokio::test]
async fn resolve_at_intake_is_terminal() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut enquiry = complaint();
    enquiry.request_type = pb::RequestType::Enquiry as i32;
    let t = agent.create(enquiry).await;
    let resolved = agent
        .resolve_at_intake(&t.name, "公积金提取可在线办理，携带身份证即可。")
        .await;
    assert_eq!(resolved.state, pb::TicketState::ResolvedAtIntake as i32);
    assert!(resolved.outcome.unwrap().intake_answer.contains("公积金"));
    let err = agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let kinds: Vec<String> = agent
        .events(&t.name)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["created", "resolved_at_intake"]);
}

#[tokio::test]
async fn emergency_transfer_records_the_line() {
    let app = spawn_app().await;
    app.add_regions(&["330106"]).await;
    let mut agent = app.agent();
    let t = agent.create(complaint()).await;
    let moved = agent
        .tickets
        .transfer_emergency(authed(
            &agent.token,
            pb::TransferEmergencyRequest {
                name: t.name.clone(),
                service: pb::EmergencyService::Fire119 as i32,
                note: "居民楼起火，已三方通话转 119".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(moved.state, pb::TicketState::TransferredEmergency as i32);
    assert_eq!(
        moved.outcome.unwrap().emergency_service,
        pb::EmergencyService::Fire119 as i32
    );
    let second = agent.create(complaint()).await.name;
    let missing = agent
        .tickets
        .transfer_emergency(authed(
            &agent.token,
            pb::TransferEmergencyRequest {
                name: second,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert_eq!(error_reason(&missing).1, ["service"]);
}

#[tokio::test]
async fn not_accepted_names_the_legal_channel() {
    let app = spawn_app().await;
    app.add_regions(&["330106"]).await;
    let mut agent = app.agent();
    let t = agent.create(complaint()).await;
    let refused = agent
        .tickets
        .mark_not_accepted(authed(
            &agent.token,
            pb::MarkNotAcceptedRequest {
                name: t.name.clone(),
                legal_channel: pb::LegalChannel::Litigation as i32,
                note: "已告知来电人通过诉讼途径解决".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(refused.state, pb::TicketState::NotAccepted as i32);
    assert_eq!(
        refused.outcome.unwrap().legal_channel,
        pb::LegalChannel::Litigation as i32
    );
}

#[tokio::test]
async fn reply_before_sign_is_failed_precondition_naming_the_state() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");
    let t = agent.create(complaint()).await;
    agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap();
    let err = unit.reply(&t.name, "已处理").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("dispatched"), "{}", err.message());
    assert_eq!(error_reason(&err).0, "TICKET_STATE");
    let after = agent.get(&t.name).await.unwrap();
    assert_eq!(after.state, pb::TicketState::Dispatched as i32);
    assert_eq!(agent.events(&t.name).await.len(), 2, "nothing appended");
}

#[tokio::test]
async fn dissatisfied_callback_needs_a_reason_to_close() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");
    let t = agent.create(complaint()).await;
    agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap();
    unit.sign(&t.name).await.unwrap();
    unit.reply(&t.name, "已处理").await.unwrap();
    let rated = agent
        .dispatch
        .record_callback(authed(
            &agent.token,
            pb::RecordCallbackRequest {
                name: t.name.clone(),
                satisfaction: pb::Satisfaction::VeryDissatisfied as i32,
                resolved: false,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(rated.state, pb::TicketState::Dissatisfied as i32);
    let close = |reason: pb::CloseReason| pb::CloseTicketRequest {
        name: t.name.clone(),
        reason: reason as i32,
        ..Default::default()
    };
    let err = agent
        .dispatch
        .close_ticket(authed(&agent.token, close(pb::CloseReason::Unspecified)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let closed = agent
        .dispatch
        .close_ticket(authed(
            &agent.token,
            close(pb::CloseReason::UnreasonableDemand),
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(closed.state, pb::TicketState::Closed as i32);
}
