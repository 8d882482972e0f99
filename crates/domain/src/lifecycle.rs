//! The ticket state machine: the only way a ticket changes.
//!
//! [`Ticket::apply`] checks the action against the current state, produces the
//! next ticket and the audit event that describes the change. Storage commits
//! both together or neither.
//!
//! The rules live by concern, in submodules: `intake` (acceptance,
//! numbering, corrections and the dispositions at intake), `dispatch`
//! (assignments, returns and their arbitration, who could see an old
//! event), `handling` (signing, notes, extensions, replies and their
//! review, callbacks, reopening, closing), `supervision` (reminders,
//! supervision orders, the deadline sweeper) and [`merge`] (duplicates
//! folded into a primary, 并单, and undone). Each adds its actions to the
//! private `Step`; this module holds the vocabulary ([`Action`],
//! [`Transition`]) and routes each action to its concern. Every change
//! records a typed [`EventKind`].

use chrono::{DateTime, Utc};

use std::sync::Arc;

use super::{
    access::Principal,
    error::DomainError,
    event::EventKind,
    ids::{TicketId, UnitId},
    ticket::{CloseReason, EmergencyService, LegalChannel, Satisfaction, Ticket, TicketEvent},
    timelimit::{TimeLimitPolicy, Timing},
};

mod dispatch;
mod handling;
mod intake;
pub mod merge;
mod supervision;

pub use dispatch::{Assignment, ReturnPolicy, ReturnWindow};
pub use handling::ReplyPolicy;
pub use intake::{IntakePatch, UPDATABLE_FIELDS};

/// Something a person does to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Correct intake fields.
    Update(IntakePatch),
    /// Answer at intake (直接办结).
    ResolveAtIntake {
        /// The answer given.
        answer: String,
        /// Knowledge-base articles the answer came from (bare ids, checked
        /// published by the service).
        article_ids: Vec<String>,
    },
    /// Hand to an emergency line.
    TransferEmergency {
        /// Which line.
        service: EmergencyService,
        /// What was handed over.
        note: String,
    },
    /// Decline; tell the legal channel.
    MarkNotAccepted {
        /// Which channel.
        channel: LegalChannel,
        /// What the caller was told.
        note: String,
    },
    /// Assign to a lead unit (派单).
    Dispatch(Assignment),
    /// The lead unit says the matter is not its responsibility (退单).
    Return {
        /// Why not.
        reason: String,
        /// The legal basis (职责依据) for it.
        legal_basis: String,
        /// Window and designation rules.
        policy: ReturnPolicy,
    },
    /// The centre decides on a return: approve (re-dispatch, or back to
    /// triage) or reject (back to the unit, clock not reset).
    ArbitrateReturn {
        /// `Some(assignment)` re-dispatches; `None` with `approve` sends it to triage.
        redispatch: Option<Assignment>,
        /// Approve or reject the return.
        approve: bool,
        /// The centre's note.
        note: String,
    },
    /// The lead unit asks for more time (延期), before the reply deadline.
    RequestExtension {
        /// Working days asked for.
        days: u32,
        /// Why.
        reason: String,
        /// Limits on extensions.
        policy: Arc<TimeLimitPolicy>,
    },
    /// The centre grants (possibly fewer days) or refuses an extension.
    DecideExtension {
        /// Grant or refuse.
        approve: bool,
        /// Working days granted; `None` grants what was asked.
        days: Option<u32>,
        /// The calendar to move the reply deadline on.
        timing: Timing,
        /// The centre's note.
        note: String,
    },
    /// The centre reminds the unit (催办).
    Urge {
        /// The reminder.
        note: String,
    },
    /// A formal supervision order (督办单) with its own response deadline.
    IssueSupervision {
        /// Why.
        reason: String,
        /// Respond by.
        response_deadline: DateTime<Utc>,
    },
    /// The lead unit answers the open supervision order.
    RespondToSupervision {
        /// The answer.
        text: String,
    },
    /// A lead or co-handling unit (or the centre) records progress.
    AddProgressNote {
        /// The note.
        text: String,
    },
    /// The lead unit acknowledges receipt.
    Sign,
    /// The lead unit submits its result.
    Reply {
        /// Result text.
        text: String,
        /// The unit contacted the citizen.
        contacted_citizen: bool,
        /// What happens next: review, and the callback window.
        after: ReplyPolicy,
    },
    /// The centre checks a reply before the callback (审核): approve it, or
    /// send an inadequate one back to the unit.
    ReviewReply {
        /// Approve the reply.
        approve: bool,
        /// The centre's note (the reason when sending back).
        note: String,
        /// On approval: when the callback must happen by.
        callback_deadline: Option<DateTime<Utc>>,
    },
    /// The centre reopens a ticket the citizen is dissatisfied with (重办):
    /// a new handling round with new deadlines, a bounded number of times.
    Reopen {
        /// The round's unit (usually the same lead unit) and timing.
        assignment: Assignment,
        /// Reopens allowed per ticket.
        max_reopens: i32,
    },
    /// The centre records the callback.
    RecordCallback {
        /// Rating.
        satisfaction: Satisfaction,
        /// Citizen says resolved.
        resolved: bool,
        /// Agent's note.
        comment: String,
    },
    /// The centre closes the ticket.
    Close {
        /// Why; `None` means completed after a satisfied callback.
        reason: Option<CloseReason>,
        /// Note.
        note: String,
    },
    /// This ticket is a duplicate of `primary` and is merged into it (并单);
    /// see [`merge::plan_merge`], which checks both sides.
    MergeInto {
        /// The surviving ticket.
        primary: TicketId,
        /// Why they are the same matter.
        reason: String,
    },
    /// This ticket is the primary that absorbs `duplicates`.
    AbsorbDuplicates {
        /// The duplicates merged.
        duplicates: Vec<TicketId>,
        /// Why they are the same matter.
        reason: String,
    },
    /// Undo this duplicate's merge: back to the state it was merged from.
    Unmerge,
    /// This primary lets `duplicate` go again (the other side of
    /// [`Action::Unmerge`]).
    ReleaseDuplicate {
        /// The duplicate taken back out.
        duplicate: TicketId,
    },
    /// The centre called back the caller of `duplicate`, merged into this
    /// ticket (the service checks the link).
    RecordMergedCallback {
        /// The merged duplicate whose caller was called.
        duplicate: TicketId,
        /// Rating.
        satisfaction: Satisfaction,
        /// Citizen says resolved.
        resolved: bool,
        /// What the caller said, if the agent noted anything.
        comment: Option<String>,
    },
}

