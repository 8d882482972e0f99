//! Units retired from the directory (机构改革) take no tickets, through the
//! API on the backend the environment names: every verb that names a unit
//! to hand a ticket to refuses a retired one, naming the field, the unit
//! and its successor; and routing — rules published before the retirement,
//! territorial rules, the district fallback — never lands on one, on this
//! replica at once and on another within its refresh.

use std::collections::HashMap;

use hotline::proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::{
    helpers::{As, TestApp, authed, error_reason, spawn_app_on},
    routing::{rule, seed_city, ticket_with},
};

async fn start(fallback_to_district: bool) -> TestApp {
    let database = hotline::store::testing::TestBackend::from_env()
        .fresh_store()
        .await;
    let app = spawn_app_on(database, move |s| {
        s.routing.fallback_to_district = fallback_to_district;
        s.routing.refresh_secs = 1;
    })
    .await;
    seed_city(&app).await;
    app
}

impl As {
    async fn reopen_to(&mut self, name: &str, lead: &str) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .reopen_ticket(authed(
                &self.token,
                pb::ReopenTicketRequest {
                    name: name.into(),
                    lead_unit: match lead {
                        "" => String::new(),
                        l => format!("units/{l}"),
                    },
                    note: "市民不满意，重办".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }
}

/// Checks a refusal: FAILED_PRECONDITION `UNIT_RETIRED` naming `field`,
/// the unit and, if any, its successor, in the details and the message.
fn assert_retired(err: &tonic::Status, field: &str, unit: &str, successor: Option<&str>) {
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let details = err.get_error_details();
    let info = details.error_info().expect("error info");
    assert_eq!(info.reason, "UNIT_RETIRED");
    let mut expected = HashMap::from([
        ("field".to_owned(), field.to_owned()),
        ("unit".to_owned(), format!("units/{unit}")),
    ]);
    if let Some(s) = successor {
        expected.insert("successor".into(), format!("units/{s}"));
    }
    assert_eq!(info.metadata, expected);
    let violation = &details
        .precondition_failure()
        .expect("violation")
        .violations[0];
    assert_eq!(violation.subject, format!("units/{unit}"));
    assert!(err.message().starts_with(field), "{}", err.message());
    if let Some(s) = successor {
        assert!(
            err.message().contains(&format!("units/{s}")),
            "{}",
            err.message()
        );
    }
}

#[tokio::test]
async fn no_verb_hands_a_ticket_to_a_retired_unit() {
    let app = start(false).await;
    let mut admin = app.admin();
    for unit in ["labour-bureau", "social-bureau"] {
        admin
            .add_unit(unit, unit, pb::UnitKind::Department, "330100")
            .await;
    }
    let mut agent = app.agent();
    // A ticket handled by hrss, its citizen dissatisfied: re-handling
    // must go to a unit that still exists.
    let handled = agent.create(ticket_with(|_| {})).await.name;
    agent.dispatch_to(&handled, "hrss").await.unwrap();
    let mut hrss = app.unit_user("hrss");
    hrss.sign(&handled).await.unwrap();
    hrss.reply(&handled, "已处理").await.unwrap();
    agent
        .rate(&handled, pb::Satisfaction::Dissatisfied, false)
        .await;

    // hrss renamed to labour-bureau, itself merged into social-bureau
    // later; transport abolished.
    admin.retire("hrss", "labour-bureau").await.unwrap();
    admin
        .retire("labour-bureau", "social-bureau")
        .await
        .unwrap();
    admin.retire("transport", "").await.unwrap();

    let name = agent.create(ticket_with(|_| {})).await.name;
    let err = agent.dispatch_to(&name, "hrss").await.unwrap_err();
    assert_retired(&err, "lead_unit", "hrss", Some("social-bureau"));
    let err = agent
        .dispatch_with(
            &name,
            "urban-management",
            &["market-regulation", "transport"],
        )
        .await
        .unwrap_err();
    assert_retired(&err, "co_units[1]", "transport", None);
    assert_eq!(
        agent.get(&name).await.unwrap().lead_unit,
        "",
        "nothing written"
    );

    // Re-dispatch after a return, by the centre's arbitration.
    agent.dispatch_to(&name, "urban-management").await.unwrap();
    app.unit_user("urban-management")
        .return_ticket(&name)
        .await
        .unwrap();
    let err = agent
        .arbitrate(&name, true, "labour-bureau")
        .await
        .unwrap_err();
    assert_retired(
        &err,
        "redispatch_unit",
        "labour-bureau",
        Some("social-bureau"),
    );
    // Co-handling units without a new lead unit have no dispatch to join.
    let co_only = pb::ArbitrateReturnRequest {
        name: name.clone(),
        approve: true,
        co_units: vec!["units/social-bureau".into()],
        ..Default::default()
    };
    let err = agent
        .dispatch
        .arbitrate_return(authed(&agent.token, co_only))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec!["co_units".to_owned()])
    );
    let sent = agent.arbitrate(&name, true, "social-bureau").await.unwrap();
    assert_eq!(sent.lead_unit, "units/social-bureau");

