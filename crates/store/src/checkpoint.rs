//! SQLite's WAL checkpoints, taken by a background task on a connection of
//! its own instead of inside a writer's commit.
//!
//! Why: by default the commit that takes the WAL past 1,000 pages runs the
//! checkpoint itself: it copies the WAL into the database file and syncs
//! it (`synchronous=FULL`) while holding the write lock, and every other
//! writer waits. Under 32 intake workers that showed as stalls of 1.3 to
//! 1.55 s. The store's connections therefore run with
//! `wal_autocheckpoint=0`, and this task checkpoints in small steps:
//!
//! - every [`Checkpoints::tick`], a `PASSIVE` checkpoint: copies what it
//!   can without taking any lock writers or readers wait for, so writers
//!   keep committing meanwhile;
//! - when the WAL has grown past [`Checkpoints::wal_limit_pages`] anyway
//!   (sustained writes append faster than a passive checkpoint can ever
//!   catch up, and SQLite only rewinds the WAL when a writer finds it fully
//!   copied), a `RESTART` checkpoint while the task holds the store's one
//!   write connection: writers queue in Rust for the copy of one tick's
//!   worth of pages and a sync, then the next writer starts the WAL from
//!   its beginning. This is what keeps the WAL bounded;
//! - when nothing was written for a whole tick, a `TRUNCATE` checkpoint
//!   (with the write connection held too) gives the WAL's disk space back.
//!
//! Crash safety is SQLite's: a checkpoint only copies committed pages and
//! syncs the database file before the WAL is rewound, whichever connection
//! runs it.

use std::time::Duration;

use sqlx::{Connection, Pool, Sqlite, SqliteConnection, sqlite::SqliteConnectOptions};

/// When and how hard the checkpointer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Checkpoints {
    /// Time between passive checkpoints.
    pub(super) tick: Duration,
    /// WAL size (pages) past which writers are held for a `RESTART`.
    pub(super) wal_limit_pages: i64,
    /// How long a `RESTART` or `TRUNCATE` waits for readers still on the
    /// WAL before giving up until the next tick (writers wait as long).
    pub(super) reader_wait: Duration,
}

impl Default for Checkpoints {
    /// 100 ms ticks and a 16,384-page (64 MiB at 4 KiB pages) WAL.
    /// Measured at 32 intake workers (2,200 tickets/s on two cores): the
    /// WAL grows by about 11 pages a ticket, 2,500 a tick, so a passive
    /// checkpoint copies a tick's worth at a time; a 4,096-page limit held
    /// writers every 200 ms (p99 42–45 ms), this one every ~0.7 s.
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(100),
            wal_limit_pages: 16_384,
            reader_wait: Duration::from_millis(100),
        }
    }
}

/// What one `PRAGMA wal_checkpoint` reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub(super) struct Outcome {
    /// 1 when a lock it needed was held (it did what it could).
    pub(super) busy: i64,
    /// Pages in the WAL.
    pub(super) log: i64,
    /// Of those, pages copied into the database file.
    pub(super) checkpointed: i64,
}

/// What the checkpointer does next, given the passive checkpoint it just
/// took and the WAL size at the previous tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Nothing more this tick.
    Wait,
    /// Hold writers and rewind the WAL (`RESTART`).
    Restart,
    /// Hold writers and empty the WAL file (`TRUNCATE`).
    Truncate,
}

/// The policy of [`run`], pure so it can be tested on its own.
pub(super) fn next_step(passive: Outcome, previous_log: i64, limit: i64) -> Step {
    let idle = passive.log == previous_log && passive.checkpointed == passive.log;
    if passive.log > 0 && idle {
        // Unchanged for a tick and fully copied (or rewound by a RESTART
        // no write has followed yet).
        Step::Truncate
    } else if passive.log > limit {
        Step::Restart
    } else {
        Step::Wait
    }
}

/// Opens the checkpointer's own connection (same file and options as the
/// pools') and returns its task; `writes` is the store's write pool, whose
/// one connection the task holds while it makes writers wait.
pub(super) async fn start(
    options: &SqliteConnectOptions,
    writes: Pool<Sqlite>,
    config: Checkpoints,
) -> sqlx::Result<tokio::task::JoinHandle<()>> {
    let conn =
        SqliteConnection::connect_with(&options.clone().busy_timeout(config.reader_wait)).await?;
    Ok(tokio::spawn(run(conn, writes, config)))
}

async fn run(mut conn: SqliteConnection, writes: Pool<Sqlite>, config: Checkpoints) {
    let mut ticks = tokio::time::interval(config.tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous_log = 0;
    loop {
        ticks.tick().await;
        let passive = match checkpoint(&mut conn, "PASSIVE").await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                continue;
            }
        };
        let mode = match next_step(passive, previous_log, config.wal_limit_pages) {
            Step::Wait => None,
            Step::Restart => Some("RESTART"),
            Step::Truncate => Some("TRUNCATE"),
        };
        previous_log = passive.log;
        let Some(mode) = mode else { continue };
        if mode == "RESTART" {
            catch_up(&mut conn, passive).await;
        }
        // Writers queue on the write pool meanwhile, not on SQLite's lock.
        let Ok(_writer) = writes.acquire().await else {
            continue;
        };
        match checkpoint(&mut conn, mode).await {
            // Busy: readers stayed on the WAL; again at the next tick.
            Ok(outcome) => tracing::debug!(mode, ?outcome, "WAL checkpoint"),
            Err(e) => tracing::warn!(error = %e, mode, "WAL checkpoint failed"),
        }
    }
}

/// Before writers are held: passive checkpoints while each leaves less
/// behind, so the held one copies only what came in during the last (the
/// pause is then about two syncs, not a tick's worth of pages).
async fn catch_up(conn: &mut SqliteConnection, mut last: Outcome) {
    for _ in 0..CATCH_UP_ROUNDS {
        let behind = last.log - last.checkpointed;
        if behind <= CAUGHT_UP_PAGES {
            return;
        }
        match checkpoint(conn, "PASSIVE").await {
            Ok(next) if next.log - next.checkpointed < behind => last = next,
            _ => return,
        }
    }
}

/// Most passive checkpoints [`catch_up`] takes.
const CATCH_UP_ROUNDS: usize = 3;

/// Pages left to copy that [`catch_up`] accepts.
const CAUGHT_UP_PAGES: i64 = 64;

/// Runs `PRAGMA wal_checkpoint(mode)` on `conn`.
pub(super) async fn checkpoint(conn: &mut SqliteConnection, mode: &str) -> sqlx::Result<Outcome> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "PRAGMA wal_checkpoint({mode})"
    )))
    .fetch_one(conn)
    .await
}

#[cfg(test)]
mod tests;
