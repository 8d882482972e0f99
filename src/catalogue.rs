//! Use cases on the dispatch catalogue shared by the gRPC `RoutingService`
//! and the command line (`hotline rules import`, `hotline demo seed`):
//! validation against the unit directory, publishing, importing a file.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{
    domain::{
        UnitId,
        routing::{RuleSpec, RuleViolation, validate_rule_set},
    },
    store::{RuleSetInfo, Store, StoreError, StoreResult},
};

const UNIT_PAGE: u32 = 1000;

/// Every unit id in the directory.
pub async fn known_units(store: &dyn Store) -> StoreResult<HashSet<String>> {
    let mut ids = HashSet::new();
    let mut after: Option<UnitId> = None;
    loop {
        let page = store
            .list_units(None, None, after.as_ref(), UNIT_PAGE)
            .await?;
        let full = page.len() == UNIT_PAGE as usize;
        after = page.last().map(|u| u.id.clone());
        ids.extend(page.into_iter().map(|u| u.id.as_str().to_owned()));
        if !full {
            return Ok(ids);
        }
    }
}

/// Problems of `rules` against the current directory (empty when valid).
pub async fn violations(store: &dyn Store, rules: &[RuleSpec]) -> StoreResult<Vec<RuleViolation>> {
    let units = known_units(store).await?;
    Ok(validate_rule_set(rules, &|id| units.contains(id))
        .err()
        .unwrap_or_default())
}

/// Why the draft could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The draft has problems; nothing was published.
    #[error("the draft rule set has {} problem(s)", .0.len())]
    Invalid(Vec<RuleViolation>),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates the draft and publishes it as the new active version; an
/// invalid draft leaves the active version as it was.
pub async fn publish_draft(
    store: &dyn Store,
    publisher: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<RuleSetInfo, PublishError> {
    let rules = store.draft_rules().await?;
    let problems = violations(store, &rules).await?;
    if !problems.is_empty() {
        return Err(PublishError::Invalid(problems));
    }
    Ok(store.publish_rule_set(&rules, publisher, note, now).await?)
}

/// A rules file: `[[rule]]` tables with the fields of [`RuleSpec`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// Parses a TOML rules file.
pub fn parse_rules_toml(text: &str) -> Result<Vec<RuleSpec>, toml::de::Error> {
    toml::from_str::<RulesFile>(text).map(|f| f.rule)
}

/// What an import changed in the draft.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Rules added.
    pub created: usize,
    /// Rules replaced.
    pub updated: usize,
    /// Rules removed (with `replace`).
    pub deleted: usize,
}

/// Writes `rules` into the draft (adding or replacing by id); with
/// `replace`, draft rules absent from `rules` are removed.
pub async fn import_into_draft(
    store: &dyn Store,
    rules: &[RuleSpec],
    replace: bool,
    now: DateTime<Utc>,
) -> StoreResult<ImportSummary> {
    let existing: HashSet<String> = store
        .draft_rules()
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut summary = ImportSummary::default();
    for rule in rules {
        if existing.contains(&rule.id) {
            store.update_draft_rule(rule, now).await?;
            summary.updated += 1;
        } else {
            store.create_draft_rule(rule, now).await?;
            summary.created += 1;
        }
    }
    if replace {
        let keep: HashSet<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        for id in existing.iter().filter(|id| !keep.contains(id.as_str())) {
            store.delete_draft_rule(id).await?;
            summary.deleted += 1;
        }
    }
    Ok(summary)
}
