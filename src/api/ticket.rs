//! `hotline.v1.TicketService`: intake and reading.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    idempotency::request_key,
    paging::{self, PageSize},
    streams::{ServerStream, parse_resume_token, watch},
};
use crate::proto::convert::{
    self, ProtoEnum, at, optional_enum, required_enum, text, ticket_id, ticket_to_proto,
};
use crate::service::workflow::{ActRequest, Actor, Workflow};
use crate::service::{ServiceError, privacy::purpose};
use crate::{
    auth::{authorized, principal, session_expiry},
    domain::{
        Action, PhoneNumber, Principal, RegionCode, SubjectCode, TicketId,
        access::{CallerVisibility, Operation, caller_visibility},
        lifecycle::IntakePatch,
        ticket::{self, Ticket},
    },
    proto::v1::{self as pb, ticket_service_server::TicketService},
    store::{TicketCursor, TicketQuery},
};

const TICKET_PAGE: PageSize = PageSize {
    default: 50,
    max: 500,
};
const EVENT_PAGE: PageSize = PageSize {
    default: 100,
    max: 1000,
};
const LOOKUP_PAGE: PageSize = PageSize {
    default: 20,
    max: 100,
};

/// Implements `TicketService`.
#[derive(Debug, Clone)]
pub(crate) struct TicketApi {
    workflow: Arc<Workflow>,
}

impl TicketApi {
    /// A service over the shared workflow.
    pub(crate) fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }

    async fn act(
        &self,
        principal: &Principal,
        req: ActRequest<'_>,
    ) -> Result<Option<pb::Ticket>, Status> {
        act_view(&self.workflow, principal, Operation::Intake, req).await
    }
}

/// The write path every ticket verb shares: the role check, the workflow,
/// and the response view of the ticket.
pub(crate) async fn act_view(
    workflow: &Workflow,
    principal: &Principal,
    operation: Operation,
    req: ActRequest<'_>,
) -> Result<Option<pb::Ticket>, Status> {
    let ticket = workflow.act_as(principal, operation, req).await?;
    Ok(Some(list_view(principal, &ticket)))
}

/// The caller as lists and write responses show it (never unmasked).
pub(crate) fn list_view(principal: &Principal, ticket: &Ticket) -> pb::Ticket {
    ticket_to_proto(ticket, caller_visibility(principal, ticket, false))
}

/// Runs a ticket list query in the reader's scope with AIP-158 paging and
/// returns the page as the reader may see it.
pub(crate) async fn list_page<R: paging::ListRequest>(
    workflow: &Workflow,
    principal: &Principal,
    request: &R,
    page_size: i32,
    page_token: &str,
    mut query: TicketQuery,
) -> Result<(Vec<pb::Ticket>, String), ServiceError> {
    let limit = TICKET_PAGE.resolve(page_size)?;
    let fp = paging::fingerprint(request);
    query.limit = limit;
    query.after = parse_cursor(paging::decode(page_token, &fp)?)?;
    let tickets = workflow.list_tickets(principal, query).await?;
    Ok((
        tickets.iter().map(|t| list_view(principal, t)).collect(),
        paging::next_token(&tickets, limit, &fp, cursor_of),
    ))
}

/// `(create_time_us, id)` of the last row, the keyset cursor of ticket lists.
pub(super) type CursorToken = (i64, String);

fn cursor_of(t: &Ticket) -> CursorToken {
    (t.create_time.timestamp_micros(), t.id.to_string())
}

pub(super) fn parse_cursor(
    token: Option<CursorToken>,
) -> Result<Option<TicketCursor>, ServiceError> {
    token
        .map(|(micros, id)| {
            let bad = || ServiceError::invalid("page_token", "malformed page token");
            Ok(TicketCursor {
                create_time: chrono::DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
                id: TicketId::parse(&id).map_err(|_| bad())?,
            })
        })
        .transpose()
}

