//! The server under load: started in-process on 127.0.0.1:0 over a fresh
//! SQLite file or a PostgreSQL database (seeded with the demo city so
//! auto-routing works), or an already running one given by `--target`.
//! Also mints the tokens workers present.

use std::{path::PathBuf, str::FromStr, sync::Arc};

use anyhow::Context;
use jsonwebtoken::DecodingKey;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, postgres::PgConnectOptions};
use tonic::transport::{Channel, Endpoint};

use super::{
    options::{Backend, DEFAULT_PG_URL, RunOptions, TelemetryMode},
    tracing_setup::{self, SpanSink},
};
use hotline::{
    app::Application,
    auth::{TokenRequest, Verifier, hs256_secret, issue_hs256_token},
    config::Settings,
    domain::{Clock, Role, SystemClock},
    service::Workflow,
    store::{self, Store},
    telemetry::traces::TraceExport,
};

/// A server to drive and what the raw baseline needs of it.
#[derive(Debug)]
pub struct Target {
    /// Connections to the server (HTTP/2; several workers share one).
    pub channels: Vec<Channel>,
    /// Signs tokens the server accepts.
    pub tokens: TokenMint,
    /// The in-process server's store and workflow (none with `--target`).
    pub local: Option<Local>,
    /// A description of the backend for the report, password hidden.
    pub backend: String,
    /// `--telemetry compare`: connections to a second server on the same
    /// store with RPC metrics, admin port and tracing off.
    pub quiet_channels: Option<Vec<Channel>>,
    /// The collector the server exports its spans to (telemetry on).
    pub spans: Option<SpanSink>,
    shutdown: Vec<tokio::sync::oneshot::Sender<()>>,
    export: Option<TraceExport>,
    sqlite_file: Option<PathBuf>,
    /// Each in-process server's knowledge index, removed at close.
    index_dirs: Vec<PathBuf>,
}

/// The in-process server's insides.
#[derive(Debug, Clone)]
pub struct Local {
    /// The store, on the pool the server uses.
    pub store: Arc<dyn Store>,
    /// The workflow, to build the raw baseline's values.
    pub workflow: Arc<Workflow>,
    /// Pool size.
    pub pool_size: u32,
}

/// Workers per HTTP/2 connection: a console's agents share few connections.
const WORKERS_PER_CONNECTION: usize = 8;

impl Target {
    /// Starts or connects to the server the options name.
    pub async fn open(opts: &RunOptions) -> anyhow::Result<Self> {
        let connections = opts.workers().div_ceil(WORKERS_PER_CONNECTION);
        match &opts.target {
            Some(url) => {
                let settings = Settings::load(None)?;
                let secret = hs256_secret(&settings.auth)?;
                Ok(Self {
                    channels: connect(url, connections).await?,
                    tokens: TokenMint { settings, secret },
                    local: None,
                    backend: format!("remote {url}"),
                    quiet_channels: None,
                    spans: None,
                    shutdown: Vec::new(),
                    export: None,
                    sqlite_file: None,
                    index_dirs: Vec::new(),
                })
            }
            None => Self::start(opts, connections, |_| async { Ok(()) }).await,
        }
    }

