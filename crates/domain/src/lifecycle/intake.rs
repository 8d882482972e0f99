//! Intake: accepting a request, numbering it, correcting it, and the
//! dispositions that end a ticket at intake (answered, handed to an
//! emergency line, not accepted).

use chrono::{DateTime, Utc};

use super::{Step, Transition};
use crate::{
    access::Principal,
    error::DomainError,
    event::{Created, EventKind, NotAccepted, ResolvedAtIntake, TransferredEmergency, Updated},
    ids::TicketId,
    ticket::{
        Alerts, EmergencyService, Intake, LegalChannel, Outcome, RequestType, Ticket, TicketEvent,
        TicketState,
    },
};

/// Intake fields an agent may correct on an open ticket; `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntakePatch {
    /// New intake values; only the fields named in `fields` are taken.
    pub values: Option<Box<Intake>>,
    /// Names of the fields to take from `values`.
    pub fields: Vec<String>,
    /// The note of the new region, from whoever checked it against the
    /// directory ([`crate::directory::RegionStanding::note`]); replaces the
    /// ticket's when `fields` names `region_code`.
    pub region_note: Option<String>,
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

impl Ticket {
    /// Accepts a new request: the ticket in `PendingDispatch` and its `created`
    /// event. A report (举报) is confidential whatever the agent ticked.
    ///
    /// `number` may be empty when the store numbers the ticket as it inserts
    /// it; it then calls [`Transition::assign_number`].
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
            region_note: None,
            merged_into: None,
            legacy_number: None,
            creator: actor.subject.clone(),
            create_time: now,
            update_time: now,
            version: 1,
        };
        let event = TicketEvent {
            ticket_id: ticket.id,
            sequence: 1,
            kind: EventKind::Created(Created {
                number: ticket.number.clone(),
                channel: ticket.intake.channel,
                request_type: ticket.intake.request_type,
                urgency: ticket.intake.urgency,
                region_code: ticket.intake.region_code.clone(),
                confidential: ticket.intake.confidential,
                region_note: None,
            }),
            actor: actor.subject.clone(),
            actor_role: actor.role_label().into(),
            from_state: None,
            to_state: ticket.state,
            time: now,
        };
        Transition {
            ticket,
            event,
            co_units_changed: false,
        }
    }
}

impl Transition {
    /// Records on a new ticket, and in its `created` event, what the
    /// region directory said of its region (see [`Ticket::region_note`]).
    /// Called before anything is applied to the new ticket, so the
    /// transitions committed with it (dispatch on intake) carry the note.
    pub fn note_region(&mut self, note: Option<String>) {
        if let EventKind::Created(created) = &mut self.event.kind {
            created.region_note.clone_from(&note);
        }
        self.ticket.region_note = note;
    }

    /// Gives the ticket the number the store assigned as it inserted it (a
    /// daily sequence only the database can count), and records it in the
    /// `created` event, so what the event says stays the domain's to write.
    /// For the transitions committed with the `created` one (dispatch on
    /// intake) only the ticket takes the number.
    pub fn assign_number(&mut self, number: &str) {
        number.clone_into(&mut self.ticket.number);
        if let EventKind::Created(created) = &mut self.event.kind {
            number.clone_into(&mut created.number);
        }
    }
}

impl Step<'_> {
    /// Corrects intake fields, on any open ticket.
    pub(super) fn update(&mut self, patch: &IntakePatch) -> Result<EventKind, DomainError> {
        self.require(!self.before.state.is_terminal())?;
        apply_patch(&mut self.next.intake, patch)?;
        if patch.fields.iter().any(|f| f == "region_code") {
            self.next.region_note.clone_from(&patch.region_note);
        }
        Ok(EventKind::Updated(Updated {
            fields: patch.fields.clone(),
        }))
    }

    /// Answers the request at intake (直接办结).
    pub(super) fn resolve_at_intake(
        &mut self,
        answer: &str,
        article_ids: &[String],
    ) -> Result<EventKind, DomainError> {
        self.require(self.before.state == TicketState::PendingDispatch)?;
        self.next.state = TicketState::ResolvedAtIntake;
        self.next.outcome.intake_answer = Some(answer.to_owned());
        Ok(EventKind::ResolvedAtIntake(ResolvedAtIntake {
            answer: answer.to_owned(),
            article_ids: article_ids.to_vec(),
        }))
    }

    /// Hands the request to an emergency line.
    pub(super) fn transfer_emergency(
        &mut self,
        service: EmergencyService,
        note: &str,
    ) -> Result<EventKind, DomainError> {
        self.require(self.before.state == TicketState::PendingDispatch)?;
        self.next.state = TicketState::TransferredEmergency;
        self.next.outcome.emergency_service = Some(service);
        self.next.outcome.disposition_note = Some(note.to_owned());
        Ok(EventKind::TransferredEmergency(TransferredEmergency {
            service,
            note: note.to_owned(),
        }))
    }

    /// Declines the request and tells the legal channel.
    pub(super) fn mark_not_accepted(
        &mut self,
        channel: LegalChannel,
        note: &str,
    ) -> Result<EventKind, DomainError> {
        self.require(self.before.state == TicketState::PendingDispatch)?;
        self.next.state = TicketState::NotAccepted;
        self.next.outcome.legal_channel = Some(channel);
        self.next.outcome.disposition_note = Some(note.to_owned());
        Ok(EventKind::NotAccepted(NotAccepted {
            legal_channel: channel,
            note: note.to_owned(),
        }))
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
