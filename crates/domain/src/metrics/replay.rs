//! Recomputing the counters from the raw event log.
//!
//! [`replay`] rebuilds, event by event, what the counting rules read of a
//! ticket (from each event's kind and details, time and states) and applies the
//! same rules as [`super::deltas`]; the property tests check that the two
//! agree on random histories.

use chrono::{DateTime, FixedOffset, Utc};

use super::counters::{CounterDelta, Facts, effects};
use crate::{
    error::DomainError,
    event::{Assigned, EventKind},
    ticket::{CloseReason, TicketEvent},
};

/// The counter changes of one ticket's whole event trail, in order (events
/// sorted by sequence, starting with `created`). Equals the concatenation of
/// [`super::deltas`] over the transitions that appended those events.
pub fn replay(
    events: &[TicketEvent],
    offset: FixedOffset,
) -> Result<Vec<CounterDelta>, DomainError> {
    let mut facts: Option<Facts> = None;
    let mut out = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let at = |message: String| {
            DomainError::invalid(
                format!("events[{i}]"),
                format!("{}: {message}", event.kind.event_type()),
            )
        };
        if let Some(first) = events.first()
            && event.ticket_id != first.ticket_id
        {
            return Err(at("belongs to another ticket".into()));
        }
        let expected = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
        if event.sequence != expected {
            return Err(at(format!(
                "sequence {} where {expected} was expected",
                event.sequence
            )));
        }
        let next = next_facts(facts.as_ref(), event).map_err(at)?;
        out.extend(effects(facts.as_ref(), &next, event, offset));
        facts = Some(next);
    }
    Ok(out)
}

/// The facts after `event`, from the facts before it.
pub(super) fn next_facts(prev: Option<&Facts>, event: &TicketEvent) -> Result<Facts, String> {
    let Some(prev) = prev else {
        if !matches!(event.kind, EventKind::Created(_)) || event.from_state.is_some() {
            return Err("the trail must start with a created event".into());
        }
        return Ok(Facts {
            state: event.to_state,
            create_time: event.time,
            lead_unit: None,
            round: 0,
            round_start: None,
            merge_time: None,
            sign_deadline: None,
            reply_deadline: None,
            overdue_recorded: false,
            sign_time: None,
            reply_time: None,
            contacted_citizen: None,
            satisfaction: None,
            resolved: None,
            close_reason: None,
        });
    };
    if event.from_state != Some(prev.state) {
        return Err(format!(
            "from state {:?} where the trail was in {}",
            event.from_state, prev.state
        ));
    }
    let mut f = prev.clone();
    f.state = event.to_state;
    match &event.kind {
        EventKind::Dispatched(round) => f.start_round(round, event.time),
        EventKind::Reopened(reopened) => {
            // The outcome of the round before is cleared.
            f.reply_time = None;
            f.contacted_citizen = None;
            f.satisfaction = None;
            f.resolved = None;
            f.close_reason = None;
            f.start_round(&reopened.round, event.time);
        }
        EventKind::ReturnApproved(approved) => match &approved.redispatch {
            Some(round) => f.start_round(round, event.time),
            // Back to triage: no unit holds it.
            None => {
                f.lead_unit = None;
                f.round_start = None;
            }
        },
        EventKind::ExtensionApproved(extension) => {
            f.reply_deadline = Some(extension.reply_deadline);
            f.overdue_recorded = false;
        }
        EventKind::Overdue(_) => f.overdue_recorded = true,
        EventKind::Signed(_) => f.sign_time = Some(event.time),
        EventKind::Replied(reply) => {
            f.reply_time = Some(event.time);
            f.contacted_citizen = Some(reply.contacted_citizen);
        }
        EventKind::ReplySentBack(_) => {
            f.reply_time = None;
            f.contacted_citizen = None;
        }
        EventKind::CallbackRecorded(callback) => {
            f.satisfaction = Some(callback.satisfaction);
            f.resolved = Some(callback.resolved);
        }
        EventKind::Closed(closed) => f.close_reason = Some(closed.reason),
        EventKind::MergedInto(_) => {
            f.merge_time = Some(event.time);
            f.close_reason = Some(CloseReason::Merged);
        }
        EventKind::Unmerged(_) => {
            f.merge_time = None;
            f.close_reason = None;
        }
        // Nothing the counting rules read.
        EventKind::Created(_)
        | EventKind::Updated(_)
        | EventKind::ResolvedAtIntake(_)
        | EventKind::TransferredEmergency(_)
        | EventKind::NotAccepted(_)
        | EventKind::ReturnRequested(_)
        | EventKind::ReturnRejected(_)
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
        | EventKind::MergedCallerCalledBack(_) => {}
    }
    Ok(f)
}

impl Facts {
    /// A new round: the assignment's unit and deadlines, nothing signed.
    fn start_round(&mut self, round: &Assigned, at: DateTime<Utc>) {
        self.round = round.dispatch_count;
        self.lead_unit = Some(round.lead_unit.clone());
        self.round_start = Some(at);
        self.sign_deadline = round.deadlines.map(|d| d.sign);
        self.reply_deadline = round.deadlines.map(|d| d.reply);
        self.overdue_recorded = false;
        self.sign_time = None;
    }
}
