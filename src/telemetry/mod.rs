//! Operational metrics, readiness and the admin port.
//!
//! One [`Telemetry`] per running application: a Prometheus registry of its
//! own (not the `metrics` crate's process-wide recorder), so several
//! servers in one process — the integration tests, `hotline bench` — each
//! count their own RPCs. Every metric is registered once, here, as a
//! handle; recording is then an atomic add (counters, gauges) or a push
//! onto a lock-free bucket (histograms), with no name or label lookup on
//! the request path. The names are fixed (a Grafana dashboard reads them)
//! and documented in `docs/operations.md`; label values come from closed
//! sets (service and method names of the served protos, gRPC codes, ticket
//! states), never from requests.
//!
//! - [`grpc`]: the tower layer counting and timing every RPC;
//! - [`readiness`]: the database probe behind gRPC health and `/readyz`;
//! - [`admin`]: the HTTP server of `/metrics`, `/healthz` and `/readyz`;
//! - [`traces`]: the process's log and span subscriber, OTLP export and
//!   the client's `traceparent`.

use std::{sync::Arc, time::Duration};

use ::metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::{
    domain::{text_enum::TextEnum, ticket::TicketState},
    service::{
        feed::TicketFeed,
        instruments::{
            HotspotInstruments, Instruments, KnowledgeInstruments, QueryInstruments, QueryOutcome,
        },
        webhooks::worker::DeliveryCounters,
        workflow::CacheCounters,
    },
    store::{OpenTickets, Store, StoreTelemetry},
};

pub mod admin;
pub mod grpc;
pub mod readiness;
pub mod traces;

/// RPCs by service, method and gRPC code.
pub const GRPC_REQUESTS: &str = "hotline_grpc_requests_total";
/// RPC latency by service and method, in seconds.
pub const GRPC_DURATION: &str = "hotline_grpc_request_duration_seconds";
/// Pool connections by `state` (`idle`, `in_use`).
pub const POOL_CONNECTIONS: &str = "hotline_db_pool_connections";
/// The pool's limit.
pub const POOL_MAX: &str = "hotline_db_pool_max_connections";
/// Wait for a pooled connection, in seconds.
pub const POOL_ACQUIRE: &str = "hotline_db_pool_acquire_seconds";
/// 1 while the readiness probe reaches the database, else 0.
pub const DATABASE_UP: &str = "hotline_database_up";
/// Intakes per group-commit transaction.
pub const INTAKE_BATCH: &str = "hotline_intake_batch_size";
/// PII access records per group-commit statement.
pub const PII_ACCESS_BATCH: &str = "hotline_pii_access_batch_size";
/// Ticket changes (verbs) per group-commit transaction (SQLite).
pub const CHANGE_BATCH: &str = "hotline_change_batch_size";
/// Sweeper rounds started.
pub const SWEEPER_ROUNDS: &str = "hotline_sweeper_rounds_total";
/// Deadline crossings recorded by the sweeper.
pub const SWEEPER_CROSSINGS: &str = "hotline_sweeper_crossings_total";
/// How long the oldest unrecorded crossing had been due at the last sweep.
pub const SWEEPER_LAG: &str = "hotline_sweeper_lag_seconds";
/// `WatchTickets`/`WatchAlerts` streams open.
pub const FEED_SUBSCRIBERS: &str = "hotline_feed_subscribers";
/// Connection losses of the commit listener (PostgreSQL).
pub const FEED_RECONNECTS: &str = "hotline_feed_relay_reconnects_total";
/// New tickets by how they were routed (`rule`, `model`, `fallback`, `triage`).
pub const ROUTING_DECISIONS: &str = "hotline_routing_decisions_total";
/// Open tickets by `state`.
pub const TICKETS_OPEN: &str = "hotline_tickets_open";
/// Tickets being handled past their reply deadline.
pub const TICKETS_OVERDUE: &str = "hotline_tickets_overdue_open";
/// Webhook delivery attempts by `outcome` (`delivered`, `retry`, `dead`).
pub const WEBHOOK_DELIVERIES: &str = "hotline_webhook_deliveries_total";
/// Overdue hotspot alerts this replica's sweeper raised.
pub const HOTSPOT_OVERDUE_ALERTS: &str = "hotline_hotspot_overdue_alerts_total";
/// Hotspots this replica recorded first.
pub const HOTSPOTS_DETECTED: &str = "hotline_hotspots_detected_total";
/// Tickets the hotspot detector is behind (0 once caught up).
pub const HOTSPOT_LAG: &str = "hotline_hotspot_detector_lag_tickets";
/// Clusters the hotspot detector holds.
pub const HOTSPOT_CLUSTERS: &str = "hotline_hotspot_detector_clusters";
/// Ticket cache look-ups of the act path by `outcome` (`hit`, `miss`,
/// `stale`: a hit refused and decided again from a fresh read).
pub const TICKET_CACHE_LOOKUPS: &str = "hotline_ticket_cache_lookups_total";
/// Knowledge searches and suggestions by `kind` and `outcome`.
pub const KNOWLEDGE_QUERIES: &str = "hotline_knowledge_queries_total";
/// Their latency by `kind`, in seconds.
pub const KNOWLEDGE_QUERY_DURATION: &str = "hotline_knowledge_query_duration_seconds";
/// Articles this replica's index serves.
pub const KNOWLEDGE_DOCUMENTS: &str = "hotline_knowledge_index_documents";
/// Article changes committed that this replica's index had not applied.
pub const KNOWLEDGE_FOLLOW_LAG: &str = "hotline_knowledge_follow_lag";
/// Full rebuilds of the index at start, by `reason`.
pub const KNOWLEDGE_REBUILDS: &str = "hotline_knowledge_index_rebuilds_total";

