//! The learned dispatch suggestion through the API, on the backend the
//! environment names: trained from tickets closed here, activated, routing
//! a new ticket and explained; picked up by a second server on the same
//! database; rolled back; retired units never suggested; who may do what,
//! and the errors of bad input.

use hotline::proto::v1 as pb;
use tonic::Code;

use crate::{
    helpers::{As, TestApp, authed, error_reason, spawn_app_on},
    routing::{seed_city, ticket_with},
};

/// What the tickets of each unit say: distinct matters with shared words,
/// as a centre's history reads.
const HISTORY: &[(&str, &str, &str)] = &[
    (
        "urban-management",
        "夜市小摊贩占道经营",
        "每天晚上小摊贩在人行道上占道经营，油烟噪音扰民，请城管处理。",
    ),
    (
        "urban-management",
        "路边占道摆摊",
        "小区门口有人长期占道摆摊卖菜，垃圾乱扔，影响通行。",
    ),
    (
        "urban-management",
        "商户占用人行道",
        "沿街商户把货物摆到人行道上占道经营，行人只能走机动车道。",
    ),
    (
        "urban-management",
        "流动摊贩夜间经营",
        "流动摊贩夜间在路口占道经营烧烤，油烟很大。",
    ),
    (
        "transport",
        "公交车长时间不来",
        "12路公交车高峰期要等四十分钟，站台上挤满了人，希望增加班次。",
    ),
    (
        "transport",
        "公交线路调整后不方便",
        "公交线路调整后，小区附近的站台取消了，老人出行很不方便。",
    ),
    (
        "transport",
        "公交司机不按站停车",
        "公交司机经常不按站台停车，乘客只能追着公交车跑。",
    ),
    (
        "transport",
        "希望开通夜班公交",
        "晚上下班后没有公交车，希望开通夜班公交线路。",
    ),
    (
        "hrss",
        "公司拖欠工资三个月",
        "我在一家公司上班，公司已经拖欠工资三个月，老板一直不发。",
    ),
    (
        "hrss",
        "单位不交社保",
        "单位一直没有给我们缴纳社保，也不签劳动合同。",
    ),
    (
        "hrss",
        "辞职后工资不结算",
        "我辞职后公司拒绝结算最后一个月的工资和加班费。",
    ),
    (
        "hrss",
        "工地拖欠农民工工资",
        "工地包工头拖欠农民工工资，年底了还不发，请劳动监察处理。",
    ),
];

/// The settings of these tests: no rule set and no fallback, so a ticket
/// the model does not route waits in triage; the model decides from 0.5
/// (a handful of tickets holds none out to set its own threshold); other
/// replicas look for changes every second.
pub(crate) fn settings(s: &mut hotline::config::Settings) {
    s.routing.fallback_to_district = false;
    s.routing.refresh_secs = 1;
    s.dispatch_model.min_probability = 0.5;
}

pub(crate) async fn start() -> TestApp {
    let database = hotline::store::testing::TestBackend::from_env()
        .fresh_store()
        .await;
    let app = spawn_app_on(database, settings).await;
    seed_city(&app).await;
    app
}

fn ticket(title: &str, description: &str) -> pb::Ticket {
    ticket_with(|t| {
        t.title = title.into();
        t.description = description.into();
    })
}

/// Takes a new ticket to `closed` with `unit` as its final lead unit; the
/// first ticket of urban-management goes to transport first, which returns
/// it, and the centre's arbitration sends it on: the history the model
/// learns is where tickets ended, not where they were first sent.
pub(crate) async fn close_history(app: &TestApp) {
    let mut agent = app.agent();
    for (i, (unit, title, description)) in HISTORY.iter().enumerate() {
        let created = agent.create(ticket(title, description)).await;
        assert_eq!(created.lead_unit, "", "no rule, no model: triage");
        let name = created.name;
        if i == 0 {
            agent.dispatch_to(&name, "transport").await.unwrap();
            app.unit_user("transport")
                .return_ticket(&name)
                .await
                .unwrap();
            agent.arbitrate(&name, true, unit).await.unwrap();
        } else {
            agent.dispatch_to(&name, unit).await.unwrap();
        }
        let mut handler = app.unit_user(unit);
        handler.sign(&name).await.unwrap();
        handler.reply(&name, "已处理并回复市民。").await.unwrap();
        agent.rate(&name, pb::Satisfaction::Satisfied, true).await;
        let closed = agent.close(&name).await;
        assert_eq!(closed.state, pb::TicketState::Closed as i32);
        assert_eq!(closed.lead_unit, format!("units/{unit}"));
    }
}

