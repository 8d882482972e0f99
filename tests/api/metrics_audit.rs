//! Auditing scorecards: roll-ups by region and org tree, rankings, frozen
//! months and the tickets behind a number — on the month of
//! `metrics::scenario` plus tickets for three more units.

use hotline::proto::v1::{self as pb, metrics_service_client::MetricsServiceClient};
use tonic::{Code, Status};

use crate::{
    deadlines::beijing,
    helpers::{As, TestApp, authed, complaint, error_reason, spawn_app},
    metrics::scenario,
    routing::seed_city,
};

impl As {
    fn metrics(&self) -> MetricsServiceClient<tonic::transport::Channel> {
        MetricsServiceClient::new(self.channel())
    }

    async fn card(
        &mut self,
        req: pb::GetUnitScorecardRequest,
    ) -> Result<pb::GetUnitScorecardResponse, Status> {
        self.metrics()
            .get_unit_scorecard(authed(&self.token, req))
            .await
            .map(|r| r.into_inner())
    }

    async fn rankings(
        &mut self,
        req: pb::ListRankingsRequest,
    ) -> Result<pb::ListRankingsResponse, Status> {
        self.metrics()
            .list_rankings(authed(&self.token, req))
            .await
            .map(|r| r.into_inner())
    }

    async fn explain(
        &mut self,
        req: pb::ExplainMetricRequest,
    ) -> Result<pb::ExplainMetricResponse, Status> {
        self.metrics()
            .explain_metric(authed(&self.token, req))
            .await
            .map(|r| r.into_inner())
    }

