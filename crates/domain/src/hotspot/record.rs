//! A hotspot as the service records it: its heat, the supervision item
//! opened with it, and the decisions the centre takes on it.
//!
//! **Lifecycle.** `detected → confirmed | dismissed | merged`, and
//! `confirmed → merged`: a supervisor confirms a real surge (and goes on
//! to merge its tickets, 并单), dismisses a coincidence with a reason, or
//! folds a split of one matter into another hotspot. Dismissed and merged
//! hotspots are final. The detector keeps growing a hotspot's heat in any
//! state: a dismissed hotspot that keeps growing is visible as such.
//!
//! **Supervision.** Each hotspot opens a supervision item with a
//! first-response deadline of [`FIRST_RESPONSE_HOURS`] natural hours on
//! the centre's clock (a hot issue must be answered within 5 hours); the
//! first decision — confirm, dismiss or merge — answers it.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::Heat;
use crate::{
    access::{Operation, Principal, Role},
    error::DomainError,
    ids::{TicketId, uuid_v7_at},
    text_enum,
    ticket::reject_nul,
};

/// Natural hours from detection to the first response a hotspot is due.
pub const FIRST_RESPONSE_HOURS: i64 = 5;
/// Longest dismissal reason or confirmation note, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;

/// When a hotspot detected at `detected` must have its first response.
pub fn response_deadline(detected: DateTime<Utc>) -> DateTime<Utc> {
    detected + Duration::hours(FIRST_RESPONSE_HOURS)
}

text_enum! {
    /// Where a hotspot stands.
    pub enum HotspotState {
        /// Found by the detector; nobody has decided on it yet.
        Detected => "detected",
        /// A supervisor confirmed it as a hot issue.
        Confirmed => "confirmed",
        /// A supervisor dismissed it (a coincidence), with a reason.
        Dismissed => "dismissed",
        /// Folded into another hotspot (a split of one matter).
        Merged => "merged",
    }
}

impl HotspotState {
    /// Whether decisions may still be taken on it (and other hotspots
    /// merged into it).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Detected | Self::Confirmed)
    }
}

text_enum! {
    /// What happened to a hotspot: its audit events' kinds.
    pub enum HotspotEventKind {
        /// The detector found it (the supervision item opened).
        Detected => "detected",
        /// More tickets joined it.
        Grown => "grown",
        /// Confirmed by a supervisor.
        Confirmed => "confirmed",
        /// Dismissed by a supervisor.
        Dismissed => "dismissed",
        /// Folded into another hotspot.
        Merged => "merged",
        /// Another hotspot was folded into it.
        Absorbed => "absorbed",
        /// Its supervision item went overdue unanswered: the alert raised.
        Overdue => "overdue",
    }
}

/// A hotspot's identifier: a UUIDv7, so ids sort by detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HotspotId(Uuid);

impl HotspotId {
    /// A fresh id for a hotspot detected at `now`.
    pub fn generate(now: DateTime<Utc>) -> Self {
        Self(uuid_v7_at(now))
    }

    /// Parses a bare id.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| DomainError::invalid("", "not a hotspot id (UUID)"))
    }

    /// Parses the resource name `hotspots/{id}`.
    pub fn from_name(name: &str) -> Result<Self, DomainError> {
        name.strip_prefix("hotspots/")
            .and_then(|id| Self::parse(id).ok())
            .ok_or_else(|| DomainError::invalid("", "must look like hotspots/{id}"))
    }

    /// The resource name `hotspots/{id}`.
    pub fn name(&self) -> String {
        format!("hotspots/{}", self.0)
    }
}

impl std::fmt::Display for HotspotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The heat of a recorded hotspot, as of its latest ticket.
pub type HotspotHeat = Heat<TicketId>;

/// The supervision item a hotspot opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisionItem {
    /// When the first response is due.
    pub deadline: DateTime<Utc>,
    /// When it was answered (the first decision), if it was.
    pub response_time: Option<DateTime<Utc>>,
    /// Who answered it (token subject).
    pub responder: Option<String>,
    /// The change number that raised its overdue alert (`WatchAlerts`),
    /// if it went overdue unanswered and the sweep of some replica saw it:
    /// raised once, by whichever replica's write won.
    pub overdue_alert_seq: Option<i64>,
}

impl SupervisionItem {
    /// The item of a hotspot detected at `now`.
    pub fn opened(now: DateTime<Utc>) -> Self {
        Self {
            deadline: response_deadline(now),
            response_time: None,
            responder: None,
            overdue_alert_seq: None,
        }
    }

    /// Unanswered past its deadline at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.response_time.is_none() && now > self.deadline
    }
}

/// A recorded hotspot.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    /// Its id.
    pub id: HotspotId,
    /// The first ticket of the cluster it was detected from: its natural
    /// key, the same on every replica that detects it.
    pub seed_ticket: TicketId,
    /// Where it stands.
    pub state: HotspotState,
    /// The hotspot it was merged into ([`HotspotState::Merged`]).
    pub merged_into: Option<HotspotId>,
    /// The area (street code, or district code) its cluster started in.
    pub area: String,
    /// Its district code.
    pub district: String,
    /// The subject code of its first ticket (empty when unclassified).
    pub subject: String,
    /// How hot it is.
    pub heat: HotspotHeat,
    /// Its tickets, oldest first: those of its cluster and of the hotspots
    /// merged into it (what a supervisor merges with MergeTickets).
    pub tickets: Vec<TicketId>,
    /// The hotspots merged into it.
    pub merged_from: Vec<HotspotId>,
    /// Its first-response item.
    pub supervision: SupervisionItem,
    /// The dismissal reason or the confirmation note.
    pub note: Option<String>,
    /// When it was detected (the centre's clock).
    pub create_time: DateTime<Utc>,
    /// Its last change.
    pub update_time: DateTime<Utc>,
    /// Its last change's number in the change sequence: the etag, and
    /// where a watcher continues.
    pub change_seq: i64,
    /// The change number that recorded it: a watcher that has seen changes
    /// up to N meets it as new when this is above N.
    pub create_seq: i64,
}

