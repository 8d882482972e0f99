//! Operations: the admin port's metrics and probes, gRPC health following
//! the database, and reflection of the health service.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::{
    deadlines::beijing,
    helpers::{TestApp, authed, complaint, spawn_app_configured},
};
use hotline::proto::v1 as pb;

/// `GET path` on the admin port: (status code, body).
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// One scrape: sample (`name{k="v",…}` with labels sorted) → value.
pub(crate) struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    pub(crate) async fn of(app: &TestApp) -> Self {
        let (status, body) = http_get(app.admin_addr.unwrap(), "/metrics").await;
        assert_eq!(status, 200, "{body}");
        let mut samples = BTreeMap::new();
        for line in body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let key = match series.split_once('{') {
                Some((name, labels)) => {
                    let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                    labels.sort_unstable();
                    format!("{name}{{{}}}", labels.join(","))
                }
                None => series.to_owned(),
            };
            samples.insert(key, value.parse().unwrap());
        }
        Self(samples)
    }

    /// A sample's value; labels as `k="v"` in any order.
    pub(crate) fn get(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let mut labels = labels.to_vec();
        labels.sort_unstable();
        let key = if labels.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        self.0.get(&key).copied()
    }

    /// `hotline_grpc_requests_total` of a hotline method and code.
    fn requests(&self, service: &str, method: &str, code: &str) -> f64 {
        let (s, m, c) = (
            format!("service=\"hotline.v1.{service}\""),
            format!("method=\"{method}\""),
            format!("code=\"{code}\""),
        );
        self.get("hotline_grpc_requests_total", &[&s, &m, &c])
            .unwrap_or(0.0)
    }
}

