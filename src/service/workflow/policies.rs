//! The centre's policies in force: time limits and calendar, return window,
//! designation rule, review and callback settings, supervision deadlines.

use std::sync::Arc;

use super::Workflow;
use crate::{
    config::DispatchModelSettings,
    domain::{
        UnitId,
        lifecycle::{Assignment, ReplyPolicy, ReturnPolicy, ReturnWindow},
        routing::{Decision, RoutingInput},
        ticket::RoutingRef,
        timelimit::{TimeLimitPolicy, Timing},
    },
    service::{
        ServiceError, calendar_cell::CalendarCell, error::at, model_cell::ModelCell,
        router_cell::RouterCell,
    },
    store::StoreError,
};

/// Most co-handling units on one ticket.
const MAX_CO_UNITS: usize = 20;

impl Workflow {
    /// What a reply leads to now: review or not, and the callback deadline.
    pub fn reply_policy(&self) -> ReplyPolicy {
        ReplyPolicy {
            review: self.callback.review_replies,
            callback_deadline: Some(self.callback_deadline()),
        }
    }

    /// The callback deadline of a reply approved or submitted now.
    pub fn callback_deadline(&self) -> chrono::DateTime<chrono::Utc> {
        self.callback
            .window
            .deadline(&self.calendar.current(), self.clock.now())
            .at
    }

    /// Reopens allowed per ticket.
    pub fn max_reopens(&self) -> i32 {
        self.callback.max_reopens
    }

    /// The deadline a supervision order issued now must be answered by.
    pub fn order_response_deadline(&self, days: Option<u32>) -> chrono::DateTime<chrono::Utc> {
        let days = days.unwrap_or(self.supervision.order_response_days).max(1);
        self.calendar
            .current()
            .add_working_days(self.clock.now(), days)
            .at
    }

    /// The working-day calendar in force.
    pub fn calendar(&self) -> &Arc<CalendarCell> {
        &self.calendar
    }

    /// The time-limit policy.
    pub fn time_limits(&self) -> Arc<TimeLimitPolicy> {
        self.time_limits.get()
    }

    /// The stored version of the policy in force (0: from configuration).
    pub fn time_limits_version(&self) -> i64 {
        self.time_limits.key()
    }

    /// Validates, stores and puts a new time-limit policy in force; tickets
    /// already dispatched keep their deadlines.
    pub async fn set_time_limits(
        &self,
        policy: TimeLimitPolicy,
        changed_by: &str,
    ) -> Result<i64, ServiceError> {
        let version = self
            .store
            .save_time_limits(&policy, changed_by, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => {
                    ServiceError::Conflict("another policy change won; retry".into())
                }
                other => other.into(),
            })?;
        self.time_limits.set(version, policy);
        Ok(version)
    }

    /// Picks up a policy another replica stored.
    pub async fn refresh_time_limits(&self) -> Result<bool, ServiceError> {
        match self.store.latest_time_limits().await? {
            Some((version, policy)) if version != self.time_limits.key() => {
                self.time_limits.set(version, policy);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The calendar and policy deadlines are computed with now.
    pub fn timing(&self) -> Timing {
        Timing {
            policy: self.time_limits.get(),
            calendar: self.calendar.current(),
        }
    }

    /// The compiled dispatch catalogue.
    pub fn router(&self) -> &Arc<RouterCell> {
        &self.router
    }

    /// The dispatch model in force.
    pub fn model(&self) -> &Arc<ModelCell> {
        &self.model
    }

    /// When the dispatch model decides and how it trains.
    pub fn dispatch_model_settings(&self) -> &DispatchModelSettings {
        &self.dispatch_model
    }

    /// The lead unit of a ticket by the rules and, when enabled and
    /// active, the dispatch model (see `hotline_model::combine`); `None`
    /// for triage.
    pub fn decide_route(&self, input: &RoutingInput<'_>) -> Option<Decision> {
        let router = self.router.current();
        let model = self.model.current();
        let model = model
            .as_ref()
            .as_ref()
            .filter(|_| self.dispatch_model.enabled);
        hotline_model::decide(&router, model, self.dispatch_model.policy(), input)
    }

    /// A dispatch under this centre's designation rule.
    pub fn assignment(
        &self,
        unit: UnitId,
        co_units: Vec<UnitId>,
        note: String,
        routing: Option<RoutingRef>,
    ) -> Assignment {
        Assignment {
            unit,
            co_units,
            note,
            routing,
            designate_after: self.routing.designate_after,
            timing: Some(self.timing()),
        }
    }

    /// Fails with INVALID_ARGUMENT on `field` unless the unit exists.
    pub async fn require_unit(&self, id: &UnitId, field: &str) -> Result<(), ServiceError> {
        match self.store.get_unit(id).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound(_)) => Err(ServiceError::invalid(
                field,
                format!("unknown unit {}", id.name()),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Fails unless the unit exists (INVALID_ARGUMENT on `field`) and takes
    /// tickets: a retired unit is [`ServiceError::UnitRetired`]
    /// (FAILED_PRECONDITION naming the field, the unit and its successor).
    ///
    /// Read before the write, not in its transaction: a retirement that
    /// commits between the check and the dispatch (a moment) lets that one
    /// dispatch through, and the unit's users see the ticket as they see
    /// the tickets they held when retired.
    pub async fn require_active_unit(&self, id: &UnitId, field: &str) -> Result<(), ServiceError> {
        self.require_unit(id, field).await?;
        if self.store.unit_retirement(id).await?.is_none() {
            return Ok(());
        }
        // The successor may have been retired since: name the unit that
        // answers for the matters now, following the chain.
        let successions = crate::service::model_cell::successions(self.store.as_ref()).await?;
        Err(ServiceError::UnitRetired {
            field: field.to_owned(),
            unit: id.name(),
            successor: successions
                .resolve(id.as_str(), &|_| true)
                .map(|s| s.name()),
        })
    }

    /// Parses and checks a lead unit and its co-handlers (they must exist,
    /// not be retired, and differ from the lead).
    pub async fn parse_assignment_units(
        &self,
        lead: &str,
        lead_field: &str,
        co_units: &[String],
        co_field: &str,
    ) -> Result<(UnitId, Vec<UnitId>), ServiceError> {
        let lead_id = at(UnitId::from_name(lead), lead_field)?;
        self.require_active_unit(&lead_id, lead_field).await?;
        if co_units.len() > MAX_CO_UNITS {
            return Err(ServiceError::invalid(
                co_field,
                format!("at most {MAX_CO_UNITS} co-handling units"),
            ));
        }
        let co = co_units
            .iter()
            .enumerate()
            .map(|(i, name)| at(UnitId::from_name(name), &format!("{co_field}[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, unit) in co.iter().enumerate() {
            let field = format!("{co_field}[{i}]");
            if *unit == lead_id {
                return Err(ServiceError::invalid(
                    field,
                    "the lead unit cannot also co-handle",
                ));
            }
            if co[..i].contains(unit) {
                return Err(ServiceError::invalid(field, "listed twice"));
            }
            self.require_active_unit(unit, &field).await?;
        }
        Ok((lead_id, co))
    }

    /// This centre's return window.
    pub fn return_policy(&self) -> ReturnPolicy {
        ReturnPolicy {
            window: ReturnWindow::Calendar(self.routing.return_window, self.calendar.current()),
        }
    }
}
