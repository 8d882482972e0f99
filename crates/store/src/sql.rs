//! The one SQL implementation of the store traits, generic over the sqlx
//! database so SQLite and PostgreSQL run the same statements.
//!
//! Both backends accept `ON CONFLICT`, `RETURNING` and `$n` placeholders
//! (fixed statements are written with them); statements assembled at run
//! time — lists with optional filters, multi-row inserts, the fused write —
//! get their placeholders from sqlx's `QueryBuilder` (see [`super::query`]).
//! The few real differences (how a write transaction begins, whether a
//! write's statements fuse into one) live in [`Dialect`].
//!
//! This module holds the store and how a write commits. The statements live
//! beside the resource they serve, one module each: `tickets_sql` (with the
//! columns in `ticket_columns`), `intake_sql`, `events_sql`,
//! `idempotency_sql`, `lists_sql`, `directory_sql`, `metrics_sql`,
//! `routing_sql`, `calendar_sql`, `report_sql`, `ops_sql`.
//!
//! Every store method runs in a `debug` span named after it, without
//! fields (arguments may hold caller data): off under the default `info`
//! filter, so the request path pays only the callsite's cached "disabled".

use std::{fmt, sync::Arc};

use sqlx::{
    Connection, Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type,
};

use super::{
    CommitNotice, CommitStream, PiiAccess, StoreResult,
    announcer::Announcer,
    batch::WriteBatch,
    change_commit::{CHANGE_BATCH, ChangeWrite},
    group_commit::{COMMITTERS, GroupCommit, Intake, Lanes, MAX_BATCH, MAX_BATCH_ONE_LANE},
    numbers::NumberBlocks,
    pii::PiiCodec,
    pool::LostConnections,
    privacy_sql::{ACCESS_BATCH, ACCESS_COMMITTERS},
    query::Value,
    telemetry::TelemetryCell,
};
use hotline_domain::TicketEvent;

/// What differs between backends.
pub trait Dialect: Database {
    /// Statement that opens a write transaction. SQLite needs `BEGIN IMMEDIATE`
    /// so two writers queue on the lock instead of failing on upgrade.
    const BEGIN_WRITE: &'static str;

    /// Statement that opens a read-only transaction whose statements all
    /// see one snapshot (a read of several tables that must agree, as a
    /// hotspot and its tickets). PostgreSQL's default, READ COMMITTED, takes
    /// a snapshot per statement; SQLite's deferred transaction keeps the
    /// snapshot of its first read.
    const BEGIN_SNAPSHOT: &'static str;

    /// Statement that announces committed writes to every replica (`$1`:
    /// the payload, see [`super::announcer`]); `None` where one process
    /// owns the database.
    const ANNOUNCE_COMMIT: Option<&'static str>;

    /// Whether a write's statements run fused into one (see
    /// [`super::batch`]) rather than one by one in a transaction.
    const FUSES_WRITES: bool;

    /// The readiness probe's statement, returning one BIGINT: the cheapest
    /// one that proves the database can be reached and read.
    const PING: &'static str;

    /// The transaction the probe runs [`Dialect::PING`] in (and rolls
    /// back), if reading alone does not prove the database usable.
    const PING_BEGIN: Option<&'static str>;

    /// The SELECT list giving an event row's feed position, as `feed_xid`
    /// and `feed_id` (see [`super::feed`]).
    const FEED_POSITION: &'static str;

    /// WHERE and ORDER BY of the feed's read: rows after the position
    /// `($1, $2)` that no running write can precede, in commit order.
    const FEED_AFTER: &'static str;

    /// The feed's head ([`super::FeedStore::feed_head`]): one row of two
    /// BIGINTs.
    const FEED_HEAD: &'static str;

    /// Brings the event log's feed index up to date with the newest rows,
    /// returning one BIGINT (how many block ranges it summarized); `None`
    /// where the index needs no upkeep ([`super::OpsStore::summarize_feed_index`]).
    const SUMMARIZE_FEED: Option<&'static str>;

    /// Reads, as two TEXT columns, the server's `autovacuum` and
    /// `track_counts` settings, on which the plans of the feed's BRIN
    /// index and of every index-only count depend; `None` where the
    /// backend has no such maintenance ([`super::OpsStore::maintenance_warnings`]).
    const MAINTENANCE_SETTINGS: Option<&'static str>;

