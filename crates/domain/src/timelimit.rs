//! Time-limit policy (限时办结): which sign-for and reply limits apply to a
//! ticket, by request type and urgency, and the deadlines they give.
//!
//! Limits are configuration (cities differ: Sichuan 3/7/15 WD, Guangdong
//! 2/10/15, Shandong 5 for all); the defaults are DOMAIN.md §2.

use std::{fmt, str::FromStr, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{
    calendar::{Calendar, Deadline},
    error::DomainError,
    ticket::{RequestType, Urgency},
};

/// One time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Working days counted from the day after receipt.
    WorkingDays(u32),
    /// Working time (working hours of working days), in minutes.
    WorkingMinutes(u32),
    /// Natural time (7×24), in minutes.
    NaturalMinutes(u32),
}

impl Limit {
    /// The deadline for something received at `received`.
    pub fn deadline(self, calendar: &Calendar, received: DateTime<Utc>) -> Deadline {
        match self {
            Self::WorkingDays(n) => calendar.add_working_days(received, n),
            Self::WorkingMinutes(m) => {
                calendar.add_working_hours(received, TimeDelta::minutes(i64::from(m)))
            }
            Self::NaturalMinutes(m) => calendar.natural(received, TimeDelta::minutes(i64::from(m))),
        }
    }
}

/// Text form: `3wd` (working days), `4wh` / `90wm` (working hours or
/// minutes), `2h` / `30m` (natural hours or minutes).
impl FromStr for Limit {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u32 = digits.parse().map_err(|_| {
            DomainError::invalid(
                "",
                format!("{s:?}: expected a number and a unit, e.g. 3wd, 4wh, 2h, 30m"),
            )
        })?;
        let minutes = |factor: u32| {
            n.checked_mul(factor)
                .ok_or_else(|| DomainError::invalid("", format!("{s:?} is too long")))
        };
        let too_long = || DomainError::invalid("", format!("{s:?} is longer than a year"));
        let limit = match unit {
            "wd" => Self::WorkingDays(n),
            "wh" => Self::WorkingMinutes(minutes(60)?),
            "wm" => Self::WorkingMinutes(n),
            "h" => Self::NaturalMinutes(minutes(60)?),
            "m" => Self::NaturalMinutes(n),
            _ => {
                return Err(DomainError::invalid(
                    "",
                    format!("{s:?}: unit must be wd, wh, wm, h or m"),
                ));
            }
        };
        // A year bounds every limit, so no deadline arithmetic can run away.
        match limit {
            Self::WorkingDays(d) if d > MAX_WORKING_DAYS => Err(too_long()),
            Self::WorkingMinutes(m) | Self::NaturalMinutes(m) if m > MAX_MINUTES => Err(too_long()),
            ok => Ok(ok),
        }
    }
}

/// The longest limit in working days (about a year).
pub const MAX_WORKING_DAYS: u32 = 260;
/// The longest limit in minutes (a leap year).
pub const MAX_MINUTES: u32 = 366 * 24 * 60;

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::WorkingDays(n) => write!(f, "{n}wd"),
            Self::WorkingMinutes(m) if m % 60 == 0 => write!(f, "{}wh", m / 60),
            Self::WorkingMinutes(m) => write!(f, "{m}wm"),
            Self::NaturalMinutes(m) if m % 60 == 0 => write!(f, "{}h", m / 60),
            Self::NaturalMinutes(m) => write!(f, "{m}m"),
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Sign-for and reply limits of one kind of ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Time to sign for the ticket after dispatch (签收时限).
    pub sign: Limit,
    /// Time to reply after dispatch (办理时限).
    pub reply: Limit,
}

/// Deadlines of one handling round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Sign for by.
    pub sign: Deadline,
    /// Reply by.
    pub reply: Deadline,
    /// When the warning card (黄牌) is due: see [`warning_time`].
    pub warn_at: DateTime<Utc>,
}

/// When to warn before a reply deadline (DOMAIN.md §2: "1 WD before").
/// A working-day deadline falls at the end of a working day, so one working
/// day before it is the start of that day's working hours. A natural or
/// working-hour limit has no working day to give: the warning comes when
/// three quarters of the time has run. Never before `start`.
pub fn warning_time(
    calendar: &Calendar,
    limit: Limit,
    start: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> DateTime<Utc> {
    let warn = match limit {
        Limit::WorkingDays(_) => {
            let local = deadline.with_timezone(&calendar.offset()).date_naive();
            local
                .and_time(calendar.working_hours().start)
                .and_local_timezone(calendar.offset())
                .single()
                .map_or(deadline, |t| t.with_timezone(&Utc))
        }
        Limit::WorkingMinutes(_) | Limit::NaturalMinutes(_) => start + (deadline - start) * 3 / 4,
    };
    warn.max(start)
}

/// The whole policy: normal tickets by request type; urgent and utility
/// outage tickets by urgency whatever their type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeLimitPolicy {
    /// 咨询.
    pub enquiry: Limits,
    /// 求助.
    pub help: Limits,
    /// 投诉.
    pub complaint: Limits,
    /// 举报.
    pub report: Limits,
    /// 建议.
    pub suggestion: Limits,
    /// 表扬.
    pub praise: Limits,
    /// 其他.
    pub other: Limits,
    /// Risk to life or property: natural time.
    pub urgent: Limits,
    /// 水电气热 outage: natural time.
    pub utility_outage: Limits,
    /// Extensions (延期) a handling round may get (default 1).
    pub max_extensions: u32,
    /// Working days one extension may add at most (default 10).
    pub max_extension_days: u32,
}

