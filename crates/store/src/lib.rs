//! Persistence: one [`Store`] trait, implemented by SQLite (embedded default)
//! and PostgreSQL (production) with the same behaviour.
//!
//! The trait speaks domain types only. Every write commits the ticket row, its
//! audit event and the idempotency record in one transaction.

use std::{fmt::Debug, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use hotline_domain::{
    RegionCode, TicketEvent, TicketId, Transition, UnitId,
    access::ListScope,
    calendar::CalendarData,
    directory::{Region, Unit, UnitKind, UnitRetirement},
    duplicates::TextSketch,
    metrics::CounterDelta,
    routing::RuleSpec,
    ticket::{RequestType, Ticket, TicketState},
    timelimit::TimeLimitPolicy,
};

mod announcer;
mod article_uses_sql;
mod attachments;
mod attachments_sql;
mod backup;
mod batch;
#[cfg(feature = "bulk")]
mod bulk;
mod calendar_sql;
mod change_commit;
mod checkpoint;
#[cfg(feature = "testing")]
pub mod conformance;
mod directory_sql;
mod error;
mod events_sql;
mod feed;
mod feed_sql;
mod group_commit;
mod hotspot_reads_sql;
mod hotspot_rows;
mod hotspot_writes_sql;
mod hotspots;
mod hotspots_sql;
mod idempotency_sql;
mod intake_sql;
mod knowledge;
mod knowledge_rows;
mod knowledge_sql;
mod lists_sql;
mod metrics;
mod metrics_sql;
mod models;
mod models_sql;
mod numbers;
mod ops;
mod ops_sql;
mod pii;
mod pool;
mod postgres;
mod privacy;
mod privacy_sql;
mod query;
mod report_sql;
mod retry;
mod routing_sql;
mod rows;
mod sketches_sql;
mod sql;
mod sqlite;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
mod ticket_columns;
mod tickets_sql;
mod transitions_sql;
mod webhook_outbox_sql;
mod webhooks;
mod webhooks_sql;

pub use attachments::{AttachmentRemoval, AttachmentStore};
pub use backup::backup;
#[cfg(feature = "bulk")]
pub use bulk::{BulkLoader, CounterTotal};
pub use error::{StoreError, StoreResult};
pub use feed::{FeedEvent, FeedPosition, FeedStore};
pub use hotspots::{
    HotspotChange, HotspotCursor, HotspotEvent, HotspotQuery, HotspotSighting, HotspotStore,
    Recorded, TicketSighting,
};
pub use knowledge::{
    ArticleChange, ArticleQuery, ArticleUse, KnowledgeHead, KnowledgeStore, NewArticle,
    ServedChange, with_titles,
};
pub use lists_sql::OPEN_STATES;
pub use metrics::{
    CounterScope, CounterSource, FrozenMonth, MetricsStore, ReportStore, VolumeCell,
};
pub use models::{
    DispatchModelEvent, DispatchModelInfo, ModelChange, ModelEventKind, ModelState, ModelStore,
    NewDispatchModel,
};
pub use ops::{OpenTickets, OpsStore, PoolStatus, maintenance_warnings};
pub use pii::{INDEX_KEY_ID, KeyringError, PiiCodec, PiiKeyring, new_index_line, new_key_line};
pub use postgres::{
    PostgresStore, connect as connect_postgres, connect_with as connect_postgres_with,
};
pub use privacy::{
    PiiAccess, PiiAccessCursor, PiiAccessQuery, PiiAccessRecord, PrivacyStore, ResealBatch,
};
pub use retry::RetryOnce;
pub use sketches_sql::{MAX_IDS, TicketSketch};
pub use sql::{Dialect, ListenFuture, SqlStore};
pub use sqlite::{SqliteStore, connect as connect_sqlite};
pub use telemetry::StoreTelemetry;
pub use webhooks::{
    ClaimedDelivery, DeliveryOutcome, DeliveryQuery, DeliveryState, WebhookDelivery, WebhookStore,
    WebhookSubscription, WebhookSubscriptionChange,
};

/// A committed write announced to every replica: the ticket and the range
/// of event sequences it added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitNotice {
    /// The ticket written.
    pub ticket: TicketId,
    /// First event sequence the write added.
    pub first_sequence: i64,
    /// Last event sequence the write added.
    pub last_sequence: i64,
}