    /// Appended to a SELECT that locks the rows it reads until the
    /// transaction ends; empty where the write transaction already
    /// excludes every other writer (SQLite).
    const FOR_UPDATE: &'static str;

    /// Appended to the webhook claim's SELECT (row alias `d`): locks the
    /// rows it reads and skips rows another transaction holds, so
    /// concurrent claimers take disjoint rows without waiting; empty on
    /// SQLite (one writer).
    const SKIP_LOCKED: &'static str;

    /// Subscribes to the commits announced by [`Dialect::ANNOUNCE_COMMIT`].
    /// `reconnects` counts the times the subscription's connection was lost
    /// and made again (notifications may have been missed meanwhile).
    fn listen_commits(pool: &Pool<Self>, reconnects: metrics::Counter) -> ListenFuture;
}

/// What [`Dialect::listen_commits`] returns.
pub type ListenFuture =
    std::pin::Pin<Box<dyn Future<Output = StoreResult<Option<CommitStream>>> + Send>>;

/// The group commits' writer: the store's pool (each kind of write
/// implements [`super::group_commit::BatchWriter`] beside its statements).
pub(super) struct PoolWriter<DB: Database> {
    /// Where the batches go.
    pub(super) pool: Pool<DB>,
    /// Records the wait for a connection.
    pub(super) telemetry: TelemetryCell,
}

/// SQL store over one sqlx pool for reads and one for writes.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    /// Where writes run: the same pool on PostgreSQL; on SQLite a pool of
    /// one connection, so writers queue in Rust, first come first served,
    /// instead of each retrying SQLite's single write lock in its busy
    /// handler (which sleeps up to 100 ms between tries, the source of
    /// second-long stalls under 32 writers).
    writes: Pool<DB>,
    /// Tasks that live as long as the store (SQLite's checkpointer),
    /// stopped when it is dropped.
    background: Vec<Background>,
    /// Ticket numbers reserved by this store.
    numbers: NumberBlocks,
    /// Where the backend announces commits to other replicas.
    announcer: Option<Announcer>,
    /// Writes intakes in groups.
    intakes: GroupCommit<Intake>,
    /// Writes the PII access records of reads in groups.
    accesses: GroupCommit<PiiAccess>,
    /// Writes ticket changes in groups, where the backend does not fuse
    /// a change into one statement (SQLite; see [`super::change_commit`]).
    changes: Option<GroupCommit<ChangeWrite>>,
    /// Metric handles, once the server attaches them.
    telemetry: TelemetryCell,
    /// When a call last found a pooled connection dead (shared with the
    /// pool's acquire check).
    lost: LostConnections,
    /// Seals and opens the tickets' caller data.
    pii: PiiCodec,
}

impl<DB: Dialect> SqlStore<DB> {
    /// A store reading through `pool` and writing through `writes` (a clone
    /// of `pool` where writers need no queue of their own), whose acquire
    /// checks read `lost`. Starts the store's tasks (intake and PII access
    /// committers, one per write connection up to their maximum, the
    /// ticket change committer where changes are not fused, and the
    /// announcer where the backend announces commits), so call it inside
    /// the Tokio runtime.
    pub(super) fn new(pool: Pool<DB>, writes: Pool<DB>, lost: LostConnections) -> Self
    where
        for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        DB::Arguments: IntoArguments<DB>,
        for<'q> String: Encode<'q, DB> + Type<DB>,
        for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
        (i64,): for<'r> FromRow<'r, DB::Row>,
    {
        let announcer = DB::ANNOUNCE_COMMIT.map(|sql| Announcer::start(pool.clone(), sql));
        let connections = usize::try_from(writes.options().get_max_connections()).unwrap_or(1);
        let telemetry = TelemetryCell::default();
        let writer = Arc::new(PoolWriter {
            pool: writes.clone(),
            telemetry: telemetry.clone(),
        });
        let committers = COMMITTERS.min(connections);
        let intakes = GroupCommit::start(
            Lanes {
                what: "intake",
                committers,
                max_batch: if committers == 1 {
                    MAX_BATCH_ONE_LANE
                } else {
                    MAX_BATCH
                },
                sizes: |t| &t.intake_batch_size,
            },
            writer.clone(),
            telemetry.clone(),
        );
        let accesses = GroupCommit::start(
            Lanes {
                what: "PII access",
                committers: ACCESS_COMMITTERS.min(connections),
                max_batch: ACCESS_BATCH,
                sizes: |t| &t.pii_access_batch_size,
            },
            writer.clone(),
            telemetry.clone(),
        );
        let changes = (!DB::FUSES_WRITES).then(|| {
            GroupCommit::start(
                Lanes {
                    what: "ticket change",
                    committers: 1,
                    max_batch: CHANGE_BATCH,
                    sizes: |t| &t.change_batch_size,
                },
                writer,
                telemetry.clone(),
            )
        });
        Self {
            pool,
            writes,
            background: Vec::new(),
            numbers: NumberBlocks::default(),
            announcer,
            intakes,
            accesses,
            changes,
            telemetry,
            lost,
            pii: PiiCodec::disabled(),
        }
    }
}

