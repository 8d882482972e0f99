//! Dispatch: the assignment that starts a handling round, returns (退单)
//! and the centre's arbitration, and who could see the ticket when an old
//! event happened.

use chrono::{DateTime, TimeDelta, Utc};

use std::sync::Arc;

use super::Step;
use crate::{
    calendar::Calendar,
    error::DomainError,
    event::{Assigned, EventKind, ReturnApproved, ReturnRejected, ReturnRequested, RoundDeadlines},
    ids::UnitId,
    ticket::{Alerts, PendingReturn, RoutingRef, Ticket, TicketEvent, TicketState},
    timelimit::{Limit, Timing},
};

/// Where a ticket is sent and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Lead unit.
    pub unit: UnitId,
    /// Co-handling units.
    pub co_units: Vec<UnitId>,
    /// Why (shown to the unit).
    pub note: String,
    /// The rule that chose it, for automatic dispatch.
    pub routing: Option<RoutingRef>,
    /// From this dispatch count on, a dispatch is a designation (指定) that
    /// cannot be returned (default 3).
    pub designate_after: i32,
    /// How to compute the round's deadlines; `None` leaves them unset.
    pub timing: Option<Timing>,
}

/// When a unit may return a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnPolicy {
    /// How long after dispatch a return is accepted.
    pub window: ReturnWindow,
}

impl ReturnPolicy {
    /// A window of natural time.
    pub fn natural(window: TimeDelta) -> Self {
        Self {
            window: ReturnWindow::Natural(window),
        }
    }
}

/// The return window: natural time, or a limit on the working-day calendar
/// (default 1 working day, DOMAIN.md §2).
#[derive(Debug, Clone)]
pub enum ReturnWindow {
    /// A fixed span of natural time.
    Natural(TimeDelta),
    /// A limit such as `1wd`, counted on a calendar from the dispatch.
    Calendar(Limit, Arc<Calendar>),
}

impl ReturnWindow {
    /// When the window opened at `opened` closes.
    pub fn closes(&self, opened: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Natural(span) => opened
                .checked_add_signed(*span)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            Self::Calendar(limit, calendar) => limit.deadline(calendar, opened).at,
        }
    }
}

impl PartialEq for ReturnWindow {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Natural(a), Self::Natural(b)) => a == b,
            (Self::Calendar(a, ca), Self::Calendar(b, cb)) => {
                a == b && ca.version() == cb.version()
            }
            _ => false,
        }
    }
}

impl Eq for ReturnWindow {}

impl Step<'_> {
    /// Assigns a ticket waiting in triage (派单).
    pub(super) fn dispatch(&mut self, assignment: &Assignment) -> Result<EventKind, DomainError> {
        self.require(self.before.state == TicketState::PendingDispatch)?;
        Ok(EventKind::Dispatched(
            self.next.assign(assignment, self.now),
        ))
    }

    /// The lead unit says the matter is not its responsibility.
    pub(super) fn request_return(
        &mut self,
        reason: &str,
        legal_basis: &str,
        policy: &ReturnPolicy,
    ) -> Result<EventKind, DomainError> {
        use TicketState as S;
        self.require(matches!(self.before.state, S::Dispatched | S::InProgress))?;
        self.before.check_returnable(policy, self.now)?;
        self.next.state = S::ReturnRequested;
        self.next.pending_return = Some(PendingReturn {
            from: self.before.state,
            reason: reason.to_owned(),
            legal_basis: legal_basis.to_owned(),
            time: self.now,
        });
        Ok(EventKind::ReturnRequested(ReturnRequested {
            unit: self.lead_unit(),
            reason: reason.to_owned(),
            legal_basis: legal_basis.to_owned(),
        }))
    }

    /// The centre decides on a return: approve with a re-dispatch, approve
    /// back to triage, or reject (back to the state it came from).
    pub(super) fn arbitrate_return(
        &mut self,
        redispatch: Option<&Assignment>,
        approve: bool,
        note: &str,
    ) -> Result<EventKind, DomainError> {
        self.require(self.before.state == TicketState::ReturnRequested)?;
        let pending = self
            .before
            .pending_return
            .clone()
            .ok_or_else(|| self.illegal())?;
        let returned_by = self.lead_unit();
        let arbitration_note = note.to_owned();
        let next = &mut self.next;
        next.pending_return = None;
        Ok(match (approve, redispatch) {
            (true, Some(assignment)) => EventKind::ReturnApproved(ReturnApproved {
                returned_by,
                arbitration_note,
                redispatch: Some(next.assign(assignment, self.now)),
            }),
            (true, None) => {
                next.state = TicketState::PendingDispatch;
                next.lead_unit = None;
                next.co_units.clear();
                next.designated = false;
                next.dispatch_time = None;
                next.routing = None;
                EventKind::ReturnApproved(ReturnApproved {
                    returned_by,
                    arbitration_note,
                    redispatch: None,
                })
            }
            (false, _) => {
                next.state = pending.from;
                EventKind::ReturnRejected(ReturnRejected {
                    returned_by,
                    arbitration_note,
                })
            }
        })
    }
}