/// Commits announced by the database, in commit order per connection.
pub type CommitStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = StoreResult<CommitNotice>> + Send>>;

/// An idempotency key (AIP-155), scoped to the subject that sent it so one
/// user can never replay another's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Token subject.
    pub subject: String,
    /// The client's `request_id`.
    pub request_id: String,
    /// The RPC it was used with, e.g. `DispatchTicket`.
    pub operation: &'static str,
    /// A digest of the request the key came with, recorded beside it so a
    /// retry can be told from a different request under a reused key. Opaque
    /// to the store (the API layer computes it).
    pub fingerprint: String,
}

/// What a previously seen idempotency key produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResult {
    /// The RPC the key was first used with.
    pub operation: String,
    /// The resource it created or changed, e.g. `tickets/…`.
    pub resource: String,
    /// The fingerprint of the request that used it; `None` for records
    /// written before fingerprints were recorded.
    pub fingerprint: Option<String>,
}

/// Keyset position of a ticket in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketCursor {
    /// `create_time` of the last row returned.
    pub create_time: DateTime<Utc>,
    /// Id of the last row returned.
    pub id: TicketId,
}

/// Filters of a ticket list; all combine with AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketQuery {
    /// Row scope of the reader.
    pub scope: ListScope,
    /// Any of these states; empty means any.
    pub states: Vec<TicketState>,
    /// Lead unit.
    pub lead_unit: Option<UnitId>,
    /// Request type.
    pub request_type: Option<RequestType>,
    /// Region code prefix (digits).
    pub region_prefix: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Caller phone (normalised digits).
    pub caller_phone: Option<String>,
    /// The number a ticket had in the retired hotline it was imported from.
    pub legacy_number: Option<String>,
    /// Only tickets still being handled whose reply deadline passed before
    /// this instant (超期).
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only tickets with an open supervision order.
    pub supervision_open: bool,
    /// Oldest first (the triage queue) instead of newest first.
    pub oldest_first: bool,
    /// Continue after this row.
    pub after: Option<TicketCursor>,
    /// Maximum rows.
    pub limit: u32,
}

impl TicketQuery {
    /// A query with no filter and everything in scope.
    pub fn all(limit: u32) -> Self {
        Self {
            scope: ListScope::All,
            states: Vec::new(),
            lead_unit: None,
            request_type: None,
            region_prefix: None,
            created_from: None,
            created_to: None,
            caller_phone: None,
            legacy_number: None,
            overdue_at: None,
            supervision_open: false,
            oldest_first: false,
            after: None,
            limit,
        }
    }
}

/// A new ticket ready to insert; the store assigns its number from the daily
/// sequence of `local_day` inside the insert transaction.
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// The `created` transition from [`Ticket::accept`].
    pub created: Transition,
    /// Transitions applied at once, in the same transaction (automatic
    /// dispatch on intake); the last one's ticket is stored.
    pub followups: Vec<Transition>,
    /// Scorecard counter changes the transitions cause, applied in the
    /// same transaction.
    pub counters: Vec<CounterDelta>,
    /// The centre's local calendar day the number counts in.
    pub local_day: NaiveDate,
}

/// One ticket's part in a write over several tickets (a merge of
/// duplicates, 并单): its transition, the version it was computed from,
/// and the scorecard counter changes it causes.
#[derive(Debug, Clone)]
pub struct TicketChange {
    /// The stored version the transition starts from.
    pub expected_version: i64,
    /// The change.
    pub transition: Transition,
    /// Its counter changes.
    pub counters: Vec<CounterDelta>,
}

