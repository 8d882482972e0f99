//! Merging duplicates (并单): the same matter reported by several callers is
//! handled once, on a *primary* ticket; the *duplicates* close as
//! [`TicketState::Merged`] with close reason [`CloseReason::Merged`] and a
//! link to the primary, and the primary records which duplicates it
//! answers for (their callers are called back with it).
//!
//! The rules that involve both sides live in [`plan_merge`] and
//! [`plan_unmerge`]; each side's change is an ordinary [`Action`] through
//! [`Ticket::apply`], so every change is versioned and audited like any
//! other. The rules:
//!
//! * the primary is still being handled and not yet replied
//!   ([`primary_open`]): a replied primary's answer did not consider the
//!   duplicates' callers;
//! * a duplicate is open and not replied ([`duplicate_open`]): a duplicate
//!   with a reply or a return waiting has its own outcome to settle first;
//! * no self-merge, no ticket twice, and no chains: a primary is never
//!   itself merged (its state says so), and a ticket that already absorbed
//!   duplicates is not merged into another (the caller must unmerge first,
//!   so a caller is never two links away from the ticket that answers);
//! * a merge is undone only while the primary is still [`primary_open`],
//!   and restores the duplicate's state from before the merge.
//!
//! * every caller is called back: once the primary is replied, the
//!   callback of each merged caller is recorded on the primary's trail
//!   ([`Action::RecordMergedCallback`], event `merged_caller_called_back`
//!   naming the duplicate); only the primary's own caller's rating counts
//!   in the scorecards (one rating per matter).
//!
//! Errors name the offending ticket, so a console can point at it.

use chrono::{DateTime, Utc};

use super::{Action, Step, Transition};
use crate::{
    access::Principal,
    error::DomainError,
    event::{EventKind, MergedCallerCalledBack, MergedFrom, MergedInto, Unmerged, UnmergedFrom},
    ids::TicketId,
    ticket::{CloseReason, MergeLink, Satisfaction, Ticket, TicketState, parse_text},
};

/// At most this many duplicates per merge: a merge is one transaction over
/// every ticket, and a real duplicate cluster is a handful of calls.
pub const MAX_DUPLICATES: usize = 50;

/// Longest merge reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Whether a ticket in `state` may absorb duplicates, or release one: still
/// being handled and not yet replied.
pub fn primary_open(state: TicketState) -> bool {
    use TicketState as S;
    matches!(
        state,
        S::PendingDispatch | S::Dispatched | S::InProgress | S::ReturnRequested
    )
}

/// Whether a ticket in `state` may be merged into a primary: open, not
/// replied, and no return waiting for arbitration.
pub fn duplicate_open(state: TicketState) -> bool {
    use TicketState as S;
    matches!(state, S::PendingDispatch | S::Dispatched | S::InProgress)
}

/// A ticket offered as a duplicate, with what only the store knows of it:
/// whether other tickets are merged into it.
#[derive(Debug, Clone, Copy)]
pub struct Duplicate<'a> {
    /// The ticket as stored.
    pub ticket: &'a Ticket,
    /// Other tickets are merged into this one (it is a primary).
    pub has_duplicates: bool,
}

/// The changes one merge makes: the primary's and each duplicate's, in the
/// order of the request. Storage commits them all or none.
#[derive(Debug, Clone, PartialEq)]
pub struct MergePlan {
    /// The primary after absorbing the duplicates.
    pub primary: Transition,
    /// Each duplicate, merged.
    pub duplicates: Vec<Transition>,
}

/// The state rule for a ticket in a merge, naming it when it fails.
fn state_rule(
    ticket: &Ticket,
    role: &str,
    ok: fn(TicketState) -> bool,
    allowed: &str,
) -> Result<(), DomainError> {
    if ok(ticket.state) {
        return Ok(());
    }
    Err(DomainError::PreconditionFailed {
        kind: "TICKET_STATE",
        message: format!(
            "{} ({role}) is in state {}; a {role} must be {allowed}",
            ticket.id.name(),
            ticket.state
        ),
    })
}

const PRIMARY_STATES: &str = "pending_dispatch, dispatched, in_progress or return_requested";
const DUPLICATE_STATES: &str = "pending_dispatch, dispatched or in_progress";

