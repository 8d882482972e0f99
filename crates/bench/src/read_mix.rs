//! `read`: the lists a console and a supervisor open all day, mixed in the
//! proportions of a centre's working day, with filters drawn from what the
//! database actually holds, so the same scenario runs against a fresh demo
//! database or one filled by `hotline bench populate`.
//!
//! Why sample from the server rather than from the demo city: a populated
//! database has another city (2,024 synthetic units) and years of history;
//! filters that name units or districts it does not hold would time empty
//! lists, which are cheap for the wrong reason.

use std::{collections::BTreeSet, sync::Arc};

use async_trait::async_trait;
use chrono::{Duration as Days, Utc};
use hotline::domain::{Clock, SystemClock};
use prost_types::Timestamp;
use tonic::metadata::{Ascii, MetadataValue};

use super::{
    driver::{Sheet, Worker},
    scenarios::GET_UNRECORDED,
    scenarios::{Client, authed, bearer},
    target::Target,
};
use hotline::{domain::access::Role, proto::v1 as pb};

/// Tickets per sampling page.
const SAMPLE_PAGE: i32 = 500;
/// Days back of each sampling window: recent days weigh more, as they do
/// on a console, but older history is in the sample too.
const SAMPLE_DAYS_BACK: [i64; 10] = [0, 1, 2, 3, 5, 8, 13, 21, 34, 55];
/// Tickets whose caller is read (one GetTicket each) for the caller lookups.
const SAMPLE_CALLERS: usize = 64;
/// Units and districts that get a token of their own.
const SAMPLE_SCOPES: usize = 64;
/// Page size of every timed list: what a console shows.
const PAGE: i32 = 20;

/// One operation of the mix: its report name and its share in per cent.
const MIX: [(&str, u32); 17] = [
    ("GetTicket", 12),
    (GET_UNRECORDED, 10),
    ("ListTickets.district", 9),
    ("ListTickets.street", 8),
    ("ListTickets.unit_inbox", 11),
    ("ListTickets.district_open", 5),
    ("ListTickets.next_page", 8),
    // A district supervisor's lists, and the centre's supervision desk
    // looking at one unit's.
    ("ListOverdue", 4),
    ("ListOverdue.unit", 2),
    ("ListSupervisionOrders", 3),
    ("ListSupervisionOrders.unit", 2),
    // The centre's whole triage queue, and one street's.
    ("ListTriageQueue", 4),
    ("ListTriageQueue.street", 1),
    ("LookupCaller", 8),
    ("ListTicketEvents", 7),
    // An agent checking for duplicates: of a ticket on screen, and of a
    // request being typed at intake (a sampled ticket's text and place).
    ("ListDuplicateCandidates.ticket", 3),
    ("ListDuplicateCandidates.draft", 3),
];

/// The operations a run draws from: [`MIX`], or only some of it
/// (`--only`), each keeping its share relative to the others kept.
#[derive(Debug, Clone)]
pub struct Mix(Vec<(&'static str, u32)>);

impl Mix {
    /// The whole mix when `only` is empty, else the operations it names;
    /// an unknown name is an error that lists the known ones.
    pub fn select(only: &[String]) -> anyhow::Result<Self> {
        if only.is_empty() {
            return Ok(Self(MIX.to_vec()));
        }
        let mut kept = Vec::new();
        for name in only {
            let Some(entry) = MIX.iter().find(|(op, _)| *op == name.trim()) else {
                let known: Vec<_> = MIX.iter().map(|(op, _)| *op).collect();
                anyhow::bail!(
                    "--only: no operation {name:?} in the mix; it has {}",
                    known.join(", ")
                );
            };
            if !kept.contains(entry) {
                kept.push(*entry);
            }
        }
        Ok(Self(kept))
    }

    /// The operation whose figures head the report: the first one kept.
    pub fn primary(&self) -> &'static str {
        self.0[0].0
    }

    /// The operation a roll in `0..self.total()` falls on.
    fn at(&self, mut roll: u32) -> &'static str {
        for (op, share) in &self.0 {
            if roll < *share {
                return op;
            }
            roll -= share;
        }
        self.primary()
    }

    fn total(&self) -> u32 {
        self.0.iter().map(|(_, share)| share).sum()
    }
}

/// What the filters are drawn from: names, region codes, units and callers
/// seen in the database.
#[derive(Debug, Default)]
pub struct ReadFixtures {
    names: Vec<String>,
    /// Title, description and region of sampled tickets, typed again as
    /// drafts at intake.
    drafts: Vec<pb::Ticket>,
    districts: Vec<String>,
    streets: Vec<String>,
    phones: Vec<String>,
    /// Sampled lead units, `units/{id}`.
    units: Vec<String>,
    /// A unit handler's token for each sampled lead unit.
    unit_tokens: Vec<MetadataValue<Ascii>>,
    /// Sampled tickets whose lead unit has a token above, with that token.
    handled: Vec<(String, MetadataValue<Ascii>)>,
    /// A supervisor's token for each sampled district.
    supervisor_tokens: Vec<MetadataValue<Ascii>>,
}

