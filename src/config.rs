//! One `Settings` struct, layered by [figment](https://docs.rs/figment):
//! built-in defaults, then a TOML file, then `HOTLINE_<SECTION>__<KEY>`
//! environment variables, then command-line flags (applied by
//! [`crate::cli`]). The layering and its error messages live in [`load`];
//! the user documentation is `docs/configuration.md`.

use std::{net::SocketAddr, path::Path};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::domain::{
    calendar::WorkingHours,
    timelimit::{Limit, TimeLimitPolicy},
};

mod attachments;
mod dispatch_model;
mod hotspots;
mod idempotency;
mod knowledge;
mod load;
mod privacy;
mod security;
mod telemetry;
#[cfg(test)]
mod tests;
mod webhooks;
mod workflow;

pub use attachments::AttachmentSettings;
pub use dispatch_model::DispatchModelSettings;
pub use hotspots::HotspotSettings;
pub use idempotency::IdempotencySettings;
pub use knowledge::KnowledgeSettings;
pub use load::{ENV_PREFIX, NOT_SETTINGS};
pub use privacy::PrivacySettings;
pub use security::{ClientAuth, QuotaSettings, TlsSettings};
pub use telemetry::TelemetrySettings;
pub use webhooks::WebhookSettings;
pub use workflow::WorkflowSettings;

/// All settings of a server process.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// gRPC listener.
    pub server: ServerSettings,
    /// Storage.
    pub database: DatabaseSettings,
    /// Token verification and dev-token issuing.
    pub auth: AuthSettings,
    /// The call centre's locality.
    pub centre: CentreSettings,
    /// Responsibility routing and returns.
    pub routing: RoutingSettings,
    /// The learned dispatch suggestion: when it decides, how it trains.
    pub dispatch_model: DispatchModelSettings,
    /// Sign-for and reply limits by request type and urgency, and extension caps.
    pub time_limits: TimeLimitPolicy,
    /// Working hours of the working-day calendar.
    pub calendar: CalendarSettings,
    /// The deadline sweeper and supervision orders.
    pub supervision: SupervisionSettings,
    /// Reply review, callback window and re-handling.
    pub callback: CallbackSettings,
    /// Scorecards and rankings.
    pub metrics: MetricsSettings,
    /// Logging.
    pub log: LogSettings,
    /// Server TLS and mutual TLS.
    pub tls: TlsSettings,
    /// Per-principal rate and stream limits.
    pub quota: QuotaSettings,
    /// The admin HTTP port: metrics and probes.
    pub admin: AdminSettings,
    /// Readiness: how long the database may be unreachable.
    pub health: HealthSettings,
    /// Per-RPC metrics and spans, and their optional OTLP export.
    pub telemetry: TelemetrySettings,
    /// Caller data at rest and the PII access log.
    pub privacy: PrivacySettings,
    /// How long `request_id`s are honoured.
    pub idempotency: IdempotencySettings,
    /// The webhook delivery worker.
    pub webhooks: WebhookSettings,
    /// Ticket attachments: object storage, limits, retention.
    pub attachments: AttachmentSettings,
    /// The knowledge base's search index.
    pub knowledge: KnowledgeSettings,
    /// The hotspot detector and its thresholds.
    pub hotspots: HotspotSettings,
    /// The act path's ticket cache.
    pub workflow: WorkflowSettings,
}

/// gRPC listener settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Upper bound on any RPC; clients' shorter `grpc-timeout` wins.
    pub request_timeout_secs: u64,
    /// Concurrent requests per HTTP/2 connection.
    pub concurrency_limit_per_connection: usize,
    /// Serve grpc-web (browser consoles) with CORS.
    pub grpc_web: bool,
    /// How long in-flight RPCs may take to finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Largest request message accepted, in bytes; a larger one is
    /// RESOURCE_EXHAUSTED naming the limit.
    pub max_message_bytes: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            request_timeout_secs: 30,
            concurrency_limit_per_connection: 256,
            grpc_web: false,
            shutdown_grace_secs: 10,
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Storage settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://file.db` (embedded default) or `postgres://user@host/db`.
    pub url: String,
    /// Pool size; on 2 cores 8–16 PostgreSQL connections is the sweet spot.
    pub max_connections: u32,
    /// Apply pending migrations at start.
    pub migrate: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://hotline.db".into(),
            max_connections: 8,
            migrate: true,
        }
    }
}