    // Re-handling: the ticket's own lead unit retired, or one named.
    let err = agent.reopen_to(&handled, "").await.unwrap_err();
    assert_retired(&err, "lead_unit", "hrss", Some("social-bureau"));
    let err = agent.reopen_to(&handled, "transport").await.unwrap_err();
    assert_retired(&err, "lead_unit", "transport", None);
    let reopened = agent.reopen_to(&handled, "social-bureau").await.unwrap();
    assert_eq!(reopened.lead_unit, "units/social-bureau");
}

#[tokio::test]
async fn routing_never_lands_on_a_retired_unit() {
    let app = start(true).await;
    let mut admin = app.admin();
    admin
        .add_unit(
            "labour-bureau",
            "labour-bureau",
            pb::UnitKind::Department,
            "330100",
        )
        .await;
    // Published before the retirements, as a centre's catalogue is.
    admin
        .create_rule(
            "wages",
            pb::Rule {
                keywords_any: vec!["工资".into()],
                co_units: vec!["units/transport".into(), "units/market-regulation".into()],
                ..rule("hrss")
            },
        )
        .await;
    admin
        .create_rule(
            "buses",
            pb::Rule {
                keywords_any: vec!["公交".into()],
                ..rule("transport")
            },
        )
        .await;
    admin
        .create_rule(
            "streetlights",
            pb::Rule {
                keywords_any: vec!["路灯".into()],
                territorial: pb::Territorial::Street as i32,
                ..Default::default()
            },
        )
        .await;
    admin.publish().await.unwrap();
    let replica = spawn_app_on(app.database.clone().unwrap(), |s| {
        s.routing.refresh_secs = 1;
    })
    .await;
    let text = |title: &'static str| ticket_with(move |t| t.title = title.into());
    let mut agent = app.agent();
    let mut other = replica.agent();
    assert_eq!(agent.create(text("拖欠工资")).await.lead_unit, "units/hrss");
    assert_eq!(
        other.create(text("路灯不亮")).await.lead_unit,
        "units/lingyin-street"
    );

    admin.retire("hrss", "labour-bureau").await.unwrap();
    admin.retire("transport", "").await.unwrap();
    admin.retire("lingyin-street", "").await.unwrap();
    // The other replica notices within its refresh (1 s).
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    for routing in [&mut agent, &mut other] {
        let wages = routing.create(text("拖欠工资")).await;
        assert_eq!(wages.lead_unit, "units/labour-bureau", "the successor");
        assert_eq!(wages.routing_rule, "rules/wages");
        assert_eq!(
            wages.co_units,
            ["units/market-regulation"],
            "abolished left out"
        );
        let bus = routing.create(text("公交班次太少")).await;
        assert_eq!(bus.lead_unit, "units/xihu-district", "rule dead: 兜底");
        let light = routing.create(text("路灯不亮")).await;
        assert_eq!(light.lead_unit, "units/xihu-district", "street gone: 兜底");
    }
    let explained = agent
        .routing
        .explain_routing(authed(
            &agent.token,
            pb::ExplainRoutingRequest {
                ticket: Some(text("拖欠工资")),
                max_matches: 5,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.lead_unit, "units/labour-bureau");

    // The district itself abolished: nothing left to fall back on.
    admin.retire("xihu-district", "").await.unwrap();
    let bus = agent.create(text("公交班次太少")).await;
    assert_eq!(bus.lead_unit, "", "triage");
}
