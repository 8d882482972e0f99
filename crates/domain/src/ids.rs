//! Identifiers and codes, each parsed once at the edge and valid thereafter.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::DomainError;

/// A UUIDv7 whose timestamp is `now` (the injected time, never the wall
/// clock), plus randomness: ids made this way sort by creation. A time
/// before 1970 counts as 1970.
pub(crate) fn uuid_v7_at(now: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, now.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

/// Stable ticket id: a UUIDv7, so ids sort roughly by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(Uuid);

impl TicketId {
    /// A fresh id for a ticket created at `now`: a UUIDv7 whose timestamp is
    /// the (injected) creation time, plus randomness, so ids sort by creation.
    pub fn generate(now: DateTime<Utc>) -> Self {
        Self(uuid_v7_at(now))
    }

    /// Parses the id part of `tickets/{id}` or a bare id.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| DomainError::invalid("id", "not a ticket id (UUID)"))
    }

    /// Parses the resource name `tickets/{id}`.
    pub fn from_name(name: &str) -> Result<Self, DomainError> {
        let id = name
            .strip_prefix("tickets/")
            .ok_or_else(|| DomainError::invalid("", "must look like tickets/{id}"))?;
        Self::parse(id).map_err(|_| DomainError::invalid("", "must look like tickets/{id}"))
    }

    /// The resource name `tickets/{id}`.
    pub fn name(&self) -> String {
        format!("tickets/{}", self.0)
    }

    /// A stable bucket in `0..buckets` (at least 1), taken from the id's
    /// random tail: spreads rows that every ticket would otherwise update.
    pub fn bucket(&self, buckets: u8) -> u8 {
        self.0.as_bytes()[15] % buckets.max(1)
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Id of a handling unit: 2–63 characters of `[a-z0-9-]`, starting with a letter
/// (AIP-122 resource id), e.g. `market-regulation`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct UnitId(String);

impl UnitId {
    /// Validates a unit id.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok_len = (2..=63).contains(&s.len());
        let ok_start = s.starts_with(|c: char| c.is_ascii_lowercase());
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok_len && ok_start && ok_chars && !s.ends_with('-') {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                "",
                "unit id must be 2-63 characters of a-z, 0-9 and '-', starting with a letter",
            ))
        }
    }

    /// Parses the resource name `units/{id}`.
    pub fn from_name(name: &str) -> Result<Self, DomainError> {
        name.strip_prefix("units/")
            .ok_or_else(|| DomainError::invalid("", "must look like units/{id}"))
            .and_then(Self::parse)
    }

    /// The resource name `units/{id}`.
    pub fn name(&self) -> String {
        format!("units/{}", self.0)
    }

    /// The bare id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// GB/T 2260 administrative division code: 6 digits (province/city/county),
/// optionally extended by 3 or 6 digits for township and village.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct RegionCode(String);

impl RegionCode {
    /// Validates a region code.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if matches!(s.len(), 6 | 9 | 12) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                "",
                "region code must be 6, 9 or 12 digits (GB/T 2260)",
            ))
        }
    }

    /// Validates a prefix used in filters: 1–12 digits.
    pub fn parse_prefix(s: &str) -> Result<String, DomainError> {
        if (1..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(s.to_owned())
        } else {
            Err(DomainError::invalid(
                "",
                "region prefix must be 1-12 digits",
            ))
        }
    }

    /// The district (county, 区县) the code lies in: its first six digits.
    /// Stored beside each ticket so a district's list is an equality on an
    /// index of its own.
    pub fn district(&self) -> &str {
        &self.0[..6]
    }

    /// The street (township, 街道/乡镇) a street or community code lies in:
    /// its first nine digits; `None` for a district code.
    pub fn street(&self) -> Option<&str> {
        self.0.get(..9)
    }

    /// Whether this region lies within the region prefix `scope`.
    pub fn within(&self, scope: &str) -> bool {
        self.0.starts_with(scope)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code and the codes above it that a directory may hold, finest
    /// first: a 12-digit code, its 9-digit street (township), its 6-digit
    /// district (county).
    pub fn ancestry(&self) -> impl Iterator<Item = RegionCode> + '_ {
        [12, 9, 6]
            .into_iter()
            .filter(|len| *len <= self.0.len())
            .map(|len| Self(self.0[..len].to_owned()))
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subject in the taxonomy: a dotted path of 2-digit segments, one to four
/// levels deep, e.g. `01.02.03`. Routing matches on its prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SubjectCode(String);

impl SubjectCode {
    /// Validates a subject code.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let segments: Vec<&str> = s.split('.').collect();
        let ok = (1..=4).contains(&segments.len())
            && segments
                .iter()
                .all(|seg| seg.len() == 2 && seg.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                "",
                "subject code must look like 01.02.03 (1-4 two-digit levels)",
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_time_and_sort_by_it() {
        let early = DateTime::from_timestamp(1_795_000_000, 5_000_000).unwrap();
        let late = DateTime::from_timestamp(1_795_000_001, 0).unwrap();
        let (a, b) = (uuid_v7_at(early), uuid_v7_at(late));
        assert_eq!(a.get_version_num(), 7);
        let (secs, nanos) = a.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos), (1_795_000_000, 5_000_000));
        assert!(a < b, "later ids sort after earlier ones");
        let before_1970 = DateTime::from_timestamp(-10, 0).unwrap();
        assert_eq!(
            uuid_v7_at(before_1970).get_timestamp().unwrap().to_unix().0,
            0
        );
    }

    #[test]
    fn ticket_names_round_trip() {
        let id = TicketId::generate(DateTime::from_timestamp(1_795_000_000, 0).unwrap());
        assert_eq!(TicketId::from_name(&id.name()), Ok(id));
        assert!(TicketId::from_name("tickets/nope").is_err());
        assert!(TicketId::from_name(&id.to_string()).is_err());
    }

    #[test]
    fn unit_ids_follow_aip_122() {
        assert!(UnitId::parse("market-regulation").is_ok());
        assert!(UnitId::parse("d330106").is_ok());
        for bad in ["", "a", "1abc", "Abc", "ab_c", "abc-", "市场"] {
            assert!(UnitId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            UnitId::from_name("units/ab").map(|u| u.name()),
            Ok("units/ab".into())
        );
    }

    #[test]
    fn region_codes_and_scope() {
        let code = RegionCode::parse("330106001").unwrap_or_else(|e| panic!("{e}"));
        assert!(code.within("3301"));
        assert!(!code.within("3302"));
        for bad in ["33010", "3301060", "33010a", ""] {
            assert!(RegionCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subject_codes() {
        assert!(SubjectCode::parse("01").is_ok());
        assert!(SubjectCode::parse("01.02.03").is_ok());
        for bad in ["", "1", "01.", "01.2", "01.02.03.04.05", "ab"] {
            assert!(SubjectCode::parse(bad).is_err(), "{bad}");
        }
    }
}