    /// Starts an in-process server as [`Target::open`] does (the options
    /// must not name a `--target`), after `prepare` has written what the
    /// run needs into its freshly seeded store: what a server reads at
    /// start (the knowledge index, say) is then built from it.
    pub async fn open_prepared<F, Fut>(opts: &RunOptions, prepare: F) -> anyhow::Result<Self>
    where
        F: FnOnce(Arc<dyn Store>) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        anyhow::ensure!(
            opts.target.is_none(),
            "a prepared run starts its own server"
        );
        Self::start(
            opts,
            opts.workers().div_ceil(WORKERS_PER_CONNECTION),
            prepare,
        )
        .await
    }

    async fn start<F, Fut>(
        opts: &RunOptions,
        connections: usize,
        prepare: F,
    ) -> anyhow::Result<Self>
    where
        F: FnOnce(Arc<dyn Store>) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        let mut settings = Settings::default();
        let instrumented = opts.telemetry != TelemetryMode::Off;
        let mut spans = None;
        settings.log.filter = opts.log.clone().unwrap_or_else(|| "warn".to_owned());
        if instrumented {
            let sink = SpanSink::default();
            settings.telemetry.otlp_endpoint = Some(sink.start()?);
            if let Some(filter) = &opts.span_filter {
                settings.telemetry.span_filter = filter.clone();
            }
            if let Some(ratio) = opts.sample_ratio {
                settings.telemetry.sample_ratio = ratio;
            }
            spans = Some(sink);
        }
        // Off: the log lines `serve` writes without an OTLP endpoint.
        let switchable = opts.telemetry == TelemetryMode::Compare;
        let export = tracing_setup::install(&settings, switchable)?;
        settings.telemetry.rpc = instrumented;
        settings.admin.enabled = instrumented;
        settings.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        // The load generator is one runaway client by design.
        settings.quota = hotline::config::QuotaSettings::unlimited();
        // Metrics recorded as in production, on a port of its own.
        settings.admin.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        if let Some(n) = opts.pool_size {
            settings.database.max_connections = n;
        }
        let (url, sqlite_file) = match opts.backend {
            // A file named with `--database-url` (one `bench populate`
            // filled) is used as it is and kept.
            Backend::Sqlite if opts.database_url.is_some() => {
                (opts.database_url.clone().unwrap_or_default(), None)
            }
            Backend::Sqlite => {
                let file = std::env::temp_dir().join(format!(
                    "hotline-bench-{}-{}.db",
                    std::process::id(),
                    SystemClock.now().timestamp_micros()
                ));
                (format!("sqlite://{}", file.display()), Some(file))
            }
            Backend::Postgres => {
                let url = opts
                    .database_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PG_URL.to_owned());
                create_pg_database_if_missing(&url).await?;
                (url, None)
            }
        };
        settings.database.url = url.clone();
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        settings.auth.hs256_secret = Some(SecretString::from(secret.clone()));

        let pool_size = settings.database.max_connections;
        // A throwaway SQLite file gets throwaway keys; a PostgreSQL
        // database outlives the run, so it gets the configured ones.
        let pii = match sqlite_file {
            Some(_) => store::PiiCodec::ephemeral(),
            None => hotline::privacy::pii_codec(
                &hotline::config::Settings::load(None)?.privacy,
                SystemClock.now(),
            )?,
        };
        let store = store::open_with_pii(&url, pool_size, true, pii)
            .await
            .with_context(|| format!("opening {}", hotline::app::redact_url(&url)))?;
        let city = hotline::demo::load()?;
        hotline::seed::seed_demo(store.as_ref(), &city, SystemClock.now()).await?;
        prepare(store.clone()).await?;
        let mut shutdown = Vec::new();
        let (workflow, channels) =
            serve(&settings, &store, &secret, connections, &mut shutdown).await?;
        let quiet_channels = match opts.telemetry {
            TelemetryMode::Compare => {
                let mut quiet = settings.clone();
                quiet.telemetry.rpc = false;
                quiet.telemetry.otlp_endpoint = None;
                quiet.admin.enabled = false;
                Some(
                    serve(&quiet, &store, &secret, connections, &mut shutdown)
                        .await?
                        .1,
                )
            }
            TelemetryMode::On | TelemetryMode::Off => None,
        };
        Ok(Self {
            channels,
            quiet_channels,
            spans,
            export,
            tokens: TokenMint {
                settings,
                secret: SecretString::from(secret),
            },
            local: Some(Local {
                store,
                workflow,
                pool_size,
            }),
            backend: match opts.backend {
                Backend::Sqlite if sqlite_file.is_none() => {
                    format!("sqlite {url} (WAL, synchronous=FULL)")
                }
                Backend::Sqlite => "sqlite (temp file, WAL, synchronous=FULL)".to_owned(),
                Backend::Postgres => format!("postgres {}", hotline::app::redact_url(&url)),
            },
            index_dirs: (0..shutdown.len()).map(bench_index_dir).collect(),
            shutdown,
            sqlite_file,
        })
    }

    /// The connection for worker `i`.
    pub fn channel(&self, i: usize) -> Channel {
        self.channels[i % self.channels.len()].clone()
    }

    /// Stops the in-process server and removes its SQLite file.
    pub fn close(mut self) {
        for tx in self.shutdown.drain(..) {
            let _ = tx.send(());
        }
        if let Some(export) = self.export.take() {
            export.shutdown();
        }
        self.local = None;
        if let Some(file) = self.sqlite_file.take() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        for dir in self.index_dirs.drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The knowledge index directory of the `n`th in-process server: one of
/// its own in the temporary directory (two servers of one process cannot
/// share one index).
fn bench_index_dir(n: usize) -> PathBuf {
    std::env::temp_dir().join(format!(
        "hotline-bench-knowledge-{}-{n}",
        std::process::id()
    ))
}

/// Starts one in-process server on `store` and connects to it; its stop
/// signal goes into `shutdown`.
async fn serve(
    settings: &Settings,
    store: &Arc<dyn Store>,
    secret: &str,
    connections: usize,
    shutdown: &mut Vec<tokio::sync::oneshot::Sender<()>>,
) -> anyhow::Result<(Arc<Workflow>, Vec<Channel>)> {
    let verifier = Verifier::new(DecodingKey::from_secret(secret.as_bytes()), &settings.auth);
    let mut settings = settings.clone();
    settings.knowledge.index_dir = bench_index_dir(shutdown.len());
    let app =
        Application::build_with(settings, store.clone(), verifier, Arc::new(SystemClock)).await?;
    let workflow = app.workflow();
    let addr = app.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    shutdown.push(tx);
    Ok((
        workflow,
        connect(&format!("http://{addr}"), connections).await?,
    ))
}

async fn connect(url: &str, connections: usize) -> anyhow::Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(connections.max(1));
    for _ in 0..connections.max(1) {
        out.push(
            Endpoint::from_shared(url.to_owned())?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("connecting to {url}"))?,
        );
    }
    Ok(out)
}

/// Creates the database named by `url` through the `postgres` maintenance
/// database when it does not exist yet.
pub(super) async fn create_pg_database_if_missing(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url)?;
    let name = options
        .get_database()
        .context("the PostgreSQL URL names no database")?
        .to_owned();
    anyhow::ensure!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "database name {name:?}: letters, digits and _ only"
    );
    let mut admin = sqlx::PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .with_context(|| format!("connecting to {}", hotline::app::redact_url(url)))?;
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
    }
    Ok(())
}

/// Signs tokens with the server's secret.
#[derive(Clone)]
pub struct TokenMint {
    settings: Settings,
    secret: SecretString,
}

impl std::fmt::Debug for TokenMint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMint")
            .field("secret_bytes", &self.secret.expose_secret().len())
            .finish()
    }
}

impl TokenMint {
    /// A bearer token for one principal.
    pub fn token(
        &self,
        subject: &str,
        role: Role,
        unit: Option<&str>,
        region: Option<&str>,
    ) -> anyhow::Result<String> {
        issue_hs256_token(
            &self.settings.auth,
            &self.secret,
            &TokenRequest {
                subject: subject.to_owned(),
                roles: vec![role],
                unit_id: unit.map(str::to_owned),
                region: region.map(str::to_owned),
            },
            SystemClock.now(),
        )
    }
}