impl ReadFixtures {
    /// Samples the database through the API as `client`'s agent: a page of
    /// tickets from each of several days back, then the callers of some.
    pub async fn sample(client: &mut Client, target: &Target) -> anyhow::Result<Self> {
        let now = SystemClock.now();
        let mut tickets = Vec::new();
        for back in SAMPLE_DAYS_BACK {
            let from = now - Days::days(back + 1);
            let to = now - Days::days(back);
            let request = pb::ListTicketsRequest {
                page_size: SAMPLE_PAGE,
                create_time_from: Some(timestamp(from)),
                create_time_to: Some(timestamp(to)),
                ..Default::default()
            };
            let page = client
                .tickets
                .list_tickets(authed(&client.agent, request))
                .await?;
            tickets.extend(page.into_inner().tickets);
        }
        anyhow::ensure!(
            !tickets.is_empty(),
            "read: the database holds no ticket of the last {} days to draw filters from",
            SAMPLE_DAYS_BACK[SAMPLE_DAYS_BACK.len() - 1] + 1
        );
        let mut districts = BTreeSet::new();
        let mut streets = BTreeSet::new();
        let mut units = BTreeSet::new();
        for t in &tickets {
            if let Some(d) = t.region_code.get(..6) {
                districts.insert(d.to_owned());
            }
            if let Some(s) = t.region_code.get(..9) {
                streets.insert(s.to_owned());
            }
            if let Some(u) = t.lead_unit.strip_prefix("units/") {
                units.insert(u.to_owned());
            }
        }
        let mut phones = BTreeSet::new();
        for t in tickets
            .iter()
            .step_by((tickets.len() / SAMPLE_CALLERS).max(1))
        {
            let full = client
                .tickets
                .get_ticket(authed(
                    &client.agent,
                    pb::GetTicketRequest {
                        name: t.name.clone(),
                    },
                ))
                .await?
                .into_inner();
            let phone = full.ticket.and_then(|t| t.caller).map(|c| c.phone);
            if let Some(phone) = phone.filter(|p| !p.is_empty()) {
                phones.insert(phone);
            }
        }
        let token = |subject: &str, role, unit: Option<&str>, region: Option<&str>| {
            bearer(&target.tokens.token(subject, role, unit, region)?)
        };
        let unit_tokens = units
            .iter()
            .take(SAMPLE_SCOPES)
            .map(|u| {
                let t = token(&format!("bench-{u}"), Role::UnitHandler, Some(u), None)?;
                Ok((u.clone(), t))
            })
            .collect::<anyhow::Result<std::collections::BTreeMap<_, _>>>()?;
        let handled = tickets
            .iter()
            .filter_map(|t| {
                let unit = t.lead_unit.strip_prefix("units/")?;
                Some((t.name.clone(), unit_tokens.get(unit)?.clone()))
            })
            .collect();
        let supervisor_tokens = districts
            .iter()
            .take(SAMPLE_SCOPES)
            .map(|d| token(&format!("bench-sup-{d}"), Role::Supervisor, None, Some(d)))
            .collect::<anyhow::Result<_>>()?;
        let drafts = tickets
            .iter()
            .map(|t| pb::Ticket {
                title: t.title.clone(),
                description: t.description.clone(),
                region_code: t.region_code.clone(),
                ..Default::default()
            })
            .collect();
        Ok(Self {
            names: tickets.into_iter().map(|t| t.name).collect(),
            drafts,
            districts: districts.into_iter().collect(),
            streets: streets.into_iter().collect(),
            phones: phones.into_iter().collect(),
            units: unit_tokens.keys().map(|u| format!("units/{u}")).collect(),
            unit_tokens: unit_tokens.into_values().collect(),
            handled,
            supervisor_tokens,
        })
    }

    /// One line for the report's header.
    pub fn describe(&self) -> String {
        format!(
            "filters drawn from {} tickets, {} districts, {} streets, {} units, {} callers",
            self.names.len(),
            self.districts.len(),
            self.streets.len(),
            self.unit_tokens.len(),
            self.phones.len()
        )
    }
}

