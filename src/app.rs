//! Wiring: builds the gRPC server from settings, binds its listener and the
//! admin port (port 0 in tests) and serves until a shutdown signal,
//! flipping health to NOT_SERVING before draining in-flight RPCs. Health
//! follows the database meanwhile (see [`crate::telemetry::readiness`]).

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use chrono::FixedOffset;
use http::HeaderName;
use tokio::net::TcpListener;
use tonic::{
    server::NamedService,
    service::interceptor::InterceptedService,
    transport::{Server, server::TcpIncoming},
};
use tower_http::cors::{AllowOrigin, CorsLayer};

mod background;

use self::background::{
    spawn_attachment_upkeep, spawn_feed_index_upkeep, spawn_hotspots, spawn_hourly_purge,
    spawn_knowledge_follow, spawn_maintenance_check, spawn_refresh, spawn_sweeper,
};
use crate::{
    api::{
        DirectoryApi, DispatchApi, TicketApi, attachments::AttachmentApi, audit::AuditApi,
        calendar::CalendarApi, dispatch_model::DispatchModelApi, health::DrainingHealth,
        hotspots::HotspotApi, knowledge::KnowledgeApi, message_limit::MessageLimitLayer,
        metrics::MetricsApi, routing::RoutingApi, supervision::SupervisionApi, webhook::WebhookApi,
    },
    auth::{AuthInterceptor, Verifier},
    config::Settings,
    domain::{Clock, routing::RouterOptions},
    proto::{
        FILE_DESCRIPTOR_SET,
        v1::{
            attachment_service_server::AttachmentServiceServer,
            audit_service_server::AuditServiceServer,
            calendar_service_server::CalendarServiceServer,
            directory_service_server::DirectoryServiceServer,
            dispatch_model_service_server::DispatchModelServiceServer,
            dispatch_service_server::DispatchServiceServer,
            hotspot_service_server::HotspotServiceServer,
            knowledge_service_server::KnowledgeServiceServer,
            metrics_service_server::MetricsServiceServer,
            routing_service_server::RoutingServiceServer,
            supervision_service_server::SupervisionServiceServer,
            ticket_service_server::TicketServiceServer,
            webhook_service_server::WebhookServiceServer,
        },
    },
    service::{
        Workflow,
        attachments::Attachments,
        calendar_cell::CalendarCell,
        hotspots::Hotspots,
        knowledge::{ArticleIndex, Knowledge},
        model_cell::ModelCell,
        router_cell::RouterCell,
        webhooks::worker::WebhookWorker,
        workflow::WorkflowParts,
    },
    store::{self, CommitStream, Store},
    telemetry::{
        Telemetry,
        admin::{self, AdminState},
        grpc::GrpcMetricsLayer,
        readiness::Readiness,
    },
};

/// How often the event log's newest rows are summarized into the feed's
/// index: at most a minute of a burst is read without it.
const FEED_INDEX_UPKEEP: Duration = Duration::from_secs(60);

