//! Handling units (承办单位) and regions (行政区划).

use chrono::{DateTime, Utc};

use super::ids::{RegionCode, UnitId};
use crate::{DomainError, text_enum};

text_enum! {
    /// Kind of handling unit.
    pub enum UnitKind {
        /// A functional department (条).
        Department => "department",
        /// A district or county government (块).
        District => "district",
        /// A street office or township.
        Street => "street",
        /// A utility or public-service company.
        Company => "company",
    }
}

impl UnitKind {
    /// Checks that a unit of this kind can answer for `region`: routing
    /// finds a district government by a ticket's first six digits, so a
    /// district unit with a street's code would never be found. A street
    /// office may stand for a township the directory knows only by its
    /// district's code (routing looks for streets at 12, 9, then 6
    /// digits); departments and companies may sit at any level.
    pub fn check_region(self, region: &RegionCode) -> Result<(), DomainError> {
        if self == Self::District && region.as_str().len() != 6 {
            return Err(DomainError::invalid(
                "",
                "a district unit answers for a district: a 6-digit code",
            ));
        }
        Ok(())
    }
}

/// Checks that `parent` is a region above `code`. GB/T 2260 pads a
/// province's and a city's six digits with zeros (浙江 330000, 杭州
/// 330100, 西湖区 330106), so a parent's own digits are its code without
/// the trailing `00` pairs, and a township's (9) or a community's (12)
/// digits extend its district's or township's code.
pub fn check_region_parent(code: &RegionCode, parent: &RegionCode) -> Result<(), DomainError> {
    fn own_digits(code: &str) -> &str {
        let mut own = code;
        while matches!(own.len(), 4 | 6) && own.ends_with("00") {
            own = &own[..own.len() - 2];
        }
        own
    }
    let (code, parent) = (code.as_str(), parent.as_str());
    let (own, above) = (own_digits(code), own_digits(parent));
    if above.len() < own.len() && own.starts_with(above) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "",
            format!("{parent} is not a region above {code}"),
        ))
    }
}

/// A unit tickets can be dispatched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Id.
    pub id: UnitId,
    /// Display name.
    pub display_name: String,
    /// Kind.
    pub kind: UnitKind,
    /// Region it answers for.
    pub region_code: RegionCode,
    /// Parent unit.
    pub parent: Option<UnitId>,
    /// Added at.
    pub create_time: DateTime<Utc>,
}

/// A unit retired from the directory (机构改革: abolished, merged into
/// another, renamed). Its row stays — tickets and events name it — but it
/// takes no new tickets; `successor` answers for its matters now (a rename
/// is a retirement with the renamed unit as successor). The learned
/// dispatch model maps a retired unit's history to the successor, or drops
/// it, and never suggests it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRetirement {
    /// The retired unit.
    pub unit: UnitId,
    /// The unit that took its matters over, if one did.
    pub successor: Option<UnitId>,
    /// Why, e.g. the reform decision.
    pub note: String,
    /// Who retired it.
    pub retired_by: String,
    /// When.
    pub time: DateTime<Utc>,
}

/// An administrative region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Code.
    pub code: RegionCode,
    /// Display name.
    pub display_name: String,
    /// Parent region.
    pub parent: Option<RegionCode>,
}

/// Where a ticket's region code stands in the region directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionStanding {
    /// The code is in the directory, or it is a village (12 digits) of a
    /// street that is: territorial routing finds the street by prefix.
    Known,
    /// A street (or village) the directory does not hold, in a district it
    /// does: the address is not trusted below the district, so the ticket
    /// goes to the district government (属地兜底) with a note saying why.
    UnknownStreet {
        /// The district the code lies in.
        district: RegionCode,
    },
}

impl RegionStanding {
    /// Classifies `code` by `finest_known`, the first of
    /// [`RegionCode::ancestry`] that the directory holds (`None`: none
    /// does). A code whose district is unknown is refused: accepting it
    /// would file the ticket, and count it, in a region that does not exist.
    pub fn of(code: &RegionCode, finest_known: Option<&RegionCode>) -> Result<Self, DomainError> {
        match finest_known {
            Some(known) if known.as_str().len() > 6 => Ok(Self::Known),
            Some(known) if known == code => Ok(Self::Known),
            Some(district) => Ok(Self::UnknownStreet {
                district: district.clone(),
            }),
            None => Err(DomainError::invalid(
                "",
                format!("region {code} is not in the region directory"),
            )),
        }
    }

