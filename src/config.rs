//! One `Settings` struct, layered: built-in defaults, then a TOML file, then
//! `HOTLINE_…` environment variables (`__` separates nesting levels, e.g.
//! `HOTLINE_DATABASE__URL`), then command-line flags (applied by `main`).

use std::{net::SocketAddr, path::Path};

use anyhow::Context;
use secrecy::SecretString;

use crate::domain::{
    calendar::WorkingHours,
    timelimit::{Limit, TimeLimitPolicy},
};
use serde::Deserialize;

/// All settings of a server process.
#[derive(Debug, Clone, Deserialize, Default)]
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
}

/// gRPC listener settings.
#[derive(Debug, Clone, Deserialize)]
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
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            request_timeout_secs: 30,
            concurrency_limit_per_connection: 256,
            grpc_web: false,
            shutdown_grace_secs: 10,
        }
    }
}

/// Storage settings.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    /// Shared secret.
    HS256,
    /// RSA public key.
    RS256,
    /// P-256 public key.
    ES256,
}

/// Token settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// The only accepted `alg`.
    pub algorithm: JwtAlgorithm,
    /// HS256 secret given directly (prefer the env var `HOTLINE_AUTH__HS256_SECRET`).
    pub hs256_secret: Option<SecretString>,
    /// HS256 secret file; created with a random secret on first run if missing.
    pub hs256_secret_file: String,
    /// PEM public key for RS256/ES256.
    pub public_key_file: Option<String>,
    /// Lifetime of dev tokens printed by `hotline token`.
    pub dev_token_ttl_secs: u64,
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
            dev_token_ttl_secs: 8 * 3600,
        }
    }
}

/// Locality of the centre.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
        let parse = |s: &str, key: &str| {
            chrono::NaiveTime::parse_from_str(s, "%H:%M")
                .with_context(|| format!("calendar.{key} must look like 09:00"))
        };
        let hours = WorkingHours {
            start: parse(&self.work_start, "work_start")?,
            end: parse(&self.work_end, "work_end")?,
        };
        anyhow::ensure!(
            hours.start < hours.end,
            "calendar.work_start must be before work_end"
        );
        Ok(hours)
    }
}

/// The deadline sweeper and supervision orders (DOMAIN.md §2).
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Default weights of `ListRankings` (a request may set its own).
    pub ranking: crate::domain::metrics::RankingWeights,
}

/// The callback loop (回访 → 重办).
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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

impl Settings {
    /// Loads defaults, then `file` (if given; it must exist), then `HOTLINE_…` env.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(file, std::env::vars())
    }

    /// [`Settings::load`] with explicit environment, for tests.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut doc = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        for (key, value) in env {
            let Some(path) = key.strip_prefix("HOTLINE_") else {
                continue;
            };
            let parts: Vec<String> = path.split("__").map(str::to_lowercase).collect();
            set_path(&mut doc, &parts, env_value(&value));
        }
        let settings: Self = toml::Value::Table(doc)
            .try_into()
            .context("invalid settings (file or HOTLINE_ environment)")?;
        settings.validate()?;
        Ok(settings)
    }

    /// Range checks that the types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        let r = &self.routing;
        let long = match r.return_window {
            Limit::WorkingDays(d) => d > 250,
            Limit::WorkingMinutes(m) | Limit::NaturalMinutes(m) => m > 366 * 24 * 60,
        };
        anyhow::ensure!(!long, "routing.return_window must be at most a year");
        anyhow::ensure!(
            (1..=100).contains(&r.designate_after),
            "routing.designate_after must be between 1 and 100"
        );
        anyhow::ensure!(
            (-12..=14).contains(&self.centre.utc_offset_hours),
            "centre.utc_offset_hours must be between -12 and 14"
        );
        self.calendar.working_hours()?;
        anyhow::ensure!(
            (1..=60).contains(&self.time_limits.max_extension_days),
            "time_limits.max_extension_days must be between 1 and 60"
        );
        self.metrics
            .ranking
            .validate()
            .map_err(|e| anyhow::anyhow!("metrics.ranking: {e}"))?;
        Ok(())
    }
}

/// Env values are typed by their look: booleans and integers become TOML
/// booleans and integers, everything else a string.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(b) = raw.parse::<bool>() {
        toml::Value::Boolean(b)
    } else if let Ok(i) = raw.parse::<i64>() {
        toml::Value::Integer(i)
    } else {
        toml::Value::String(raw.to_owned())
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                set_path(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_example_is_valid_and_equals_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotline.toml");
        std::fs::write(&path, DEFAULT_CONFIG_TOML).unwrap();
        let from_file = Settings::load_from(Some(&path), []).unwrap();
        let defaults = Settings::default();
        assert_eq!(from_file.server.listen, defaults.server.listen);
        assert_eq!(from_file.database.url, defaults.database.url);
        assert_eq!(from_file.auth.algorithm, defaults.auth.algorithm);
    }

    #[test]
    fn env_overrides_nested_keys_with_types() {
        let env = [
            (
                "HOTLINE_DATABASE__URL".to_owned(),
                "postgres://db/hotline".to_owned(),
            ),
            (
                "HOTLINE_DATABASE__MAX_CONNECTIONS".to_owned(),
                "16".to_owned(),
            ),
            ("HOTLINE_SERVER__GRPC_WEB".to_owned(), "true".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let s = Settings::load_from(None, env).unwrap();
        assert_eq!(s.database.url, "postgres://db/hotline");
        assert_eq!(s.database.max_connections, 16);
        assert!(s.server.grpc_web);
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        for (key, value) in [
            ("HOTLINE_ROUTING__RETURN_WINDOW", "1000wd"),
            ("HOTLINE_ROUTING__RETURN_WINDOW", "-1h"),
            ("HOTLINE_ROUTING__RETURN_WINDOW", "soon"),
            ("HOTLINE_ROUTING__DESIGNATE_AFTER", "0"),
            ("HOTLINE_CENTRE__UTC_OFFSET_HOURS", "99"),
        ] {
            let env = [(key.to_owned(), value.to_owned())];
            assert!(Settings::load_from(None, env).is_err(), "{key}={value}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let env = [("HOTLINE_DATABASE__URLL".to_owned(), "x".to_owned())];
        assert!(Settings::load_from(None, env).is_err());
    }
}
