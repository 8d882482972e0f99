//! The demo city "A市" shipped in `deploy/demo/city.toml`: its regions
//! (districts → streets), handling units (district governments, street
//! offices, 30+ city departments, utilities) and a dispatch catalogue
//! covering the seven first-level categories of the subject taxonomy.
//!
//! `hotline demo seed` loads it so a newcomer sees routing work at once;
//! `tests/routing_accuracy.rs` routes the real messages of
//! `tests/data/messages-train.csv` through it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::{
    directory::{Region, Unit, UnitKind},
    ids::{RegionCode, UnitId},
    routing::RuleSpec,
};

/// The demo city file, compiled in.
pub const CITY_TOML: &str = include_str!("../deploy/demo/city.toml");

/// The seven first-level categories a unit's `category` may name
/// (those of `tests/data/messages-train.csv`).
pub const CATEGORIES: [&str; 7] = [
    "城乡建设",
    "环境保护",
    "交通运输",
    "教育文体",
    "劳动和社会保障",
    "商贸旅游",
    "卫生计生",
];

/// Why the demo city file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Not TOML of the expected shape.
    #[error("demo city: {0}")]
    Parse(#[from] toml::de::Error),
    /// An entry is malformed or refers to something unknown.
    #[error("demo city: {entry}: {message}")]
    Invalid {
        /// The entry, e.g. `unit "market-regulation"`.
        entry: String,
        /// What is wrong.
        message: String,
    },
}

impl DemoError {
    fn invalid(entry: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            entry: entry.into(),
            message: message.into(),
        }
    }
}

/// The whole demo city as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCity {
    /// `[[region]]` entries, parents before children.
    #[serde(default, rename = "region")]
    pub regions: Vec<DemoRegion>,
    /// `[[unit]]` entries.
    #[serde(default, rename = "unit")]
    pub units: Vec<DemoUnit>,
    /// `[[rule]]` entries: the dispatch catalogue.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
}

/// An administrative region of the demo city.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoRegion {
    /// GB/T 2260 code (6 digits, 9 for a street or township).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Parent region code.
    #[serde(default)]
    pub parent: Option<String>,
}

/// A handling unit of the demo city.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUnit {
    /// Unit id, e.g. `market-regulation`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Department, district, street or company.
    pub kind: UnitKind,
    /// Region code the unit answers for.
    pub region: String,
    /// Parent unit id.
    #[serde(default)]
    pub parent: Option<String>,
    /// First-level category its matters belong to (demo metadata, one of
    /// [`CATEGORIES`]); not used by the router.
    #[serde(default)]
    pub category: Option<String>,
}

impl DemoRegion {
    /// The domain region.
    pub fn to_region(&self) -> Result<Region, DemoError> {
        let entry = || format!("region {:?}", self.code);
        let code = RegionCode::parse(&self.code)
            .map_err(|e| DemoError::invalid(entry(), e.to_string()))?;
        let parent = self
            .parent
            .as_deref()
            .map(RegionCode::parse)
            .transpose()
            .map_err(|e| DemoError::invalid(entry(), format!("parent: {e}")))?;
        Ok(Region {
            code,
            display_name: self.name.clone(),
            parent,
        })
    }
}

impl DemoUnit {
    /// The domain unit, added at `create_time`.
    pub fn to_unit(&self, create_time: DateTime<Utc>) -> Result<Unit, DemoError> {
        let entry = || format!("unit {:?}", self.id);
        let id = UnitId::parse(&self.id).map_err(|e| DemoError::invalid(entry(), e.to_string()))?;
        let region_code = RegionCode::parse(&self.region)
            .map_err(|e| DemoError::invalid(entry(), format!("region: {e}")))?;
        let parent = self
            .parent
            .as_deref()
            .map(UnitId::parse)
            .transpose()
            .map_err(|e| DemoError::invalid(entry(), format!("parent: {e}")))?;
        Ok(Unit {
            id,
            display_name: self.name.clone(),
            kind: self.kind,
            region_code,
            parent,
            create_time,
        })
    }
}

impl DemoCity {
    /// Parses and checks a demo city file: well-formed codes and ids, unique
    /// ids, known parents and regions, categories among [`CATEGORIES`].
    /// Rules are checked separately, with `validate_rule_set`.
    pub fn parse(text: &str) -> Result<Self, DemoError> {
        let city: Self = toml::from_str(text)?;
        city.check()?;
        Ok(city)
    }

