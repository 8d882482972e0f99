//! A checked row lived through the real state machine (`Ticket::accept`,
//! `Ticket::apply`), as the populate benchmark does: the ticket row, its
//! event trail and its scorecard counters are what the service would have
//! written had the ticket come in here. Open tickets stop dispatched (or
//! signed for) with the round's deadlines computed on the calendar from the
//! dispatch time, so the sweeper takes them up from there; closed ones go
//! on through the reply, the callback (when rated) and the close.
//!
//! What is not rebuilt: the deadline crossings a sweeper would have recorded
//! during the retired hotline's handling (the old system's own supervision
//! is not in the export), and the review step.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};

use super::{mapping::ImportState, row::LegacyRow};
use hotline::domain::{
    DomainError, RegionCode, Transition, UnitId,
    access::{Principal, Role},
    lifecycle::{Action, Assignment, DEFAULT_DESIGNATE_AFTER, ReplyPolicy},
    metrics::deltas,
    ticket::{Channel, CloseReason, Intake, RequestType, Ticket, TicketEvent},
    timelimit::{Limit, Timing},
};
use hotline::store::CounterTotal;

/// The subject recorded as the actor of imported steps.
pub(crate) const IMPORTER: &str = hotline::domain::event::LEGACY_IMPORT_ACTOR;

/// Turns checked rows into histories.
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    /// The retired hotline (`legacy_hotline` of every ticket).
    pub source: String,
    /// Request type of every ticket.
    pub request_type: RequestType,
    /// Channel of every ticket.
    pub channel: Channel,
    /// Calendar and time limits of the deadlines.
    pub timing: Timing,
    /// The centre's offset (the counters' days).
    pub offset: FixedOffset,
    /// The callback window after a reply.
    pub callback_window: Limit,
    /// Each mapped unit's region: the ticket's region.
    pub regions: HashMap<UnitId, RegionCode>,
    /// Mapped units retired from the directory, with their successors:
    /// their closed history comes over as it was, but an open ticket would
    /// land on a unit nobody works in.
    pub retired: HashMap<UnitId, Option<UnitId>>,
}

/// One row's history.
#[derive(Debug)]
pub(crate) struct Imported {
    /// The ticket as it ends.
    pub ticket: Ticket,
    /// Its events, in order.
    pub events: Vec<TicketEvent>,
    /// Its scorecard counter deltas, summed by (unit, day, counter).
    pub counters: Vec<CounterTotal>,
}

