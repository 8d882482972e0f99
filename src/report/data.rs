//! Gathering a report: the numbers of one period from the store, as a
//! [`ReportData`] that the renderers only format.
//!
//! Two sources, each used for what it can answer:
//!
//! * **Volumes and 办复率** come from the tickets created in the period
//!   ([`ReportStore::ticket_volumes`]): disclosure reports list, per request
//!   type, what was received and how much of it was answered, which the
//!   per-unit counters cannot split by type. 办复率 is DOMAIN §6's
//!   "replied ÷ accepted, per request type", computed on that cohort:
//!   *accepted* is received minus not accepted, emergency hand-offs and
//!   merged duplicates (the §6 exclusions, as the `accepted` counter);
//!   *replied* is the accepted tickets answered at intake by the agent
//!   (直接答复) plus those with a standing unit reply (a reply sent back or
//!   reopened no longer counts). Both parts are printed beside the rate.
//! * **Performance** (on-time completion, satisfaction, resolution, …) comes
//!   from the scorecard counters summed over the period's days
//!   ([`MetricsStore::sum_counters`], [`MetricsStore::sum_counters_by_unit`]),
//!   with the scorecard's definitions ([`RATES`]), so the report agrees with
//!   `GetUnitScorecard`. A month that was frozen is read from its snapshot,
//!   so a published report does not change later.
//!
//! Nothing about callers is read: the aggregate query selects codes and
//! counts only, which is what makes the report de-identified by construction.
//!
//! [`ReportStore::ticket_volumes`]: crate::store::ReportStore::ticket_volumes
//! [`MetricsStore::sum_counters`]: crate::store::MetricsStore::sum_counters
//! [`MetricsStore::sum_counters_by_unit`]: crate::store::MetricsStore::sum_counters_by_unit

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use super::labels;
use crate::domain::{
    RegionCode, UnitId,
    error::DomainError,
    metrics::{Counter, Month, RATES, Ratio},
    text_enum::TextEnum,
    ticket::{Channel, RequestType},
};
use crate::store::{
    CounterScope, CounterSource, Store, StoreError, StoreResult, VolumeCell, with_titles,
};

/// How many units the overdue ranking lists.
pub const TOP_OVERDUE_UNITS: usize = 10;

/// How many knowledge-base articles the citation ranking lists.
pub const TOP_ARTICLES: u32 = 10;

/// The scorecard rates a report shows, in [`RATES`] order. The report's
/// 办复率 is the per-type one of the ticket cohort (module docs), not a
/// scorecard rate.
const REPORT_RATES: [&str; 9] = [
    "timely_sign_for",
    "on_time_completion",
    "completion",
    "return_rate",
    "rehandling_rate",
    "satisfaction",
    "resolution",
    "response",
    "resolved_at_intake",
];

/// The period a report covers, in the centre's local days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A calendar year (年度报告).
    Year(i32),
    /// A calendar month (月度报告).
    Month(Month),
}

impl Period {
    /// A year of the service's era (2000–2999, as [`Month`]).
    pub fn year(year: i32) -> Result<Self, DomainError> {
        if (2000..=2999).contains(&year) {
            Ok(Self::Year(year))
        } else {
            Err(DomainError::invalid("year", "must be 2000–2999"))
        }
    }

    /// Its months, in order.
    pub fn months(self) -> Vec<Month> {
        match self {
            Self::Month(m) => vec![m],
            Self::Year(y) => (1..=12)
                .filter_map(|m| NaiveDate::from_ymd_opt(y, m, 1))
                .map(Month::of)
                .collect(),
        }
    }

    /// First local day.
    pub fn first_day(self) -> NaiveDate {
        self.months()
            .first()
            .map_or(NaiveDate::MIN, |m| m.first_day())
    }

    /// The local day after the last.
    pub fn end(self) -> NaiveDate {
        self.months().last().map_or(NaiveDate::MIN, |m| m.end())
    }

    /// `2026` or `2026-10`: file and directory names.
    pub fn slug(self) -> String {
        match self {
            Self::Year(y) => y.to_string(),
            Self::Month(m) => m.to_string(),
        }
    }

    /// `2026 年度` or `2026 年 10 月`: the report's title.
    pub fn title(self) -> String {
        match self {
            Self::Year(y) => format!("{y} 年度"),
            Self::Month(m) => m.first_day().format("%Y 年 %m 月").to_string(),
        }
    }
}

/// The instant a local day starts, in the centre's offset.
pub fn day_start(day: NaiveDate, offset: FixedOffset) -> DateTime<Utc> {
    crate::domain::calendar::local_day_start(day, offset)
}

/// Tickets of one request type (or all) by how far they got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flow {
    /// Created in the period.
    pub received: i64,
    /// Of those, accepted (without the §6 exclusions).
    pub accepted: i64,
    /// Of the accepted, answered at intake (直接答复).
    pub answered_at_intake: i64,
    /// Of the accepted, with a standing unit reply.
    pub replied_by_unit: i64,
}