/// Default number of dispatches after which a dispatch is a designation.
pub const DEFAULT_DESIGNATE_AFTER: i32 = 3;

impl Action {
    /// A manual dispatch to `unit` with no co-handlers and the default
    /// designation rule.
    pub fn dispatch(unit: UnitId, note: impl Into<String>) -> Self {
        Self::Dispatch(Assignment {
            unit,
            co_units: Vec::new(),
            note: note.into(),
            routing: None,
            designate_after: DEFAULT_DESIGNATE_AFTER,
            timing: None,
        })
    }

    /// The verb, used in events and error messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Update(_) => "update",
            Self::ResolveAtIntake { .. } => "resolve_at_intake",
            Self::TransferEmergency { .. } => "transfer_emergency",
            Self::MarkNotAccepted { .. } => "mark_not_accepted",
            Self::Dispatch(_) => "dispatch",
            Self::Return { .. } => "return",
            Self::ArbitrateReturn { .. } => "arbitrate_return",
            Self::AddProgressNote { .. } => "add_progress_note",
            Self::RequestExtension { .. } => "request_extension",
            Self::Urge { .. } => "urge",
            Self::IssueSupervision { .. } => "issue_supervision",
            Self::RespondToSupervision { .. } => "respond_to_supervision",
            Self::DecideExtension { .. } => "decide_extension",
            Self::Sign => "sign",
            Self::Reply { .. } => "reply",
            Self::ReviewReply { .. } => "review_reply",
            Self::Reopen { .. } => "reopen",
            Self::RecordCallback { .. } => "record_callback",
            Self::Close { .. } => "close",
            Self::MergeInto { .. } => "merge",
            Self::AbsorbDuplicates { .. } => "merge_into_primary",
            Self::Unmerge => "unmerge",
            Self::ReleaseDuplicate { .. } => "unmerge_from_primary",
            Self::RecordMergedCallback { .. } => "record_merged_callback",
        }
    }
}

/// The result of a legal action: the ticket after it and the event recording it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The ticket after the action, version bumped.
    pub ticket: Ticket,
    /// The audit event; its sequence equals the new version.
    pub event: TicketEvent,
    /// The co-handling units changed (storage rewrites its scope rows).
    pub co_units_changed: bool,
}