/// JWT algorithms accepted; exactly one is configured, so `alg` is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// Shared secret.
    HS256,
    /// RSA public key.
    RS256,
    /// P-256 public key.
    ES256,
}

/// Most clock skew `auth.leeway_secs` may tolerate: five minutes, the
/// usual bound between an identity provider's clock and a server's.
const MAX_LEEWAY_SECS: u64 = 300;

/// Token settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// The only accepted `alg`.
    pub algorithm: JwtAlgorithm,
    /// HS256 secret given directly (prefer the env var `HOTLINE_AUTH__HS256_SECRET`).
    /// Never serialized: the built-in defaults layer has no secret, and a
    /// secret must not be echoed back.
    #[serde(skip_serializing)]
    pub hs256_secret: Option<SecretString>,
    /// HS256 secret file; created with a random secret on first run if missing.
    pub hs256_secret_file: String,
    /// PEM public key for RS256/ES256: one key, whatever `kid` tokens carry
    /// (the single-key setup from before key rotation).
    pub public_key_file: Option<String>,
    /// Directory of PEM public keys for RS256/ES256, one per file named
    /// `<kid>.pem`: several keys at once, picked by the token's `kid`, so an
    /// identity provider can rotate its signing key without an outage.
    pub public_keys_dir: Option<String>,
    /// JWK Set file (RFC 7517 JSON, as identity providers publish) with the
    /// RS256/ES256 verification keys, picked by `kid`.
    pub jwks_file: Option<String>,
    /// Seconds between checks of the key files' modification times; a
    /// changed file or directory is reloaded without a restart. 0: read the
    /// keys at start only.
    pub keys_reload_secs: u64,
    /// PEM private key with which `hotline token` signs RS256/ES256 dev
    /// tokens; without it, only the identity provider issues tokens.
    pub signing_key_file: Option<String>,
    /// `kid` header of tokens signed with `signing_key_file`; default: the
    /// file name without its extension, the naming of `public_keys_dir`.
    pub signing_kid: Option<String>,
    /// Lifetime of dev tokens printed by `hotline token`.
    pub dev_token_ttl_secs: u64,
    /// Clock skew tolerated between the token issuer and this server, in
    /// seconds, when checking `exp`, `nbf` and `iat`.
    pub leeway_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "hotline".into(),
            audience: "hotline".into(),
            algorithm: JwtAlgorithm::HS256,
            hs256_secret: None,
            hs256_secret_file: "hotline-jwt.secret".into(),
            public_key_file: None,
            public_keys_dir: None,
            jwks_file: None,
            keys_reload_secs: 30,
            signing_key_file: None,
            signing_kid: None,
            dev_token_ttl_secs: 8 * 3600,
            leeway_secs: 30,
        }
    }
}

/// Locality of the centre.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CentreSettings {
    /// Offset from UTC in hours of the centre's clock (Asia/Shanghai: 8, no
    /// DST); ticket numbers count per local day.
    pub utc_offset_hours: i32,
}

impl Default for CentreSettings {
    fn default() -> Self {
        Self {
            utc_offset_hours: 8,
        }
    }
}

/// Routing and return rules (DOMAIN.md §5; defaults per §2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// Route new tickets through the active rule set at intake.
    pub auto_dispatch: bool,
    /// With no matching rule, send to the district government of the
    /// ticket's region (兜底) instead of the triage queue.
    pub fallback_to_district: bool,
    /// From this many dispatches on, a dispatch is a designation (指定) that
    /// the unit cannot return.
    pub designate_after: i32,
    /// How long after dispatch a unit may return a ticket: a limit such as
    /// `1wd` (working days on the calendar, the default), `8wh` or `24h`.
    pub return_window: Limit,
    /// Seconds between checks for a rule set or units changed by another
    /// replica; the replica that makes a change applies it at once.
    pub refresh_secs: u64,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            auto_dispatch: true,
            fallback_to_district: true,
            designate_after: 3,
            return_window: Limit::WorkingDays(1),
            refresh_secs: 5,
        }
    }
}

