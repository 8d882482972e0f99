//! Returns (退单) with arbitration, designation, and co-handling (协办).

use chrono::TimeDelta;
use hotline::proto::v1 as pb;
use tonic::Code;

use crate::{
    helpers::{As, authed, complaint, error_reason, spawn_app},
    routing::seed_city,
};

/// A complaint in a region with no district unit, so it waits for a person.
fn manual_ticket() -> pb::Ticket {
    let mut t = complaint();
    t.region_code = "330100".into();
    t
}

impl As {}

#[tokio::test]
async fn approved_returns_redispatch_and_the_third_dispatch_is_a_designation() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let mut market = app.unit_user("market-regulation");
    let mut hrss = app.unit_user("hrss");
    let t = agent.create(manual_ticket()).await;
    assert_eq!(t.state, pb::TicketState::PendingDispatch as i32);
    agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap();

    let asked = market.return_ticket(&t.name).await.unwrap();
    assert_eq!(asked.state, pb::TicketState::ReturnRequested as i32);
    let pending = asked.pending_return.unwrap();
    assert_eq!(pending.from_state, pb::TicketState::Dispatched as i32);
    assert!(pending.legal_basis.contains("派单目录"));

    let moved = agent.arbitrate(&t.name, true, "hrss").await.unwrap();
    assert_eq!(moved.state, pb::TicketState::Dispatched as i32);
    assert_eq!(
        (
            moved.lead_unit.as_str(),
            moved.dispatch_count,
            moved.designated
        ),
        ("units/hrss", 2, false)
    );
    assert_eq!(
        market.get(&t.name).await.unwrap_err().code(),
        Code::NotFound,
        "no longer market's"
    );

    hrss.sign(&t.name).await.unwrap();
    hrss.return_ticket(&t.name).await.unwrap();
    let triaged = agent.arbitrate(&t.name, true, "").await.unwrap();
    assert_eq!(triaged.state, pb::TicketState::PendingDispatch as i32);
    assert_eq!(triaged.lead_unit, "");

    let designated = agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap();
    assert_eq!(
        (designated.dispatch_count, designated.designated),
        (3, true)
    );
    let err = market.return_ticket(&t.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_reason(&err).0, "DESIGNATED");

    let kinds: Vec<String> = agent
        .events(&t.name)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "dispatched",
            "return_requested",
            "return_approved",
            "signed",
            "return_requested",
            "return_approved",
            "dispatched"
        ]
    );
}

#[tokio::test]
async fn rejected_returns_go_back_without_resetting_the_clock() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let mut market = app.unit_user("market-regulation");
    let t = agent.create(manual_ticket()).await;
    let dispatched = agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap();
    market.sign(&t.name).await.unwrap();
    app.clock.advance(TimeDelta::hours(2));
    market.return_ticket(&t.name).await.unwrap();
    let rejected = agent.arbitrate(&t.name, false, "").await.unwrap();
    assert_eq!(
        rejected.state,
        pb::TicketState::InProgress as i32,
        "back where it was"
    );
    assert_eq!(rejected.lead_unit, "units/market-regulation");
    assert_eq!(
        rejected.dispatch_time, dispatched.dispatch_time,
        "clock not reset"
    );
    assert!(rejected.pending_return.is_none());
    let err = agent.arbitrate(&t.name, false, "").await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::FailedPrecondition,
        "nothing left to arbitrate"
    );
    let err = agent.arbitrate(&t.name, false, "hrss").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_return_window_is_one_working_day() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let mut market = app.unit_user("market-regulation");
    // Dispatched Friday 2026-11-20 10:00 Beijing: one working day from the
    // day after is Monday, so the window closes Monday 17:30.
    app.clock
        .set(crate::deadlines::beijing(2026, 11, 20, 10, 0));
    let early = agent.create(manual_ticket()).await;
    let late = agent.create(manual_ticket()).await;
    for t in [&early, &late] {
        agent
            .dispatch_to(&t.name, "market-regulation")
            .await
            .unwrap();
    }
    app.clock
        .set(crate::deadlines::beijing(2026, 11, 23, 17, 29));
    market.return_ticket(&early.name).await.unwrap();
    app.clock
        .set(crate::deadlines::beijing(2026, 11, 23, 17, 31));
    let err = market.return_ticket(&late.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_reason(&err).0, "RETURN_WINDOW");
    assert_eq!(
        agent.get(&late.name).await.unwrap().state,
        pb::TicketState::Dispatched as i32
    );
    let err = agent.return_ticket(&late.name).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "only the lead unit returns"
    );
}

#[tokio::test]
async fn co_handlers_see_and_note_but_only_the_lead_replies() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let mut lead = app.unit_user("urban-management");
    let mut co = app.unit_user("transport");
    let mut other = app.unit_user("hrss");
    let t = agent.create(manual_ticket()).await;
    let dispatched = agent
        .dispatch
        .dispatch_ticket(authed(
            &agent.token,
            pb::DispatchTicketRequest {
                name: t.name.clone(),
                lead_unit: "units/urban-management".into(),
                co_units: vec!["units/transport".into()],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(dispatched.co_units, ["units/transport"]);

    assert!(co.get(&t.name).await.is_ok());
    let listed = co
        .tickets
        .list_tickets(authed(&co.token, pb::ListTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(listed.len(), 1);
    let noted = co
        .dispatch
        .add_progress_note(authed(
            &co.token,
            pb::AddProgressNoteRequest {
                name: t.name.clone(),
                text: "已协调公交站点改移".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(noted.state, pb::TicketState::Dispatched as i32);
    assert_eq!(
        co.sign(&t.name).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    lead.sign(&t.name).await.unwrap();
    assert_eq!(
        co.reply(&t.name, "协办答复").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(other.get(&t.name).await.unwrap_err().code(), Code::NotFound);
    lead.reply(&t.name, "已处理").await.unwrap();
    let kinds: Vec<String> = agent
        .events(&t.name)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "dispatched",
            "progress_noted",
            "signed",
            "replied"
        ]
    );

    let another = agent.create(manual_ticket()).await.name;
    let err = agent
        .dispatch
        .dispatch_ticket(authed(
            &agent.token,
            pb::DispatchTicketRequest {
                name: another,
                lead_unit: "units/transport".into(),
                co_units: vec!["units/transport".into()],
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error_reason(&err).1, ["co_units[0]"]);
    let twice = agent.create(manual_ticket()).await.name;
    let err = agent
        .dispatch
        .dispatch_ticket(authed(
            &agent.token,
            pb::DispatchTicketRequest {
                name: twice,
                lead_unit: "units/urban-management".into(),
                co_units: vec!["units/transport".into(), "units/transport".into()],
                request_id: "dup-co".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec!["co_units[1]".to_owned()])
    );
}
