//! `hotline.v1.DispatchService`: dispatch, sign, reply, callback, close;
//! the merge methods (并单) are in `merge.rs`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    idempotency::request_key,
    ticket::{act_view, list_page},
};
use crate::proto::convert::{at, optional_enum, required_enum, text, ticket_id};
use crate::service::ServiceError;
use crate::service::workflow::{ActRequest, Workflow};
use crate::{
    auth::{authorized, principal},
    domain::{Action, RegionCode, TicketState, access::Operation},
    proto::v1::{self as pb, dispatch_service_server::DispatchService},
    store::TicketQuery,
};

/// Implements `DispatchService`.
#[derive(Debug, Clone)]
pub(crate) struct DispatchApi {
    workflow: Arc<Workflow>,
}

impl DispatchApi {
    /// A service over the shared workflow.
    pub(crate) fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }
}

#[tonic::async_trait]
impl DispatchService for DispatchApi {
    async fn dispatch_ticket(
        &self,
        request: Request<pb::DispatchTicketRequest>,
    ) -> Result<Response<pb::DispatchTicketResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let (unit, co_units) = self
            .workflow
            .parse_assignment_units(&req.lead_unit, "lead_unit", &req.co_units, "co_units")
            .await?;
        let note = text(&req.note, "note", false, 1000)?;
        let action = Action::Dispatch(self.workflow.assignment(unit, co_units, note, None));
        let ticket = act_view(
            &self.workflow,
            &principal,
            Operation::CentreDecision,
            ActRequest::new(
                "DispatchTicket",
                &req.name,
                &req.etag,
                request_key(&req),
                action,
            )?,
        )
        .await?;
        Ok(Response::new(pb::DispatchTicketResponse { ticket }))
    }

    async fn sign_ticket(
        &self,
        request: Request<pb::SignTicketRequest>,
    ) -> Result<Response<pb::SignTicketResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let ticket = act_view(
            &self.workflow,
            &principal,
            Operation::UnitHandling,
            ActRequest::new(
                "SignTicket",
                &req.name,
                &req.etag,
                request_key(&req),
                Action::Sign,
            )?
            .by_lead_unit(),
        )
        .await?;
        Ok(Response::new(pb::SignTicketResponse { ticket }))
    }

    async fn reply_ticket(
        &self,
        request: Request<pb::ReplyTicketRequest>,
    ) -> Result<Response<pb::ReplyTicketResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::Reply {
            text: text(&req.reply, "reply", true, 4000)?,
            contacted_citizen: req.contacted_citizen,
            after: self.workflow.reply_policy(),
        };
        let ticket = act_view(
            &self.workflow,
            &principal,
            Operation::UnitHandling,
            ActRequest::new(
                "ReplyTicket",
                &req.name,
                &req.etag,
                request_key(&req),
                action,
            )?
            .by_lead_unit(),
        )
        .await?;
        Ok(Response::new(pb::ReplyTicketResponse { ticket }))
    }

    async fn record_callback(
        &self,
        request: Request<pb::RecordCallbackRequest>,
    ) -> Result<Response<pb::RecordCallbackResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let satisfaction = required_enum(req.satisfaction, "satisfaction")?;
        let action = if req.merged_caller.is_empty() {
            Action::RecordCallback {
                satisfaction,
                resolved: req.resolved,
                comment: text(&req.comment, "comment", false, 2000)?,
            }
        } else {
            let primary = ticket_id(&req.name, "name")?;
            let duplicate = ticket_id(&req.merged_caller, "merged_caller")?;
            self.workflow
                .check_merged_caller(&principal, primary, duplicate)
                .await?;
            let comment = text(&req.comment, "comment", false, 2000)?;
            Action::RecordMergedCallback {
                duplicate,
                satisfaction,
                resolved: req.resolved,
                comment: (!comment.is_empty()).then_some(comment),
            }
        };
        let ticket = act_view(
            &self.workflow,
            &principal,
            Operation::Intake,
            ActRequest::new(
                "RecordCallback",
                &req.name,
                &req.etag,
                request_key(&req),
                action,
            )?,
        )
        .await?;
        Ok(Response::new(pb::RecordCallbackResponse { ticket }))
    }

    async fn close_ticket(
        &self,
        request: Request<pb::CloseTicketRequest>,
    ) -> Result<Response<pb::CloseTicketResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::Close {
            reason: optional_enum(req.reason, "reason")?,
            note: text(&req.note, "note", false, 1000)?,
        };
        let ticket = act_view(
            &self.workflow,
            &principal,
            Operation::CentreDecision,
            ActRequest::new(
                "CloseTicket",
                &req.name,
                &req.etag,
                request_key(&req),
                action,
            )?,
        )
        .await?;
        Ok(Response::new(pb::CloseTicketResponse { ticket }))
    }

    async fn return_ticket(
        &self,
        request: Request<pb::ReturnTicketRequest>,
    ) -> Result<Response<pb::ReturnTicketResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::Return {
            reason: text(&req.reason, "reason", true, 1000)?,
            legal_basis: text(&req.legal_basis, "legal_basis", true, 500)?,
            policy: self.workflow.return_policy(),
        };
        let act = ActRequest::new(
            "ReturnTicket",
            &req.name,
            &req.etag,
            request_key(&req),
            action,
        )?
        .by_lead_unit();
        let ticket = act_view(&self.workflow, &principal, Operation::UnitHandling, act).await?;
        Ok(Response::new(pb::ReturnTicketResponse { ticket }))
    }

    async fn arbitrate_return(
        &self,
        request: Request<pb::ArbitrateReturnRequest>,
    ) -> Result<Response<pb::ArbitrateReturnResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let note = text(&req.note, "note", false, 1000)?;
        let redispatch = if req.approve && !req.redispatch_unit.is_empty() {
            let (unit, co_units) = self
                .workflow
                .parse_assignment_units(
                    &req.redispatch_unit,
                    "redispatch_unit",
                    &req.co_units,
                    "co_units",
                )
                .await?;
            Some(self.workflow.assignment(unit, co_units, note.clone(), None))
        } else if !req.approve && !req.redispatch_unit.is_empty() {
            return Err(ServiceError::invalid(
                "redispatch_unit",
                "only an approved return can be re-dispatched",
            )
            .into());
        } else if !req.co_units.is_empty() {
            // Approved without a new lead unit, or rejected: no dispatch
            // for co-handling units to join.
            return Err(ServiceError::invalid(
                "co_units",
                "co-handling units come with a redispatch_unit",
            )
            .into());
        } else {
            None
        };
        let action = Action::ArbitrateReturn {
            redispatch,
            approve: req.approve,
            note,
        };
        let act = ActRequest::new(
            "ArbitrateReturn",
            &req.name,
            &req.etag,
            request_key(&req),
            action,
        )?;
        let ticket = act_view(&self.workflow, &principal, Operation::CentreDecision, act).await?;
        Ok(Response::new(pb::ArbitrateReturnResponse { ticket }))
    }

    async fn add_progress_note(
        &self,
        request: Request<pb::AddProgressNoteRequest>,
    ) -> Result<Response<pb::AddProgressNoteResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::AddProgressNote {
            text: text(&req.text, "text", true, 2000)?,
        };
        let act = ActRequest::new("AddProgressNote", &req.name, "", request_key(&req), action)?;
        let ticket = act_view(&self.workflow, &principal, Operation::AddNote, act).await?;
        Ok(Response::new(pb::AddProgressNoteResponse { ticket }))
    }

    async fn request_extension(
        &self,
        request: Request<pb::RequestExtensionRequest>,
    ) -> Result<Response<pb::RequestExtensionResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::RequestExtension {
            days: u32::try_from(req.days)
                .map_err(|_| ServiceError::invalid("days", "must be positive"))?,
            reason: text(&req.reason, "reason", true, 1000)?,
            policy: self.workflow.time_limits(),
        };
        let act = ActRequest::new(
            "RequestExtension",
            &req.name,
            &req.etag,
            request_key(&req),
            action,
        )?
        .by_lead_unit();
        let ticket = act_view(&self.workflow, &principal, Operation::UnitHandling, act).await?;
        Ok(Response::new(pb::RequestExtensionResponse { ticket }))
    }

    async fn decide_extension(
        &self,
        request: Request<pb::DecideExtensionRequest>,
    ) -> Result<Response<pb::DecideExtensionResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let days = match req.days {
            0 => None,
            n => Some(
                u32::try_from(n)
                    .map_err(|_| ServiceError::invalid("days", "must not be negative"))?,
            ),
        };
        let action = Action::DecideExtension {
            approve: req.approve,
            days,
            timing: self.workflow.timing(),
            note: text(&req.note, "note", false, 1000)?,
        };
        let act = ActRequest::new(
            "DecideExtension",
            &req.name,
            &req.etag,
            request_key(&req),
            action,
        )?;
        let ticket = act_view(&self.workflow, &principal, Operation::CentreDecision, act).await?;
        Ok(Response::new(pb::DecideExtensionResponse { ticket }))
    }

    async fn review_reply(
        &self,
        request: Request<pb::ReviewReplyRequest>,
    ) -> Result<Response<pb::ReviewReplyResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::ReviewReply {
            approve: req.approve,
            note: text(&req.note, "note", !req.approve, 1000)?,
            callback_deadline: Some(self.workflow.callback_deadline()),
        };
        let act = ActRequest::new(
            "ReviewReply",
            &req.name,
            &req.etag,
            request_key(&req),
            action,
        )?;
        let ticket = act_view(&self.workflow, &principal, Operation::CentreDecision, act).await?;
        Ok(Response::new(pb::ReviewReplyResponse { ticket }))
    }

    async fn reopen_ticket(
        &self,
        request: Request<pb::ReopenTicketRequest>,
    ) -> Result<Response<pb::ReopenTicketResponse>, Status> {
        let principal = authorized(&request, Operation::CentreDecision)?;
        let req = request.into_inner();
        let lead = if req.lead_unit.is_empty() {
            let id = crate::proto::convert::ticket_id(&req.name, "name")?;
            let current = self.workflow.load_visible(&principal, id).await?;
            current.lead_unit.map(|u| u.name()).ok_or_else(|| {
                ServiceError::invalid("lead_unit", "the ticket has no lead unit; name one")
            })?
        } else {
            req.lead_unit.clone()
        };
        let (unit, co_units) = self
            .workflow
            .parse_assignment_units(&lead, "lead_unit", &req.co_units, "co_units")
            .await?;
        let note = text(&req.note, "note", false, 1000)?;
        let action = Action::Reopen {
            assignment: self.workflow.assignment(unit, co_units, note, None),
            max_reopens: self.workflow.max_reopens(),
        };
        let act = ActRequest::new(
            "ReopenTicket",
            &req.name,
            &req.etag,
            request_key(&req),
            action,
        )?;
        let ticket = act_view(&self.workflow, &principal, Operation::CentreDecision, act).await?;
        Ok(Response::new(pb::ReopenTicketResponse { ticket }))
    }

    async fn merge_tickets(
        &self,
        request: Request<pb::MergeTicketsRequest>,
    ) -> Result<Response<pb::MergeTicketsResponse>, Status> {
        super::merge::merge_tickets(&self.workflow, request).await
    }

    async fn unmerge_ticket(
        &self,
        request: Request<pb::UnmergeTicketRequest>,
    ) -> Result<Response<pb::UnmergeTicketResponse>, Status> {
        super::merge::unmerge_ticket(&self.workflow, request).await
    }

    async fn list_duplicate_candidates(
        &self,
        request: Request<pb::ListDuplicateCandidatesRequest>,
    ) -> Result<Response<pb::ListDuplicateCandidatesResponse>, Status> {
        super::merge::list_duplicate_candidates(&self.workflow, request).await
    }

    async fn list_triage_queue(
        &self,
        request: Request<pb::ListTriageQueueRequest>,
    ) -> Result<Response<pb::ListTriageQueueResponse>, Status> {
        let principal = authorized(&request, Operation::CentreDecision)?;
        let req = request.into_inner();
        let mut query = TicketQuery::all(0);
        query.states = vec![TicketState::PendingDispatch];
        query.oldest_first = true;
        if !req.region_prefix.is_empty() {
            query.region_prefix = Some(at(
                RegionCode::parse_prefix(&req.region_prefix),
                "region_prefix",
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
        Ok(Response::new(pb::ListTriageQueueResponse {
            tickets,
            next_page_token,
        }))
    }
}