impl Flow {
    fn add(&mut self, cell: &VolumeCell) {
        self.received += cell.received;
        self.accepted += cell.accepted;
        self.answered_at_intake += cell.answered_at_intake;
        self.replied_by_unit += cell.replied_by_unit;
    }

    /// 办复率: (answered at intake + replied by a unit) ÷ accepted.
    pub fn reply_rate(&self) -> Ratio {
        Ratio::new(
            self.answered_at_intake + self.replied_by_unit,
            self.accepted,
        )
    }
}

/// Tickets received under one key of a dimension (channel, subject, district, month).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Stable code: `phone`, `01`, `430102`, `2026-10`; empty for "not classified".
    pub key: String,
    /// What a reader sees.
    pub label: String,
    /// Tickets received.
    pub received: i64,
}

/// One scorecard rate over the whole centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRow {
    /// The rate's code in [`RATES`].
    pub name: &'static str,
    /// Its numerator and denominator.
    pub ratio: Ratio,
}

/// A unit in the overdue ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRow {
    /// Unit id.
    pub unit: UnitId,
    /// Display name from the directory (the id if it is gone).
    pub name: String,
    /// Rounds whose deadline passed unreplied in the period (`overdue`).
    pub overdue: i64,
    /// 按时办结率.
    pub on_time_completion: Ratio,
    /// 满意率.
    pub satisfaction: Ratio,
    /// 解决率.
    pub resolution: Ratio,
}

/// Where the performance counters were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterBasis {
    /// The live per-day counters (may still change for open periods).
    Live,
    /// A frozen month's snapshot.
    Frozen {
        /// When it was frozen.
        freeze_time: DateTime<Utc>,
    },
}

/// Everything a report shows: codes, counts and names of units, subjects
/// and regions; nothing from callers.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportData {
    /// The period.
    pub period: Period,
    /// When the report was made.
    pub generated: DateTime<Utc>,
    /// The centre's offset, for day boundaries and printed times.
    pub offset: FixedOffset,
    /// Where the performance counters came from.
    pub counters: CounterBasis,
    /// Every request type, in declaration order (zero rows kept: a
    /// disclosure lists each type).
    pub by_type: Vec<(RequestType, Flow)>,
    /// All types together.
    pub total: Flow,
    /// By channel, most first.
    pub by_channel: Vec<Volume>,
    /// By first-level subject, most first.
    pub by_subject: Vec<Volume>,
    /// By district (six-digit region code), most first.
    pub by_district: Vec<Volume>,
    /// By month, in order (annual reports; one row for a month).
    pub by_month: Vec<Volume>,
    /// Centre-wide scorecard rates.
    pub rates: Vec<RateRow>,
    /// Units with the most overdue rounds, most first (none if nothing was overdue).
    pub top_overdue: Vec<UnitRow>,
    /// Knowledge-base articles most cited by answers at intake in the
    /// period, most first.
    pub top_articles: Vec<ArticleRow>,
}

/// A knowledge-base article in the citation ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleRow {
    /// Its id.
    pub article: String,
    /// Its latest title (its id if it no longer exists).
    pub title: String,
    /// Tickets answered at intake citing it.
    pub uses: i64,
}

/// Reads the period's numbers from the store.
pub async fn gather(
    store: &dyn Store,
    period: Period,
    offset: FixedOffset,
    now: DateTime<Utc>,
) -> StoreResult<ReportData> {
    let mut cells = Vec::new();
    let mut by_month = Vec::new();
    for month in period.months() {
        let from = day_start(month.first_day(), offset);
        let to = day_start(month.end(), offset);
        let month_cells = store.ticket_volumes(from, to).await?;
        by_month.push(Volume {
            key: month.to_string(),
            label: month.to_string(),
            received: month_cells.iter().map(|c| c.received).sum(),
        });
        cells.extend(month_cells);
    }
    let (source, counters) = match period {
        Period::Month(month) => match store.frozen_month(month).await? {
            Some(frozen) => (
                CounterSource::Frozen(month),
                CounterBasis::Frozen {
                    freeze_time: frozen.freeze_time,
                },
            ),
            None => (live(period), CounterBasis::Live),
        },
        Period::Year(_) => (live(period), CounterBasis::Live),
    };
    let centre = store.sum_counters(&CounterScope::Centre, source).await?;
    let by_unit = store.sum_counters_by_unit(None, source).await?;

    let mut districts = Vec::new();
    for (code, received) in volumes_by(&cells, |c| c.district.clone()) {
        districts.push(Volume {
            label: district_label(store, &code).await?,
            key: code,
            received,
        });
    }
    let mut top_overdue = Vec::new();
    for (unit, totals) in overdue_units(&by_unit, TOP_OVERDUE_UNITS) {
        let name = match store.get_unit(&unit).await {
            Ok(u) => u.display_name,
            Err(StoreError::NotFound(_)) => unit.to_string(),
            Err(e) => return Err(e),
        };
        top_overdue.push(unit_row(unit, name, &totals));
    }
    let mut top_articles = Vec::new();
    let (from, to) = (
        day_start(period.first_day(), offset),
        day_start(period.end(), offset),
    );
    let uses = store
        .article_uses(from, to, &CounterScope::Centre, TOP_ARTICLES)
        .await?;
    for (usage, title) in with_titles(store, uses).await? {
        top_articles.push(ArticleRow {
            article: usage.article.to_string(),
            title: title.unwrap_or_else(|| usage.article.to_string()),
            uses: usage.uses,
        });
    }
    let (by_type, total) = flows_by_type(&cells);
    Ok(ReportData {
        period,
        generated: now,
        offset,
        counters,
        by_type,
        total,
        by_channel: volumes_by(&cells, |c| c.channel.code().to_owned())
            .into_iter()
            .map(|(key, received)| Volume {
                label: Channel::from_code(&key)
                    .map_or_else(|| key.clone(), |c| labels::channel(c).to_owned()),
                key,
                received,
            })
            .collect(),
        by_subject: volumes_by(&cells, |c| c.subject.clone().unwrap_or_default())
            .into_iter()
            .map(|(key, received)| Volume {
                label: labels::subject((!key.is_empty()).then_some(key.as_str())),
                key,
                received,
            })
            .collect(),
        by_district: districts,
        by_month,
        rates: centre_rates(&centre, &by_unit),
        top_overdue,
        top_articles,
    })
}

