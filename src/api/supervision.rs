//! `hotline.v1.SupervisionService`: urges, supervision orders, overdue
//! lists, live alerts and the sweep.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    alerts::{AlertWatch, parse_alerts_token, watch_alerts},
    idempotency::request_key,
    streams::ServerStream,
    ticket::{act_view, list_page},
};
use crate::proto::convert::{at, text};
use crate::service::ServiceError;
use crate::service::hotspots::Hotspots;
use crate::service::workflow::{ActRequest, Workflow};
use crate::{
    auth::{authorized, principal, session_expiry},
    domain::{Action, RegionCode, UnitId, access::Operation},
    proto::v1::{self as pb, supervision_service_server::SupervisionService},
    store::TicketQuery,
};

/// Implements `SupervisionService`.
#[derive(Debug, Clone)]
pub(crate) struct SupervisionApi {
    workflow: Arc<Workflow>,
    /// For the hotspot alerts of WatchAlerts.
    hotspots: Arc<Hotspots>,
}

impl SupervisionApi {
    /// A service over the shared workflow and hotspots.
    pub(crate) fn new(workflow: Arc<Workflow>, hotspots: Arc<Hotspots>) -> Self {
        Self { workflow, hotspots }
    }
}

/// The optional region and unit filters of the supervision lists.
pub(super) fn scoped_query(
    region_prefix: &str,
    lead_unit: &str,
) -> Result<TicketQuery, ServiceError> {
    let mut query = TicketQuery::all(0);
    query.oldest_first = true;
    if !region_prefix.is_empty() {
        query.region_prefix = Some(at(
            RegionCode::parse_prefix(region_prefix),
            "region_prefix",
        )?);
    }
    if !lead_unit.is_empty() {
        query.lead_unit = Some(at(UnitId::from_name(lead_unit), "lead_unit")?);
    }
    Ok(query)
}

#[tonic::async_trait]
impl SupervisionService for SupervisionApi {
    async fn urge_ticket(
        &self,
        request: Request<pb::UrgeTicketRequest>,
    ) -> Result<Response<pb::UrgeTicketResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::Urge {
            note: text(&req.note, "note", false, 1000)?,
        };
        let act = ActRequest::new("UrgeTicket", &req.name, "", request_key(&req), action)?;
        let ticket = act_view(&self.workflow, &principal, Operation::CentreDecision, act).await?;
        Ok(Response::new(pb::UrgeTicketResponse { ticket }))
    }

    async fn issue_supervision_order(
        &self,
        request: Request<pb::IssueSupervisionOrderRequest>,
    ) -> Result<Response<pb::IssueSupervisionOrderResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let days = match req.response_days {
            0 => None,
            n @ 1..=30 => Some(n.unsigned_abs()),
            _ => {
                return Err(ServiceError::invalid(
                    "response_days",
                    "must be 0 (default) or 1..=30",
                )
                .into());
            }
        };
        let action = Action::IssueSupervision {
            reason: text(&req.reason, "reason", true, 1000)?,
            response_deadline: self.workflow.order_response_deadline(days),
        };
        let act = ActRequest::new(
            "IssueSupervisionOrder",
            &req.name,
            "",
            request_key(&req),
            action,
        )?;
        let ticket = act_view(&self.workflow, &principal, Operation::CentreDecision, act).await?;
        Ok(Response::new(pb::IssueSupervisionOrderResponse { ticket }))
    }

    async fn respond_to_supervision(
        &self,
        request: Request<pb::RespondToSupervisionRequest>,
    ) -> Result<Response<pb::RespondToSupervisionResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let action = Action::RespondToSupervision {
            text: text(&req.text, "text", true, 2000)?,
        };
        let act = ActRequest::new(
            "RespondToSupervision",
            &req.name,
            "",
            request_key(&req),
            action,
        )?
        .by_lead_unit();
        let ticket = act_view(&self.workflow, &principal, Operation::UnitHandling, act).await?;
        Ok(Response::new(pb::RespondToSupervisionResponse { ticket }))
    }

    async fn list_overdue(
        &self,
        request: Request<pb::ListOverdueRequest>,
    ) -> Result<Response<pb::ListOverdueResponse>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let req = request.into_inner();
        let mut query = scoped_query(&req.region_prefix, &req.lead_unit)?;
        query.overdue_at = Some(self.workflow.clock().now());
        let (tickets, next_page_token) = list_page(
            &self.workflow,
            &principal,
            &req,
            req.page_size,
            &req.page_token,
            query,
        )
        .await?;
        Ok(Response::new(pb::ListOverdueResponse {
            tickets,
            next_page_token,
        }))
    }

    async fn list_supervision_orders(
        &self,
        request: Request<pb::ListSupervisionOrdersRequest>,
    ) -> Result<Response<pb::ListSupervisionOrdersResponse>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let req = request.into_inner();
        let mut query = scoped_query(&req.region_prefix, &req.lead_unit)?;
        query.supervision_open = true;
        let (tickets, next_page_token) = list_page(
            &self.workflow,
            &principal,
            &req,
            req.page_size,
            &req.page_token,
            query,
        )
        .await?;
        Ok(Response::new(pb::ListSupervisionOrdersResponse {
            tickets,
            next_page_token,
        }))
    }

    type WatchAlertsStream = ServerStream<pb::WatchAlertsResponse>;

    async fn watch_alerts(
        &self,
        request: Request<pb::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let watch = AlertWatch {
            principal,
            expiry: session_expiry(&request),
            permit: crate::quota::stream_permit(&request)?,
            from: parse_alerts_token(&request.into_inner().resume_token)?,
        };
        let stream = watch_alerts(&self.workflow, &self.hotspots, watch).await?;
        Ok(Response::new(stream))
    }

    async fn run_sweep(
        &self,
        request: Request<pb::RunSweepRequest>,
    ) -> Result<Response<pb::RunSweepResponse>, Status> {
        authorized(&request, Operation::ManageDirectory)?;
        let report = self.workflow.sweep().await?;
        Ok(Response::new(pb::RunSweepResponse {
            alerts: i32::try_from(report.alerts).unwrap_or(i32::MAX),
            orders: i32::try_from(report.orders).unwrap_or(i32::MAX),
            hotspot_alerts: i32::try_from(report.hotspot_alerts).unwrap_or(i32::MAX),
        }))
    }
}
