//! The raw database limit of each verb of `hotline bench lifecycle`: the
//! very write the server commits for it (`Store::apply_transitions` with
//! the workflow's transitions and counters), straight through the store on
//! the server's pool, at the same concurrency.
//!
//! Every lifecycle's values are built before the window by the server's
//! own workflow ([`Workflow::prepare_create`], [`Workflow::prepare_act`]),
//! on template tickets: intake with its auto-routing, a manual dispatch
//! where routing left the ticket in triage, sign and reply by the lead
//! unit's handler, the agent's callback. In the window a worker only
//! copies a template under a fresh id and commits it, step by step, so
//! what the gRPC side spends beyond this is the request path: gRPC, auth,
//! the ticket's read and the domain work.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    driver::{Sheet, Worker},
    raw::{bench_agent, fresh_copy, fresh_key},
    workload::Generator,
};
use hotline::{
    domain::{
        Action, Principal, Role, Ticket, TicketId, TicketState, Transition, UnitId,
        metrics::CounterDelta, ticket::Satisfaction,
    },
    proto::convert::intake_from_proto,
    service::Workflow,
    store::{NewTicket, Store},
};

/// Distinct pre-built lifecycles the raw workers cycle through.
const TEMPLATES: usize = 256;

/// A whole raw lifecycle, intake to callback.
pub const RAW_LIFECYCLE: &str = "raw lifecycle";

/// The raw operation of each gRPC operation of the lifecycle, in the
/// order the report lists them.
pub const RAW_OPS: &[(&str, &str)] = &[
    ("CreateTicket", "raw CreateTicket"),
    ("DispatchTicket", "raw DispatchTicket"),
    ("SignTicket", "raw SignTicket"),
    ("ReplyTicket", "raw ReplyTicket"),
    ("RecordCallback", "raw RecordCallback"),
    ("lifecycle", RAW_LIFECYCLE),
];

/// One verb's write, as the workflow prepared it.
#[derive(Debug, Clone)]
struct Step {
    /// The raw operation's name in the report.
    op: &'static str,
    /// The version the write starts from.
    expected_version: i64,
    /// The transitions to commit (the verb and any follow-up).
    transitions: Vec<Transition>,
    /// Their counter changes.
    counters: Vec<CounterDelta>,
}

/// A lifecycle prepared before the window: the intake and each verb after.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    new: NewTicket,
    steps: Vec<Step>,
}

/// A unit handler of `unit`, as the gRPC workers' tokens name them.
fn handler(unit: &UnitId) -> Principal {
    Principal {
        subject: format!("bench-{}", unit.as_str()),
        roles: vec![Role::UnitHandler],
        unit: Some(unit.clone()),
        region: None,
    }
}

