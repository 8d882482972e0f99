//! Responsibility routing through the API: rules, publish/rollback,
//! territorial dispatch, the district fallback, triage and explanations.

use hotline::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{As, TestApp, authed, complaint, error_reason, spawn_app, spawn_app_on};

/// A small city: 西湖区 (330106) with 灵隐街道 (330106004) and departments.
pub(crate) async fn seed_city(app: &TestApp) {
    let mut admin = app.admin();
    for (code, name, parent) in [
        ("330100", "杭州市", ""),
        ("330106", "西湖区", "regions/330100"),
        ("330106004", "灵隐街道", "regions/330106"),
    ] {
        admin
            .directory
            .create_region(authed(
                &admin.token,
                pb::CreateRegionRequest {
                    region: Some(pb::Region {
                        code: code.into(),
                        display_name: name.into(),
                        parent: parent.into(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap();
    }
    for (id, kind, region) in [
        ("xihu-district", pb::UnitKind::District, "330106"),
        ("lingyin-street", pb::UnitKind::Street, "330106004"),
        ("market-regulation", pb::UnitKind::Department, "330100"),
        ("urban-management", pb::UnitKind::Department, "330100"),
        ("transport", pb::UnitKind::Department, "330100"),
        ("hrss", pb::UnitKind::Department, "330100"),
        ("water-company", pb::UnitKind::Company, "330100"),
    ] {
        admin.add_unit(id, id, kind, region).await;
    }
}

pub(crate) fn rule(target: &str) -> pb::Rule {
    pb::Rule {
        target_unit: format!("units/{target}"),
        ..Default::default()
    }
}

impl As {
    pub(crate) async fn create_rule(&mut self, id: &str, rule: pb::Rule) {
        self.routing
            .create_rule(authed(
                &self.token,
                pb::CreateRuleRequest {
                    rule: Some(rule),
                    rule_id: id.into(),
                },
            ))
            .await
            .unwrap();
    }

    pub(crate) async fn publish(&mut self) -> Result<pb::RuleSet, tonic::Status> {
        self.routing
            .publish_rule_set(authed(
                &self.token,
                pb::PublishRuleSetRequest {
                    note: "test".into(),
                },
            ))
            .await
            .map(|r| r.into_inner().rule_set.unwrap())
    }
}

pub(crate) fn ticket_with(edit: impl FnOnce(&mut pb::Ticket)) -> pb::Ticket {
    let mut t = complaint();
    t.title = "市民来电".into();
    t.description = "反映情况".into();
    t.subject_code = String::new();
    t.region_code = "330106004".into();
    edit(&mut t);
    t
}

#[tokio::test]
async fn each_attribute_routes_and_the_ticket_says_why() {
    let app = spawn_app().await;
    seed_city(&app).await;
    app.add_regions(&["440305"]).await;
    let mut admin = app.admin();
    let rules = [
        (
            "noise",
            pb::Rule {
                keywords_any: vec!["噪音".into()],
                ..rule("urban-management")
            },
        ),
        (
            "traffic-subject",
            pb::Rule {
                subject_prefixes: vec!["03".into()],
                ..rule("transport")
            },
        ),
        (
            "reports",
            pb::Rule {
                request_types: vec![pb::RequestType::Report as i32],
                ..rule("market-regulation")
            },
        ),
        (
            "hotline-12333",
            pb::Rule {
                legacy_hotlines: vec!["12333".into()],
                ..rule("hrss")
            },
        ),
        (
            "outage",
            pb::Rule {
                urgencies: vec![pb::Urgency::UtilityOutage as i32],
                ..rule("water-company")
            },
        ),
        (
            "bus-reroute",
            pb::Rule {
                keywords_all: vec!["公交".into(), "改线".into()],
                keywords_none: vec!["出租车".into()],
                ..rule("transport")
            },
        ),
        (
            "region-4403",
            pb::Rule {
                region_prefixes: vec!["4403".into()],
                ..rule("market-regulation")
            },
        ),
    ];
    for (id, rule) in rules {
        admin.create_rule(id, rule).await;
    }
    let published = admin.publish().await.unwrap();
    assert_eq!(
        (published.version, published.rule_count, published.active),
        (1, 7, true)
    );

    let mut agent = app.agent();
    let cases: Vec<(&str, pb::Ticket, &str)> = vec![
        (
            "noise",
            ticket_with(|t| t.description = "楼下工地夜间噪音扰民".into()),
            "urban-management",
        ),
        (
            "traffic-subject",
            ticket_with(|t| t.subject_code = "03.01".into()),
            "transport",
        ),
        (
            "reports",
            ticket_with(|t| t.request_type = pb::RequestType::Report as i32),
            "market-regulation",
        ),
        (
            "hotline-12333",
            ticket_with(|t| t.legacy_hotline = "12333".into()),
            "hrss",
        ),
        (
            "outage",
            ticket_with(|t| t.urgency = pb::Urgency::UtilityOutage as i32),
            "water-company",
        ),
        (
            "bus-reroute",
            ticket_with(|t| t.title = "公交线路改线后不便".into()),
            "transport",
        ),
        (
            "region-4403",
            ticket_with(|t| t.region_code = "440305".into()),
            "market-regulation",
        ),
    ];
    for (rule_id, ticket, unit) in cases {
        let created = agent.create(ticket).await;
        assert_eq!(
            created.state,
            pb::TicketState::Dispatched as i32,
            "{rule_id}"
        );
        assert_eq!(created.lead_unit, format!("units/{unit}"), "{rule_id}");
        assert_eq!(created.routing_rule, format!("rules/{rule_id}"));
        assert_eq!(created.routing_source, pb::RoutingSource::Rule as i32);
        assert_eq!(created.rule_set_version, 1);
        let events = agent.events(&created.name).await;
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["created", "dispatched"],
            "one transaction, two events"
        );
        let payload = events[1].payload.clone().unwrap();
        let recorded = payload.fields.get("rule_id").and_then(|v| v.kind.clone());
        assert_eq!(
            recorded,
            Some(prost_types::value::Kind::StringValue(rule_id.into()))
        );
    }
    // keywords_none vetoes the all-of rule: falls through to the district.
    let vetoed = agent
        .create(ticket_with(|t| t.title = "公交改线，出租车也难打".into()))
        .await;
    assert_eq!(
        vetoed.routing_source,
        pb::RoutingSource::DistrictFallback as i32
    );
}

#[tokio::test]
async fn priority_then_specificity_decide_and_explain_shows_runner_ups() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut admin = app.admin();
    admin
        .create_rule(
            "generic-noise",
            pb::Rule {
                keywords_any: vec!["噪音".into()],
                ..rule("urban-management")
            },
        )
        .await;
    admin
        .create_rule(
            "xihu-noise",
            pb::Rule {
                keywords_any: vec!["噪音".into()],
                region_prefixes: vec!["330106".into()],
                ..rule("lingyin-street")
            },
        )
        .await;
    admin
        .create_rule(
            "shop-noise",
            pb::Rule {
                keywords_any: vec!["商铺".into()],
                priority: 10,
                ..rule("market-regulation")
            },
        )
        .await;
    admin.publish().await.unwrap();
    let mut agent = app.agent();

    let explain = |title: &str| pb::ExplainRoutingRequest {
        ticket: Some(ticket_with(|t| t.title = title.into())),
        max_matches: 5,
    };
    let noise = agent
        .routing
        .explain_routing(authed(&agent.token, explain("夜间噪音")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        noise.rule, "rules/xihu-noise",
        "more specific wins at equal priority"
    );
    let order: Vec<&str> = noise.matches.iter().map(|m| m.rule.as_str()).collect();
    assert_eq!(order, ["rules/xihu-noise", "rules/generic-noise"]);
    assert!(noise.matches[0].specificity > noise.matches[1].specificity);

    let shop = agent
        .routing
        .explain_routing(authed(&agent.token, explain("商铺噪音")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        shop.lead_unit, "units/market-regulation",
        "priority beats specificity"
    );
    assert_eq!(shop.matches.len(), 3);
    assert_eq!(shop.rule_set_version, 1);

    let created = agent
        .create(ticket_with(|t| t.title = "商铺噪音".into()))
        .await;
    assert_eq!(
        created.routing_rule, "rules/shop-noise",
        "intake agrees with the dry run"
    );
}

#[tokio::test]
async fn territorial_rules_fallback_and_triage() {
    let app = spawn_app().await;
    seed_city(&app).await;
    // A district with no district unit: the fallback finds no one.
    app.add_regions(&["330199"]).await;
    let mut admin = app.admin();
    admin
        .create_rule(
            "street-matters",
            pb::Rule {
                keywords_any: vec!["占道".into()],
                territorial: pb::Territorial::Street as i32,
                ..Default::default()
            },
        )
        .await;
    admin.publish().await.unwrap();
    let mut agent = app.agent();

    let street = agent
        .create(ticket_with(|t| t.title = "商贩占道经营".into()))
        .await;
    assert_eq!(street.lead_unit, "units/lingyin-street");
    assert_eq!(street.routing_source, pb::RoutingSource::Rule as i32);

    let fallback = agent
        .create(ticket_with(|t| t.title = "其他问题".into()))
        .await;
    assert_eq!(
        fallback.lead_unit, "units/xihu-district",
        "兜底 to the district of the region"
    );
    assert_eq!(
        fallback.routing_source,
        pb::RoutingSource::DistrictFallback as i32
    );
    assert_eq!(fallback.routing_rule, "");

    let nowhere = agent
        .create(ticket_with(|t| t.region_code = "330199".into()))
        .await;
    assert_eq!(nowhere.state, pb::TicketState::PendingDispatch as i32);
    assert_eq!(nowhere.lead_unit, "");
    let queue = agent
        .dispatch
        .list_triage_queue(authed(&agent.token, pb::ListTriageQueueRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    let names: Vec<&str> = queue.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, [nowhere.name.as_str()]);
}

#[tokio::test]
async fn publish_and_rollback_change_routing_for_new_tickets_only() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut admin = app.admin();
    let noise = pb::Rule {
        keywords_any: vec!["噪音".into()],
        ..rule("urban-management")
    };
    admin.create_rule("noise", noise.clone()).await;
    admin.publish().await.unwrap();
    let mut agent = app.agent();
    let first = agent.create(ticket_with(|t| t.title = "噪音".into())).await;
    assert_eq!(first.lead_unit, "units/urban-management");

    admin
        .routing
        .update_rule(authed(
            &admin.token,
            pb::UpdateRuleRequest {
                rule: Some(pb::Rule {
                    name: "rules/noise".into(),
                    ..pb::Rule {
                        target_unit: "units/market-regulation".into(),
                        ..noise
                    }
                }),
            },
        ))
        .await
        .unwrap();
    let draft_only = agent.create(ticket_with(|t| t.title = "噪音".into())).await;
    assert_eq!(
        draft_only.lead_unit, "units/urban-management",
        "drafts do not route"
    );
    let v2 = admin.publish().await.unwrap();
    assert_eq!(v2.version, 2);
    let second = agent.create(ticket_with(|t| t.title = "噪音".into())).await;
    assert_eq!(
        (second.lead_unit.as_str(), second.rule_set_version),
        ("units/market-regulation", 2)
    );
    assert_eq!(
        agent.get(&first.name).await.unwrap().lead_unit,
        "units/urban-management"
    );

    let rolled = admin
        .routing
        .rollback_rule_set(authed(
            &admin.token,
            pb::RollbackRuleSetRequest {
                name: "ruleSets/1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .rule_set
        .unwrap();
    assert!(rolled.active);
    let third = agent.create(ticket_with(|t| t.title = "噪音".into())).await;
    assert_eq!(
        (third.lead_unit.as_str(), third.rule_set_version),
        ("units/urban-management", 1)
    );

    let sets = admin
        .routing
        .list_rule_sets(authed(&admin.token, pb::ListRuleSetsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .rule_sets;
    let listed: Vec<(i64, bool)> = sets.iter().map(|s| (s.version, s.active)).collect();
    assert_eq!(listed, [(2, false), (1, true)]);
    let v1_rules = admin
        .routing
        .list_rules(authed(
            &admin.token,
            pb::ListRulesRequest {
                rule_set: "ruleSets/1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(
        v1_rules[0].target_unit, "units/urban-management",
        "published versions are immutable"
    );
    let missing = admin
        .routing
        .rollback_rule_set(authed(
            &admin.token,
            pb::RollbackRuleSetRequest {
                name: "ruleSets/9".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn invalid_rule_sets_name_rule_and_field_and_leave_the_active_version() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut admin = app.admin();
    admin
        .create_rule(
            "noise",
            pb::Rule {
                keywords_any: vec!["噪音".into()],
                ..rule("urban-management")
            },
        )
        .await;
    admin.publish().await.unwrap();

    admin
        .create_rule(
            "ghost-unit",
            pb::Rule {
                keywords_any: vec!["幽灵".into()],
                ..rule("no-such-unit")
            },
        )
        .await;
    admin.create_rule("empty", rule("transport")).await;
    admin
        .create_rule(
            "bad-code",
            pb::Rule {
                subject_prefixes: vec!["1.2".into()],
                ..rule("transport")
            },
        )
        .await;
    let report = admin
        .routing
        .validate_rule_set(authed(&admin.token, pb::ValidateRuleSetRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(!report.valid);
    let found: Vec<(&str, &str)> = report
        .violations
        .iter()
        .map(|v| (v.rule.as_str(), v.field.as_str()))
        .collect();
    for expected in [
        ("rules/ghost-unit", "target_unit"),
        ("rules/empty", "condition"),
        ("rules/bad-code", "subject_prefixes[0]"),
    ] {
        assert!(found.contains(&expected), "{expected:?} in {found:?}");
    }
    let err = admin.publish().await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(error_reason(&err).1[0].starts_with("rules/"), "{err:?}");
    let sets = admin
        .routing
        .list_rule_sets(authed(&admin.token, pb::ListRuleSetsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .rule_sets;
    assert_eq!(sets.len(), 1, "no version was added");
    let mut agent = app.agent();
    let routed = agent.create(ticket_with(|t| t.title = "噪音".into())).await;
    assert_eq!(routed.rule_set_version, 1, "the active version stayed");

    for id in ["ghost-unit", "empty", "bad-code"] {
        admin
            .routing
            .delete_rule(authed(
                &admin.token,
                pb::DeleteRuleRequest {
                    name: format!("rules/{id}"),
                },
            ))
            .await
            .unwrap();
    }
    assert_eq!(admin.publish().await.unwrap().version, 2);
    let err = agent
        .routing
        .publish_rule_set(authed(&agent.token, pb::PublishRuleSetRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "agents do not publish");
}

#[tokio::test]
async fn a_publish_on_one_replica_reaches_the_others() {
    let app = spawn_app_on(
        hotline::store::testing::TestBackend::from_env()
            .fresh_store()
            .await,
        |s| s.routing.refresh_secs = 1,
    )
    .await;
    seed_city(&app).await;
    let replica = spawn_app_on(app.database.clone().unwrap(), |s| {
        s.routing.refresh_secs = 1
    })
    .await;
    let mut admin = app.admin();
    admin
        .create_rule(
            "noise",
            pb::Rule {
                keywords_any: vec!["噪音".into()],
                ..rule("urban-management")
            },
        )
        .await;
    admin.publish().await.unwrap();
    let mut other = replica.agent();
    let mut version = 0;
    for _ in 0..50 {
        version = other
            .routing
            .explain_routing(authed(
                &other.token,
                pb::ExplainRoutingRequest {
                    ticket: Some(ticket_with(|t| t.title = "噪音".into())),
                    max_matches: 1,
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .rule_set_version;
        if version == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(version, 1, "the other replica picked up the new version");
    let routed = other.create(ticket_with(|t| t.title = "噪音".into())).await;
    assert_eq!(routed.lead_unit, "units/urban-management");
}