impl Replay {
    /// Lives `row` through under the ticket number `number`.
    pub(crate) fn ticket(&self, row: &LegacyRow, number: String) -> Result<Imported, DomainError> {
        let region = self
            .regions
            .get(&row.unit)
            .cloned()
            .ok_or_else(|| DomainError::invalid("unit", "not in the directory"))?;
        if let (true, Some(successor)) = (row.state.is_open(), self.retired.get(&row.unit)) {
            let successor = successor
                .as_ref()
                .map_or_else(String::new, |s| format!(" (successor {s})"));
            return Err(DomainError::invalid(
                "unit",
                format!(
                    "{} is retired{successor}: an open ticket cannot go to it; map the value to the successor",
                    row.unit
                ),
            ));
        }
        let intake = Intake {
            channel: self.channel,
            legacy_hotline: Some(self.source.clone()),
            caller: row.caller.clone(),
            confidential: false,
            request_type: self.request_type,
            urgency: hotline::domain::ticket::Urgency::Normal,
            subject_code: row.subject.clone(),
            region_code: region,
            address: row.address.clone(),
            title: row.title.clone(),
            description: row.text.clone(),
        };
        let centre = Principal {
            subject: IMPORTER.into(),
            roles: vec![Role::Agent],
            unit: None,
            region: None,
        };
        let unit = Principal {
            subject: IMPORTER.into(),
            roles: vec![Role::UnitHandler],
            unit: Some(row.unit.clone()),
            region: None,
        };
        let mut accepted = Ticket::accept(intake, number, &centre, row.created);
        accepted.ticket.legacy_number = Some(row.number.clone());
        let mut life = Life {
            offset: self.offset,
            ticket: accepted.ticket.clone(),
            events: Vec::new(),
            counters: HashMap::new(),
        };
        life.record(None, accepted);
        let dispatch = Action::Dispatch(Assignment {
            unit: row.unit.clone(),
            co_units: Vec::new(),
            note: format!("{} 热线导入", self.source),
            routing: None,
            designate_after: DEFAULT_DESIGNATE_AFTER,
            timing: Some(self.timing.clone()),
        });
        life.step(dispatch, &centre, row.dispatched)?;
        if row.state == ImportState::Dispatched {
            return Ok(life.finish());
        }
        life.step(Action::Sign, &unit, row.dispatched)?;
        let Some((text, replied)) = row.reply.clone() else {
            return Ok(life.finish());
        };
        let reply = Action::Reply {
            text,
            contacted_citizen: true,
            after: ReplyPolicy {
                review: false,
                callback_deadline: Some(
                    self.callback_window
                        .deadline(&self.timing.calendar, replied)
                        .at,
                ),
            },
        };
        life.step(reply, &unit, replied)?;
        if row.state != ImportState::Closed {
            return Ok(life.finish());
        }
        let close = match row.rating {
            Some(satisfaction) => {
                let callback = Action::RecordCallback {
                    satisfaction,
                    resolved: !satisfaction.is_dissatisfied(),
                    comment: format!("{} 热线回访", self.source),
                };
                life.step(callback, &centre, replied)?;
                // The retired hotline closed it: the nearest reason here
                // for a dissatisfied rating it did not reopen.
                satisfaction
                    .is_dissatisfied()
                    .then_some(CloseReason::UnreasonableDemand)
            }
            None => Some(CloseReason::NotRated),
        };
        let close = Action::Close {
            reason: close,
            note: format!("{} 热线已办结", self.source),
        };
        life.step(close, &centre, replied)?;
        Ok(life.finish())
    }
}

/// One ticket being lived through.
struct Life {
    offset: FixedOffset,
    ticket: Ticket,
    events: Vec<TicketEvent>,
    counters: HashMap<
        (
            Option<UnitId>,
            chrono::NaiveDate,
            hotline::domain::metrics::Counter,
        ),
        i64,
    >,
}

impl Life {
    /// Applies `action` at `at` (never before the last change).
    fn step(
        &mut self,
        action: Action,
        actor: &Principal,
        at: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let at = at.max(self.ticket.update_time);
        let before = self.ticket.clone();
        let after = before.apply(action, actor, at)?;
        self.record(Some(&before), after);
        Ok(())
    }

    fn record(&mut self, before: Option<&Ticket>, t: Transition) {
        for d in deltas(before, &t, self.offset) {
            *self.counters.entry((d.unit, d.day, d.counter)).or_insert(0) += d.delta;
        }
        self.ticket = t.ticket;
        self.events.push(t.event);
    }

