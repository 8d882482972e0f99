//! Ticket histories for the scale benchmark, driven through the real state
//! machine (`Ticket::accept`, `Ticket::apply`, `record_alert`) with the
//! counters of every transition from `metrics::deltas`: the rows, events
//! and scorecard counters are what the service would have written had the
//! tickets come in one by one, deadline crossings and automatic
//! supervision orders included.
//!
//! The mix (per ticket, seeded): 12 % answered at intake, 1 % not
//! accepted, 0.5 % handed to an emergency line, the rest dispatched (5 %
//! with a co-handling unit) — 4 % of those returned within the working-day
//! window (three in four approved and re-dispatched), 5 % asking for an
//! extension, 85 % replying in time (an open supervision order is answered
//! with the reply); 85 % of callbacks reached within their five working
//! days, 13 % of ratings dissatisfied, a third of those reopened once (and
//! supervised when still dissatisfied). Time limits, return window and
//! order deadlines are the configuration's defaults. Tickets
//! whose next step would fall after `now` stay open where they are, with
//! their crossings up to `now` recorded, as a sweeper running all along
//! would have; a `stalled` ticket's unit stops after signing and its
//! crossings are left unrecorded: the sweeper's backlog.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, Utc};
use rand::{Rng, rngs::StdRng};

use super::city::{Placement, SyntheticCity};
use crate::workload::Message;
use hotline::domain::{
    DomainError, RegionCode, Transition, UnitId,
    access::{Principal, Role},
    lifecycle::{
        Action, Assignment, DEFAULT_DESIGNATE_AFTER, ReplyPolicy, ReturnPolicy, ReturnWindow,
    },
    metrics::{Counter, deltas},
    person::Caller,
    ticket::{
        Channel, CloseReason, EmergencyService, Intake, LegalChannel, RequestType, RoutingRef,
        Satisfaction, Ticket, TicketEvent, Urgency,
    },
    timelimit::{Limit, Timing},
};

/// A (unit or centre, local day, counter) total.
pub type CounterKey = (Option<UnitId>, NaiveDate, Counter);

/// Finished histories waiting to be written.
#[derive(Debug, Default)]
pub struct Batch {
    /// Final ticket rows.
    pub tickets: Vec<Ticket>,
    /// Every event of those tickets.
    pub events: Vec<TicketEvent>,
}

/// Generates histories; one per loading worker.
#[derive(Debug)]
pub struct Simulator {
    city: Arc<SyntheticCity>,
    messages: Arc<Vec<Message>>,
    timing: Timing,
    offset: FixedOffset,
    now: DateTime<Utc>,
    rng: StdRng,
    /// Working days to answer a supervision order (the configuration's default).
    order_response_days: u32,
    /// Counter totals of every history generated so far.
    pub counters: HashMap<CounterKey, i64>,
}

impl Simulator {
    /// A simulator whose histories stop at `now`.
    pub fn new(
        city: Arc<SyntheticCity>,
        messages: Arc<Vec<Message>>,
        timing: Timing,
        now: DateTime<Utc>,
        rng: StdRng,
    ) -> Self {
        let offset = timing.calendar.offset();
        Self {
            city,
            messages,
            timing,
            offset,
            now,
            rng,
            order_response_days: hotline::config::Settings::default()
                .supervision
                .order_response_days,
            counters: HashMap::new(),
        }
    }

    /// One ticket accepted at `created` under `number`, lived through to
    /// `now`, appended to `batch`.
    pub fn ticket(
        &mut self,
        created: DateTime<Utc>,
        number: String,
        stalled: bool,
        batch: &mut Batch,
    ) -> Result<(), DomainError> {
        let place = self.city.place(&mut self.rng);
        let intake = self.intake(&place.region)?;
        let agent = centre_staff(self.rng.random_range(1..=40));
        let accepted = Ticket::accept(intake, number, &agent, created);
        let mut life = Life {
            sim: self,
            batch,
            ticket: accepted.ticket.clone(),
            stalled,
        };
        life.record(None, accepted);
        life.run(place, created, &agent)?;
        let Life { ticket, batch, .. } = life;
        batch.tickets.push(ticket);
        Ok(())
    }

