//! Handling units (承办单位) and regions (行政区划).

use chrono::{DateTime, Utc};

use super::ids::{RegionCode, UnitId};
use crate::text_enum;

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
