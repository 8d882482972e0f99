//! Fresh, isolated stores for tests, on the backend the environment names.
//!
//! `TEST_DATABASE_URL=postgres://…` runs tests on PostgreSQL, each in a new
//! schema; otherwise each test gets a new SQLite file. With
//! `TEST_INTEGRATION=1` a missing URL is an error, so CI cannot silently fall
//! back to SQLite when PostgreSQL was meant.

use std::{collections::BTreeMap, str::FromStr, sync::Arc};

use chrono::FixedOffset;
use sqlx::{Connection, postgres::PgConnectOptions};

use super::{Store, connect_postgres_with, connect_sqlite};
use crate::domain::{
    TicketEvent, TicketId,
    metrics::{CounterDelta, replay},
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

    /// A database URL for a fresh, migrated database of this backend, plus
    /// (for PostgreSQL) the schema to pin with `search_path`.
    pub async fn fresh_url(&self) -> (String, Option<String>) {
        let tag = uuid::Uuid::now_v7().simple().to_string();
        match self {
            Self::Sqlite => {
                let path = std::env::temp_dir().join(format!("hotline-test-{tag}.db"));
                (format!("sqlite://{}", path.display()), None)
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
                (url.clone(), Some(schema))
            }
        }
    }

    /// Two stores with their own connection pools on one fresh database:
    /// two server processes sharing a database, as far as the database can tell.
    pub async fn fresh_store_pair(&self) -> (Arc<dyn Store>, Arc<dyn Store>) {
        let (url, schema) = self.fresh_url().await;
        let open = || async {
            open_in_schema(&url, schema.as_deref(), 8)
                .await
                .unwrap_or_else(|e| panic!("cannot open test store: {e:#}"))
        };
        (open().await, open().await)
    }

    /// A fresh, migrated store.
    pub async fn fresh_store(&self) -> Arc<dyn Store> {
        let (url, schema) = self.fresh_url().await;
        open_in_schema(&url, schema.as_deref(), 8)
            .await
            .unwrap_or_else(|e| panic!("cannot open test store: {e:#}"))
    }
}

/// Opens a store, pinning PostgreSQL's `search_path` to `schema` when given.
pub async fn open_in_schema(
    url: &str,
    schema: Option<&str>,
    max_connections: u32,
) -> anyhow::Result<Arc<dyn Store>> {
    match schema {
        None if url.starts_with("sqlite:") => {
            Ok(Arc::new(connect_sqlite(url, max_connections, true).await?))
        }
        None => super::open(url, max_connections, true).await,
        Some(schema) => {
            let options =
                PgConnectOptions::from_str(url)?.options([("search_path", schema.to_owned())]);
            Ok(Arc::new(
                connect_postgres_with(options, max_connections, true).await?,
            ))
        }
    }
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
