//! The ticket state machine: the only way a ticket changes.
//!
//! [`Ticket::apply`] checks the action against the current state, produces the
//! next ticket and the audit event that describes the change. Storage commits
//! both together or neither.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use std::sync::Arc;

use super::{
    access::Principal,
    calendar::Calendar,
    error::DomainError,
    ids::{TicketId, UnitId},
    ticket::{
        AlertKind, Alerts, CloseReason, EmergencyService, Intake, LegalChannel, Outcome,
        PendingExtension, PendingReturn, RequestType, RoutingRef, Satisfaction, SupervisionOrder,
        Ticket, TicketEvent, TicketState,
    },
    timelimit::{Limit, TimeLimitPolicy, Timing, warning_time},
};

/// Intake fields an agent may correct on an open ticket; `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntakePatch {
    /// New intake values; only the fields named in `fields` are taken.
    pub values: Option<Box<Intake>>,
    /// Names of the fields to take from `values`.
    pub fields: Vec<String>,
}

/// Fields of [`Intake`] that [`IntakePatch`] may change.
pub const UPDATABLE_FIELDS: &[&str] = &[
    "request_type",
    "urgency",
    "subject_code",
    "region_code",
    "address",
    "title",
    "description",
    "confidential",
    "legacy_hotline",
];

/// Something a person does to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Correct intake fields.
    Update(IntakePatch),
    /// Answer at intake (直接办结).
    ResolveAtIntake {
        /// The answer given.
        answer: String,
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
        }
    }

    /// The event kind this action appends.
    pub fn event_kind(&self) -> &'static str {
        match self {
            Self::Update(_) => "updated",
            Self::ResolveAtIntake { .. } => "resolved_at_intake",
            Self::TransferEmergency { .. } => "transferred_emergency",
            Self::MarkNotAccepted { .. } => "not_accepted",
            Self::Dispatch(_) => "dispatched",
            Self::Return { .. } => "return_requested",
            Self::ArbitrateReturn { approve: true, .. } => "return_approved",
            Self::ArbitrateReturn { approve: false, .. } => "return_rejected",
            Self::AddProgressNote { .. } => "progress_noted",
            Self::RequestExtension { .. } => "extension_requested",
            Self::Urge { .. } => "urged",
            Self::IssueSupervision { .. } => "supervision_issued",
            Self::RespondToSupervision { .. } => "supervision_answered",
            Self::DecideExtension { approve: true, .. } => "extension_approved",
            Self::DecideExtension { approve: false, .. } => "extension_rejected",
            Self::Sign => "signed",
            Self::Reply { .. } => "replied",
            Self::ReviewReply { approve: true, .. } => "reply_approved",
            Self::ReviewReply { approve: false, .. } => "reply_sent_back",
            Self::Reopen { .. } => "reopened",
            Self::RecordCallback { .. } => "callback_recorded",
            Self::Close { .. } => "closed",
        }
    }
}

