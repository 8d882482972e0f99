//! The simulated intake: a background of varied requests over the demo
//! city's streets with a daily and weekly rhythm, and labelled surges
//! injected into it, yielded in time order.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::text::{self, Places, Source};
use crate::workload::Message;

/// The real messages (with their first-level category) and the replied
/// messages (no category: subject `99`, "other").
const MESSAGES: &str = include_str!("../../../../tests/data/messages-train.csv");
const REPLIES: &str = include_str!("../../../../tests/data/replies-train.csv");

/// Share of a day's calls per hour (a 12345 centre's shape: quiet nights,
/// a morning and an afternoon peak).
const HOURLY: [f64; 24] = [
    0.4, 0.25, 0.2, 0.2, 0.25, 0.5, 1.2, 2.8, 5.5, 7.8, 8.2, 7.2, 5.2, 5.8, 7.2, 7.2, 6.6, 5.6,
    4.2, 3.6, 3.1, 2.5, 1.6, 0.9,
];
/// Calls of each weekday against an average day, Monday first.
const WEEKLY: [f64; 7] = [1.15, 1.05, 1.0, 1.0, 0.98, 0.85, 0.8];

/// Surge sizes and durations (minutes) injected, every combination.
pub const SURGE_SIZES: [u32; 4] = [6, 10, 20, 40];
/// Durations of the surges, minutes.
pub const SURGE_MINUTES: [u32; 4] = [30, 60, 120, 240];

/// What to simulate.
#[derive(Debug, Clone)]
pub struct StreamPlan {
    /// Background tickets on an average day.
    pub per_day: u32,
    /// Simulated days (the first `warmup_hours` have no surges).
    pub days: u32,
    /// Hours before the first surge: the usual rates settle.
    pub warmup_hours: u32,
    /// Streets of the simulated city (the demo city's, then more under its
    /// districts up to this number).
    pub streets: usize,
    /// Surges of each size and duration per simulated day after warm-up.
    pub surges_per_class_per_day: u32,
    /// Seed of everything random.
    pub seed: u64,
}

/// A street of the simulated city.
#[derive(Debug, Clone)]
pub struct Street {
    /// Street code (9 digits).
    pub code: String,
    /// District code (6 digits).
    pub district: String,
}

/// One injected surge.
#[derive(Debug, Clone)]
pub struct Surge {
    /// Tickets.
    pub size: u32,
    /// Minutes from its first to its last ticket at most.
    pub minutes: u32,
    /// Index of its street.
    pub street: usize,
    /// Its first ticket's time.
    pub start: DateTime<Utc>,
}

/// One simulated ticket.
#[derive(Debug, Clone)]
pub struct SimTicket {
    /// Sequence number in time order.
    pub seq: u64,
    /// Creation time.
    pub at: DateTime<Utc>,
    /// Index of its street.
    pub street: usize,
    /// Subject code.
    pub subject: String,
    /// The caller (a phone number, standing in for its blind index).
    pub caller: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// The surge it belongs to, if any.
    pub surge: Option<usize>,
}

/// Messages as sources, grouped by category.
#[derive(Debug)]
pub struct Corpus {
    sources: Vec<Source>,
}

impl Corpus {
    /// The built-in real messages.
    pub fn built_in() -> anyhow::Result<Self> {
        let mut sources = Vec::new();
        let mut categories: BTreeMap<String, String> = BTreeMap::new();
        for (csv, name) in [(MESSAGES, "messages-train"), (REPLIES, "replies-train")] {
            let mut reader = csv::Reader::from_reader(csv.as_bytes());
            let headers = reader.headers()?.clone();
            let column = |n: &str| {
                headers
                    .iter()
                    .position(|h| h.trim_start_matches('\u{feff}') == n)
            };
            let title = column("留言主题").with_context(|| format!("{name}: no 留言主题"))?;
            let body = column("留言详情").with_context(|| format!("{name}: no 留言详情"))?;
            let category = column("一级分类");
            for record in reader.records() {
                let record = record.with_context(|| format!("reading {name}"))?;
                let field = |i: usize| record.get(i).unwrap_or_default().trim().to_owned();
                let subject = match category.map(field) {
                    Some(c) if !c.is_empty() => {
                        let next = format!("{:02}", categories.len() + 1);
                        categories.entry(c).or_insert(next).clone()
                    }
                    _ => "99".to_owned(),
                };
                let message = Message {
                    title: field(title),
                    description: field(body),
                };
                let source = Source::of(&message, subject);
                if !source.title.is_empty() && !source.clauses.is_empty() {
                    sources.push(source);
                }
            }
        }
        anyhow::ensure!(sources.len() > 10, "too few messages");
        Ok(Self { sources })
    }
}