impl As {
    /// Starts a training (TrainDispatchModel returns at once, the version
    /// `training`) and waits for its end: the version when ready, its
    /// failure as FAILED_PRECONDITION when failed.
    async fn train(&mut self, note: &str) -> Result<pb::DispatchModel, tonic::Status> {
        let started = self.start_training(note).await?;
        assert_eq!(started.state, pb::DispatchModelState::Training as i32);
        let done = self.trained(&started.name).await;
        match pb::DispatchModelState::try_from(done.state) {
            Ok(pb::DispatchModelState::Ready) => Ok(done),
            _ => Err(tonic::Status::failed_precondition(done.failure)),
        }
    }

    pub(crate) async fn start_training(
        &mut self,
        note: &str,
    ) -> Result<pb::DispatchModel, tonic::Status> {
        self.models
            .train_dispatch_model(authed(
                &self.token,
                pb::TrainDispatchModelRequest { note: note.into() },
            ))
            .await
            .map(|r| r.into_inner().dispatch_model.unwrap())
    }

    pub(crate) async fn get_model(&mut self, name: &str) -> pb::DispatchModel {
        self.models
            .get_dispatch_model(authed(
                &self.token,
                pb::GetDispatchModelRequest { name: name.into() },
            ))
            .await
            .unwrap()
            .into_inner()
            .dispatch_model
            .unwrap()
    }