fn timestamp(t: chrono::DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The open states a unit's inbox and a district's open list show.
const OPEN: [pb::TicketState; 2] = [pb::TicketState::Dispatched, pb::TicketState::InProgress];

/// A console or a supervisor: each step is one operation of [`MIX`].
#[derive(Debug)]
pub struct ReadMixWorker {
    /// The worker's clients.
    pub client: Client,
    /// Shared filters.
    pub fixtures: Arc<ReadFixtures>,
    /// The last list request that had a next page, and that page's token,
    /// for the next-page operation (a console paging on).
    pub next: Option<(pb::ListTicketsRequest, MetadataValue<Ascii>, String)>,
    /// The operations drawn from.
    pub mix: Arc<Mix>,
}

impl ReadMixWorker {
    /// Filters and clients of one worker.
    pub fn new(client: Client, fixtures: Arc<ReadFixtures>, mix: Arc<Mix>) -> Self {
        Self {
            client,
            fixtures,
            next: None,
            mix,
        }
    }

    fn op(&mut self) -> &'static str {
        let roll = self.client.generator.below(self.mix.total() as usize) as u32;
        self.mix.at(roll)
    }

    fn pick(&mut self, from: fn(&ReadFixtures) -> &Vec<String>) -> String {
        let fixtures = self.fixtures.clone();
        self.client
            .generator
            .pick(from(&fixtures))
            .cloned()
            .unwrap_or_default()
    }

    /// Who asks for a supervision list and of which unit: a sampled
    /// district's supervisor for the whole district (`by_district`), else
    /// the centre's `agent` for one sampled unit.
    fn supervision_filter(
        &mut self,
        by_district: bool,
        agent: MetadataValue<Ascii>,
    ) -> (MetadataValue<Ascii>, String) {
        if by_district {
            (self.pick_token(|f| &f.supervisor_tokens), String::new())
        } else {
            (agent, self.pick(|f| &f.units))
        }
    }

    fn pick_token(
        &mut self,
        from: fn(&ReadFixtures) -> &Vec<MetadataValue<Ascii>>,
    ) -> MetadataValue<Ascii> {
        let fixtures = self.fixtures.clone();
        self.client
            .generator
            .pick(from(&fixtures))
            .cloned()
            .unwrap_or_else(|| self.client.agent.clone())
    }

    /// A request being typed at intake: a sampled ticket's title, text and
    /// place, and one of the sampled callers on the line.
    fn draft_probe(&mut self) -> pb::ListDuplicateCandidatesRequest {
        let fixtures = self.fixtures.clone();
        let mut draft = self.client.generator.pick(&fixtures.drafts).cloned();
        let phone = self.pick(|f| &f.phones);
        if let Some(d) = draft.as_mut() {
            d.caller = Some(pb::Caller {
                phone,
                ..Default::default()
            });
        }
        pb::ListDuplicateCandidatesRequest {
            draft,
            ..Default::default()
        }
    }

    /// Times one ListTickets call and keeps its token for paging on.
    async fn list(
        &mut self,
        sheet: &mut Sheet,
        op: &'static str,
        auth: MetadataValue<Ascii>,
        request: pb::ListTicketsRequest,
    ) {
        let call = self
            .client
            .tickets
            .list_tickets(authed(&auth, request.clone()));
        if let Some(page) = sheet.time(op, call).await {
            let token = page.into_inner().next_page_token;
            if !token.is_empty() {
                self.next = Some((request, auth, token));
            }
        }
    }
}

