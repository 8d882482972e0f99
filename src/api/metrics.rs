//! `hotline.v1.MetricsService`: scorecards summed from the counters the
//! store keeps in the same transaction as the events.

use std::{collections::HashMap, sync::Arc};

use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use super::{convert, error::ApiError, workflow::Workflow};
use crate::{
    auth::principal,
    domain::{
        Principal, Role, UnitId,
        access::Operation,
        metrics::{Ratio, scorecard},
    },
    proto::v1::{self as pb, metrics_service_server::MetricsService},
};

/// The longest period one call may sum (a year and a day).
const MAX_PERIOD_DAYS: i64 = 367;

/// Implements `MetricsService`.
#[derive(Debug, Clone)]
pub struct MetricsApi {
    workflow: Arc<Workflow>,
}

impl MetricsApi {
    /// A service over the shared workflow.
    pub fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }

    /// Units see their own scorecard, supervisors those of units in their
    /// region, centre staff every one; the centre's own counters are for
    /// agents and admins.
    async fn check_scope(
        &self,
        principal: &Principal,
        unit: Option<&UnitId>,
    ) -> Result<(), ApiError> {
        if principal.has(Role::Agent) || principal.has(Role::Admin) {
            return Ok(());
        }
        let Some(unit) = unit else {
            return Err(ApiError::PermissionDenied(
                "the centre's scorecard is for centre staff".into(),
            ));
        };
        if principal.has(Role::UnitHandler) && principal.unit.as_ref() == Some(unit) {
            return Ok(());
        }
        if let Some(region) = principal
            .region
            .as_deref()
            .filter(|_| principal.has(Role::Supervisor))
        {
            let found = self.workflow.store().get_unit(unit).await?;
            if found.region_code.within(region) {
                return Ok(());
            }
        }
        Err(ApiError::PermissionDenied(
            "the unit is outside your scope".into(),
        ))
    }
}

fn day(raw: &str, field: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(field, "must be YYYY-MM-DD"))
}

fn ratio(metric: &str, r: Ratio) -> pb::Ratio {
    pb::Ratio {
        metric: metric.into(),
        numerator: r.numerator,
        denominator: r.denominator,
        value: r.value(),
    }
}

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn get_unit_scorecard(
        &self,
        request: Request<pb::GetUnitScorecardRequest>,
    ) -> Result<Response<pb::GetUnitScorecardResponse>, Status> {
        let principal = principal(&request)?;
        principal
            .authorize(Operation::ReadTickets)
            .map_err(ApiError::from)?;
        let req = request.into_inner();
        let unit = if req.unit.is_empty() {
            None
        } else {
            Some(convert::unit_id(&req.unit, "unit")?)
        };
        let start = day(&req.start_day, "start_day")?;
        let end = day(&req.end_day, "end_day")?;
        if end < start || (end - start).num_days() >= MAX_PERIOD_DAYS {
            return Err(ApiError::invalid(
                "end_day",
                "must be on or after start_day, within a year",
            )
            .into());
        }
        self.check_scope(&principal, unit.as_ref()).await?;
        let sums = self
            .workflow
            .store()
            .sum_counters(unit.as_ref(), start, end + chrono::Days::new(1))
            .await
            .map_err(ApiError::from)?;
        let totals: HashMap<_, _> = sums.into_iter().collect();
        let card = scorecard(&totals);
        Ok(Response::new(pb::GetUnitScorecardResponse {
            unit: unit.as_ref().map(UnitId::name).unwrap_or_default(),
            ratios: vec![
                ratio("timely_sign_for", card.timely_sign_for),
                ratio("on_time_completion", card.on_time_completion),
                ratio("completion", card.completion),
                ratio("return_rate", card.return_rate),
                ratio("rehandling_rate", card.rehandling_rate),
                ratio("satisfaction", card.satisfaction),
                ratio("resolution", card.resolution),
                ratio("response", card.response),
                ratio("resolved_at_intake", card.resolved_at_intake),
                ratio("reply_rate", card.reply_rate),
            ],
            improper_returns: card.improper_returns,
            overdue: card.overdue,
            extensions: card.extensions,
            not_rated: card.not_rated,
        }))
    }
}
