//! A synthetic city large enough for province-scale history: 24 districts
//! with 40 streets each, 40 district departments each, 60 city departments
//! and 20 public-service companies (2,024 units). Names and codes follow
//! the demo city's conventions (GB/T 2260-style region codes, lowercase ids).

use chrono::{DateTime, Utc};
use rand::{Rng, rngs::StdRng};

use hotline_domain::{
    RegionCode, UnitId,
    directory::{Region, Unit, UnitKind},
    error::DomainError,
};

/// The city's region code.
pub const CITY: &str = "330100";
const DISTRICTS: u32 = 24;
const STREETS_PER_DISTRICT: u32 = 40;
const DEPARTMENTS_PER_DISTRICT: u32 = 40;
const CITY_DEPARTMENTS: u32 = 60;
const COMPANIES: u32 = 20;

/// Regions and units, with what the history generator draws from.
#[derive(Debug, Clone)]
pub struct SyntheticCity {
    /// City, districts, streets; parents first.
    pub regions: Vec<Region>,
    /// Every unit; parents first.
    pub units: Vec<Unit>,
    districts: Vec<District>,
    city_departments: Vec<UnitId>,
    companies: Vec<UnitId>,
}

#[derive(Debug, Clone)]
struct District {
    government: UnitId,
    departments: Vec<UnitId>,
    /// (street region, street office).
    streets: Vec<(RegionCode, UnitId)>,
}

/// Where a generated ticket happens and who leads it.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The street region of the matter.
    pub region: RegionCode,
    /// The lead unit of the first round.
    pub lead: UnitId,
    /// Another plausible unit (re-dispatch after a return, co-handler).
    pub other: UnitId,
}

impl SyntheticCity {
    /// Builds the city; every unit was added at `created`.
    pub fn build(created: DateTime<Utc>) -> Result<Self, DomainError> {
        let region =
            |code: &str, name: String, parent: Option<&str>| -> Result<Region, DomainError> {
                Ok(Region {
                    code: RegionCode::parse(code)?,
                    display_name: name,
                    parent: parent.map(RegionCode::parse).transpose()?,
                })
            };
        let unit = |id: &str, name: String, kind, region: &str, parent: Option<&UnitId>| {
            Ok::<_, DomainError>(Unit {
                id: UnitId::parse(id)?,
                display_name: name,
                kind,
                region_code: RegionCode::parse(region)?,
                parent: parent.cloned(),
                create_time: created,
            })
        };
        let mut regions = vec![region(CITY, "示范市".into(), None)?];
        let mut units = Vec::new();
        // City-level units: `count` of one kind, ids `{prefix}-NN`.
        let mut city_level = |count: u32, prefix: &str, name: &str, kind: UnitKind| {
            let mut ids = Vec::new();
            for n in 1..=count {
                let u = unit(
                    &format!("{prefix}-{n:02}"),
                    format!("{name}{n}"),
                    kind,
                    CITY,
                    None,
                )?;
                ids.push(u.id.clone());
                units.push(u);
            }
            Ok::<_, DomainError>(ids)
        };
        let city_departments = city_level(
            CITY_DEPARTMENTS,
            "city-dept",
            "市部门",
            UnitKind::Department,
        )?;
        let companies = city_level(COMPANIES, "company", "公用事业公司", UnitKind::Company)?;
        let mut districts = Vec::new();
        for d in 0..DISTRICTS {
            let code = format!("3301{:02}", d + 2);
            regions.push(region(&code, format!("第{}区", d + 1), Some(CITY))?);
            let government = unit(
                &format!("d{code}"),
                format!("第{}区人民政府", d + 1),
                UnitKind::District,
                &code,
                None,
            )?;
            let gov_id = government.id.clone();
            units.push(government);
            let mut departments = Vec::new();
            for n in 1..=DEPARTMENTS_PER_DISTRICT {
                let u = unit(
                    &format!("d{code}-dept-{n:02}"),
                    format!("第{}区第{n}部门", d + 1),
                    UnitKind::Department,
                    &code,
                    Some(&gov_id),
                )?;
                departments.push(u.id.clone());
                units.push(u);
            }
            let mut streets = Vec::new();
            for s in 1..=STREETS_PER_DISTRICT {
                let street = format!("{code}{s:03}");
                regions.push(region(
                    &street,
                    format!("第{}区第{s}街道", d + 1),
                    Some(&code),
                )?);
                let u = unit(
                    &format!("s{street}"),
                    format!("第{}区第{s}街道办事处", d + 1),
                    UnitKind::Street,
                    &street,
                    Some(&gov_id),
                )?;
                streets.push((RegionCode::parse(&street)?, u.id.clone()));
                units.push(u);
            }
            districts.push(District {
                government: gov_id,
                departments,
                streets,
            });
        }
        // Parents first: district governments before their departments and
        // streets is already so; city-level units have no parent.
        Ok(Self {
            regions,
            units,
            districts,
            city_departments,
            companies,
        })
    }

    /// A random street and the units that would handle a matter there:
    /// the street office (45 %), a district department (35 %), a city
    /// department (15 %) or a company (5 %).
    pub fn place(&self, rng: &mut StdRng) -> Placement {
        let district = &self.districts[rng.random_range(0..self.districts.len())];
        let (region, street_office) =
            &district.streets[rng.random_range(0..district.streets.len())];
        let pick =
            |rng: &mut StdRng, list: &[UnitId]| list[rng.random_range(0..list.len())].clone();
        let roll = rng.random_range(0..100);
        let lead = match roll {
            0..45 => street_office.clone(),
            45..80 => pick(rng, &district.departments),
            80..95 => pick(rng, &self.city_departments),
            _ => pick(rng, &self.companies),
        };
        let other = if roll < 45 {
            pick(rng, &district.departments)
        } else if rng.random_bool(0.5) {
            street_office.clone()
        } else {
            district.government.clone()
        };
        Placement {
            region: region.clone(),
            lead,
            other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_city_has_2024_units_with_unique_ids_and_known_parents() {
        let city = SyntheticCity::build(DateTime::UNIX_EPOCH).unwrap();
        assert_eq!(city.units.len(), 2024);
        assert_eq!(city.regions.len(), 1 + 24 + 24 * 40);
        let mut seen = HashSet::new();
        for u in &city.units {
            if let Some(p) = &u.parent {
                assert!(seen.contains(p), "{} before its parent {p}", u.id);
            }
            assert!(seen.insert(u.id.clone()), "duplicate {}", u.id);
        }
        let codes: HashSet<_> = city.regions.iter().map(|r| r.code.clone()).collect();
        assert!(city.units.iter().all(|u| codes.contains(&u.region_code)));
    }

    #[test]
    fn placements_keep_to_the_street_and_its_district() {
        let city = SyntheticCity::build(DateTime::UNIX_EPOCH).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let units: std::collections::HashMap<_, _> =
            city.units.iter().map(|u| (u.id.clone(), u)).collect();
        for _ in 0..1000 {
            let p = city.place(&mut rng);
            assert_eq!(p.region.as_str().len(), 9);
            let lead = units[&p.lead];
            let district = &p.region.as_str()[..6];
            assert!(
                lead.region_code.as_str() == CITY
                    || lead.region_code.as_str().starts_with(district),
                "{} leads a matter in {}",
                p.lead,
                p.region
            );
            assert_ne!(p.lead, p.other);
        }
    }
}
