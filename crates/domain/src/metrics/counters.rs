//! The per-unit-per-day counters and the changes one transition makes to them.
//!
//! The counting rules are documented on [`Counter`] and in the module
//! documentation of [`crate::metrics`].

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

use crate::text_enum;
use crate::{
    event::EventKind,
    ids::UnitId,
    lifecycle::Transition,
    ticket::{CloseReason, Satisfaction, Ticket, TicketEvent, TicketState},
};

text_enum! {
    /// One incremental counter, kept per unit (or for the centre) per local
    /// day. A *round* is one handling round of a lead unit: it starts with a
    /// dispatch, a re-dispatch after an approved return, or a reopen.
    pub enum Counter {
        /// Centre: tickets created (every `created` event), on the creation day.
        Received => "received",
        /// Centre: tickets accepted (受理), on the creation day: `received`
        /// minus those later excluded (not accepted, emergency hand-off,
        /// merged), which take their +1 back on the creation day.
        Accepted => "accepted",
        /// Centre: answered at intake (直接办结), on the day it was.
        ResolvedAtIntake => "resolved_at_intake",
        /// Centre: declined as having a legal channel (excluded from rates).
        NotAccepted => "not_accepted",
        /// Centre: handed to 110/119/120/122 (excluded from rates).
        TransferredEmergency => "transferred_emergency",
        /// Centre: merged into another ticket as a duplicate (excluded from
        /// rates), on the merge day; taken back there if the merge is undone.
        Merged => "merged",
        /// Unit: rounds started (dispatch, re-dispatch after an approved
        /// return, reopen), for the round's lead unit on the day it started.
        /// A merged duplicate's round is taken back, with its signing and
        /// recorded overdue crossing (并单: a matter counts once, on the
        /// primary's unit; see the module documentation of `metrics`).
        Dispatched => "dispatched",
        /// Unit: rounds signed for, on the signing day.
        Signed => "signed",
        /// Unit: rounds signed for by the sign-for deadline (a round without
        /// deadlines cannot be late), on the signing day.
        SignedOnTime => "signed_on_time",
        /// Unit: rounds the unit responded to: signed on time (on the signing
        /// day), or else replied saying it contacted the citizen (on the reply
        /// day). At most one per round.
        Responded => "responded",
        /// Unit: rounds with a standing reply, on the reply day. A reply the
        /// centre sends back is taken back on its own reply day.
        Replied => "replied",
        /// Unit: standing replies made by the reply deadline in force at the
        /// time (extensions included), on the reply day.
        RepliedOnTime => "replied_on_time",
        /// Unit: rounds whose on-time outcome fell due: replied by the
        /// deadline (on the reply day), or the deadline passed unreplied (on
        /// the deadline's day). The on-time completion denominator.
        DeadlineDue => "deadline_due",
        /// Unit: rounds whose reply deadline passed while the unit held them
        /// unreplied, on the deadline's day; an extension granted afterwards
        /// takes it back.
        Overdue => "overdue",
        /// Unit: extensions granted, on the day granted.
        Extended => "extended",
        /// Unit: returns (退单) the centre approved, for the returning unit on
        /// the day of the decision.
        ReturnsApproved => "returns_approved",
        /// Unit: returns the centre rejected (不当退单), for the returning unit.
        ReturnsRejected => "returns_rejected",
        /// Unit: rounds reopened after a dissatisfied callback (重办), for the
        /// unit whose reply was reopened, on the reopening day.
        Reopened => "reopened",
        /// Unit: callbacks with a rating, for the lead unit on the callback day.
        Rated => "rated",
        /// Unit: rated 非常满意 or 满意.
        Satisfied => "satisfied",
        /// Unit: rated 基本满意.
        BasicallySatisfied => "basically_satisfied",
        /// Unit: rated 不满意 or 非常不满意.
        Dissatisfied => "dissatisfied",
        /// Unit: the citizen said the matter is resolved (rated callbacks only).
        Resolved => "resolved",
        /// Unit: closed without a rating (no answer within the callback
        /// window), on the closing day; excluded from rating denominators.
        NotRated => "not_rated",
    }
}

