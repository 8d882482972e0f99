//! The callback loop: review (审核), callback window, re-handling (重办).

use hotline::proto::v1 as pb;
use tonic::Code;

use crate::{
    deadlines::{beijing, dispatched},
    helpers::{As, authed, error_reason, spawn_app, spawn_app_configured},
    routing::seed_city,
};

impl As {
    async fn review(&mut self, name: &str, approve: bool) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .review_reply(authed(
                &self.token,
                pb::ReviewReplyRequest {
                    name: name.into(),
                    approve,
                    note: if approve {
                        String::new()
                    } else {
                        "答复未说明处理结果".into()
                    },
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }

    async fn reopen(&mut self, name: &str) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .reopen_ticket(authed(
                &self.token,
                pb::ReopenTicketRequest {
                    name: name.into(),
                    note: "市民不满意，重办".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }
}

#[tokio::test]
async fn the_centre_reviews_replies_before_the_callback() {
    let app = spawn_app_configured(|s| s.callback.review_replies = true).await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");
    let t = dispatched(&app, |_| {}).await;
    unit.sign(&t.name).await.unwrap();
    let replied = unit.reply(&t.name, "已处理").await.unwrap();
    assert_eq!(replied.state, pb::TicketState::Replied as i32);
    let back = agent.review(&t.name, false).await.unwrap();
    assert_eq!(back.state, pb::TicketState::InProgress as i32);
    assert_eq!(
        back.outcome.unwrap().reply,
        "",
        "the inadequate reply is withdrawn"
    );
    unit.reply(&t.name, "已责令停工并复查，噪音已消除")
        .await
        .unwrap();
    let approved = agent.review(&t.name, true).await.unwrap();
    assert_eq!(approved.state, pb::TicketState::AwaitingCallback as i32);
    assert!(approved.callback_deadline.is_some());
    let err = agent.review(&t.name, true).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
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
            "signed",
            "replied",
            "reply_sent_back",
            "replied",
            "reply_approved"
        ]
    );
}

#[tokio::test]
async fn dissatisfied_citizens_get_a_new_round_then_supervision() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");
    app.clock.set(beijing(2026, 11, 2, 10, 0));
    let t = dispatched(&app, |_| {}).await;
    unit.sign(&t.name).await.unwrap();
    unit.reply(&t.name, "已处理").await.unwrap();
    agent
        .rate(&t.name, pb::Satisfaction::Dissatisfied, false)
        .await;

    app.clock.set(beijing(2026, 11, 9, 10, 0));
    let reopened = agent.reopen(&t.name).await.unwrap();
    assert_eq!(reopened.state, pb::TicketState::Dispatched as i32);
    assert_eq!((reopened.reopen_count, reopened.dispatch_count), (1, 2));
    assert_eq!(
        reopened.lead_unit, "units/market-regulation",
        "same unit by default"
    );
    assert_eq!(
        reopened.reply_deadline.unwrap().time.unwrap().seconds,
        beijing(2026, 11, 30, 17, 30).timestamp(),
        "a new 15 WD round"
    );
    assert_eq!(
        reopened.outcome.unwrap().satisfaction,
        0,
        "the new round is rated afresh"
    );
    assert!(
        reopened.supervision.is_none(),
        "no order after the first dissatisfaction"
    );

    unit.sign(&t.name).await.unwrap();
    unit.reply(&t.name, "再次处理").await.unwrap();
    let still = agent
        .rate(&t.name, pb::Satisfaction::VeryDissatisfied, false)
        .await;
    assert_eq!(still.state, pb::TicketState::Dissatisfied as i32);
    let order = still
        .supervision
        .expect("automatic order after re-handling");
    assert!(order.automatic);
    assert_eq!(order.issuer, "system:callback");

    let err = agent.reopen(&t.name).await.unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).0.as_str()),
        (Code::FailedPrecondition, "REOPEN_LIMIT")
    );
    let kinds: Vec<String> = agent
        .events(&t.name)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "reopened").count(), 1);
    assert_eq!(kinds.last().map(String::as_str), Some("supervision_issued"));
}

#[tokio::test]
async fn no_callback_within_the_window_closes_as_not_rated() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut admin = app.admin();
    let mut unit = app.unit_user("market-regulation");
    app.clock.set(beijing(2026, 11, 2, 10, 0));
    let t = dispatched(&app, |_| {}).await;
    unit.sign(&t.name).await.unwrap();
    let replied = unit.reply(&t.name, "已处理").await.unwrap();
    assert_eq!(
        replied.callback_deadline.unwrap().seconds,
        beijing(2026, 11, 9, 17, 30).timestamp(),
        "5 WD to call back"
    );
    app.clock.set(beijing(2026, 11, 9, 17, 29));
    let early = admin
        .supervision
        .run_sweep(authed(&admin.token, pb::RunSweepRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(early.alerts, 0);
    app.clock.set(beijing(2026, 11, 9, 17, 31));
    admin
        .supervision
        .run_sweep(authed(&admin.token, pb::RunSweepRequest {}))
        .await
        .unwrap();
    let closed = admin.get(&t.name).await.unwrap();
    assert_eq!(closed.state, pb::TicketState::Closed as i32);
    assert_eq!(
        closed.outcome.unwrap().close_reason,
        pb::CloseReason::NotRated as i32
    );
    let last = admin.events(&t.name).await.pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str()),
        ("closed", "system:sweeper")
    );
}
