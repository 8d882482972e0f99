//! Test harness: a real server on 127.0.0.1:0 over a fresh database (SQLite
//! file, or a new PostgreSQL schema when `TEST_DATABASE_URL` is set), called
//! through the generated tonic clients.

mod verbs;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use hotline::{
    app::Application,
    auth::{TokenRequest, Verifier, issue_hs256_token},
    config::Settings,
    domain::{MockClock, Role},
    proto::v1::{
        self as pb, calendar_service_client::CalendarServiceClient,
        directory_service_client::DirectoryServiceClient,
        dispatch_model_service_client::DispatchModelServiceClient,
        dispatch_service_client::DispatchServiceClient,
        routing_service_client::RoutingServiceClient,
        supervision_service_client::SupervisionServiceClient,
        ticket_service_client::TicketServiceClient,
    },
    store::{
        Store,
        testing::{TestBackend, TestStore},
    },
};
use jsonwebtoken::DecodingKey;
use secrecy::SecretString;
use tonic::{
    Request,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};

pub(crate) const SECRET: &str = "test-secret-for-hotline-integration-tests";

/// A running server and what tests need to talk to it.
pub(crate) struct TestApp {
    pub(crate) local_addr: std::net::SocketAddr,
    /// The admin port, unless the test disabled it.
    pub(crate) admin_addr: Option<std::net::SocketAddr>,
    pub(crate) channel: Channel,
    pub(crate) clock: MockClock,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) settings: Settings,
    shutdown: tokio::sync::oneshot::Sender<()>,
    /// The task serving until `shutdown`.
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The attachment directory (`attachments.store` unless a test set
    /// another store), removed with the app.
    pub(crate) attachments_dir: tempfile::TempDir,
    /// The knowledge index's directory (`knowledge.index_dir` unless a
    /// test set another), removed with the app.
    _knowledge_dir: tempfile::TempDir,
    /// Last, so the server stops before its database is removed.
    pub(crate) database: Option<TestStore>,
}

/// Starts a server on a fresh database with the clock at 2026-11-23 10:00 (Beijing).
pub(crate) async fn spawn_app() -> TestApp {
    let store = TestBackend::from_env().fresh_store().await;
    spawn_app_on(store, |_| {}).await
}

/// Starts a server on a store prepared by the test.
pub(crate) async fn spawn_app_on_store(store: TestStore) -> TestApp {
    spawn_app_on(store, |_| {}).await
}

/// Starts a server with adjusted settings on a fresh database.
pub(crate) async fn spawn_app_configured(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let store = TestBackend::from_env().fresh_store().await;
    spawn_app_on(store, adjust).await
}

pub(crate) async fn spawn_app_on(
    database: TestStore,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let store = database.store();
    spawn_app_with(store, Some(database), adjust).await
}

/// Starts a server whose token verifier the test builds from the final
/// settings (key rotation tests: keys from files, reloaded while running).
pub(crate) async fn spawn_app_verified(
    database: TestStore,
    adjust: impl FnOnce(&mut Settings),
    verifier: impl FnOnce(&Settings) -> Verifier,
) -> TestApp {
    let store = database.store();
    spawn_app_with_verifier(store, Some(database), adjust, verifier).await
}

/// Starts a server on any store; `database`, if given, lives as long as
/// the server.
pub(crate) async fn spawn_app_with(
    store: Arc<dyn Store>,
    database: Option<TestStore>,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_app_with_verifier(store, database, adjust, |settings| {
        Verifier::new(DecodingKey::from_secret(SECRET.as_bytes()), &settings.auth)
    })
    .await
}

