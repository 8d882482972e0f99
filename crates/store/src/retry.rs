//! A store that runs a call once more when the connection it used turned
//! out to be dead: after a PostgreSQL restart every pooled connection is,
//! and without this the first call on each answered UNAVAILABLE (before
//! the errors were classified, INTERNAL) though the database was back.
//!
//! Why a wrapper around every call rather than `test_before_acquire`: a
//! ping per acquire is a round trip on every transaction, intake's
//! included, to guard against an event that happens on a restart. Here the
//! healthy path costs nothing but, for calls taking owned arguments, a
//! clone kept for the second attempt. Only losses that cannot have let the
//! call take effect are retried ([`StoreError::retry_on_fresh_connection`]):
//! a session the server ended (it rolled back what it had open), or, for
//! calls that write nothing, any broken socket. Before the second attempt
//! the store is told ([`OpsStore::connection_lost`]), so the pool checks
//! the connections that sat idle through the loss and the attempt gets a
//! live one, or a new one.

use std::future::Future;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{
    ArticleChange, ArticleQuery, ArticleUse, AttachmentRemoval, AttachmentStore, CalendarStore,
    CalendarVersion, CommitStream, CounterScope, CounterSource, DirectoryStore, DispatchModelEvent,
    DispatchModelInfo, FeedEvent, FeedPosition, FeedStore, FrozenMonth, HotspotChange,
    HotspotEvent, HotspotQuery, HotspotSighting, HotspotStore, IdempotencyKey, IdempotentResult,
    KnowledgeHead, KnowledgeStore, MetricsStore, ModelChange, ModelEventKind, ModelStore,
    NewArticle, NewDispatchModel, NewTicket, OpenTickets, OpsStore, PiiAccess, PiiAccessQuery,
    PiiAccessRecord, PoolStatus, PrivacyStore, Recorded, ReportStore, ResealBatch, RoutingStore,
    RuleSetInfo, ServedChange, Store, StoreResult, StoreTelemetry, TicketChange, TicketQuery,
    TicketSighting, TicketSketch, TicketStore, VolumeCell,
    webhooks::{
        ClaimedDelivery, DeliveryOutcome, DeliveryQuery, WebhookDelivery, WebhookStore,
        WebhookSubscription, WebhookSubscriptionChange,
    },
};
use hotline_domain::{
    RegionCode, TicketEvent, TicketId, Transition, UnitId,
    attachment::{Attachment, AttachmentEvent, AttachmentId},
    directory::{Region, Unit, UnitKind, UnitRetirement},
    duplicates::TextSketch,
    hotspot::{Hotspot, HotspotId},
    knowledge::{Article, ArticleEvent, ArticleId, ArticleVersion},
    metrics::{Counter, CounterDelta, Month},
    routing::RuleSpec,
    ticket::Ticket,
    timelimit::TimeLimitPolicy,
};

/// A call that reads only: repeated after any lost connection.
const READS: bool = false;
/// A call that writes: repeated only when the server ended the session.
const WRITES: bool = true;

/// Wraps a store so that a call meeting a dead connection runs once more
/// on a fresh one before its caller hears of it.
#[derive(Debug)]
pub struct RetryOnce<S> {
    inner: S,
}

impl<S: Store> RetryOnce<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// Runs `call`, and once more if it failed on a dead connection.
    async fn run<T, F, Fut>(&self, writes: bool, mut call: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        match call().await {
            Err(e) if e.retry_on_fresh_connection(writes) => {
                tracing::warn!(
                    error = %e.report(),
                    "a pooled connection was dead; running the call again on a fresh one"
                );
                self.inner.connection_lost();
                call().await
            }
            result => result,
        }
    }
}

/// Implements a store trait for [`RetryOnce`]: each method forwards to the
/// inner store through [`RetryOnce::run`], cloning its arguments for each
/// attempt (references are copied).
macro_rules! retry_once {
    ($trait:ident { $($kind:ident fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)* }) => {
        #[async_trait]
        #[allow(clippy::clone_on_copy)]
        impl<S: Store> $trait for RetryOnce<S> {
            $(
                async fn $name(&self, $($arg: $ty),*) -> StoreResult<$ret> {
                    self.run($kind, || self.inner.$name($(<$ty as Clone>::clone(&$arg)),*)).await
                }
            )*
        }
    };
}

