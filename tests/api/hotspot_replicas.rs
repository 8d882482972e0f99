//! Hotspots across restarts and replicas: a server restarted on the same
//! database rebuilds its detector by replaying the recent tickets, keeps the
//! hotspot and grows it rather than recording a second one; two servers on
//! one database record one hotspot (one row, one supervision item, one
//! `detected` event) and a watcher on either replica sees what the other
//! found. On SQLite (two stores on one file) and PostgreSQL.

use std::time::Duration;

use hotline::{
    domain::hotspot::{HotspotEventKind, HotspotId},
    proto::v1 as pb,
    store::testing::TestBackend,
};
use tokio_stream::StreamExt;

use crate::{
    helpers::{TestApp, spawn_app_on},
    hotspot_client::{WATER, add_streets, quick, surge},
    ops::Scrape,
};

/// How many `detected` events the hotspot has (the store's audit trail).
async fn detections(app: &TestApp, name: &str) -> usize {
    let id = HotspotId::from_name(name).unwrap();
    app.store
        .hotspot_events(id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == HotspotEventKind::Detected)
        .count()
}

/// The next message of a watch, within 15 s.
async fn next(
    watch: &mut tonic::Streaming<pb::WatchHotspotsResponse>,
) -> pb::WatchHotspotsResponse {
    tokio::time::timeout(Duration::from_secs(15), watch.next())
        .await
        .expect("a message within 15 s")
        .expect("open")
        .expect("no error")
}

#[tokio::test]
async fn a_restarted_server_keeps_the_hotspot_and_grows_it_without_a_duplicate() {
    let (first, second) = TestBackend::from_env().fresh_store_pair().await;
    let app = spawn_app_on(first, quick).await;
    app.seed_directory().await;
    add_streets(&app).await;
    let water = surge(&app, "330106001", &WATER[..3], 500).await;
    let mut sup = app.supervisor("3301").hot();
    let before = sup
        .wait_until("a hotspot of three", |all| {
            all.len() == 1 && all[0].tickets.len() == 3
        })
        .await
        .remove(0);
    let parts = app.into_parts();
    let _ = parts.shutdown.send(());
    parts.server.await.unwrap().unwrap();

    // A new process on the same database: the clock is where the first
    // one's was, the detector starts empty and replays.
    let restarted = spawn_app_on(second, quick).await;
    restarted.clock.advance(chrono::TimeDelta::seconds(10));
    let more = surge(&restarted, "330106001", &WATER[3..5], 600).await;
    let mut sup = restarted.supervisor("3301").hot();
    let after = sup
        .wait_until("the new tickets join the same hotspot", |all| {
            all.iter().any(|h| h.tickets.len() == 5)
        })
        .await;
    assert_eq!(after.len(), 1, "no second hotspot: {after:#?}");
    let h = &after[0];
    assert_eq!(h.name, before.name);
    assert_eq!(h.tickets[3..], more[..]);
    assert_eq!(h.tickets[..3], water[..]);
    let events = restarted
        .store
        .hotspot_events(HotspotId::from_name(&h.name).unwrap())
        .await
        .unwrap();
    assert_eq!(
        h.heat.as_ref().unwrap().count,
        5,
        "the replayed cluster grew: {events:#?}"
    );
    assert_eq!(
        h.supervision.as_ref().unwrap().response_deadline,
        before.supervision.as_ref().unwrap().response_deadline,
        "the same supervision item"
    );
    assert_eq!(detections(&restarted, &h.name).await, 1);
}

#[tokio::test]
async fn two_replicas_record_one_hotspot_and_a_watcher_on_the_other_sees_it() {
    let (first, second) = TestBackend::from_env().fresh_store_pair().await;
    let a = spawn_app_on(first, quick).await;
    a.seed_directory().await;
    add_streets(&a).await;
    let b = spawn_app_on(second, quick).await;
    let mut on_b = b.supervisor("3301").hot().watch("").await.unwrap();
    let mut unit_on_b = b.unit_user("xihu-street").hot().watch("").await.unwrap();

    let water = surge(&a, "330106001", &WATER[..3], 700).await;
    let seen = next(&mut on_b).await;
    assert!(seen.detected, "met for the first time");
    let h = seen.hotspot.unwrap();
    assert_eq!(h.state, pb::HotspotState::Detected as i32);
    assert_eq!(h.tickets, water);
    let unit_seen = next(&mut unit_on_b).await;
    assert_eq!(
        unit_seen.hotspot.unwrap().name,
        h.name,
        "in the unit's area"
    );

    // Both detectors have read the surge, yet one replica recorded it: one
    // hotspot with one detection.
    let mut detected = 0.0;
    for app in [&a, &b] {
        let started = std::time::Instant::now();
        let scrape = loop {
            let scrape = Scrape::of(app).await;
            if scrape.get("hotline_hotspot_detector_clusters", &[]) == Some(1.0) {
                break scrape;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "a replica's detector is stuck"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        detected += scrape.get("hotline_hotspots_detected_total", &[]).unwrap();
    }
    assert_eq!(detected, 1.0, "recorded by one replica");
    assert_eq!(a.supervisor("3301").hot().all().await.len(), 1);
    assert_eq!(detections(&a, &h.name).await, 1);

    // A decision on A reaches B's watcher, and the stream resumes after
    // its token.
    let token = seen.resume_token;
    a.supervisor("3301")
        .hot()
        .confirm(crate::hotspot_client::confirmation(&h.name))
        .await
        .unwrap();
    let changed = loop {
        let m = next(&mut on_b).await;
        if m.hotspot.as_ref().unwrap().state == pb::HotspotState::Confirmed as i32 {
            break m;
        }
    };
    assert!(!changed.detected, "not new to this watcher");
    let mut resumed = b.supervisor("3301").hot().watch(&token).await.unwrap();
    let replayed = next(&mut resumed).await;
    assert_eq!(replayed.hotspot.unwrap().name, h.name);
    assert!(!replayed.detected);
}