/// Polls the scrape until `check` holds (background tasks update some
/// gauges), failing after five seconds with the last scrape.
async fn eventually(app: &TestApp, check: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..50 {
        let scrape = Scrape::of(app).await;
        if check(&scrape) {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "condition never held; last scrape: {:#?}",
        Scrape::of(app).await.0
    );
}

#[tokio::test]
async fn metrics_count_rpcs_by_method_and_code() {
    let app = spawn_app_configured(|s| s.admin.ticket_gauges_secs = 1).await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut tickets = Vec::new();
    for _ in 0..3 {
        tickets.push(agent.create(complaint()).await);
    }
    agent.get(&tickets[0].name).await.unwrap();
    let err = agent.get("tickets/123").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    for _ in 0..2 {
        let missing = "tickets/0190f3a4-0000-7000-8000-000000000000";
        assert_eq!(agent.get(missing).await.unwrap_err().code(), Code::NotFound);
    }
    // No token: refused by the interceptor before the handler runs.
    let err = agent
        .tickets
        .get_ticket(pb::GetTicketRequest {
            name: tickets[0].name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    agent
        .dispatch_to(&tickets[0].name, "market-regulation")
        .await
        .unwrap();

    // A watcher, counted while it watches and when its stream ends.
    let mut watch = agent
        .tickets
        .watch_tickets(authed(&agent.token, pb::WatchTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    agent.create(complaint()).await;
    watch.next().await.unwrap().unwrap();
    let scrape = Scrape::of(&app).await;
    assert_eq!(scrape.get("hotline_feed_subscribers", &[]), Some(1.0));
    drop(watch);

    // Deadlines pass; the sweep records the crossings.
    app.clock.set(beijing(2026, 12, 31, 10, 0));
    let admin = app.admin();
    let report = admin
        .supervision
        .clone()
        .run_sweep(authed(&admin.token, pb::RunSweepRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(report.alerts > 0, "{report:?}");

    let s = eventually(&app, |s| {
        s.get("hotline_tickets_overdue_open", &[]) == Some(1.0)
            && s.requests("TicketService", "WatchTickets", "CANCELLED") == 1.0
    })
    .await;
    for (service, method, code, n) in [
        ("DirectoryService", "CreateRegion", "OK", 2.0),
        ("DirectoryService", "CreateUnit", "OK", 2.0),
        ("TicketService", "CreateTicket", "OK", 4.0),
        ("TicketService", "GetTicket", "OK", 1.0),
        ("TicketService", "GetTicket", "INVALID_ARGUMENT", 1.0),
        ("TicketService", "GetTicket", "NOT_FOUND", 2.0),
        ("TicketService", "GetTicket", "UNAUTHENTICATED", 1.0),
        ("DispatchService", "DispatchTicket", "OK", 1.0),
        ("SupervisionService", "RunSweep", "OK", 1.0),
    ] {
        assert_eq!(s.requests(service, method, code), n, "{method} {code}");
    }
    assert_eq!(s.requests("TicketService", "CreateTicket", "INTERNAL"), 0.0);
    let get = [
        "service=\"hotline.v1.TicketService\"",
        "method=\"GetTicket\"",
    ];
    assert_eq!(
        s.get("hotline_grpc_request_duration_seconds_count", &get),
        Some(5.0)
    );
    let inf = [get[0], get[1], "le=\"+Inf\""];
    assert_eq!(
        s.get("hotline_grpc_request_duration_seconds_bucket", &inf),
        Some(5.0)
    );

    // The pool, the database and the group commit.
    assert_eq!(s.get("hotline_db_pool_max_connections", &[]), Some(8.0));
    let idle = s.get("hotline_db_pool_connections", &["state=\"idle\""]);
    let in_use = s.get("hotline_db_pool_connections", &["state=\"in_use\""]);
    assert!(
        idle.unwrap() + in_use.unwrap() >= 1.0,
        "{idle:?} {in_use:?}"
    );
    assert!(s.get("hotline_db_pool_acquire_seconds_count", &[]).unwrap() > 0.0);
    assert_eq!(s.get("hotline_database_up", &[]), Some(1.0));
    assert_eq!(s.get("hotline_intake_batch_size_sum", &[]), Some(4.0));

    // The sweeper: the start-up round and RunSweep's.
    assert!(s.get("hotline_sweeper_rounds_total", &[]).unwrap() >= 2.0);
    assert_eq!(
        s.get("hotline_sweeper_crossings_total", &[]),
        Some(f64::from(report.alerts))
    );
    // RunSweep found crossings due since the sign-for deadline (days ago).
    assert!(s.get("hotline_sweeper_lag_seconds", &[]).unwrap() > 86_400.0);

    // No rule and no district unit: every intake went to triage.
    let routed = |source: &str| {
        s.get(
            "hotline_routing_decisions_total",
            &[&format!("source=\"{source}\"")],
        )
    };
    assert_eq!(routed("triage"), Some(4.0));
    assert_eq!(routed("rule"), Some(0.0));
    assert_eq!(routed("fallback"), Some(0.0));

    let open = |state: &str| s.get("hotline_tickets_open", &[&format!("state=\"{state}\"")]);
    assert_eq!(open("pending_dispatch"), Some(3.0));
    assert_eq!(open("dispatched"), Some(1.0));
    assert_eq!(open("in_progress"), Some(0.0));
    assert_eq!(s.get("hotline_feed_subscribers", &[]), Some(0.0));
    assert_eq!(s.get("hotline_feed_relay_reconnects_total", &[]), Some(0.0));
}

#[tokio::test]
async fn probes_answer_on_the_admin_port_and_health_per_service() {
    let app = spawn_app_configured(|_| {}).await;
    let admin = app.admin_addr.unwrap();
    assert_eq!(http_get(admin, "/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(
        http_get(admin, "/readyz").await,
        (200, "ready\n".to_owned())
    );
    assert_eq!(http_get(admin, "/nothing").await.0, 404);
    let mut health = HealthClient::new(app.channel.clone());
    for service in [
        "",
        "liveness",
        "hotline.v1.TicketService",
        "hotline.v1.MetricsService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[tokio::test]
async fn the_admin_port_can_be_disabled() {
    let app = spawn_app_configured(|s| s.admin.enabled = false).await;
    assert_eq!(app.admin_addr, None);
    app.add_regions(&["330106"]).await;
    app.agent().create(complaint()).await;
}

#[tokio::test]
async fn rpc_telemetry_off_counts_no_call_but_serves_it() {
    let app = spawn_app_configured(|s| s.telemetry.rpc = false).await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let ticket = agent.create(complaint()).await;
    agent.get(&ticket.name).await.unwrap();
    let s = Scrape::of(&app).await;
    assert_eq!(s.requests("TicketService", "GetTicket", "OK"), 0.0);
    assert_eq!(s.requests("TicketService", "CreateTicket", "OK"), 0.0);
    // The rest of the registry is still there.
    assert_eq!(s.get("hotline_db_pool_max_connections", &[]), Some(8.0));
}

#[tokio::test]
async fn reflection_lists_and_describes_the_health_service() {
    let app = spawn_app_configured(|_| {}).await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("grpc.health.v1.Health".into()),
    ]
    .map(|request| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    });
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let listed = answers.next().await.unwrap().unwrap().message_response;
    let Some(MessageResponse::ListServicesResponse(list)) = listed else {
        panic!("not a service list: {listed:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    assert!(names.contains(&"hotline.v1.TicketService"), "{names:?}");
    let described = answers.next().await.unwrap().unwrap().message_response;
    let Some(MessageResponse::FileDescriptorResponse(files)) = described else {
        panic!("no descriptor for grpc.health.v1.Health: {described:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

/// Health as the server reports it for `service`.
async fn status_of(app: &TestApp, service: &str) -> i32 {
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// Polls until every readiness name reports `status` (and liveness stays
/// SERVING), failing after ten seconds.
async fn wait_for_status(app: &TestApp, status: ServingStatus) {
    for _ in 0..100 {
        let mut all = true;
        for service in ["", "hotline.v1.TicketService", "hotline.v1.DispatchService"] {
            all &= status_of(app, service).await == status as i32;
        }
        if all {
            assert_eq!(
                status_of(app, "liveness").await,
                ServingStatus::Serving as i32
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("health never became {status:?}");
}

/// A readiness configuration quick enough for a test: probe every 100 ms,
/// NOT_SERVING after half a second of failures.
fn quick_probe(settings: &mut hotline::config::Settings) {
    settings.health.probe_interval_ms = 100;
    settings.health.database_grace_secs = 0;
}

#[tokio::test]
async fn health_follows_a_write_locked_sqlite_database() {
    use sqlx::Connection;
    if hotline::store::testing::TestBackend::from_env()
        != hotline::store::testing::TestBackend::Sqlite
    {
        return; // the PostgreSQL fault is below
    }
    let database = std::sync::Arc::new(
        hotline::store::testing::TestBackend::Sqlite
            .fresh_database()
            .await,
    );
    let url = database.location().0.to_owned();
    let app = crate::helpers::spawn_app_on(database.clone().open().await, quick_probe).await;
    wait_for_status(&app, ServingStatus::Serving).await;
    app.add_regions(&["330106"]).await;

    // Another process (a backup, a shell) holds the write lock: every
    // write would wait out the busy timeout and fail.
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    wait_for_status(&app, ServingStatus::NotServing).await;
    let admin = app.admin_addr.unwrap();
    assert_eq!(http_get(admin, "/readyz").await.0, 503);
    assert_eq!(http_get(admin, "/healthz").await.0, 200);
    assert_eq!(
        Scrape::of(&app).await.get("hotline_database_up", &[]),
        Some(0.0)
    );
    // A write meanwhile waits for the lock until the client's deadline.
    let mut agent = app.agent();
    let mut request = authed(
        &agent.token,
        pb::CreateTicketRequest {
            ticket: Some(complaint()),
            request_id: String::new(),
        },
    );
    request.set_timeout(Duration::from_millis(300));
    let err = agent.tickets.create_ticket(request).await.unwrap_err();
    // tonic's client gives up at the same instant and calls it CANCELLED;
    // the server counts what its deadline made of it.
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    eventually(&app, |s| {
        s.requests("TicketService", "CreateTicket", "DEADLINE_EXCEEDED") == 1.0
    })
    .await;

    other.close().await.unwrap();
    wait_for_status(&app, ServingStatus::Serving).await;
    assert_eq!(http_get(admin, "/readyz").await.0, 200);
    assert_eq!(
        Scrape::of(&app).await.get("hotline_database_up", &[]),
        Some(1.0)
    );
}

/// A login role and a schema of its own for one test, so its connections
/// can be refused and cut without touching any other test's. Dropped
/// (with everything in the schema) when the test ends, pass or fail.
pub(crate) struct ProbeRole {
    admin_url: String,
    pub(crate) name: String,
}

impl ProbeRole {
    const PASSWORD: &'static str = "probe-test";

    pub(crate) async fn create(admin_url: &str) -> Self {
        let name = format!("hl_probe_{}", uuid::Uuid::now_v7().simple());
        let role = Self {
            admin_url: admin_url.to_owned(),
            name,
        };
        role.run(&format!(
            "CREATE ROLE {0} LOGIN PASSWORD '{1}'; CREATE SCHEMA {0} AUTHORIZATION {0}",
            role.name,
            Self::PASSWORD
        ));
        role
    }

    pub(crate) fn run(&self, sql: &str) {
        hotline::store::testing::execute_blocking(&self.admin_url, sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Connection options of the role, pinned to its schema.
    pub(crate) fn options(&self) -> sqlx::postgres::PgConnectOptions {
        use std::str::FromStr;
        sqlx::postgres::PgConnectOptions::from_str(&self.admin_url)
            .unwrap()
            .username(&self.name)
            .password(Self::PASSWORD)
            .options([("search_path", self.name.clone())])
    }

    /// The fault: no new connections, and every open one cut.
    pub(crate) fn lock_out(&self) {
        self.run(&format!(
            "ALTER ROLE {0} NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = '{0}'",
            self.name
        ));
    }

    /// Ends every open session of the role (SQLSTATE 57P01 to each, as a
    /// PostgreSQL restart does) and lets new ones in. Returns once each
    /// session's process has exited (up to 10 s), as a restart is over
    /// before clients call again.
    pub(crate) fn end_sessions(&self) {
        self.run(&format!(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = '{}'",
            self.name
        ));
    }

    pub(crate) fn let_in(&self) {
        self.run(&format!("ALTER ROLE {} LOGIN", self.name));
    }
}

impl Drop for ProbeRole {
    fn drop(&mut self) {
        let sql = format!(
            "ALTER ROLE {0} NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = '{0}'; DROP SCHEMA IF EXISTS {0} CASCADE; DROP ROLE IF EXISTS {0}",
            self.name
        );
        if let Err(e) = hotline::store::testing::execute_blocking(&self.admin_url, &sql) {
            eprintln!("test role {} left behind: {e}", self.name);
        }
    }
}

#[tokio::test]
#[ignore = "PostgreSQL only; CI's PostgreSQL leg runs it"]
async fn health_follows_postgres_going_away_and_coming_back() {
    let url = hotline::store::testing::TestBackend::postgres_url();
    let role = ProbeRole::create(&url).await;
    let store = hotline::store::connect_postgres_with(role.options(), 4, true)
        .await
        .unwrap()
        .with_pii(hotline::store::testing::test_pii_codec());
    let app = crate::helpers::spawn_app_with(std::sync::Arc::new(store), None, quick_probe).await;
    app.add_regions(&["330106"]).await;
    app.agent().create(complaint()).await;
    wait_for_status(&app, ServingStatus::Serving).await;

    role.lock_out();
    wait_for_status(&app, ServingStatus::NotServing).await;
    let admin = app.admin_addr.unwrap();
    assert_eq!(http_get(admin, "/readyz").await.0, 503);
    assert_eq!(
        Scrape::of(&app).await.get("hotline_database_up", &[]),
        Some(0.0)
    );

    role.let_in();
    wait_for_status(&app, ServingStatus::Serving).await;
    assert_eq!(http_get(admin, "/readyz").await.0, 200);
    app.agent().create(complaint()).await;
    // The commit listener lost its connection and subscribed again.
    let s = eventually(&app, |s| {
        s.get("hotline_database_up", &[]) == Some(1.0)
            && s.get("hotline_feed_relay_reconnects_total", &[])
                .unwrap_or(0.0)
                >= 1.0
    })
    .await;
    assert_eq!(s.requests("TicketService", "CreateTicket", "OK"), 2.0);
    drop(app);
}