/// Working hours for hour-based working-time limits (DOMAIN.md §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarSettings {
    /// Start of the working day, local time, `HH:MM`.
    pub work_start: String,
    /// End of the working day, local time, `HH:MM`.
    pub work_end: String,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        Self {
            work_start: "09:00".into(),
            work_end: "17:30".into(),
        }
    }
}

impl CalendarSettings {
    /// The parsed working hours.
    pub fn working_hours(&self) -> anyhow::Result<WorkingHours> {
        self.checked_hours().map_err(anyhow::Error::from)
    }

    /// [`CalendarSettings::working_hours`] with the failing key, so the
    /// loader can say which layer set it.
    fn checked_hours(&self) -> Result<WorkingHours, Invalid> {
        let parse = |s: &str, key: &'static str| {
            chrono::NaiveTime::parse_from_str(s, "%H:%M")
                .map_err(|e| Invalid::new(key, format!("must look like 09:00, not {s:?} ({e})")))
        };
        let hours = WorkingHours {
            start: parse(&self.work_start, "calendar.work_start")?,
            end: parse(&self.work_end, "calendar.work_end")?,
        };
        if hours.start >= hours.end {
            return Err(Invalid::new(
                "calendar.work_start",
                format!("must be before work_end ({})", self.work_end),
            ));
        }
        Ok(hours)
    }
}

/// The deadline sweeper and supervision orders (DOMAIN.md §2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisionSettings {
    /// Seconds between sweeps for deadline crossings (every replica sweeps;
    /// each crossing is recorded once).
    pub sweep_interval_secs: u64,
    /// Issue a supervision order automatically when a ticket goes overdue.
    pub auto_order_on_overdue: bool,
    /// Working days a unit has to respond to a supervision order.
    pub order_response_days: u32,
}

impl Default for SupervisionSettings {
    fn default() -> Self {
        Self {
            sweep_interval_secs: 30,
            auto_order_on_overdue: true,
            order_response_days: 1,
        }
    }
}

/// Scorecards and rankings (考核).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Default weights of `ListRankings` (a request may set its own).
    pub ranking: crate::domain::metrics::RankingWeights,
}

/// The admin HTTP port (`/metrics`, `/healthz`, `/readyz`), apart from the
/// gRPC port so it can stay on loopback or a cluster-internal address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// Serve the admin port at all.
    pub enabled: bool,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Seconds between the counts of open and overdue tickets behind the
    /// `hotline_tickets_*` gauges (one grouped query, never per scrape).
    pub ticket_gauges_secs: u64,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            ticket_gauges_secs: 30,
        }
    }
}

/// Readiness (gRPC health and `/readyz`) follows the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// Seconds the database may fail the probe before the server reports
    /// NOT_SERVING; a blip shorter than this does not turn traffic away.
    pub database_grace_secs: u64,
    /// Milliseconds between probes (`SELECT 1` through the pool), each
    /// bounded by the same time.
    pub probe_interval_ms: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            database_grace_secs: 5,
            probe_interval_ms: 1000,
        }
    }
}