    /// The note a ticket in region `code` carries for the agent
    /// ([`crate::ticket::Ticket::region_note`]): for an unknown street,
    /// that the address is placed in its district only and wants checking;
    /// `None` for a known region.
    pub fn note(&self, code: &RegionCode) -> Option<String> {
        match self {
            Self::Known => None,
            Self::UnknownStreet { district } => Some(format!(
                "街道 {code} 不在区划目录中，仅按所属区 {district} 定位，请核实地址"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_units_kind_fixes_the_level_of_its_region() {
        let ok = |kind: UnitKind, c: &str| kind.check_region(&code(c)).is_ok();
        assert!(ok(UnitKind::District, "330106"));
        assert!(!ok(UnitKind::District, "330106001"), "found by six digits");
        for kind in [UnitKind::Street, UnitKind::Department, UnitKind::Company] {
            for c in ["330100", "330106", "330106001"] {
                assert!(ok(kind, c), "{kind} at {c}");
            }
        }
    }

    #[test]
    fn a_regions_parent_is_a_shorter_prefix_of_its_code() {
        let parent = |c: &str, p: &str| check_region_parent(&code(c), &code(p)).is_ok();
        assert!(parent("330106001", "330106"));
        assert!(parent("330106001002", "330106001"));
        assert!(parent("330106001002", "330106"));
        assert!(parent("330106", "330100"), "a district under its city");
        assert!(parent("330100", "330000"), "a city under its province");
        assert!(parent("330106001", "330000"));
        assert!(!parent("330106001", "330108"), "another district");
        assert!(!parent("330106", "330106"), "itself");
        assert!(!parent("330100", "330100"), "itself, padded");
        assert!(!parent("330106", "330106001"), "below it");
        assert!(!parent("330106", "330200"), "another city");
    }

    #[test]
    fn the_ancestry_runs_from_the_code_to_its_district() {
        let codes = |s: &str| -> Vec<String> {
            code(s).ancestry().map(|c| c.as_str().to_owned()).collect()
        };
        assert_eq!(
            codes("330106001002"),
            ["330106001002", "330106001", "330106"]
        );
        assert_eq!(codes("330106001"), ["330106001", "330106"]);
        assert_eq!(codes("330106"), ["330106"]);
    }

    #[test]
    fn a_code_in_the_directory_or_under_a_known_street_is_known() {
        let street = code("330106001");
        assert_eq!(
            RegionStanding::of(&street, Some(&street)),
            Ok(RegionStanding::Known)
        );
        let district = code("330106");
        assert_eq!(
            RegionStanding::of(&district, Some(&district)),
            Ok(RegionStanding::Known)
        );
        let village = code("330106001009");
        assert_eq!(
            RegionStanding::of(&village, Some(&street)),
            Ok(RegionStanding::Known)
        );
    }

    #[test]
    fn only_an_unknown_street_gets_a_note_naming_it_and_its_district() {
        assert_eq!(RegionStanding::Known.note(&code("330106001")), None);
        let standing = RegionStanding::UnknownStreet {
            district: code("330106"),
        };
        let note = standing.note(&code("330106999")).expect("a note");
        assert!(note.contains("330106999"), "{note}");
        assert!(note.contains("所属区 330106"), "{note}");
    }

    #[test]
    fn an_unknown_street_of_a_known_district_falls_back_to_the_district() {
        let district = code("330106");
        for unknown in ["330106999", "330106999001"] {
            assert_eq!(
                RegionStanding::of(&code(unknown), Some(&district)),
                Ok(RegionStanding::UnknownStreet {
                    district: district.clone()
                }),
                "{unknown}"
            );
        }
    }

    #[test]
    fn a_code_without_a_known_district_is_refused_naming_it() {
        for unknown in ["999999", "999999001"] {
            let err = RegionStanding::of(&code(unknown), None).unwrap_err();
            assert!(err.to_string().contains(unknown), "{err}");
        }
    }
}
