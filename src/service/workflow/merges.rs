//! Merging duplicates (并单) and undoing it: the use cases over the domain's
//! merge rules (`domain::lifecycle::merge`). Every ticket a merge touches
//! is read, checked and written in one store transaction
//! ([`TicketStore::apply_ticket_changes`]), version-checked, so a ticket
//! changed meanwhile makes the whole merge a lost race (ABORTED) and merges
//! nothing.
//!
//! [`TicketStore::apply_ticket_changes`]: crate::store::TicketStore::apply_ticket_changes

use chrono::{DateTime, Utc};

use super::{RequestKey, Workflow, idempotency_key};
use crate::{
    domain::{
        EventKind, Principal, TicketId, Transition,
        access::Operation,
        lifecycle::merge::{self, Duplicate},
        metrics,
        ticket::{Satisfaction, Ticket, parse_text},
    },
    service::{ServiceError, error::at},
    store::{StoreError, TicketChange},
};

/// A request to merge duplicates into a primary.
#[derive(Debug)]
pub struct MergeRequest<'a> {
    /// The ticket that stays.
    pub primary: TicketId,
    /// The tickets folded into it.
    pub duplicates: Vec<TicketId>,
    /// Why they are the same matter.
    pub reason: &'a str,
    /// The client's etag of the primary, empty to skip the check.
    pub etag: &'a str,
    /// The client's idempotency key and the request's fingerprint.
    pub key: RequestKey,
}

/// A committed merge: the primary and the duplicates, as stored now.
#[derive(Debug)]
pub struct Merged {
    /// The primary.
    pub primary: Ticket,
    /// The duplicates, in request order.
    pub duplicates: Vec<Ticket>,
}

impl Workflow {
    /// Merges the duplicates into the primary (centre roles).
    pub async fn merge_tickets(
        &self,
        principal: &Principal,
        req: MergeRequest<'_>,
    ) -> Result<Merged, ServiceError> {
        principal.authorize(Operation::CentreDecision)?;
        let key = idempotency_key(principal, &req.key, "MergeTickets")?;
        if req.duplicates.is_empty() || req.duplicates.len() > merge::MAX_DUPLICATES {
            return Err(ServiceError::invalid(
                "duplicates",
                format!("name 1 to {} tickets", merge::MAX_DUPLICATES),
            ));
        }
        // The reason is the request's own: checked (again by the plan)
        // before any lookup, so a blank one is INVALID_ARGUMENT rather
        // than the NOT_FOUND of a ticket named beside it.
        at(
            parse_text(req.reason, true, merge::MAX_REASON_CHARS),
            "reason",
        )?;
        let primary = self.load_visible(principal, req.primary).await?;
        if let Some(primary) = self
            .replay(principal, key.as_ref(), Some(req.primary))
            .await?
        {
            return self.merged_now(principal, primary, &req.duplicates).await;
        }
        if !req.etag.is_empty() && req.etag != primary.etag() {
            return Err(ServiceError::EtagMismatch {
                current: primary.etag(),
            });
        }
        let mut duplicates = Vec::with_capacity(req.duplicates.len());
        for id in &req.duplicates {
            duplicates.push(self.load_visible(principal, *id).await?);
        }
        let mut has_duplicates = Vec::with_capacity(duplicates.len());
        for d in &duplicates {
            // Only an open ticket can have absorbed duplicates; others are
            // refused for their state before this matters.
            let absorbed =
                merge::primary_open(d.state) && !self.store().duplicates_of(d.id).await?.is_empty();
            has_duplicates.push(absorbed);
        }
        let offered: Vec<Duplicate<'_>> = duplicates
            .iter()
            .zip(has_duplicates)
            .map(|(ticket, has_duplicates)| Duplicate {
                ticket,
                has_duplicates,
            })
            .collect();
        let plan = merge::plan_merge(
            &primary,
            &offered,
            req.reason,
            principal,
            self.clock().now(),
        )?;
        let mut changes = vec![self.change(&primary, plan.primary)];
        for (before, t) in duplicates.iter().zip(plan.duplicates) {
            changes.push(self.change(before, t));
        }
        if !self
            .commit_changes(principal, &changes, key, req.primary)
            .await?
        {
            // A retry of this very request committed first.
            let primary = self.store().get_ticket(req.primary).await?;
            return self.merged_now(principal, primary, &req.duplicates).await;
        }
        let mut tickets = changes.into_iter().map(|c| c.transition.ticket);
        let primary = tickets.next().unwrap_or(primary);
        Ok(Merged {
            primary,
            duplicates: tickets.collect(),
        })
    }

    /// Undoes the merge of a duplicate before its primary is replied
    /// (centre roles, with both tickets in scope); returns the duplicate
    /// and the primary.
    pub async fn unmerge_ticket(
        &self,
        principal: &Principal,
        id: TicketId,
        etag: &str,
        request: &RequestKey,
    ) -> Result<(Ticket, Ticket), ServiceError> {
        principal.authorize(Operation::CentreDecision)?;
        let key = idempotency_key(principal, request, "UnmergeTicket")?;
        let duplicate = self.load_visible(principal, id).await?;
        if let Some(ticket) = self.replay(principal, key.as_ref(), Some(id)).await? {
            let primary = match ticket.merged_into {
                Some(link) => self.load_visible(principal, link.primary).await?,
                None => self.primary_of_unmerged(principal, &ticket).await?,
            };
            return Ok((ticket, primary));
        }
        if !etag.is_empty() && etag != duplicate.etag() {
            return Err(ServiceError::EtagMismatch {
                current: duplicate.etag(),
            });
        }
        let Some(link) = duplicate.merged_into else {
            return Err(ServiceError::Precondition {
                kind: "NOT_MERGED",
                message: format!("{} is not merged into another ticket", id.name()),
            });
        };
        // The primary changes too: it must be in the principal's scope, as
        // both sides of a merge must be.
        let primary = self.load_visible(principal, link.primary).await?;
        let (p, d) = merge::plan_unmerge(&primary, &duplicate, principal, self.clock().now())?;
        // The duplicate first: the idempotency record names it, as the
        // request does.
        let changes = vec![self.change(&duplicate, d), self.change(&primary, p)];
        if !self.commit_changes(principal, &changes, key, id).await? {
            // A retry of this very request committed first.
            let ticket = self.store().get_ticket(id).await?;
            let primary = self.store().get_ticket(link.primary).await?;
            return Ok((ticket, primary));
        }
        let mut tickets = changes.into_iter().map(|c| c.transition.ticket);
        match (tickets.next(), tickets.next()) {
            (Some(d), Some(p)) => Ok((d, p)),
            _ => Err(ServiceError::Internal("unmerge changed no ticket".into())),
        }
    }