/// The demo city's streets, then more under its districts (codes from
/// `101` up) to `count`: a city of 80,000 calls a day has hundreds of
/// streets, the demo a dozen.
pub fn streets(count: usize) -> anyhow::Result<Vec<Street>> {
    let city = hotline::demo::load()?;
    let mut streets: Vec<Street> = city
        .regions
        .iter()
        .filter(|r| r.code.len() == 9)
        .map(|r| Street {
            code: r.code.clone(),
            district: r.code[..6].to_owned(),
        })
        .collect();
    let districts: Vec<String> = city
        .regions
        .iter()
        .filter(|r| r.code.len() == 6 && streets.iter().any(|s| s.district == r.code))
        .map(|r| r.code.clone())
        .collect();
    anyhow::ensure!(!districts.is_empty(), "the demo city has no streets");
    let mut n = 0;
    while streets.len() < count {
        let district = &districts[n % districts.len()];
        streets.push(Street {
            code: format!("{district}{}", 101 + n / districts.len()),
            district: district.clone(),
        });
        n += 1;
    }
    Ok(streets)
}

/// A Monday at midnight, so the weekly rhythm starts at its head.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The stream: background and surges merged in time order.
#[derive(Debug)]
pub struct Stream<'a> {
    plan: StreamPlan,
    corpus: &'a Corpus,
    /// Cumulative street weights (busy streets take more calls).
    cumulative: Vec<f64>,
    rng: StdRng,
    clock: DateTime<Utc>,
    end: DateTime<Utc>,
    next_background: Option<SimTicket>,
    surge_tickets: std::vec::IntoIter<SimTicket>,
    next_surge: Option<SimTicket>,
    seq: u64,
    /// Per street: the messages it has yet to use in this round.
    orders: Vec<Vec<usize>>,
    /// The injected surges, by index.
    pub surges: Vec<Surge>,
}

