//! `hotline bench scale`: times, on a database filled by `hotline bench
//! populate`, the reads a province-sized centre runs every day — each
//! through the store's own code path (what the RPC does) and next to the
//! naive query a first version would have used, so the report shows what
//! the counters and indexes buy.
//!
//! Each query runs once to warm up, then `--repeat` times; the report gives
//! the median and the slowest run. Its one write: it freezes the measured
//! month if nobody has, to time the ranking of a frozen month.

use std::{path::PathBuf, time::Instant};

use chrono::{Months, NaiveDate, TimeDelta};
use clap::Args;
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool};

use super::populate::{DEFAULT_SCALE_URL, city::CITY};
use hotline::{
    domain::{
        Clock, SystemClock, TicketId, UnitId,
        calendar::CHINA_STANDARD_TIME,
        metrics::{Month, RankingWeights, rank_unit_sums, scorecard},
    },
    report::data::day_start,
    store::{CounterScope, CounterSource, Store, TicketCursor, TicketQuery},
};

/// Options of `hotline bench scale`.
#[derive(Debug, Clone, Args)]
pub struct ScaleOptions {
    /// The database `hotline bench populate` filled.
    #[arg(long, default_value = DEFAULT_SCALE_URL)]
    pub database_url: String,
    /// Timed runs per query, after one warm-up run.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// The unit of the scorecard (default: the busiest street office).
    #[arg(long)]
    pub unit: Option<String>,
    /// The district of the region ranking (6 digits).
    #[arg(long, default_value = "330102")]
    pub district: String,
    /// Page depth of the deep-paging query (50 tickets a page).
    #[arg(long, default_value_t = 1000)]
    pub page: u32,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Tickets per page of the paging query.
const PAGE_SIZE: u32 = 50;
/// Rows the sweeper reads per round (as the workflow's sweep).
const SWEEP_BATCH: u32 = 200;

/// One query's timings, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// What was measured.
    pub name: String,
    /// Median of the timed runs.
    pub median_ms: f64,
    /// Slowest timed run.
    pub max_ms: f64,
    /// Rows (or units, or tickets) the query returned.
    pub rows: u64,
}

/// The store's way next to the naive one.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The query through the store.
    pub store: Timing,
    /// The naive query computing the same thing.
    pub naive: Timing,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    /// Tickets in the database.
    pub tickets: i64,
    /// Events in the database (the planner's estimate).
    pub events: i64,
    /// Size of the database, bytes.
    pub database_bytes: i64,
    /// The month measured (the last complete one).
    pub month: String,
    /// The comparisons, in report order.
    pub results: Vec<Comparison>,
}

/// Times `f` once unmeasured and `repeat` times measured.
async fn time<F, Fut>(name: &str, repeat: usize, mut f: F) -> anyhow::Result<Timing>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<u64>>,
{
    let mut rows = f().await?;
    let mut runs = Vec::with_capacity(repeat.max(1));
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        rows = f().await?;
        runs.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(summarize(name, &mut runs, rows))
}

/// Median and maximum of `runs` (milliseconds).
fn summarize(name: &str, runs: &mut [f64], rows: u64) -> Timing {
    runs.sort_by(f64::total_cmp);
    let median = match runs.len() {
        0 => 0.0,
        n if n % 2 == 1 => runs[n / 2],
        n => (runs[n / 2 - 1] + runs[n / 2]) / 2.0,
    };
    Timing {
        name: name.to_owned(),
        median_ms: median,
        max_ms: runs.last().copied().unwrap_or(0.0),
        rows,
    }
}

/// A first version's scorecard: a GROUP BY over the tickets dispatched in
/// the month, per lead unit, counting on-time replies, ratings, satisfied,
/// resolved and overdue tickets from their current columns. (Coarser than
/// the counters, which attribute each handling round, return, reopen and
/// rating to the unit and day of its event; its cost is the point here.)
const NAIVE_SELECT: &str = "SELECT t.lead_unit_id, COUNT(*) AS dispatched, \
    COUNT(*) FILTER (WHERE t.reply_time_us <= t.reply_deadline_us) AS on_time, \
    COUNT(*) FILTER (WHERE t.satisfaction IS NOT NULL) AS rated, \
    COUNT(*) FILTER (WHERE t.satisfaction IN \
        ('very_satisfied', 'satisfied', 'basically_satisfied')) AS satisfied, \
    COUNT(*) FILTER (WHERE t.resolved) AS resolved, \
    COUNT(*) FILTER (WHERE t.alert_overdue) AS overdue \
    FROM tickets t";