    /// A callback for the caller of `duplicate` may be recorded on
    /// `primary` only if it is merged into it. The role is checked first:
    /// the answer tells whether tickets exist and are merged, which is
    /// only for those who record callbacks.
    pub async fn check_merged_caller(
        &self,
        principal: &Principal,
        primary: TicketId,
        duplicate: TicketId,
    ) -> Result<(), ServiceError> {
        principal.authorize(Operation::Intake)?;
        let merged = self
            .store()
            .get_ticket(duplicate)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => ServiceError::invalid(
                    "merged_caller",
                    format!("{} does not exist", duplicate.name()),
                ),
                other => other.into(),
            })?;
        if merged.merged_into.is_some_and(|l| l.primary == primary) {
            Ok(())
        } else {
            Err(ServiceError::Precondition {
                kind: "NOT_MERGED",
                message: format!("{} is not merged into {}", duplicate.name(), primary.name()),
            })
        }
    }

    /// The latest callback of each merged caller of `primary`, from its
    /// trail: (duplicate, rating, resolved, when).
    pub async fn merged_callbacks(
        &self,
        primary: TicketId,
    ) -> Result<Vec<(TicketId, Satisfaction, bool, DateTime<Utc>)>, ServiceError> {
        let events = self.store().list_events(primary, 0, u32::MAX).await?;
        let mut latest: Vec<(TicketId, Satisfaction, bool, DateTime<Utc>)> = Vec::new();
        for e in events {
            if let EventKind::MergedCallerCalledBack(c) = e.kind {
                latest.retain(|(d, ..)| *d != c.duplicate);
                latest.push((c.duplicate, c.satisfaction, c.resolved, e.time));
            }
        }
        Ok(latest)
    }

    /// The tickets merged into `primary` (none for a ticket that is not one).
    pub async fn merged_tickets(&self, primary: &Ticket) -> Result<Vec<Ticket>, ServiceError> {
        if primary.merged_into.is_some() {
            // A merged ticket is never a primary (merges do not chain).
            return Ok(Vec::new());
        }
        Ok(self.store().duplicates_of(primary.id).await?)
    }

    /// One ticket's change with its counter changes.
    fn change(&self, before: &Ticket, transition: Transition) -> TicketChange {
        TicketChange {
            expected_version: before.version,
            counters: metrics::deltas(Some(before), &transition, self.centre_offset),
            transition,
        }
    }

    /// Commits the changes: `true` when they were committed, `false` when
    /// a retry of the same request (same `request_id`) committed first; a
    /// race lost to anything else is a conflict.
    async fn commit_changes(
        &self,
        principal: &Principal,
        changes: &[TicketChange],
        key: Option<crate::store::IdempotencyKey>,
        named: TicketId,
    ) -> Result<bool, ServiceError> {
        // Whatever the outcome, the copies this replica's verbs would start
        // from are out of date (or may be): the next verb reads them.
        for change in changes {
            self.tickets.forget(change.transition.ticket.id);
        }
        match self
            .store()
            .apply_ticket_changes(changes, key.clone())
            .await
        {
            Ok(()) => {
                self.committed();
                Ok(true)
            }
            Err(StoreError::Conflict(what) | StoreError::AlreadyExists(what)) => {
                if self
                    .replay(principal, key.as_ref(), Some(named))
                    .await?
                    .is_some()
                {
                    return Ok(false);
                }
                Err(ServiceError::Conflict(format!(
                    "{what}; nothing was changed, read the tickets again"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A replayed merge: the primary and the named duplicates as they are now.
    async fn merged_now(
        &self,
        principal: &Principal,
        primary: Ticket,
        ids: &[TicketId],
    ) -> Result<Merged, ServiceError> {
        let mut duplicates = Vec::with_capacity(ids.len());
        for id in ids {
            duplicates.push(self.load_visible(principal, *id).await?);
        }
        Ok(Merged {
            primary,
            duplicates,
        })
    }

    /// The primary a replayed unmerge released, from the duplicate's trail.
    async fn primary_of_unmerged(
        &self,
        principal: &Principal,
        ticket: &Ticket,
    ) -> Result<Ticket, ServiceError> {
        let events = self.store().list_events(ticket.id, 0, u32::MAX).await?;
        let primary = events.iter().rev().find_map(|e| match &e.kind {
            EventKind::Unmerged(u) => Some(u.primary),
            _ => None,
        });
        match primary {
            Some(id) => self.load_visible(principal, id).await,
            None => Err(ServiceError::Internal(format!(
                "{} has no unmerged event",
                ticket.id.name()
            ))),
        }
    }
}