impl Counter {
    /// Whether the counter is kept for the centre (`unit: None`) rather than
    /// for handling units.
    pub fn is_centre(self) -> bool {
        matches!(
            self,
            Self::Received
                | Self::Accepted
                | Self::ResolvedAtIntake
                | Self::NotAccepted
                | Self::TransferredEmergency
                | Self::Merged
        )
    }
}

/// One change to one counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CounterDelta {
    /// The handling unit; `None` for the centre's own counters.
    pub unit: Option<UnitId>,
    /// The local day (in the centre's UTC offset) the change counts on.
    pub day: NaiveDate,
    /// Which counter.
    pub counter: Counter,
    /// By how much (+1, or -1 when a later event takes a count back).
    pub delta: i64,
}

/// The counter changes one committed transition causes; `before` is the
/// ticket the transition was applied to (`None` for `created`).
///
/// Depends only on `(before, after)`, never on the clock or other tickets:
/// applying the result in the same transaction as the event, and replaying
/// the event log through [`replay`](fn@super::replay), give identical
/// counters. Every ticket field read here is recorded in the event trail
/// (lead unit, deadlines, sign and reply times, ratings, close reason,
/// overdue crossings), and the offset must be the same for both.
///
/// A negative delta always targets a key (unit, day, counter) an earlier
/// transition of the same ticket incremented, so no running total ever goes
/// below zero.
pub fn deltas(
    before: Option<&Ticket>,
    after: &Transition,
    offset: FixedOffset,
) -> Vec<CounterDelta> {
    let before = before.map(Facts::of);
    effects(
        before.as_ref(),
        &Facts::of(&after.ticket),
        &after.event,
        offset,
    )
}

/// Sums deltas by counter, whatever their unit and day (filter first).
pub fn totals<'a>(deltas: impl IntoIterator<Item = &'a CounterDelta>) -> HashMap<Counter, i64> {
    let mut sums = HashMap::new();
    for d in deltas {
        *sums.entry(d.counter).or_insert(0) += d.delta;
    }
    sums
}

/// What the counting rules read of a ticket. Each field is recoverable from
/// the event trail, which is what makes [`replay`](fn@super::replay) possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Facts {
    pub(super) state: TicketState,
    pub(super) create_time: DateTime<Utc>,
    pub(super) lead_unit: Option<UnitId>,
    /// `dispatch_count`: grows by one when a round starts.
    pub(super) round: i32,
    /// When the current round started (its `dispatched` count's day).
    pub(super) round_start: Option<DateTime<Utc>>,
    /// When the ticket was merged as a duplicate, while it is.
    pub(super) merge_time: Option<DateTime<Utc>>,
    pub(super) sign_deadline: Option<DateTime<Utc>>,
    pub(super) reply_deadline: Option<DateTime<Utc>>,
    /// The sweeper recorded the reply deadline passing this round.
    pub(super) overdue_recorded: bool,
    pub(super) sign_time: Option<DateTime<Utc>>,
    pub(super) reply_time: Option<DateTime<Utc>>,
    pub(super) contacted_citizen: Option<bool>,
    pub(super) satisfaction: Option<Satisfaction>,
    pub(super) resolved: Option<bool>,
    pub(super) close_reason: Option<CloseReason>,
}

impl Facts {
    pub(super) fn of(t: &Ticket) -> Self {
        Self {
            state: t.state,
            create_time: t.create_time,
            lead_unit: t.lead_unit.clone(),
            round: t.dispatch_count,
            round_start: t.dispatch_time,
            merge_time: t.merged_into.map(|m| m.time),
            sign_deadline: t.deadlines.map(|d| d.sign.at),
            reply_deadline: t.deadlines.map(|d| d.reply.at),
            overdue_recorded: t.alerts.overdue,
            sign_time: t.sign_time,
            reply_time: t.outcome.reply_time,
            contacted_citizen: t.outcome.reply_contacted_citizen,
            satisfaction: t.outcome.satisfaction,
            resolved: t.outcome.resolved,
            close_reason: t.outcome.close_reason,
        }
    }

    /// Signed for this round, by the sign-for deadline if there is one.
    fn signed_on_time(&self) -> bool {
        self.sign_time
            .is_some_and(|s| self.sign_deadline.is_none_or(|d| s <= d))
    }
}