/// Builds [`TEMPLATES`] lifecycles the way the gRPC workers drive them
/// (same texts, same share of dissatisfied callbacks; `manual_unit` takes
/// the tickets routing leaves in triage).
pub fn templates(
    workflow: &Workflow,
    mut generator: Generator,
    manual_unit: &str,
) -> anyhow::Result<Vec<Lifecycle>> {
    let agent = bench_agent();
    let manual = UnitId::parse(manual_unit)
        .map_err(|e| anyhow::anyhow!("manual unit {manual_unit:?}: {e}"))?;
    (0..TEMPLATES)
        .map(|_| {
            let intake = intake_from_proto(&generator.ticket(), "ticket")
                .map_err(|e| anyhow::anyhow!("generated intake rejected: {e:?}"))?;
            let new = workflow
                .prepare_create(&agent, intake)
                .map_err(|e| anyhow::anyhow!("preparing a ticket: {e:?}"))?;
            let mut ticket = new
                .followups
                .last()
                .map_or(&new.created.ticket, |t| &t.ticket)
                .clone();
            let mut steps = Vec::new();
            let mut step = |op: &'static str,
                            ticket: &mut Ticket,
                            who: &Principal,
                            action: Action|
             -> anyhow::Result<()> {
                let (transitions, counters) = workflow
                    .prepare_act(who, ticket, action)
                    .map_err(|e| anyhow::anyhow!("preparing {op}: {e:?}"))?;
                let expected_version = ticket.version;
                if let Some(last) = transitions.last() {
                    *ticket = last.ticket.clone();
                }
                steps.push(Step {
                    op,
                    expected_version,
                    transitions,
                    counters,
                });
                Ok(())
            };
            if ticket.state == TicketState::PendingDispatch {
                let assignment =
                    workflow.assignment(manual.clone(), Vec::new(), "按责转办".into(), None);
                step(
                    "raw DispatchTicket",
                    &mut ticket,
                    &agent,
                    Action::Dispatch(assignment),
                )?;
            }
            let lead = ticket
                .lead_unit
                .clone()
                .ok_or_else(|| anyhow::anyhow!("a prepared ticket has no lead unit"))?;
            let unit_handler = handler(&lead);
            step("raw SignTicket", &mut ticket, &unit_handler, Action::Sign)?;
            let reply = Action::Reply {
                text: "经核查，已责成相关责任单位整改完毕，并已电话告知市民。".into(),
                contacted_citizen: true,
                after: workflow.reply_policy(),
            };
            step("raw ReplyTicket", &mut ticket, &unit_handler, reply)?;
            let satisfaction = match generator.below(10) {
                0 => Satisfaction::Dissatisfied,
                1..=3 => Satisfaction::BasicallySatisfied,
                _ => Satisfaction::VerySatisfied,
            };
            let callback = Action::RecordCallback {
                satisfaction,
                resolved: satisfaction != Satisfaction::Dissatisfied,
                comment: String::new(),
            };
            step("raw RecordCallback", &mut ticket, &agent, callback)?;
            Ok(Lifecycle { new, steps })
        })
        .collect()
}

/// One raw lifecycle worker.
#[derive(Debug)]
pub struct RawLifecycleWorker {
    store: Arc<dyn Store>,
    subject: String,
    templates: Arc<Vec<Lifecycle>>,
    next: usize,
}

impl RawLifecycleWorker {
    /// Worker `i` (workers start at different templates).
    pub fn new(store: Arc<dyn Store>, templates: Arc<Vec<Lifecycle>>, i: usize) -> Self {
        Self {
            store,
            subject: bench_agent().subject,
            templates,
            next: i * 31,
        }
    }
}

/// A step's transitions for the ticket `id` numbered `number`.
fn for_ticket(step: &Step, id: TicketId, number: &str) -> Vec<Transition> {
    let mut transitions = step.transitions.clone();
    for t in &mut transitions {
        t.ticket.id = id;
        number.clone_into(&mut t.ticket.number);
        t.event.ticket_id = id;
    }
    transitions
}

#[async_trait]
impl Worker for RawLifecycleWorker {
    async fn step(&mut self, sheet: &mut Sheet) {
        let Some(template) = self.templates.get(self.next % self.templates.len().max(1)) else {
            return;
        };
        self.next += 1;
        let start = std::time::Instant::now();
        let new = fresh_copy(&template.new);
        let key = fresh_key(&self.subject);
        let Some(ticket) = sheet
            .time("raw CreateTicket", self.store.create_ticket(new, Some(key)))
            .await
        else {
            sheet.op(RAW_LIFECYCLE).error("StepFailed");
            return;
        };
        for step in &template.steps {
            let transitions = for_ticket(step, ticket.id, &ticket.number);
            let write = self.store.apply_transitions(
                step.expected_version,
                &transitions,
                &step.counters,
                None,
            );
            if sheet.time(step.op, write).await.is_none() {
                sheet.op(RAW_LIFECYCLE).error("StepFailed");
                return;
            }
        }
        sheet.op(RAW_LIFECYCLE).ok(start.elapsed());
    }
}
