//! Use cases on the dispatch catalogue shared by the gRPC `RoutingService`
//! and the command line (`hotline rules import`, `hotline demo seed`):
//! validation against the unit directory, publishing, importing a file.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{ServiceError, Workflow};
use crate::{
    domain::{
        UnitId,
        directory::UnitKind,
        routing::{RuleSpec, RuleViolation, Territorial, validate_rule_set},
        text_enum::TextEnum,
        ticket::{RequestType, Urgency},
    },
    store::{RuleSetInfo, Store, StoreError, StoreResult},
};

const UNIT_PAGE: u32 = 1000;

/// Every unit id in the directory, with its kind.
pub async fn known_units(store: &dyn Store) -> StoreResult<HashMap<String, UnitKind>> {
    let mut ids = HashMap::new();
    let mut after: Option<UnitId> = None;
    loop {
        let page = store
            .list_units(None, None, after.as_ref(), UNIT_PAGE)
            .await?;
        let full = page.len() == UNIT_PAGE as usize;
        after = page.last().map(|u| u.id.clone());
        ids.extend(page.into_iter().map(|u| (u.id.as_str().to_owned(), u.kind)));
        if !full {
            return Ok(ids);
        }
    }
}

/// Problems of `rules` against the current directory (empty when valid):
/// those of [`validate_rule_set`], and units retired from the directory
/// (a rule must not send tickets to a unit that takes none).
pub async fn violations(store: &dyn Store, rules: &[RuleSpec]) -> StoreResult<Vec<RuleViolation>> {
    let units = known_units(store).await?;
    let mut out = validate_rule_set(rules, &|id| units.get(id).copied())
        .err()
        .unwrap_or_default();
    let retired: HashMap<String, Option<UnitId>> = store
        .unit_retirements()
        .await?
        .into_iter()
        .map(|r| (r.unit.as_str().to_owned(), r.successor))
        .collect();
    for rule in rules {
        let named = rule
            .target_unit
            .iter()
            .map(|u| ("target_unit".to_owned(), u))
            .chain(
                rule.co_units
                    .iter()
                    .enumerate()
                    .map(|(i, u)| (format!("co_units[{i}]"), u)),
            );
        for (field, unit) in named {
            if let Some(successor) = retired.get(unit) {
                let instead = successor
                    .as_ref()
                    .map(|s| format!("; its matters went to {}", s.name()))
                    .unwrap_or_default();
                out.push(RuleViolation {
                    rule_id: rule.id.clone(),
                    field,
                    message: format!("unit {unit:?} is retired{instead}"),
                });
            }
        }
    }
    Ok(out)
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

/// The catalogue through the gRPC `RoutingService`: draft edits, listing,
/// validation, publishing and rollback; a published or re-activated
/// version is put in force on this replica at once (others follow within
/// `routing.refresh_secs`).
impl Workflow {
    /// Adds a rule to the draft.
    pub async fn create_draft_rule(&self, spec: &RuleSpec) -> Result<(), ServiceError> {
        Ok(self
            .store()
            .create_draft_rule(spec, self.clock().now())
            .await?)
    }

    /// Replaces a rule of the draft.
    pub async fn update_draft_rule(&self, spec: &RuleSpec) -> Result<(), ServiceError> {
        Ok(self
            .store()
            .update_draft_rule(spec, self.clock().now())
            .await?)
    }

    /// Removes a rule from the draft.
    pub async fn delete_draft_rule(&self, id: &str) -> Result<(), ServiceError> {
        Ok(self.store().delete_draft_rule(id).await?)
    }

    /// The rules of a published version, or of the draft (`None`), in id
    /// order.
    pub async fn rules(&self, version: Option<i64>) -> Result<Vec<RuleSpec>, ServiceError> {
        let mut rules = match version {
            None => self.store().draft_rules().await?,
            Some(version) => self.store().rule_set(version).await?.1,
        };
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(rules)
    }

    /// The draft and its problems against the current directory.
    pub async fn validate_draft(
        &self,
    ) -> Result<(Vec<RuleSpec>, Vec<RuleViolation>), ServiceError> {
        let rules = self.store().draft_rules().await?;
        let problems = violations(self.store().as_ref(), &rules).await?;
        Ok((rules, problems))
    }

    /// Publishes the draft and puts it in force; an invalid draft is
    /// INVALID_ARGUMENT naming its first problem, and nothing changes.
    pub async fn publish_draft(
        &self,
        publisher: &str,
        note: &str,
    ) -> Result<RuleSetInfo, ServiceError> {
        let now = self.clock().now();
        let info = match publish_draft(self.store().as_ref(), publisher, note, now).await {
            Ok(info) => info,
            Err(PublishError::Invalid(problems)) => {
                let first = &problems[0];
                return Err(ServiceError::invalid(
                    format!("rules/{}.{}", first.rule_id, first.field),
                    format!(
                        "{} ({} problems; see ValidateRuleSet)",
                        first.message,
                        problems.len()
                    ),
                ));
            }
            Err(PublishError::Store(e)) => return Err(e.into()),
        };
        self.router().reload().await?;
        Ok(info)
    }

    /// Makes an earlier version active again and puts it in force.
    pub async fn rollback_rule_set(&self, version: i64) -> Result<RuleSetInfo, ServiceError> {
        let info = self.store().activate_rule_set(version).await?;
        self.router().reload().await?;
        Ok(info)
    }

    /// A page of published versions, newest first.
    pub async fn list_rule_sets(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RuleSetInfo>, ServiceError> {
        Ok(self.store().list_rule_sets(before, limit).await?)
    }
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

/// Why a CSV rules file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvRulesError {
    /// Malformed CSV (quoting, column count, encoding).
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// A cell holds a value the column does not take.
    #[error("line {line}, column {column}: {message}")]
    Cell {
        /// 1-based line of the record.
        line: u64,
        /// The column's header.
        column: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// One CSV record: every cell as text (missing columns are empty).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CsvRule {
    id: String,
    name: String,
    priority: String,
    subject_prefixes: String,
    request_types: String,
    region_prefixes: String,
    keywords_any: String,
    keywords_all: String,
    keywords_none: String,
    legacy_hotlines: String,
    urgencies: String,
    target_unit: String,
    territorial: String,
    co_units: String,
}

/// The entries of a list cell: `|`-separated, trimmed, blanks dropped.
fn list(cell: &str) -> Vec<String> {
    cell.split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses a CSV rules file: a header row naming the columns (those of
/// the TOML format: `id`, `name`, `priority`, `subject_prefixes`,
/// `request_types`, `region_prefixes`, `keywords_any`, `keywords_all`,
/// `keywords_none`, `legacy_hotlines`, `urgencies`, `target_unit`,
/// `territorial`, `co_units`; any subset, in any order), one rule per row,
/// list cells separated by `|`. A spreadsheet of the catalogue exports to
/// it directly. Values are checked as the TOML ones are: enum codes here,
/// everything else by `ValidateRuleSet` at publish.
pub fn parse_rules_csv(text: &str) -> Result<Vec<RuleSpec>, CsvRulesError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rules = Vec::new();
    for record in reader.deserialize::<CsvRule>() {
        let row = record?;
        let line = rules.len() as u64 + 2;
        let bad = |column: &'static str, message: String| CsvRulesError::Cell {
            line,
            column,
            message,
        };
        let request_types = list(&row.request_types)
            .iter()
            .map(|c| {
                RequestType::from_code(c)
                    .ok_or_else(|| bad("request_types", format!("unknown request type {c:?}")))
            })
            .collect::<Result<_, _>>()?;
        let urgencies = list(&row.urgencies)
            .iter()
            .map(|c| {
                Urgency::from_code(c)
                    .ok_or_else(|| bad("urgencies", format!("unknown urgency {c:?}")))
            })
            .collect::<Result<_, _>>()?;
        let territorial = match row.territorial.as_str() {
            "" => None,
            "street" => Some(Territorial::Street),
            "district" => Some(Territorial::District),
            other => {
                return Err(bad(
                    "territorial",
                    format!("{other:?}: use street or district"),
                ));
            }
        };
        let priority = if row.priority.is_empty() {
            0
        } else {
            row.priority
                .parse()
                .map_err(|_| bad("priority", format!("{:?} is not an integer", row.priority)))?
        };
        rules.push(RuleSpec {
            id: row.id,
            name: row.name,
            priority,
            subject_prefixes: list(&row.subject_prefixes),
            request_types,
            region_prefixes: list(&row.region_prefixes),
            keywords_any: list(&row.keywords_any),
            keywords_all: list(&row.keywords_all),
            keywords_none: list(&row.keywords_none),
            legacy_hotlines: list(&row.legacy_hotlines),
            urgencies,
            target_unit: (!row.target_unit.is_empty()).then_some(row.target_unit),
            territorial,
            co_units: list(&row.co_units),
        });
    }
    Ok(rules)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rules_read_like_toml_rules() {
        let csv = "id,priority,keywords_any,request_types,target_unit,territorial,co_units,urgencies\n\
                   noise,10,噪音 | 扰民,complaint|report,environment,,police-330106,\n\
                   street-default,,,,,street,,normal\n";
        let rules = parse_rules_csv(csv).unwrap();
        let toml = r#"
            [[rule]]
            id = "noise"
            priority = 10
            keywords_any = ["噪音", "扰民"]
            request_types = ["complaint", "report"]
            target_unit = "environment"
            co_units = ["police-330106"]

            [[rule]]
            id = "street-default"
            territorial = "street"
            urgencies = ["normal"]
        "#;
        assert_eq!(rules, parse_rules_toml(toml).unwrap());
    }

    #[test]
    fn csv_errors_name_the_line_and_column() {
        let err = parse_rules_csv("id,request_types\nok,complaint\nbad,complain\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3, column request_types: unknown request type \"complain\""
        );
        let err = parse_rules_csv("id,priority\nx,high\n").unwrap_err();
        assert!(
            err.to_string().starts_with("line 2, column priority"),
            "{err}"
        );
        let err = parse_rules_csv("id,territorial\nx,city\n").unwrap_err();
        assert!(err.to_string().contains("territorial"), "{err}");
        assert!(
            parse_rules_csv("id,priority\nx,1,extra\n").is_err(),
            "ragged rows"
        );
    }
}
