//! The shared path of every ticket write: scope check, etag check,
//! idempotent replay, the domain transition, and one store commit.
//!
//! Services call [`Workflow::create`] and [`Workflow::act`] instead of
//! repeating these steps per RPC.

use std::sync::Arc;

use chrono::FixedOffset;

use super::ServiceError;
use super::{
    calendar_cell::CalendarCell, feed::TicketFeed, router_cell::RouterCell, snapshot::Snapshot,
};
use crate::{
    config::{CallbackSettings, RoutingSettings, SupervisionSettings},
    domain::{
        Action, Clock, Principal, TicketEvent, TicketId, Transition, UnitId,
        lifecycle::{Assignment, ReplyPolicy, ReturnPolicy, ReturnWindow},
        metrics::{self, CounterDelta},
        ticket::{Intake, RoutingRef, Ticket, TicketState},
        timelimit::{TimeLimitPolicy, Timing},
    },
    store::{IdempotencyKey, NewTicket, PiiAccess, Store, StoreError},
};

/// Most co-handling units on one ticket.
const MAX_CO_UNITS: usize = 20;

/// Longest accepted `request_id`.
const MAX_REQUEST_ID: usize = 128;

/// Who, besides the role check, may perform an action on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// Anyone whose row scope includes the ticket.
    InScope,
    /// Only a user of the ticket's lead unit.
    LeadUnit,
}

/// One write on an existing ticket.
#[derive(Debug)]
pub struct ActRequest<'a> {
    /// The ticket.
    pub id: TicketId,
    /// The client's etag, empty to skip the check.
    pub etag: &'a str,
    /// The client's idempotency key, empty for none.
    pub request_id: &'a str,
    /// RPC name, recorded with the idempotency key.
    pub operation: &'static str,
    /// Who may act.
    pub actor: Actor,
    /// What to do.
    pub action: Action,
}

impl<'a> ActRequest<'a> {
    /// A request on the ticket named by the RPC's `name` field, open to
    /// anyone in scope; see [`ActRequest::by_lead_unit`].
    pub fn new(
        operation: &'static str,
        name: &str,
        etag: &'a str,
        request_id: &'a str,
        action: Action,
    ) -> Result<Self, ServiceError> {
        Ok(Self {
            id: crate::proto::convert::ticket_id(name, "name")?,
            etag,
            request_id,
            operation,
            actor: Actor::InScope,
            action,
        })
    }

    /// Restricts the action to users of the ticket's lead unit.
    #[must_use]
    pub fn by_lead_unit(mut self) -> Self {
        self.actor = Actor::LeadUnit;
        self
    }
}

/// Ticket workflow over a store and a clock.
#[derive(Debug, Clone)]
pub struct Workflow {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    centre_offset: FixedOffset,
    router: Arc<RouterCell>,
    routing: RoutingSettings,
    calendar: Arc<CalendarCell>,
    time_limits: Arc<Snapshot<i64, TimeLimitPolicy>>,
    supervision: SupervisionSettings,
    callback: CallbackSettings,
    feed: TicketFeed,
    /// Publish own commits to the feed (false when the store announces
    /// every replica's commits and a relay publishes them).
    publish_own_commits: bool,
}

/// What one sweep recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Deadline crossings recorded.
    pub alerts: usize,
    /// Supervision orders issued automatically.
    pub orders: usize,
}

/// Tickets read per sweep query.
const SWEEP_BATCH: u32 = 200;

/// What a [`Workflow`] is built from besides store and clock.
#[derive(Debug, Clone)]
pub struct WorkflowParts {
    /// The centre's local time zone offset, which decides the day a ticket
    /// number counts in.
    pub centre_offset: FixedOffset,
    /// The compiled dispatch catalogue.
    pub router: Arc<RouterCell>,
    /// Routing and return settings.
    pub routing: RoutingSettings,
    /// The working-day calendar in force.
    pub calendar: Arc<CalendarCell>,
    /// Time limits in force and their stored version (0: from configuration).
    pub time_limits: (i64, TimeLimitPolicy),
    /// Sweeper and supervision settings.
    pub supervision: SupervisionSettings,
    /// Review, callback window and re-handling settings.
    pub callback: CallbackSettings,
    /// Whether the store announces commits to every replica (then a relay
    /// feeds the live streams, and the workflow does not publish its own).
    pub commits_announced: bool,
}

