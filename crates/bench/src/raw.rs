//! The raw database limit of intake: the very transaction `CreateTicket`
//! commits (daily number, ticket row, `created` and `dispatched` events,
//! scorecard counters, idempotency record), run straight through the
//! store on the server's own pool. Its values are built before the window
//! by the server's own workflow (auto-routing included), so the only
//! difference left is gRPC, auth, routing and domain work.
//!
//! Beside it the naive baseline: the same values written the way a
//! straightforward service would, one transaction per ticket with one
//! statement per table (`TicketStore::bench_naive_create_ticket`), so the
//! report shows what the group commit and the fused statement buy.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    driver::{Sheet, Worker},
    workload::Generator,
};
use hotline::{
    domain::{Clock, Principal, Role, SystemClock, TicketId},
    proto::convert::intake_from_proto,
    service::Workflow,
    store::{IdempotencyKey, NewTicket, Store},
};

/// Distinct pre-built tickets the raw workers cycle through.
const TEMPLATES: usize = 512;

/// Name of the raw operation in the report.
pub const RAW_OP: &str = "raw_create_ticket";

/// Name of the naive baseline's operation in the report.
pub const NAIVE_OP: &str = "naive_create_ticket";

/// How a [`RawWorker`] writes its tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The store's own intake (`TicketStore::create_ticket`): the raw limit.
    Store,
    /// One transaction per ticket, one statement per table.
    Naive,
}

/// The principal both the gRPC workers and the raw baseline act as.
pub fn bench_agent() -> Principal {
    Principal {
        subject: "bench-agent".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    }
}

/// Builds what the workflow would commit for [`TEMPLATES`] varied intakes.
pub fn templates(workflow: &Workflow, mut generator: Generator) -> anyhow::Result<Vec<NewTicket>> {
    let agent = bench_agent();
    (0..TEMPLATES)
        .map(|_| {
            let intake = intake_from_proto(&generator.ticket(), "ticket")
                .map_err(|e| anyhow::anyhow!("generated intake rejected: {e:?}"))?;
            workflow
                .prepare_create(&agent, intake)
                .map_err(|e| anyhow::anyhow!("preparing a ticket: {e:?}"))
        })
        .collect()
}

/// One raw worker: inserts copies of the templates under fresh ids.
#[derive(Debug)]
pub struct RawWorker {
    store: Arc<dyn Store>,
    templates: Arc<Vec<NewTicket>>,
    next: usize,
    subject: String,
    path: Path,
}

/// The fingerprint the baseline records with each key: every request is
/// new, so only its size matters.
const RAW_FINGERPRINT: &str = "raw-baseline-fingerprint-000000000000000000";

impl RawWorker {
    /// Worker `i` of the baseline (workers start at different templates).
    pub fn new(store: Arc<dyn Store>, templates: Arc<Vec<NewTicket>>, i: usize) -> Self {
        Self {
            store,
            next: i * 31,
            templates,
            subject: bench_agent().subject,
            path: Path::Store,
        }
    }

    /// The same worker writing along `path`.
    #[must_use]
    pub fn along(mut self, path: Path) -> Self {
        self.path = path;
        self
    }
}

/// A template under a fresh ticket id, as a new intake would have.
pub fn fresh_copy(template: &NewTicket) -> NewTicket {
    let mut new = template.clone();
    let id = TicketId::generate(SystemClock.now());
    new.created.ticket.id = id;
    new.created.event.ticket_id = id;
    for t in &mut new.followups {
        t.ticket.id = id;
        t.event.ticket_id = id;
    }
    new
}

/// A new `CreateTicket` idempotency key of `subject`, as a console sends
/// with every intake.
pub fn fresh_key(subject: &str) -> IdempotencyKey {
    IdempotencyKey {
        subject: subject.to_owned(),
        request_id: uuid::Uuid::now_v7().to_string(),
        operation: "CreateTicket",
        // As long as the server's (SHA-256, base64url): the same row size.
        fingerprint: RAW_FINGERPRINT.to_owned(),
    }
}

#[async_trait]
impl Worker for RawWorker {
    async fn step(&mut self, sheet: &mut Sheet) {
        let Some(template) = self.templates.get(self.next % self.templates.len().max(1)) else {
            return;
        };
        self.next += 1;
        let new = fresh_copy(template);
        let key = fresh_key(&self.subject);
        match self.path {
            Path::Store => {
                sheet
                    .time(RAW_OP, self.store.create_ticket(new, Some(key)))
                    .await
            }
            Path::Naive => {
                sheet
                    .time(
                        NAIVE_OP,
                        self.store.bench_naive_create_ticket(new, Some(key)),
                    )
                    .await
            }
        };
    }
}