/// Checks a merge of `duplicates` into `primary` and builds every change,
/// or explains (naming the ticket) why it is refused.
pub fn plan_merge(
    primary: &Ticket,
    duplicates: &[Duplicate<'_>],
    reason: &str,
    actor: &Principal,
    now: DateTime<Utc>,
) -> Result<MergePlan, DomainError> {
    let reason = parse_text(reason, true, MAX_REASON_CHARS).map_err(|e| e.within("reason"))?;
    if duplicates.is_empty() {
        return Err(DomainError::invalid(
            "duplicates",
            "name at least one ticket",
        ));
    }
    if duplicates.len() > MAX_DUPLICATES {
        return Err(DomainError::invalid(
            "duplicates",
            format!("at most {MAX_DUPLICATES} tickets per merge"),
        ));
    }
    let mut seen = Vec::with_capacity(duplicates.len());
    for (i, d) in duplicates.iter().enumerate() {
        let id = d.ticket.id;
        if id == primary.id {
            return Err(DomainError::invalid(
                format!("duplicates[{i}]"),
                format!(
                    "{} is the primary: a ticket cannot be merged into itself",
                    id.name()
                ),
            ));
        }
        if seen.contains(&id) {
            return Err(DomainError::invalid(
                format!("duplicates[{i}]"),
                format!("{} is named twice", id.name()),
            ));
        }
        seen.push(id);
    }
    state_rule(primary, "primary", primary_open, PRIMARY_STATES)?;
    for d in duplicates {
        state_rule(d.ticket, "duplicate", duplicate_open, DUPLICATE_STATES)?;
        if d.has_duplicates {
            return Err(DomainError::PreconditionFailed {
                kind: "MERGE_CHAIN",
                message: format!(
                    "{} has duplicates merged into it; unmerge them first (merges do not chain)",
                    d.ticket.id.name()
                ),
            });
        }
    }
    let merged = duplicates
        .iter()
        .map(|d| {
            let action = Action::MergeInto {
                primary: primary.id,
                reason: reason.clone(),
            };
            d.ticket.apply(action, actor, now)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let absorb = Action::AbsorbDuplicates {
        duplicates: seen,
        reason,
    };
    Ok(MergePlan {
        primary: primary.apply(absorb, actor, now)?,
        duplicates: merged,
    })
}

/// Checks that `duplicate` is merged into `primary` and that the merge can
/// still be undone; returns the primary's and the duplicate's changes.
pub fn plan_unmerge(
    primary: &Ticket,
    duplicate: &Ticket,
    actor: &Principal,
    now: DateTime<Utc>,
) -> Result<(Transition, Transition), DomainError> {
    let linked = duplicate
        .merged_into
        .is_some_and(|link| link.primary == primary.id);
    if !linked {
        return Err(DomainError::PreconditionFailed {
            kind: "NOT_MERGED",
            message: format!(
                "{} is not merged into {}",
                duplicate.id.name(),
                primary.id.name()
            ),
        });
    }
    if !primary_open(primary.state) {
        return Err(DomainError::PreconditionFailed {
            kind: "TICKET_STATE",
            message: format!(
                "{} (primary) is in state {}; a merge is undone only before the primary is replied",
                primary.id.name(),
                primary.state
            ),
        });
    }
    let release = Action::ReleaseDuplicate {
        duplicate: duplicate.id,
    };
    Ok((
        primary.apply(release, actor, now)?,
        duplicate.apply(Action::Unmerge, actor, now)?,
    ))
}

impl Step<'_> {
    /// This ticket, a duplicate, closes as merged into `primary`.
    pub(super) fn merge_into(
        &mut self,
        primary: TicketId,
        reason: &str,
    ) -> Result<EventKind, DomainError> {
        self.require(duplicate_open(self.before.state) && self.before.id != primary)?;
        let next = &mut self.next;
        next.merged_into = Some(MergeLink {
            primary,
            from_state: self.before.state,
            time: self.now,
        });
        next.state = TicketState::Merged;
        next.outcome.close_reason = Some(CloseReason::Merged);
        Ok(EventKind::MergedInto(MergedInto {
            primary,
            unit: self.lead_unit(),
            reason: reason.to_owned(),
        }))
    }

    /// This ticket, the primary, records the duplicates it answers for.
    pub(super) fn absorb_duplicates(
        &mut self,
        duplicates: &[TicketId],
        reason: &str,
    ) -> Result<EventKind, DomainError> {
        self.require(primary_open(self.before.state) && !duplicates.is_empty())?;
        Ok(EventKind::MergedFrom(MergedFrom {
            duplicates: duplicates.to_vec(),
            reason: reason.to_owned(),
        }))
    }

    /// This merged duplicate goes back to the state it was merged from.
    pub(super) fn unmerge(&mut self) -> Result<EventKind, DomainError> {
        let link = match (self.before.state, self.before.merged_into) {
            (TicketState::Merged, Some(link)) => link,
            _ => return Err(self.illegal()),
        };
        let next = &mut self.next;
        next.merged_into = None;
        next.state = link.from_state;
        next.outcome.close_reason = None;
        Ok(EventKind::Unmerged(Unmerged {
            primary: link.primary,
            restored: link.from_state,
        }))
    }

    /// The caller of a duplicate merged into this primary was called back:
    /// after the reply, like the primary's own callback (and also once the
    /// primary's own caller rated it). Also after the primary closed with a
    /// reply standing — by the centre, or by the sweeper when its own
    /// callback window passed: each merged caller is still owed a call, and
    /// closing the primary must not make it impossible to record.
    pub(super) fn record_merged_callback(
        &mut self,
        duplicate: TicketId,
        satisfaction: Satisfaction,
        resolved: bool,
        comment: &Option<String>,
    ) -> Result<EventKind, DomainError> {
        use TicketState as S;
        let replied_and_closed =
            self.before.state == S::Closed && self.before.outcome.reply_time.is_some();
        self.require(
            replied_and_closed
                || matches!(
                    self.before.state,
                    S::AwaitingCallback | S::CallbackDone | S::Dissatisfied
                ),
        )?;
        Ok(EventKind::MergedCallerCalledBack(MergedCallerCalledBack {
            duplicate,
            satisfaction,
            resolved,
            comment: comment.clone(),
        }))
    }

    /// This primary lets a duplicate go.
    pub(super) fn release_duplicate(
        &mut self,
        duplicate: TicketId,
    ) -> Result<EventKind, DomainError> {
        self.require(primary_open(self.before.state))?;
        Ok(EventKind::UnmergedFrom(UnmergedFrom { duplicate }))
    }
}