impl Ticket {
    /// This ticket with the fields that decide who may see it (lead unit,
    /// co-handling units, state) as they stood after the last event of
    /// `trail`, its events from the first up to some sequence. A feed that
    /// relays an older event after later ones committed must judge the
    /// event's audience by the ticket as it was then: a unit that was
    /// dispatched the ticket later did not see its creation.
    pub fn scope_as_of(&self, trail: &[TicketEvent]) -> Ticket {
        let mut then = self.clone();
        then.lead_unit = None;
        then.co_units.clear();
        for event in trail {
            // A new holder: `Some(round)` assigned, `None` back to triage.
            let holder: Option<Option<&Assigned>> = match &event.kind {
                EventKind::Dispatched(round) => Some(Some(round)),
                EventKind::Reopened(reopened) => Some(Some(&reopened.round)),
                EventKind::ReturnApproved(approved) => Some(approved.redispatch.as_ref()),
                EventKind::Created(_)
                | EventKind::Updated(_)
                | EventKind::ResolvedAtIntake(_)
                | EventKind::TransferredEmergency(_)
                | EventKind::NotAccepted(_)
                | EventKind::ReturnRequested(_)
                | EventKind::ReturnRejected(_)
                | EventKind::ExtensionRequested(_)
                | EventKind::ExtensionApproved(_)
                | EventKind::ExtensionRejected(_)
                | EventKind::Urged(_)
                | EventKind::SupervisionIssued(_)
                | EventKind::SupervisionAnswered(_)
                | EventKind::ProgressNoted(_)
                | EventKind::Signed(_)
                | EventKind::Replied(_)
                | EventKind::ReplyApproved(_)
                | EventKind::ReplySentBack(_)
                | EventKind::CallbackRecorded(_)
                | EventKind::Closed(_)
                | EventKind::SignOverdue(_)
                | EventKind::DeadlineWarning(_)
                | EventKind::Overdue(_)
                | EventKind::MergedInto(_)
                | EventKind::MergedFrom(_)
                | EventKind::Unmerged(_)
                | EventKind::UnmergedFrom(_)
                | EventKind::MergedCallerCalledBack(_) => None,
            };
            if let Some(round) = holder {
                then.lead_unit = round.map(|r| r.lead_unit.clone());
                then.co_units = round.map(|r| r.co_units.clone()).unwrap_or_default();
            }
        }
        if let Some(last) = trail.last() {
            then.state = last.to_state;
            then.version = last.sequence;
        }
        then
    }

    /// Applies an assignment to `self` (the next ticket) and returns what
    /// the event records of it: a new handling round starts now.
    pub(super) fn assign(&mut self, a: &Assignment, now: DateTime<Utc>) -> Assigned {
        self.state = TicketState::Dispatched;
        self.lead_unit = Some(a.unit.clone());
        self.co_units = a.co_units.clone();
        self.dispatch_count += 1;
        self.designated = self.dispatch_count >= a.designate_after;
        self.dispatch_time = Some(now);
        self.routing = a.routing.clone();
        self.sign_time = None;
        self.pending_extension = None;
        self.extensions_granted = 0;
        self.alerts = Alerts::default();
        self.supervision = None;
        self.deadlines = a.timing.as_ref().map(|t| {
            t.policy.deadlines(
                &t.calendar,
                self.intake.request_type,
                self.intake.urgency,
                now,
            )
        });
        Assigned {
            lead_unit: a.unit.clone(),
            co_units: a.co_units.clone(),
            note: a.note.clone(),
            dispatch_count: self.dispatch_count,
            designated: self.designated,
            routing: a.routing.clone(),
            deadlines: self.deadlines.map(|d| RoundDeadlines {
                sign: d.sign.at,
                reply: d.reply.at,
                provisional: d.sign.provisional || d.reply.provisional,
                calendar_version: d.reply.calendar_version,
            }),
        }
    }

    /// A designated ticket cannot be returned, nor one past the window.
    fn check_returnable(
        &self,
        policy: &ReturnPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if self.designated {
            return Err(DomainError::PreconditionFailed {
                kind: "DESIGNATED",
                message: format!(
                    "the ticket was designated (指定) to its unit after {} dispatches and cannot be returned",
                    self.dispatch_count
                ),
            });
        }
        let closes = policy.window.closes(self.dispatch_time.unwrap_or(now));
        if now > closes {
            return Err(DomainError::PreconditionFailed {
                kind: "RETURN_WINDOW",
                message: format!("the return window closed at {}", closes.to_rfc3339()),
            });
        }
        Ok(())
    }
}
