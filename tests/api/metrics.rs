//! Scorecards from the counters kept with the event log, and their
//! recomputation from the raw log.

use hotline::{
    domain::TicketId,
    proto::v1 as pb,
    store::{CounterScope, testing::stored_and_replayed_counters},
};
use tonic::Code;

use crate::{
    deadlines::{beijing, dispatched},
    helpers::{As, TestApp, authed, spawn_app},
    routing::seed_city,
};

impl As {
    pub(crate) async fn scorecard(
        &mut self,
        unit: &str,
    ) -> Result<pb::GetUnitScorecardResponse, tonic::Status> {
        hotline::proto::v1::metrics_service_client::MetricsServiceClient::new(self.channel())
            .get_unit_scorecard(authed(
                &self.token,
                pb::GetUnitScorecardRequest {
                    unit: unit.into(),
                    start_day: "2026-11-01".into(),
                    end_day: "2026-11-30".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner())
    }
}

pub(crate) fn ratio(card: &pb::GetUnitScorecardResponse, metric: &str) -> (i64, i64) {
    let r = card.ratios.iter().find(|r| r.metric == metric).unwrap();
    (r.numerator, r.denominator)
}

/// Four complaints for market-regulation in November 2026 with known
/// outcomes; returns their names.
pub(crate) async fn scenario(app: &TestApp) -> Vec<String> {
    let mut agent = app.agent();
    let mut admin = app.admin();
    let mut unit = app.unit_user("market-regulation");
    app.clock.set(beijing(2026, 11, 2, 10, 0));
    let on_time = dispatched(app, |_| {}).await;
    let late = dispatched(app, |_| {}).await;
    let returned = dispatched(app, |_| {}).await;
    let rejected = dispatched(app, |_| {}).await;
    unit.sign(&on_time.name).await.unwrap();
    unit.sign(&rejected.name).await.unwrap();
    unit.return_ticket(&returned.name).await.unwrap();
    agent.arbitrate(&returned.name, true, "").await.unwrap();
    unit.return_ticket(&rejected.name).await.unwrap();
    agent.arbitrate(&rejected.name, false, "").await.unwrap();
    app.clock.set(beijing(2026, 11, 4, 10, 0));
    unit.sign(&late.name).await.unwrap();
    app.clock.set(beijing(2026, 11, 5, 10, 0));
    unit.reply(&on_time.name, "已处理").await.unwrap();
    unit.reply(&rejected.name, "已处理").await.unwrap();
    agent
        .rate(&on_time.name, pb::Satisfaction::Satisfied, true)
        .await;
    agent
        .rate(&rejected.name, pb::Satisfaction::Dissatisfied, false)
        .await;
    app.clock.set(beijing(2026, 11, 24, 10, 0));
    admin
        .supervision
        .run_sweep(authed(&admin.token, pb::RunSweepRequest {}))
        .await
        .unwrap();
    vec![on_time.name, late.name, returned.name, rejected.name]
}

#[tokio::test]
async fn a_months_scorecard_has_every_numerator_and_denominator() {
    let app = spawn_app().await;
    seed_city(&app).await;
    scenario(&app).await;
    let mut agent = app.agent();
    let card = agent.scorecard("units/market-regulation").await.unwrap();
    assert_eq!(
        ratio(&card, "completion"),
        (2, 4),
        "replied ÷ dispatched rounds"
    );
    assert_eq!(
        ratio(&card, "timely_sign_for"),
        (2, 4),
        "two signed the same day, one late"
    );
    assert_eq!(
        ratio(&card, "on_time_completion"),
        (2, 3),
        "two on time, one overdue"
    );
    assert_eq!(ratio(&card, "return_rate"), (1, 4));
    assert_eq!(card.improper_returns, 1);
    assert_eq!(ratio(&card, "satisfaction"), (1, 2));
    assert_eq!(ratio(&card, "resolution"), (1, 2));
    assert_eq!(ratio(&card, "response"), (2, 4));
    assert_eq!(card.overdue, 1);

    let mut unit = app.unit_user("market-regulation");
    assert!(
        unit.scorecard("units/market-regulation").await.is_ok(),
        "a unit sees its own"
    );
    let err = unit.scorecard("units/transport").await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let mut elsewhere = app.supervisor("4403");
    let err = elsewhere
        .scorecard("units/market-regulation")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "another district's supervisor cannot read it"
    );
    let mut here = app.supervisor("3301");
    assert!(here.scorecard("units/market-regulation").await.is_ok());
}

#[tokio::test]
async fn counters_equal_a_recomputation_from_the_event_log() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let names = scenario(&app).await;
    let ids: Vec<TicketId> = names
        .iter()
        .map(|n| TicketId::from_name(n).unwrap())
        .collect();
    let events = app.store.events_of_tickets(&ids).await.unwrap();
    let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let (stored, recomputed) = stored_and_replayed_counters(app.store.as_ref(), events, offset)
        .await
        .unwrap();
    assert!(!stored.is_empty());
    assert_eq!(stored, recomputed);

    // The ledger behind the counters explains each of them exactly.
    for delta in app.store.all_counters().await.unwrap() {
        let scope = match &delta.unit {
            Some(unit) => CounterScope::Unit(unit.clone()),
            None => CounterScope::Centre,
        };
        let next = delta.day.succ_opt().unwrap();
        let tickets = app
            .store
            .counter_tickets(&scope, &[delta.counter], delta.day, next, None, 1000)
            .await
            .unwrap();
        let explained: i64 = tickets.iter().map(|(_, n)| n).sum();
        assert_eq!(explained, delta.delta, "{delta:?}");
        assert!(tickets.iter().all(|(id, _)| ids.contains(id)), "{delta:?}");
    }
}
