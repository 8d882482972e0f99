//! The compiled router of the active rule-set version, shared by all RPCs.
//!
//! Readers clone an `Arc<Router>` under a short read lock, so a decision
//! never sees a half-built index; a reload compiles a new router outside the
//! lock and swaps it in. Another replica's publish or retirement is noticed
//! by a periodic check of (active version, unit count, retirement count).
//!
//! Compiling puts the directory's retirements (机构改革) into the rules and
//! the territorial map, so routing never lands on a retired unit even when
//! the rule set in force was published before the retirement: a rule's
//! target or co-handler passes to the unit answering for its matters now
//! (the successor, following renames), as the dispatch model's units do; a
//! rule whose target was abolished without successor no longer matches,
//! and an abolished co-handler is left out; a retired street office or
//! district government is replaced in the map by its successor or, without
//! one, leaves its area to the district (兜底) or triage.

use std::sync::Arc;

use super::{model_cell::successions, snapshot::Snapshot};
use crate::{
    domain::{
        UnitId,
        directory::{Unit, UnitKind},
        routing::{Router, RouterOptions, RuleSpec, TerritoryMap},
    },
    store::{Store, StoreResult},
};

/// Page size used when loading territorial units.
const UNIT_PAGE: u32 = 1000;

/// Holds the current router.
#[derive(Debug)]
pub struct RouterCell {
    store: Arc<dyn Store>,
    options: RouterOptions,
    current: Snapshot<Fingerprint, Router>,
}

/// What the compiled router was built from: the active version, the
/// number of units and of retirements.
type Fingerprint = (Option<i64>, i64, i64);

impl RouterCell {
    /// Loads and compiles the active rule set.
    pub async fn load(store: Arc<dyn Store>, options: RouterOptions) -> StoreResult<Self> {
        let (fingerprint, router) = compile(store.as_ref(), options).await?;
        Ok(Self {
            store,
            options,
            current: Snapshot::new(fingerprint, router),
        })
    }

    /// The router to decide with now.
    pub fn current(&self) -> Arc<Router> {
        self.current.get()
    }

    /// Recompiles from the store (after a publish, rollback or unit change).
    pub async fn reload(&self) -> StoreResult<()> {
        let (fingerprint, router) = compile(self.store.as_ref(), self.options).await?;
        self.current.set(fingerprint, router);
        Ok(())
    }

    /// Reloads if the store changed since the last compile.
    pub async fn refresh_if_stale(&self) -> StoreResult<bool> {
        let now = fingerprint(self.store.as_ref()).await?;
        if now == self.current.key() {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }
}

async fn fingerprint(store: &dyn Store) -> StoreResult<Fingerprint> {
    Ok((
        store.active_rule_set_version().await?,
        store.count_units().await?,
        store.count_unit_retirements().await?,
    ))
}

async fn compile(store: &dyn Store, options: RouterOptions) -> StoreResult<(Fingerprint, Router)> {
    let fingerprint = fingerprint(store).await?;
    let successions = successions(store).await?;
    let now = |unit: &str| successions.resolve(unit, &|_| true);
    let territory = territory(store, &now).await?;
    let router = match store.active_rule_set().await? {
        Some((info, rules)) => Router::compile(
            info.version,
            without_retired_units(rules, &now),
            territory,
            options,
        ),
        None => Router::empty(territory, options),
    };
    Ok((fingerprint, router))
}

/// Which unit answers for a unit's matters now: itself, its successor, or
/// none (abolished).
type Resolve<'a> = dyn Fn(&str) -> Option<UnitId> + Sync + 'a;

/// The rules with every unit they name passed to the unit answering for it
/// now: an abolished target leaves the rule without one (it never matches),
/// an abolished co-handler is left out, and a co-handler that became the
/// target, or another co-handler, is listed once.
fn without_retired_units(rules: Vec<RuleSpec>, now: &Resolve<'_>) -> Vec<RuleSpec> {
    rules
        .into_iter()
        .map(|mut rule| {
            let target = rule.target_unit.take();
            rule.target_unit = target
                .and_then(|unit| now(&unit))
                .map(|u| u.as_str().to_owned());
            let mut co_units: Vec<String> = Vec::with_capacity(rule.co_units.len());
            for unit in rule.co_units.drain(..).filter_map(|u| now(&u)) {
                let unit = unit.as_str().to_owned();
                if rule.target_unit.as_ref() != Some(&unit) && !co_units.contains(&unit) {
                    co_units.push(unit);
                }
            }
            rule.co_units = co_units;
            rule
        })
        .collect()
}

/// Street and district units, for territorial rules and the fallback; a
/// retired one stands for its area under its successor's id, or not at all.
async fn territory(store: &dyn Store, now: &Resolve<'_>) -> StoreResult<TerritoryMap> {
    let mut units: Vec<Unit> = Vec::new();
    for kind in [UnitKind::Street, UnitKind::District] {
        let mut after = None;
        loop {
            let page = store
                .list_units(None, Some(kind), after.as_ref(), UNIT_PAGE)
                .await?;
            let full = page.len() == UNIT_PAGE as usize;
            after = page.last().map(|u| u.id.clone());
            units.extend(page.into_iter().filter_map(|mut unit| {
                unit.id = now(unit.id.as_str())?;
                Some(unit)
            }));
            if !full {
                break;
            }
        }
    }
    Ok(TerritoryMap::from_units(&units))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(target: &str, co_units: &[&str]) -> RuleSpec {
        RuleSpec {
            id: "r".into(),
            name: String::new(),
            priority: 0,
            subject_prefixes: Vec::new(),
            request_types: Vec::new(),
            region_prefixes: Vec::new(),
            keywords_any: vec!["x".into()],
            keywords_all: Vec::new(),
            keywords_none: Vec::new(),
            legacy_hotlines: Vec::new(),
            urgencies: Vec::new(),
            target_unit: Some(target.into()),
            territorial: None,
            co_units: co_units.iter().map(|&u| u.to_owned()).collect(),
        }
    }

    /// `old` renamed to `new`, `gone` abolished, the rest in force.
    fn now(unit: &str) -> Option<UnitId> {
        match unit {
            "gone" => None,
            "old" => UnitId::parse("new").ok(),
            other => UnitId::parse(other).ok(),
        }
    }

    #[test]
    fn retired_units_pass_to_their_successor_or_leave_the_rule() {
        let rules = vec![
            rule("old", &["gone", "police", "new"]),
            rule("gone", &["police"]),
            rule("police", &["old", "new"]),
        ];
        let out = without_retired_units(rules, &now);
        assert_eq!(out[0].target_unit.as_deref(), Some("new"));
        assert_eq!(
            out[0].co_units,
            ["police"],
            "abolished out, target not twice"
        );
        assert_eq!(out[1].target_unit, None, "an abolished target: no match");
        assert_eq!(out[2].target_unit.as_deref(), Some("police"));
        assert_eq!(out[2].co_units, ["new"], "two names of one unit, once");
    }
}
