//! SIGTERM as an orchestrator sends it, with a health Watch open (a load
//! balancer's): the watcher hears NOT_SERVING, its stream ends, and the
//! process exits long before its grace period, since nothing else holds
//! the drain.

use std::time::{Duration, Instant};

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::sqlite_url;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_watch_hears_not_serving_then_ends_and_does_not_hold_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = crate::serve(
        dir.path(),
        &[
            ("HOTLINE_DATABASE__URL", &sqlite_url(dir.path())),
            ("HOTLINE_SERVER__SHUTDOWN_GRACE_SECS", "30"),
        ],
        None,
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let mut watches = Vec::new();
    // The whole server and liveness, which stays SERVING while draining.
    for service in ["", "liveness"] {
        let mut watch = health
            .watch(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let first = watch.message().await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::Serving as i32, "{service:?}");
        watches.push((service, watch));
    }

    let asked = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let (_, readiness) = &mut watches[0];
    let next = tokio::time::timeout(Duration::from_secs(5), readiness.message())
        .await
        .expect("NOT_SERVING within 5 s")
        .unwrap();
    assert_eq!(
        next.map(|m| m.status),
        Some(ServingStatus::NotServing as i32),
        "NOT_SERVING before the end"
    );
    for (service, watch) in &mut watches {
        let end = tokio::time::timeout(Duration::from_secs(5), watch.message())
            .await
            .unwrap_or_else(|_| panic!("{service:?}: the watch did not end at shutdown"));
        assert!(
            matches!(end, Ok(None)),
            "{service:?}: a clean end of stream, got {end:?}"
        );
    }
    let exited = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exited.success(), "serve exited with {exited}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the drain took {:?} of its 30 s grace",
        asked.elapsed()
    );
}
