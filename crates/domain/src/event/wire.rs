//! How payload fields are written: serde adapters for the stored text of
//! ids and times, and the stored layouts of the payloads whose typed form
//! differs from it ([`Assigned`], [`ReturnApproved`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::payload::{Assigned, ReturnApproved, RoundDeadlines};
use crate::{ids::UnitId, ticket::RoutingRef};

/// A unit as its resource name, `units/{id}`.
pub(crate) mod unit {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::ids::UnitId;

    pub(crate) fn serialize<S: Serializer>(unit: &UnitId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&unit.name())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UnitId, D::Error> {
        let name = String::deserialize(d)?;
        UnitId::from_name(&name).map_err(|e| D::Error::custom(format!("{name:?}: {e}")))
    }
}

/// A ticket as its resource name, `tickets/{id}`.
pub(crate) mod ticket {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::ids::TicketId;

    pub(crate) fn serialize<S: Serializer>(id: &TicketId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.name())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TicketId, D::Error> {
        let name = String::deserialize(d)?;
        TicketId::from_name(&name).map_err(|e| D::Error::custom(format!("{name:?}: {e}")))
    }
}

/// Tickets as a list of resource names.
pub(crate) mod tickets {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::ids::TicketId;

    pub(crate) fn serialize<S: Serializer>(ids: &[TicketId], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ids.iter().map(TicketId::name))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TicketId>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|name| {
                TicketId::from_name(name).map_err(|e| D::Error::custom(format!("{name:?}: {e}")))
            })
            .collect()
    }
}

/// An optional unit as its resource name or `null`.
pub(crate) mod opt_unit {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::ids::UnitId;

    pub(crate) fn serialize<S: Serializer>(unit: &Option<UnitId>, s: S) -> Result<S::Ok, S::Error> {
        match unit {
            Some(unit) => s.serialize_some(&unit.name()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnitId>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|name| {
                UnitId::from_name(&name).map_err(|e| D::Error::custom(format!("{name:?}: {e}")))
            })
            .transpose()
    }
}

/// Units as a list of resource names.
pub(crate) mod units {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::ids::UnitId;

    pub(crate) fn serialize<S: Serializer>(units: &[UnitId], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(units.iter().map(UnitId::name))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<UnitId>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|name| {
                UnitId::from_name(name).map_err(|e| D::Error::custom(format!("{name:?}: {e}")))
            })
            .collect()
    }
}

/// A time as RFC 3339 with a `+00:00` offset ([`DateTime::to_rfc3339`]),
/// not serde's default `Z` form, so rewritten payloads match old rows.
pub(crate) mod time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }

    pub(super) fn parse(text: &str) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))
    }
}

/// An optional time as in [`time`], or `null`.
pub(crate) mod opt_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&t.to_rfc3339()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::time::parse(&text).map_err(D::Error::custom))
            .transpose()
    }
}

/// A region code as its digits.
pub(crate) mod region {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::ids::RegionCode;

