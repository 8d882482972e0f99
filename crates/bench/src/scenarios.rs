//! The gRPC workers of each scenario, driving the server through the
//! generated tonic clients as a console would. Every response's status is
//! checked: a failed call is counted under its code, never timed as a
//! success.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use chrono::Datelike;
use tonic::{Request, metadata::MetadataValue, transport::Channel};

use super::{
    driver::{Sheet, Worker},
    workload::Generator,
};
use hotline::proto::v1::{
    self as pb, dispatch_service_client::DispatchServiceClient,
    metrics_service_client::MetricsServiceClient,
    supervision_service_client::SupervisionServiceClient,
    ticket_service_client::TicketServiceClient,
};

/// Operation names in the report.
pub const CREATE: &str = "CreateTicket";
/// A ticket read by a handler of its lead unit: the caller masked, so
/// nothing goes to the PII access log. Next to `GetTicket` (an agent, the
/// caller unmasked and the read recorded) it shows what the access record
/// costs a read.
pub const GET_UNRECORDED: &str = "GetTicket.unit";
/// A whole create → … → callback cycle.
pub const LIFECYCLE: &str = "lifecycle";
/// Scorecard reads.
pub const SCORECARD: &str = "GetUnitScorecard";

/// Wraps a message with a bearer token.
pub(crate) fn authed<T>(auth: &MetadataValue<tonic::metadata::Ascii>, msg: T) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut().insert("authorization", auth.clone());
    req
}

/// `Bearer …` metadata for a token.
pub fn bearer(token: &str) -> anyhow::Result<MetadataValue<tonic::metadata::Ascii>> {
    Ok(format!("Bearer {token}").parse()?)
}

/// What every worker has: clients on a shared connection, the agent's token
/// and a request generator.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) tickets: TicketServiceClient<Channel>,
    pub(crate) dispatch: DispatchServiceClient<Channel>,
    pub(crate) supervision: SupervisionServiceClient<Channel>,
    metrics: MetricsServiceClient<Channel>,
    pub(crate) agent: MetadataValue<tonic::metadata::Ascii>,
    pub(crate) generator: Generator,
}

impl Client {
    /// Clients over `channel`, acting with the agent token `agent`.
    pub fn new(
        channel: Channel,
        agent: MetadataValue<tonic::metadata::Ascii>,
        generator: Generator,
    ) -> Self {
        Self {
            tickets: TicketServiceClient::new(channel.clone()),
            dispatch: DispatchServiceClient::new(channel.clone()),
            supervision: SupervisionServiceClient::new(channel.clone()),
            metrics: MetricsServiceClient::new(channel),
            agent,
            generator,
        }
    }

    /// Creates a varied ticket with a fresh `request_id`, timed as `CreateTicket`.
    pub async fn create_ticket(&mut self, sheet: &mut Sheet) -> Option<pb::Ticket> {
        let req = pb::CreateTicketRequest {
            ticket: Some(self.generator.ticket()),
            request_id: uuid::Uuid::now_v7().to_string(),
        };
        let call = self.tickets.create_ticket(authed(&self.agent, req));
        sheet
            .time(CREATE, call)
            .await
            .and_then(|r| r.into_inner().ticket)
    }
}

/// `intake`: CreateTicket, nothing else.
#[derive(Debug)]
pub struct IntakeWorker(pub Client);

#[async_trait]
impl Worker for IntakeWorker {
    async fn step(&mut self, sheet: &mut Sheet) {
        self.0.create_ticket(sheet).await;
    }
}

/// `lifecycle`: one ticket from intake to the citizen's rating.
#[derive(Debug)]
pub struct LifecycleWorker {
    /// The worker's clients.
    pub client: Client,
    /// `Bearer` metadata of a handler of each unit, by unit id.
    pub unit_tokens: Arc<HashMap<String, MetadataValue<tonic::metadata::Ascii>>>,
    /// Unit used when routing leaves a ticket in triage.
    pub manual_unit: String,
}

