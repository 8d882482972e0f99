//! Handling: what the lead unit does with a round (sign, notes,
//! extensions, reply) and what the centre does after it (review, callback,
//! reopen, close).

use chrono::{DateTime, Utc};

use super::{Assignment, Step};
use crate::{
    error::DomainError,
    event::{
        CallbackRecorded, Closed, EventKind, ExtensionApproved, ExtensionRejected,
        ExtensionRequested, ProgressNoted, Reopened, Replied, ReplyReviewed, Signed,
    },
    ticket::{CloseReason, Outcome, PendingExtension, Satisfaction, Ticket, TicketState},
    timelimit::{Limit, TimeLimitPolicy, Timing, warning_time},
};

/// What a reply leads to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyPolicy {
    /// The centre reviews replies before the callback (reply → `replied`).
    pub review: bool,
    /// When the callback must happen by; past it the sweeper closes the
    /// ticket as not rated. `None`: no limit.
    pub callback_deadline: Option<DateTime<Utc>>,
}

impl Step<'_> {
    /// A lead or co-handling unit (or the centre) records progress.
    pub(super) fn add_progress_note(&mut self, text: &str) -> Result<EventKind, DomainError> {
        use TicketState as S;
        self.require(matches!(self.before.state, S::Dispatched | S::InProgress))?;
        Ok(EventKind::ProgressNoted(ProgressNoted {
            text: text.to_owned(),
        }))
    }

    /// The lead unit acknowledges receipt.
    pub(super) fn sign(&mut self) -> Result<EventKind, DomainError> {
        self.require(self.before.state == TicketState::Dispatched)?;
        self.next.state = TicketState::InProgress;
        self.next.sign_time = Some(self.now);
        Ok(EventKind::Signed(Signed {
            unit: self.lead_unit(),
        }))
    }

    /// The lead unit asks for more time, before the reply deadline.
    pub(super) fn request_extension(
        &mut self,
        days: u32,
        reason: &str,
        policy: &TimeLimitPolicy,
    ) -> Result<EventKind, DomainError> {
        use TicketState as S;
        self.require(matches!(self.before.state, S::Dispatched | S::InProgress))?;
        self.before.check_extendable(days, policy, self.now)?;
        self.next.pending_extension = Some(PendingExtension {
            days,
            reason: reason.to_owned(),
            time: self.now,
        });
        Ok(EventKind::ExtensionRequested(ExtensionRequested {
            days,
            reason: reason.to_owned(),
        }))
    }

    /// The centre grants (possibly fewer days) or refuses the waiting
    /// extension; a grant moves the reply deadline and re-arms its alerts.
    pub(super) fn decide_extension(
        &mut self,
        approve: bool,
        days: Option<u32>,
        timing: &Timing,
        note: &str,
    ) -> Result<EventKind, DomainError> {
        use TicketState as S;
        self.require(matches!(self.before.state, S::Dispatched | S::InProgress))?;
        let pending = self.before.pending_extension.clone().ok_or_else(|| {
            DomainError::PreconditionFailed {
                kind: "NO_EXTENSION_PENDING",
                message: "no extension request is waiting for a decision".into(),
            }
        })?;
        let next = &mut self.next;
        next.pending_extension = None;
        if !approve {
            return Ok(EventKind::ExtensionRejected(ExtensionRejected {
                days: pending.days,
                note: note.to_owned(),
            }));
        }
        let granted = days.unwrap_or(pending.days);
        if granted == 0 || granted > timing.policy.max_extension_days {
            return Err(DomainError::invalid(
                "days",
                format!(
                    "must be 1..={} working days",
                    timing.policy.max_extension_days
                ),
            ));
        }
        let mut deadlines =
            self.before
                .deadlines
                .ok_or_else(|| DomainError::PreconditionFailed {
                    kind: "NO_DEADLINE",
                    message: "the ticket has no deadline to extend".into(),
                })?;
        deadlines.reply = timing
            .calendar
            .add_working_days(deadlines.reply.at, granted);
        deadlines.warn_at = warning_time(
            &timing.calendar,
            Limit::WorkingDays(granted),
            self.now,
            deadlines.reply.at,
        );
        next.deadlines = Some(deadlines);
        next.extensions_granted += 1;
        next.alerts.warned = false;
        next.alerts.overdue = false;
        Ok(EventKind::ExtensionApproved(ExtensionApproved {
            days: granted,
            reply_deadline: deadlines.reply.at,
            calendar_version: deadlines.reply.calendar_version,
            note: note.to_owned(),
        }))
    }

    /// The lead unit submits its result: to the centre's review, or
    /// straight to the callback.
    pub(super) fn reply(
        &mut self,
        text: &str,
        contacted_citizen: bool,
        after: ReplyPolicy,
    ) -> Result<EventKind, DomainError> {
        use TicketState as S;
        self.require(self.before.state == S::InProgress)?;
        let next = &mut self.next;
        next.state = if after.review {
            S::Replied
        } else {
            S::AwaitingCallback
        };
        next.callback_deadline = if after.review {
            None
        } else {
            after.callback_deadline
        };
        next.outcome.reply = Some(text.to_owned());
        next.outcome.reply_contacted_citizen = Some(contacted_citizen);
        next.outcome.reply_time = Some(self.now);
        Ok(EventKind::Replied(Replied {
            unit: self.lead_unit(),
            contacted_citizen,
        }))
    }

    /// The centre approves a reply for the callback, or sends it back.
    pub(super) fn review_reply(
        &mut self,
        approve: bool,
        note: &str,
        callback_deadline: Option<DateTime<Utc>>,
    ) -> Result<EventKind, DomainError> {
        use TicketState as S;
        let reviewed = ReplyReviewed {
            note: note.to_owned(),
        };
        if approve {
            self.require(self.before.state == S::Replied)?;
            self.next.state = S::AwaitingCallback;
            self.next.callback_deadline = callback_deadline;
            return Ok(EventKind::ReplyApproved(reviewed));
        }
        self.require(matches!(
            self.before.state,
            S::Replied | S::AwaitingCallback
        ))?;
        let next = &mut self.next;
        next.state = S::InProgress;
        next.callback_deadline = None;
        next.outcome.reply = None;
        next.outcome.reply_contacted_citizen = None;
        next.outcome.reply_time = None;
        Ok(EventKind::ReplySentBack(reviewed))
    }

    /// A new handling round for a dissatisfied citizen (重办), a bounded
    /// number of times.
    pub(super) fn reopen(
        &mut self,
        assignment: &Assignment,
        max_reopens: i32,
    ) -> Result<EventKind, DomainError> {
        self.require(self.before.state == TicketState::Dissatisfied)?;
        if self.before.reopen_count >= max_reopens {
            return Err(DomainError::PreconditionFailed {
                kind: "REOPEN_LIMIT",
                message: format!("a ticket may be reopened at most {max_reopens} time(s)"),
            });
        }
        let next = &mut self.next;
        let round = next.assign(assignment, self.now);
        next.reopen_count += 1;
        next.callback_deadline = None;
        next.outcome = Outcome::default();
        Ok(EventKind::Reopened(Reopened {
            round,
            reopen_count: next.reopen_count,
            previous_satisfaction: self.before.outcome.satisfaction,
        }))
    }

    /// The centre records the callback's rating.
    pub(super) fn record_callback(
        &mut self,
        satisfaction: Satisfaction,
        resolved: bool,
        comment: &str,
    ) -> Result<EventKind, DomainError> {
        use TicketState as S;
        self.require(self.before.state == S::AwaitingCallback)?;
        let next = &mut self.next;
        next.callback_deadline = None;
        next.state = if satisfaction.is_dissatisfied() {
            S::Dissatisfied
        } else {
            S::CallbackDone
        };
        next.outcome.satisfaction = Some(satisfaction);
        next.outcome.resolved = Some(resolved);
        next.outcome.callback_comment = Some(comment.to_owned());
        next.outcome.callback_time = Some(self.now);
        Ok(EventKind::CallbackRecorded(CallbackRecorded {
            satisfaction,
            resolved,
        }))
    }

    /// The centre closes the ticket, for a reason its state admits.
    pub(super) fn close(
        &mut self,
        reason: Option<CloseReason>,
        note: &str,
    ) -> Result<EventKind, DomainError> {
        let reason = close_reason(self.before.state, reason).ok_or_else(|| self.illegal())?;
        self.next.state = TicketState::Closed;
        self.next.outcome.close_reason = Some(reason);
        Ok(EventKind::Closed(Closed {
            reason,
            note: Some(note.to_owned()),
            callback_deadline: None,
        }))
    }
}

