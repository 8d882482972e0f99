//! Metrics tests. This file holds the fixtures: tickets driven through the
//! real lifecycle (`Ticket::accept`, `Ticket::apply`, `record_alert`) with
//! the deltas of every transition collected. Submodules: `scenario` (a month
//! of tickets with known outcomes), `merges` (a month with duplicates merged
//! and unmerged), `props` (random histories), `ranking`.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::{Counter, CounterDelta, deltas, replay};
use crate::{
    access::{Principal, Role},
    calendar::{CHINA_STANDARD_TIME, Calendar, CalendarData, WorkingHours},
    ids::{RegionCode, SubjectCode, UnitId},
    lifecycle::{
        Action, Assignment, DEFAULT_DESIGNATE_AFTER, ReplyPolicy, ReturnPolicy, Transition,
    },
    person::Caller,
    text_enum::TextEnum,
    ticket::{
        Channel, CloseReason, Intake, RequestType, Satisfaction, Ticket, TicketEvent, Urgency,
    },
    timelimit::{TimeLimitPolicy, Timing},
};

mod merges;
mod props;
mod ranking;
mod scenario;

/// A (unit or centre, day, counter) key.
type Key = (Option<UnitId>, NaiveDate, Counter);

const A: &str = "water-works";
const B: &str = "market-regulation";
const C: &str = "d330106";

fn unit(id: &str) -> UnitId {
    UnitId::parse(id).unwrap()
}