    async fn freeze(&mut self, month: &str) -> Result<pb::FrozenMonth, Status> {
        self.metrics()
            .freeze_month(authed(
                &self.token,
                pb::FreezeMonthRequest {
                    month: month.into(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }
}

fn november() -> pb::GetUnitScorecardRequest {
    pb::GetUnitScorecardRequest {
        start_day: "2026-11-01".into(),
        end_day: "2026-11-30".into(),
        ..Default::default()
    }
}

fn ranking_request(region: &str) -> pb::ListRankingsRequest {
    pb::ListRankingsRequest {
        region_code: region.into(),
        start_day: "2026-11-01".into(),
        end_day: "2026-11-30".into(),
        ..Default::default()
    }
}

fn ratio(card: &[pb::Ratio], metric: &str) -> (i64, i64) {
    let r = card.iter().find(|r| r.metric == metric).unwrap();
    (r.numerator, r.denominator)
}

/// On 2026-11-02: `transport` gets a complaint it signs, answers on time
/// and has rated very satisfied and resolved; `hrss` one it never touches
/// (overdue at the scenario's sweep on 11-24); `market-xihu`, a branch of
/// market-regulation in 西湖区, one it never touches either.
async fn three_more_units(app: &TestApp) -> (String, String, String) {
    let mut admin = app.admin();
    admin
        .directory
        .create_unit(authed(
            &admin.token,
            pb::CreateUnitRequest {
                unit_id: "market-xihu".into(),
                unit: Some(pb::Unit {
                    display_name: "西湖区市场监管分局".into(),
                    kind: pb::UnitKind::Department as i32,
                    region_code: "330106".into(),
                    parent: "units/market-regulation".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap();
    app.clock.set(beijing(2026, 11, 2, 9, 0));
    let mut agent = app.agent();
    let mut names = Vec::new();
    for unit in ["transport", "hrss", "market-xihu"] {
        let mut t = complaint();
        t.region_code = "330100".into();
        let created = agent.create(t).await;
        agent.dispatch_to(&created.name, unit).await.unwrap();
        names.push(created.name);
    }
    let mut transport = app.unit_user("transport");
    transport.sign(&names[0]).await.unwrap();
    app.clock.set(beijing(2026, 11, 3, 10, 0));
    transport.reply(&names[0], "已处理").await.unwrap();
    agent
        .rate(&names[0], pb::Satisfaction::VerySatisfied, true)
        .await;
    (names[0].clone(), names[1].clone(), names[2].clone())
}

#[tokio::test]
async fn rankings_follow_the_weighted_scores_computed_by_hand() {
    let app = spawn_app().await;
    seed_city(&app).await;
    three_more_units(&app).await;
    scenario(&app).await;
    let mut agent = app.agent();

    // Default weights 0.2 response, 0.3 resolution, 0.3 satisfaction, 0.2 on time:
    // transport: every rate 1/1 → 100.
    // market-regulation: response 2/4, resolution 1/2, satisfaction 1/2,
    //   on time 2/3 → 0.2·0.5 + 0.3·0.5 + 0.3·0.5 + 0.2·(2/3) = 0.533333 → 53.333333.
    // hrss, market-xihu: response 0/1, on time 0/1, nothing rated → 0; tie by id.
    let ranked = agent.rankings(ranking_request("3301")).await.unwrap();
    let order: Vec<(i32, &str, f64)> = ranked
        .entries
        .iter()
        .map(|e| (e.rank, e.unit.as_str(), e.score))
        .collect();
    assert_eq!(
        order,
        vec![
            (1, "units/transport", 100.0),
            (2, "units/market-regulation", 53.333333),
            (3, "units/hrss", 0.0),
            (4, "units/market-xihu", 0.0),
        ]
    );
    assert_eq!(ranked.total_size, 4);
    assert_eq!(
        ratio(&ranked.entries[1].ratios, "on_time_completion"),
        (2, 3)
    );
    assert_eq!(ranked.weights.unwrap().resolution, 0.3);

    // Only satisfaction counts: market-regulation 1/2 → 50.
    let mut by_satisfaction = ranking_request("3301");
    by_satisfaction.weights = Some(pb::RankingWeights {
        satisfaction: 1.0,
        ..Default::default()
    });
    let ranked = agent.rankings(by_satisfaction.clone()).await.unwrap();
    let scores: Vec<f64> = ranked.entries.iter().map(|e| e.score).collect();
    assert_eq!(scores, vec![100.0, 50.0, 0.0, 0.0]);

    // Pages of two.
    by_satisfaction.page_size = 2;
    let first = agent.rankings(by_satisfaction.clone()).await.unwrap();
    assert_eq!(first.entries.len(), 2);
    by_satisfaction.page_token = first.next_page_token;
    let second = agent.rankings(by_satisfaction.clone()).await.unwrap();
    let ranks: Vec<i32> = second.entries.iter().map(|e| e.rank).collect();
    assert_eq!(ranks, vec![3, 4]);
    assert!(second.next_page_token.is_empty());

    // Only 西湖区: the branch alone.
    let xihu = agent.rankings(ranking_request("330106")).await.unwrap();
    assert_eq!(xihu.entries.len(), 1);
    assert_eq!(xihu.entries[0].unit, "units/market-xihu");

    let mut zero = ranking_request("3301");
    zero.weights = Some(pb::RankingWeights::default());
    let err = agent.rankings(zero).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let mut elsewhere = app.supervisor("4403");
    for region in ["3301", ""] {
        let err = elsewhere
            .rankings(ranking_request(region))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "region {region:?}");
    }
    let mut here = app.supervisor("3301");
    assert_eq!(
        here.rankings(ranking_request("330106"))
            .await
            .unwrap()
            .entries
            .len(),
        1
    );
}

#[tokio::test]
async fn roll_ups_sum_the_units_of_a_region_or_a_subtree() {
    let app = spawn_app().await;
    seed_city(&app).await;
    three_more_units(&app).await;
    scenario(&app).await;
    let mut agent = app.agent();

    let region = agent
        .card(pb::GetUnitScorecardRequest {
            region_code: "3301".into(),
            ..november()
        })
        .await
        .unwrap();
    // Rounds: market-regulation 4, transport 1, hrss 1, market-xihu 1.
    assert_eq!(ratio(&region.ratios, "completion"), (2 + 1, 7));
    assert_eq!(ratio(&region.ratios, "satisfaction"), (1 + 1, 3));
    assert_eq!(region.overdue, 1 + 1 + 1);

    let subtree = agent
        .card(pb::GetUnitScorecardRequest {
            unit: "units/market-regulation".into(),
            include_subunits: true,
            ..november()
        })
        .await
        .unwrap();
    assert_eq!(ratio(&subtree.ratios, "completion"), (2, 5));
    assert_eq!(ratio(&subtree.ratios, "on_time_completion"), (2, 4));
    assert!(subtree.include_subunits);

    let mut elsewhere = app.supervisor("4403");
    let err = elsewhere
        .card(pb::GetUnitScorecardRequest {
            region_code: "3301".into(),
            ..november()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "another district's supervisor"
    );
    let mut handler = app.unit_user("market-xihu");
    let err = handler
        .card(pb::GetUnitScorecardRequest {
            region_code: "330106".into(),
            ..november()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "a unit does not read its region"
    );

    let both = agent
        .card(pb::GetUnitScorecardRequest {
            unit: "units/transport".into(),
            region_code: "3301".into(),
            ..november()
        })
        .await
        .unwrap_err();
    assert_eq!(both.code(), Code::InvalidArgument);
    assert_eq!(error_reason(&both).1, vec!["region_code".to_owned()]);
}

#[tokio::test]
async fn explain_lists_the_tickets_behind_each_number() {
    let app = spawn_app().await;
    seed_city(&app).await;
    three_more_units(&app).await;
    let names = scenario(&app).await;
    let (on_time, late, rejected) = (&names[0], &names[1], &names[3]);
    let mut agent = app.agent();
    let request = |metric: &str, part: pb::MetricPart| pb::ExplainMetricRequest {
        unit: "units/market-regulation".into(),
        start_day: "2026-11-01".into(),
        end_day: "2026-11-30".into(),
        metric: metric.into(),
        part: part as i32,
        ..Default::default()
    };
    let tickets = |r: &pb::ExplainMetricResponse| {
        let mut t: Vec<(String, i64)> = r
            .contributions
            .iter()
            .map(|c| (c.ticket.clone(), c.count))
            .collect();
        t.sort();
        t
    };
    let sorted = |mut v: Vec<(String, i64)>| {
        v.sort();
        v
    };

    let numerator = agent
        .explain(request("on_time_completion", pb::MetricPart::Numerator))
        .await
        .unwrap();
    assert_eq!(numerator.total, 2);
    assert_eq!(numerator.counters, vec!["replied_on_time".to_owned()]);
    assert_eq!(
        tickets(&numerator),
        sorted(vec![(on_time.clone(), 1), (rejected.clone(), 1)])
    );

    let denominator = agent
        .explain(request("on_time_completion", pb::MetricPart::Denominator))
        .await
        .unwrap();
    assert_eq!(denominator.total, 3);
    assert_eq!(
        tickets(&denominator),
        sorted(vec![
            (on_time.clone(), 1),
            (late.clone(), 1),
            (rejected.clone(), 1)
        ])
    );

    // Pages of two add up to the total.
    let mut paged = request("on_time_completion", pb::MetricPart::Denominator);
    paged.page_size = 2;
    let first = agent.explain(paged.clone()).await.unwrap();
    assert_eq!(first.contributions.len(), 2);
    paged.page_token = first.next_page_token.clone();
    let second = agent.explain(paged.clone()).await.unwrap();
    assert_eq!(second.contributions.len(), 1);
    let sum: i64 = first
        .contributions
        .iter()
        .chain(&second.contributions)
        .map(|c| c.count)
        .sum();
    assert_eq!(sum, denominator.total);

    let improper = agent
        .explain(request("improper_returns", pb::MetricPart::Unspecified))
        .await
        .unwrap();
    assert_eq!(tickets(&improper), vec![(rejected.clone(), 1)]);

    // A rate's two counters: satisfied + basically satisfied.
    let satisfied = agent
        .explain(request("satisfaction", pb::MetricPart::Numerator))
        .await
        .unwrap();
    assert_eq!(
        satisfied.counters,
        vec!["satisfied".to_owned(), "basically_satisfied".to_owned()]
    );
    assert_eq!(tickets(&satisfied), vec![(on_time.clone(), 1)]);

    for (metric, part, field) in [
        ("bogus", pb::MetricPart::Numerator, "metric"),
        ("satisfaction", pb::MetricPart::Unspecified, "part"),
        ("overdue", pb::MetricPart::Denominator, "part"),
    ] {
        let err = agent.explain(request(metric, part)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{metric}");
        assert_eq!(error_reason(&err).1, vec![field.to_owned()], "{metric}");
    }
    let mut other = app.unit_user("transport");
    let err = other
        .explain(request("overdue", pb::MetricPart::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_frozen_month_keeps_its_numbers_after_later_corrections() {
    let app = spawn_app().await;
    seed_city(&app).await;
    app.clock.set(beijing(2026, 11, 20, 9, 0));
    let mut agent = app.agent();
    let mut waiting = complaint();
    waiting.region_code = "330100".into();
    let waiting = agent.create(waiting).await;
    scenario(&app).await;
    let mut admin = app.admin();

    let err = admin.freeze("2026-11").await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::FailedPrecondition,
        "November has not ended on 11-24"
    );
    app.clock.set(beijing(2026, 12, 1, 9, 0));
    let err = agent.freeze("2026-11").await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "admins freeze");
    let frozen = admin.freeze("2026-11").await.unwrap();
    assert_eq!(frozen.month, "2026-11");
    assert_eq!(frozen.frozen_by, "admin-root");
    let err = admin.freeze("2026-11").await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = admin.freeze("2026-13").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let centre_frozen = pb::GetUnitScorecardRequest {
        frozen_month: "2026-11".into(),
        ..Default::default()
    };
    let before = agent.card(centre_frozen.clone()).await.unwrap();
    let accepted = ratio(&before.ratios, "resolved_at_intake").1;
    assert_eq!(accepted, 5, "five tickets accepted in November");
    assert_eq!(
        ratio(
            &agent.card(november()).await.unwrap().ratios,
            "resolved_at_intake"
        )
        .1,
        5
    );

    // In December the waiting ticket is found to have a legal channel: its
    // acceptance is taken back on its November creation day.
    agent
        .tickets
        .mark_not_accepted(authed(
            &agent.token,
            pb::MarkNotAcceptedRequest {
                name: waiting.name.clone(),
                legal_channel: pb::LegalChannel::Litigation as i32,
                note: "已告知诉讼途径".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let live = agent.card(november()).await.unwrap();
    assert_eq!(
        ratio(&live.ratios, "resolved_at_intake").1,
        4,
        "live November changed"
    );
    let after = agent.card(centre_frozen).await.unwrap();
    assert_eq!(after.ratios, before.ratios, "the frozen month did not");
    assert_eq!(after.frozen_month, "2026-11");

    let unit_frozen = agent
        .card(pb::GetUnitScorecardRequest {
            unit: "units/market-regulation".into(),
            frozen_month: "2026-11".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ratio(&unit_frozen.ratios, "on_time_completion"), (2, 3));
    let ranked = agent
        .rankings(pb::ListRankingsRequest {
            region_code: "3301".into(),
            frozen_month: "2026-11".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ranked.entries.len(), 1);

    let err = agent
        .card(pb::GetUnitScorecardRequest {
            frozen_month: "2026-10".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "October was never frozen");
    let err = agent
        .card(pb::GetUnitScorecardRequest {
            frozen_month: "2026-11".into(),
            ..november()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::InvalidArgument,
        "a month or days, not both"
    );
}
