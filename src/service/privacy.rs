//! Privacy use cases: recording who saw callers unmasked, the auditors'
//! reading of that log (itself recorded), its retention, and re-sealing
//! caller data after a key rotation (`hotline keys rotate`).

use chrono::{DateTime, Utc};

use super::{ServiceError, Workflow, retention::purge_older_than};
use crate::{
    domain::{Principal, Role, TicketId, access::Operation},
    store::{PiiAccess, PiiAccessQuery, PiiAccessRecord, ResealBatch, Store},
};

/// Why caller data was shown: the `purpose` of a log row.
pub mod purpose {
    /// One ticket read with its caller unmasked (`GetTicket`).
    pub const TICKET_VIEW: &str = "ticket_view";
    /// A caller's earlier tickets, for the agent on the line (`LookupCaller`).
    pub const CALLER_LOOKUP: &str = "caller_lookup";
    /// An auditor reading the access log (`ListPiiAccess`).
    pub const ACCESS_AUDIT: &str = "access_audit";
    /// A webhook body carrying a caller, sent to a subscription allowed
    /// caller data (the reader is `webhook:{subscription}`).
    pub const WEBHOOK_DELIVERY: &str = "webhook_delivery";
}

impl Workflow {
    /// Records that `principal` saw the callers of `tickets` unmasked: one
    /// row for the call, however many tickets it showed.
    pub async fn record_pii_read(
        &self,
        principal: &Principal,
        tickets: &[TicketId],
        rpc: &'static str,
        purpose: &'static str,
    ) -> Result<(), ServiceError> {
        let access = PiiAccess {
            subject: principal.subject.clone(),
            role: principal.role_label().to_owned(),
            rpc,
            purpose,
            tickets: tickets.to_vec(),
            time: self.clock().now(),
        };
        Ok(self.store().record_pii_access(&access).await?)
    }

    /// Records that `principal` saw one ticket's caller unmasked.
    pub async fn audit_pii_view(
        &self,
        principal: &Principal,
        id: TicketId,
        rpc: &'static str,
    ) -> Result<(), ServiceError> {
        self.record_pii_read(principal, &[id], rpc, purpose::TICKET_VIEW)
            .await
    }

    /// A page of the PII access log, for auditors and the centre admin.
    /// The read is itself recorded first (as the auditor, naming the ticket
    /// asked about, if any), so no one reads the log unseen; a ticket that
    /// does not exist is NOT_FOUND.
    pub async fn list_pii_access(
        &self,
        principal: &Principal,
        query: &PiiAccessQuery,
    ) -> Result<Vec<PiiAccessRecord>, ServiceError> {
        principal.authorize(Operation::AuditPiiAccess)?;
        let access = PiiAccess {
            subject: principal.subject.clone(),
            // The role that allows the read, whichever the token lists first.
            role: if principal.has(Role::Auditor) {
                Role::Auditor.to_string()
            } else {
                principal.role_label().to_owned()
            },
            rpc: "ListPiiAccess",
            purpose: purpose::ACCESS_AUDIT,
            tickets: query.ticket.into_iter().collect(),
            time: self.clock().now(),
        };
        self.store().record_pii_access(&access).await?;
        Ok(self.store().list_pii_access(query).await?)
    }

    /// Deletes log rows older than `retention_days` before `now`; returns
    /// how many went. 0 days keeps everything.
    pub async fn purge_pii_access(
        &self,
        now: DateTime<Utc>,
        retention_days: u32,
    ) -> Result<u64, ServiceError> {
        let store = self.store();
        purge_older_than(now, retention_days, |cutoff, limit| {
            store.purge_pii_access(cutoff, limit)
        })
        .await
    }
}

/// Re-seals every ticket not under the store's current key, `batch` per
/// transaction, calling `progress` with each step's result. Resumable:
/// run again after a stop, it finds only what is left.
pub async fn reseal_all(
    store: &dyn Store,
    batch: u32,
    mut progress: impl FnMut(&ResealBatch),
) -> Result<u64, ServiceError> {
    let mut after = None;
    let mut resealed = 0;
    loop {
        let step = store.reseal_pii(after, batch.max(1)).await?;
        progress(&step);
        resealed += u64::from(step.resealed);
        match step.last {
            Some(last) => after = Some(last),
            None => return Ok(resealed),
        }
    }
}
