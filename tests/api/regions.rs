//! A ticket's region is checked against the region directory: a code the
//! directory does not place is refused, naming it; a street it does not
//! know, in a district it does, goes to the district government (属地兜底)
//! with a note saying why; a ticket with an unknown street carries that
//! note itself, so the agent who routes it from the triage queue sees it.

use tonic::Code;

use crate::{
    helpers::{As, authed, complaint, error_reason, spawn_app, spawn_app_configured},
    routing::{rule, seed_city},
};
use hotline::proto::v1 as pb;

async fn try_create(agent: &mut As, region: &str) -> Result<pb::Ticket, tonic::Status> {
    let mut ticket = complaint();
    ticket.region_code = region.into();
    ticket.title = "夜间施工噪音".into();
    agent.try_create(ticket, "").await
}

async fn try_update_region(
    agent: &mut As,
    name: &str,
    region: &str,
) -> Result<pb::Ticket, tonic::Status> {
    agent
        .tickets
        .update_ticket(authed(
            &agent.token,
            pb::UpdateTicketRequest {
                ticket: Some(pb::Ticket {
                    name: name.into(),
                    region_code: region.into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["region_code".into()],
                }),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner().ticket.unwrap())
}

fn assert_refused(status: &tonic::Status, code: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let (reason, fields) = error_reason(status);
    assert_eq!(reason, "INVALID_FIELD");
    assert_eq!(fields, ["ticket.region_code"]);
    assert!(status.message().contains(code), "{}", status.message());
}

#[tokio::test]
async fn a_region_code_not_in_the_directory_is_refused_at_intake() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut agent = app.agent();
    for code in ["999999", "999999001", "330199001"] {
        let status = try_create(&mut agent, code).await.unwrap_err();
        assert_refused(&status, code);
    }
    // Codes the directory holds are accepted.
    for code in ["330106", "330106004", "330106004001"] {
        try_create(&mut agent, code).await.unwrap();
    }
}

#[tokio::test]
async fn a_correction_to_a_region_not_in_the_directory_is_refused() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let ticket = try_create(&mut agent, "330106004").await.unwrap();
    let status = try_update_region(&mut agent, &ticket.name, "999999")
        .await
        .unwrap_err();
    assert_refused(&status, "999999");
    let unchanged = agent.get(&ticket.name).await.unwrap();
    assert_eq!(unchanged.region_code, "330106004");
    // An unknown street of a known district is accepted, as at intake.
    let moved = try_update_region(&mut agent, &ticket.name, "330106999")
        .await
        .unwrap();
    assert_eq!(moved.region_code, "330106999");
}

#[tokio::test]
async fn an_unknown_street_of_a_known_district_goes_to_the_district_with_a_note() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut admin = app.admin();
    // A keyword rule that would take the ticket anywhere in the city.
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
    let mut agent = app.agent();

    let known = try_create(&mut agent, "330106004").await.unwrap();
    assert_eq!(known.lead_unit, "units/urban-management", "rules apply");

    let ticket = try_create(&mut agent, "330106999").await.unwrap();
    assert_eq!(ticket.region_code, "330106999", "the caller's code is kept");
    assert_eq!(ticket.lead_unit, "units/xihu-district");
    assert_eq!(
        ticket.routing_source,
        pb::RoutingSource::DistrictFallback as i32
    );
    assert_eq!(ticket.routing_rule, "");
    assert!(
        ticket.region_note.contains("330106999"),
        "{:?}",
        ticket.region_note
    );
    let events = agent.events(&ticket.name).await;
    let dispatched = events
        .iter()
        .find(|e| e.kind == "dispatched")
        .expect("a dispatched event");
    let payload = format!("{:?}", dispatched.payload);
    assert!(
        payload.contains("330106999") && payload.contains("不在区划目录中"),
        "the note says the street is unknown: {payload}"
    );
}

async fn triage_queue(agent: &mut As) -> Vec<pb::Ticket> {
    agent
        .dispatch
        .list_triage_queue(authed(&agent.token, pb::ListTriageQueueRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tickets
}

/// Found: an unknown street that ended in the triage queue (automatic
/// dispatch off, or no unit for its district) said nothing of it. Now the
/// ticket carries `region_note`, shown in the queue and recorded in its
/// `created` event; a correction of the region replaces it.
#[tokio::test]
async fn an_unknown_street_left_in_triage_carries_a_note_saying_so() {
    // Automatic dispatch off: every ticket waits in the queue.
    let app = spawn_app_configured(|s| s.routing.auto_dispatch = false).await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let known = try_create(&mut agent, "330106004").await.unwrap();
    let unknown = try_create(&mut agent, "330106999").await.unwrap();
    assert_eq!(unknown.state, pb::TicketState::PendingDispatch as i32);
    let queue = triage_queue(&mut agent).await;
    let note_of = |name: &str| {
        queue
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.region_note.clone())
            .expect("in the queue")
    };
    assert_eq!(note_of(&known.name), "", "a known street has no note");
    let note = note_of(&unknown.name);
    assert!(
        note.contains("330106999") && note.contains("不在区划目录中") && note.contains("330106"),
        "the queue says the street is unknown and names the district: {note:?}"
    );
    let events = agent.events(&unknown.name).await;
    let created = events.iter().find(|e| e.kind == "created").unwrap();
    let payload = format!("{:?}", created.payload);
    assert!(
        payload.contains("region_note") && payload.contains("330106999"),
        "{payload}"
    );

    // Corrected to a street the directory knows: the note goes.
    let fixed = try_update_region(&mut agent, &unknown.name, "330106004")
        .await
        .unwrap();
    assert_eq!(fixed.region_note, "");
    // Back to an unknown one: it comes back.
    let again = try_update_region(&mut agent, &unknown.name, "330106998")
        .await
        .unwrap();
    assert!(
        again.region_note.contains("330106998"),
        "{:?}",
        again.region_note
    );

    // Automatic dispatch on, a district without a unit: triage, with the note.
    let app = spawn_app().await;
    seed_city(&app).await;
    app.add_regions(&["330108"]).await;
    let mut agent = app.agent();
    let stranded = try_create(&mut agent, "330108999").await.unwrap();
    assert_eq!(stranded.state, pb::TicketState::PendingDispatch as i32);
    assert_eq!(stranded.lead_unit, "");
    let queue = triage_queue(&mut agent).await;
    let listed = queue
        .iter()
        .find(|t| t.name == stranded.name)
        .expect("queued");
    assert!(
        listed.region_note.contains("330108999"),
        "{:?}",
        listed.region_note
    );
}