/// A built, bound, not yet serving application.
pub struct Application {
    settings: Settings,
    incoming: TcpIncoming,
    local_addr: SocketAddr,
    workflow: Arc<Workflow>,
    /// Ticket files: the use cases over the object store.
    attachments: Arc<Attachments>,
    /// The knowledge base over this replica's search index.
    knowledge: Arc<Knowledge>,
    /// Hotspots: this replica's detector and the centre's decisions.
    hotspots: Arc<Hotspots>,
    verifier: Arc<Verifier>,
    /// Every replica's commits, for the live feed (PostgreSQL).
    commits: Option<CommitStream>,
    /// The TLS config, read at build so bad files fail before binding.
    tls: Option<crate::tls::Tls>,
    /// This application's metrics registry.
    telemetry: Arc<Telemetry>,
    /// The bound admin port, unless disabled.
    admin: Option<(TcpListener, SocketAddr)>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("local_addr", &self.local_addr)
            .field("workflow", &self.workflow)
            .field("relays_commits", &self.commits.is_some())
            .field("admin_addr", &self.admin_addr())
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the configured store (migrating it if configured) with the
    /// caller-data keys, loads the token key and binds the listener.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = &settings.database;
        let pii = crate::privacy::pii_codec(&settings.privacy, clock.now())
            .context("loading the caller-data keys (privacy.*)")?;
        let store = store::open_with_pii(&db.url, db.max_connections, db.migrate, pii)
            .await
            .with_context(|| format!("opening database {}", redact_url(&db.url)))?;
        let verifier = Verifier::from_settings(&settings.auth)?.with_reload_task();
        Self::build_with(settings, store, verifier, clock).await
    }

    /// Builds around an existing store and verifier (tests).
    pub async fn build_with(
        settings: Settings,
        store: Arc<dyn Store>,
        verifier: Verifier,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let offset = FixedOffset::east_opt(settings.centre.utc_offset_hours * 3600)
            .context("centre.utc_offset_hours out of range")?;
        let tls = crate::tls::Tls::from_settings(&settings.tls)?;
        let blobs = crate::blobs::Blobs::from_settings(&settings.attachments)
            .context("opening the attachment store (attachments.*)")?;
        let listener = tokio::net::TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("binding {}", settings.server.listen))?;
        let local_addr = listener.local_addr()?;
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let router_options = RouterOptions {
            fallback_to_district: settings.routing.fallback_to_district,
        };
        let router = Arc::new(
            RouterCell::load(store.clone(), router_options)
                .await
                .context("compiling the active dispatch rule set")?,
        );
        let model = Arc::new(
            ModelCell::load(store.clone())
                .await
                .context("loading the active dispatch model")?,
        );
        let calendar = Arc::new(
            CalendarCell::load(
                store.clone(),
                settings.calendar.working_hours()?,
                offset,
                clock.now(),
            )
            .await
            .context("loading the working-day calendar")?,
        );
        let admin = match settings.admin.enabled {
            true => Some(admin::bind(settings.admin.listen).await?),
            false => None,
        };
        let telemetry = Arc::new(Telemetry::new()?);
        // Before subscribing, so the listener counts its reconnects.
        store.attach_telemetry(telemetry.store_telemetry());
        let commits = store
            .subscribe_commits()
            .await
            .context("listening for commits")?;
        let parts = WorkflowParts {
            centre_offset: offset,
            router,
            routing: settings.routing.clone(),
            model,
            dispatch_model: settings.dispatch_model.clone(),
            calendar,
            time_limits: store
                .latest_time_limits()
                .await
                .context("loading the time-limit policy")?
                .unwrap_or_else(|| (0, settings.time_limits.clone())),
            supervision: settings.supervision.clone(),
            callback: settings.callback.clone(),
            instruments: telemetry.instruments(),
            workflow: settings.workflow.clone(),
        };
        let index_dir = &settings.knowledge.index_dir;
        let index = ArticleIndex::open(index_dir, store.clone(), telemetry.knowledge_instruments())
            .await
            .with_context(|| format!("opening the knowledge index {}", index_dir.display()))?;
        let workflow = Arc::new(Workflow::new(store, clock, parts));
        // A training this database shows running whose process stopped (a
        // restart) is marked failed before anyone reads it.
        workflow
            .fail_interrupted_trainings()
            .await
            .context("marking interrupted dispatch model trainings")?;
        Ok(Self {
            hotspots: Arc::new(Hotspots::new(
                workflow.clone(),
                settings.hotspots.clone(),
                telemetry.hotspot_instruments(),
            )),
            knowledge: Arc::new(Knowledge::new(
                workflow.clone(),
                index,
                settings.knowledge.clone(),
            )),
            attachments: Arc::new(Attachments::new(
                workflow.clone(),
                blobs,
                &settings.attachments,
            )),
            workflow,
            commits,
            verifier: Arc::new(verifier),
            settings,
            incoming,
            local_addr,
            tls,
            telemetry,
            admin,
        })
    }

    /// The ticket workflow the services share (`hotline bench` uses it to
    /// build the values of its raw-database baseline).
    pub fn workflow(&self) -> Arc<Workflow> {
        self.workflow.clone()
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The admin port's bound address, unless `admin.enabled` is off.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves until `shutdown` resolves, then ends the open streams with
    /// UNAVAILABLE, reports NOT_SERVING, refuses new calls and lets unary
    /// RPCs in flight finish for at most `server.shutdown_grace_secs`.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let server_settings = self.settings.server.clone();
        let reporter = tonic_health::server::HealthReporter::new();
        let health_service = tonic_health::pb::health_server::HealthServer::new(
            DrainingHealth::new(reporter.clone(), self.workflow.feed().clone()),
        );
        let readiness = Arc::new(Readiness::new(
            reporter,
            &[
                TicketServiceServer::<TicketApi>::NAME,
                DispatchServiceServer::<DispatchApi>::NAME,
                DirectoryServiceServer::<DirectoryApi>::NAME,
                RoutingServiceServer::<RoutingApi>::NAME,
                DispatchModelServiceServer::<DispatchModelApi>::NAME,
                CalendarServiceServer::<CalendarApi>::NAME,
                SupervisionServiceServer::<SupervisionApi>::NAME,
                MetricsServiceServer::<MetricsApi>::NAME,
                AuditServiceServer::<AuditApi>::NAME,
                WebhookServiceServer::<WebhookApi>::NAME,
                AttachmentServiceServer::<AttachmentApi>::NAME,
                KnowledgeServiceServer::<KnowledgeApi>::NAME,
                HotspotServiceServer::<HotspotApi>::NAME,
            ],
        ));
        readiness.publish().await;
        // The health proto too, so `grpcurl describe grpc.health.v1.Health`
        // works (the reflection protos describe themselves).
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let grpc_metrics = GrpcMetricsLayer::new(
            &self.telemetry,
            &[
                FILE_DESCRIPTOR_SET,
                tonic_health::pb::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            ],
            Duration::from_secs(server_settings.request_timeout_secs),
            crate::telemetry::traces::RpcSampling::from_settings(&self.settings),
        );
        let auth = crate::quota::QuotaInterceptor::new(
            AuthInterceptor::new(self.verifier.clone()),
            crate::quota::Quotas::from_settings(&self.settings.quota),
        );
        // The message limit layer below answers first; tonic's own limit,
        // the same, is a backstop (its default, 4 MiB, would otherwise
        // cap a larger configured limit).
        let max_message = server_settings.max_message_bytes;
        let tickets = InterceptedService::new(
            TicketServiceServer::new(TicketApi::new(self.workflow.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let dispatch = InterceptedService::new(
            DispatchServiceServer::new(DispatchApi::new(self.workflow.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let directory = InterceptedService::new(
            DirectoryServiceServer::new(DirectoryApi::new(self.workflow.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let routing = InterceptedService::new(
            RoutingServiceServer::new(RoutingApi::new(self.workflow.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let dispatch_model = InterceptedService::new(
            DispatchModelServiceServer::new(DispatchModelApi::new(self.workflow.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let calendar = InterceptedService::new(
            CalendarServiceServer::new(CalendarApi::new(self.workflow.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let supervision = InterceptedService::new(
            SupervisionServiceServer::new(SupervisionApi::new(
                self.workflow.clone(),
                self.hotspots.clone(),
            ))
            .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let metrics = InterceptedService::new(
            MetricsServiceServer::new(MetricsApi::new(
                self.workflow.clone(),
                self.settings.metrics.ranking,
            ))
            .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let audit = InterceptedService::new(
            AuditServiceServer::new(AuditApi::new(self.workflow.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let webhooks = InterceptedService::new(
            WebhookServiceServer::new(WebhookApi::new(self.workflow.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let attachments = InterceptedService::new(
            AttachmentServiceServer::new(AttachmentApi::new(self.attachments.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let knowledge = InterceptedService::new(
            KnowledgeServiceServer::new(KnowledgeApi::new(self.knowledge.clone()))
                .max_decoding_message_size(max_message),
            auth.clone(),
        );
        let hotspots = InterceptedService::new(
            HotspotServiceServer::new(HotspotApi::new(
                self.hotspots.clone(),
                self.workflow.clone(),
            ))
            .max_decoding_message_size(max_message),
            auth,
        );

        let grpc_web = server_settings.grpc_web;
        let cors = grpc_web.then(|| {
            CorsLayer::new()
                .allow_origin(AllowOrigin::mirror_request())
                .allow_headers(tower_http::cors::Any)
                .allow_methods(tower_http::cors::Any)
                .expose_headers([
                    HeaderName::from_static("grpc-status"),
                    HeaderName::from_static("grpc-message"),
                    HeaderName::from_static("grpc-status-details-bin"),
                ])
        });
        let router = Server::builder()
            .accept_http1(grpc_web)
            .timeout(Duration::from_secs(server_settings.request_timeout_secs))
            .concurrency_limit_per_connection(server_settings.concurrency_limit_per_connection)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .layer(tower::util::option_layer(cors))
            .layer(tower::util::option_layer(
                grpc_web.then(tonic_web::GrpcWebLayer::new),
            ))
            // Innermost: sees native gRPC trailers, and opens each RPC's span.
            .layer(tower::util::option_layer(
                self.settings.telemetry.rpc.then_some(grpc_metrics),
            ))
            // Inside the metrics, so a refused message is counted.
            .layer(MessageLimitLayer::new(server_settings.max_message_bytes))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(tickets)
            .add_service(dispatch)
            .add_service(directory)
            .add_service(routing)
            .add_service(dispatch_model)
            .add_service(calendar)
            .add_service(supervision)
            .add_service(metrics)
            .add_service(audit)
            .add_service(webhooks)
            .add_service(attachments)
            .add_service(knowledge)
            .add_service(hotspots);
        let sweeper = spawn_sweeper(
            self.workflow.clone(),
            Duration::from_secs(self.settings.supervision.sweep_interval_secs.max(1)),
        );
        // Each replica's worker delivers what it claims; stopped with the
        // server (a delivery cut short is claimed again after its lease).
        let webhook_worker = match self.settings.webhooks.enabled {
            true => Some(
                WebhookWorker::new(
                    self.workflow.clone(),
                    self.settings.webhooks.clone(),
                    self.telemetry.webhook_counters(),
                )?
                .spawn(),
            ),
            false => None,
        };
        let relay = {
            let workflow = self.workflow.clone();
            let commits = self.commits;
            tokio::spawn(async move {
                workflow
                    .feed()
                    .relay(workflow.store().clone(), commits)
                    .await;
            })
        };
        let refresh = spawn_refresh(
            self.workflow.clone(),
            Duration::from_secs(self.settings.routing.refresh_secs.max(1)),
        );
        let health = &self.settings.health;
        let store = self.workflow.store().clone();
        let mut ops_tasks = vec![
            readiness.spawn_probe(
                store.clone(),
                self.telemetry.clone(),
                Duration::from_millis(health.probe_interval_ms.max(1)),
                Duration::from_secs(health.database_grace_secs),
            ),
            self.telemetry.spawn_upkeep(),
            {
                let days = self.settings.privacy.pii_access_retention_days;
                spawn_hourly_purge(
                    self.workflow.clone(),
                    "PII access log rows",
                    move |w, now| async move { w.purge_pii_access(now, days).await },
                )
            },
            {
                let hours = self.settings.idempotency.retention_hours;
                spawn_hourly_purge(
                    self.workflow.clone(),
                    "idempotency keys",
                    move |w, now| async move { w.purge_idempotency_keys(now, hours).await },
                )
            },
            {
                let days = self.settings.webhooks.retention_days;
                spawn_hourly_purge(
                    self.workflow.clone(),
                    "delivered webhook deliveries",
                    move |w, now| async move { w.purge_webhook_deliveries(now, days).await },
                )
            },
            spawn_feed_index_upkeep(self.workflow.clone(), FEED_INDEX_UPKEEP),
            spawn_maintenance_check(self.workflow.clone()),
            spawn_knowledge_follow(
                self.knowledge.clone(),
                Duration::from_millis(self.settings.knowledge.follow_interval_ms.max(1)),
            ),
            spawn_attachment_upkeep(
                self.attachments.clone(),
                self.workflow.clone(),
                Duration::from_secs(self.settings.attachments.sweep_interval_secs.max(1)),
                self.settings.attachments.retention_days,
            ),
            self.telemetry.spawn_ticket_gauges(
                store.clone(),
                self.workflow.clock().clone(),
                Duration::from_secs(self.settings.admin.ticket_gauges_secs.max(1)),
            ),
        ];
        ops_tasks.extend(spawn_hotspots(&self.hotspots));
        if let Some((listener, _)) = self.admin {
            ops_tasks.push(admin::spawn(
                listener,
                AdminState {
                    telemetry: self.telemetry.clone(),
                    readiness: readiness.clone(),
                    store,
                    feed: self.workflow.feed().clone(),
                },
            ));
        }

        let (drain_started_tx, drain_started) = tokio::sync::oneshot::channel::<()>();
        let drain_readiness = readiness.clone();
        let feed = self.workflow.feed().clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutdown requested: reporting NOT_SERVING and draining");
            // NOT_SERVING first, so a health Watch ending at the close
            // below ends on it.
            drain_readiness.start_draining().await;
            // Streams end now (our feeds with UNAVAILABLE, health Watch
            // after NOT_SERVING); unary calls in flight finish.
            feed.close();
            let _ = drain_started_tx.send(());
        };
        let serve: std::pin::Pin<Box<dyn Future<Output = Result<(), _>> + Send>> = match self.tls {
            Some(tls) => {
                Box::pin(router.serve_with_incoming_shutdown(tls.incoming(self.incoming), signal))
            }
            None => Box::pin(router.serve_with_incoming_shutdown(self.incoming, signal)),
        };
        let grace = Duration::from_secs(server_settings.shutdown_grace_secs);
        tokio::pin!(serve);
        tokio::select! {
            result = &mut serve => result?,
            () = async {
                if drain_started.await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!("drain grace period over; dropping remaining RPCs");
            }
        }
        refresh.abort();
        sweeper.abort();
        if let Some(worker) = webhook_worker {
            worker.abort();
        }
        for task in ops_tasks {
            task.abort();
        }
        relay.abort();
        Ok(())
    }
}

/// Hides the password of a database URL for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
