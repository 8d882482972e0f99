//! Synthetic but realistic knowledge articles and real queries for `hotline
//! bench knowledge`.
//!
//! Articles recombine real text: bodies of 4 to 15 clauses drawn from the 78
//! official replies (official prose) and from the 286 citizen messages of
//! `messages-train.csv` (a wider vocabulary), titles from those messages,
//! tags from their category; subjects, regions and dates vary as a city's
//! base would (most city-wide and open-ended, some scoped to a district or
//! a street, some expired or not yet in force). A vocabulary of a few hundred
//! texts makes every posting list long: a harder case than a real base.
//!
//! Queries are the 78 messages of `replies-train.csv` (title and text, as
//! SuggestArticles sends them), none of which is in the article pool, with
//! the filters an intake call carries.

use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng, rngs::StdRng};

use hotline_knowledge::{IndexedArticle, SearchQuery, eval};

/// The real citizen messages with their category (`tests/data`).
const MESSAGES: &str = include_str!("../../../../tests/data/messages-train.csv");
/// The real messages with official replies (`tests/data`).
const REPLIES: &str = include_str!("../../../../tests/data/replies-train.csv");

/// Districts of the synthetic city (GB/T 2260 style, 6 digits).
const DISTRICTS: [&str; 9] = [
    "430102", "430103", "430104", "430105", "430111", "430112", "430121", "430181", "430182",
];
/// Streets per district (9-digit codes `district` + `001`..).
const STREETS_PER_DISTRICT: u32 = 12;
/// First-level subjects (01..07, as the taxonomy's categories) with 8
/// second-level subjects each.
const SUBJECTS: (u32, u32) = (7, 8);

/// The text the generator draws from.
#[derive(Debug, Clone)]
pub struct Pool {
    clauses: Vec<String>,
    titles: Vec<(String, String)>,
    queries: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
struct MessageRow {
    #[serde(rename = "留言主题")]
    title: String,
    #[serde(rename = "留言详情")]
    text: String,
    #[serde(rename = "一级分类")]
    category: String,
}

impl Pool {
    /// Reads the built-in data.
    pub fn built_in() -> anyhow::Result<Self> {
        let replies = eval::load_replies(REPLIES.as_bytes())?;
        let mut clauses: Vec<String> = replies
            .iter()
            .flat_map(|r| eval::clauses(&r.reply).map(str::trim).map(str::to_owned))
            .collect();
        let mut titles = Vec::new();
        for row in csv::Reader::from_reader(MESSAGES.as_bytes()).deserialize::<MessageRow>() {
            let row = row?;
            clauses.extend(eval::clauses(&row.text).map(str::trim).map(str::to_owned));
            titles.push((row.title.trim().to_owned(), row.category.trim().to_owned()));
        }
        clauses.retain(|c| c.chars().count() >= 4);
        let queries = replies
            .iter()
            .map(|r| format!("{}\n{}", r.title, r.message))
            .collect();
        anyhow::ensure!(
            !clauses.is_empty() && !titles.is_empty(),
            "no text to draw from"
        );
        Ok(Self {
            clauses,
            titles,
            queries,
        })
    }

    /// Clauses, titles and queries available.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.clauses.len(), self.titles.len(), self.queries.len())
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn street(rng: &mut StdRng) -> String {
    format!(
        "{}{:03}",
        pick(rng, &DISTRICTS),
        rng.random_range(1..=STREETS_PER_DISTRICT)
    )
}

fn subject(rng: &mut StdRng) -> String {
    format!(
        "{:02}.{:02}",
        rng.random_range(1..=SUBJECTS.0),
        rng.random_range(1..=SUBJECTS.1)
    )
}

/// `count` articles, the same for the same `seed`; dates around `today`.
pub fn articles(pool: &Pool, count: usize, seed: u64, today: NaiveDate) -> Vec<IndexedArticle> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|n| {
            let (title, category) = pick(&mut rng, &pool.titles).clone();
            let clauses = rng.random_range(4..=15);
            let body = (0..clauses)
                .map(|_| pick(&mut rng, &pool.clauses).as_str())
                .collect::<Vec<_>>()
                .join("\n\n");
            let regions = match rng.random_range(0..10) {
                0..6 => vec![],
                6..9 => vec![pick(&mut rng, &DISTRICTS).to_string()],
                _ => vec![street(&mut rng)],
            };
            let subjects = match rng.random_range(0..10) {
                0 => vec![],
                1 => vec![format!("{:02}", rng.random_range(1..=SUBJECTS.0))],
                _ => vec![subject(&mut rng)],
            };
            let days_ago = Days::new(rng.random_range(0..1_000));
            let effective_from = match rng.random_range(0..10) {
                0..3 => None,
                9 => today.checked_add_days(Days::new(rng.random_range(1..90))),
                _ => today.checked_sub_days(days_ago),
            };
            let expires_on = match rng.random_range(0..10) {
                0..7 => None,
                7 => today.checked_sub_days(Days::new(rng.random_range(1..365))),
                _ => today.checked_add_days(Days::new(rng.random_range(0..730))),
            };
            IndexedArticle {
                id: format!("kb-{n:06}"),
                version: rng.random_range(1..4),
                title,
                body,
                subjects,
                regions,
                tags: vec![category],
                effective_from,
                expires_on,
            }
        })
        .collect()
}

/// The queries of a run: every real message, cycled in a seeded order, each
/// with a street (most intake calls have one) and often a subject.
pub fn queries(
    pool: &Pool,
    count: usize,
    seed: u64,
    today: NaiveDate,
    limit: usize,
) -> Vec<SearchQuery> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    (0..count)
        .map(|_| SearchQuery {
            text: pick(&mut rng, &pool.queries).clone(),
            subject: rng.random_bool(0.5).then(|| subject(&mut rng)),
            region: rng.random_bool(0.8).then(|| street(&mut rng)),
            on: today,
            limit,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 5).unwrap_or_default()
    }

    #[test]
    fn articles_are_varied_and_reproducible() {
        let pool = Pool::built_in().unwrap_or_else(|e| panic!("{e:#}"));
        let (clauses, titles, queries) = pool.sizes();
        assert!(
            clauses > 1000 && titles == 286 && queries == 78,
            "{:?}",
            pool.sizes()
        );
        let a = articles(&pool, 500, 7, today());
        assert_eq!(a, articles(&pool, 500, 7, today()));
        assert!(a.iter().any(|x| x.regions.is_empty()) && a.iter().any(|x| !x.regions.is_empty()));
        assert!(a.iter().any(|x| !x.in_force_on(today())));
        assert!(a.iter().filter(|x| x.in_force_on(today())).count() > 350);
        let ids: std::collections::HashSet<_> = a.iter().map(|x| &x.id).collect();
        assert_eq!(ids.len(), 500);
    }

    #[test]
    fn queries_carry_real_text_and_filters() {
        let pool = Pool::built_in().unwrap_or_else(|e| panic!("{e:#}"));
        let q = queries(&pool, 200, 7, today(), 5);
        assert!(
            q.iter()
                .all(|x| x.text.chars().count() > 10 && x.limit == 5)
        );
        assert!(q.iter().any(|x| x.region.is_some()) && q.iter().any(|x| x.subject.is_none()));
    }
}