impl Ticket {
    /// Applies `action`, or explains why the current state forbids it.
    pub fn apply(
        &self,
        action: Action,
        actor: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Transition, DomainError> {
        let mut step = Step::new(self, action.verb(), actor, now);
        let kind = match &action {
            Action::Update(patch) => step.update(patch)?,
            Action::ResolveAtIntake {
                answer,
                article_ids,
            } => step.resolve_at_intake(answer, article_ids)?,
            Action::TransferEmergency { service, note } => {
                step.transfer_emergency(*service, note)?
            }
            Action::MarkNotAccepted { channel, note } => step.mark_not_accepted(*channel, note)?,
            Action::Dispatch(assignment) => step.dispatch(assignment)?,
            Action::Return {
                reason,
                legal_basis,
                policy,
            } => step.request_return(reason, legal_basis, policy)?,
            Action::ArbitrateReturn {
                redispatch,
                approve,
                note,
            } => step.arbitrate_return(redispatch.as_ref(), *approve, note)?,
            Action::RequestExtension {
                days,
                reason,
                policy,
            } => step.request_extension(*days, reason, policy)?,
            Action::DecideExtension {
                approve,
                days,
                timing,
                note,
            } => step.decide_extension(*approve, *days, timing, note)?,
            Action::Urge { note } => step.urge(note)?,
            Action::IssueSupervision {
                reason,
                response_deadline,
            } => step.issue_supervision(reason, *response_deadline)?,
            Action::RespondToSupervision { text } => step.respond_to_supervision(text)?,
            Action::AddProgressNote { text } => step.add_progress_note(text)?,
            Action::Sign => step.sign()?,
            Action::Reply {
                text,
                contacted_citizen,
                after,
            } => step.reply(text, *contacted_citizen, *after)?,
            Action::ReviewReply {
                approve,
                note,
                callback_deadline,
            } => step.review_reply(*approve, note, *callback_deadline)?,
            Action::Reopen {
                assignment,
                max_reopens,
            } => step.reopen(assignment, *max_reopens)?,
            Action::RecordCallback {
                satisfaction,
                resolved,
                comment,
            } => step.record_callback(*satisfaction, *resolved, comment)?,
            Action::Close { reason, note } => step.close(*reason, note)?,
            Action::MergeInto { primary, reason } => step.merge_into(*primary, reason)?,
            Action::AbsorbDuplicates { duplicates, reason } => {
                step.absorb_duplicates(duplicates, reason)?
            }
            Action::Unmerge => step.unmerge()?,
            Action::ReleaseDuplicate { duplicate } => step.release_duplicate(*duplicate)?,
            Action::RecordMergedCallback {
                duplicate,
                satisfaction,
                resolved,
                comment,
            } => step.record_merged_callback(*duplicate, *satisfaction, *resolved, comment)?,
        };
        Ok(step.finish(kind))
    }
}

/// One change being made: the ticket before it, the next ticket as the
/// concern's rules build it, and who acts when. Each concern checks its
/// preconditions against `before`, changes `next` and returns the event's
/// [`EventKind`]; [`Step::finish`] does the bookkeeping every change shares.
struct Step<'a> {
    /// The ticket as stored.
    before: &'a Ticket,
    /// The ticket after the change, being built.
    next: Ticket,
    /// The action's verb, for errors.
    verb: &'static str,
    /// Who acts.
    actor: &'a Principal,
    /// When.
    now: DateTime<Utc>,
}

impl<'a> Step<'a> {
    fn new(
        before: &'a Ticket,
        verb: &'static str,
        actor: &'a Principal,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            before,
            next: before.clone(),
            verb,
            actor,
            now,
        }
    }

    /// The current state forbids the action.
    fn illegal(&self) -> DomainError {
        DomainError::IllegalTransition {
            action: self.verb,
            state: self.before.state,
        }
    }

    /// The state rule `ok`, or [`Step::illegal`].
    fn require(&self, ok: bool) -> Result<(), DomainError> {
        if ok { Ok(()) } else { Err(self.illegal()) }
    }

    /// The lead unit before the change, which events name.
    fn lead_unit(&self) -> Option<UnitId> {
        self.before.lead_unit.clone()
    }

    /// Bumps the version, stamps the time and appends the event: its
    /// sequence is the new version.
    fn finish(self, kind: EventKind) -> Transition {
        let Self {
            before,
            mut next,
            actor,
            now,
            ..
        } = self;
        next.version += 1;
        next.update_time = now;
        let event = TicketEvent {
            ticket_id: before.id,
            sequence: next.version,
            kind,
            actor: actor.subject.clone(),
            actor_role: actor.role_label().into(),
            from_state: Some(before.state),
            to_state: next.state,
            time: now,
        };
        Transition {
            co_units_changed: next.co_units != before.co_units,
            ticket: next,
            event,
        }
    }
}

#[cfg(test)]
mod tests;
