//! The scorecards' storage: per-unit, per-day counters and the tickets
//! behind them ([`MetricsStore`]), and the disclosure report's volumes
//! ([`ReportStore`]).

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use hotline_domain::{
    TicketId, UnitId,
    metrics::{Counter, CounterDelta, Month},
    ticket::{Channel, RequestType},
};

use crate::StoreResult;

/// Whose counters a sum covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterScope {
    /// The centre's own counters (intake metrics).
    Centre,
    /// One unit.
    Unit(UnitId),
    /// A unit and every unit below it in the org tree (parent roll-up).
    Subtree(UnitId),
    /// Every unit whose region code starts with the prefix (region roll-up;
    /// the centre's counters are not in any region).
    Region(String),
}

/// Where counter sums come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterSource {
    /// The live counters of local days `from..to` (`to` exclusive).
    Days {
        /// First day.
        from: NaiveDate,
        /// Day after the last.
        to: NaiveDate,
    },
    /// A frozen month's snapshot.
    Frozen(Month),
}

/// A frozen month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenMonth {
    /// The month.
    pub month: Month,
    /// Who froze it.
    pub frozen_by: String,
    /// When.
    pub freeze_time: DateTime<Utc>,
}

/// The per-unit-per-day counters, their ledger and frozen months.
#[async_trait]
pub trait MetricsStore: Send + Sync + Debug {
    /// Counter sums over a scope; a frozen month that was never frozen is
    /// `NotFound`.
    async fn sum_counters(
        &self,
        scope: &CounterScope,
        source: CounterSource,
    ) -> StoreResult<Vec<(Counter, i64)>>;

    /// Counter sums per unit, for every unit in a region (all units with
    /// `None`) that has counters in the source (rankings).
    async fn sum_counters_by_unit(
        &self,
        region_prefix: Option<&str>,
        source: CounterSource,
    ) -> StoreResult<Vec<(UnitId, Counter, i64)>>;

    /// Every non-zero counter row, for audits that recompute them from the
    /// event log.
    async fn all_counters(&self) -> StoreResult<Vec<CounterDelta>>;

    /// The tickets behind live counter sums: each ticket whose changes to
    /// `counters` in the scope over days `from..to` do not cancel out, with
    /// its net contribution, by ticket id after `after`. The contributions
    /// add up to [`MetricsStore::sum_counters`] of the same counters.
    async fn counter_tickets(
        &self,
        scope: &CounterScope,
        counters: &[Counter],
        from: NaiveDate,
        to: NaiveDate,
        after: Option<TicketId>,
        limit: u32,
    ) -> StoreResult<Vec<(TicketId, i64)>>;

    /// Copies the month's counters into a snapshot, with who and when, in one
    /// transaction; `AlreadyExists` if the month is frozen.
    async fn freeze_month(
        &self,
        month: Month,
        frozen_by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<FrozenMonth>;

    /// A frozen month, if it was frozen.
    async fn frozen_month(&self, month: Month) -> StoreResult<Option<FrozenMonth>>;
}

/// The tickets created in a period that share a request type, channel,
/// first-level subject and district, counted by how far they got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCell {
    /// Request type (诉求类型).
    pub request_type: RequestType,
    /// Intake channel.
    pub channel: Channel,
    /// First segment of the subject code (`"01"` of `01.02.03`); `None`
    /// for tickets the agent did not classify.
    pub subject: Option<String>,
    /// First six digits of the region code: the county-level district.
    pub district: String,
    /// Tickets created.
    pub received: i64,
    /// Of those, accepted (受理): all but not accepted, emergency hand-offs
    /// and merged duplicates (the DOMAIN §6 exclusions).
    pub accepted: i64,
    /// Of the accepted, answered by the agent at intake (直接办结) and still so.
    pub answered_at_intake: i64,
    /// Of the accepted, with a standing unit reply (a reply sent back by the
    /// centre, or reopened for re-handling, no longer counts).
    pub replied_by_unit: i64,
}

/// Aggregates for the disclosure report. The report is an offline job, so
/// a GROUP BY over the period's tickets is acceptable here where the
/// scorecards keep to the per-day counters.
#[async_trait]
pub trait ReportStore: Send + Sync + Debug {
    /// Tickets created in `from..to`, grouped into [`VolumeCell`]s.
    async fn ticket_volumes(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<VolumeCell>>;
}