/// The one server start of every helper above.
async fn spawn_app_with_verifier(
    store: Arc<dyn Store>,
    database: Option<TestStore>,
    adjust: impl FnOnce(&mut Settings),
    verifier: impl FnOnce(&Settings) -> Verifier,
) -> TestApp {
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse().unwrap();
    settings.admin.listen = "127.0.0.1:0".parse().unwrap();
    settings.auth.hs256_secret = Some(SecretString::from(SECRET));
    let attachments_dir = tempfile::tempdir().unwrap();
    settings.attachments.store = format!("local:{}", attachments_dir.path().display());
    let knowledge_dir = tempfile::tempdir().unwrap();
    settings.knowledge.index_dir = knowledge_dir.path().to_owned();
    adjust(&mut settings);
    let clock = MockClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap());
    let verifier = verifier(&settings);
    let app = Application::build_with(
        settings.clone(),
        store.clone(),
        verifier,
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let addr = app.local_addr();
    let admin_addr = app.admin_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    TestApp {
        local_addr: addr,
        admin_addr,
        channel,
        clock,
        store,
        settings,
        shutdown: tx,
        server,
        attachments_dir,
        _knowledge_dir: knowledge_dir,
        database,
    }
}

/// A signed token for a principal. Token expiry is checked against the real
/// clock by jsonwebtoken, so tokens are minted at real time, not mock time.
#[allow(clippy::disallowed_methods)]
pub(crate) fn token(
    settings: &Settings,
    sub: &str,
    role: Role,
    unit: Option<&str>,
    region: Option<&str>,
) -> String {
    let request = TokenRequest {
        subject: sub.into(),
        roles: vec![role],
        unit_id: unit.map(Into::into),
        region: region.map(Into::into),
    };
    issue_hs256_token(
        &settings.auth,
        &SecretString::from(SECRET),
        &request,
        Utc::now(),
    )
    .unwrap()
}

/// Wraps a message with a bearer token.
pub(crate) fn authed<T>(token: &str, msg: T) -> Request<T> {
    let mut req = Request::new(msg);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    req.metadata_mut().insert("authorization", value);
    req
}

/// Clients acting as one principal.
#[derive(Clone)]
pub(crate) struct As {
    pub(crate) token: String,
    pub(crate) tickets: TicketServiceClient<Channel>,
    pub(crate) dispatch: DispatchServiceClient<Channel>,
    pub(crate) directory: DirectoryServiceClient<Channel>,
    pub(crate) routing: RoutingServiceClient<Channel>,
    pub(crate) models: DispatchModelServiceClient<Channel>,
    pub(crate) calendar: CalendarServiceClient<Channel>,
    pub(crate) supervision: SupervisionServiceClient<Channel>,
    channel: Channel,
}

/// What a test needs to stop a server itself.
pub(crate) struct TestAppParts {
    pub(crate) shutdown: tokio::sync::oneshot::Sender<()>,
    /// The serving task: ends once the server has shut down.
    pub(crate) server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Waits for a server asked to stop at `asked` to finish, and checks it
/// took well under the 10 s a held drain would have cost; `why` says what
/// the stop waited for.
pub(crate) async fn assert_stopped_promptly(
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    asked: tokio::time::Instant,
    why: &str,
) {
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .unwrap_or_else(|_| panic!("the server did not stop: {why}"))
        .unwrap()
        .unwrap();
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(10),
        "{why}: {:?}",
        asked.elapsed()
    );
}

impl TestApp {
    /// Takes the shutdown trigger, keeping the server running until it is sent.
    pub(crate) fn into_parts(self) -> TestAppParts {
        TestAppParts {
            shutdown: self.shutdown,
            server: self.server,
        }
    }

    /// The `create_time` of a ticket, for time-range filters.
    pub(crate) async fn clock_time_of(
        &self,
        reader: &mut As,
        name: &str,
    ) -> prost_types::Timestamp {
        reader.get(name).await.unwrap().create_time.unwrap()
    }

    /// The test clock's now, as a timestamp.
    pub(crate) fn clock_time_of_now(&self) -> prost_types::Timestamp {
        use hotline::domain::Clock;
        hotline::proto::convert::to_timestamp(self.clock.now())
    }