impl Workflow {
    /// A workflow over a store and a clock.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, parts: WorkflowParts) -> Self {
        Self {
            store,
            clock,
            centre_offset: parts.centre_offset,
            router: parts.router,
            routing: parts.routing,
            calendar: parts.calendar,
            time_limits: Arc::new(Snapshot::new(parts.time_limits.0, parts.time_limits.1)),
            supervision: parts.supervision,
            callback: parts.callback,
            feed: TicketFeed::default(),
            publish_own_commits: !parts.commits_announced,
        }
    }

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

    /// The centre's local day at `time`: the day counters and ticket numbers
    /// count in.
    pub fn local_day(&self, time: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        time.with_timezone(&self.centre_offset).date_naive()
    }

    /// Reopens allowed per ticket.
    pub fn max_reopens(&self) -> i32 {
        self.callback.max_reopens
    }

    /// The live feed of committed events.
    pub fn feed(&self) -> &TicketFeed {
        &self.feed
    }

    /// Publishes a commit of this replica, unless a relay does.
    fn published<'a>(&self, ticket: &Ticket, events: impl IntoIterator<Item = &'a TicketEvent>) {
        if self.publish_own_commits && self.feed.is_watched() {
            self.feed.publish(ticket, events);
        }
    }

    /// The deadline a supervision order issued now must be answered by.
    pub fn order_response_deadline(&self, days: Option<u32>) -> chrono::DateTime<chrono::Utc> {
        let days = days.unwrap_or(self.supervision.order_response_days).max(1);
        self.calendar
            .current()
            .add_working_days(self.clock.now(), days)
            .at
    }

    /// Records every deadline crossing due now: one event per crossing, and
    /// an automatic supervision order on overdue when configured. Safe to
    /// run on several replicas at once: each write is conditional on the
    /// ticket's version, so a crossing another replica recorded first is
    /// skipped, never recorded twice.
    pub async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        let mut report = SweepReport::default();
        loop {
            let now = self.clock.now();
            let due = self.store.due_for_sweep(now, SWEEP_BATCH).await?;
            let mut progressed = false;
            for ticket in &due {
                let (recorded, orders) = self.sweep_ticket(ticket.clone(), now).await?;
                report.alerts += recorded;
                report.orders += orders;
                progressed |= recorded > 0;
            }
            if due.len() < SWEEP_BATCH as usize || !progressed {
                return Ok(report);
            }
        }
    }

    /// Records the crossings due on one ticket; stops at the first lost race.
    async fn sweep_ticket(
        &self,
        mut ticket: Ticket,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(usize, usize), ServiceError> {
        let (mut recorded, mut orders) = (0, 0);
        let auto_order = self
            .supervision
            .auto_order_on_overdue
            .then(|| self.order_response_deadline(None));
        while let Some(batch) = ticket.sweep_crossing(now, auto_order)? {
            let issued_order = batch.len() > 1;
            let Some(after) = self.commit(&ticket, batch).await? else {
                break;
            };
            recorded += 1;
            orders += usize::from(issued_order);
            ticket = after;
        }
        Ok((recorded, orders))
    }

    /// Commits system transitions atomically; `None` when another writer won.
    async fn commit(
        &self,
        before: &Ticket,
        batch: Vec<Transition>,
    ) -> Result<Option<Ticket>, ServiceError> {
        match self
            .store
            .apply_transitions(
                before.version,
                &batch,
                &self.counters_of(Some(before), &batch),
                None,
            )
            .await
        {
            Ok(()) => {
                if let Some(last) = batch.last() {
                    self.published(&last.ticket, batch.iter().map(|t| &t.event));
                }
                Ok(batch.into_iter().last().map(|t| t.ticket))
            }
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
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

    /// Parses and checks a lead unit and its co-handlers (they must exist
    /// and differ from the lead).
    pub async fn parse_assignment_units(
        &self,
        lead: &str,
        lead_field: &str,
        co_units: &[String],
        co_field: &str,
    ) -> Result<(UnitId, Vec<UnitId>), ServiceError> {
        let lead_id = crate::proto::convert::unit_id(lead, lead_field)?;
        self.require_unit(&lead_id, lead_field).await?;
        if co_units.len() > MAX_CO_UNITS {
            return Err(ServiceError::invalid(
                co_field,
                format!("at most {MAX_CO_UNITS} co-handling units"),
            ));
        }
        let co = crate::proto::convert::unit_ids(co_units, co_field)?;
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
            self.require_unit(unit, &field).await?;
        }
        Ok((lead_id, co))
    }

    /// This centre's return window.
    pub fn return_policy(&self) -> ReturnPolicy {
        ReturnPolicy {
            window: ReturnWindow::Calendar(self.routing.return_window, self.calendar.current()),
        }
    }

    /// The store, for reads that need no workflow.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Reads a ticket the principal may see; tickets outside the scope are
    /// reported as not found, so their existence does not leak.
    pub async fn load_visible(
        &self,
        principal: &Principal,
        id: TicketId,
    ) -> Result<Ticket, ServiceError> {
        let ticket = self.store.get_ticket(id).await?;
        if principal.can_see(&ticket) {
            Ok(ticket)
        } else {
            Err(ServiceError::NotFound(id.name()))
        }
    }

    /// Records that `principal` saw the caller unmasked.
    pub async fn audit_pii_view(
        &self,
        principal: &Principal,
        id: TicketId,
        purpose: &'static str,
    ) -> Result<(), ServiceError> {
        let access = PiiAccess {
            subject: principal.subject.clone(),
            ticket_id: id,
            purpose,
            time: self.clock.now(),
        };
        Ok(self.store.record_pii_access(&access).await?)
    }

    /// Accepts a new ticket, idempotently on `request_id`.
    pub async fn create(
        &self,
        principal: &Principal,
        intake: Intake,
        request_id: &str,
    ) -> Result<Ticket, ServiceError> {
        const OPERATION: &str = "CreateTicket";
        let key = idempotency_key(principal, request_id, OPERATION)?;
        // No look-up of the key first: retries are rare, and the insert
        // transaction fails on the key's unique index anyway (rolling back
        // the daily number), so the replay below costs a retry one wasted
        // transaction and saves every first attempt a round trip.
        let new = self.prepare_create(principal, intake)?;
        // Kept for the feed only when someone watches.
        let events: Vec<TicketEvent> = if self.publish_own_commits && self.feed.is_watched() {
            std::iter::once(&new.created.event)
                .chain(new.followups.iter().map(|t| &t.event))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        match self.store.create_ticket(new, key.clone()).await {
            Ok(ticket) => {
                self.published(&ticket, &events);
                Ok(ticket)
            }
            Err(StoreError::AlreadyExists(_)) if key.is_some() => self
                .replay(principal, key.as_ref(), None)
                .await?
                .ok_or_else(|| ServiceError::Conflict("request_id raced".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Everything [`Workflow::create`] commits for a new ticket: the
    /// `created` transition, the automatic dispatch if routing decides a
    /// unit, and their counters. Public so `hotline bench` can commit the
    /// very same values straight through the store as its raw baseline.
    pub fn prepare_create(
        &self,
        principal: &Principal,
        intake: Intake,
    ) -> Result<NewTicket, ServiceError> {
        let now = self.clock.now();
        let created = Ticket::accept(intake, String::new(), principal, now);
        let followups = match self.route(&created.ticket) {
            Some(action) => vec![created.ticket.apply(action, principal, now)?],
            None => Vec::new(),
        };
        let mut counters = self.counters_of(None, std::slice::from_ref(&created));
        counters.extend(self.counters_of(Some(&created.ticket), &followups));
        Ok(NewTicket {
            created,
            followups,
            counters,
            local_day: self.local_day(now),
        })
    }

    /// The automatic dispatch of a new ticket, if routing decides a unit.
    fn route(&self, ticket: &Ticket) -> Option<Action> {
        if !self.routing.auto_dispatch {
            return None;
        }
        let decision = self
            .router
            .current()
            .decide(&ticket.intake.routing_input())?;
        let routing = RoutingRef {
            rule_id: decision.rule_id.clone(),
            rule_set_version: decision.rule_set_version,
        };
        let note = match &decision.rule_id {
            Some(rule) => format!("自动派单: rules/{rule}"),
            None => "自动派单: 属地兜底".to_owned(),
        };
        Some(Action::Dispatch(self.assignment(
            decision.unit,
            decision.co_units,
            note,
            Some(routing),
        )))
    }

    /// Performs an action on a ticket.
    pub async fn act(
        &self,
        principal: &Principal,
        req: ActRequest<'_>,
    ) -> Result<Ticket, ServiceError> {
        let key = idempotency_key(principal, req.request_id, req.operation)?;
        if let Some(ticket) = self.replay(principal, key.as_ref(), Some(req.id)).await? {
            return Ok(ticket);
        }
        let ticket = self.load_visible(principal, req.id).await?;
        if req.actor == Actor::LeadUnit && !principal.is_lead_unit_of(&ticket) {
            return Err(ServiceError::PermissionDenied(
                "only the lead unit of the ticket may do this".into(),
            ));
        }
        if !req.etag.is_empty() && req.etag != ticket.etag() {
            return Err(ServiceError::EtagMismatch {
                current: ticket.etag(),
            });
        }
        let now = self.clock.now();
        let transition = ticket.apply(req.action, principal, now)?;
        let mut batch = vec![transition];
        if let Some(order) = self.follow_up(&batch[0].ticket, now)? {
            batch.push(order);
        }
        match self
            .store
            .apply_transitions(
                ticket.version,
                &batch,
                &self.counters_of(Some(&ticket), &batch),
                key.clone(),
            )
            .await
        {
            Ok(()) => {
                if let Some(last) = batch.last() {
                    self.published(&last.ticket, batch.iter().map(|t| &t.event));
                }
                Ok(batch.into_iter().last().map(|t| t.ticket).unwrap_or(ticket))
            }
            Err(StoreError::Conflict(_) | StoreError::AlreadyExists(_)) if key.is_some() => {
                match self.replay(principal, key.as_ref(), Some(req.id)).await? {
                    Some(ticket) => Ok(ticket),
                    None => Err(ServiceError::Conflict(format!(
                        "{} changed concurrently",
                        req.id.name()
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The scorecard counter changes a chain of transitions causes, each
    /// starting from the previous one's ticket.
    fn counters_of(&self, before: Option<&Ticket>, batch: &[Transition]) -> Vec<CounterDelta> {
        let mut previous = before;
        let mut out = Vec::new();
        for transition in batch {
            out.extend(metrics::deltas(previous, transition, self.centre_offset));
            previous = Some(&transition.ticket);
        }
        out
    }

    /// The follow-up the centre's rules attach to a change, committed in the
    /// same transaction: a citizen still dissatisfied after re-handling gets
    /// a supervision order.
    fn follow_up(
        &self,
        ticket: &Ticket,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Transition>, ServiceError> {
        let still_dissatisfied = ticket.state == TicketState::Dissatisfied
            && ticket.reopen_count > 0
            && ticket.supervision.is_none()
            && self.callback.order_on_dissatisfied_after_reopen;
        if !still_dissatisfied {
            return Ok(None);
        }
        let order = Action::IssueSupervision {
            reason: "重办后仍不满意，自动督办".into(),
            response_deadline: self.order_response_deadline(None),
        };
        Ok(Some(ticket.apply(
            order,
            &Principal::system("callback"),
            now,
        )?))
    }

    /// If the key was used before, returns the ticket it produced; a key
    /// reused for another operation or ticket is an invalid request.
    async fn replay(
        &self,
        principal: &Principal,
        key: Option<&IdempotencyKey>,
        expected: Option<TicketId>,
    ) -> Result<Option<Ticket>, ServiceError> {
        let Some(key) = key else { return Ok(None) };
        let Some(previous) = self
            .store
            .find_idempotent(&key.subject, &key.request_id)
            .await?
        else {
            return Ok(None);
        };
        let same_target = expected.is_none_or(|id| previous.resource == id.name());
        if previous.operation != key.operation || !same_target {
            return Err(ServiceError::invalid(
                "request_id",
                format!(
                    "already used for {} on {}",
                    previous.operation, previous.resource
                ),
            ));
        }
        let id = TicketId::from_name(&previous.resource).map_err(|_| {
            ServiceError::Internal(format!("idempotency record names {}", previous.resource))
        })?;
        self.load_visible(principal, id).await.map(Some)
    }
}

/// Validates a `request_id` and scopes it to the principal.
pub fn idempotency_key(
    principal: &Principal,
    request_id: &str,
    operation: &'static str,
) -> Result<Option<IdempotencyKey>, ServiceError> {
    let request_id = request_id.trim();
    if request_id.is_empty() {
        return Ok(None);
    }
    if request_id.len() > MAX_REQUEST_ID {
        return Err(ServiceError::invalid(
            "request_id",
            format!("at most {MAX_REQUEST_ID} characters"),
        ));
    }
    Ok(Some(IdempotencyKey {
        subject: principal.subject.clone(),
        request_id: request_id.to_owned(),
        operation,
    }))
}
