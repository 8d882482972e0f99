//! Supervision: the centre's reminders (催办) and supervision orders
//! (督办单), and the sweeper that records deadline crossings and issues
//! automatic orders on overdue tickets.

use chrono::{DateTime, Utc};

use super::{Action, Step, Transition};
use crate::{
    access::Principal,
    error::DomainError,
    event::{Closed, DeadlineCrossed, EventKind, SupervisionAnswered, SupervisionIssued, Urged},
    ticket::{AlertKind, CloseReason, SupervisionOrder, Ticket, TicketState},
};

impl Step<'_> {
    /// The centre reminds the handling unit.
    pub(super) fn urge(&mut self, note: &str) -> Result<EventKind, DomainError> {
        self.require(self.before.is_handling())?;
        Ok(EventKind::Urged(Urged {
            unit: self.lead_unit(),
            note: note.to_owned(),
        }))
    }

    /// A supervision order with its own response deadline, one at a time;
    /// also on a dissatisfied ticket. Issued by the sweeper (no roles), it
    /// is automatic.
    pub(super) fn issue_supervision(
        &mut self,
        reason: &str,
        response_deadline: DateTime<Utc>,
    ) -> Result<EventKind, DomainError> {
        let before = self.before;
        self.require(before.is_handling() || before.state == TicketState::Dissatisfied)?;
        if before.supervision.is_some() {
            return Err(DomainError::PreconditionFailed {
                kind: "SUPERVISION_OPEN",
                message: "a supervision order is already open on this ticket".into(),
            });
        }
        self.next.supervision = Some(SupervisionOrder {
            reason: reason.to_owned(),
            issued_by: self.actor.subject.clone(),
            issue_time: self.now,
            response_deadline,
            automatic: self.actor.roles.is_empty(),
        });
        Ok(EventKind::SupervisionIssued(SupervisionIssued {
            unit: self.lead_unit(),
            reason: reason.to_owned(),
            response_deadline,
        }))
    }

    /// The lead unit answers the open order, late or not.
    pub(super) fn respond_to_supervision(&mut self, text: &str) -> Result<EventKind, DomainError> {
        let before = self.before;
        self.require(before.is_handling() || before.state == TicketState::Dissatisfied)?;
        let order = before
            .supervision
            .as_ref()
            .ok_or_else(|| DomainError::PreconditionFailed {
                kind: "NO_SUPERVISION",
                message: "no supervision order is open on this ticket".into(),
            })?;
        self.next.supervision = None;
        Ok(EventKind::SupervisionAnswered(SupervisionAnswered {
            text: text.to_owned(),
            late: self.now > order.response_deadline,
        }))
    }

    /// Records a crossing: a warning or overdue marks the round, a passed
    /// callback window closes the ticket as not rated.
    fn alert(&mut self, kind: AlertKind) -> Result<EventKind, DomainError> {
        let missing = || DomainError::PreconditionFailed {
            kind: "NO_DEADLINE",
            message: "the ticket has no deadline".into(),
        };
        let (before, next) = (self.before, &mut self.next);
        let crossed = |deadline| DeadlineCrossed {
            unit: before.lead_unit.clone(),
            deadline,
        };
        Ok(match kind {
            AlertKind::SignOverdue => {
                next.alerts.sign_overdue = true;
                EventKind::SignOverdue(crossed(before.deadlines.ok_or_else(missing)?.sign.at))
            }
            AlertKind::Warning => {
                next.alerts.warned = true;
                EventKind::DeadlineWarning(crossed(before.deadlines.ok_or_else(missing)?.reply.at))
            }
            AlertKind::Overdue => {
                next.alerts.overdue = true;
                EventKind::Overdue(crossed(before.deadlines.ok_or_else(missing)?.reply.at))
            }
            AlertKind::CallbackExpired => {
                next.state = TicketState::Closed;
                next.outcome.close_reason = Some(CloseReason::NotRated);
                next.callback_deadline = None;
                EventKind::Closed(Closed {
                    reason: CloseReason::NotRated,
                    note: None,
                    callback_deadline: Some(before.callback_deadline.ok_or_else(missing)?),
                })
            }
        })
    }
}

impl Ticket {
    /// A unit is handling the ticket: urges and supervision apply.
    fn is_handling(&self) -> bool {
        matches!(
            self.state,
            TicketState::Dispatched | TicketState::InProgress | TicketState::ReturnRequested
        )
    }

    /// What the sweeper commits, in one transaction, for the earliest
    /// crossing due at `now`: the alert, and on overdue an automatic
    /// supervision order answerable by `auto_order` when that is given and
    /// no order is open. `None` when nothing is due.
    pub fn sweep_crossing(
        &self,
        now: DateTime<Utc>,
        auto_order: Option<DateTime<Utc>>,
    ) -> Result<Option<Vec<Transition>>, DomainError> {
        let Some(kind) = self.due_alert(now) else {
            return Ok(None);
        };
        let alert = self.record_alert(kind, now)?;
        let order = match auto_order {
            Some(response_deadline)
                if kind == AlertKind::Overdue && alert.ticket.supervision.is_none() =>
            {
                let order = Action::IssueSupervision {
                    reason: "超期自动督办".into(),
                    response_deadline,
                };
                Some(
                    alert
                        .ticket
                        .apply(order, &Principal::system("sweeper"), now)?,
                )
            }
            _ => None,
        };
        Ok(Some(std::iter::once(alert).chain(order).collect()))
    }

    /// Records a deadline crossing found by the sweeper: one event, no
    /// state change (but for the callback window, which closes the ticket),
    /// and the crossing is never recorded again this round.
    pub fn record_alert(
        &self,
        kind: AlertKind,
        now: DateTime<Utc>,
    ) -> Result<Transition, DomainError> {
        if self.due_alert(now) != Some(kind) {
            return Err(DomainError::PreconditionFailed {
                kind: "ALERT_NOT_DUE",
                message: format!("{kind:?} is not due"),
            });
        }
        let sweeper = Principal::system("sweeper");
        let mut step = Step::new(self, "record_alert", &sweeper, now);
        let event = step.alert(kind)?;
        Ok(step.finish(event))
    }
}