/// Bucket bounds of RPC latency: 1 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Bucket bounds of a knowledge query: 250 µs to 1 s (the target is a
/// p99 under 20 ms).
const SEARCH_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
];
/// Bucket bounds of the pool wait: 50 µs to the 5 s acquire timeout.
const ACQUIRE_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];
/// Bucket bounds of group-commit batches (at most 16 intakes).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 12.0, 16.0];
/// Bucket bounds of PII access batches (at most 64 records).
const ACCESS_BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// How often histogram samples are folded into their buckets when nobody
/// scrapes, so memory stays bounded.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The registry of one application and the handles registered in it.
pub struct Telemetry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    pool_idle: Gauge,
    pool_in_use: Gauge,
    pool_max: Gauge,
    database_up: Gauge,
    feed_subscribers: Gauge,
    /// One gauge per non-terminal state, in [`TicketState::ALL`] order.
    tickets_open: Vec<(TicketState, Gauge)>,
    tickets_overdue: Gauge,
    store: StoreTelemetry,
    instruments: Instruments,
    webhooks: DeliveryCounters,
    hotspots: HotspotInstruments,
    knowledge: KnowledgeInstruments,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    /// A fresh registry with every metric registered (counters at 0).
    pub fn new() -> anyhow::Result<Self> {
        let recorder = builder()?.build_recorder();
        let handle = recorder.handle();
        describe(&recorder);
        let r = Registrar(&recorder);
        let tickets_open = TicketState::ALL
            .iter()
            .filter(|s| !s.is_terminal())
            .map(|s| (*s, r.gauge(TICKETS_OPEN, &[("state", s.code())])))
            .collect();
        let routed = |source: &'static str| r.counter(ROUTING_DECISIONS, &[("source", source)]);
        let queries = |kind: &'static str| QueryInstruments {
            outcomes: QueryOutcome::ALL.map(|o| {
                r.counter(
                    KNOWLEDGE_QUERIES,
                    &[("kind", kind), ("outcome", o.as_str())],
                )
            }),
            seconds: r.histogram(KNOWLEDGE_QUERY_DURATION, &[("kind", kind)]),
        };
        Ok(Self {
            pool_idle: r.gauge(POOL_CONNECTIONS, &[("state", "idle")]),
            pool_in_use: r.gauge(POOL_CONNECTIONS, &[("state", "in_use")]),
            pool_max: r.gauge(POOL_MAX, &[]),
            database_up: r.gauge(DATABASE_UP, &[]),
            feed_subscribers: r.gauge(FEED_SUBSCRIBERS, &[]),
            tickets_open,
            tickets_overdue: r.gauge(TICKETS_OVERDUE, &[]),
            store: StoreTelemetry {
                acquire_seconds: r.histogram(POOL_ACQUIRE, &[]),
                intake_batch_size: r.histogram(INTAKE_BATCH, &[]),
                pii_access_batch_size: r.histogram(PII_ACCESS_BATCH, &[]),
                change_batch_size: r.histogram(CHANGE_BATCH, &[]),
                listener_reconnects: r.counter(FEED_RECONNECTS, &[]),
            },
            instruments: Instruments {
                routed_by_rule: routed("rule"),
                routed_by_model: routed("model"),
                routed_by_fallback: routed("fallback"),
                routed_to_triage: routed("triage"),
                sweeper_rounds: r.counter(SWEEPER_ROUNDS, &[]),
                sweeper_crossings: r.counter(SWEEPER_CROSSINGS, &[]),
                hotspot_overdue_alerts: r.counter(HOTSPOT_OVERDUE_ALERTS, &[]),
                sweeper_lag_seconds: r.gauge(SWEEPER_LAG, &[]),
                ticket_cache: CacheCounters {
                    hits: r.counter(TICKET_CACHE_LOOKUPS, &[("outcome", "hit")]),
                    misses: r.counter(TICKET_CACHE_LOOKUPS, &[("outcome", "miss")]),
                    stale: r.counter(TICKET_CACHE_LOOKUPS, &[("outcome", "stale")]),
                },
            },
            webhooks: DeliveryCounters {
                delivered: r.counter(WEBHOOK_DELIVERIES, &[("outcome", "delivered")]),
                retried: r.counter(WEBHOOK_DELIVERIES, &[("outcome", "retry")]),
                dead: r.counter(WEBHOOK_DELIVERIES, &[("outcome", "dead")]),
            },
            hotspots: HotspotInstruments {
                detected: r.counter(HOTSPOTS_DETECTED, &[]),
                lag_tickets: r.gauge(HOTSPOT_LAG, &[]),
                clusters: r.gauge(HOTSPOT_CLUSTERS, &[]),
            },
            knowledge: KnowledgeInstruments {
                search: queries("search"),
                suggest: queries("suggest"),
                documents: r.gauge(KNOWLEDGE_DOCUMENTS, &[]),
                follow_lag: r.gauge(KNOWLEDGE_FOLLOW_LAG, &[]),
                rebuilds: hotline_knowledge::Rebuild::ALL
                    .map(|why| r.counter(KNOWLEDGE_REBUILDS, &[("reason", why.as_str())])),
            },
            recorder,
            handle,
        })
    }

    /// The handles the store records into.
    pub fn store_telemetry(&self) -> StoreTelemetry {
        self.store.clone()
    }

    /// The handles the workflow records into.
    pub fn instruments(&self) -> Instruments {
        self.instruments.clone()
    }

    /// The handles the hotspot detector records into.
    pub fn hotspot_instruments(&self) -> HotspotInstruments {
        self.hotspots.clone()
    }

    /// The handles the knowledge base's search and index record into.
    pub fn knowledge_instruments(&self) -> KnowledgeInstruments {
        self.knowledge.clone()
    }

    /// The handles the webhook worker records into.
    pub fn webhook_counters(&self) -> DeliveryCounters {
        self.webhooks.clone()
    }

    /// A counter registered in this registry (for the gRPC layer's lazily
    /// registered per-code counters).
    pub(crate) fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        Registrar(&self.recorder).counter(name, labels)
    }

    /// A histogram registered in this registry.
    pub(crate) fn histogram(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Histogram {
        Registrar(&self.recorder).histogram(name, labels)
    }

    /// Sets `hotline_database_up`.
    pub fn set_database_up(&self, up: bool) {
        self.database_up.set(if up { 1.0 } else { 0.0 });
    }

    /// Sets the open-ticket gauges from one count (states absent from it
    /// have none open).
    pub fn set_open_tickets(&self, counts: &OpenTickets) {
        for (state, gauge) in &self.tickets_open {
            let n = counts
                .by_state
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            gauge.set(as_f64(n));
        }
        self.tickets_overdue.set(as_f64(counts.overdue));
    }

    /// The Prometheus text of every metric, after sampling the gauges that
    /// are read rather than recorded (pool occupancy, feed watchers): both
    /// are a few atomic loads, so they are fresh at every scrape for free.
    pub fn render(&self, store: &dyn Store, feed: &TicketFeed) -> String {
        let pool = store.pool_status();
        self.pool_idle.set(pool.idle);
        self.pool_in_use.set(pool.in_use());
        self.pool_max.set(pool.max);
        #[allow(clippy::cast_precision_loss)] // a count of connections
        self.feed_subscribers.set(feed.subscriber_count() as f64);
        self.handle.render()
    }

    /// Folds histogram samples into buckets every few seconds; ends when
    /// aborted.
    pub(crate) fn spawn_upkeep(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(UPKEEP_EVERY);
            loop {
                ticker.tick().await;
                handle.run_upkeep();
            }
        })
    }

    /// Counts open and overdue tickets every `every` into the
    /// `hotline_tickets_*` gauges; ends when aborted. A failed count keeps
    /// the previous values (and `hotline_database_up` tells why).
    pub(crate) fn spawn_ticket_gauges(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        clock: Arc<dyn crate::domain::Clock>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let telemetry = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                match store.open_tickets(clock.now()).await {
                    Ok(counts) => telemetry.set_open_tickets(&counts),
                    Err(e) => tracing::debug!(error = %e, "open-ticket count failed"),
                }
            }
        })
    }
}

