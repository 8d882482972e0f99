//! Which street office and which district government answer for a region.

use std::collections::HashMap;

use crate::{
    directory::{Unit, UnitKind},
    ids::UnitId,
};

/// Territorial units by region code, built from the unit directory.
#[derive(Debug, Clone, Default)]
pub struct TerritoryMap {
    streets: HashMap<String, UnitId>,
    districts: HashMap<String, UnitId>,
}

impl TerritoryMap {
    /// Indexes street and district units by their region codes.
    ///
    /// Streets are keyed by their full region code (usually 9 digits),
    /// districts by theirs (6 digits). When two units claim the same code,
    /// the smallest unit id wins, so the map does not depend on input order.
    pub fn from_units<'a>(units: impl IntoIterator<Item = &'a Unit>) -> Self {
        let mut map = Self::default();
        for unit in units {
            let index = match unit.kind {
                UnitKind::Street => &mut map.streets,
                UnitKind::District => &mut map.districts,
                UnitKind::Department | UnitKind::Company => continue,
            };
            let code = unit.region_code.as_str();
            match index.get_mut(code) {
                Some(held) if *held <= unit.id => {}
                Some(held) => *held = unit.id.clone(),
                None => {
                    index.insert(code.to_owned(), unit.id.clone());
                }
            }
        }
        map
    }

    /// The street unit whose region code is the longest prefix of `region`
    /// (prefixes of 12, 9 and 6 digits are tried, in that order).
    pub fn street_for(&self, region: &str) -> Option<&UnitId> {
        [12, 9, 6]
            .into_iter()
            .filter_map(|len| region.get(..len))
            .find_map(|prefix| self.streets.get(prefix))
    }

    /// The district unit of `region`'s first 6 digits.
    pub fn district_for(&self, region: &str) -> Option<&UnitId> {
        region
            .get(..6)
            .and_then(|prefix| self.districts.get(prefix))
    }

    /// Whether the map knows no territorial unit at all.
    pub fn is_empty(&self) -> bool {
        self.streets.is_empty() && self.districts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::ids::RegionCode;

    fn unit(id: &str, kind: UnitKind, region: &str) -> Unit {
        Unit {
            id: UnitId::parse(id).unwrap(),
            display_name: id.to_owned(),
            kind,
            region_code: RegionCode::parse(region).unwrap(),
            parent: None,
            create_time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    fn id(s: &str) -> UnitId {
        UnitId::parse(s).unwrap()
    }

    #[test]
    fn streets_by_longest_prefix_and_districts_by_six_digits() {
        let units = [
            unit("d330106", UnitKind::District, "330106"),
            unit("s-beishan", UnitKind::Street, "330106001"),
            unit("s-village", UnitKind::Street, "330106001002"),
            unit("s-xixi", UnitKind::Street, "330106002"),
            unit("market", UnitKind::Department, "330100"),
            unit("water-co", UnitKind::Company, "330106003"),
        ];
        let map = TerritoryMap::from_units(&units);
        assert_eq!(map.street_for("330106001"), Some(&id("s-beishan")));
        assert_eq!(map.street_for("330106001007"), Some(&id("s-beishan")));
        assert_eq!(map.street_for("330106001002"), Some(&id("s-village")));
        assert_eq!(map.street_for("330106002"), Some(&id("s-xixi")));
        assert_eq!(map.street_for("330106"), None);
        assert_eq!(
            map.street_for("330106003"),
            None,
            "companies are not streets"
        );
        assert_eq!(map.street_for("33"), None);
        assert_eq!(map.district_for("330106001"), Some(&id("d330106")));
        assert_eq!(map.district_for("330106"), Some(&id("d330106")));
        assert_eq!(map.district_for("330108"), None);
        assert_eq!(map.district_for("3301"), None);
        assert_eq!(
            map.district_for("330100"),
            None,
            "departments are not districts"
        );
        assert!(!map.is_empty());
        assert!(TerritoryMap::default().is_empty());
    }

    #[test]
    fn shared_code_goes_to_smallest_unit_id_whatever_the_order() {
        let a = unit("d-aaa", UnitKind::District, "330106");
        let b = unit("d-bbb", UnitKind::District, "330106");
        let s1 = unit("s-one", UnitKind::Street, "330106001");
        let s2 = unit("s-two", UnitKind::Street, "330106001");
        for units in [[&a, &b, &s1, &s2], [&b, &a, &s2, &s1]] {
            let map = TerritoryMap::from_units(units);
            assert_eq!(map.district_for("330106001"), Some(&id("d-aaa")));
            assert_eq!(map.street_for("330106001"), Some(&id("s-one")));
        }
    }
}