/// Collects deltas with their local days.
struct Out {
    offset: FixedOffset,
    list: Vec<CounterDelta>,
}

impl Out {
    fn push(&mut self, unit: Option<&UnitId>, counter: Counter, at: DateTime<Utc>, delta: i64) {
        self.list.push(CounterDelta {
            unit: unit.cloned(),
            day: at.with_timezone(&self.offset).date_naive(),
            counter,
            delta,
        });
    }

    fn centre(&mut self, counter: Counter, at: DateTime<Utc>, delta: i64) {
        self.push(None, counter, at, delta);
    }

    /// A unit counter; nothing when there is no lead unit to attribute it to.
    fn unit(&mut self, unit: Option<&UnitId>, counter: Counter, at: DateTime<Utc>, delta: i64) {
        if unit.is_some() {
            self.push(unit, counter, at, delta);
        }
    }

    /// The round of `f` settles late: its deadline passed unreplied.
    fn settle_late(&mut self, f: &Facts, sign: i64) {
        if let Some(deadline) = f.reply_deadline {
            let unit = f.lead_unit.as_ref();
            self.unit(unit, Counter::Overdue, deadline, sign);
            self.unit(unit, Counter::DeadlineDue, deadline, sign);
        }
    }

    /// What the round of `f` counted for its lead unit before a reply: its
    /// start, its signing and a recorded overdue crossing (`sign` -1 takes
    /// them back when the ticket is merged as a duplicate, +1 puts them
    /// back when the merge is undone). Merging needs an unreplied round,
    /// so there is no reply to take back.
    fn round(&mut self, f: &Facts, sign: i64) {
        let unit = f.lead_unit.as_ref();
        if let Some(start) = f.round_start.filter(|_| f.round > 0) {
            self.unit(unit, Counter::Dispatched, start, sign);
        }
        if let Some(signed) = f.sign_time {
            self.unit(unit, Counter::Signed, signed, sign);
            if f.signed_on_time() {
                self.unit(unit, Counter::SignedOnTime, signed, sign);
                self.unit(unit, Counter::Responded, signed, sign);
            }
        }
        if f.overdue_recorded {
            self.settle_late(f, sign);
        }
    }

    /// What the standing reply of `f` counts (`sign` -1 takes it back).
    fn reply(&mut self, f: &Facts, sign: i64) {
        let Some(at) = f.reply_time else {
            return;
        };
        let unit = f.lead_unit.as_ref();
        self.unit(unit, Counter::Replied, at, sign);
        if f.reply_deadline.is_none_or(|d| at <= d) {
            self.unit(unit, Counter::RepliedOnTime, at, sign);
            self.unit(unit, Counter::DeadlineDue, at, sign);
        } else if !f.overdue_recorded {
            // Replied late before the sweeper recorded the crossing.
            self.settle_late(f, sign);
        }
        if f.contacted_citizen == Some(true) && !f.signed_on_time() {
            self.unit(unit, Counter::Responded, at, sign);
        }
    }
}