/// The calendar and policy a dispatch computes its deadlines with. Equality
/// compares the calendar by version (the data behind a version never
/// changes) so actions stay comparable in tests.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Limits by type and urgency.
    pub policy: Arc<TimeLimitPolicy>,
    /// The working-day calendar.
    pub calendar: Arc<Calendar>,
}

impl PartialEq for Timing {
    fn eq(&self, other: &Self) -> bool {
        self.policy == other.policy && self.calendar.version() == other.calendar.version()
    }
}

impl Eq for Timing {}

const fn normal(reply_days: u32) -> Limits {
    Limits {
        sign: Limit::WorkingDays(1),
        reply: Limit::WorkingDays(reply_days),
    }
}

impl Default for TimeLimitPolicy {
    /// DOMAIN.md §2 (Sichuan 2025): enquiry 3 WD; help and suggestion 7 WD;
    /// complaint and report 15 WD; sign-for 1 WD; urgent 2 h natural with
    /// 15 min to sign; utility outage 24 h natural with 30 min to sign.
    /// Praise and other, which the rule does not name, get 7 WD.
    fn default() -> Self {
        Self {
            enquiry: normal(3),
            help: normal(7),
            complaint: normal(15),
            report: normal(15),
            suggestion: normal(7),
            praise: normal(7),
            other: normal(7),
            urgent: Limits {
                sign: Limit::NaturalMinutes(15),
                reply: Limit::NaturalMinutes(120),
            },
            utility_outage: Limits {
                sign: Limit::NaturalMinutes(30),
                reply: Limit::NaturalMinutes(24 * 60),
            },
            max_extensions: 1,
            max_extension_days: 10,
        }
    }
}

impl TimeLimitPolicy {
    /// The limits of a ticket.
    pub fn limits(&self, request_type: RequestType, urgency: Urgency) -> Limits {
        match urgency {
            Urgency::Urgent => self.urgent,
            Urgency::UtilityOutage => self.utility_outage,
            Urgency::Normal => match request_type {
                RequestType::Enquiry => self.enquiry,
                RequestType::Help => self.help,
                RequestType::Complaint => self.complaint,
                RequestType::Report => self.report,
                RequestType::Suggestion => self.suggestion,
                RequestType::Praise => self.praise,
                RequestType::Other => self.other,
            },
        }
    }

    /// The deadlines of a handling round dispatched at `dispatched`.
    pub fn deadlines(
        &self,
        calendar: &Calendar,
        request_type: RequestType,
        urgency: Urgency,
        dispatched: DateTime<Utc>,
    ) -> Deadlines {
        let limits = self.limits(request_type, urgency);
        let reply = limits.reply.deadline(calendar, dispatched);
        Deadlines {
            sign: limits.sign.deadline(calendar, dispatched),
            reply,
            warn_at: warning_time(calendar, limits.reply, dispatched, reply.at),
        }
    }
}

#[cfg(test)]
pub(crate) mod spec_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_print() {
        for (text, limit) in [
            ("3wd", Limit::WorkingDays(3)),
            ("4wh", Limit::WorkingMinutes(240)),
            ("90wm", Limit::WorkingMinutes(90)),
            ("2h", Limit::NaturalMinutes(120)),
            ("30m", Limit::NaturalMinutes(30)),
        ] {
            assert_eq!(text.parse::<Limit>().unwrap(), limit);
            assert_eq!(limit.to_string(), text);
        }
        for bad in ["", "wd", "3", "3d", "-1wd", "99999999999h"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn urgency_overrides_the_type() {
        let p = TimeLimitPolicy::default();
        assert_eq!(
            p.limits(RequestType::Complaint, Urgency::Normal).reply,
            Limit::WorkingDays(15)
        );
        assert_eq!(
            p.limits(RequestType::Enquiry, Urgency::Normal).reply,
            Limit::WorkingDays(3)
        );
        assert_eq!(
            p.limits(RequestType::Complaint, Urgency::Urgent).reply,
            Limit::NaturalMinutes(120)
        );
        assert_eq!(
            p.limits(RequestType::Help, Urgency::UtilityOutage).sign,
            Limit::NaturalMinutes(30)
        );
    }

    #[test]
    fn the_policy_reads_from_toml_with_defaults_for_missing_types() {
        let p: TimeLimitPolicy = toml::from_str(
            "[complaint]\nsign = \"2wd\"\nreply = \"10wd\"\n[urgent]\nsign = \"10m\"\nreply = \"1h\"\n",
        )
        .unwrap();
        assert_eq!(p.complaint.reply, Limit::WorkingDays(10));
        assert_eq!(p.urgent.reply, Limit::NaturalMinutes(60));
        assert_eq!(p.enquiry, TimeLimitPolicy::default().enquiry);
    }
}
