//! The deadline sweeper, supervision orders and live alerts.

use hotline::proto::v1 as pb;
use tokio_stream::StreamExt;
use tonic::Code;

use crate::{
    deadlines::{beijing, dispatched},
    helpers::{As, authed, error_reason, spawn_app, spawn_app_on},
    routing::seed_city,
};

impl As {
    async fn sweep(&mut self) -> (i32, i32) {
        let r = self
            .supervision()
            .run_sweep(authed(&self.token, pb::RunSweepRequest {}))
            .await
            .unwrap()
            .into_inner();
        (r.alerts, r.orders)
    }

    fn supervision(
        &self,
    ) -> pb::supervision_service_client::SupervisionServiceClient<tonic::transport::Channel> {
        self.supervision.clone()
    }
}

#[tokio::test]
async fn each_crossing_fires_once_and_alerts_stream_in_order() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut admin = app.admin();
    let sup = app.supervisor("3301");
    let mut watch = sup
        .supervision()
        .watch_alerts(authed(&sup.token, pb::WatchAlertsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let mut elsewhere = app.supervisor("4403");
    let mut elsewhere_watch = elsewhere
        .supervision
        .watch_alerts(authed(&elsewhere.token, pb::WatchAlertsRequest::default()))
        .await
        .unwrap()
        .into_inner();

    app.clock.set(beijing(2026, 9, 24, 10, 0));
    let t = dispatched(&app, |_| {}).await;
    assert_eq!(admin.sweep().await, (0, 0), "nothing due yet");

    app.clock.set(beijing(2026, 9, 28, 17, 31));
    assert_eq!(admin.sweep().await, (1, 0), "sign-for overdue");
    assert_eq!(admin.sweep().await, (0, 0), "recorded once");
    let mut unit = app.unit_user("market-regulation");
    unit.sign(&t.name).await.unwrap();

    app.clock.set(beijing(2026, 10, 22, 9, 0));
    assert_eq!(
        admin.sweep().await,
        (1, 0),
        "warning card on the last working day"
    );
    assert_eq!(admin.sweep().await, (0, 0));
    app.clock.set(beijing(2026, 10, 22, 17, 31));
    assert_eq!(
        admin.sweep().await,
        (1, 1),
        "overdue, with an automatic supervision order"
    );
    assert_eq!(admin.sweep().await, (0, 0));

    let now = admin.get(&t.name).await.unwrap();
    assert!(now.overdue && now.warned && now.sign_overdue);
    let order = now.supervision.unwrap();
    assert!(order.automatic);
    assert_eq!(order.issuer, "system:sweeper");
    assert_eq!(
        order.response_deadline.unwrap().seconds,
        beijing(2026, 10, 23, 17, 30).timestamp(),
        "1 WD to respond"
    );

    let mut sup_client = sup.clone();
    let overdue = sup_client
        .supervision
        .list_overdue(authed(&sup.token, pb::ListOverdueRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(overdue.len(), 1);
    let orders = sup_client
        .supervision
        .list_supervision_orders(authed(
            &sup.token,
            pb::ListSupervisionOrdersRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(orders.len(), 1);
    let hidden = elsewhere
        .supervision
        .list_overdue(authed(&elsewhere.token, pb::ListOverdueRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert!(hidden.is_empty(), "another region's supervisor sees none");

    let answered = unit
        .supervision
        .respond_to_supervision(authed(
            &unit.token,
            pb::RespondToSupervisionRequest {
                name: t.name.clone(),
                text: "已加派人手，明日答复".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert!(answered.supervision.is_none());

    let mut kinds = Vec::new();
    for _ in 0..5 {
        let alert = tokio::time::timeout(std::time::Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(alert.ticket, t.name);
        kinds.push(alert.kind);
    }
    assert_eq!(
        kinds,
        [
            "sign_overdue",
            "deadline_warning",
            "overdue",
            "supervision_issued",
            "supervision_answered"
        ]
    );
    let nothing = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        elsewhere_watch.next(),
    )
    .await;
    assert!(
        nothing.is_err(),
        "alerts outside the scope are not streamed"
    );
    let trail: Vec<String> = admin
        .events(&t.name)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        trail,
        [
            "created",
            "dispatched",
            "sign_overdue",
            "signed",
            "deadline_warning",
            "overdue",
            "supervision_issued",
            "supervision_answered"
        ]
    );
}

#[tokio::test]
async fn an_urgent_ticket_goes_overdue_on_a_sunday_night() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut admin = app.admin();
    app.clock.set(beijing(2026, 11, 22, 22, 0));
    let t = dispatched(&app, |t| t.urgency = pb::Urgency::Urgent as i32).await;
    app.clock.set(beijing(2026, 11, 23, 0, 1));
    assert_eq!(admin.sweep().await, (3, 1));
    let trail: Vec<String> = admin
        .events(&t.name)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        trail,
        [
            "created",
            "dispatched",
            "sign_overdue",
            "deadline_warning",
            "overdue",
            "supervision_issued"
        ],
        "crossings in deadline order: sign 22:15, warning 23:30, reply 00:00"
    );
}

#[tokio::test]
async fn two_servers_on_one_database_record_each_crossing_once() {
    let (first, second) = hotline::store::testing::TestBackend::from_env()
        .fresh_store_pair()
        .await;
    let app = spawn_app_on(first, |_| {}).await;
    seed_city(&app).await;
    let other = spawn_app_on(second, |_| {}).await;
    app.clock.set(beijing(2026, 11, 2, 10, 0));
    let mut names = Vec::new();
    for _ in 0..12 {
        names.push(dispatched(&app, |_| {}).await.name);
    }
    let late = beijing(2026, 12, 31, 12, 0);
    app.clock.set(late);
    other.clock.set(late);
    let mut a = app.admin();
    let mut b = other.admin();
    let (ra, rb) = tokio::join!(a.sweep(), b.sweep());
    let alerts = ra.0 + rb.0;
    let orders = ra.1 + rb.1;
    assert_eq!(
        (alerts, orders),
        (36, 12),
        "3 crossings and 1 order per ticket, once: {ra:?} {rb:?}"
    );
    for name in &names {
        let kinds: Vec<String> = a.events(name).await.into_iter().map(|e| e.kind).collect();
        let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
        assert_eq!(
            (count("overdue"), count("supervision_issued")),
            (1, 1),
            "{kinds:?}"
        );
    }
}

#[tokio::test]
async fn urges_and_manual_orders() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let t = dispatched(&app, |_| {}).await;
    let urged = agent
        .supervision
        .urge_ticket(authed(
            &agent.token,
            pb::UrgeTicketRequest {
                name: t.name.clone(),
                note: "请尽快签收".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(urged.state, pb::TicketState::Dispatched as i32);
    let issue = |reason: &str| pb::IssueSupervisionOrderRequest {
        name: t.name.clone(),
        reason: reason.into(),
        response_days: 2,
        ..Default::default()
    };
    let ordered = agent
        .supervision
        .issue_supervision_order(authed(&agent.token, issue("群众反映强烈")))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert!(!ordered.supervision.unwrap().automatic);
    let err = agent
        .supervision
        .issue_supervision_order(authed(&agent.token, issue("再次督办")))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).0.as_str()),
        (Code::FailedPrecondition, "SUPERVISION_OPEN")
    );
    let mut other_unit = app.unit_user("hrss");
    let err = other_unit
        .supervision
        .respond_to_supervision(authed(
            &other_unit.token,
            pb::RespondToSupervisionRequest {
                name: t.name.clone(),
                text: "x".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let mut unit = app.unit_user("market-regulation");
    let err = unit
        .supervision
        .urge_ticket(authed(
            &unit.token,
            pb::UrgeTicketRequest {
                name: t.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}
