//! The shared path of every ticket write: scope check, etag check,
//! idempotent replay, the domain transition, and one store commit.
//!
//! Services call [`Workflow::create`] and [`Workflow::act`] instead of
//! repeating these steps per RPC. By concern: [`intake`] (new tickets),
//! [`verbs`] (actions on existing tickets), [`merges`] (duplicates merged
//! into a primary, 并单), [`idempotency`] (safe retries:
//! `request_id`s bound to their request, replay), [`sweeper`] (deadline
//! crossings), [`policies`] (the centre's settings in force),
//! [`ticket_cache`] (the tickets this replica wrote last, which verbs
//! start from instead of reading them: an optimistic guess that the
//! version-checked write confirms or refuses).

use std::sync::Arc;

use chrono::FixedOffset;

use super::{
    ServiceError, calendar_cell::CalendarCell, feed::TicketFeed, instruments::Instruments,
    model_cell::ModelCell, regions::KnownRegions, router_cell::RouterCell, snapshot::Snapshot,
};
use crate::{
    config::{
        CallbackSettings, DispatchModelSettings, RoutingSettings, SupervisionSettings,
        WorkflowSettings,
    },
    domain::{
        Clock, Principal, TicketId, Transition,
        metrics::{self, CounterDelta},
        ticket::Ticket,
        timelimit::TimeLimitPolicy,
    },
    store::Store,
};

mod candidates;
mod idempotency;
mod intake;
mod merges;
mod policies;
mod reads;
mod sweeper;
mod ticket_cache;
mod verbs;

pub use candidates::{CALLER_ROWS, Candidate, CandidateQuery, MAX_DAYS, PLACE_ROWS, Probe};
pub use idempotency::{RequestKey, check_retry, idempotency_key};
pub use merges::{MergeRequest, Merged};
pub use sweeper::SweepReport;
pub use ticket_cache::{CacheCounters, TicketCache};
pub use verbs::{ActRequest, Actor};

/// The application service: the store, the clock and the centre's
/// policies in force, with every use case as a method. The ticket workflow
/// is in this module's files; the directory, catalogue and metrics use
/// cases are in `service/{directory,catalogue,metrics}.rs`. One object,
/// so that each gRPC service, the CLI and the load generator share one
/// view of the policies in force.
#[derive(Debug, Clone)]
pub struct Workflow {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    centre_offset: FixedOffset,
    router: Arc<RouterCell>,
    routing: RoutingSettings,
    model: Arc<ModelCell>,
    dispatch_model: DispatchModelSettings,
    calendar: Arc<CalendarCell>,
    time_limits: Arc<Snapshot<i64, TimeLimitPolicy>>,
    supervision: SupervisionSettings,
    callback: CallbackSettings,
    feed: TicketFeed,
    /// Operational metrics (routing decisions, the sweeper).
    instruments: Instruments,
    /// The region codes tickets are checked against.
    regions: Arc<KnownRegions>,
    /// The tickets this replica wrote last, for verbs to start from
    /// without a read ([`ticket_cache`]).
    tickets: Arc<TicketCache>,
}

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
    /// The dispatch model in force.
    pub model: Arc<ModelCell>,
    /// When it decides, how it trains.
    pub dispatch_model: DispatchModelSettings,
    /// The working-day calendar in force.
    pub calendar: Arc<CalendarCell>,
    /// Time limits in force and their stored version (0: from configuration).
    pub time_limits: (i64, TimeLimitPolicy),
    /// Sweeper and supervision settings.
    pub supervision: SupervisionSettings,
    /// Review, callback window and re-handling settings.
    pub callback: CallbackSettings,
    /// Operational metric handles (no-ops by default).
    pub instruments: Instruments,
    /// The act path's ticket cache.
    pub workflow: WorkflowSettings,
}

impl Workflow {
    /// A workflow over a store and a clock.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, parts: WorkflowParts) -> Self {
        Self {
            regions: Arc::new(KnownRegions::new(store.clone())),
            tickets: Arc::new(TicketCache::new(
                parts.workflow.ticket_cache_entries,
                parts.workflow.ticket_cache_ttl(),
                parts.instruments.ticket_cache.clone(),
            )),
            store,
            clock,
            centre_offset: parts.centre_offset,
            router: parts.router,
            routing: parts.routing,
            model: parts.model,
            dispatch_model: parts.dispatch_model,
            calendar: parts.calendar,
            time_limits: Arc::new(Snapshot::new(parts.time_limits.0, parts.time_limits.1)),
            supervision: parts.supervision,
            callback: parts.callback,
            feed: TicketFeed::default(),
            instruments: parts.instruments,
        }
    }

    /// The centre's local day at `time`: the day counters and ticket numbers
    /// count in.
    pub fn local_day(&self, time: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        time.with_timezone(&self.centre_offset).date_naive()
    }

    /// When the centre's local day `day` begins.
    pub fn local_day_start(&self, day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
        crate::domain::calendar::local_day_start(day, self.centre_offset)
    }

    /// The live feed of committed events.
    pub fn feed(&self) -> &TicketFeed {
        &self.feed
    }

    /// Every committed event after `from` (a resume token's position) or
    /// after now, in log order (see [`TicketFeed::watch`]).
    pub async fn watch(
        &self,
        from: Option<crate::store::FeedPosition>,
    ) -> Result<crate::service::feed::Watch, ServiceError> {
        self.feed.watch(self.store.clone(), from).await
    }

    /// Tells the feed's relay a write of this replica committed (it reads
    /// the event from the log, as it does other replicas' writes).
    fn committed(&self) {
        self.feed.wake();
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
}
