//! PostgreSQL backend: production, shared by several server replicas.

use std::{str::FromStr, time::Duration};

use sqlx::{
    Postgres,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::sql::{Dialect, SqlStore};

impl Dialect for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
}

/// The PostgreSQL implementation of [`super::Store`].
pub type PostgresStore = SqlStore<Postgres>;

/// Connects to PostgreSQL by URL.
pub async fn connect(
    url: &str,
    max_connections: u32,
    migrate: bool,
) -> anyhow::Result<PostgresStore> {
    connect_with(PgConnectOptions::from_str(url)?, max_connections, migrate).await
}

/// Connects with explicit options (tests use this to pin a `search_path`
/// schema, giving each test a fresh, isolated database).
pub async fn connect_with(
    options: PgConnectOptions,
    max_connections: u32,
    migrate: bool,
) -> anyhow::Result<PostgresStore> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    if migrate {
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    }
    Ok(SqlStore::new(pool))
}
