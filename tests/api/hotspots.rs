//! Hotspots through the gRPC client (issue #18): a surge of similar tickets
//! taken by CreateTicket becomes a hotspot with a supervision item due 5
//! hours later; the centre confirms, dismisses and merges, and merges the
//! hotspot's tickets with MergeTickets; state, input, role and scope errors.
//! Restarts and replicas: `hotspot_replicas.rs`. Run on SQLite here and on
//! PostgreSQL in CI's PostgreSQL leg (the whole suite with
//! `TEST_DATABASE_URL`).

use std::time::Duration;

use chrono::TimeDelta;
use hotline::{domain::Clock, proto::v1 as pb};
use tonic::Code;

use crate::{
    helpers::{TestApp, error_reason, spawn_app_configured},
    hotspot_client::{BUS, OTHERS, WATER, add_streets, confirmation, quick, surge},
    ops::Scrape,
};

/// A server with the quick detector, the directory and the surge streets.
async fn app() -> TestApp {
    let app = spawn_app_configured(quick).await;
    app.seed_directory().await;
    add_streets(&app).await;
    app
}

fn seconds(ts: &Option<prost_types::Timestamp>) -> i64 {
    ts.as_ref().expect("set").seconds
}

/// The one hotspot of `all` whose tickets include `ticket`.
fn holding<'a>(all: &'a [pb::Hotspot], ticket: &str) -> Option<&'a pb::Hotspot> {
    all.iter().find(|h| h.tickets.iter().any(|t| t == ticket))
}

#[tokio::test]
async fn a_surge_of_similar_tickets_becomes_a_hotspot_with_a_five_hour_supervision_item() {
    let app = app().await;
    let started = app.clock.now();
    let others = surge(&app, "330106001", &OTHERS, 100).await;
    let water = surge(&app, "330106001", &WATER[..4], 200).await;
    let mut sup = app.supervisor("3301").hot();
    let all = sup
        .wait_until("the four water tickets in one hotspot", |all| {
            all.len() == 1 && all[0].tickets.len() == 4
        })
        .await;
    let h = &all[0];
    assert_eq!(h.tickets, water, "the surge's tickets, oldest first");
    assert!(
        others.iter().all(|o| !h.tickets.contains(o)),
        "not the others"
    );
    assert_eq!(h.state, pb::HotspotState::Detected as i32);
    assert_eq!(
        (h.area.as_str(), h.district.as_str()),
        ("330106001", "330106")
    );
    assert_eq!(h.seed_ticket, water[0]);
    let heat = h.heat.as_ref().unwrap();
    assert_eq!((heat.count, heat.distinct_callers), (4, 4));
    assert!(heat.top_words.iter().any(|w| w == "停水"), "{heat:?}");
    assert_eq!(heat.example_tickets, water[..3].to_vec());
    assert_eq!(heat.areas, vec!["330106001".to_owned()]);
    let detected = seconds(&h.create_time);
    assert!((started.timestamp()..=app.clock.now().timestamp()).contains(&detected));
    let item = h.supervision.as_ref().unwrap();
    assert_eq!(
        seconds(&item.response_deadline),
        detected + TimeDelta::hours(5).num_seconds(),
        "due 5 natural hours after detection, on the service's clock"
    );
    assert!(item.response_time.is_none() && !item.overdue);
    assert_eq!(sup.get(&h.name).await.unwrap(), *h);
    let scrape = Scrape::of(&app).await;
    assert_eq!(
        scrape.get("hotline_hotspots_detected_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        scrape.get("hotline_hotspot_detector_lag_tickets", &[]),
        Some(0.0),
        "caught up"
    );
    let clusters = scrape.get("hotline_hotspot_detector_clusters", &[]);
    assert_eq!(
        clusters,
        Some(3.0),
        "the water and the two unrelated requests"
    );

    // Past the deadline unanswered: overdue, and in the overdue list.
    app.clock
        .advance(TimeDelta::hours(5) + TimeDelta::seconds(1));
    let overdue_only = pb::ListHotspotsRequest {
        overdue_only: true,
        ..Default::default()
    };
    let overdue = sup.list(overdue_only.clone()).await.unwrap().hotspots;
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].supervision.as_ref().unwrap().overdue);

    let confirmed = sup.confirm(confirmation(&h.name)).await.unwrap();
    assert_eq!(confirmed.state, pb::HotspotState::Confirmed as i32);
    assert_eq!(confirmed.note, "已通知自来水公司抢修");
    let answered = confirmed.supervision.as_ref().unwrap();
    assert_eq!(
        seconds(&answered.response_time),
        app.clock.now().timestamp()
    );
    assert_eq!(answered.responder, "sup-3301");
    assert!(!answered.overdue, "answered, if late");
    assert!(sup.list(overdue_only).await.unwrap().hotspots.is_empty());
    let again = sup.confirm(confirmation(&h.name)).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(error_reason(&again).0, "HOTSPOT_STATE");

    // The supervisor merges the hotspot's tickets into its first one.
    let duplicates: Vec<&str> = confirmed.tickets[1..].iter().map(String::as_str).collect();
    let merged = app
        .supervisor("3301")
        .merge(&confirmed.tickets[0], &duplicates, "")
        .await
        .unwrap();
    assert_eq!(merged.primary.unwrap().name, water[0]);
    assert_eq!(merged.duplicates.len(), 3);
    // A merged ticket is no new surge: still one hotspot.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sup.all().await.len(), 1);
}

