//! Privacy: the PII access log (who saw callers unmasked, as whom, through
//! which RPC and why), its reading and retention, and re-sealing caller
//! data under the current key after a key rotation.
//!
//! Kept apart from [`super::TicketStore`]: none of this is on a ticket's
//! own request path; auditors, the retention task and `hotline keys
//! rotate` use it.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use hotline_domain::TicketId;

/// An audited view of callers' unmasked identities (DOMAIN.md §7): one row
/// per call, however many tickets it showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiAccess {
    /// Who looked (the token subject).
    pub subject: String,
    /// The role they acted in (`agent`, `auditor`, …).
    pub role: String,
    /// Through which RPC, e.g. `GetTicket`.
    pub rpc: &'static str,
    /// Why, as the use case states it, e.g. `ticket_view`.
    pub purpose: &'static str,
    /// The tickets whose callers were shown; empty for a read of the log
    /// itself that named no ticket.
    pub tickets: Vec<TicketId>,
    /// When.
    pub time: DateTime<Utc>,
}

/// Keyset position in the log, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiAccessCursor {
    /// Time of the last row returned.
    pub time: DateTime<Utc>,
    /// Its id.
    pub id: i64,
}

/// Filters of a log read; all combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PiiAccessQuery {
    /// Reads that showed this ticket (alone or among others).
    pub ticket: Option<TicketId>,
    /// Reads by this subject.
    pub subject: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this row.
    pub after: Option<PiiAccessCursor>,
    /// Maximum rows.
    pub limit: u32,
}

/// One row of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiAccessRecord {
    /// Row id (the cursor's tie-breaker).
    pub id: i64,
    /// The access.
    pub subject: String,
    /// The role recorded (`unknown` for rows from before roles were kept).
    pub role: String,
    /// The RPC.
    pub rpc: String,
    /// The purpose.
    pub purpose: String,
    /// The tickets shown.
    pub tickets: Vec<TicketId>,
    /// When.
    pub time: DateTime<Utc>,
}

/// What one step of re-sealing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResealBatch {
    /// The greatest ticket id looked at: where the next step starts.
    /// `None` when there was nothing left.
    pub last: Option<TicketId>,
    /// Tickets under an old key (or in clear) that the step found.
    pub found: u32,
    /// Of those, the ones it re-sealed; the rest were rewritten by a
    /// transition meanwhile, under the current key already.
    pub resealed: u32,
}

/// The PII access log and key rotation.
#[async_trait]
pub trait PrivacyStore: Send + Sync + Debug {
    /// Log rows matching a query, newest first.
    async fn list_pii_access(&self, query: &PiiAccessQuery) -> StoreResult<Vec<PiiAccessRecord>>;

    /// Deletes up to `limit` log rows older than `before` (the oldest
    /// first); returns how many went.
    async fn purge_pii_access(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64>;

    /// Tickets whose caller data is not sealed under the store's current
    /// key: in clear from before encryption, or under an older key.
    async fn count_stale_pii(&self) -> StoreResult<i64>;

    /// Re-seals, under the current key, up to `limit` stale tickets with
    /// ids greater than `after`, in one transaction. Idempotent: tickets
    /// already under the current key are skipped, so a stopped rotation
    /// resumes by starting over, or after the last id it reported.
    async fn reseal_pii(&self, after: Option<TicketId>, limit: u32) -> StoreResult<ResealBatch>;
}
