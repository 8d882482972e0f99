//! Recomputing the counters from the raw event log.
//!
//! [`replay`] rebuilds, event by event, what the counting rules read of a
//! ticket (from each event's kind, time, states and payload) and applies the
//! same rules as [`super::deltas`]; the property tests check that the two
//! agree on random histories.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

use super::counters::{CounterDelta, Facts, effects};
use crate::{
    error::DomainError,
    ids::UnitId,
    text_enum::TextEnum,
    ticket::{CloseReason, Satisfaction, TicketEvent, TicketState},
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
            DomainError::invalid(format!("events[{i}]"), format!("{}: {message}", event.kind))
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
    let p = &event.payload;
    let Some(prev) = prev else {
        if event.kind != "created" || event.from_state.is_some() {
            return Err("the trail must start with a created event".into());
        }
        return Ok(Facts {
            state: event.to_state,
            create_time: event.time,
            lead_unit: None,
            round: 0,
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
    match event.kind.as_str() {
        "reopened" => {
            // The outcome of the round before is cleared.
            f.reply_time = None;
            f.contacted_citizen = None;
            f.satisfaction = None;
            f.resolved = None;
            f.close_reason = None;
        }
        "return_approved" if event.to_state == TicketState::PendingDispatch => f.lead_unit = None,
        "extension_approved" => {
            f.reply_deadline = Some(time(p, "reply_deadline")?.ok_or("no reply_deadline")?);
            f.overdue_recorded = false;
        }
        "overdue" => f.overdue_recorded = true,
        "signed" => f.sign_time = Some(event.time),
        "replied" => {
            f.reply_time = Some(event.time);
            f.contacted_citizen = Some(flag(p, "contacted_citizen")?);
        }
        "reply_sent_back" => {
            f.reply_time = None;
            f.contacted_citizen = None;
        }
        "callback_recorded" => {
            f.satisfaction = Some(code::<Satisfaction>(p, "satisfaction")?);
            f.resolved = Some(flag(p, "resolved")?);
        }
        "closed" => f.close_reason = Some(code::<CloseReason>(p, "reason")?),
        _ => {}
    }
    let assigns = matches!(
        event.kind.as_str(),
        "dispatched" | "reopened" | "return_approved"
    );
    if assigns && let Some(count) = p.get("dispatch_count") {
        // A new round: the assignment's unit and deadlines, nothing signed.
        f.round = count
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or("dispatch_count is not a number")?;
        let unit = p
            .get("lead_unit")
            .and_then(Value::as_str)
            .ok_or("no lead_unit")?;
        f.lead_unit = Some(UnitId::from_name(unit).map_err(|e| e.to_string())?);
        f.sign_deadline = time(p, "sign_deadline")?;
        f.reply_deadline = time(p, "reply_deadline")?;
        f.overdue_recorded = false;
        f.sign_time = None;
    }
    Ok(f)
}

fn time(p: &Value, key: &str) -> Result<Option<DateTime<Utc>>, String> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| Some(t.with_timezone(&Utc)))
            .ok_or_else(|| format!("{key} is not an RFC 3339 time")),
    }
}

fn flag(p: &Value, key: &str) -> Result<bool, String> {
    p.get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("{key} is not a boolean"))
}

fn code<T: TextEnum>(p: &Value, key: &str) -> Result<T, String> {
    p.get(key)
        .and_then(Value::as_str)
        .and_then(T::from_code)
        .ok_or_else(|| format!("{key} is not a known code"))
}