/// Local (Asia/Shanghai) time in March 2026.
fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    CHINA_STANDARD_TIME
        .with_ymd_and_hms(2026, 3, day, hour, minute, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn march(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
}

fn calendar() -> Arc<Calendar> {
    static CALENDAR: OnceLock<Arc<Calendar>> = OnceLock::new();
    CALENDAR
        .get_or_init(|| {
            let data = CalendarData::national();
            let cal = Calendar::new(data, WorkingHours::default(), CHINA_STANDARD_TIME, 1);
            Arc::new(cal.unwrap())
        })
        .clone()
}

fn policy() -> Arc<TimeLimitPolicy> {
    Arc::new(TimeLimitPolicy::default())
}

fn timing() -> Timing {
    Timing {
        policy: policy(),
        calendar: calendar(),
    }
}

fn agent() -> Principal {
    Principal {
        subject: "agent-7".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    }
}

fn intake(request_type: RequestType, urgency: Urgency) -> Intake {
    Intake {
        channel: Channel::Phone,
        legacy_hotline: None,
        caller: Caller::parse("张三", "13800131234", false).unwrap(),
        confidential: false,
        request_type,
        urgency,
        subject_code: Some(SubjectCode::parse("01.02").unwrap()),
        region_code: RegionCode::parse("330106").unwrap(),
        address: "文三路 90 号".into(),
        title: "路灯不亮".into(),
        description: "小区门口的路灯坏了一周".into(),
    }
}

/// An assignment with deadlines on the national calendar.
fn assign(id: &str) -> Assignment {
    Assignment {
        unit: unit(id),
        co_units: Vec::new(),
        note: "按责转办".into(),
        routing: None,
        designate_after: DEFAULT_DESIGNATE_AFTER,
        timing: Some(timing()),
    }
}

fn dispatch(id: &str) -> Action {
    Action::Dispatch(assign(id))
}

fn reply_with(contacted_citizen: bool, after: ReplyPolicy) -> Action {
    Action::Reply {
        text: "已办理".into(),
        contacted_citizen,
        after,
    }
}

fn reply(contacted_citizen: bool) -> Action {
    reply_with(contacted_citizen, ReplyPolicy::default())
}

fn callback(satisfaction: Satisfaction, resolved: bool) -> Action {
    Action::RecordCallback {
        satisfaction,
        resolved,
        comment: "回访".into(),
    }
}

fn close(reason: Option<CloseReason>) -> Action {
    Action::Close {
        reason,
        note: "结案".into(),
    }
}

fn return_it() -> Action {
    Action::Return {
        reason: "不属本单位职责".into(),
        legal_basis: "三定方案".into(),
        policy: ReturnPolicy::natural(chrono::TimeDelta::days(1)),
    }
}

fn arbitrate(approve: bool, redispatch: Option<&str>) -> Action {
    Action::ArbitrateReturn {
        redispatch: redispatch.map(assign),
        approve,
        note: "仲裁".into(),
    }
}

fn request_extension(days: u32) -> Action {
    Action::RequestExtension {
        days,
        reason: "需现场勘查".into(),
        policy: policy(),
    }
}

fn decide_extension(approve: bool) -> Action {
    Action::DecideExtension {
        approve,
        days: None,
        timing: timing(),
        note: "批准".into(),
    }
}

fn reopen(id: &str) -> Action {
    Action::Reopen {
        assignment: assign(id),
        max_reopens: 2,
    }
}

/// One ticket driven through the lifecycle, with its trail and the deltas
/// of each transition.
#[derive(Debug, Clone)]
struct Run {
    ticket: Ticket,
    events: Vec<TicketEvent>,
    deltas: Vec<CounterDelta>,
}

impl Run {
    fn accept(request_type: RequestType, urgency: Urgency, now: DateTime<Utc>) -> Self {
        let t = Ticket::accept(intake(request_type, urgency), "n".into(), &agent(), now);
        let mut run = Self {
            ticket: t.ticket.clone(),
            events: Vec::new(),
            deltas: Vec::new(),
        };
        run.commit(None, t);
        run
    }

    /// An enquiry (sign-for 1 WD, reply 3 WD).
    fn enquiry(now: DateTime<Utc>) -> Self {
        Self::accept(RequestType::Enquiry, Urgency::Normal, now)
    }

    fn commit(&mut self, before: Option<&Ticket>, t: Transition) {
        self.deltas.extend(deltas(before, &t, CHINA_STANDARD_TIME));
        self.events.push(t.event);
        self.ticket = t.ticket;
    }

    /// Applies `action`, which must be legal.
    fn act(&mut self, action: Action, now: DateTime<Utc>) -> &mut Self {
        let verb = action.verb();
        let before = self.ticket.clone();
        let t = before
            .apply(action, &agent(), now)
            .unwrap_or_else(|e| panic!("{verb} from {} failed: {e}", before.state));
        self.commit(Some(&before), t);
        self
    }

    /// Records every deadline crossing due at `now`, as the sweeper does.
    fn sweep(&mut self, now: DateTime<Utc>) -> &mut Self {
        while let Some(kind) = self.ticket.due_alert(now) {
            let before = self.ticket.clone();
            let t = before.record_alert(kind, now).unwrap();
            self.commit(Some(&before), t);
        }
        self
    }

    /// The deltas recomputed from the event trail alone.
    fn replayed(&self) -> Vec<CounterDelta> {
        replay(&self.events, CHINA_STANDARD_TIME).unwrap()
    }
}

/// Deltas summed by key, zero sums dropped.
fn keyed<'a>(deltas: impl IntoIterator<Item = &'a CounterDelta>) -> HashMap<Key, i64> {
    let mut sums: HashMap<Key, i64> = HashMap::new();
    for d in deltas {
        *sums.entry((d.unit.clone(), d.day, d.counter)).or_insert(0) += d.delta;
    }
    sums.retain(|_, n| *n != 0);
    sums
}

/// Deltas summed by counter for one unit (`None`: the centre), zeros dropped.
fn unit_totals<'a>(
    deltas: impl IntoIterator<Item = &'a CounterDelta>,
    unit: Option<&UnitId>,
) -> HashMap<Counter, i64> {
    let mut sums = super::totals(deltas.into_iter().filter(|d| d.unit.as_ref() == unit));
    sums.retain(|_, n| *n != 0);
    sums
}

/// Expected counters from a compact table: each row is a unit (`None` for
/// the centre), a day of March 2026 and space-separated counter codes, each
/// counting one, or `n` with a `*n` suffix.
fn table(rows: &[(Option<&str>, u32, &str)]) -> HashMap<Key, i64> {
    let mut sums = HashMap::new();
    for (id, day, codes) in rows {
        for item in codes.split_whitespace() {
            let (code, n) = item.split_once('*').unwrap_or((item, "1"));
            let counter = Counter::from_code(code).unwrap_or_else(|| panic!("{code}"));
            let n: i64 = n.parse().unwrap();
            *sums
                .entry((id.map(unit), march(*day), counter))
                .or_insert(0) += n;
        }
    }
    sums
}
