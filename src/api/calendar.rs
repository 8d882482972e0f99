//! `hotline.v1.CalendarService`: the working-day calendar over gRPC.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::proto::convert::{deadline_to_proto, from_timestamp, text};
use crate::service::ServiceError;
use crate::service::calendar_cell::CalendarLoadError;
use crate::service::workflow::Workflow;
use crate::{
    auth::authorized,
    domain::{
        DomainError,
        access::Operation,
        calendar::{Calendar, CalendarData, CalendarError, Layer},
        timelimit::{Limit, TimeLimitPolicy},
    },
    proto::v1::{self as pb, calendar_service_server::CalendarService},
};

/// Implements `CalendarService`.
#[derive(Debug, Clone)]
pub(crate) struct CalendarApi {
    workflow: Arc<Workflow>,
}

impl CalendarApi {
    /// A service over the shared workflow.
    pub(crate) fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }
}

fn loaded_years(calendar: &Calendar) -> Vec<i32> {
    let mut years: Vec<i32> = calendar
        .data()
        .years
        .iter()
        .filter(|y| y.layer == Layer::National)
        .map(|y| y.year)
        .collect();
    years.sort_unstable();
    years.dedup();
    years
}

fn policy_toml(policy: &TimeLimitPolicy) -> Result<String, ServiceError> {
    toml::to_string(policy).map_err(|e| ServiceError::Internal(format!("policy to TOML: {e}")))
}

/// Calendar problems as INVALID_ARGUMENT on `toml`, naming year and entry.
fn calendar_error(err: CalendarError) -> ServiceError {
    match err {
        CalendarError::Invalid(violations) => match violations.first() {
            Some(v) => ServiceError::invalid(
                "toml",
                format!(
                    "year {} {}: {} ({} problem(s))",
                    v.year,
                    v.entry,
                    v.message,
                    violations.len()
                ),
            ),
            None => ServiceError::invalid("toml", "invalid calendar"),
        },
        other => ServiceError::invalid("toml", other.to_string()),
    }
}

#[tonic::async_trait]
impl CalendarService for CalendarApi {
    async fn get_calendar(
        &self,
        request: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::GetCalendarResponse>, Status> {
        authorized(&request, Operation::ReadDirectory)?;
        let calendar = self.workflow.calendar().current();
        let hours = calendar.working_hours();
        Ok(Response::new(pb::GetCalendarResponse {
            version: calendar.version(),
            loaded_years: loaded_years(&calendar),
            work_start: hours.start.format("%H:%M").to_string(),
            work_end: hours.end.format("%H:%M").to_string(),
            toml: toml::to_string(calendar.data())
                .map_err(|e| ServiceError::Internal(format!("calendar to TOML: {e}")))?,
        }))
    }

    async fn import_calendar(
        &self,
        request: Request<pb::ImportCalendarRequest>,
    ) -> Result<Response<pb::ImportCalendarResponse>, Status> {
        let principal = authorized(&request, Operation::ManageDirectory)?;
        let req = request.into_inner();
        let note = text(&req.note, "note", false, 500)?;
        let data = CalendarData::from_toml(&req.toml).map_err(calendar_error)?;
        let now = self.workflow.clock().now();
        let stored = self
            .workflow
            .calendar()
            .import(&data, &note, &principal.subject, now)
            .await
            .map_err(|e| match e {
                CalendarLoadError::Invalid(err) => calendar_error(err),
                CalendarLoadError::Store(err) => err.into(),
            })?;
        let calendar = self.workflow.calendar().current();
        Ok(Response::new(pb::ImportCalendarResponse {
            version: stored.version,
            loaded_years: loaded_years(&calendar),
        }))
    }

    async fn get_time_limit_policy(
        &self,
        request: Request<pb::GetTimeLimitPolicyRequest>,
    ) -> Result<Response<pb::GetTimeLimitPolicyResponse>, Status> {
        authorized(&request, Operation::ReadDirectory)?;
        Ok(Response::new(pb::GetTimeLimitPolicyResponse {
            version: self.workflow.time_limits_version(),
            toml: policy_toml(&self.workflow.time_limits())?,
        }))
    }

    async fn update_time_limit_policy(
        &self,
        request: Request<pb::UpdateTimeLimitPolicyRequest>,
    ) -> Result<Response<pb::UpdateTimeLimitPolicyResponse>, Status> {
        let principal = authorized(&request, Operation::ManageDirectory)?;
        let policy: TimeLimitPolicy = toml::from_str(&request.get_ref().toml)
            .map_err(|e| ServiceError::invalid("toml", e.message().to_owned()))?;
        if !(1..=60).contains(&policy.max_extension_days) {
            return Err(ServiceError::invalid(
                "toml",
                "max_extension_days must be between 1 and 60",
            )
            .into());
        }
        let version = self
            .workflow
            .set_time_limits(policy.clone(), &principal.subject)
            .await?;
        Ok(Response::new(pb::UpdateTimeLimitPolicyResponse {
            version,
            toml: policy_toml(&policy)?,
        }))
    }

    async fn compute_deadline(
        &self,
        request: Request<pb::ComputeDeadlineRequest>,
    ) -> Result<Response<pb::ComputeDeadlineResponse>, Status> {
        authorized(&request, Operation::ReadDirectory)?;
        let req = request.into_inner();
        let start = req
            .start_time
            .as_ref()
            .ok_or_else(|| ServiceError::invalid("start_time", "required"))?;
        let start = from_timestamp(start, "start_time")?;
        if !(1970..=2200).contains(&chrono::Datelike::year(&start)) {
            return Err(
                ServiceError::invalid("start_time", "must be between 1970 and 2200").into(),
            );
        }
        let limit: Limit = req.limit.parse().map_err(|e: DomainError| match e {
            DomainError::InvalidField { message, .. } => ServiceError::invalid("limit", message),
            other => other.into(),
        })?;
        let deadline = limit.deadline(&self.workflow.calendar().current(), start);
        Ok(Response::new(pb::ComputeDeadlineResponse {
            deadline: Some(deadline_to_proto(deadline)),
        }))
    }
}