#[async_trait]
impl Worker for ReadMixWorker {
    async fn step(&mut self, sheet: &mut Sheet) {
        let op = self.op();
        let agent = self.client.agent.clone();
        let list = |region_prefix: String| pb::ListTicketsRequest {
            page_size: PAGE,
            region_prefix,
            ..Default::default()
        };
        match op {
            "GetTicket" => {
                let name = self.pick(|f| &f.names);
                let call = self
                    .client
                    .tickets
                    .get_ticket(authed(&agent, pb::GetTicketRequest { name }));
                sheet.time(op, call).await;
            }
            GET_UNRECORDED => {
                let fixtures = self.fixtures.clone();
                let Some((name, auth)) = self.client.generator.pick(&fixtures.handled) else {
                    return;
                };
                let request = pb::GetTicketRequest { name: name.clone() };
                let call = self.client.tickets.get_ticket(authed(auth, request));
                sheet.time(op, call).await;
            }
            "ListTickets.district" => {
                let mut request = list(self.pick(|f| &f.districts));
                // One time in three, the last week only (a date range).
                if self.client.generator.below(3) == 0 {
                    request.create_time_from = Some(timestamp(SystemClock.now() - Days::days(7)));
                }
                self.list(sheet, op, agent, request).await;
            }
            "ListTickets.street" => {
                let request = list(self.pick(|f| &f.streets));
                self.list(sheet, op, agent, request).await;
            }
            "ListTickets.unit_inbox" => {
                let auth = self.pick_token(|f| &f.unit_tokens);
                let mut request = list(String::new());
                request.states = OPEN.iter().map(|s| *s as i32).collect();
                self.list(sheet, op, auth, request).await;
            }
            "ListTickets.district_open" => {
                let auth = self.pick_token(|f| &f.supervisor_tokens);
                let mut request = list(String::new());
                request.states = OPEN.iter().map(|s| *s as i32).collect();
                self.list(sheet, op, auth, request).await;
            }
            "ListTickets.next_page" => match self.next.take() {
                Some((first, auth, page_token)) => {
                    let request = pb::ListTicketsRequest {
                        page_token,
                        ..first
                    };
                    self.list(sheet, op, auth, request).await;
                }
                None => {
                    let request = list(self.pick(|f| &f.districts));
                    self.list(sheet, "ListTickets.district", agent, request)
                        .await;
                }
            },
            // A district supervisor's list, or the centre's of one unit.
            "ListOverdue" | "ListOverdue.unit" => {
                let (auth, lead_unit) = self.supervision_filter(op == "ListOverdue", agent);
                let request = pb::ListOverdueRequest {
                    page_size: PAGE,
                    lead_unit,
                    ..Default::default()
                };
                let call = self.client.supervision.list_overdue(authed(&auth, request));
                sheet.time(op, call).await;
            }
            "ListSupervisionOrders" | "ListSupervisionOrders.unit" => {
                let (auth, lead_unit) =
                    self.supervision_filter(op == "ListSupervisionOrders", agent);
                let request = pb::ListSupervisionOrdersRequest {
                    page_size: PAGE,
                    lead_unit,
                    ..Default::default()
                };
                let call = self
                    .client
                    .supervision
                    .list_supervision_orders(authed(&auth, request));
                sheet.time(op, call).await;
            }
            "ListTriageQueue" | "ListTriageQueue.street" => {
                let region_prefix = if op == "ListTriageQueue" {
                    String::new()
                } else {
                    self.pick(|f| &f.streets)
                };
                let request = pb::ListTriageQueueRequest {
                    page_size: PAGE,
                    region_prefix,
                    ..Default::default()
                };
                let call = self
                    .client
                    .dispatch
                    .list_triage_queue(authed(&agent, request));
                sheet.time(op, call).await;
            }
            "LookupCaller" => {
                let phone = self.pick(|f| &f.phones);
                let request = pb::LookupCallerRequest {
                    phone,
                    page_size: PAGE,
                    ..Default::default()
                };
                let call = self.client.tickets.lookup_caller(authed(&agent, request));
                sheet.time(op, call).await;
            }
            "ListDuplicateCandidates.ticket" | "ListDuplicateCandidates.draft" => {
                let request = if op.ends_with("ticket") {
                    pb::ListDuplicateCandidatesRequest {
                        name: self.pick(|f| &f.names),
                        ..Default::default()
                    }
                } else {
                    self.draft_probe()
                };
                let call = self
                    .client
                    .dispatch
                    .list_duplicate_candidates(authed(&agent, request));
                sheet.time(op, call).await;
            }
            _ => {
                let parent = self.pick(|f| &f.names);
                let request = pb::ListTicketEventsRequest {
                    parent,
                    page_size: 50,
                    ..Default::default()
                };
                let call = self
                    .client
                    .tickets
                    .list_ticket_events(authed(&agent, request));
                sheet.time("ListTicketEvents", call).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_adds_up_to_one_hundred_per_cent() {
        assert_eq!(MIX.iter().map(|(_, s)| s).sum::<u32>(), 100);
        assert_eq!(Mix::select(&[]).unwrap().total(), 100);
    }

    #[test]
    fn only_keeps_the_named_operations_in_their_proportions() {
        let only = ["ListOverdue".to_owned(), "LookupCaller".to_owned()];
        let mix = Mix::select(&only).unwrap();
        assert_eq!(mix.primary(), "ListOverdue");
        assert_eq!(mix.total(), 4 + 8);
        assert_eq!(mix.at(0), "ListOverdue");
        assert_eq!(mix.at(3), "ListOverdue");
        assert_eq!(mix.at(4), "LookupCaller");
        assert_eq!(mix.at(11), "LookupCaller");
    }

    #[test]
    fn only_refuses_a_name_the_mix_does_not_have() {
        let error = Mix::select(&["ListEverything".to_owned()]).unwrap_err();
        assert!(error.to_string().contains("ListEverything"), "{error}");
        assert!(error.to_string().contains("ListOverdue"), "{error}");
    }
}
