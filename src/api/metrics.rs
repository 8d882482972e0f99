//! `hotline.v1.MetricsService`: scorecards, roll-ups and rankings summed
//! from the counters the store keeps in the same transaction as the events;
//! frozen months; and the tickets behind each number.

use std::sync::Arc;

use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use super::{
    knowledge::article_usage,
    paging::{self, PageSize},
};
use crate::proto::convert;
use crate::service::ServiceError;
use crate::service::{metrics::UnitScorecard, workflow::Workflow};
use crate::{
    auth::authorized,
    domain::{
        TicketId,
        access::Operation,
        metrics::{COUNTS, Month, RankingWeights, Ratio, Scorecard, metric_counters},
        text_enum::TextEnum,
    },
    proto::v1::{self as pb, metrics_service_server::MetricsService},
    store::{CounterScope, CounterSource},
};

/// The longest period one call may sum (a year and a day).
const MAX_PERIOD_DAYS: i64 = 367;

const RANKING_PAGE: PageSize = PageSize {
    default: 50,
    max: 500,
};
const EXPLAIN_PAGE: PageSize = PageSize {
    default: 100,
    max: 1000,
};

/// Implements `MetricsService`.
#[derive(Debug, Clone)]
pub(crate) struct MetricsApi {
    workflow: Arc<Workflow>,
    /// Ranking weights when a request sets none.
    default_weights: RankingWeights,
}

impl MetricsApi {
    /// A service over the shared workflow.
    pub(crate) fn new(workflow: Arc<Workflow>, default_weights: RankingWeights) -> Self {
        Self {
            workflow,
            default_weights,
        }
    }
}

pub(super) fn day(raw: &str, field: &str) -> Result<NaiveDate, ServiceError> {
    let bad = || ServiceError::invalid(field, "must be YYYY-MM-DD, year 2000–2999");
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| bad())?;
    // The service's era, as for months: a bound on input, so no date
    // arithmetic on a period can overflow.
    match chrono::Datelike::year(&day) {
        2000..=2999 => Ok(day),
        _ => Err(bad()),
    }
}

/// `start..=end` as `from..to`, at most a year.
pub(super) fn days(start: &str, end: &str) -> Result<(NaiveDate, NaiveDate), ServiceError> {
    let start = day(start, "start_day")?;
    let end = day(end, "end_day")?;
    if end < start || (end - start).num_days() >= MAX_PERIOD_DAYS {
        return Err(ServiceError::invalid(
            "end_day",
            "must be on or after start_day, within a year",
        ));
    }
    Ok((start, end + chrono::Days::new(1)))
}

pub(super) fn month(raw: &str, field: &str) -> Result<Month, ServiceError> {
    raw.parse()
        .map_err(|_| ServiceError::invalid(field, "must be YYYY-MM"))
}

/// The period: a frozen month, or a range of days (not both).
pub(super) fn source(
    start: &str,
    end: &str,
    frozen_month: &str,
) -> Result<CounterSource, ServiceError> {
    if frozen_month.is_empty() {
        let (from, to) = days(start, end)?;
        return Ok(CounterSource::Days { from, to });
    }
    if !start.is_empty() || !end.is_empty() {
        return Err(ServiceError::invalid(
            "frozen_month",
            "give either frozen_month or start_day and end_day",
        ));
    }
    Ok(CounterSource::Frozen(month(frozen_month, "frozen_month")?))
}

/// Whose counters: a unit (with or without its subunits), a region, or
/// the centre.
pub(super) fn scope(
    unit: &str,
    region: &str,
    include_subunits: bool,
) -> Result<CounterScope, ServiceError> {
    match (unit.is_empty(), region.is_empty()) {
        (false, false) => Err(ServiceError::invalid(
            "region_code",
            "give either unit or region_code",
        )),
        (false, true) => {
            let unit = convert::unit_id(unit, "unit")?;
            Ok(if include_subunits {
                CounterScope::Subtree(unit)
            } else {
                CounterScope::Unit(unit)
            })
        }
        (true, false) => {
            if include_subunits {
                return Err(ServiceError::invalid(
                    "include_subunits",
                    "applies to a unit only",
                ));
            }
            Ok(CounterScope::Region(region_prefix(region)?))
        }
        (true, true) if include_subunits => Err(ServiceError::invalid(
            "include_subunits",
            "applies to a unit only",
        )),
        (true, true) => Ok(CounterScope::Centre),
    }
}

pub(super) fn region_prefix(raw: &str) -> Result<String, ServiceError> {
    if raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ServiceError::invalid(
            "region_code",
            "must be up to 12 digits",
        ));
    }
    Ok(raw.to_owned())
}

fn ratio(metric: &str, r: Ratio) -> pb::Ratio {
    pb::Ratio {
        metric: metric.into(),
        numerator: r.numerator,
        denominator: r.denominator,
        value: r.value(),
    }
}

fn ratios(card: &Scorecard) -> Vec<pb::Ratio> {
    card.rates()
        .into_iter()
        .map(|(name, r)| ratio(name, r))
        .collect()
}

fn weights_from(w: &pb::RankingWeights) -> RankingWeights {
    RankingWeights {
        response: w.response,
        resolution: w.resolution,
        satisfaction: w.satisfaction,
        on_time: w.on_time,
    }
}

fn weights_to(w: &RankingWeights) -> pb::RankingWeights {
    pb::RankingWeights {
        response: w.response,
        resolution: w.resolution,
        satisfaction: w.satisfaction,
        on_time: w.on_time,
    }
}

impl paging::ListRequest for pb::ListRankingsRequest {
    fn clear_paging(&mut self) {
        self.page_size = 0;
        self.page_token.clear();
    }
}

