//! A hotspot whose 5-hour supervision item passes unanswered raises one
//! alert on `WatchAlerts` (kind `hotspot_overdue`): two replicas on one
//! database sweep at once and raise it once between them, later sweeps
//! raise nothing, watchers on either replica receive it once, a watcher
//! resuming after it does not receive it again, and a hotspot answered in
//! time raises none. On SQLite (two stores on one file) and PostgreSQL.

use std::time::Duration;

use chrono::TimeDelta;
use hotline::{
    domain::hotspot::{HotspotEventKind, HotspotId},
    proto::v1 as pb,
    store::testing::TestBackend,
};
use tokio_stream::StreamExt;

use crate::{
    helpers::{As, authed, spawn_app_on},
    hotspot_client::{BUS, WATER, add_streets, confirmation, quick, surge},
    ops::Scrape,
};

type Alerts = tonic::Streaming<pb::WatchAlertsResponse>;

impl As {
    async fn alerts(&self, resume_token: &str) -> Alerts {
        self.supervision
            .clone()
            .watch_alerts(authed(
                &self.token,
                pb::WatchAlertsRequest {
                    resume_token: resume_token.into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// RunSweep: the hotspot alerts it raised.
    async fn sweep_hotspots(&self) -> i32 {
        self.supervision
            .clone()
            .run_sweep(authed(&self.token, pb::RunSweepRequest {}))
            .await
            .unwrap()
            .into_inner()
            .hotspot_alerts
    }
}

/// The hotspot alerts that arrive within `wait` (ticket alerts skipped).
async fn hotspot_alerts(watch: &mut Alerts, wait: Duration) -> Vec<pb::WatchAlertsResponse> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, watch.next()).await {
        let alert = message.expect("no error");
        if alert.kind == "hotspot_overdue" {
            out.push(alert);
        }
    }
    out
}

#[tokio::test]
async fn an_overdue_hotspot_raises_one_alert_across_replicas() {
    let (first, second) = TestBackend::from_env().fresh_store_pair().await;
    let a = spawn_app_on(first, quick).await;
    a.seed_directory().await;
    add_streets(&a).await;
    let b = spawn_app_on(second, quick).await;
    let mut on_a = a.supervisor("3301").alerts("").await;
    let mut on_b = b.supervisor("3301").alerts("").await;
    let mut elsewhere = b.supervisor("4403").alerts("").await;

    // Two hotspots; the bus one is answered in time.
    let water = surge(&a, "330106001", &WATER[..3], 800).await;
    let bus = surge(&a, "330106002", &BUS[..3], 900).await;
    let mut hot = a.supervisor("3301").hot();
    let found = hot.wait_until("two hotspots", |all| all.len() == 2).await;
    let holding = |ticket: &String| {
        found
            .iter()
            .find(|h| h.tickets.contains(ticket))
            .expect("a hotspot")
            .clone()
    };
    let (water_spot, bus_spot) = (holding(&water[0]), holding(&bus[0]));
    hot.confirm(confirmation(&bus_spot.name)).await.unwrap();
    let admin_a = a.admin();
    let admin_b = b.admin();
    assert_eq!(admin_a.sweep_hotspots().await, 0, "not due yet");

    // Past the deadline on both replicas' clocks; both sweep at once.
    for app in [&a, &b] {
        app.clock
            .advance(TimeDelta::hours(5) + TimeDelta::minutes(1));
    }
    let (on_first, on_second) = tokio::join!(admin_a.sweep_hotspots(), admin_b.sweep_hotspots());
    assert_eq!(on_first + on_second, 1, "one alert between the replicas");
    assert_eq!(admin_a.sweep_hotspots().await, 0, "raised once");
    assert_eq!(admin_b.sweep_hotspots().await, 0, "raised once");
    let mut raised = 0.0;
    for app in [&a, &b] {
        raised += Scrape::of(app)
            .await
            .get("hotline_hotspot_overdue_alerts_total", &[])
            .unwrap();
    }
    assert_eq!(raised, 1.0, "counted by the replica that raised it");
    let events = a
        .store
        .hotspot_events(HotspotId::from_name(&water_spot.name).unwrap())
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == HotspotEventKind::Overdue)
            .count(),
        1
    );

    // Each watcher, on either replica, receives it once.
    let deadline = water_spot.supervision.as_ref().unwrap().response_deadline;
    let mut token = String::new();
    for watch in [&mut on_a, &mut on_b] {
        let alerts = hotspot_alerts(watch, Duration::from_secs(3)).await;
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.hotspot, water_spot.name);
        assert_eq!(alert.ticket, water_spot.seed_ticket);
        assert_eq!(alert.time, deadline, "the deadline it passed");
        assert!(alert.sequence > 0);
        token.clone_from(&alert.resume_token);
    }
    assert!(
        hotspot_alerts(&mut elsewhere, Duration::from_millis(300))
            .await
            .is_empty(),
        "not in that supervisor's region"
    );

    // Answered late: its item shows the answer; a watcher resuming after
    // the alert does not receive it again, nor a new one.
    hot.confirm(confirmation(&water_spot.name)).await.unwrap();
    let mut resumed = b.supervisor("3301").alerts(&token).await;
    assert!(
        hotspot_alerts(&mut resumed, Duration::from_secs(1))
            .await
            .is_empty()
    );
    assert_eq!(admin_a.sweep_hotspots().await, 0);
}
