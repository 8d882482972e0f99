//! Edges of the server: oversized requests and shutdown.

use std::{sync::Arc, time::Duration};

use tonic::Code;

use crate::helpers::{
    As, TestAppParts, assert_stopped_promptly, authed, complaint, error_reason,
    spawn_app_configured, spawn_app_on,
};
use hotline::{proto::v1 as pb, store::testing::TestBackend};

/// A CreateTicket whose description is `bytes` long.
async fn create_of_size(agent: &mut As, bytes: usize) -> Result<pb::Ticket, tonic::Status> {
    let mut ticket = complaint();
    ticket.description = "噪".repeat(bytes / 3);
    agent.try_create(ticket, "").await
}

#[tokio::test]
async fn an_oversized_request_is_resource_exhausted_naming_the_limit() {
    let app = spawn_app_configured(|_| {}).await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let status = create_of_size(&mut agent, 10 * 1024 * 1024)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("4194304"), "{}", status.message());
    assert_eq!(error_reason(&status).0, "MESSAGE_TOO_LARGE");
    // The connection serves on.
    create_of_size(&mut agent, 1000).await.unwrap();
}

#[tokio::test]
async fn the_message_limit_is_configurable_both_ways() {
    let app = spawn_app_configured(|s| s.server.max_message_bytes = 1024 * 1024).await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let status = create_of_size(&mut agent, 2 * 1024 * 1024)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("1048576"), "{}", status.message());

    // Above tonic's own default of 4 MiB: the message reaches the service,
    // which judges its fields.
    let app = spawn_app_configured(|s| s.server.max_message_bytes = 16 * 1024 * 1024).await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let status = create_of_size(&mut agent, 10 * 1024 * 1024)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(error_reason(&status).1, ["ticket.description"]);
}

/// SIGTERM with two watchers and a write in flight: the streams end at
/// once with UNAVAILABLE "server shutting down", new calls are refused,
/// the write finishes, and the server stops well inside its grace period.
/// The write is held in flight by another process's lock on the SQLite
/// file, so this runs on SQLite.
#[tokio::test]
async fn shutdown_ends_streams_at_once_refuses_new_calls_and_finishes_unary_ones() {
    use sqlx::Connection;
    let TestBackend::Sqlite = TestBackend::from_env() else {
        return;
    };
    let database = Arc::new(TestBackend::Sqlite.fresh_database().await);
    let app = spawn_app_on(database.clone().open().await, |s| {
        s.server.shutdown_grace_secs = 30;
    })
    .await;
    app.seed_directory().await;
    let agent = app.agent();
    let mut tickets = agent
        .tickets
        .clone()
        .watch_tickets(authed(&agent.token, pb::WatchTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let sup = app.supervisor("3301");
    let mut alerts = sup
        .supervision
        .clone()
        .watch_alerts(authed(&sup.token, pb::WatchAlertsRequest::default()))
        .await
        .unwrap()
        .into_inner();

    let mut lock = sqlx::SqliteConnection::connect(database.location().0)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();
    let in_flight = tokio::spawn({
        let mut agent = agent.clone();
        async move { create_of_size(&mut agent, 100).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let local_addr = app.local_addr;
    let store = app.store.clone();
    let TestAppParts { shutdown, server } = app.into_parts();
    let asked = tokio::time::Instant::now();
    shutdown.send(()).unwrap();

    for (what, end) in [
        (
            "WatchTickets",
            tokio::time::timeout(Duration::from_secs(2), tickets.message())
                .await
                .map(|m| m.map(|_| ())),
        ),
        (
            "WatchAlerts",
            tokio::time::timeout(Duration::from_secs(2), alerts.message())
                .await
                .map(|m| m.map(|_| ())),
        ),
    ] {
        let status = end
            .unwrap_or_else(|_| panic!("{what} did not end at shutdown"))
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{what}: {status:?}");
        assert_eq!(status.message(), "server shutting down", "{what}");
    }

    // New calls are refused, on the open connection and on a new one.
    // (The server's GOAWAY reaches tonic's client as UNAVAILABLE or, on
    // a connection it already knows is closing, CANCELLED: either way the
    // call was not taken, as the ticket count below shows.)
    let refused = create_of_size(&mut agent.clone(), 100).await.unwrap_err();
    assert!(
        matches!(refused.code(), Code::Unavailable | Code::Cancelled),
        "{refused:?}"
    );
    let fresh = tonic::transport::Endpoint::from_shared(format!("http://{local_addr}"))
        .unwrap()
        .connect()
        .await;
    assert!(
        fresh.is_err(),
        "a new connection was accepted while draining"
    );

    assert!(!in_flight.is_finished(), "the write waits for the lock");
    sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();
    let created = in_flight.await.unwrap();
    assert!(created.is_ok(), "the write in flight finished: {created:?}");
    assert_stopped_promptly(server, asked, "the server stopped once the write finished").await;
    let stored = store
        .list_tickets(&hotline::store::TicketQuery::all(10))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "only the write in flight was taken");
}