impl<'a> Stream<'a> {
    /// Plans the surges and starts the background.
    pub fn new(plan: StreamPlan, corpus: &'a Corpus) -> Self {
        let mut rng = StdRng::seed_from_u64(plan.seed);
        // Zipf-like street sizes: the busiest street takes ~10x the median.
        let mut weights: Vec<f64> = (0..plan.streets.max(1))
            .map(|rank| 1.0 / (rank as f64 + 8.0).powf(0.9))
            .collect();
        for i in (1..weights.len()).rev() {
            weights.swap(i, rng.random_range(0..=i));
        }
        let total: f64 = weights.iter().sum();
        let cumulative = weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w / total;
                Some(*acc)
            })
            .collect();
        let start = epoch();
        let end = start + Duration::days(i64::from(plan.days));
        let orders = vec![Vec::new(); plan.streets.max(1)];
        let mut stream = Self {
            plan,
            corpus,
            cumulative,
            rng,
            clock: start,
            end,
            next_background: None,
            surge_tickets: Vec::new().into_iter(),
            next_surge: None,
            seq: 0,
            orders,
            surges: Vec::new(),
        };
        let tickets = stream.plan_surges();
        stream.surge_tickets = tickets.into_iter();
        stream.next_surge = stream.surge_tickets.next();
        stream.next_background = stream.background();
        stream
    }

    fn street(&mut self) -> usize {
        let roll: f64 = self.rng.random();
        self.cumulative
            .partition_point(|c| *c < roll)
            .min(self.cumulative.len() - 1)
    }

    fn caller(&mut self) -> String {
        format!(
            "1{}{:09}",
            self.rng.random_range(3..=9),
            self.rng.random_range(0..1_000_000_000u32)
        )
    }

    /// Every surge's tickets, in time order.
    fn plan_surges(&mut self) -> Vec<SimTicket> {
        let mut tickets = Vec::new();
        let first_day = self.plan.warmup_hours.div_ceil(24);
        for day in first_day..self.plan.days {
            for size in SURGE_SIZES {
                for minutes in SURGE_MINUTES {
                    for _ in 0..self.plan.surges_per_class_per_day {
                        let hour = self.rng.random_range(7..21);
                        let start = epoch()
                            + Duration::days(i64::from(day))
                            + Duration::minutes(hour * 60 + self.rng.random_range(0..60));
                        if start < epoch() + Duration::hours(i64::from(self.plan.warmup_hours)) {
                            continue;
                        }
                        let surge = Surge {
                            size,
                            minutes,
                            street: self.street(),
                            start,
                        };
                        tickets.extend(self.surge_tickets(&surge, self.surges.len()));
                        self.surges.push(surge);
                    }
                }
            }
        }
        tickets.sort_by_key(|t| t.at);
        tickets
    }

    fn surge_tickets(&mut self, surge: &Surge, index: usize) -> Vec<SimTicket> {
        let matter = &self.corpus.sources[self.rng.random_range(0..self.corpus.sources.len())];
        let places = Places::random(&mut self.rng);
        let mut offsets: Vec<i64> = (1..surge.size)
            .map(|_| self.rng.random_range(0..i64::from(surge.minutes) * 60))
            .collect();
        offsets.push(0);
        offsets.sort_unstable();
        let mut callers: Vec<String> = Vec::new();
        offsets
            .into_iter()
            .map(|offset| {
                // One caller in ten calls again.
                let caller = match callers.last() {
                    Some(c) if self.rng.random_bool(0.1) => c.clone(),
                    _ => self.caller(),
                };
                callers.push(caller.clone());
                let (title, description) = text::paraphrase(&mut self.rng, matter, &places);
                SimTicket {
                    seq: 0,
                    at: surge.start + Duration::seconds(offset),
                    street: surge.street,
                    subject: matter.subject.clone(),
                    caller,
                    title,
                    description,
                    surge: Some(index),
                }
            })
            .collect()
    }

    /// The street's next message in its own shuffled order of all of them:
    /// a few hundred messages stand in for the thousands of distinct
    /// matters of a real city, so a street must not draw the same one again
    /// within hours (it does so only after using every other), or the
    /// background itself holds surges.
    fn next_source(&mut self, street: usize) -> usize {
        let sources = self.corpus.sources.len();
        let Some(order) = self.orders.get_mut(street) else {
            return 0;
        };
        if order.is_empty() {
            order.extend(0..sources);
            for i in (1..order.len()).rev() {
                order.swap(i, self.rng.random_range(0..=i));
            }
        }
        order.pop().unwrap_or(0)
    }

    /// Background calls per second at `at`.
    fn rate(&self, at: DateTime<Utc>) -> f64 {
        let hour_share = HOURLY[at.hour() as usize] / HOURLY.iter().sum::<f64>();
        let day = WEEKLY[at.weekday().num_days_from_monday() as usize];
        f64::from(self.plan.per_day) * hour_share * day / 3600.0
    }

    fn background(&mut self) -> Option<SimTicket> {
        let rate = self.rate(self.clock).max(1e-6);
        let gap = -(1.0 - self.rng.random::<f64>()).ln() / rate;
        self.clock += Duration::microseconds((gap * 1e6) as i64);
        if self.clock >= self.end {
            return None;
        }
        let corpus = self.corpus;
        let street = self.street();
        let main = &corpus.sources[self.next_source(street)];
        let aside = &corpus.sources[self.rng.random_range(0..corpus.sources.len())];
        let (title, description) = text::background(&mut self.rng, main, aside);
        Some(SimTicket {
            seq: 0,
            at: self.clock,
            street,
            subject: main.subject.clone(),
            caller: self.caller(),
            title,
            description,
            surge: None,
        })
    }
}

impl Iterator for Stream<'_> {
    type Item = SimTicket;

    fn next(&mut self) -> Option<SimTicket> {
        let surge_first = match (&self.next_surge, &self.next_background) {
            (Some(s), Some(b)) => s.at <= b.at,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut ticket = if surge_first {
            let t = self.next_surge.take();
            self.next_surge = self.surge_tickets.next();
            t
        } else {
            let t = self.next_background.take();
            if t.is_some() {
                self.next_background = self.background();
            }
            t
        }?;
        ticket.seq = self.seq;
        self.seq += 1;
        Some(ticket)
    }
}