/// Parses the masked fields of an UpdateTicket onto a copy of the current intake.
pub(super) fn patch_from_proto(
    current: &Ticket,
    values: &pb::Ticket,
    mask: &[String],
) -> Result<IntakePatch, ServiceError> {
    let mut intake = current.intake.clone();
    for path in mask {
        let field = format!("ticket.{path}");
        match path.as_str() {
            "request_type" => intake.request_type = required_enum(values.request_type, &field)?,
            "urgency" => intake.urgency = required_enum(values.urgency, &field)?,
            "subject_code" => {
                intake.subject_code = if values.subject_code.is_empty() {
                    None
                } else {
                    Some(at(SubjectCode::parse(&values.subject_code), &field)?)
                }
            }
            "region_code" => {
                intake.region_code = at(RegionCode::parse(&values.region_code), &field)?
            }
            "address" => intake.address = text(&values.address, &field, false, 200)?,
            "title" => intake.title = text(&values.title, &field, true, 100)?,
            "description" => intake.description = text(&values.description, &field, true, 4000)?,
            "confidential" => intake.confidential = values.confidential,
            "legacy_hotline" => {
                intake.legacy_hotline =
                    at(ticket::parse_legacy_hotline(&values.legacy_hotline), &field)?
            }
            _ => {
                return Err(ServiceError::invalid(
                    "update_mask",
                    format!(
                        "{path} cannot be updated; allowed: {}",
                        crate::domain::lifecycle::UPDATABLE_FIELDS.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(IntakePatch {
        values: Some(Box::new(intake)),
        fields: mask.to_vec(),
        // The service fills it when it checks the region.
        region_note: None,
    })
}

#[tonic::async_trait]
impl TicketService for TicketApi {
    async fn create_ticket(
        &self,
        request: Request<pb::CreateTicketRequest>,
    ) -> Result<Response<pb::CreateTicketResponse>, Status> {
        let principal = authorized(&request, Operation::Intake)?;
        let req = request.into_inner();
        let draft = req
            .ticket
            .as_ref()
            .ok_or_else(|| ServiceError::invalid("ticket", "required"))?;
        let intake = convert::intake_from_proto(draft, "ticket")?;
        let ticket = self
            .workflow
            .create(&principal, intake, &request_key(&req))
            .await?;
        Ok(Response::new(pb::CreateTicketResponse {
            ticket: Some(list_view(&principal, &ticket)),
        }))
    }

    async fn get_ticket(
        &self,
        request: Request<pb::GetTicketRequest>,
    ) -> Result<Response<pb::GetTicketResponse>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let id = ticket_id(&request.get_ref().name, "name")?;
        let ticket = self.workflow.load_visible(&principal, id).await?;
        let visibility = caller_visibility(&principal, &ticket, true);
        let (merged, mut unmasked) =
            super::merge::merged_tickets_view(&self.workflow, &principal, &ticket).await?;
        if visibility == CallerVisibility::Full {
            unmasked.insert(0, id);
        }
        if !unmasked.is_empty() {
            // One record for the view, naming every ticket whose caller it
            // showed: the primary's and its merged callers'.
            self.workflow
                .record_pii_read(&principal, &unmasked, "GetTicket", purpose::TICKET_VIEW)
                .await?;
        }
        let mut view = ticket_to_proto(&ticket, visibility);
        view.merged_tickets = merged;
        Ok(Response::new(pb::GetTicketResponse { ticket: Some(view) }))
    }

    async fn list_tickets(
        &self,
        request: Request<pb::ListTicketsRequest>,
    ) -> Result<Response<pb::ListTicketsResponse>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let req = request.into_inner();
        let mut query = TicketQuery::all(0);
        let mut states: Vec<_> = req
            .states
            .iter()
            .map(|s| required_enum(*s, "states"))
            .collect::<Result<_, _>>()?;
        states.dedup();
        if states.len() > 16 {
            return Err(ServiceError::invalid("states", "at most 16 states").into());
        }
        query.states = states;
        if !req.lead_unit.is_empty() {
            query.lead_unit = Some(convert::unit_id(&req.lead_unit, "lead_unit")?);
        }
        query.request_type = optional_enum(req.request_type, "request_type")?;
        if !req.region_prefix.is_empty() {
            query.region_prefix = Some(at(
                RegionCode::parse_prefix(&req.region_prefix),
                "region_prefix",
            )?);
        }
        (query.created_from, query.created_to) = convert::time_window(
            req.create_time_from.as_ref(),
            req.create_time_to.as_ref(),
            ("create_time_from", "create_time_to"),
        )?;
        if !req.legacy_number.is_empty() {
            query.legacy_number = Some(convert::text(
                &req.legacy_number,
                "legacy_number",
                true,
                64,
            )?);
        }
        let (tickets, next_page_token) = list_page(
            &self.workflow,
            &principal,
            &req,
            req.page_size,
            &req.page_token,
            query,
        )
        .await?;
        Ok(Response::new(pb::ListTicketsResponse {
            tickets,
            next_page_token,
        }))
    }

    async fn update_ticket(
        &self,
        request: Request<pb::UpdateTicketRequest>,
    ) -> Result<Response<pb::UpdateTicketResponse>, Status> {
        let principal = authorized(&request, Operation::Intake)?;
        let req = request.into_inner();
        let key = request_key(&req);
        let values = req
            .ticket
            .ok_or_else(|| ServiceError::invalid("ticket", "required"))?;
        let id = ticket_id(&values.name, "ticket.name")?;
        let mask = req.update_mask.map(|m| m.paths).unwrap_or_default();
        if mask.is_empty() {
            return Err(ServiceError::invalid("update_mask", "name at least one field").into());
        }
        let current = self.workflow.load_visible(&principal, id).await?;
        let patch = patch_from_proto(&current, &values, &mask)?;
        let ticket = self
            .act(
                &principal,
                ActRequest {
                    id,
                    etag: &values.etag,
                    key,
                    operation: "UpdateTicket",
                    actor: Actor::InScope,
                    action: Action::Update(patch),
                },
            )
            .await?;
        Ok(Response::new(pb::UpdateTicketResponse { ticket }))
    }

    async fn resolve_at_intake(
        &self,
        request: Request<pb::ResolveAtIntakeRequest>,
    ) -> Result<Response<pb::ResolveAtIntakeResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let answer = text(&req.answer, "answer", true, 4000)?;
        // The citations are checked by `Workflow::act`, after the role
        // check, where a retry's first answer is looked up.
        let action = Action::ResolveAtIntake {
            answer,
            article_ids: req.article_ids.clone(),
        };
        let ticket = self
            .act(
                &principal,
                ActRequest::new(
                    "ResolveAtIntake",
                    &req.name,
                    &req.etag,
                    request_key(&req),
                    action,
                )?,
            )
            .await?;
        Ok(Response::new(pb::ResolveAtIntakeResponse { ticket }))
    }

    async fn transfer_emergency(
        &self,
        request: Request<pb::TransferEmergencyRequest>,
    ) -> Result<Response<pb::TransferEmergencyResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::TransferEmergency {
            service: required_enum(req.service, "service")?,
            note: text(&req.note, "note", false, 1000)?,
        };
        let ticket = self
            .act(
                &principal,
                ActRequest::new(
                    "TransferEmergency",
                    &req.name,
                    &req.etag,
                    request_key(&req),
                    action,
                )?,
            )
            .await?;
        Ok(Response::new(pb::TransferEmergencyResponse { ticket }))
    }

    async fn mark_not_accepted(
        &self,
        request: Request<pb::MarkNotAcceptedRequest>,
    ) -> Result<Response<pb::MarkNotAcceptedResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::MarkNotAccepted {
            channel: required_enum(req.legal_channel, "legal_channel")?,
            note: text(&req.note, "note", false, 1000)?,
        };
        let ticket = self
            .act(
                &principal,
                ActRequest::new(
                    "MarkNotAccepted",
                    &req.name,
                    &req.etag,
                    request_key(&req),
                    action,
                )?,
            )
            .await?;
        Ok(Response::new(pb::MarkNotAcceptedResponse { ticket }))
    }

    async fn list_ticket_events(
        &self,
        request: Request<pb::ListTicketEventsRequest>,
    ) -> Result<Response<pb::ListTicketEventsResponse>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let req = request.into_inner();
        let id = ticket_id(&req.parent, "parent")?;
        let limit = EVENT_PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after: i64 = paging::decode(&req.page_token, &fp)?.unwrap_or(0);
        let events = self
            .workflow
            .ticket_events(&principal, id, after, limit)
            .await?;
        Ok(Response::new(pb::ListTicketEventsResponse {
            next_page_token: paging::next_token(&events, limit, &fp, |e| e.sequence),
            events: events
                .iter()
                .map(convert::event_to_proto)
                .collect::<Result<_, _>>()?,
        }))
    }

    type WatchTicketsStream = ServerStream<pb::WatchTicketsResponse>;

    async fn watch_tickets(
        &self,
        request: Request<pb::WatchTicketsRequest>,
    ) -> Result<Response<Self::WatchTicketsStream>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let expiry = session_expiry(&request);
        let permit = crate::quota::stream_permit(&request)?;
        let request = request.into_inner();
        let kinds = request.kinds;
        if kinds.len() > 50 {
            return Err(ServiceError::invalid("kinds", "at most 50 event kinds").into());
        }
        // A misspelt kind would give a stream that never delivers anything.
        if let Some((i, kind)) = kinds
            .iter()
            .enumerate()
            .find(|(_, k)| !crate::domain::EventKind::TYPES.contains(&k.as_str()))
        {
            return Err(ServiceError::invalid(
                format!("kinds[{i}]"),
                format!("unknown event kind {kind:?}"),
            )
            .into());
        }
        let from = parse_resume_token(&request.resume_token)?;
        let stream = watch(
            self.workflow.feed(),
            self.workflow.watch(from).await?,
            principal,
            expiry,
            permit,
            move |item| kinds.is_empty() || kinds.iter().any(|k| k == item.event.kind.event_type()),
            |item, resume_token| pb::WatchTicketsResponse {
                ticket: item.ticket.id.name(),
                number: item.ticket.number.clone(),
                kind: item.event.kind.event_type().to_owned(),
                sequence: item.event.sequence,
                time: Some(convert::to_timestamp(item.event.time)),
                state: item.ticket.state.to_proto(),
                lead_unit: item
                    .ticket
                    .lead_unit
                    .as_ref()
                    .map(|u| u.name())
                    .unwrap_or_default(),
                request_type: item.ticket.intake.request_type.to_proto(),
                resume_token,
            },
        );
        Ok(Response::new(stream))
    }

    async fn lookup_caller(
        &self,
        request: Request<pb::LookupCallerRequest>,
    ) -> Result<Response<pb::LookupCallerResponse>, Status> {
        let principal = authorized(&request, Operation::Intake)?;
        let req = request.into_inner();
        let phone = at(PhoneNumber::parse(&req.phone), "phone")?;
        let limit = LOOKUP_PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after = parse_cursor(paging::decode(&req.page_token, &fp)?)?;
        let tickets = self
            .workflow
            .lookup_caller(&principal, &phone, after, limit)
            .await?;
        Ok(Response::new(pb::LookupCallerResponse {
            next_page_token: paging::next_token(&tickets, limit, &fp, cursor_of),
            tickets: tickets
                .iter()
                .map(|t| ticket_to_proto(t, CallerVisibility::Full))
                .collect(),
        }))
    }
}