    pub(crate) fn as_token(&self, token: String) -> As {
        As {
            token,
            tickets: TicketServiceClient::new(self.channel.clone()),
            dispatch: DispatchServiceClient::new(self.channel.clone()),
            directory: DirectoryServiceClient::new(self.channel.clone()),
            routing: RoutingServiceClient::new(self.channel.clone()),
            models: DispatchModelServiceClient::new(self.channel.clone()),
            calendar: CalendarServiceClient::new(self.channel.clone()),
            supervision: SupervisionServiceClient::new(self.channel.clone()),
            channel: self.channel.clone(),
        }
    }
    pub(crate) fn agent(&self) -> As {
        self.as_token(token(
            &self.settings,
            "agent-alice",
            Role::Agent,
            None,
            None,
        ))
    }
    pub(crate) fn admin(&self) -> As {
        self.as_token(token(&self.settings, "admin-root", Role::Admin, None, None))
    }
    pub(crate) fn unit_user(&self, unit: &str) -> As {
        self.as_token(token(
            &self.settings,
            &format!("handler-{unit}"),
            Role::UnitHandler,
            Some(unit),
            None,
        ))
    }
    /// An auditor: reads the PII access log and nothing else.
    pub(crate) fn auditor(&self) -> As {
        self.as_token(token(
            &self.settings,
            "auditor-1",
            Role::Auditor,
            None,
            None,
        ))
    }
    pub(crate) fn supervisor(&self, region: &str) -> As {
        self.as_token(token(
            &self.settings,
            &format!("sup-{region}"),
            Role::Supervisor,
            None,
            Some(region),
        ))
    }

    /// Adds regions (no parent, the code as name) to the directory, so
    /// tickets may be filed in them: a ticket's region must be there.
    pub(crate) async fn add_regions(&self, codes: &[&str]) {
        let mut admin = self.admin();
        for code in codes {
            admin
                .directory
                .create_region(authed(
                    &admin.token,
                    pb::CreateRegionRequest {
                        region: Some(pb::Region {
                            code: (*code).into(),
                            display_name: (*code).into(),
                            ..Default::default()
                        }),
                    },
                ))
                .await
                .unwrap();
        }
    }

    /// Creates a region `330106` and units `market-regulation` (department)
    /// and `xihu-street` (street), returning nothing; most tests need them.
    pub(crate) async fn seed_directory(&self) {
        let mut admin = self.admin();
        for (code, name, parent) in [
            ("330100", "杭州市", ""),
            ("330106", "西湖区", "regions/330100"),
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
        for (id, name, kind) in [
            (
                "market-regulation",
                "市市场监督管理局",
                pb::UnitKind::Department,
            ),
            ("xihu-street", "西湖街道", pb::UnitKind::Street),
        ] {
            self.add_unit(id, name, kind, "330106").await;
        }
    }

    /// Adds a unit answering for `region` to the directory.
    pub(crate) async fn add_unit(&self, id: &str, name: &str, kind: pb::UnitKind, region: &str) {
        self.admin().add_unit(id, name, kind, region).await;
    }
}

/// A valid complaint intake.
pub(crate) fn complaint() -> pb::Ticket {
    pb::Ticket {
        channel: pb::Channel::Phone as i32,
        caller: Some(pb::Caller {
            name: "张三".into(),
            phone: "13800131234".into(),
            anonymous: false,
        }),
        request_type: pb::RequestType::Complaint as i32,
        urgency: pb::Urgency::Normal as i32,
        subject_code: "01.02".into(),
        region_code: "330106".into(),
        address: "西湖区文三路 100 号".into(),
        title: "施工噪音扰民".into(),
        description: "夜间十点后仍在施工，噪音很大，请有关部门处理。".into(),
        ..Default::default()
    }
}

/// The `ErrorInfo.reason` and `BadRequest` fields of a status.
pub(crate) fn error_reason(status: &tonic::Status) -> (String, Vec<String>) {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let reason = details
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default();
    let fields = details
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    (reason, fields)
}