impl LifecycleWorker {
    async fn cycle(&mut self, sheet: &mut Sheet) -> Option<()> {
        let c = &mut self.client;
        let mut ticket = c.create_ticket(sheet).await?;
        if ticket.state == pb::TicketState::PendingDispatch as i32 {
            let req = pb::DispatchTicketRequest {
                name: ticket.name.clone(),
                lead_unit: format!("units/{}", self.manual_unit),
                note: "按责转办".into(),
                ..Default::default()
            };
            let call = c.dispatch.dispatch_ticket(authed(&c.agent, req));
            ticket = sheet
                .time("DispatchTicket", call)
                .await?
                .into_inner()
                .ticket?;
        }
        let unit = ticket.lead_unit.trim_start_matches("units/");
        let handler = self.unit_tokens.get(unit)?.clone();
        let call = c.dispatch.sign_ticket(authed(
            &handler,
            pb::SignTicketRequest {
                name: ticket.name.clone(),
                ..Default::default()
            },
        ));
        sheet.time("SignTicket", call).await?;
        let call = c.dispatch.reply_ticket(authed(
            &handler,
            pb::ReplyTicketRequest {
                name: ticket.name.clone(),
                reply: "经核查，已责成相关责任单位整改完毕，并已电话告知市民。".into(),
                contacted_citizen: true,
                ..Default::default()
            },
        ));
        sheet.time("ReplyTicket", call).await?;
        let satisfaction = match c.generator.below(10) {
            0 => pb::Satisfaction::Dissatisfied,
            1..=3 => pb::Satisfaction::BasicallySatisfied,
            _ => pb::Satisfaction::VerySatisfied,
        };
        let call = c.dispatch.record_callback(authed(
            &c.agent,
            pb::RecordCallbackRequest {
                name: ticket.name.clone(),
                satisfaction: satisfaction as i32,
                resolved: satisfaction != pb::Satisfaction::Dissatisfied,
                comment: String::new(),
                ..Default::default()
            },
        ));
        sheet.time("RecordCallback", call).await?;
        Some(())
    }
}

#[async_trait]
impl Worker for LifecycleWorker {
    async fn step(&mut self, sheet: &mut Sheet) {
        let start = std::time::Instant::now();
        match self.cycle(sheet).await {
            Some(()) => sheet.op(LIFECYCLE).ok(start.elapsed()),
            None => sheet.op(LIFECYCLE).error("StepFailed"),
        }
    }
}

/// `stats`: the current month's scorecard of a random unit, or of the
/// centre one time in ten.
#[derive(Debug)]
pub struct StatsWorker {
    /// The worker's clients.
    pub client: Client,
    /// Unit ids of the demo city.
    pub units: Arc<Vec<String>>,
    /// Local today, `YYYY-MM-DD`, and the month's first day.
    pub period: (String, String),
}

impl StatsWorker {
    /// The current month up to `today` as `(first day, today)`.
    pub fn month_to(today: chrono::NaiveDate) -> (String, String) {
        let first = today.with_day(1).unwrap_or(today);
        (
            first.format("%Y-%m-%d").to_string(),
            today.format("%Y-%m-%d").to_string(),
        )
    }
}

#[async_trait]
impl Worker for StatsWorker {
    async fn step(&mut self, sheet: &mut Sheet) {
        let c = &mut self.client;
        let unit = if c.generator.below(10) == 0 {
            String::new()
        } else {
            c.generator
                .pick(&self.units)
                .map(|u| format!("units/{u}"))
                .unwrap_or_default()
        };
        let req = pb::GetUnitScorecardRequest {
            unit,
            start_day: self.period.0.clone(),
            end_day: self.period.1.clone(),
            ..Default::default()
        };
        let call = c.metrics.get_unit_scorecard(authed(&c.agent, req));
        sheet.time(SCORECARD, call).await;
    }
}
