//! SQLite backend: the embedded default, one file, no server.

use std::{str::FromStr, time::Duration};

use sqlx::{
    Sqlite,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};

use super::{
    checkpoint::{self, Checkpoints},
    sql::{Dialect, ListenFuture, SqlStore},
};

impl Dialect for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const BEGIN_SNAPSHOT: &'static str = "BEGIN DEFERRED";
    const ANNOUNCE_COMMIT: Option<&'static str> = None;
    /// No round trips to save in process, and no data-modifying `WITH`.
    const FUSES_WRITES: bool = false;

    /// Reads the first page of the file (the schema); `SELECT 1` would not
    /// touch the file at all.
    /// The feed reads by rowid: nothing to keep up.
    const SUMMARIZE_FEED: Option<&'static str> = None;
    /// No statistics or visibility map to keep: nothing to check.
    const MAINTENANCE_SETTINGS: Option<&'static str> = None;
    const PING: &'static str = "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'tickets'";
    /// Inside the write lock, taken and released at once: an open file
    /// stays readable whatever happens to it on disk, so what makes a
    /// SQLite replica unable to serve is another process holding the lock
    /// (every write would wait out the busy timeout and fail).
    const PING_BEGIN: Option<&'static str> = Some("BEGIN IMMEDIATE");

    /// The rowid: one writer at a time makes insert order commit order.
    const FEED_POSITION: &'static str = "0 AS feed_xid, rowid AS feed_id";
    /// `$1` (always 0 here) is bound so both backends take the same
    /// parameters.
    const FEED_AFTER: &'static str = "rowid > $2 AND $1 >= 0 ORDER BY rowid";
    const FEED_HEAD: &'static str = "SELECT 0, COALESCE(MAX(rowid), 0) FROM ticket_events";

    /// `BEGIN IMMEDIATE` holds the one write lock already.
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";

    fn listen_commits(_: &sqlx::Pool<Self>, _: metrics::Counter) -> ListenFuture {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// The SQLite implementation of [`super::Store`].
pub type SqliteStore = SqlStore<Sqlite>;

/// Opens (creating if missing) a SQLite database with WAL, foreign keys, a
/// busy timeout for queued writers and fully synchronous commits. Reads
/// use up to `max_connections` connections; writes one (see
/// [`SqlStore`]'s `writes`); WAL checkpoints are taken by a task of the
/// store (see [`super::checkpoint`]).
pub async fn connect(
    url: &str,
    max_connections: u32,
    migrate: bool,
) -> anyhow::Result<SqliteStore> {
    connect_with(url, max_connections, migrate, Checkpoints::default()).await
}

/// [`connect`] with the given checkpoint policy.
pub(super) async fn connect_with(
    url: &str,
    max_connections: u32,
    migrate: bool,
    checkpoints: Checkpoints,
) -> anyhow::Result<SqliteStore> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        // No connection checkpoints as part of a commit; the store's
        // checkpointer does.
        .pragma("wal_autocheckpoint", "0");
    let lost = super::pool::LostConnections::default();
    let pool = super::pool::options(max_connections, lost.clone())
        .connect_with(options.clone())
        .await?;
    if migrate {
        sqlx::migrate!("../../migrations/sqlite").run(&pool).await?;
    }
    let writes = super::pool::options(1, lost.clone())
        .connect_with(options.clone())
        .await?;
    let checkpointer = checkpoint::start(&options, writes.clone(), checkpoints).await?;
    Ok(SqlStore::new(pool, writes, lost).with_background(checkpointer))
}