/// A count as a gauge value.
#[allow(clippy::cast_precision_loss)] // ticket counts stay far below 2^52
fn as_f64(n: i64) -> f64 {
    n as f64
}

/// The exporter with Prometheus histograms (buckets, not summaries) for
/// every histogram here.
fn builder() -> anyhow::Result<PrometheusBuilder> {
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in [
        (GRPC_DURATION, LATENCY_BUCKETS),
        (POOL_ACQUIRE, ACQUIRE_BUCKETS),
        (INTAKE_BATCH, BATCH_BUCKETS),
        (PII_ACCESS_BATCH, ACCESS_BATCH_BUCKETS),
        (CHANGE_BATCH, ACCESS_BATCH_BUCKETS),
        (KNOWLEDGE_QUERY_DURATION, SEARCH_BUCKETS),
    ] {
        builder = builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)?;
    }
    Ok(builder)
}

/// The `# HELP` lines.
fn describe(recorder: &PrometheusRecorder) {
    let counter = |name: &'static str, text: &'static str| {
        recorder.describe_counter(name.into(), None, text.into());
    };
    counter(
        GRPC_REQUESTS,
        "RPCs finished, by service, method and gRPC status code.",
    );
    counter(
        SWEEPER_ROUNDS,
        "Deadline sweeper rounds started (periodic and RunSweep).",
    );
    counter(
        SWEEPER_CROSSINGS,
        "Deadline crossings recorded by the sweeper.",
    );
    counter(
        FEED_RECONNECTS,
        "Connection losses of the commit listener, each followed by a new subscription.",
    );
    counter(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts by outcome: delivered (2xx), retry (failed, tried again later), dead (failed for the last time).",
    );
    counter(
        ROUTING_DECISIONS,
        "New tickets by routing outcome: rule, dispatch model, district fallback, or triage (no unit).",
    );
    counter(
        HOTSPOT_OVERDUE_ALERTS,
        "Hotspots whose 5-hour supervision item went overdue unanswered, alerted by this replica's sweeper (summed over replicas: each hotspot once).",
    );
    counter(
        HOTSPOTS_DETECTED,
        "Hotspots this replica recorded first (summed over replicas: each hotspot once).",
    );
    counter(
        KNOWLEDGE_QUERIES,
        "Knowledge searches (SearchArticles) and suggestions (SuggestArticles) by outcome: hits, empty, invalid (INVALID_ARGUMENT), error.",
    );
    counter(
        KNOWLEDGE_REBUILDS,
        "Full rebuilds of this replica's knowledge index at start, by reason (an index merely behind is caught up instead).",
    );
    let gauge = |name: &'static str, unit: Option<Unit>, text: &'static str| {
        recorder.describe_gauge(name.into(), unit, text.into());
    };
    gauge(
        POOL_CONNECTIONS,
        None,
        "Database pool connections by state (idle, in_use).",
    );
    gauge(POOL_MAX, None, "The database pool's connection limit.");
    gauge(
        DATABASE_UP,
        None,
        "1 while the readiness probe reaches the database, else 0.",
    );
    gauge(
        SWEEPER_LAG,
        Some(Unit::Seconds),
        "How long the oldest unrecorded deadline crossing had been due when the sweeper last read.",
    );
    gauge(
        FEED_SUBSCRIBERS,
        None,
        "Live feed watchers (WatchTickets, WatchAlerts).",
    );
    gauge(
        KNOWLEDGE_DOCUMENTS,
        None,
        "Articles this replica's knowledge index serves (published or being revised).",
    );
    gauge(
        KNOWLEDGE_FOLLOW_LAG,
        None,
        "Article changes committed in the database that this replica's knowledge index had not applied when its follower last looked (head - stamp).",
    );
    gauge(
        TICKETS_OPEN,
        None,
        "Open tickets by state (counted periodically).",
    );
    gauge(
        TICKETS_OVERDUE,
        None,
        "Tickets being handled past their reply deadline (counted periodically).",
    );
    gauge(
        HOTSPOT_LAG,
        None,
        "Tickets created after the latest one the hotspot detector has read while it reads a backlog; 0 once it reaches the head of the log.",
    );
    gauge(
        HOTSPOT_CLUSTERS,
        None,
        "Clusters of similar recent tickets the hotspot detector holds (bounded).",
    );
    let histogram = |name: &'static str, unit: Option<Unit>, text: &'static str| {
        recorder.describe_histogram(name.into(), unit, text.into());
    };
    histogram(
        GRPC_DURATION,
        Some(Unit::Seconds),
        "RPC latency by service and method; streams: the whole stream.",
    );
    histogram(
        POOL_ACQUIRE,
        Some(Unit::Seconds),
        "Wait for a pooled connection on the ticket read and write paths.",
    );
    histogram(
        KNOWLEDGE_QUERY_DURATION,
        Some(Unit::Seconds),
        "Knowledge search and suggestion latency by kind, validation included.",
    );
    histogram(
        INTAKE_BATCH,
        None,
        "Intakes written per group-commit transaction.",
    );
    histogram(
        PII_ACCESS_BATCH,
        None,
        "PII access records of reads written per group-commit statement.",
    );
    histogram(
        CHANGE_BATCH,
        None,
        "Ticket changes (verbs) written per group-commit transaction; SQLite only.",
    );
}

/// Registers handles in one recorder.
struct Registrar<'a>(&'a PrometheusRecorder);

impl Registrar<'_> {
    fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, (*v).to_owned()))
            .collect();
        Key::from_parts(name, labels)
    }

    fn metadata() -> Metadata<'static> {
        Metadata::new(module_path!(), ::metrics::Level::INFO, Some(module_path!()))
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.0
            .register_counter(&Self::key(name, labels), &Self::metadata())
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.0
            .register_gauge(&Self::key(name, labels), &Self::metadata())
    }

    fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Histogram {
        self.0
            .register_histogram(&Self::key(name, labels), &Self::metadata())
    }
}