/// Tickets and their audit trail.
#[async_trait]
pub trait TicketStore: Send + Sync + Debug {
    /// Inserts a new ticket with its `created` event and, if given, the
    /// idempotency record; returns the ticket with its number. A key already
    /// used is `AlreadyExists` and writes nothing; the number drawn for a
    /// refused insert goes to the next ticket of the day (retries leave no
    /// gaps).
    async fn create_ticket(
        &self,
        new: NewTicket,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<Ticket>;

    /// **Bench only** (`hotline bench intake`'s naive baseline; the server
    /// never calls it): writes a new ticket exactly as
    /// [`TicketStore::create_ticket`] does — the same number, rows, events,
    /// counters and idempotency record — but the way a straightforward
    /// service would: a transaction of its own per ticket and one statement
    /// per table (`BEGIN`, the INSERTs, `COMMIT`), with neither the group
    /// commit nor the fused statement. It shows readers what those buy.
    async fn bench_naive_create_ticket(
        &self,
        new: NewTicket,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<Ticket>;

    /// Reads a ticket.
    async fn get_ticket(&self, id: TicketId) -> StoreResult<Ticket>;

    /// Commits a transition if the stored version is still `expected_version`;
    /// otherwise [`StoreError::Conflict`] and nothing is written.
    async fn apply_transition(
        &self,
        expected_version: i64,
        transition: &Transition,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<()>;

    /// Commits several transitions of one ticket (each starting from the
    /// previous one's ticket) in one transaction: the final ticket row and
    /// every event, or nothing.
    async fn apply_transitions(
        &self,
        expected_version: i64,
        transitions: &[Transition],
        counters: &[CounterDelta],
        key: Option<IdempotencyKey>,
    ) -> StoreResult<()>;

    /// Commits the changes of several tickets in one transaction (merging
    /// duplicates into a primary, or undoing it): every row, event and
    /// counter, and the idempotency record (naming the first change's
    /// ticket), or nothing. [`StoreError::Conflict`] if any ticket's
    /// stored version is no longer the one its change starts from.
    async fn apply_ticket_changes(
        &self,
        changes: &[TicketChange],
        key: Option<IdempotencyKey>,
    ) -> StoreResult<()>;

    /// The tickets merged into `primary` as duplicates, by id (from the
    /// `merged_into` index alone).
    async fn duplicates_of(&self, primary: TicketId) -> StoreResult<Vec<Ticket>>;

    /// The events of the given tickets, ordered by ticket and sequence (for
    /// audits that replay the log).
    async fn events_of_tickets(&self, ids: &[TicketId]) -> StoreResult<Vec<TicketEvent>>;

    /// Every replica's committed ticket writes as they commit (PostgreSQL
    /// LISTEN/NOTIFY); `None` where the database does not announce them
    /// (SQLite: the one process publishes its own writes).
    async fn subscribe_commits(&self) -> StoreResult<Option<CommitStream>>;

    /// Tickets matching a query, newest first.
    async fn list_tickets(&self, query: &TicketQuery) -> StoreResult<Vec<Ticket>>;

    /// The text sketches of the tickets matching a query, in its order:
    /// duplicate search's narrow read, by the list's indexes, opening no
    /// caller data (but for rows stored before sketches were).
    async fn list_ticket_sketches(&self, query: &TicketQuery) -> StoreResult<Vec<TicketSketch>>;

    /// The keyed sketch of a title and description, comparable with the
    /// stored ones (a draft's, or a ticket's being compared).
    async fn text_sketch(&self, title: &str, description: &str) -> StoreResult<TextSketch>;

    /// Whole tickets by id (at most [`MAX_IDS`]) in one read, in no
    /// particular order; ids not stored are left out.
    async fn get_tickets(&self, ids: &[TicketId]) -> StoreResult<Vec<Ticket>>;

    /// Tickets with a deadline crossing due at `now`, most overdue first,
    /// found by the `next_alert_us` index alone.
    async fn due_for_sweep(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Ticket>>;

    /// A ticket's events with sequence greater than `after`, oldest first.
    async fn list_events(
        &self,
        id: TicketId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<TicketEvent>>;

    /// What an idempotency key produced before, if it was used.
    async fn find_idempotent(
        &self,
        subject: &str,
        request_id: &str,
    ) -> StoreResult<Option<IdempotentResult>>;

    /// Deletes up to `limit` idempotency records written before `before`,
    /// the oldest first; returns how many went. A key deleted is unknown:
    /// its next use is a new request.
    async fn purge_idempotency_keys(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64>;

    /// Appends to the PII access log (see [`PrivacyStore`] for reading
    /// it); `NotFound` if the one ticket it names does not exist.
    async fn record_pii_access(&self, access: &PiiAccess) -> StoreResult<()>;

    /// Number of PII access records that showed a ticket (for audits and
    /// tests).
    async fn count_pii_access(&self, id: TicketId) -> StoreResult<i64>;
}

/// Units and regions.
#[async_trait]
pub trait DirectoryStore: Send + Sync + Debug {
    /// Adds a unit; `AlreadyExists` if the id is taken, `NotFound` if the parent is unknown.
    async fn create_unit(&self, unit: &Unit, key: Option<IdempotencyKey>) -> StoreResult<()>;
    /// Reads a unit.
    async fn get_unit(&self, id: &UnitId) -> StoreResult<Unit>;
    /// Units ordered by id after `after`, optionally filtered.
    async fn list_units(
        &self,
        region_prefix: Option<&str>,
        kind: Option<UnitKind>,
        after: Option<&UnitId>,
        limit: u32,
    ) -> StoreResult<Vec<Unit>>;
    /// Number of units: with the active rule-set version, tells a replica
    /// that its compiled router is stale.
    async fn count_units(&self) -> StoreResult<i64>;
    /// Adds a region; `AlreadyExists` if the code is taken.
    async fn create_region(&self, region: &Region) -> StoreResult<()>;
    /// Reads a region.
    async fn get_region(&self, code: &RegionCode) -> StoreResult<Region>;
    /// Regions ordered by code after `after`.
    async fn list_regions(
        &self,
        code_prefix: Option<&str>,
        after: Option<&RegionCode>,
        limit: u32,
    ) -> StoreResult<Vec<Region>>;
    /// Retires a unit; `AlreadyExists` if it is retired already,
    /// `NotFound` if it or its successor is unknown.
    async fn retire_unit(&self, retirement: &UnitRetirement) -> StoreResult<()>;
    /// Every retirement, ordered by unit id.
    async fn unit_retirements(&self) -> StoreResult<Vec<UnitRetirement>>;
    /// The retirement of one unit, if it is retired: a dispatch checks the
    /// unit it names with one keyed read rather than the whole list.
    async fn unit_retirement(&self, unit: &UnitId) -> StoreResult<Option<UnitRetirement>>;
    /// Number of retired units: with the active model version, tells a
    /// replica that its compiled dispatch model is stale.
    async fn count_unit_retirements(&self) -> StoreResult<i64>;
}

/// A published rule-set version (without its rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetInfo {
    /// Version, from 1.
    pub version: i64,
    /// Number of rules.
    pub rule_count: i32,
    /// Who published it.
    pub publisher: String,
    /// Publication note.
    pub note: String,
    /// When.
    pub publish_time: DateTime<Utc>,
    /// Whether routing uses it now.
    pub active: bool,
}

/// The dispatch catalogue: a draft being edited, immutable published
/// versions, and which version is active.
#[async_trait]
pub trait RoutingStore: Send + Sync + Debug {
    /// Adds a draft rule; `AlreadyExists` if its id is taken.
    async fn create_draft_rule(&self, rule: &RuleSpec, now: DateTime<Utc>) -> StoreResult<()>;
    /// Replaces a draft rule; `NotFound` if there is none with its id.
    async fn update_draft_rule(&self, rule: &RuleSpec, now: DateTime<Utc>) -> StoreResult<()>;
    /// Removes a draft rule; `NotFound` if there is none.
    async fn delete_draft_rule(&self, id: &str) -> StoreResult<()>;
    /// Every draft rule, ordered by id.
    async fn draft_rules(&self) -> StoreResult<Vec<RuleSpec>>;
    /// Stores `rules` as the next version and makes it active, atomically.
    async fn publish_rule_set(
        &self,
        rules: &[RuleSpec],
        publisher: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RuleSetInfo>;
    /// Makes a published version active; `NotFound` if it does not exist.
    async fn activate_rule_set(&self, version: i64) -> StoreResult<RuleSetInfo>;
    /// A published version and its rules.
    async fn rule_set(&self, version: i64) -> StoreResult<(RuleSetInfo, Vec<RuleSpec>)>;
    /// The active version and its rules, if any version was published.
    async fn active_rule_set(&self) -> StoreResult<Option<(RuleSetInfo, Vec<RuleSpec>)>>;
    /// The active version number, if any: a cheap check for changes.
    async fn active_rule_set_version(&self) -> StoreResult<Option<i64>>;
    /// Published versions older than `before` (all if `None`), newest first.
    async fn list_rule_sets(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<RuleSetInfo>>;
}

/// A stored version of the working-day calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarVersion {
    /// Version, from 1.
    pub version: i64,
    /// The whole calendar (national schedules and local holidays).
    pub data: CalendarData,
    /// What was loaded.
    pub note: String,
    /// Who loaded it.
    pub loaded_by: String,
    /// When.
    pub load_time: DateTime<Utc>,
}

/// Versions of the working-day calendar; the highest is in force.
#[async_trait]
pub trait CalendarStore: Send + Sync + Debug {
    /// Stores `data` as the next version and returns it.
    async fn save_calendar(
        &self,
        data: &CalendarData,
        note: &str,
        loaded_by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CalendarVersion>;
    /// The version in force, if any was stored.
    async fn latest_calendar(&self) -> StoreResult<Option<CalendarVersion>>;
    /// The number of the version in force: a cheap check for changes.
    async fn latest_calendar_version(&self) -> StoreResult<Option<i64>>;
    /// Stores a time-limit policy as the next version; returns the version.
    async fn save_time_limits(
        &self,
        policy: &TimeLimitPolicy,
        changed_by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<i64>;
    /// The latest stored time-limit policy, if any.
    async fn latest_time_limits(&self) -> StoreResult<Option<(i64, TimeLimitPolicy)>>;
}

/// Everything the service persists.
pub trait Store:
    TicketStore
    + DirectoryStore
    + RoutingStore
    + CalendarStore
    + MetricsStore
    + ReportStore
    + OpsStore
    + PrivacyStore
    + FeedStore
    + WebhookStore
    + AttachmentStore
    + KnowledgeStore
    + ModelStore
    + HotspotStore
{
}
impl<
    T: TicketStore
        + DirectoryStore
        + RoutingStore
        + CalendarStore
        + MetricsStore
        + ReportStore
        + OpsStore
        + PrivacyStore
        + FeedStore
        + WebhookStore
        + AttachmentStore
        + KnowledgeStore
        + ModelStore
        + HotspotStore,
> Store for T
{
}

/// Opens the store named by a database URL: `sqlite:` (default) or `postgres:`.
/// Migrations are applied when `migrate` is set. A call that meets a dead
/// pooled connection runs once more on a fresh one ([`RetryOnce`]). The
/// store has no PII keys ([`PiiCodec::disabled`]): enough for commands that
/// never read or write tickets (reports, the catalogue, migrations); see
/// [`open_with_pii`].
pub async fn open(
    url: &str,
    max_connections: u32,
    migrate: bool,
) -> anyhow::Result<Arc<dyn Store>> {
    open_with_pii(url, max_connections, migrate, PiiCodec::disabled()).await
}

/// [`open`] with the keys that seal and open the tickets' caller data.
pub async fn open_with_pii(
    url: &str,
    max_connections: u32,
    migrate: bool,
    pii: PiiCodec,
) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(RetryOnce::new(
            connect_sqlite(url, max_connections, migrate)
                .await?
                .with_pii(pii),
        )))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(RetryOnce::new(
            connect_postgres(url, max_connections, migrate)
                .await?
                .with_pii(pii),
        )))
    } else {
        anyhow::bail!("unsupported database URL scheme (use sqlite: or postgres:)")
    }
}

/// Upper bound for a digits-prefix range scan: `prefix <= code < prefix + ":"`
/// (`:` sorts right after `9`), which both backends serve from a plain b-tree.
pub fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}:")
}
