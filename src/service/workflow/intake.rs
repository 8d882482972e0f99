//! Intake: a new ticket accepted, routed and committed with its counters.

use super::{RequestKey, Workflow, idempotency_key};
use crate::{
    domain::{
        Action, Principal,
        directory::RegionStanding,
        ticket::{Intake, RoutingRef, Ticket},
    },
    service::ServiceError,
    store::{NewTicket, StoreError},
};

impl Workflow {
    /// Accepts a new ticket, idempotently on the request's key: a retry of
    /// the same request gets the ticket the first one created; the key
    /// reused for another request is refused (see [`super::idempotency`]).
    pub async fn create(
        &self,
        principal: &Principal,
        intake: Intake,
        request: &RequestKey,
    ) -> Result<Ticket, ServiceError> {
        const OPERATION: &str = "CreateTicket";
        let key = idempotency_key(principal, request, OPERATION)?;
        // No look-up of the key first: retries are rare, and the insert
        // fails on the key's unique index anyway — the store then gives the
        // refused intake's number back, so a retry leaves no gap — and the
        // replay below costs a retry one wasted write and saves every first
        // attempt a round trip. Concurrent retries all fail on the index
        // but one, and replay it.
        let region = self
            .regions
            .standing(&intake.region_code, "ticket.region_code")
            .await?;
        let new = self.prepare_create_in(principal, intake, &region)?;
        match self.store.create_ticket(new, key.clone()).await {
            Ok(ticket) => {
                self.committed();
                self.count_routing(&ticket);
                // The first verb on it (a dispatch, a sign) starts from here.
                self.tickets.remember(&ticket);
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
    /// The region is taken as known (the benchmark's directory holds it).
    pub fn prepare_create(
        &self,
        principal: &Principal,
        intake: Intake,
    ) -> Result<NewTicket, ServiceError> {
        self.prepare_create_in(principal, intake, &RegionStanding::Known)
    }

    /// [`Workflow::prepare_create`] for a region whose standing in the
    /// directory was checked.
    fn prepare_create_in(
        &self,
        principal: &Principal,
        intake: Intake,
        region: &RegionStanding,
    ) -> Result<NewTicket, ServiceError> {
        let now = self.clock.now();
        let mut created = Ticket::accept(intake, String::new(), principal, now);
        // Before routing, so a dispatch on intake carries it too; a ticket
        // left in the triage queue shows it to the agent who routes it.
        created.note_region(region.note(&created.ticket.intake.region_code));
        let followups = match self.route(&created.ticket, region) {
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

    /// Counts how a committed intake was routed: by a rule, by the dispatch
    /// model, by the district fallback, or not at all (the triage queue, also when automatic
    /// dispatch is off). Counted after the commit, so a replayed
    /// `request_id` is not counted twice.
    fn count_routing(&self, ticket: &Ticket) {
        let counter = match (&ticket.lead_unit, &ticket.routing) {
            (Some(_), Some(r)) if r.rule_id.is_some() => &self.instruments.routed_by_rule,
            (Some(_), Some(r)) if r.model_version.is_some() => &self.instruments.routed_by_model,
            (Some(_), Some(_)) => &self.instruments.routed_by_fallback,
            _ => &self.instruments.routed_to_triage,
        };
        counter.increment(1);
    }

    /// The automatic dispatch of a new ticket, if routing decides a unit.
    /// A street the directory does not know goes to its district's
    /// government (属地兜底) whatever the rules say, when the centre routes
    /// by district at all: rules keyed on streets or keywords would trust
    /// an address the directory cannot place.
    fn route(&self, ticket: &Ticket, region: &RegionStanding) -> Option<Action> {
        if !self.routing.auto_dispatch {
            return None;
        }
        let router = self.router.current();
        let unknown_street = match region {
            RegionStanding::UnknownStreet { district } if router.options().fallback_to_district => {
                router.district_fallback(district.as_str())
            }
            _ => None,
        };
        let decision = match unknown_street {
            Some(decision) => decision,
            None => self.decide_route(&ticket.intake.routing_input())?,
        };
        let routing = RoutingRef {
            rule_id: decision.rule_id.clone(),
            rule_set_version: decision.rule_set_version,
            model_version: decision.model_version,
        };
        let note = match (&decision.rule_id, region) {
            (Some(rule), _) => format!("自动派单: rules/{rule}"),
            (None, _) if let Some(version) = decision.model_version => {
                format!("自动派单: dispatchModels/{version}")
            }
            (None, RegionStanding::UnknownStreet { district }) => format!(
                "自动派单: 属地兜底（街道 {} 不在区划目录中，派至所属区 {district}）",
                ticket.intake.region_code
            ),
            (None, RegionStanding::Known) => "自动派单: 属地兜底".to_owned(),
        };
        Some(Action::Dispatch(self.assignment(
            decision.unit,
            decision.co_units,
            note,
            Some(routing),
        )))
    }
}