    fn intake(&mut self, region: &RegionCode) -> Result<Intake, DomainError> {
        let rng = &mut self.rng;
        let message = &self.messages[rng.random_range(0..self.messages.len())];
        let request_type = match rng.random_range(0..1000) {
            0..350 => RequestType::Complaint,
            350..600 => RequestType::Help,
            600..800 => RequestType::Enquiry,
            800..900 => RequestType::Suggestion,
            900..950 => RequestType::Report,
            _ => RequestType::Praise,
        };
        let channel = match rng.random_range(0..100) {
            0..70 => Channel::Phone,
            70..82 => Channel::Web,
            82..92 => Channel::App,
            _ => Channel::Wechat,
        };
        let urgency = if rng.random_bool(0.03) {
            Urgency::Urgent
        } else {
            Urgency::Normal
        };
        // A pool of about 2 million callers, so repeat callers exist.
        let phone = format!(
            "13{:09}",
            rng.random_range(0..2_000_000u32) * 397 % 1_000_000_000
        );
        let anonymous = rng.random_bool(0.1);
        let caller = Caller::parse(if anonymous { "" } else { "市民" }, &phone, anonymous)?;
        Ok(Intake {
            channel,
            legacy_hotline: rng.random_bool(0.05).then(|| {
                ["12315", "12333", "12328", "12319", "12320"][rng.random_range(0..5)].into()
            }),
            caller,
            confidential: false,
            request_type,
            urgency,
            subject_code: None,
            region_code: region.clone(),
            address: format!("{}号", rng.random_range(1..400)),
            title: message.title.clone(),
            description: message.description.clone(),
        })
    }

    /// A uniform draw in `0..1` from the simulator's generator.
    pub fn roll(&mut self) -> f64 {
        self.rng.random_range(0.0..1.0)
    }

    fn assignment(&mut self, unit: UnitId, routed: bool, co: Option<&UnitId>) -> Assignment {
        Assignment {
            unit,
            co_units: co.cloned().into_iter().collect(),
            note: "按责转办".into(),
            routing: routed.then(|| RoutingRef {
                rule_id: Some(format!("rule-{:03}", self.rng.random_range(1..400))),
                rule_set_version: 1,
                model_version: None,
            }),
            designate_after: DEFAULT_DESIGNATE_AFTER,
            timing: Some(self.timing.clone()),
        }
    }

    /// When an order issued at `at` must be answered (the default one
    /// working day).
    fn order_deadline(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.timing
            .calendar
            .add_working_days(at, self.order_response_days)
            .at
    }

    fn hours(&mut self, low: f64, high: f64) -> TimeDelta {
        TimeDelta::seconds((self.rng.random_range(low..high) * 3600.0) as i64)
    }
}

/// One ticket being lived through.
struct Life<'a> {
    sim: &'a mut Simulator,
    batch: &'a mut Batch,
    ticket: Ticket,
    /// The unit stops after signing and the sweeper records nothing.
    stalled: bool,
}

/// `Ok(false)`: the step would fall after `now`; the history stops there.
type Step = Result<bool, DomainError>;