    /// The version once its training ended (30 s at most).
    pub(crate) async fn trained(&mut self, name: &str) -> pb::DispatchModel {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let model = self.get_model(name).await;
            if model.state != pb::DispatchModelState::Training as i32 {
                return model;
            }
            assert!(std::time::Instant::now() < deadline, "still training");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn activate(
        &mut self,
        name: &str,
    ) -> Result<pb::DispatchModel, tonic::Status> {
        self.models
            .activate_dispatch_model(authed(
                &self.token,
                pb::ActivateDispatchModelRequest {
                    name: name.into(),
                    note: "上线".into(),
                },
            ))
            .await
            .map(|r| r.into_inner().dispatch_model.unwrap())
    }

    async fn rollback(&mut self) -> Result<Option<pb::DispatchModel>, tonic::Status> {
        self.models
            .rollback_dispatch_model(authed(
                &self.token,
                pb::RollbackDispatchModelRequest {
                    note: "回退".into(),
                },
            ))
            .await
            .map(|r| r.into_inner().dispatch_model)
    }

    pub(crate) async fn models(&mut self) -> Vec<pb::DispatchModel> {
        self.models
            .list_dispatch_models(authed(
                &self.token,
                pb::ListDispatchModelsRequest::default(),
            ))
            .await
            .unwrap()
            .into_inner()
            .dispatch_models
    }

    async fn explain_text(&mut self, title: &str, description: &str) -> pb::ExplainRoutingResponse {
        self.routing
            .explain_routing(authed(
                &self.token,
                pb::ExplainRoutingRequest {
                    ticket: Some(ticket(title, description)),
                    max_matches: 3,
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    pub(crate) async fn retire(
        &mut self,
        unit: &str,
        successor: &str,
    ) -> Result<pb::UnitRetirement, tonic::Status> {
        self.directory
            .retire_unit(authed(
                &self.token,
                pb::RetireUnitRequest {
                    name: format!("units/{unit}"),
                    successor: if successor.is_empty() {
                        String::new()
                    } else {
                        format!("units/{successor}")
                    },
                    note: "机构改革".into(),
                },
            ))
            .await
            .map(|r| r.into_inner().retirement.unwrap())
    }
}

const STALLS: (&str, &str) = (
    "晚上有人占道经营",
    "小摊贩晚上在人行道上占道经营，油烟噪音很大。",
);
const WAGES: (&str, &str) = ("老板拖欠工资", "公司拖欠我两个月工资，老板不接电话。");
const BUS: (&str, &str) = (
    "公交车班次太少",
    "公交车要等很久，希望公交公司增加班次，站台太挤。",
);

fn units(explained: &pb::ExplainRoutingResponse) -> Vec<&str> {
    explained
        .model_units
        .iter()
        .map(|u| u.unit.as_str())
        .collect()
}

#[tokio::test]
async fn a_model_trained_on_closed_tickets_routes_new_ones_on_every_replica() {
    let app = start().await;
    let mut admin = app.admin();
    close_history(&app).await;
    let replica = spawn_app_on(app.database.clone().unwrap(), settings).await;

    let trained = admin.train("首个版本").await.unwrap();
    assert_eq!(trained.name, "dispatchModels/1");
    assert!(!trained.active, "trained versions wait for activation");
    assert_eq!(trained.trained_on, HISTORY.len() as i64);
    assert_eq!(trained.held_out, 0, "too few tickets to hold any out");
    assert_eq!(
        trained.units,
        ["units/hrss", "units/transport", "units/urban-management"]
    );
    let metrics = trained.metrics.unwrap();
    assert_eq!(metrics.tickets_read, HISTORY.len() as i32);
    assert_eq!((metrics.mapped, metrics.dropped), (0, 0));
    assert!(metrics.features > 20, "{metrics:?}");
    assert_eq!(trained.creator, "admin-root");
    assert_eq!(trained.note, "首个版本");

    // Not active: the rules alone, and there are none.
    let mut agent = app.agent();
    let before = agent.create(ticket(STALLS.0, STALLS.1)).await;
    assert_eq!(before.lead_unit, "");
    let explained = agent.explain_text(STALLS.0, STALLS.1).await;
    assert_eq!(explained.dispatch_model, "");
    assert!(explained.model_units.is_empty());

    let active = admin.activate("dispatchModels/1").await.unwrap();
    assert!(active.active);
    assert_eq!(
        admin.activate("dispatchModels/1").await.unwrap().version,
        1,
        "again: no change"
    );
    let listed = agent.models().await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].active);

    for (text, unit) in [
        (STALLS, "units/urban-management"),
        (WAGES, "units/hrss"),
        (BUS, "units/transport"),
    ] {
        let routed = agent.create(ticket(text.0, text.1)).await;
        assert_eq!(routed.lead_unit, unit, "{}", text.0);
        assert_eq!(routed.routing_source, pb::RoutingSource::Model as i32);
        assert_eq!(routed.routing_dispatch_model, "dispatchModels/1");
        assert_eq!(routed.routing_rule, "");
    }

    let explained = agent.explain_text(STALLS.0, STALLS.1).await;
    assert_eq!(explained.source, pb::RoutingSource::Model as i32);
    assert_eq!(explained.lead_unit, "units/urban-management");
    assert_eq!(explained.dispatch_model, "dispatchModels/1");
    assert_eq!(explained.model_threshold, 0.5);
    assert_eq!(units(&explained).len(), 3, "the top three units");
    assert_eq!(units(&explained)[0], "units/urban-management");
    let p: Vec<f32> = explained
        .model_units
        .iter()
        .map(|u| u.probability)
        .collect();
    assert!(p[0] >= 0.5 && p.windows(2).all(|w| w[0] >= w[1]), "{p:?}");
    assert!(p.iter().sum::<f32>() <= 1.0 + 1e-4, "{p:?}");
    let decisive = &explained.decisive_features;
    assert!(!decisive.is_empty() && decisive.len() <= 5, "{decisive:?}");
    assert!(
        decisive
            .windows(2)
            .all(|w| w[0].contribution >= w[1].contribution)
            && decisive.iter().all(|f| f.contribution > 0.0),
        "{decisive:?}"
    );
    assert!(
        decisive.iter().any(|f| f.feature.contains("占道")),
        "the words of the matter weigh: {decisive:?}"
    );

    // The other server on the same database picks the version up.
    let mut other = replica.agent();
    let mut seen = String::new();
    for _ in 0..100 {
        seen = other.explain_text(WAGES.0, WAGES.1).await.dispatch_model;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, "dispatchModels/1",
        "the replica follows the activation"
    );
    let routed = other.create(ticket(WAGES.0, WAGES.1)).await;
    assert_eq!(routed.lead_unit, "units/hrss");
    assert_eq!(routed.routing_source, pb::RoutingSource::Model as i32);

    // Rolled back: no version was active before, so the rules alone route.
    assert_eq!(admin.rollback().await.unwrap(), None);
    let after = agent.create(ticket(STALLS.0, STALLS.1)).await;
    assert_eq!(after.lead_unit, "", "back to triage");
    assert!(agent.models().await.iter().all(|m| !m.active));
    let err = admin.rollback().await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_reason(&err).0, "NO_ACTIVE_MODEL");

    // A second version, activated over the first, rolls back to it.
    let second = admin.train("第二版").await.unwrap();
    assert_eq!(second.version, 2);
    admin.activate("dispatchModels/1").await.unwrap();
    admin.activate("dispatchModels/2").await.unwrap();
    let back = admin.rollback().await.unwrap().unwrap();
    assert_eq!((back.version, back.active), (1, true));
    let listed = agent.models().await;
    assert_eq!(
        listed
            .iter()
            .map(|m| (m.version, m.active))
            .collect::<Vec<_>>(),
        [(2, false), (1, true)],
        "newest first"
    );
}

#[tokio::test]
async fn only_admins_change_models_and_bad_input_is_named() {
    let app = start().await;
    close_history(&app).await;
    let mut admin = app.admin();
    for mut who in [app.agent(), app.supervisor("330106")] {
        assert_eq!(
            who.train("x").await.unwrap_err().code(),
            Code::PermissionDenied
        );
        assert_eq!(
            who.activate("dispatchModels/1").await.unwrap_err().code(),
            Code::PermissionDenied
        );
        assert_eq!(
            who.rollback().await.unwrap_err().code(),
            Code::PermissionDenied
        );
        assert_eq!(
            who.retire("hrss", "").await.unwrap_err().code(),
            Code::PermissionDenied
        );
    }
    let mut unit = app.unit_user("hrss");
    let err = unit
        .models
        .list_dispatch_models(authed(
            &unit.token,
            pb::ListDispatchModelsRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "units do not see the models"
    );

    admin.train("v1").await.unwrap();
    for (name, code) in [
        ("models/1", Code::InvalidArgument),
        ("dispatchModels/x", Code::InvalidArgument),
        ("dispatchModels/0", Code::InvalidArgument),
        ("dispatchModels/9", Code::NotFound),
    ] {
        let err = admin.activate(name).await.unwrap_err();
        assert_eq!(err.code(), code, "{name}: {err:?}");
        if code == Code::InvalidArgument {
            assert_eq!(error_reason(&err).1, ["name"], "{name}");
        }
    }
    let err = admin.train(&"长".repeat(501)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(error_reason(&err).1, ["note"]);
    let err = admin
        .models
        .list_dispatch_models(authed(
            &admin.token,
            pb::ListDispatchModelsRequest {
                page_size: -1,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(admin.models().await.len(), 1, "nothing else was stored");
}

#[tokio::test]
async fn retired_units_are_never_suggested_before_or_after_retraining() {
    let app = start().await;
    close_history(&app).await;
    let mut admin = app.admin();
    admin.train("v1").await.unwrap();
    admin.activate("dispatchModels/1").await.unwrap();
    let mut agent = app.agent();
    assert_eq!(
        agent.create(ticket(WAGES.0, WAGES.1)).await.lead_unit,
        "units/hrss"
    );

    // hrss is renamed: a new unit takes its matters over; transport is
    // abolished without successor.
    admin
        .add_unit(
            "labour-bureau",
            "labour-bureau",
            pb::UnitKind::Department,
            "330100",
        )
        .await;
    let retired = admin.retire("hrss", "labour-bureau").await.unwrap();
    assert_eq!(retired.unit, "units/hrss");
    assert_eq!(retired.successor, "units/labour-bureau");
    assert_eq!(retired.retired_by, "admin-root");
    admin.retire("transport", "").await.unwrap();

    // The active model, trained before, maps and filters at once.
    let wages = agent.create(ticket(WAGES.0, WAGES.1)).await;
    assert_eq!(wages.lead_unit, "units/labour-bureau", "the successor");
    let bus = agent.create(ticket(BUS.0, BUS.1)).await;
    assert_ne!(bus.lead_unit, "units/transport", "never the abolished unit");
    for text in [WAGES, BUS, STALLS] {
        let explained = agent.explain_text(text.0, text.1).await;
        let shown = units(&explained);
        assert!(
            !shown.contains(&"units/hrss") && !shown.contains(&"units/transport"),
            "{}: {shown:?}",
            text.0
        );
        assert_ne!(explained.lead_unit, "units/hrss");
        assert_ne!(explained.lead_unit, "units/transport");
    }

    // Retraining labels hrss's history with its successor and leaves the
    // abolished unit's out.
    let v2 = admin.train("after the reform").await.unwrap();
    assert_eq!(v2.units, ["units/labour-bureau", "units/urban-management"]);
    let metrics = v2.metrics.unwrap();
    assert_eq!((metrics.mapped, metrics.dropped), (4, 4));
    assert_eq!(v2.trained_on, 8);
    admin.activate("dispatchModels/2").await.unwrap();
    let wages = agent.create(ticket(WAGES.0, WAGES.1)).await;
    assert_eq!(wages.lead_unit, "units/labour-bureau");
    assert_eq!(wages.routing_dispatch_model, "dispatchModels/2");

    // Nor may a rule send tickets to a retired unit.
    admin
        .create_rule(
            "buses",
            pb::Rule {
                keywords_any: vec!["公交".into()],
                ..crate::routing::rule("transport")
            },
        )
        .await;
    let err = admin.publish().await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("retired"), "{}", err.message());

    // What RetireUnit refuses.
    let err = admin.retire("hrss", "").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "retired already");
    assert_eq!(error_reason(&err).0, "UNIT_RETIRED");
    for (unit, successor, field) in [
        ("urban-management", "nowhere", "successor"),
        ("urban-management", "urban-management", "successor"),
        ("urban-management", "hrss", "successor"),
    ] {
        let err = admin.retire(unit, successor).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{successor}: {err:?}");
        assert_eq!(error_reason(&err).1, [field], "{successor}");
    }
    let err = admin.retire("nowhere", "").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = admin
        .directory
        .retire_unit(authed(
            &admin.token,
            pb::RetireUnitRequest {
                name: "hrss".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(error_reason(&err).1, ["name"]);
}