    fn check(&self) -> Result<(), DemoError> {
        let mut codes = HashSet::new();
        for region in &self.regions {
            region.to_region()?;
            if let Some(parent) = &region.parent
                && !codes.contains(parent.as_str())
            {
                return Err(DemoError::invalid(
                    format!("region {:?}", region.code),
                    format!("parent {parent:?} is not listed before it"),
                ));
            }
            if !codes.insert(region.code.as_str()) {
                return Err(DemoError::invalid(
                    format!("region {:?}", region.code),
                    "duplicate code",
                ));
            }
        }
        let ids: HashSet<&str> = self.units.iter().map(|u| u.id.as_str()).collect();
        if ids.len() != self.units.len() {
            let mut seen = HashSet::new();
            let dup = self.units.iter().find(|u| !seen.insert(u.id.as_str()));
            let id = dup.map_or_else(String::new, |u| u.id.clone());
            return Err(DemoError::invalid(format!("unit {id:?}"), "duplicate id"));
        }
        for unit in &self.units {
            let entry = || format!("unit {:?}", unit.id);
            unit.to_unit(DateTime::UNIX_EPOCH)?;
            if !codes.contains(unit.region.as_str()) {
                return Err(DemoError::invalid(
                    entry(),
                    format!("unknown region {:?}", unit.region),
                ));
            }
            if let Some(parent) = &unit.parent
                && !ids.contains(parent.as_str())
            {
                return Err(DemoError::invalid(
                    entry(),
                    format!("unknown parent unit {parent:?}"),
                ));
            }
            if let Some(category) = &unit.category
                && !CATEGORIES.contains(&category.as_str())
            {
                return Err(DemoError::invalid(
                    entry(),
                    format!(
                        "category {category:?} is not one of {}",
                        CATEGORIES.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether a unit with this id is listed.
    pub fn unit_exists(&self, id: &str) -> bool {
        self.units.iter().any(|u| u.id == id)
    }

    /// The kind of a listed unit (for `validate_rule_set`).
    pub fn unit_kind(&self, id: &str) -> Option<UnitKind> {
        self.unit(id).map(|u| u.kind)
    }

    /// The listed unit with this id.
    pub fn unit(&self, id: &str) -> Option<&DemoUnit> {
        self.units.iter().find(|u| u.id == id)
    }

    /// The domain regions, parents first.
    pub fn domain_regions(&self) -> Result<Vec<Region>, DemoError> {
        self.regions.iter().map(DemoRegion::to_region).collect()
    }

    /// The domain units, all added at `create_time`.
    pub fn domain_units(&self, create_time: DateTime<Utc>) -> Result<Vec<Unit>, DemoError> {
        self.units.iter().map(|u| u.to_unit(create_time)).collect()
    }
}

/// The compiled-in demo city ([`CITY_TOML`]), parsed and checked.
pub fn load() -> Result<DemoCity, DemoError> {
    DemoCity::parse(CITY_TOML)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
[[region]]
code = "430100"
name = "A市"

[[region]]
code = "430102"
name = "A1区"
parent = "430100"

[[unit]]
id = "a1-district"
name = "A1区人民政府"
kind = "district"
region = "430102"

[[unit]]
id = "market-regulation"
name = "A市市场监督管理局"
kind = "department"
region = "430100"
category = "商贸旅游"

[[rule]]
id = "hotline-12315"
legacy_hotlines = ["12315"]
target_unit = "market-regulation"
"#;

    #[test]
    fn parses_regions_units_and_rules() {
        let city = DemoCity::parse(SMALL).unwrap();
        assert_eq!(city.regions.len(), 2);
        assert_eq!(city.units[1].kind, UnitKind::Department);
        assert_eq!(city.rules[0].legacy_hotlines, ["12315"]);
        assert!(city.unit_exists("a1-district"));
        assert!(!city.unit_exists("nope"));
        let at = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        let units = city.domain_units(at).unwrap();
        assert_eq!(units[0].id.as_str(), "a1-district");
        assert_eq!(units[0].create_time, at);
        let regions = city.domain_regions().unwrap();
        assert_eq!(
            regions[1].parent.as_ref().map(RegionCode::as_str),
            Some("430100")
        );
    }

    #[test]
    fn rejects_bad_entries() {
        let cases = [
            (
                SMALL.replace("\"430102\"\nname", "\"43010\"\nname"),
                "region \"43010\"",
            ),
            (
                SMALL.replace("id = \"a1-district\"", "id = \"A1\""),
                "unit \"A1\"",
            ),
            (
                SMALL.replace("region = \"430102\"", "region = \"430199\""),
                "unknown region",
            ),
            (
                SMALL.replace("category = \"商贸旅游\"", "category = \"旅游\""),
                "category",
            ),
            (
                SMALL.replace(
                    "kind = \"district\"",
                    "kind = \"district\"\nparent = \"ghost\"",
                ),
                "unknown parent",
            ),
            (
                SMALL.replace("id = \"market-regulation\"", "id = \"a1-district\""),
                "duplicate id",
            ),
            (SMALL.replace("target_unit", "target"), "unknown field"),
        ];
        for (text, want) in cases {
            let err = DemoCity::parse(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn shipped_city_loads() {
        let city = load().unwrap();
        assert!(city.units.len() > 30);
        assert!(!city.rules.is_empty());
    }
}