retry_once!(TicketStore {
    WRITES fn create_ticket(new: NewTicket, key: Option<IdempotencyKey>) -> Ticket;
    WRITES fn bench_naive_create_ticket(new: NewTicket, key: Option<IdempotencyKey>) -> Ticket;
    READS fn get_ticket(id: TicketId) -> Ticket;
    WRITES fn apply_transition(
        expected_version: i64,
        transition: &Transition,
        key: Option<IdempotencyKey>,
    ) -> ();
    WRITES fn apply_transitions(
        expected_version: i64,
        transitions: &[Transition],
        counters: &[CounterDelta],
        key: Option<IdempotencyKey>,
    ) -> ();
    WRITES fn apply_ticket_changes(
        changes: &[TicketChange],
        key: Option<IdempotencyKey>,
    ) -> ();
    READS fn duplicates_of(primary: TicketId) -> Vec<Ticket>;
    READS fn events_of_tickets(ids: &[TicketId]) -> Vec<TicketEvent>;
    READS fn subscribe_commits() -> Option<CommitStream>;
    READS fn list_tickets(query: &TicketQuery) -> Vec<Ticket>;
    READS fn list_ticket_sketches(query: &TicketQuery) -> Vec<TicketSketch>;
    READS fn text_sketch(title: &str, description: &str) -> TextSketch;
    READS fn get_tickets(ids: &[TicketId]) -> Vec<Ticket>;
    READS fn due_for_sweep(now: DateTime<Utc>, limit: u32) -> Vec<Ticket>;
    READS fn list_events(id: TicketId, after: i64, limit: u32) -> Vec<TicketEvent>;
    READS fn find_idempotent(subject: &str, request_id: &str) -> Option<IdempotentResult>;
    WRITES fn purge_idempotency_keys(before: DateTime<Utc>, limit: u32) -> u64;
    WRITES fn record_pii_access(access: &PiiAccess) -> ();
    READS fn count_pii_access(id: TicketId) -> i64;
});

retry_once!(FeedStore {
    READS fn read_feed(after: FeedPosition, limit: u32) -> Vec<FeedEvent>;
    READS fn feed_head() -> FeedPosition;
});

retry_once!(DirectoryStore {
    WRITES fn create_unit(unit: &Unit, key: Option<IdempotencyKey>) -> ();
    READS fn get_unit(id: &UnitId) -> Unit;
    READS fn list_units(
        region_prefix: Option<&str>,
        kind: Option<UnitKind>,
        after: Option<&UnitId>,
        limit: u32,
    ) -> Vec<Unit>;
    READS fn count_units() -> i64;
    WRITES fn create_region(region: &Region) -> ();
    READS fn get_region(code: &RegionCode) -> Region;
    READS fn list_regions(
        code_prefix: Option<&str>,
        after: Option<&RegionCode>,
        limit: u32,
    ) -> Vec<Region>;
    WRITES fn retire_unit(retirement: &UnitRetirement) -> ();
    READS fn unit_retirements() -> Vec<UnitRetirement>;
    READS fn unit_retirement(unit: &UnitId) -> Option<UnitRetirement>;
    READS fn count_unit_retirements() -> i64;
});

retry_once!(ModelStore {
    WRITES fn save_dispatch_model(model: &NewDispatchModel) -> DispatchModelInfo;
    WRITES fn start_dispatch_model_training(change: &ModelChange) -> DispatchModelInfo;
    WRITES fn heartbeat_dispatch_model_training(version: i64, at: DateTime<Utc>) -> bool;
    WRITES fn finish_dispatch_model_training(
        version: i64,
        model: &NewDispatchModel,
    ) -> DispatchModelInfo;
    WRITES fn fail_dispatch_model_trainings(
        version: Option<i64>,
        stale_before: Option<DateTime<Utc>>,
        reason: &str,
        change: &ModelChange,
    ) -> Vec<i64>;
    WRITES fn set_active_dispatch_model(
        expected: i64,
        version: i64,
        kind: ModelEventKind,
        change: &ModelChange,
    ) -> ();
    READS fn dispatch_model(version: i64) -> (DispatchModelInfo, String);
    READS fn active_dispatch_model_version() -> i64;
    READS fn list_dispatch_models(before: Option<i64>, limit: u32) -> Vec<DispatchModelInfo>;
    READS fn dispatch_model_events(version: Option<i64>, limit: u32) -> Vec<DispatchModelEvent>;
});