impl paging::ListRequest for pb::ExplainMetricRequest {
    fn clear_paging(&mut self) {
        self.page_size = 0;
        self.page_token.clear();
    }
}

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn get_unit_scorecard(
        &self,
        request: Request<pb::GetUnitScorecardRequest>,
    ) -> Result<Response<pb::GetUnitScorecardResponse>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let req = request.into_inner();
        let scope = scope(&req.unit, &req.region_code, req.include_subunits)?;
        let source = source(&req.start_day, &req.end_day, &req.frozen_month)?;
        let UnitScorecard { card, cited } =
            self.workflow.scorecard(&principal, &scope, source).await?;
        let unit = match &scope {
            CounterScope::Unit(u) | CounterScope::Subtree(u) => u.name(),
            CounterScope::Centre | CounterScope::Region(_) => String::new(),
        };
        Ok(Response::new(pb::GetUnitScorecardResponse {
            unit,
            ratios: ratios(&card),
            improper_returns: card.improper_returns,
            overdue: card.overdue,
            extensions: card.extensions,
            not_rated: card.not_rated,
            region_code: req.region_code,
            include_subunits: req.include_subunits,
            frozen_month: req.frozen_month,
            cited_articles: cited.into_iter().map(article_usage).collect(),
        }))
    }

    async fn list_rankings(
        &self,
        request: Request<pb::ListRankingsRequest>,
    ) -> Result<Response<pb::ListRankingsResponse>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let req = request.into_inner();
        let fingerprint = paging::fingerprint(&req);
        let limit = RANKING_PAGE.resolve(req.page_size)?;
        let offset: usize = paging::decode(&req.page_token, &fingerprint)?.unwrap_or(0);
        let source = source(&req.start_day, &req.end_day, &req.frozen_month)?;
        let weights = req
            .weights
            .as_ref()
            .map_or(self.default_weights, weights_from);
        let region = region_prefix(&req.region_code)?;
        let ranked = self
            .workflow
            .rankings(&principal, &region, source, &weights)
            .await?;
        let total_size = i32::try_from(ranked.len()).unwrap_or(i32::MAX);
        let page: Vec<pb::RankingEntry> = ranked
            .iter()
            .skip(offset)
            .take(limit as usize)
            .map(|r| pb::RankingEntry {
                rank: i32::try_from(r.rank).unwrap_or(i32::MAX),
                unit: r.unit.name(),
                score: r.score,
                ratios: ratios(&r.scorecard),
            })
            .collect();
        let next = offset + page.len();
        let next_page_token = if next < ranked.len() {
            paging::encode(&next, &fingerprint)
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListRankingsResponse {
            entries: page,
            next_page_token,
            weights: Some(weights_to(&weights)),
            total_size,
        }))
    }

    async fn freeze_month(
        &self,
        request: Request<pb::FreezeMonthRequest>,
    ) -> Result<Response<pb::FrozenMonth>, Status> {
        let principal = authorized(&request, Operation::FreezeMetrics)?;
        let month = month(&request.get_ref().month, "month")?;
        let frozen = self.workflow.freeze_month(&principal, month).await?;
        Ok(Response::new(pb::FrozenMonth {
            month: frozen.month.to_string(),
            frozen_by: frozen.frozen_by,
            freeze_time: Some(convert::to_timestamp(frozen.freeze_time)),
        }))
    }

    async fn explain_metric(
        &self,
        request: Request<pb::ExplainMetricRequest>,
    ) -> Result<Response<pb::ExplainMetricResponse>, Status> {
        let principal = authorized(&request, Operation::ReadTickets)?;
        let req = request.into_inner();
        let fingerprint = paging::fingerprint(&req);
        let limit = EXPLAIN_PAGE.resolve(req.page_size)?;
        let after: Option<String> = paging::decode(&req.page_token, &fingerprint)?;
        let after = after
            .map(|id| TicketId::parse(&id))
            .transpose()
            .map_err(|_| ServiceError::invalid("page_token", "malformed page token"))?;
        let scope = scope(&req.unit, &req.region_code, req.include_subunits)?;
        let (from, to) = days(&req.start_day, &req.end_day)?;
        let part = pb::MetricPart::try_from(req.part)
            .map_err(|_| ServiceError::invalid("part", "unknown value"))?;
        let is_count = COUNTS.iter().any(|(name, _)| *name == req.metric);
        let counters = match part {
            pb::MetricPart::Unspecified if is_count => metric_counters(&req.metric, false),
            pb::MetricPart::Unspecified => {
                return Err(ServiceError::invalid(
                    "part",
                    "choose the numerator or the denominator of a rate",
                )
                .into());
            }
            _ if is_count => {
                return Err(ServiceError::invalid(
                    "part",
                    "a count has no numerator or denominator",
                )
                .into());
            }
            pb::MetricPart::Numerator => metric_counters(&req.metric, false),
            pb::MetricPart::Denominator => metric_counters(&req.metric, true),
        }
        .ok_or_else(|| ServiceError::invalid("metric", "unknown metric"))?;
        let explanation = self
            .workflow
            .explain_metric(&principal, &scope, counters, from, to, after, limit)
            .await?;
        let (total, rows) = (explanation.total, explanation.contributions);
        let next_page_token =
            paging::next_token(&rows, limit, &fingerprint, |(id, _)| id.to_string());
        Ok(Response::new(pb::ExplainMetricResponse {
            contributions: rows
                .into_iter()
                .map(|(id, count)| pb::MetricContribution {
                    ticket: id.name(),
                    count,
                })
                .collect(),
            next_page_token,
            total,
            counters: counters.iter().map(|c| c.code().to_owned()).collect(),
        }))
    }
}
