//! `hotline demo seed`: loads the demo city (regions, units, dispatch
//! catalogue) into a store so a newcomer sees routing work at once.
//! Re-running it is harmless: existing regions and units are kept, rules are
//! updated in the draft and published as a new version.

use chrono::{DateTime, Utc};

use crate::{
    demo::DemoCity,
    domain::directory::Unit,
    service::catalogue::{self, ImportSummary, PublishError},
    store::{RuleSetInfo, Store, StoreError},
};

/// What seeding did.
#[derive(Debug, Clone)]
pub struct SeedSummary {
    /// Regions added (existing ones are kept).
    pub regions_added: usize,
    /// Units added (existing ones are kept).
    pub units_added: usize,
    /// Draft changes.
    pub rules: ImportSummary,
    /// The published version.
    pub rule_set: RuleSetInfo,
}

/// Seeds `city` into `store`.
pub async fn seed_demo(
    store: &dyn Store,
    city: &DemoCity,
    now: DateTime<Utc>,
) -> anyhow::Result<SeedSummary> {
    let mut regions_added = 0;
    for region in city.domain_regions()? {
        match store.create_region(&region).await {
            Ok(()) => regions_added += 1,
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut units_added = 0;
    for unit in parents_first(city.domain_units(now)?) {
        match store.create_unit(&unit, None).await {
            Ok(()) => units_added += 1,
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let rules = catalogue::import_into_draft(store, &city.rules, false, now).await?;
    let rule_set =
        match catalogue::publish_draft(store, "demo-seed", "demo city dispatch catalogue", now)
            .await
        {
            Ok(info) => info,
            Err(PublishError::Invalid(violations)) => {
                let lines: Vec<String> = violations
                    .iter()
                    .map(|v| format!("rules/{}.{}: {}", v.rule_id, v.field, v.message))
                    .collect();
                anyhow::bail!("the draft rule set is invalid:\n{}", lines.join("\n"));
            }
            Err(PublishError::Store(e)) => return Err(e.into()),
        };
    Ok(SeedSummary {
        regions_added,
        units_added,
        rules,
        rule_set,
    })
}

/// Orders units so every parent comes before its children (the foreign key
/// needs it); units whose parent is missing keep their place at the end.
fn parents_first(mut pending: Vec<Unit>) -> Vec<Unit> {
    let mut ordered: Vec<Unit> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let (ready, rest): (Vec<Unit>, Vec<Unit>) = pending.into_iter().partition(|u| {
            u.parent
                .as_ref()
                .is_none_or(|p| ordered.iter().any(|o| &o.id == p))
        });
        if ready.is_empty() {
            ordered.extend(rest);
            break;
        }
        ordered.extend(ready);
        pending = rest;
    }
    ordered
}