/// What a reply leads to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyPolicy {
    /// The centre reviews replies before the callback (reply → `replied`).
    pub review: bool,
    /// When the callback must happen by; past it the sweeper closes the
    /// ticket as not rated. `None`: no limit.
    pub callback_deadline: Option<DateTime<Utc>>,
}

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
    /// Accepts a new request: the ticket in `PendingDispatch` and its `created`
    /// event. A report (举报) is confidential whatever the agent ticked.
    pub fn accept(
        mut intake: Intake,
        number: String,
        actor: &Principal,
        now: DateTime<Utc>,
    ) -> Transition {
        if intake.request_type == RequestType::Report {
            intake.confidential = true;
        }
        let ticket = Ticket {
            id: TicketId::generate(now),
            number,
            state: TicketState::PendingDispatch,
            intake,
            lead_unit: None,
            co_units: Vec::new(),
            dispatch_count: 0,
            designated: false,
            dispatch_time: None,
            routing: None,
            pending_return: None,
            deadlines: None,
            sign_time: None,
            pending_extension: None,
            extensions_granted: 0,
            alerts: Alerts::default(),
            supervision: None,
            reopen_count: 0,
            callback_deadline: None,
            outcome: Outcome::default(),
            creator: actor.subject.clone(),
            create_time: now,
            update_time: now,
            version: 1,
        };
        let event = TicketEvent {
            ticket_id: ticket.id,
            sequence: 1,
            kind: "created".into(),
            actor: actor.subject.clone(),
            actor_role: actor.role_label().into(),
            from_state: None,
            to_state: ticket.state,
            payload: json!({
                "number": ticket.number,
                "channel": ticket.intake.channel,
                "request_type": ticket.intake.request_type,
                "urgency": ticket.intake.urgency,
                "region_code": ticket.intake.region_code,
                "confidential": ticket.intake.confidential,
            }),
            time: now,
        };
        Transition {
            ticket,
            event,
            co_units_changed: false,
        }
    }

    /// Applies `action`, or explains why the current state forbids it.
    pub fn apply(
        &self,
        action: Action,
        actor: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Transition, DomainError> {
        use TicketState as S;
        let illegal = || DomainError::IllegalTransition {
            action: action.verb(),
            state: self.state,
        };
        let mut next = self.clone();
        let kind = action.event_kind();
        let payload = match &action {
            Action::Update(patch) => {
                if self.state.is_terminal() {
                    return Err(illegal());
                }
                apply_patch(&mut next.intake, patch)?;
                json!({ "fields": patch.fields })
            }
            Action::ResolveAtIntake { answer } => {
                require(self.state == S::PendingDispatch, illegal)?;
                next.state = S::ResolvedAtIntake;
                next.outcome.intake_answer = Some(answer.clone());
                json!({ "answer": answer })
            }
            Action::TransferEmergency { service, note } => {
                require(self.state == S::PendingDispatch, illegal)?;
                next.state = S::TransferredEmergency;
                next.outcome.emergency_service = Some(*service);
                next.outcome.disposition_note = Some(note.clone());
                json!({ "service": service, "note": note })
            }
            Action::MarkNotAccepted { channel, note } => {
                require(self.state == S::PendingDispatch, illegal)?;
                next.state = S::NotAccepted;
                next.outcome.legal_channel = Some(*channel);
                next.outcome.disposition_note = Some(note.clone());
                json!({ "legal_channel": channel, "note": note })
            }
            Action::Dispatch(assignment) => {
                require(self.state == S::PendingDispatch, illegal)?;
                next.assign(assignment, now)
            }
            Action::Return {
                reason,
                legal_basis,
                policy,
            } => {
                require(matches!(self.state, S::Dispatched | S::InProgress), illegal)?;
                self.check_returnable(policy, now)?;
                next.state = S::ReturnRequested;
                next.pending_return = Some(PendingReturn {
                    from: self.state,
                    reason: reason.clone(),
                    legal_basis: legal_basis.clone(),
                    time: now,
                });
                json!({
                    "unit": self.lead_unit.as_ref().map(UnitId::name),
                    "reason": reason,
                    "legal_basis": legal_basis,
                })
            }
            Action::ArbitrateReturn {
                redispatch,
                approve,
                note,
            } => {
                require(self.state == S::ReturnRequested, illegal)?;
                let pending = self.pending_return.clone().ok_or_else(illegal)?;
                let returned_by = self.lead_unit.as_ref().map(UnitId::name);
                next.pending_return = None;
                match (approve, redispatch) {
                    (true, Some(assignment)) => {
                        let mut payload = next.assign(assignment, now);
                        payload["returned_by"] = returned_by.into();
                        payload["arbitration_note"] = note.clone().into();
                        payload
                    }
                    (true, None) => {
                        next.state = S::PendingDispatch;
                        next.lead_unit = None;
                        next.co_units.clear();
                        next.designated = false;
                        next.dispatch_time = None;
                        next.routing = None;
                        json!({ "returned_by": returned_by, "to": "triage", "arbitration_note": note })
                    }
                    (false, _) => {
                        next.state = pending.from;
                        json!({ "returned_by": returned_by, "arbitration_note": note })
                    }
                }
            }
            Action::RequestExtension {
                days,
                reason,
                policy,
            } => {
                require(matches!(self.state, S::Dispatched | S::InProgress), illegal)?;
                self.check_extendable(*days, policy, now)?;
                next.pending_extension = Some(PendingExtension {
                    days: *days,
                    reason: reason.clone(),
                    time: now,
                });
                json!({ "days": days, "reason": reason })
            }
            Action::DecideExtension {
                approve,
                days,
                timing,
                note,
            } => {
                require(matches!(self.state, S::Dispatched | S::InProgress), illegal)?;
                let pending = self.pending_extension.clone().ok_or_else(|| {
                    DomainError::PreconditionFailed {
                        kind: "NO_EXTENSION_PENDING",
                        message: "no extension request is waiting for a decision".into(),
                    }
                })?;
                next.pending_extension = None;
                if *approve {
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
                        self.deadlines
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
                        now,
                        deadlines.reply.at,
                    );
                    next.deadlines = Some(deadlines);
                    next.extensions_granted += 1;
                    next.alerts.warned = false;
                    next.alerts.overdue = false;
                    json!({
                        "days": granted,
                        "reply_deadline": deadlines.reply.at.to_rfc3339(),
                        "calendar_version": deadlines.reply.calendar_version,
                        "note": note,
                    })
                } else {
                    json!({ "days": pending.days, "note": note })
                }
            }
            Action::Urge { note } => {
                require(self.is_handling(), illegal)?;
                json!({ "unit": self.lead_unit.as_ref().map(UnitId::name), "note": note })
            }
            Action::IssueSupervision {
                reason,
                response_deadline,
            } => {
                require(self.is_handling() || self.state == S::Dissatisfied, illegal)?;
                if self.supervision.is_some() {
                    return Err(DomainError::PreconditionFailed {
                        kind: "SUPERVISION_OPEN",
                        message: "a supervision order is already open on this ticket".into(),
                    });
                }
                next.supervision = Some(SupervisionOrder {
                    reason: reason.clone(),
                    issued_by: actor.subject.clone(),
                    issue_time: now,
                    response_deadline: *response_deadline,
                    automatic: actor.roles.is_empty(),
                });
                json!({
                    "unit": self.lead_unit.as_ref().map(UnitId::name),
                    "reason": reason,
                    "response_deadline": response_deadline.to_rfc3339(),
                })
            }
            Action::RespondToSupervision { text } => {
                require(self.is_handling() || self.state == S::Dissatisfied, illegal)?;
                let order =
                    self.supervision
                        .as_ref()
                        .ok_or_else(|| DomainError::PreconditionFailed {
                            kind: "NO_SUPERVISION",
                            message: "no supervision order is open on this ticket".into(),
                        })?;
                next.supervision = None;
                json!({ "text": text, "late": now > order.response_deadline })
            }
            Action::AddProgressNote { text } => {
                require(matches!(self.state, S::Dispatched | S::InProgress), illegal)?;
                json!({ "text": text })
            }
            Action::Sign => {
                require(self.state == S::Dispatched, illegal)?;
                next.state = S::InProgress;
                next.sign_time = Some(now);
                json!({ "unit": self.lead_unit.as_ref().map(UnitId::name) })
            }
            Action::Reply {
                text,
                contacted_citizen,
                after,
            } => {
                require(self.state == S::InProgress, illegal)?;
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
                next.outcome.reply = Some(text.clone());
                next.outcome.reply_contacted_citizen = Some(*contacted_citizen);
                next.outcome.reply_time = Some(now);
                json!({ "unit": self.lead_unit.as_ref().map(UnitId::name), "contacted_citizen": contacted_citizen })
            }
            Action::ReviewReply {
                approve,
                note,
                callback_deadline,
            } => {
                if *approve {
                    require(self.state == S::Replied, illegal)?;
                    next.state = S::AwaitingCallback;
                    next.callback_deadline = *callback_deadline;
                } else {
                    require(
                        matches!(self.state, S::Replied | S::AwaitingCallback),
                        illegal,
                    )?;
                    next.state = S::InProgress;
                    next.callback_deadline = None;
                    next.outcome.reply = None;
                    next.outcome.reply_contacted_citizen = None;
                    next.outcome.reply_time = None;
                }
                json!({ "note": note })
            }
            Action::Reopen {
                assignment,
                max_reopens,
            } => {
                require(self.state == S::Dissatisfied, illegal)?;
                if self.reopen_count >= *max_reopens {
                    return Err(DomainError::PreconditionFailed {
                        kind: "REOPEN_LIMIT",
                        message: format!("a ticket may be reopened at most {max_reopens} time(s)"),
                    });
                }
                let mut payload = next.assign(assignment, now);
                next.reopen_count += 1;
                next.callback_deadline = None;
                next.outcome = Outcome::default();
                payload["reopen_count"] = next.reopen_count.into();
                payload["previous_satisfaction"] = json!(self.outcome.satisfaction);
                payload
            }
            Action::RecordCallback {
                satisfaction,
                resolved,
                comment,
            } => {
                require(self.state == S::AwaitingCallback, illegal)?;
                next.callback_deadline = None;
                next.state = if satisfaction.is_dissatisfied() {
                    S::Dissatisfied
                } else {
                    S::CallbackDone
                };
                next.outcome.satisfaction = Some(*satisfaction);
                next.outcome.resolved = Some(*resolved);
                next.outcome.callback_comment = Some(comment.clone());
                next.outcome.callback_time = Some(now);
                json!({ "satisfaction": satisfaction, "resolved": resolved })
            }
            Action::Close { reason, note } => {
                let reason = close_reason(self.state, *reason).ok_or_else(illegal)?;
                next.state = S::Closed;
                next.outcome.close_reason = Some(reason);
                json!({ "reason": reason, "note": note })
            }
        };
        next.version += 1;
        next.update_time = now;
        let event = TicketEvent {
            ticket_id: self.id,
            sequence: next.version,
            kind: kind.into(),
            actor: actor.subject.clone(),
            actor_role: actor.role_label().into(),
            from_state: Some(self.state),
            to_state: next.state,
            payload,
            time: now,
        };
        Ok(Transition {
            co_units_changed: next.co_units != self.co_units,
            ticket: next,
            event,
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
            let payload = &event.payload;
            if let Some(lead) = payload.get("lead_unit").and_then(|v| v.as_str()) {
                // An assignment: dispatch, re-dispatch or reopen.
                then.lead_unit = UnitId::from_name(lead).ok();
                then.co_units = payload
                    .get("co_units")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().and_then(|n| UnitId::from_name(n).ok()))
                    .collect();
            } else if event.kind == "return_approved" {
                // Back to triage.
                then.lead_unit = None;
                then.co_units.clear();
            }
        }
        if let Some(last) = trail.last() {
            then.state = last.to_state;
            then.version = last.sequence;
        }
        then
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
    /// state change, and the crossing is never recorded again this round.
    pub fn record_alert(
        &self,
        kind: AlertKind,
        now: DateTime<Utc>,
    ) -> Result<Transition, DomainError> {
        if self.due_alert(now) != Some(kind) {
            return Err(DomainError::PreconditionFailed {
                kind: "ALERT_NOT_DUE",
                message: format!("{} is not due", kind.event_kind()),
            });
        }
        let mut next = self.clone();
        let missing = || DomainError::PreconditionFailed {
            kind: "NO_DEADLINE",
            message: "the ticket has no deadline".into(),
        };
        let deadline = match kind {
            AlertKind::SignOverdue => {
                next.alerts.sign_overdue = true;
                self.deadlines.ok_or_else(missing)?.sign.at
            }
            AlertKind::Warning => {
                next.alerts.warned = true;
                self.deadlines.ok_or_else(missing)?.reply.at
            }
            AlertKind::Overdue => {
                next.alerts.overdue = true;
                self.deadlines.ok_or_else(missing)?.reply.at
            }
            AlertKind::CallbackExpired => {
                next.state = TicketState::Closed;
                next.outcome.close_reason = Some(CloseReason::NotRated);
                next.callback_deadline = None;
                self.callback_deadline.ok_or_else(missing)?
            }
        };
        next.version += 1;
        next.update_time = now;
        let sweeper = Principal::system("sweeper");
        let event = TicketEvent {
            ticket_id: self.id,
            sequence: next.version,
            kind: kind.event_kind().into(),
            actor: sweeper.subject.clone(),
            actor_role: sweeper.role_label().into(),
            from_state: Some(self.state),
            to_state: next.state,
            payload: if kind == AlertKind::CallbackExpired {
                json!({ "reason": CloseReason::NotRated, "callback_deadline": deadline.to_rfc3339() })
            } else {
                json!({
                    "unit": self.lead_unit.as_ref().map(UnitId::name),
                    "deadline": deadline.to_rfc3339(),
                })
            },
            time: now,
        };
        Ok(Transition {
            ticket: next,
            event,
            co_units_changed: false,
        })
    }

    /// Applies an assignment to `self` (the next ticket) and returns the
    /// event payload: a new handling round starts now.
    fn assign(&mut self, a: &Assignment, now: DateTime<Utc>) -> serde_json::Value {
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
        let mut payload = json!({
            "lead_unit": a.unit.name(),
            "co_units": a.co_units.iter().map(UnitId::name).collect::<Vec<_>>(),
            "note": a.note,
            "dispatch_count": self.dispatch_count,
            "designated": self.designated,
            "rule_id": a.routing.as_ref().and_then(|r| r.rule_id.clone()),
            "rule_set_version": a.routing.as_ref().map(|r| r.rule_set_version),
        });
        if let Some(d) = self.deadlines {
            payload["sign_deadline"] = d.sign.at.to_rfc3339().into();
            payload["reply_deadline"] = d.reply.at.to_rfc3339().into();
            payload["provisional"] = (d.sign.provisional || d.reply.provisional).into();
            payload["calendar_version"] = d.reply.calendar_version.into();
        }
        payload
    }

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

fn require(ok: bool, err: impl FnOnce() -> DomainError) -> Result<(), DomainError> {
    if ok { Ok(()) } else { Err(err()) }
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

fn apply_patch(intake: &mut Intake, patch: &IntakePatch) -> Result<(), DomainError> {
    let Some(values) = patch.values.as_deref() else {
        return Err(DomainError::invalid("ticket", "required"));
    };
    if patch.fields.is_empty() {
        return Err(DomainError::invalid(
            "update_mask",
            "name at least one field",
        ));
    }
    for field in &patch.fields {
        match field.as_str() {
            "request_type" => intake.request_type = values.request_type,
            "urgency" => intake.urgency = values.urgency,
            "subject_code" => intake.subject_code = values.subject_code.clone(),
            "region_code" => intake.region_code = values.region_code.clone(),
            "address" => intake.address = values.address.clone(),
            "title" => intake.title = values.title.clone(),
            "description" => intake.description = values.description.clone(),
            "confidential" => intake.confidential = values.confidential,
            "legacy_hotline" => intake.legacy_hotline = values.legacy_hotline.clone(),
            other => {
                return Err(DomainError::invalid(
                    "update_mask",
                    format!(
                        "{other} cannot be updated; allowed: {}",
                        UPDATABLE_FIELDS.join(", ")
                    ),
                ));
            }
        }
    }
    if intake.request_type == RequestType::Report {
        intake.confidential = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