impl Life<'_> {
    fn run(
        &mut self,
        place: Placement,
        created: DateTime<Utc>,
        agent: &Principal,
    ) -> Result<(), DomainError> {
        let stalled = self.stalled;
        let mut at = created + self.sim.hours(0.02, 0.2);
        let roll = self.sim.rng.random_range(0..1000);
        if !stalled
            && (roll < 120
                || (roll < 300 && self.ticket.intake.request_type == RequestType::Enquiry))
        {
            let answer = Action::ResolveAtIntake {
                answer: "已当场答复".into(),
                article_ids: Vec::new(),
            };
            self.step(answer, agent, at)?;
            return Ok(());
        }
        if !stalled && roll < 135 {
            let action = if roll < 130 {
                Action::MarkNotAccepted {
                    channel: LegalChannel::Litigation,
                    note: "属诉讼事项".into(),
                }
            } else {
                Action::TransferEmergency {
                    service: EmergencyService::Police110,
                    note: "转110".into(),
                }
            };
            self.step(action, agent, at)?;
            return Ok(());
        }
        let routed = self.sim.rng.random_bool(0.8);
        // One in twenty with a co-handling unit (主办/协办).
        let co = self.sim.rng.random_bool(0.05).then_some(&place.other);
        let first = self.sim.assignment(place.lead.clone(), routed, co);
        if !self.step(Action::Dispatch(first), agent, at)? {
            return Ok(());
        }
        let mut lead = place.lead;
        // 退单: a return inside the window, then the centre's decision.
        if !stalled && self.sim.rng.random_bool(0.04) {
            at += self.sim.hours(0.5, 6.0);
            let back = Action::Return {
                reason: "非本单位职责".into(),
                legal_basis: "三定方案".into(),
                policy: ReturnPolicy {
                    window: ReturnWindow::Calendar(
                        Limit::WorkingDays(1),
                        self.sim.timing.calendar.clone(),
                    ),
                },
            };
            if !self.step(back, &unit_staff(&lead), at)? {
                return Ok(());
            }
            at += self.sim.hours(0.5, 4.0);
            let approve = self.sim.rng.random_bool(0.75);
            let redispatch = approve.then(|| self.sim.assignment(place.other.clone(), false, None));
            let decision = Action::ArbitrateReturn {
                redispatch,
                approve,
                note: "仲裁".into(),
            };
            if !self.step(decision, agent, at)? {
                return Ok(());
            }
            if approve {
                lead = place.other;
            }
        }
        let unit = unit_staff(&lead);
        self.handle_round(&unit, agent, at)
    }

    /// Sign, (extension,) reply, callback, close or reopen.
    fn handle_round(
        &mut self,
        unit: &Principal,
        agent: &Principal,
        mut at: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let Some(deadlines) = self.ticket.deadlines else {
            return Ok(());
        };
        let dispatched = at;
        // A rejected return resumes the first round: its sign deadline may
        // already have passed.
        let sign_late = self.sim.rng.random_bool(0.05) || deadlines.sign.at <= at;
        at = if sign_late {
            deadlines.sign.at.max(at) + self.sim.hours(1.0, 30.0)
        } else {
            at + (deadlines.sign.at - at) * self.sim.rng.random_range(1..90) / 100
        };
        if !self.step(Action::Sign, unit, at)? || self.stalled {
            return Ok(());
        }
        if self.sim.rng.random_bool(0.05) && at < deadlines.reply.at {
            let ask = Action::RequestExtension {
                days: 5,
                reason: "需现场核查".into(),
                policy: self.sim.timing.policy.clone(),
            };
            let asked = at + self.sim.hours(1.0, 24.0).min((deadlines.reply.at - at) / 2);
            if self.step(ask, unit, asked)? {
                let decide = Action::DecideExtension {
                    approve: true,
                    days: None,
                    timing: self.sim.timing.clone(),
                    note: "同意".into(),
                };
                at = self
                    .ticket
                    .pending_extension
                    .as_ref()
                    .map_or(at, |e| e.time);
                let decided = at + self.sim.hours(0.5, 4.0);
                self.step(decide, agent, decided)?;
            }
        }
        let reply_by = self
            .ticket
            .deadlines
            .map_or(deadlines.reply.at, |d| d.reply.at);
        let reply_at = if self.sim.rng.random_bool(0.85) {
            let span = reply_by - at.max(dispatched);
            at.max(dispatched) + span * self.sim.rng.random_range(5..100) / 100
        } else {
            reply_by + self.sim.hours(2.0, 120.0)
        };
        at = reply_at.max(at + TimeDelta::minutes(10));
        let reply = Action::Reply {
            text: "已办理，情况已反馈".into(),
            contacted_citizen: self.sim.rng.random_bool(0.9),
            after: ReplyPolicy {
                review: false,
                callback_deadline: Some(
                    Limit::WorkingDays(5)
                        .deadline(&self.sim.timing.calendar, at)
                        .at,
                ),
            },
        };
        if !self.step(reply, unit, at)? {
            return Ok(());
        }
        if self.sim.rng.random_bool(0.15) {
            // Not reached: the sweeper closes it as not rated at the deadline.
            let expires = self.ticket.callback_deadline.unwrap_or(at);
            self.sweep_until(expires + TimeDelta::hours(1));
            return Ok(());
        }
        at += self.sim.hours(1.0, 60.0);
        let satisfaction = match self.sim.rng.random_range(0..100) {
            0..45 => Satisfaction::VerySatisfied,
            45..75 => Satisfaction::Satisfied,
            75..87 => Satisfaction::BasicallySatisfied,
            87..96 => Satisfaction::Dissatisfied,
            _ => Satisfaction::VeryDissatisfied,
        };
        let callback = Action::RecordCallback {
            satisfaction,
            resolved: !satisfaction.is_dissatisfied() && self.sim.rng.random_bool(0.9),
            comment: "回访".into(),
        };
        if !self.step(callback, agent, at)? {
            return Ok(());
        }
        if satisfaction.is_dissatisfied() && self.ticket.reopen_count > 0 {
            // Still dissatisfied after re-handling: the centre's automatic order.
            let order = Action::IssueSupervision {
                reason: "重办后仍不满意，自动督办".into(),
                response_deadline: self.sim.order_deadline(at),
            };
            self.step(order, &Principal::system("callback"), at)?;
        }
        at += self.sim.hours(0.1, 8.0);
        if !satisfaction.is_dissatisfied() {
            let close = Action::Close {
                reason: None,
                note: "办结".into(),
            };
            self.step(close, agent, at)?;
        } else if self.ticket.reopen_count == 0 && self.sim.rng.random_bool(0.33) {
            let Some(lead) = self.ticket.lead_unit.clone() else {
                return Ok(());
            };
            let again = Action::Reopen {
                assignment: self.sim.assignment(lead, false, None),
                max_reopens: 1,
            };
            if self.step(again, agent, at)? {
                return self.handle_round(unit, agent, at);
            }
        } else if self.sim.rng.random_bool(0.5) {
            let close = Action::Close {
                reason: Some(CloseReason::UnreasonableDemand),
                note: "诉求不合理".into(),
            };
            self.step(close, agent, at)?;
        }
        Ok(())
    }

    /// Applies `action` at `at` after the crossings due before it, unless
    /// `at` is after `now` (then only the crossings up to `now`).
    fn step(&mut self, action: Action, actor: &Principal, at: DateTime<Utc>) -> Step {
        // Never before the last change (events stay in time order).
        let at = at.max(self.ticket.update_time);
        if at > self.sim.now {
            self.sweep_until(self.sim.now);
            return Ok(false);
        }
        self.sweep_until(at);
        if matches!(action, Action::Reply { .. }) && self.ticket.supervision.is_some() {
            // The unit answers the open order with its reply.
            let answer = Action::RespondToSupervision {
                text: "已按督办要求办理".into(),
            };
            let before = self.ticket.clone();
            let after = before.apply(answer, actor, at)?;
            self.record(Some(&before), after);
        }
        let before = self.ticket.clone();
        let after = before.apply(action, actor, at)?;
        self.record(Some(&before), after);
        Ok(true)
    }

    /// Records what a sweeper running every minute would have, up to `until`.
    fn sweep_until(&mut self, until: DateTime<Utc>) {
        if self.stalled {
            return;
        }
        let until = until.min(self.sim.now);
        while let Some(due) = self.ticket.next_alert_at() {
            let at = due + TimeDelta::minutes(1);
            if at > until {
                return;
            }
            let order = self.sim.order_deadline(at);
            let Ok(Some(batch)) = self.ticket.sweep_crossing(at, Some(order)) else {
                return;
            };
            for t in batch {
                let before = self.ticket.clone();
                self.record(Some(&before), t);
            }
        }
    }

    fn record(&mut self, before: Option<&Ticket>, t: Transition) {
        for d in deltas(before, &t, self.sim.offset) {
            *self
                .sim
                .counters
                .entry((d.unit, d.day, d.counter))
                .or_insert(0) += d.delta;
        }
        self.ticket = t.ticket;
        self.batch.events.push(t.event);
    }
}

fn centre_staff(n: u32) -> Principal {
    Principal {
        subject: format!("agent-{n:02}"),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    }
}

fn unit_staff(unit: &UnitId) -> Principal {
    Principal {
        subject: format!("handler-{unit}"),
        roles: vec![Role::UnitHandler],
        unit: Some(unit.clone()),
        region: None,
    }
}
