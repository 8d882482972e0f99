//! Fresh, isolated stores for tests, on the backend the environment names.
//!
//! `TEST_DATABASE_URL=postgres://…` runs tests on PostgreSQL, each in a new
//! schema; otherwise each test gets a new SQLite file. With
//! `TEST_INTEGRATION=1` a missing URL is an error, so CI cannot silently fall
//! back to SQLite when PostgreSQL was meant.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    str::FromStr,
    sync::{Arc, LazyLock},
};

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::{Connection, postgres::PgConnectOptions};

use super::{NewTicket, PiiCodec, RetryOnce, Store, connect_postgres_with, connect_sqlite};
use hotline_domain::{
    Principal, TicketEvent, TicketId,
    metrics::{CounterDelta, replay},
    ticket::{Intake, Ticket},
};

/// Which backend the current test process uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestBackend {
    /// A new SQLite file per store.
    Sqlite,
    /// A new schema per store on this server.
    Postgres(String),
}

impl TestBackend {
    /// Reads `TEST_DATABASE_URL` / `TEST_INTEGRATION`.
    pub fn from_env() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self::Postgres(url),
            _ if std::env::var("TEST_INTEGRATION").is_ok_and(|v| v == "1") => {
                panic!("TEST_INTEGRATION=1 but TEST_DATABASE_URL is not set")
            }
            _ => Self::Sqlite,
        }
    }

    /// The PostgreSQL server a PostgreSQL-only test runs on. Such tests are
    /// `#[ignore]`d (the SQLite run lists them as ignored) and run in CI's
    /// PostgreSQL leg with `--include-ignored`; run there without a URL they
    /// fail rather than pass without doing anything.
    pub fn postgres_url() -> String {
        match Self::from_env() {
            Self::Postgres(url) => url,
            Self::Sqlite => panic!("this test needs PostgreSQL: set TEST_DATABASE_URL"),
        }
    }

    /// A fresh, empty database of this backend (a new SQLite file, or a new
    /// schema on the PostgreSQL server), removed when the last handle drops.
    pub async fn fresh_database(&self) -> FreshDatabase {
        let tag = uuid::Uuid::now_v7().simple().to_string();
        match self {
            Self::Sqlite => {
                let path = std::env::temp_dir().join(format!("hotline-test-{tag}.db"));
                FreshDatabase {
                    url: format!("sqlite://{}", path.display()),
                    schema: None,
                    sqlite_file: Some(path),
                }
            }
            Self::Postgres(url) => {
                let schema = format!("t_{tag}");
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach TEST_DATABASE_URL: {e}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create test schema: {e}"));
                FreshDatabase {
                    url: url.clone(),
                    schema: Some(schema),
                    sqlite_file: None,
                }
            }
        }
    }

    /// Two stores with their own connection pools on one fresh database:
    /// two server processes sharing a database, as far as the database can tell.
    pub async fn fresh_store_pair(&self) -> (TestStore, TestStore) {
        let database = Arc::new(self.fresh_database().await);
        (database.clone().open().await, database.clone().open().await)
    }

    /// A fresh, migrated store.
    pub async fn fresh_store(&self) -> TestStore {
        Arc::new(self.fresh_database().await).open().await
    }
}

/// A database made for one test: a SQLite file or a PostgreSQL schema.
/// Dropping it removes the file (and its WAL) or drops the schema, so test
/// runs leave nothing behind.
#[derive(Debug)]
pub struct FreshDatabase {
    url: String,
    schema: Option<String>,
    sqlite_file: Option<PathBuf>,
}

impl FreshDatabase {
    /// Its URL, and for PostgreSQL the schema to pin with `search_path`.
    pub fn location(&self) -> (&str, Option<&str>) {
        (&self.url, self.schema.as_deref())
    }

    /// The SQLite file, for the SQLite backend.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// A migrated store on this database, with a pool of its own and the
    /// test keys ([`test_pii_codec`]).
    pub async fn open(self: Arc<Self>) -> TestStore {
        self.open_with_pii(test_pii_codec()).await
    }

    /// [`FreshDatabase::open`] with other PII keys (key rotation tests).
    pub async fn open_with_pii(self: Arc<Self>, codec: PiiCodec) -> TestStore {
        let store = open_in_schema_with(&self.url, self.schema.as_deref(), 8, codec)
            .await
            .unwrap_or_else(|e| panic!("cannot open test store: {e:#}"));
        TestStore {
            store,
            _database: self,
        }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
        if let Some(schema) = self.schema.take() {
            drop_schema(&self.url, &schema);
        }
    }
}

