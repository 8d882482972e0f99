//! Metrics queries: scorecards, rankings and the tickets behind a number,
//! each checked against the reader's scope; frozen months.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{ServiceError, Workflow};
use crate::{
    domain::{
        DomainError, Principal, Role, TicketId,
        metrics::{
            Counter, Month, RankedUnit, RankingWeights, Scorecard, rank_unit_sums, scorecard,
        },
    },
    store::{ArticleUse, CounterScope, CounterSource, FrozenMonth, with_titles},
};

/// Most articles a scorecard lists as cited.
pub const SCORECARD_ARTICLES: u32 = 10;

/// A scorecard and the knowledge-base articles cited in its period.
#[derive(Debug, Clone)]
pub struct UnitScorecard {
    /// The rates and counts.
    pub card: Scorecard,
    /// The articles cited by the resolutions at intake of the period, most
    /// cited first, at most [`SCORECARD_ARTICLES`], each with its latest
    /// title (none if it is gone): every article on the centre's
    /// scorecard; on a unit's, a subtree's or a region's, the articles the
    /// scope's units own — how often their answers served the agents.
    pub cited: Vec<(ArticleUse, Option<String>)>,
}

/// The tickets behind one number of a scorecard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricExplanation {
    /// The number itself: the sum of the counters over the scope and days.
    pub total: i64,
    /// A page of tickets in id order with what each contributed.
    pub contributions: Vec<(TicketId, i64)>,
}

impl Workflow {
    /// Centre staff (agents, admins) see every scope. A unit handler sees
    /// its own unit (and the units below it); a supervisor, units and
    /// regions inside the region of the token. The centre's own counters
    /// are for centre staff.
    async fn check_metrics_scope(
        &self,
        principal: &Principal,
        scope: &CounterScope,
    ) -> Result<(), ServiceError> {
        if principal.has(Role::Agent) || principal.has(Role::Admin) {
            return Ok(());
        }
        let supervised = principal
            .region
            .as_deref()
            .filter(|_| principal.has(Role::Supervisor));
        let allowed = match scope {
            CounterScope::Centre => {
                return Err(ServiceError::PermissionDenied(
                    "the centre's scorecard is for centre staff".into(),
                ));
            }
            CounterScope::Region(region) => supervised.is_some_and(|s| region.starts_with(s)),
            CounterScope::Unit(unit) | CounterScope::Subtree(unit) => {
                if principal.has(Role::UnitHandler) && principal.unit.as_ref() == Some(unit) {
                    true
                } else if let Some(region) = supervised {
                    let found = self.store().get_unit(unit).await?;
                    found.region_code.within(region)
                } else {
                    false
                }
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied(
                "the unit or region is outside your scope".into(),
            ))
        }
    }

    /// Sums a scope's counters, if the caller may read them.
    async fn counter_totals(
        &self,
        principal: &Principal,
        scope: &CounterScope,
        source: CounterSource,
    ) -> Result<HashMap<Counter, i64>, ServiceError> {
        self.check_metrics_scope(principal, scope).await?;
        let sums = self.store().sum_counters(scope, source).await?;
        Ok(sums.into_iter().collect())
    }

    /// The scorecard of a unit, subtree, region or the centre.
    pub async fn scorecard(
        &self,
        principal: &Principal,
        scope: &CounterScope,
        source: CounterSource,
    ) -> Result<UnitScorecard, ServiceError> {
        let card = scorecard(&self.counter_totals(principal, scope, source).await?);
        let (first, end) = match source {
            CounterSource::Days { from, to } => (from, to),
            CounterSource::Frozen(month) => (month.first_day(), month.end()),
        };
        let uses = self
            .store()
            .article_uses(
                self.local_day_start(first),
                self.local_day_start(end),
                scope,
                SCORECARD_ARTICLES,
            )
            .await?;
        let cited = with_titles(self.store().as_ref(), uses).await?;
        Ok(UnitScorecard { card, cited })
    }

    /// Every unit of a region (`""`: the whole city, for centre staff)
    /// ranked by the weighted score.
    pub async fn rankings(
        &self,
        principal: &Principal,
        region_prefix: &str,
        source: CounterSource,
        weights: &RankingWeights,
    ) -> Result<Vec<RankedUnit>, ServiceError> {
        weights.validate().map_err(|e| match e {
            // A weight is named by its place in the request.
            DomainError::InvalidField { field, message } if field != "weights" => {
                ServiceError::invalid(format!("weights.{field}"), message)
            }
            other => other.into(),
        })?;
        if region_prefix.is_empty() {
            if !(principal.has(Role::Agent) || principal.has(Role::Admin)) {
                return Err(ServiceError::PermissionDenied(
                    "a ranking of every unit is for centre staff; give your region_code".into(),
                ));
            }
        } else {
            self.check_metrics_scope(principal, &CounterScope::Region(region_prefix.to_owned()))
                .await?;
        }
        let rows = self
            .store()
            .sum_counters_by_unit(Some(region_prefix).filter(|r| !r.is_empty()), source)
            .await?;
        Ok(rank_unit_sums(rows, weights))
    }

    /// Freezes a month that has ended (月度考核): its sums no longer change.
    pub async fn freeze_month(
        &self,
        principal: &Principal,
        month: Month,
    ) -> Result<FrozenMonth, ServiceError> {
        let now = self.clock().now();
        if month.end() > self.local_day(now) {
            return Err(ServiceError::Precondition {
                kind: "MONTH_NOT_ENDED",
                message: format!("{month} has not ended yet"),
            });
        }
        Ok(self
            .store()
            .freeze_month(month, &principal.subject, now)
            .await?)
    }

    /// The total of `counters` over a scope and days, and a page of the
    /// tickets that contributed to it.
    #[allow(clippy::too_many_arguments)] // one query's parameters, each named
    pub async fn explain_metric(
        &self,
        principal: &Principal,
        scope: &CounterScope,
        counters: &[Counter],
        from: NaiveDate,
        to: NaiveDate,
        after: Option<TicketId>,
        limit: u32,
    ) -> Result<MetricExplanation, ServiceError> {
        let totals = self
            .counter_totals(principal, scope, CounterSource::Days { from, to })
            .await?;
        let total = counters
            .iter()
            .map(|c| totals.get(c).copied().unwrap_or(0))
            .sum();
        let contributions = self
            .store()
            .counter_tickets(scope, counters, from, to, after, limit)
            .await?;
        Ok(MetricExplanation {
            total,
            contributions,
        })
    }
}