    pub(crate) fn serialize<S: Serializer>(code: &RegionCode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(code.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RegionCode, D::Error> {
        let code = String::deserialize(d)?;
        RegionCode::parse(&code).map_err(|e| D::Error::custom(format!("{code:?}: {e}")))
    }
}

/// [`Assigned`] as stored: the routing reference as two nullable fields,
/// and the deadlines as four fields present only when the round has them.
#[derive(Serialize, Deserialize)]
pub(crate) struct AssignedWire {
    #[serde(with = "unit")]
    lead_unit: UnitId,
    #[serde(with = "units")]
    co_units: Vec<UnitId>,
    note: String,
    dispatch_count: i32,
    designated: bool,
    rule_id: Option<String>,
    rule_set_version: Option<i64>,
    /// Written only when the dispatch model decided, so events of rule and
    /// manual dispatches keep their shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    sign_deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    reply_deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provisional: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calendar_version: Option<i64>,
}

impl TryFrom<AssignedWire> for Assigned {
    type Error = String;

    fn try_from(w: AssignedWire) -> Result<Self, String> {
        let routing = match (w.rule_id, w.rule_set_version, w.model_version) {
            (None, None, None) => None,
            (rule_id, Some(rule_set_version), model_version) => Some(RoutingRef {
                rule_id,
                rule_set_version,
                model_version,
            }),
            (Some(rule), None, _) => {
                return Err(format!("rule_id {rule:?} without a rule_set_version"));
            }
            (None, None, Some(model)) => {
                return Err(format!("model_version {model} without a rule_set_version"));
            }
        };
        let deadlines = match (
            w.sign_deadline,
            w.reply_deadline,
            w.provisional,
            w.calendar_version,
        ) {
            (None, None, None, None) => None,
            (Some(sign), Some(reply), Some(provisional), Some(calendar_version)) => {
                Some(RoundDeadlines {
                    sign,
                    reply,
                    provisional,
                    calendar_version,
                })
            }
            _ => {
                return Err("sign_deadline, reply_deadline, provisional and \
                            calendar_version are written together or not at all"
                    .into());
            }
        };
        Ok(Self {
            lead_unit: w.lead_unit,
            co_units: w.co_units,
            note: w.note,
            dispatch_count: w.dispatch_count,
            designated: w.designated,
            routing,
            deadlines,
        })
    }
}

impl From<Assigned> for AssignedWire {
    fn from(a: Assigned) -> Self {
        let (rule_id, rule_set_version, model_version) = match a.routing {
            Some(r) => (r.rule_id, Some(r.rule_set_version), r.model_version),
            None => (None, None, None),
        };
        Self {
            lead_unit: a.lead_unit,
            co_units: a.co_units,
            note: a.note,
            dispatch_count: a.dispatch_count,
            designated: a.designated,
            rule_id,
            rule_set_version,
            model_version,
            sign_deadline: a.deadlines.map(|d| d.sign),
            reply_deadline: a.deadlines.map(|d| d.reply),
            provisional: a.deadlines.map(|d| d.provisional),
            calendar_version: a.deadlines.map(|d| d.calendar_version),
        }
    }
}

/// Where an approved return without a re-dispatch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Destination {
    /// Back to the centre's triage (分拨).
    #[serde(rename = "triage")]
    Triage,
}

/// [`ReturnApproved`] as written: a re-dispatch's fields inline, or
/// `"to": "triage"`.
#[derive(Serialize)]
pub(crate) struct ReturnApprovedOut<'a> {
    returned_by: Option<String>,
    arbitration_note: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<Destination>,
    #[serde(flatten)]
    redispatch: Option<&'a Assigned>,
}

impl<'a> From<&'a ReturnApproved> for ReturnApprovedOut<'a> {
    fn from(r: &'a ReturnApproved) -> Self {
        Self {
            returned_by: r.returned_by.as_ref().map(UnitId::name),
            arbitration_note: &r.arbitration_note,
            to: r.redispatch.is_none().then_some(Destination::Triage),
            redispatch: r.redispatch.as_ref(),
        }
    }
}

/// [`ReturnApproved`] as read: the fields of a re-dispatch, if any, are
/// whatever is left besides the three named here.
#[derive(Deserialize)]
pub(crate) struct ReturnApprovedWire {
    #[serde(with = "opt_unit")]
    returned_by: Option<UnitId>,
    arbitration_note: String,
    #[serde(default)]
    to: Option<Destination>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl TryFrom<ReturnApprovedWire> for ReturnApproved {
    type Error = String;

    fn try_from(w: ReturnApprovedWire) -> Result<Self, String> {
        let redispatch = match (w.to, w.rest.is_empty()) {
            (Some(Destination::Triage), true) => None,
            (None, false) => Some(
                serde_json::from_value(Value::Object(w.rest))
                    .map_err(|e| format!("re-dispatch: {e}"))?,
            ),
            (Some(Destination::Triage), false) => {
                let fields: Vec<&String> = w.rest.keys().collect();
                return Err(format!(
                    "a return approved to triage has no assignment, found {fields:?}"
                ));
            }
            (None, true) => return Err("neither a re-dispatch nor \"to\": \"triage\"".into()),
        };
        Ok(Self {
            returned_by: w.returned_by,
            arbitration_note: w.arbitration_note,
            redispatch,
        })
    }
}
