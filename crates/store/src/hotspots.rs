//! Hotspots: the new tickets the detector reads, the hotspots it records,
//! the centre's decisions on them, the audit trail and the change
//! sequence watchers follow.
//!
//! **What the detector reads.** New tickets in the event log's commit
//! order ([`crate::FeedStore`]: gap-safe, and the same order on every
//! replica), so every replica's detector sees the same tickets in the same
//! order ([`HotspotStore::read_sightings`]). A restarted replica rebuilds
//! its state by reading from the first ticket of the detector's longest
//! retention ([`HotspotStore::replay_start`]).
//!
//! **Recording is idempotent.** Every replica records what it detects
//! ([`HotspotStore::record_hotspot`]); a hotspot is known by its cluster's
//! first ticket (unique), and each ticket belongs to at most one hotspot,
//! so two replicas, or one replaying after a restart, find the row already
//! there and only add what it lacks: one row, one supervision item,
//! however many replicas detect it. Heat only grows (a replica with a
//! shorter view never lowers it).
//!
//! **The change sequence.** Every write takes the next number of one
//! sequence over all hotspots from a one-row table, first thing in its
//! transaction (so writers queue on it, never deadlock on each other's
//! rows, and numbers commit in order). [`HotspotStore::hotspot_changes`]
//! after the last (number, id) seen misses nothing; the number is also
//! the etag.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{FeedPosition, IdempotencyKey, StoreResult};
use hotline_domain::{
    RegionCode, TicketId,
    hotspot::{Hotspot, HotspotDecision, HotspotEventKind, HotspotHeat, HotspotId, HotspotState},
};

/// A new ticket as the detector reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSighting {
    /// Where its creation is in the event log.
    pub position: FeedPosition,
    /// The ticket.
    pub id: TicketId,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// Its region.
    pub region: RegionCode,
    /// Its subject code, if classified.
    pub subject: Option<String>,
    /// The caller's blind index (never the number); `None` for an
    /// anonymous caller.
    pub caller: Option<String>,
    /// Title.
    pub title: String,
    /// Description (opened with the PII keys).
    pub description: String,
}

/// What a detector saw of a hotspot: to record when it became one, and
/// again each time it grew.
#[derive(Debug, Clone, PartialEq)]
pub struct HotspotSighting {
    /// The hotspot this replica recorded it as before, if it did.
    pub known: Option<HotspotId>,
    /// The id to give it if nobody recorded it yet.
    pub new_id: HotspotId,
    /// Its cluster's first ticket: the natural key.
    pub seed_ticket: TicketId,
    /// The area its cluster started in.
    pub area: String,
    /// Its district.
    pub district: String,
    /// Its first ticket's subject code.
    pub subject: String,
    /// Its heat as of its latest ticket.
    pub heat: HotspotHeat,
    /// Tickets to add, with their creation times (at detection: every
    /// ticket of the cluster so far).
    pub tickets: Vec<(TicketId, DateTime<Utc>)>,
    /// The centre's clock: detection time, and the supervision item's
    /// start.
    pub now: DateTime<Utc>,
}

/// What recording a sighting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The hotspot it is recorded as.
    pub id: HotspotId,
    /// Whether this call created it (and its supervision item).
    pub created: bool,
    /// Whether anything was written (new tickets or more heat).
    pub changed: bool,
    /// The change number written, if anything was.
    pub change_seq: Option<i64>,
}

/// A decision to apply, if the hotspot is still as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotspotChange {
    /// The hotspot.
    pub id: HotspotId,
    /// Its state when read (else `Conflict`).
    pub expected_state: HotspotState,
    /// Its change number when read, if the client sent an etag (else any).
    pub expected_change_seq: Option<i64>,
    /// What the domain decided.
    pub decision: HotspotDecision,
    /// Who (token subject).
    pub actor: String,
    /// In which role.
    pub actor_role: String,
    /// When.
    pub now: DateTime<Utc>,
    /// The request's idempotency key, recorded in the same transaction.
    pub key: Option<IdempotencyKey>,
}

/// Keyset position in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HotspotCursor {
    /// `create_time` of the last row returned.
    pub create_time: DateTime<Utc>,
    /// Its id.
    pub id: HotspotId,
}