/// What a supervisor decides on a hotspot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotspotAction {
    /// A hot issue indeed.
    Confirm {
        /// What the centre does about it (optional).
        note: String,
    },
    /// A coincidence.
    Dismiss {
        /// Why (required).
        reason: String,
    },
    /// A split of the matter of `target`: fold it in.
    MergeInto {
        /// The hotspot that stays.
        target: HotspotId,
    },
}

impl HotspotAction {
    fn verb(&self) -> &'static str {
        match self {
            Self::Confirm { .. } => "confirm",
            Self::Dismiss { .. } => "dismiss",
            Self::MergeInto { .. } => "merge",
        }
    }
}

/// The outcome of a decision, for the store to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotspotDecision {
    /// The state after it.
    pub state: HotspotState,
    /// Its audit event.
    pub event: HotspotEventKind,
    /// The note or reason recorded (trimmed).
    pub note: Option<String>,
    /// The hotspot it is folded into.
    pub merged_into: Option<HotspotId>,
}

/// The hotspots a principal may read: every one, or those whose area lies
/// within a region prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AreaScope {
    /// No restriction (agents, admins).
    All,
    /// Hotspots whose area code starts with this prefix.
    Within(String),
}

impl AreaScope {
    /// The read scope of `who`: agents and admins every hotspot; a
    /// supervisor those of its region; a unit's user those within its
    /// unit's region (`unit_region`, looked up by the caller) — a unit
    /// sees the hotspots of its area at most, never the whole city's
    /// unless it answers for the whole city.
    pub fn of_reader(who: &Principal, unit_region: Option<&str>) -> Result<Self, DomainError> {
        who.authorize(Operation::ReadHotspots)?;
        if who.has(Role::Agent) || who.has(Role::Admin) {
            return Ok(Self::All);
        }
        let region = match (who.has(Role::Supervisor), &who.region) {
            (true, Some(region)) => Some(region.as_str()),
            _ => unit_region.filter(|_| who.has(Role::UnitHandler)),
        };
        region
            .map(|r| Self::Within(r.to_owned()))
            .ok_or_else(|| DomainError::PermissionDenied("no region to read hotspots in".into()))
    }

    /// Whether a hotspot of `area` is in scope.
    pub fn covers(&self, area: &str) -> bool {
        match self {
            Self::All => true,
            Self::Within(prefix) => area.starts_with(prefix.as_str()),
        }
    }
}

impl Hotspot {
    /// Applies `action` by `who` (`target`: the hotspot a merge folds this
    /// one into, as read): the role and area checks, then the state rule.
    /// The only way a hotspot's state changes.
    pub fn decide(
        &self,
        who: &Principal,
        action: &HotspotAction,
        target: Option<&Hotspot>,
    ) -> Result<HotspotDecision, DomainError> {
        who.authorize(Operation::DecideHotspots)?;
        let scope = if who.has(Role::Admin) {
            AreaScope::All
        } else {
            AreaScope::of_reader(who, None)?
        };
        for hotspot in std::iter::once(self).chain(target) {
            if !scope.covers(&hotspot.area) {
                return Err(DomainError::PermissionDenied(format!(
                    "{} is outside your region",
                    hotspot.id.name()
                )));
            }
        }
        self.transition(action, target)
    }

    /// The state rule alone (permissions already checked).
    pub fn transition(
        &self,
        action: &HotspotAction,
        target: Option<&Hotspot>,
    ) -> Result<HotspotDecision, DomainError> {
        use HotspotState::*;
        let decision = |state, event, note: Option<&str>, merged_into| HotspotDecision {
            state,
            event,
            note: note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
            merged_into,
        };
        match (action, self.state) {
            (HotspotAction::Confirm { note }, Detected) => {
                check_length("note", note)?;
                Ok(decision(
                    Confirmed,
                    HotspotEventKind::Confirmed,
                    Some(note),
                    None,
                ))
            }
            (HotspotAction::Dismiss { reason }, Detected) => {
                if reason.trim().is_empty() {
                    return Err(DomainError::invalid("reason", "required"));
                }
                check_length("reason", reason)?;
                Ok(decision(
                    Dismissed,
                    HotspotEventKind::Dismissed,
                    Some(reason),
                    None,
                ))
            }
            (HotspotAction::MergeInto { target: id }, Detected | Confirmed) => {
                if *id == self.id {
                    return Err(DomainError::invalid(
                        "target",
                        "a hotspot cannot be merged into itself",
                    ));
                }
                let target = target
                    .filter(|t| t.id == *id)
                    .ok_or_else(|| DomainError::invalid("target", "the target was not read"))?;
                if !target.state.is_open() {
                    return Err(DomainError::PreconditionFailed {
                        kind: "HOTSPOT_STATE",
                        message: format!(
                            "cannot merge into {}: it is {}",
                            target.id.name(),
                            target.state
                        ),
                    });
                }
                Ok(decision(Merged, HotspotEventKind::Merged, None, Some(*id)))
            }
            (action, state) => Err(DomainError::PreconditionFailed {
                kind: "HOTSPOT_STATE",
                message: format!("cannot {} a hotspot in state {state}", action.verb()),
            }),
        }
    }
}

/// A note or reason: bounded, and without NUL ([`reject_nul`]).
fn check_length(field: &str, text: &str) -> Result<(), DomainError> {
    reject_nul(text).map_err(|e| e.within(field))?;
    if text.trim().chars().count() > MAX_NOTE_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(())
}