#[tokio::test]
async fn decisions_check_state_input_role_and_scope() {
    let app = app().await;
    let water = surge(&app, "330106001", &WATER[..3], 300).await;
    let bus = surge(&app, "330106002", &BUS[..3], 400).await;
    let mut sup = app.supervisor("3301").hot();
    let all = sup
        .wait_until("two hotspots", |all| {
            holding(all, &water[2]).is_some() && holding(all, &bus[2]).is_some()
        })
        .await;
    let (p, b) = (
        holding(&all, &water[0]).unwrap(),
        holding(&all, &bus[0]).unwrap(),
    );
    assert_ne!(p.name, b.name);

    // Bad input names its field.
    let field = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        error_reason(&status).1
    };
    assert_eq!(field(sup.get("tickets/x").await.unwrap_err()), ["name"]);
    assert_eq!(
        field(sup.dismiss(&p.name, "  ").await.unwrap_err()),
        ["reason"]
    );
    // PostgreSQL cannot store a NUL: refused, not INTERNAL.
    assert_eq!(
        field(sup.dismiss(&p.name, "巧合\u{0}").await.unwrap_err()),
        ["reason"]
    );
    let mut nul_note = confirmation(&p.name);
    nul_note.note = "已通知\u{0}".into();
    assert_eq!(field(sup.confirm(nul_note).await.unwrap_err()), ["note"]);
    assert_eq!(
        field(sup.merge(&p.name, &p.name).await.unwrap_err()),
        ["target"]
    );
    assert_eq!(
        field(sup.merge(&p.name, "hotspots/nope").await.unwrap_err()),
        ["target"]
    );
    let bad_list = |f: fn(&mut pb::ListHotspotsRequest)| {
        let mut req = pb::ListHotspotsRequest::default();
        f(&mut req);
        req
    };
    for (req, expected) in [
        (bad_list(|r| r.page_size = -1), "page_size"),
        (bad_list(|r| r.area_prefix = "33a".into()), "area_prefix"),
        (bad_list(|r| r.states = vec![0]), "states"),
        (bad_list(|r| r.page_token = "garbage".into()), "page_token"),
    ] {
        assert_eq!(field(sup.list(req).await.unwrap_err()), [expected]);
    }
    assert_eq!(
        field(sup.watch("garbage").await.unwrap_err()),
        ["resume_token"]
    );

    // Roles and scope.
    let denied = app
        .agent()
        .hot()
        .confirm(confirmation(&p.name))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let elsewhere = app
        .supervisor("330108")
        .hot()
        .get(&p.name)
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::NotFound, "outside its region");
    let mut district_unit = app.unit_user("xihu-street").hot();
    assert_eq!(
        district_unit.all().await.len(),
        2,
        "its region is the district"
    );
    let unit_denied = district_unit.dismiss(&p.name, "巧合").await.unwrap_err();
    assert_eq!(
        unit_denied.code(),
        Code::PermissionDenied,
        "units only read"
    );
    app.add_unit(
        "cuiyuan-community",
        "翠苑社区",
        pb::UnitKind::Street,
        "330106001",
    )
    .await;
    let mut street_unit = app.unit_user("cuiyuan-community").hot();
    let seen: Vec<String> = street_unit
        .all()
        .await
        .into_iter()
        .map(|h| h.name)
        .collect();
    assert_eq!(seen, vec![p.name.clone()], "its street's hotspot only");
    assert_eq!(
        street_unit.get(&b.name).await.unwrap_err().code(),
        Code::NotFound
    );
    let auditor = app.auditor();
    let no = auditor.hot().list(Default::default()).await.unwrap_err();
    assert_eq!(no.code(), Code::PermissionDenied);

    // A stale etag is ABORTED; a retry with the same request_id replays,
    // the same id with another request is refused.
    let mut stale = confirmation(&p.name);
    stale.etag = "0".into();
    assert_eq!(sup.confirm(stale).await.unwrap_err().code(), Code::Aborted);
    let mut keyed = confirmation(&p.name);
    keyed.request_id = "confirm-water-1".into();
    keyed.etag = p.etag.clone();
    let first = sup.confirm(keyed.clone()).await.unwrap();
    let retried = sup.confirm(keyed.clone()).await.unwrap();
    assert_eq!(retried, first, "a retry gets the hotspot, not an error");
    keyed.note = "另一个说明".into();
    let reused = sup.confirm(keyed).await.unwrap_err();
    assert_eq!(error_reason(&reused).0, "REQUEST_ID_REUSED");

    // Dismissing a confirmed hotspot is a state error; the bus hotspot
    // folds into the water one, then nothing folds into the merged one.
    let late = sup.dismiss(&p.name, "巧合").await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    let merged = sup.merge(&b.name, &p.name).await.unwrap();
    let (source, target) = (merged.hotspot.unwrap(), merged.target.unwrap());
    assert_eq!(source.state, pb::HotspotState::Merged as i32);
    assert_eq!(source.merged_into, p.name);
    assert!(source.supervision.unwrap().response_time.is_some());
    assert_eq!(target.merged_hotspots, vec![b.name.clone()]);
    let expected: Vec<String> = water.iter().chain(&bus).cloned().collect();
    assert_eq!(
        target.tickets, expected,
        "its own and the folded one's, oldest first"
    );
    let closed = sup.merge(&p.name, &b.name).await.unwrap_err();
    assert_eq!(closed.code(), Code::FailedPrecondition);
    let dismissed_merge = sup.dismiss(&b.name, "巧合").await.unwrap_err();
    assert_eq!(dismissed_merge.code(), Code::FailedPrecondition);
}
