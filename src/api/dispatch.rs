//! `hotline.v1.DispatchService`: dispatch, sign, reply, callback, close.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    convert::{optional_enum, required_enum, text, unit_id},
    error::ApiError,
    ticket::list_view,
    workflow::{ActRequest, Workflow},
};
use crate::{
    auth::principal,
    domain::{Action, Principal, access::Operation},
    proto::v1::{self as pb, dispatch_service_server::DispatchService},
    store::StoreError,
};

/// Implements `DispatchService`.
#[derive(Debug, Clone)]
pub struct DispatchApi {
    workflow: Arc<Workflow>,
}

impl DispatchApi {
    /// A service over the shared workflow.
    pub fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }

    async fn act(
        &self,
        principal: &Principal,
        operation: Operation,
        req: ActRequest<'_>,
    ) -> Result<Option<pb::Ticket>, Status> {
        principal.authorize(operation).map_err(ApiError::from)?;
        let ticket = self.workflow.act(principal, req).await?;
        Ok(Some(list_view(principal, &ticket)))
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
        let unit = unit_id(&req.lead_unit, "lead_unit")?;
        match self.workflow.store().get_unit(&unit).await {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => {
                return Err(ApiError::invalid(
                    "lead_unit",
                    format!("unknown unit {}", unit.name()),
                )
                .into());
            }
            Err(e) => return Err(ApiError::from(e).into()),
        }
        let action = Action::Dispatch {
            unit,
            note: text(&req.note, "note", false, 1000)?,
        };
        let ticket = self
            .act(
                &principal,
                Operation::CentreDecision,
                ActRequest::new(
                    "DispatchTicket",
                    &req.name,
                    &req.etag,
                    &req.request_id,
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
        let ticket = self
            .act(
                &principal,
                Operation::UnitHandling,
                ActRequest::new(
                    "SignTicket",
                    &req.name,
                    &req.etag,
                    &req.request_id,
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
        };
        let ticket = self
            .act(
                &principal,
                Operation::UnitHandling,
                ActRequest::new("ReplyTicket", &req.name, &req.etag, &req.request_id, action)?
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
        let action = Action::RecordCallback {
            satisfaction: required_enum(req.satisfaction, "satisfaction")?,
            resolved: req.resolved,
            comment: text(&req.comment, "comment", false, 2000)?,
        };
        let ticket = self
            .act(
                &principal,
                Operation::Intake,
                ActRequest::new(
                    "RecordCallback",
                    &req.name,
                    &req.etag,
                    &req.request_id,
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
        let ticket = self
            .act(
                &principal,
                Operation::CentreDecision,
                ActRequest::new("CloseTicket", &req.name, &req.etag, &req.request_id, action)?,
            )
            .await?;
        Ok(Response::new(pb::CloseTicketResponse { ticket }))
    }
}