/// The counting rules over what the metrics read of the ticket before and
/// after, and the event.
pub(super) fn effects(
    before: Option<&Facts>,
    after: &Facts,
    event: &TicketEvent,
    offset: FixedOffset,
) -> Vec<CounterDelta> {
    let mut out = Out {
        offset,
        list: Vec::new(),
    };
    let at = event.time;
    let Some(b) = before else {
        out.centre(Counter::Received, at, 1);
        out.centre(Counter::Accepted, at, 1);
        return out.list;
    };
    if after.state != b.state {
        let excluded = match after.state {
            TicketState::NotAccepted => Some(Counter::NotAccepted),
            TicketState::TransferredEmergency => Some(Counter::TransferredEmergency),
            TicketState::Merged => Some(Counter::Merged),
            TicketState::ResolvedAtIntake => {
                out.centre(Counter::ResolvedAtIntake, at, 1);
                None
            }
            _ => None,
        };
        if let Some(counter) = excluded {
            out.centre(counter, at, 1);
            out.centre(Counter::Accepted, b.create_time, -1);
        }
        if let (TicketState::Merged, Some(merged)) = (b.state, b.merge_time) {
            // Unmerged: accepted again, the merge taken back on its day.
            out.centre(Counter::Merged, merged, -1);
            out.centre(Counter::Accepted, b.create_time, 1);
        }
    }
    let held_by = b.lead_unit.as_ref();
    match &event.kind {
        EventKind::Signed(_) => {
            let unit = after.lead_unit.as_ref();
            out.unit(unit, Counter::Signed, at, 1);
            if after.signed_on_time() {
                out.unit(unit, Counter::SignedOnTime, at, 1);
                out.unit(unit, Counter::Responded, at, 1);
            }
        }
        EventKind::Replied(_) => out.reply(after, 1),
        EventKind::ReplySentBack(_) => out.reply(b, -1),
        EventKind::Overdue(_) => out.settle_late(b, 1),
        EventKind::ExtensionApproved(_) => {
            out.unit(after.lead_unit.as_ref(), Counter::Extended, at, 1);
            if b.overdue_recorded {
                // The crossing no longer stands: the deadline moved.
                out.settle_late(b, -1);
            }
        }
        EventKind::ReturnApproved(_) => {
            out.unit(held_by, Counter::ReturnsApproved, at, 1);
            if !b.overdue_recorded && b.reply_deadline.is_some_and(|d| d < at) {
                out.settle_late(b, 1);
            }
        }
        EventKind::ReturnRejected(_) => out.unit(held_by, Counter::ReturnsRejected, at, 1),
        EventKind::Reopened(_) => out.unit(held_by, Counter::Reopened, at, 1),
        EventKind::CallbackRecorded(_) => {
            if let Some(s) = after.satisfaction {
                let unit = after.lead_unit.as_ref();
                out.unit(unit, Counter::Rated, at, 1);
                out.unit(unit, rating_counter(s), at, 1);
                if after.resolved == Some(true) {
                    out.unit(unit, Counter::Resolved, at, 1);
                }
            }
        }
        EventKind::Closed(_) => {
            if after.close_reason == Some(CloseReason::NotRated) {
                out.unit(after.lead_unit.as_ref(), Counter::NotRated, at, 1);
            }
        }
        // A matter counts once, on the primary's unit: the duplicate's
        // round leaves its unit's scorecard while it is merged.
        EventKind::MergedInto(_) => out.round(b, -1),
        EventKind::Unmerged(_) => out.round(after, 1),
        // Counted by the state they reach (above) or by the round they
        // start (below), or not at all.
        EventKind::Created(_)
        | EventKind::Updated(_)
        | EventKind::ResolvedAtIntake(_)
        | EventKind::TransferredEmergency(_)
        | EventKind::NotAccepted(_)
        | EventKind::Dispatched(_)
        | EventKind::ReturnRequested(_)
        | EventKind::ExtensionRequested(_)
        | EventKind::ExtensionRejected(_)
        | EventKind::Urged(_)
        | EventKind::SupervisionIssued(_)
        | EventKind::SupervisionAnswered(_)
        | EventKind::ProgressNoted(_)
        | EventKind::ReplyApproved(_)
        | EventKind::SignOverdue(_)
        | EventKind::DeadlineWarning(_)
        | EventKind::MergedFrom(_)
        | EventKind::UnmergedFrom(_)
        // One rating per matter: the primary's own caller's.
        | EventKind::MergedCallerCalledBack(_) => {}
    }
    if after.round > b.round {
        out.unit(after.lead_unit.as_ref(), Counter::Dispatched, at, 1);
    }
    out.list
}

/// DOMAIN.md §6: 非常满意/满意 → satisfied, 基本满意 → basically
/// satisfied, 不满意/非常不满意 → dissatisfied.
pub fn rating_counter(s: Satisfaction) -> Counter {
    match s {
        Satisfaction::VerySatisfied | Satisfaction::Satisfied => Counter::Satisfied,
        Satisfaction::BasicallySatisfied => Counter::BasicallySatisfied,
        Satisfaction::Dissatisfied | Satisfaction::VeryDissatisfied => Counter::Dissatisfied,
    }
}