/// One unit: its tickets through the lead-unit index.
const NAIVE_UNIT: &str = " WHERE t.lead_unit_id = $3 \
    AND t.dispatch_time_us >= $1 AND t.dispatch_time_us < $2 GROUP BY t.lead_unit_id";

/// The units of a region (all with an empty prefix).
const NAIVE_REGION: &str = " JOIN units u ON u.id = t.lead_unit_id \
    WHERE t.dispatch_time_us >= $1 AND t.dispatch_time_us < $2 \
    AND u.region_code >= $3 AND u.region_code < $4 GROUP BY t.lead_unit_id";

/// Runs the measurements and prints the table.
pub async fn run(opts: &ScaleOptions) -> anyhow::Result<ScaleReport> {
    let pii = crate::populate::configured_pii()?;
    let store = hotline_store::open_with_pii(&opts.database_url, 4, false, pii).await?;
    let pool = PgPool::connect(&opts.database_url).await?;
    let (tickets,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tickets")
        .fetch_one(&pool)
        .await?;
    anyhow::ensure!(
        tickets > 0,
        "no tickets: run `hotline bench populate` first"
    );
    let (events,): (i64,) =
        sqlx::query_as("SELECT reltuples::BIGINT FROM pg_class WHERE relname = 'ticket_events'")
            .fetch_one(&pool)
            .await?;
    let (database_bytes,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
        .fetch_one(&pool)
        .await?;
    let now = SystemClock.now();
    let today = now.with_timezone(&CHINA_STANDARD_TIME).date_naive();
    let month = Month::of(today.checked_sub_months(Months::new(1)).unwrap_or(today));
    let (first, next) = (month.first_day(), month.end());
    let days = CounterSource::Days {
        from: first,
        to: next,
    };
    let micros = |d: NaiveDate| day_start(d, CHINA_STANDARD_TIME).timestamp_micros();
    let (from_us, to_us) = (micros(first), micros(next));
    let unit = match &opts.unit {
        Some(u) => UnitId::parse(u)?,
        None => busiest_street_office(&pool).await?,
    };
    let repeat = opts.repeat;
    let s: &dyn Store = store.as_ref();
    let mut results = Vec::new();

    // A unit's monthly scorecard.
    let scope = CounterScope::Unit(unit.clone());
    results.push(Comparison {
        store: time("unit monthly scorecard", repeat, || async {
            let sums = s.sum_counters(&scope, days).await?;
            let card = scorecard(&sums.into_iter().collect());
            Ok(u64::from(
                card.rates().iter().any(|(_, r)| r.denominator > 0),
            ))
        })
        .await?,
        naive: time("GROUP BY over the unit's tickets", repeat, || {
            naive_aggregate(&pool, from_us, to_us, Naive::Unit(unit.as_str()))
        })
        .await?,
    });

    // Region rankings: one district, then every unit of the city.
    // A closed month is ranked from its frozen snapshot (月度考核): freeze
    // it, as the centre does at month end, if nobody has.
    if s.frozen_month(month).await?.is_none() {
        s.freeze_month(month, "bench-scale", now).await?;
    }
    // A live ranking while the month runs (its first 25 days: read as the
    // month's totals less the days after, see `metrics::sum_plan`).
    let to_date = first + TimeDelta::days(25);
    for (label, region, source, naive_to_us) in [
        (
            "district ranking",
            Some(opts.district.as_str()),
            days,
            to_us,
        ),
        ("city ranking", None, days, to_us),
        (
            "city ranking, first 25 days",
            None,
            CounterSource::Days {
                from: first,
                to: to_date,
            },
            micros(to_date),
        ),
        (
            "city ranking, frozen month",
            None,
            CounterSource::Frozen(month),
            to_us,
        ),
    ] {
        let prefix = region.unwrap_or_default();
        results.push(Comparison {
            store: time(
                &format!("{label} ({})", region.unwrap_or(CITY)),
                repeat,
                || async { ranking(s, region, source).await },
            )
            .await?,
            naive: time(
                &format!(
                    "GROUP BY over the month's tickets of {}",
                    region.unwrap_or(CITY)
                ),
                repeat,
                || naive_aggregate(&pool, from_us, naive_to_us, Naive::Region(prefix)),
            )
            .await?,
        });
    }

    // The overdue sweep: one round of what is due, through the partial index.
    let (due,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM tickets WHERE next_alert_us IS NOT NULL AND next_alert_us <= $1",
    )
    .bind(now.timestamp_micros())
    .fetch_one(&pool)
    .await?;
    results.push(Comparison {
        store: time(
            &format!("overdue sweep round ({due} due)"),
            repeat,
            || async { Ok(s.due_for_sweep(now, SWEEP_BATCH).await?.len() as u64) },
        )
        .await?,
        naive: time(
            "deadline conditions on every open ticket",
            repeat,
            || async { naive_due(&pool, now.timestamp_micros()).await },
        )
        .await?,
    });

    // Caller lookup by phone: the number is sealed, so it is read through
    // the store; the naive query searches the same blind index.
    let (id, phone_index): (String, String) = sqlx::query_as(
        "SELECT id, caller_phone_index FROM tickets WHERE caller_phone_index IS NOT NULL \
         ORDER BY create_time_us DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await?;
    let caller = s.get_ticket(TicketId::parse(&id)?).await?.intake.caller;
    let phone = caller
        .phone
        .map(|p| p.expose().to_owned())
        .unwrap_or_default();
    let mut by_phone = TicketQuery::all(20);
    by_phone.caller_phone = Some(phone);
    results.push(Comparison {
        store: time("caller lookup by phone", repeat, || async {
            Ok(s.list_tickets(&by_phone).await?.len() as u64)
        })
        .await?,
        naive: time(
            "the same without its index (sequential scan)",
            repeat,
            || naive_phone(&pool, &phone_index),
        )
        .await?,
    });

    // ListTickets, page `opts.page` of the newest-first list.
    let offset = i64::from(opts.page.saturating_sub(1)) * i64::from(PAGE_SIZE);
    let (cursor_time, cursor_id): (i64, String) = sqlx::query_as(
        "SELECT create_time_us, id FROM tickets ORDER BY create_time_us DESC, id DESC \
         OFFSET $1 LIMIT 1",
    )
    .bind((offset - 1).max(0))
    .fetch_optional(&pool)
    .await?
    .ok_or_else(|| anyhow::anyhow!("fewer than {offset} tickets: ask for an earlier --page"))?;
    let mut page = TicketQuery::all(PAGE_SIZE);
    if offset > 0 {
        page.after = Some(TicketCursor {
            create_time: chrono::DateTime::from_timestamp_micros(cursor_time).unwrap_or(now),
            id: TicketId::parse(&cursor_id)?,
        });
    }
    results.push(Comparison {
        store: time(
            &format!("ListTickets page {} (page token)", opts.page),
            repeat,
            || async { Ok(s.list_tickets(&page).await?.len() as u64) },
        )
        .await?,
        naive: time("the same page by OFFSET", repeat, || async {
            let rows = sqlx::query(
                "SELECT * FROM tickets ORDER BY create_time_us DESC, id DESC OFFSET $1 LIMIT $2",
            )
            .bind(offset)
            .bind(i64::from(PAGE_SIZE))
            .fetch_all(&pool)
            .await?;
            Ok(rows.len() as u64)
        })
        .await?,
    });

    let report = ScaleReport {
        tickets,
        events,
        database_bytes,
        month: first.format("%Y-%m").to_string(),
        results,
    };
    print!("{}", render(&report));
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(report)
}

/// The street office with the most tickets (the scorecard's subject).
async fn busiest_street_office(pool: &PgPool) -> anyhow::Result<UnitId> {
    let (id,): (String,) = sqlx::query_as(
        "SELECT unit_id FROM unit_day_counters WHERE unit_id LIKE 's%' \
         GROUP BY unit_id ORDER BY SUM(value) DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    Ok(UnitId::parse(&id)?)
}

/// ListRankings' work: per-unit sums, scorecards, weighted rank.
async fn ranking(
    store: &dyn Store,
    region: Option<&str>,
    days: CounterSource,
) -> anyhow::Result<u64> {
    let rows = store.sum_counters_by_unit(region, days).await?;
    Ok(rank_unit_sums(rows, &RankingWeights::default()).len() as u64)
}

/// Whose tickets the naive aggregate reads.
#[derive(Debug, Clone, Copy)]
enum Naive<'a> {
    Unit(&'a str),
    Region(&'a str),
}

async fn naive_aggregate(
    pool: &PgPool,
    from_us: i64,
    to_us: i64,
    whose: Naive<'_>,
) -> anyhow::Result<u64> {
    let query = match whose {
        Naive::Unit(unit) => sqlx::query(AssertSqlSafe(format!("{NAIVE_SELECT}{NAIVE_UNIT}")))
            .bind(from_us)
            .bind(to_us)
            .bind(unit),
        Naive::Region(prefix) => {
            sqlx::query(AssertSqlSafe(format!("{NAIVE_SELECT}{NAIVE_REGION}")))
                .bind(from_us)
                .bind(to_us)
                .bind(prefix)
                .bind(hotline_store::prefix_upper_bound(prefix))
        }
    };
    Ok(query.fetch_all(pool).await?.len() as u64)
}

/// What is due, from the deadline columns of the open tickets (no
/// `next_alert_us`).
async fn naive_due(pool: &PgPool, now_us: i64) -> anyhow::Result<u64> {
    let rows = sqlx::query(
        "SELECT * FROM tickets WHERE \
         (state = 'dispatched' AND NOT alert_sign_overdue AND sign_deadline_us < $1) \
         OR (state IN ('dispatched', 'in_progress', 'return_requested') \
             AND ((NOT alert_warned AND NOT alert_overdue AND warn_at_us <= $1) \
                  OR (NOT alert_overdue AND reply_deadline_us < $1))) \
         OR (state = 'awaiting_callback' AND callback_deadline_us <= $1) \
         ORDER BY LEAST( \
           CASE WHEN state = 'dispatched' AND NOT alert_sign_overdue THEN sign_deadline_us END, \
           CASE WHEN state IN ('dispatched', 'in_progress', 'return_requested') \
             AND NOT alert_warned AND NOT alert_overdue THEN warn_at_us END, \
           CASE WHEN state IN ('dispatched', 'in_progress', 'return_requested') \
             AND NOT alert_overdue THEN reply_deadline_us END, \
           CASE WHEN state = 'awaiting_callback' THEN callback_deadline_us END) \
         LIMIT $2",
    )
    .bind(now_us)
    .bind(i64::from(SWEEP_BATCH))
    .fetch_all(pool)
    .await?;
    Ok(rows.len() as u64)
}

/// The phone lookup with index scans switched off for the transaction.
async fn naive_phone(pool: &PgPool, phone_index: &str) -> anyhow::Result<u64> {
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(
        "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; \
         SET LOCAL enable_indexonlyscan = off",
    )
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "SELECT * FROM tickets WHERE caller_phone_index = $1 ORDER BY create_time_us DESC, id DESC LIMIT 20",
    )
    .bind(phone_index)
    .fetch_all(&mut *tx)
    .await?;
    tx.rollback().await?;
    Ok(rows.len() as u64)
}

/// The report as a Markdown table.
pub fn render(report: &ScaleReport) -> String {
    let mut out = format!(
        "{} tickets, ~{} events, {:.1} GB; month {}\n\n\
         | query | store (median / max) | naive (median / max) | naive ÷ store |\n\
         |---|---:|---:|---:|\n",
        report.tickets,
        report.events,
        report.database_bytes as f64 / 1e9,
        report.month
    );
    for c in &report.results {
        let factor = if c.store.median_ms > 0.0 {
            c.naive.median_ms / c.store.median_ms
        } else {
            0.0
        };
        out.push_str(&format!(
            "| {} ({} rows) | {:.2} / {:.2} ms | {:.2} / {:.2} ms — {} | ×{factor:.0} |\n",
            c.store.name,
            c.store.rows,
            c.store.median_ms,
            c.store.max_ms,
            c.naive.median_ms,
            c.naive.max_ms,
            c.naive.name,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_odd_and_even_runs_and_the_slowest() {
        let t = summarize("q", &mut [5.0, 1.0, 3.0], 7);
        assert_eq!((t.median_ms, t.max_ms, t.rows), (3.0, 5.0, 7));
        let t = summarize("q", &mut [4.0, 1.0, 2.0, 3.0], 0);
        assert_eq!((t.median_ms, t.max_ms), (2.5, 4.0));
        assert_eq!(summarize("q", &mut [], 0).median_ms, 0.0);
    }

    #[test]
    fn the_table_shows_both_timings_and_the_factor() {
        let timing = |name: &str, ms: f64| Timing {
            name: name.into(),
            median_ms: ms,
            max_ms: ms * 2.0,
            rows: 1,
        };
        let report = ScaleReport {
            tickets: 10,
            events: 80,
            database_bytes: 2_500_000_000,
            month: "2026-10".into(),
            results: vec![Comparison {
                store: timing("scorecard", 0.5),
                naive: timing("group by", 50.0),
            }],
        };
        let text = render(&report);
        assert!(text.starts_with("10 tickets, ~80 events, 2.5 GB; month 2026-10"));
        assert!(
            text.contains(
                "| scorecard (1 rows) | 0.50 / 1.00 ms | 50.00 / 100.00 ms — group by | ×100 |"
            ),
            "{text}"
        );
    }
}