/// Drops a test schema. A lock timeout keeps a write still in flight from
/// hanging the test; such a schema is left to the database's removal (CI
/// drops its whole database).
fn drop_schema(url: &str, schema: &str) {
    let sql = format!("SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
    if let Err(e) = execute_blocking(url, &sql) {
        eprintln!("test schema {schema} left behind: {e}");
    }
}

/// Runs `sql` on the PostgreSQL server at `url` from a thread of its own,
/// waiting for it: for cleanups in `Drop`, which cannot await, and may run
/// on the single thread of a test's runtime.
pub fn execute_blocking(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the cleanup thread panicked".into()))
}

/// A store on a [`FreshDatabase`], which lives as long as this handle: keep
/// it (or a clone) until the test ends. Derefs to the store.
#[derive(Debug, Clone)]
pub struct TestStore {
    store: Arc<dyn Store>,
    _database: Arc<FreshDatabase>,
}

impl TestStore {
    /// A shared handle on the store (the database stays while `self` lives).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The database under the store: its URL, schema and SQLite file (tests
    /// that read what is stored beneath the store).
    pub fn database(&self) -> &FreshDatabase {
        &self._database
    }
}

impl std::ops::Deref for TestStore {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

/// The PII keys of test stores: random, made once per test process, so
/// every store a test opens on one database reads what another wrote.
pub fn test_pii_codec() -> PiiCodec {
    static CODEC: LazyLock<PiiCodec> = LazyLock::new(PiiCodec::ephemeral);
    CODEC.clone()
}

/// Opens a store with the test keys, pinning PostgreSQL's `search_path` to
/// `schema` when given, wrapped like [`super::open`]'s.
pub async fn open_in_schema(
    url: &str,
    schema: Option<&str>,
    max_connections: u32,
) -> anyhow::Result<Arc<dyn Store>> {
    open_in_schema_with(url, schema, max_connections, test_pii_codec()).await
}

/// [`open_in_schema`] with the given PII keys.
pub async fn open_in_schema_with(
    url: &str,
    schema: Option<&str>,
    max_connections: u32,
    codec: PiiCodec,
) -> anyhow::Result<Arc<dyn Store>> {
    match schema {
        None if url.starts_with("sqlite:") => Ok(Arc::new(RetryOnce::new(
            connect_sqlite(url, max_connections, true)
                .await?
                .with_pii(codec),
        ))),
        None => super::open_with_pii(url, max_connections, true, codec).await,
        Some(schema) => {
            let options =
                PgConnectOptions::from_str(url)?.options([("search_path", schema.to_owned())]);
            Ok(Arc::new(RetryOnce::new(
                connect_postgres_with(options, max_connections, true)
                    .await?
                    .with_pii(codec),
            )))
        }
    }
}

/// Accepts `intake` as `agent` at `now` and stores it as it is (no
/// follow-up transitions, no counters, numbered in `now`'s UTC day): the
/// plain ticket a test or a benchmark needs as data around the thing it
/// measures, not as the subject of the check.
pub async fn store_intake(
    store: &dyn Store,
    intake: Intake,
    agent: &Principal,
    now: DateTime<Utc>,
) -> anyhow::Result<Ticket> {
    let created = Ticket::accept(intake, String::new(), agent, now);
    Ok(store
        .create_ticket(
            NewTicket {
                created,
                followups: Vec::new(),
                counters: Vec::new(),
                local_day: now.date_naive(),
            },
            None,
        )
        .await?)
}

/// Counter totals by (unit, `''` for the centre; day; counter), zeros dropped.
pub type CounterTotals = BTreeMap<(String, String, String), i64>;

fn add(totals: &mut CounterTotals, d: CounterDelta) {
    let unit = d.unit.map(|u| u.to_string()).unwrap_or_default();
    *totals
        .entry((unit, d.day.to_string(), d.counter.to_string()))
        .or_default() += d.delta;
}

/// The audit of the scorecard counters: the totals the store holds, and the
/// same recomputed from `events` (every event of every ticket in the store,
/// in any order) by [`replay`]. The two must be equal.
pub async fn stored_and_replayed_counters(
    store: &dyn Store,
    events: Vec<TicketEvent>,
    offset: FixedOffset,
) -> anyhow::Result<(CounterTotals, CounterTotals)> {
    let mut trails: BTreeMap<TicketId, Vec<TicketEvent>> = BTreeMap::new();
    for e in events {
        trails.entry(e.ticket_id).or_default().push(e);
    }
    let mut replayed = CounterTotals::new();
    for trail in trails.values_mut() {
        trail.sort_by_key(|e| e.sequence);
        for d in replay(trail, offset)? {
            add(&mut replayed, d);
        }
    }
    replayed.retain(|_, v| *v != 0);
    let mut stored = CounterTotals::new();
    for d in store.all_counters().await? {
        add(&mut stored, d);
    }
    stored.retain(|_, v| *v != 0);
    Ok((stored, replayed))
}