impl Ticket {
    /// An extension needs a deadline still ahead, no request already waiting,
    /// and room under the policy's count and day caps.
    fn check_extendable(
        &self,
        days: u32,
        policy: &TimeLimitPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let refuse =
            |kind: &'static str, message: String| DomainError::PreconditionFailed { kind, message };
        if days == 0 || days > policy.max_extension_days {
            return Err(DomainError::invalid(
                "days",
                format!("must be 1..={} working days", policy.max_extension_days),
            ));
        }
        if self.pending_extension.is_some() {
            return Err(refuse(
                "EXTENSION_PENDING",
                "an extension request is already waiting".into(),
            ));
        }
        if u32::try_from(self.extensions_granted).unwrap_or(u32::MAX) >= policy.max_extensions {
            return Err(refuse(
                "EXTENSION_LIMIT",
                format!(
                    "at most {} extension(s) per handling round",
                    policy.max_extensions
                ),
            ));
        }
        match self.deadlines {
            Some(d) if now < d.reply.at => Ok(()),
            Some(d) => Err(refuse(
                "EXTENSION_TOO_LATE",
                format!(
                    "extensions must be asked before the reply deadline {}",
                    d.reply.at.to_rfc3339()
                ),
            )),
            None => Err(refuse(
                "NO_DEADLINE",
                "the ticket has no deadline to extend".into(),
            )),
        }
    }
}

/// Which close reasons each state admits: a satisfied callback closes as
/// completed; a dissatisfied citizen's ticket closes only with a stated reason
/// (re-handling comes with the evaluation issue); an unanswered callback
/// closes as not rated.
fn close_reason(state: TicketState, asked: Option<CloseReason>) -> Option<CloseReason> {
    use CloseReason as R;
    use TicketState as S;
    match (state, asked) {
        (S::CallbackDone, None | Some(R::Completed)) => Some(R::Completed),
        (S::Dissatisfied, Some(r @ (R::UnreasonableDemand | R::Withdrawn))) => Some(r),
        (S::AwaitingCallback, Some(r @ (R::NotRated | R::Withdrawn))) => Some(r),
        _ => None,
    }
}