/// The callback loop (回访 → 重办).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackSettings {
    /// The centre reviews replies before the callback (审核).
    pub review_replies: bool,
    /// How long after the reply (or its approval) the centre has to call
    /// the citizen back before the ticket closes as not rated.
    pub window: Limit,
    /// How many times a ticket may be reopened after a dissatisfied callback.
    pub max_reopens: i32,
    /// Issue a supervision order when the citizen is still dissatisfied
    /// after re-handling.
    pub order_on_dissatisfied_after_reopen: bool,
}

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            review_replies: false,
            window: Limit::WorkingDays(5),
            max_reopens: 1,
            order_on_dissatisfied_after_reopen: true,
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` for people, `json` for log shippers.
    pub format: String,
    /// `tracing` filter, e.g. `info,hotline=debug`; `RUST_LOG` wins.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

/// The commented example printed by `hotline config print-default`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../deploy/hotline.example.toml");

/// A setting whose value its type accepts but the rules do not; `key` is the
/// dotted path (`routing.designate_after`) so the loader can name the layer
/// that set it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {message}")]
struct Invalid {
    /// Dotted path of the setting.
    key: String,
    /// What is wrong, e.g. `must be between 1 and 100`.
    message: String,
}

impl Invalid {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Nothing when `value` lies in `range`, else the setting `key` is
    /// invalid: "must be between …".
    fn within<T: PartialOrd + std::fmt::Display>(
        value: T,
        range: std::ops::RangeInclusive<T>,
        key: impl Into<String>,
    ) -> Result<(), Self> {
        let message = format!("must be between {} and {}", range.start(), range.end());
        Self::unless(range.contains(&value), key, &message)
    }

    /// Nothing when `ok`, else the setting `key` is invalid: `message`.
    fn unless(ok: bool, key: impl Into<String>, message: &str) -> Result<(), Self> {
        if ok {
            Ok(())
        } else {
            Err(Self::new(key, message))
        }
    }
}

impl Settings {
    /// Loads defaults, then `file` (if given; it must exist), then the
    /// process's `HOTLINE_…` environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(file, load::process_env())
    }

    /// [`Settings::load`] with an explicit environment: tests pass their own
    /// instead of mutating the process's, through the same code path.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        load::Layers::gather(file, env)?.settings()
    }

    /// Range checks that the types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.check().map_err(anyhow::Error::from)
    }

    /// [`Settings::validate`] with the failing key kept apart.
    fn check(&self) -> Result<(), Invalid> {
        let ensure = |ok: bool, key: &str, message: &str| {
            if ok {
                Ok(())
            } else {
                Err(Invalid::new(key, message))
            }
        };
        let r = &self.routing;
        let long = match r.return_window {
            Limit::WorkingDays(d) => d > 250,
            Limit::WorkingMinutes(m) | Limit::NaturalMinutes(m) => m > 366 * 24 * 60,
        };
        ensure(!long, "routing.return_window", "must be at most a year")?;
        ensure(
            (1..=100).contains(&r.designate_after),
            "routing.designate_after",
            "must be between 1 and 100",
        )?;
        ensure(
            (-12..=14).contains(&self.centre.utc_offset_hours),
            "centre.utc_offset_hours",
            "must be between -12 and 14",
        )?;
        self.calendar.checked_hours()?;
        ensure(
            (1..=60).contains(&self.time_limits.max_extension_days),
            "time_limits.max_extension_days",
            "must be between 1 and 60",
        )?;
        self.metrics.ranking.validate().map_err(|e| match e {
            // A weight names its own key; "weights" is about all four.
            crate::domain::DomainError::InvalidField { field, message } if field != "weights" => {
                Invalid::new(format!("metrics.ranking.{field}"), message)
            }
            other => Invalid::new("metrics.ranking", other.to_string()),
        })?;
        // `init_tracing` treats anything but "json" as text and drops
        // unparsable filter directives: a typo would pass unnoticed.
        ensure(
            matches!(self.log.format.as_str(), "text" | "json"),
            "log.format",
            "must be \"text\" or \"json\"",
        )?;
        ensure(
            (100..=60_000).contains(&self.health.probe_interval_ms),
            "health.probe_interval_ms",
            "must be between 100 and 60000",
        )?;
        ensure(
            self.admin.ticket_gauges_secs >= 1,
            "admin.ticket_gauges_secs",
            "must be at least 1",
        )?;
        tracing_subscriber::EnvFilter::try_new(&self.log.filter)
            .map_err(|e| Invalid::new("log.filter", format!("is not a tracing filter: {e}")))?;
        // An empty `iss`/`aud` would accept tokens that name no issuer or
        // audience at all; a leeway of hours would keep expired tokens
        // valid that long (verification adds it to `exp`).
        let auth = &self.auth;
        ensure(
            !auth.issuer.trim().is_empty(),
            "auth.issuer",
            "must not be empty",
        )?;
        ensure(
            !auth.audience.trim().is_empty(),
            "auth.audience",
            "must not be empty",
        )?;
        ensure(
            auth.leeway_secs <= MAX_LEEWAY_SECS,
            "auth.leeway_secs",
            "must be at most 300",
        )?;
        self.tls.check()?;
        self.webhooks.check()?;
        self.knowledge.check()?;
        self.dispatch_model.check()?;
        self.hotspots.check()?;
        self.workflow.check()?;
        self.attachments
            .check()
            .map_err(|(key, message)| Invalid::new(key, message))?;
        self.telemetry.check()
    }
}