retry_once!(RoutingStore {
    WRITES fn create_draft_rule(rule: &RuleSpec, now: DateTime<Utc>) -> ();
    WRITES fn update_draft_rule(rule: &RuleSpec, now: DateTime<Utc>) -> ();
    WRITES fn delete_draft_rule(id: &str) -> ();
    READS fn draft_rules() -> Vec<RuleSpec>;
    WRITES fn publish_rule_set(
        rules: &[RuleSpec],
        publisher: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> RuleSetInfo;
    WRITES fn activate_rule_set(version: i64) -> RuleSetInfo;
    READS fn rule_set(version: i64) -> (RuleSetInfo, Vec<RuleSpec>);
    READS fn active_rule_set() -> Option<(RuleSetInfo, Vec<RuleSpec>)>;
    READS fn active_rule_set_version() -> Option<i64>;
    READS fn list_rule_sets(before: Option<i64>, limit: u32) -> Vec<RuleSetInfo>;
});

retry_once!(CalendarStore {
    WRITES fn save_calendar(
        data: &hotline_domain::calendar::CalendarData,
        note: &str,
        loaded_by: &str,
        now: DateTime<Utc>,
    ) -> CalendarVersion;
    READS fn latest_calendar() -> Option<CalendarVersion>;
    READS fn latest_calendar_version() -> Option<i64>;
    WRITES fn save_time_limits(
        policy: &TimeLimitPolicy,
        changed_by: &str,
        now: DateTime<Utc>,
    ) -> i64;
    READS fn latest_time_limits() -> Option<(i64, TimeLimitPolicy)>;
});

retry_once!(MetricsStore {
    READS fn sum_counters(scope: &CounterScope, source: CounterSource) -> Vec<(Counter, i64)>;
    READS fn sum_counters_by_unit(
        region_prefix: Option<&str>,
        source: CounterSource,
    ) -> Vec<(UnitId, Counter, i64)>;
    READS fn all_counters() -> Vec<CounterDelta>;
    READS fn counter_tickets(
        scope: &CounterScope,
        counters: &[Counter],
        from: NaiveDate,
        to: NaiveDate,
        after: Option<TicketId>,
        limit: u32,
    ) -> Vec<(TicketId, i64)>;
    WRITES fn freeze_month(month: Month, frozen_by: &str, now: DateTime<Utc>) -> FrozenMonth;
    READS fn frozen_month(month: Month) -> Option<FrozenMonth>;
});

retry_once!(ReportStore {
    READS fn ticket_volumes(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<VolumeCell>;
});

retry_once!(PrivacyStore {
    READS fn list_pii_access(query: &PiiAccessQuery) -> Vec<PiiAccessRecord>;
    WRITES fn purge_pii_access(before: DateTime<Utc>, limit: u32) -> u64;
    READS fn count_stale_pii() -> i64;
    WRITES fn reseal_pii(after: Option<TicketId>, limit: u32) -> ResealBatch;
});

retry_once!(WebhookStore {
    WRITES fn create_webhook_subscription(sub: &WebhookSubscription) -> ();
    READS fn get_webhook_subscription(id: &str) -> WebhookSubscription;
    READS fn list_webhook_subscriptions(after: Option<&str>, limit: u32) -> Vec<WebhookSubscription>;
    WRITES fn update_webhook_subscription(
        change: &WebhookSubscriptionChange,
    ) -> WebhookSubscription;
    WRITES fn delete_webhook_subscription(id: &str) -> ();
    WRITES fn fan_out_webhooks(now: DateTime<Utc>, limit: u32) -> u32;
    WRITES fn claim_webhook_deliveries(
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Vec<ClaimedDelivery>;
    WRITES fn finish_webhook_delivery(
        claimed: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> bool;
    READS fn list_webhook_deliveries(query: &DeliveryQuery) -> Vec<WebhookDelivery>;
    READS fn get_webhook_delivery(id: i64) -> WebhookDelivery;
    WRITES fn redeliver_webhook_delivery(id: i64, now: DateTime<Utc>) -> WebhookDelivery;
    WRITES fn reseal_webhook_secrets() -> u64;
    WRITES fn purge_webhook_deliveries(before: DateTime<Utc>, limit: u32) -> u64;
});

retry_once!(AttachmentStore {
    WRITES fn begin_attachment(attachment: &Attachment) -> ();
    WRITES fn record_upload_id(id: AttachmentId, upload_id: &str) -> ();
    WRITES fn complete_attachment(id: AttachmentId, now: DateTime<Utc>) -> Attachment;
    READS fn get_attachment(id: AttachmentId) -> Attachment;
    READS fn list_attachments(
        ticket: TicketId,
        after: Option<AttachmentId>,
        limit: u32,
    ) -> Vec<Attachment>;
    WRITES fn delete_attachment(id: AttachmentId, removal: &AttachmentRemoval) -> Attachment;
    READS fn stale_uploads(before: DateTime<Utc>, limit: u32) -> Vec<Attachment>;
    WRITES fn discard_upload(id: AttachmentId) -> bool;
    READS fn expired_attachments(closed_before: DateTime<Utc>, limit: u32) -> Vec<Attachment>;
    READS fn attachment_events(ticket: TicketId) -> Vec<AttachmentEvent>;
});

retry_once!(KnowledgeStore {
    WRITES fn create_articles(new: &[NewArticle], key: Option<IdempotencyKey>) -> Vec<Article>;
    READS fn get_article(id: ArticleId) -> Article;
    READS fn list_articles(query: &ArticleQuery) -> Vec<Article>;
    READS fn list_article_versions(
        id: ArticleId,
        after: Option<i64>,
        limit: u32,
    ) -> Vec<ArticleVersion>;
    WRITES fn change_article(change: &ArticleChange, key: Option<IdempotencyKey>) -> Article;
    READS fn article_events(id: ArticleId) -> Vec<ArticleEvent>;
    READS fn served_changes(after_seq: i64, limit: u32) -> Vec<ServedChange>;
    READS fn knowledge_head() -> KnowledgeHead;
    READS fn served_versions(ids: &[ArticleId]) -> Vec<ArticleVersion>;
    READS fn article_uses(from: DateTime<Utc>, to: DateTime<Utc>, owners: &CounterScope, limit: u32) -> Vec<ArticleUse>;
});

retry_once!(HotspotStore {
    READS fn replay_start(since: DateTime<Utc>) -> Option<FeedPosition>;
    READS fn read_sightings(after: FeedPosition, limit: u32) -> Vec<TicketSighting>;
    READS fn tickets_created_after(after: DateTime<Utc>, cap: u32) -> i64;
    WRITES fn record_hotspot(sighting: &HotspotSighting) -> Recorded;
    READS fn get_hotspot(id: HotspotId) -> Hotspot;
    READS fn list_hotspots(query: &HotspotQuery) -> Vec<Hotspot>;
    WRITES fn change_hotspot(change: &HotspotChange) -> Hotspot;
    READS fn hotspot_events(id: HotspotId) -> Vec<HotspotEvent>;
    READS fn hotspot_changes(
        after_seq: i64,
        after_id: Option<HotspotId>,
        limit: u32,
    ) -> Vec<Hotspot>;
    READS fn hotspot_head() -> i64;
    WRITES fn raise_overdue_alerts(now: DateTime<Utc>, limit: u32) -> Vec<Hotspot>;
});

#[async_trait]
impl<S: Store> OpsStore for RetryOnce<S> {
    async fn ping(&self) -> StoreResult<()> {
        self.run(READS, || self.inner.ping()).await
    }

    fn pool_status(&self) -> PoolStatus {
        self.inner.pool_status()
    }

    async fn open_tickets(&self, now: DateTime<Utc>) -> StoreResult<OpenTickets> {
        self.run(READS, || self.inner.open_tickets(now)).await
    }

    async fn summarize_feed_index(&self) -> StoreResult<i64> {
        self.run(READS, || self.inner.summarize_feed_index()).await
    }

    async fn maintenance_warnings(&self) -> StoreResult<Vec<String>> {
        self.run(READS, || self.inner.maintenance_warnings()).await
    }

    fn attach_telemetry(&self, telemetry: StoreTelemetry) {
        self.inner.attach_telemetry(telemetry);
    }

    fn connection_lost(&self) {
        self.inner.connection_lost();
    }
}