/// Filters of a hotspot list, newest first; all combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HotspotQuery {
    /// The reader's scope: only areas with this prefix.
    pub scope: Option<String>,
    /// Only areas with this prefix.
    pub area_prefix: Option<String>,
    /// Any of these states; empty means any.
    pub states: Vec<HotspotState>,
    /// Detected at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Detected before.
    pub created_to: Option<DateTime<Utc>>,
    /// Only hotspots whose supervision item is unanswered past its
    /// deadline at this instant.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Continue after this row.
    pub after: Option<HotspotCursor>,
    /// Maximum rows.
    pub limit: u32,
}

/// One audit event of a hotspot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotspotEvent {
    /// The hotspot.
    pub hotspot: HotspotId,
    /// What happened.
    pub kind: HotspotEventKind,
    /// Who (`system:hotspots` for the detector).
    pub actor: String,
    /// In which role.
    pub actor_role: String,
    /// The reason, note or what grew.
    pub note: Option<String>,
    /// When.
    pub time: DateTime<Utc>,
}

/// New tickets for the detector, hotspots and their audit trail.
#[async_trait]
pub trait HotspotStore: Send + Sync + Debug {
    /// Where a detector rebuilding the tickets created at or after `since`
    /// starts reading ([`HotspotStore::read_sightings`] after it): just
    /// before the earliest creation in the log among the first thousand
    /// of those tickets by creation time (commit order strays from
    /// creation order by moments, not by a thousand tickets). `None` when
    /// no ticket is that recent: start at the log's head.
    async fn replay_start(&self, since: DateTime<Utc>) -> StoreResult<Option<FeedPosition>>;
    /// Up to `limit` tickets whose creation committed after `after`, in
    /// the log's commit order.
    async fn read_sightings(
        &self,
        after: FeedPosition,
        limit: u32,
    ) -> StoreResult<Vec<TicketSighting>>;
    /// How many tickets were created after `after` (at most `cap`): how
    /// far a detector that has read up to `after` is behind.
    async fn tickets_created_after(&self, after: DateTime<Utc>, cap: u32) -> StoreResult<i64>;
    /// Records a sighting in one transaction: the hotspot (with its
    /// supervision item and `detected` event) if neither its first ticket
    /// nor any of its tickets is recorded yet, else the tickets it lacks
    /// and the heat if higher (with a `grown` event). Nothing is written
    /// when there is nothing new.
    async fn record_hotspot(&self, sighting: &HotspotSighting) -> StoreResult<Recorded>;
    /// A hotspot with its tickets; `NotFound` if none.
    async fn get_hotspot(&self, id: HotspotId) -> StoreResult<Hotspot>;
    /// Hotspots matching a query, newest first, with their tickets.
    async fn list_hotspots(&self, query: &HotspotQuery) -> StoreResult<Vec<Hotspot>>;
    /// Applies a decision with its audit event (and, for a merge, the
    /// target's: it must still be open, else `Conflict`) and the
    /// idempotency record, in one transaction, if the hotspot is still in
    /// the expected state and at the expected change (else `Conflict`);
    /// the first decision answers its supervision item. Returns it after.
    async fn change_hotspot(&self, change: &HotspotChange) -> StoreResult<Hotspot>;
    /// A hotspot's audit trail, oldest first.
    async fn hotspot_events(&self, id: HotspotId) -> StoreResult<Vec<HotspotEvent>>;
    /// Up to `limit` hotspots whose last change is after `(after_seq,
    /// after_id)`, in (change number, id) order.
    async fn hotspot_changes(
        &self,
        after_seq: i64,
        after_id: Option<HotspotId>,
        limit: u32,
    ) -> StoreResult<Vec<Hotspot>>;
    /// The highest change number committed (0: none yet).
    async fn hotspot_head(&self) -> StoreResult<i64>;
    /// Raises the overdue alert of up to `limit` hotspots whose
    /// supervision item is unanswered past its deadline at `now` and not
    /// yet alerted, most overdue first: each in one transaction, the next
    /// change number, the mark (`overdue_alert_seq`) and an `overdue`
    /// event. The mark is written only while the item is still unanswered
    /// and unmarked, after the change sequence's lock: a hotspot another
    /// replica alerted, or a supervisor answered, meanwhile is skipped, so
    /// each hotspot's alert is raised once whoever sweeps. Returns the
    /// hotspots this call alerted, as they are after it.
    async fn raise_overdue_alerts(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Hotspot>>;
}
