//! Row scope and caller privacy (DOMAIN.md §7).

use hotline::{
    domain::{Clock, TicketId},
    proto::v1 as pb,
};
use tonic::Code;

use crate::{
    helpers::{authed, complaint, spawn_app},
    merge::{call, pii_reads},
};

#[tokio::test]
async fn unit_users_see_a_masked_phone_and_no_identity_on_confidential_tickets() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");

    let open = agent.create(complaint()).await;
    agent
        .dispatch_to(&open.name, "market-regulation")
        .await
        .unwrap();
    let seen = unit.get(&open.name).await.unwrap();
    let caller = seen.caller.unwrap();
    assert_eq!(caller.phone, "138****1234");
    assert_eq!(caller.name, "张*");
    assert_eq!(seen.caller_visibility, pb::CallerVisibility::Masked as i32);

    let mut report = complaint();
    report.request_type = pb::RequestType::Report as i32;
    let secret = agent.create(report).await;
    assert!(secret.confidential, "举报 is confidential by default");
    agent
        .dispatch_to(&secret.name, "market-regulation")
        .await
        .unwrap();
    let seen = unit.get(&secret.name).await.unwrap();
    let caller = seen.caller.unwrap();
    assert_eq!((caller.name.as_str(), caller.phone.as_str()), ("", ""));
    assert_eq!(
        seen.caller_visibility,
        pb::CallerVisibility::Withheld as i32
    );

    let listed = unit
        .tickets
        .list_tickets(authed(&unit.token, pb::ListTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(listed.len(), 2);
    for t in &listed {
        let phone = t.caller.clone().unwrap().phone;
        assert!(phone.is_empty() || phone.contains("****"), "{phone}");
    }
    // The same confidential ticket's events carry no caller data either.
    for e in unit.events(&secret.name).await {
        let text = format!("{:?}", e.payload);
        assert!(
            !text.contains("13800131234") && !text.contains("张三"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn centre_staff_see_the_caller_and_the_view_is_audited() {
    let app = spawn_app().await;
    app.add_regions(&["330106"]).await;
    let mut agent = app.agent();
    let t = agent.create(complaint()).await;
    assert_eq!(
        t.caller.clone().unwrap().phone,
        "138****1234",
        "write responses stay masked"
    );
    let id = TicketId::from_name(&t.name).unwrap();
    assert_eq!(app.store.count_pii_access(id).await.unwrap(), 0);
    let full = agent.get(&t.name).await.unwrap();
    assert_eq!(full.caller.unwrap().phone, "13800131234");
    assert_eq!(full.caller_visibility, pb::CallerVisibility::Full as i32);
    assert_eq!(app.store.count_pii_access(id).await.unwrap(), 1);

    let found = agent
        .tickets
        .lookup_caller(authed(
            &agent.token,
            pb::LookupCallerRequest {
                phone: "138-0013-1234".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, t.name);
    assert_eq!(app.store.count_pii_access(id).await.unwrap(), 2);
}

#[tokio::test]
async fn a_unit_cannot_read_or_act_on_another_units_ticket() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut other = app.unit_user("xihu-street");
    let t = agent.create(complaint()).await;
    agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap();

    let err = other.get(&t.name).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = other.sign(&t.name).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let listed = other
        .tickets
        .list_tickets(authed(&other.token, pb::ListTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert!(listed.is_empty());
    assert_eq!(
        agent.get(&t.name).await.unwrap().state,
        pb::TicketState::Dispatched as i32
    );
}

#[tokio::test]
async fn supervisors_see_only_their_region() {
    let app = spawn_app().await;
    app.add_regions(&["330106", "440305"]).await;
    let mut agent = app.agent();
    let here = agent.create(complaint()).await;
    let mut elsewhere = complaint();
    elsewhere.region_code = "440305".into();
    let there = agent.create(elsewhere).await;

    let mut sup = app.supervisor("3301");
    assert!(sup.get(&here.name).await.is_ok());
    assert_eq!(
        sup.get(&there.name).await.unwrap_err().code(),
        Code::NotFound
    );
    let listed = sup
        .tickets
        .list_tickets(authed(&sup.token, pb::ListTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, [here.name.as_str()]);
}

/// A supervisor reading a primary in its region sees the callers merged
/// into it from outside the region as it sees any ticket in a list:
/// masked, and without a record of an unmasked view; the duplicate itself
/// stays out of its sight.
#[tokio::test]
async fn a_supervisor_sees_merged_callers_from_outside_its_region_masked() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let primary = agent.create(complaint()).await;
    let outside = agent
        .create(call("13900000002", "夜间施工扰民", "文三路工地夜间打桩"))
        .await;
    agent
        .merge(&primary.name, &[&outside.name], "")
        .await
        .unwrap();

    let mut sup = app.supervisor("330106");
    assert_eq!(
        sup.get(&outside.name).await.unwrap_err().code(),
        Code::NotFound,
        "the duplicate is outside the supervisor's region"
    );
    let before = pii_reads(&app, &outside.name).await;
    let shown = sup.get(&primary.name).await.unwrap();
    assert_eq!(
        shown.caller.unwrap().phone,
        "13800131234",
        "the primary's own caller, in scope, in full"
    );
    let merged = &shown.merged_tickets[0];
    assert_eq!(merged.name, outside.name);
    assert_eq!(merged.caller.clone().unwrap().phone, "139****0002");
    assert_eq!(
        merged.caller_visibility,
        pb::CallerVisibility::Masked as i32
    );
    assert_eq!(pii_reads(&app, &outside.name).await, before);
    // The centre's agent, who sees every ticket, still sees it in full.
    let full = agent.get(&primary.name).await.unwrap();
    assert_eq!(
        full.merged_tickets[0].caller.clone().unwrap().phone,
        "13900000002"
    );
}

/// Undoing a merge changes the primary too: a supervisor may not do it to
/// a primary outside its region, and the primary is not shown to it.
#[tokio::test]
async fn a_supervisor_cannot_unmerge_from_a_primary_outside_its_region() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let primary = agent
        .create(call("13900000002", "夜间施工扰民", "文三路工地夜间打桩"))
        .await;
    let inside = agent.create(complaint()).await;
    agent
        .merge(&primary.name, &[&inside.name], "")
        .await
        .unwrap();

    let mut sup = app.supervisor("330106");
    assert_eq!(
        sup.get(&primary.name).await.unwrap_err().code(),
        Code::NotFound
    );
    let err = sup.unmerge(&inside.name).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{}", err.message());
    let still = agent.get(&inside.name).await.unwrap();
    assert_eq!(still.merged_into, primary.name, "the merge stands");
    // The agent, who sees both, may.
    agent.unmerge(&inside.name).await.unwrap();
}

/// RecordCallback is the centre's: a unit learns nothing from it, not even
/// whether a ticket exists or is merged into another.
#[tokio::test]
async fn a_unit_learns_nothing_from_a_merged_callback() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");
    let primary = agent.create(complaint()).await;
    let other = agent.create(complaint()).await;
    agent
        .dispatch_to(&primary.name, "market-regulation")
        .await
        .unwrap();
    let absent = TicketId::generate(app.clock.now()).name();
    for merged_caller in [other.name.as_str(), absent.as_str()] {
        let err = unit
            .dispatch
            .record_callback(authed(
                &unit.token,
                pb::RecordCallbackRequest {
                    name: primary.name.clone(),
                    merged_caller: merged_caller.into(),
                    satisfaction: pb::Satisfaction::Satisfied as i32,
                    resolved: true,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::PermissionDenied,
            "{merged_caller}: {}",
            err.message()
        );
    }
}