impl<DB: Database> SqlStore<DB> {
    /// Announces a committed write of `events` (of one ticket).
    pub(super) fn announce(&self, events: &[&TicketEvent]) {
        if let (Some(announcer), Some(first), Some(last)) =
            (&self.announcer, events.first(), events.last())
        {
            announcer.announce(CommitNotice {
                ticket: first.ticket_id,
                first_sequence: first.sequence,
                last_sequence: last.sequence,
            });
        }
    }

    /// The connection pool reads use, for sibling modules of the same store.
    pub(super) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The connection pool writes use (see the field's doc comment). A
    /// write that takes a connection here must not wait for a second one
    /// from it: on SQLite there is only one.
    pub(super) fn write_pool(&self) -> &Pool<DB> {
        &self.writes
    }

    /// Keeps `task` running as long as the store.
    pub(super) fn with_background(mut self, task: tokio::task::JoinHandle<()>) -> Self {
        self.background.push(Background(task));
        self
    }

    /// The ticket numbers this store reserved.
    pub(super) fn numbers(&self) -> &NumberBlocks {
        &self.numbers
    }

    /// The group commit intakes go through.
    pub(super) fn intakes(&self) -> &GroupCommit<Intake> {
        &self.intakes
    }

    /// The group commit PII access records go through.
    pub(super) fn accesses(&self) -> &GroupCommit<PiiAccess> {
        &self.accesses
    }

    /// The group commit ticket changes go through, where there is one.
    pub(super) fn changes(&self) -> Option<&GroupCommit<ChangeWrite>> {
        self.changes.as_ref()
    }

    /// Where the store records a connection found dead.
    pub(super) fn lost_connections(&self) -> &LostConnections {
        &self.lost
    }

    /// The store's metric handles.
    pub(super) fn telemetry(&self) -> &TelemetryCell {
        &self.telemetry
    }

    /// The codec of the tickets' caller data.
    pub(super) fn pii(&self) -> &PiiCodec {
        &self.pii
    }

    /// This store with the keys that seal and open caller data: without
    /// them (a new store's [`PiiCodec::disabled`]) tickets can be neither
    /// written nor read.
    pub fn with_pii(mut self, codec: PiiCodec) -> Self {
        self.pii = codec;
        self
    }
}

impl<DB: Database> fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &DB::NAME)
            .field("pool_size", &self.pool.size())
            .finish()
    }
}

/// A task of the store, aborted when the store is dropped.
#[derive(Debug)]
struct Background(tokio::task::JoinHandle<()>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs a batch's statements in order inside a transaction.
pub(super) async fn execute_all<DB>(
    tx: &mut Transaction<'_, DB>,
    batch: WriteBatch<'_, DB>,
) -> StoreResult<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    for mut statement in batch.into_statements() {
        statement.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Commits a write's statements atomically: fused into one statement (one
/// round trip) where the backend can, else in a transaction.
pub(super) async fn commit_batch<DB>(
    pool: &Pool<DB>,
    telemetry: &TelemetryCell,
    batch: WriteBatch<'_, DB>,
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let mut conn = telemetry.acquire(pool).await?;
    if DB::FUSES_WRITES {
        if let Some(mut fused) = batch.fused() {
            fused.build().execute(&mut *conn).await?;
        }
        return Ok(());
    }
    let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
    execute_all(&mut tx, batch).await?;
    tx.commit().await?;
    Ok(())
}