    fn finish(self) -> Imported {
        Imported {
            ticket: self.ticket,
            events: self.events,
            counters: self
                .counters
                .into_iter()
                .map(|((unit, day, counter), value)| (unit, day, counter, value))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use hotline::domain::{
        Caller, TicketState,
        calendar::{CHINA_STANDARD_TIME, Calendar, CalendarData, WorkingHours},
        metrics::Counter,
        ticket::Satisfaction,
        timelimit::TimeLimitPolicy,
    };

    fn replay() -> Replay {
        let unit = UnitId::parse("market-regulation").unwrap();
        Replay {
            source: "12315".into(),
            request_type: RequestType::Complaint,
            channel: Channel::Phone,
            timing: Timing {
                policy: Arc::new(TimeLimitPolicy::default()),
                calendar: Arc::new(
                    Calendar::new(
                        CalendarData::national(),
                        WorkingHours::default(),
                        CHINA_STANDARD_TIME,
                        1,
                    )
                    .unwrap(),
                ),
            },
            offset: CHINA_STANDARD_TIME,
            callback_window: Limit::WorkingDays(5),
            regions: HashMap::from([(unit, RegionCode::parse("430100").unwrap())]),
            retired: HashMap::new(),
        }
    }

    fn row(state: ImportState) -> LegacyRow {
        let created = Utc.with_ymd_and_hms(2025, 9, 1, 1, 0, 0).unwrap();
        LegacyRow {
            line: 2,
            number: "12315-2025-100201".into(),
            created,
            dispatched: created + chrono::TimeDelta::hours(2),
            caller: Caller::parse("张先生", "13800000001", false).unwrap(),
            title: "超市出售过期酸奶".into(),
            text: "超市出售过期酸奶，要求退货并查处".into(),
            subject: None,
            unit: UnitId::parse("market-regulation").unwrap(),
            state,
            reply: state
                .has_reply()
                .then(|| ("已查处".into(), created + chrono::TimeDelta::days(2))),
            rating: (state == ImportState::Closed).then_some(Satisfaction::Satisfied),
            address: String::new(),
        }
    }

    #[test]
    fn an_open_row_is_dispatched_with_deadlines_from_its_dispatch_time() {
        let r = row(ImportState::Dispatched);
        let done = replay()
            .ticket(&r, "20250901000001".into())
            .expect("lawful");
        let t = &done.ticket;
        assert_eq!(t.state, TicketState::Dispatched);
        assert_eq!(t.legacy_number.as_deref(), Some("12315-2025-100201"));
        assert_eq!(t.intake.legacy_hotline.as_deref(), Some("12315"));
        assert_eq!(t.intake.region_code.as_str(), "430100");
        assert_eq!(t.dispatch_time, Some(r.dispatched));
        let deadlines = t.deadlines.expect("deadlines");
        assert!(deadlines.sign.at > r.dispatched && deadlines.reply.at > deadlines.sign.at);
        assert_eq!(done.events.len(), 2);
        assert!(
            done.counters
                .iter()
                .any(|(unit, _, c, v)| unit.is_some() && *c == Counter::Dispatched && *v == 1),
            "{:?}",
            done.counters
        );
    }

    #[test]
    fn deadlines_run_on_the_calendar_from_the_dispatch_not_the_call() {
        // Called in on Friday 2025-09-26, dispatched by the old system on
        // 09-30, the eve of National Day (10-01…10-08 off, 10-11 a make-up
        // Saturday): the day to sign and a complaint's 15 working days to
        // reply count from the dispatch, and end at 17:30.
        let cst = |m, d, h, min| {
            CHINA_STANDARD_TIME
                .with_ymd_and_hms(2025, m, d, h, min, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let mut r = row(ImportState::Dispatched);
        r.created = cst(9, 26, 9, 0);
        r.dispatched = cst(9, 30, 10, 0);
        let done = replay()
            .ticket(&r, "20250926000001".into())
            .expect("lawful");
        let deadlines = done.ticket.deadlines.expect("deadlines");
        assert_eq!(deadlines.sign.at, cst(10, 9, 17, 30));
        assert_eq!(deadlines.reply.at, cst(10, 28, 17, 30));
    }

    #[test]
    fn a_closed_row_goes_through_reply_callback_and_close_in_time_order() {
        let r = row(ImportState::Closed);
        let done = replay()
            .ticket(&r, "20250901000001".into())
            .expect("lawful");
        let t = &done.ticket;
        assert_eq!(t.state, TicketState::Closed);
        assert_eq!(t.outcome.reply.as_deref(), Some("已查处"));
        assert_eq!(t.outcome.satisfaction, Some(Satisfaction::Satisfied));
        assert_eq!(t.outcome.close_reason, Some(CloseReason::Completed));
        let kinds: Vec<i64> = done.events.iter().map(|e| e.sequence).collect();
        assert_eq!(kinds, [1, 2, 3, 4, 5, 6]);
        assert!(done.events.windows(2).all(|w| w[0].time <= w[1].time));
    }

    #[test]
    fn a_closed_row_without_rating_closes_as_not_rated() {
        let mut r = row(ImportState::Closed);
        r.rating = None;
        let done = replay()
            .ticket(&r, "20250901000001".into())
            .expect("lawful");
        assert_eq!(
            done.ticket.outcome.close_reason,
            Some(CloseReason::NotRated)
        );
    }

    #[test]
    fn a_unit_without_a_region_is_refused() {
        let mut r = row(ImportState::Dispatched);
        r.unit = UnitId::parse("elsewhere").unwrap();
        assert!(replay().ticket(&r, "20250901000001".into()).is_err());
    }
}