fn live(period: Period) -> CounterSource {
    CounterSource::Days {
        from: period.first_day(),
        to: period.end(),
    }
}

/// `A1区 (430102)`, or the bare code for a region not in the directory.
async fn district_label(store: &dyn Store, code: &str) -> StoreResult<String> {
    let Ok(region) = RegionCode::parse(code) else {
        return Ok(code.to_owned());
    };
    match store.get_region(&region).await {
        Ok(r) => Ok(format!("{} ({code})", r.display_name)),
        Err(StoreError::NotFound(_)) => Ok(code.to_owned()),
        Err(e) => Err(e),
    }
}

/// Per request type (every type, declaration order) and in total.
pub fn flows_by_type(cells: &[VolumeCell]) -> (Vec<(RequestType, Flow)>, Flow) {
    let mut total = Flow::default();
    let mut by_type: Vec<(RequestType, Flow)> = RequestType::ALL
        .iter()
        .map(|t| (*t, Flow::default()))
        .collect();
    for cell in cells {
        total.add(cell);
        if let Some((_, flow)) = by_type.iter_mut().find(|(t, _)| *t == cell.request_type) {
            flow.add(cell);
        }
    }
    (by_type, total)
}

/// Received tickets summed by a key, most first, then by key.
pub fn volumes_by(cells: &[VolumeCell], key: impl Fn(&VolumeCell) -> String) -> Vec<(String, i64)> {
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    for cell in cells {
        *sums.entry(key(cell)).or_default() += cell.received;
    }
    let mut out: Vec<(String, i64)> = sums.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The report's rates over the whole centre: the centre's own counters
/// plus every unit's.
pub fn centre_rates(centre: &[(Counter, i64)], by_unit: &[(UnitId, Counter, i64)]) -> Vec<RateRow> {
    let mut totals: HashMap<Counter, i64> = HashMap::new();
    for (counter, n) in centre.iter().copied() {
        *totals.entry(counter).or_default() += n;
    }
    for (_, counter, n) in by_unit {
        *totals.entry(*counter).or_default() += n;
    }
    RATES
        .iter()
        .filter(|r| REPORT_RATES.contains(&r.name))
        .map(|r| RateRow {
            name: r.name,
            ratio: r.ratio(&totals),
        })
        .collect()
}

/// The `top` units with the most `overdue` rounds (at least one), most
/// first, ties by unit id; with each unit's counter totals.
pub fn overdue_units(
    by_unit: &[(UnitId, Counter, i64)],
    top: usize,
) -> Vec<(UnitId, HashMap<Counter, i64>)> {
    let mut units: BTreeMap<&UnitId, HashMap<Counter, i64>> = BTreeMap::new();
    for (unit, counter, n) in by_unit {
        *units.entry(unit).or_default().entry(*counter).or_default() += n;
    }
    let overdue = |t: &HashMap<Counter, i64>| t.get(&Counter::Overdue).copied().unwrap_or(0);
    let mut out: Vec<(UnitId, HashMap<Counter, i64>)> = units
        .into_iter()
        .filter(|(_, t)| overdue(t) > 0)
        .map(|(u, t)| (u.clone(), t))
        .collect();
    out.sort_by(|a, b| {
        overdue(&b.1)
            .cmp(&overdue(&a.1))
            .then_with(|| a.0.cmp(&b.0))
    });
    out.truncate(top);
    out
}

fn unit_row(unit: UnitId, name: String, totals: &HashMap<Counter, i64>) -> UnitRow {
    let rate = |name: &str| {
        RATES
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.ratio(totals))
            .unwrap_or_default()
    };
    UnitRow {
        unit,
        name,
        overdue: totals.get(&Counter::Overdue).copied().unwrap_or(0),
        on_time_completion: rate("on_time_completion"),
        satisfaction: rate("satisfaction"),
        resolution: rate("resolution"),
    }
}
