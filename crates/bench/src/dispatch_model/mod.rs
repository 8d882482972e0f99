//! `hotline bench dispatch-model`: the learned dispatch suggestion on the
//! real messages, by cross-validation with folds fixed by message id
//! (`id mod folds`): model alone, and in two legs — the demo catalogue as
//! tuned, and per fold the catalogue without the keywords only the
//! held-out fold could have taught ([`unseen`]) — the rules alone and the
//! combination the server routes with, as accuracy, macro-F1 and confusion
//! tables over the seven first-level categories; and the in-process cost
//! of one decision next to the rules' (see docs/dispatch-model.md).
//!
//! Honest by construction: each fold's model is trained on the other
//! folds only, the policy (threshold, rule floor) and training settings
//! are the server's defaults unless given, and the threshold sweep printed
//! after the figures is information, not a choice made on the test folds.

pub mod corpus;
mod render;
#[cfg(test)]
mod tests;
pub mod unseen;

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use hotline::{
    demo::CATEGORIES,
    domain::routing::{Router, RoutingInput},
};
use hotline_model::{
    Confusion, DispatchModel, Policy, TrainingOptions, TrainingTicket, decide, fold_of, train,
};

pub use self::render::render;
use self::{
    corpus::{City, Labelled},
    unseen::SeenMessages,
};

/// Options of `hotline bench dispatch-model`.
#[derive(Debug, Clone, Args)]
pub struct DispatchModelOptions {
    /// Labelled messages: a CSV with the columns 留言编号, 留言主题, 留言详情
    /// and 一级分类; the repository's 286 real messages when absent.
    #[arg(long)]
    pub messages: Option<PathBuf>,
    /// Folds of the cross-validation (a message's fold: its id mod folds).
    #[arg(long, default_value_t = 5)]
    pub folds: u32,
    /// Training settings over the defaults, as JSON (the keys of
    /// `[dispatch_model.training]`, e.g. `{"max_features": 2048}`).
    #[arg(long)]
    pub training: Option<String>,
    /// The model decides at or above this probability (default: the
    /// server's, `dispatch_model.min_probability`).
    #[arg(long)]
    pub min_probability: Option<f32>,
    /// Rules of at least this priority win over the model (default: the
    /// server's, `dispatch_model.rule_priority_floor`).
    #[arg(long)]
    pub rule_priority_floor: Option<i32>,
    /// Passes over the messages when timing one decision.
    #[arg(long, default_value_t = 20)]
    pub bench_rounds: u32,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl DispatchModelOptions {
    /// The default run over the built-in messages.
    pub fn defaults() -> Self {
        Self {
            messages: None,
            folds: 5,
            training: None,
            min_probability: None,
            rule_priority_floor: None,
            bench_rounds: 20,
            json: None,
        }
    }

    fn policy(&self) -> Policy {
        let defaults = Policy::default();
        Policy {
            rule_priority_floor: self
                .rule_priority_floor
                .unwrap_or(defaults.rule_priority_floor),
            min_probability: self.min_probability.or(defaults.min_probability),
        }
    }

    fn training(&self) -> anyhow::Result<TrainingOptions> {
        match &self.training {
            None => Ok(TrainingOptions::default()),
            Some(json) => serde_json::from_str(json).context("--training"),
        }
    }
}

/// Accuracy and macro-F1 of one way of routing.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Score {
    /// Messages routed to a unit of their category.
    pub correct: u32,
    /// Messages.
    pub total: u32,
    /// `correct / total`.
    pub accuracy: f64,
    /// Mean F1 over the categories.
    pub macro_f1: f64,
}

impl Score {
    fn of(table: &Confusion) -> Self {
        Self {
            correct: table.correct(),
            total: table.total(),
            accuracy: table.accuracy(),
            macro_f1: table.macro_f1(),
        }
    }
}

/// The combination at one threshold (information only).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SweepPoint {
    /// `min_probability`.
    pub min_probability: f32,
    /// The combination's score.
    pub score: Score,
    /// Share of messages the model decided.
    pub by_model: f64,
}

/// Time of one decision, µs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Cost {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
}

/// The rules under one catalogue, alone and combined with the model.
#[derive(Debug, Clone, Serialize)]
pub struct Leg {
    /// The catalogue alone (no fallback: unplaced is wrong).
    pub rules: Score,
    /// Rules of high priority, then the confident model, then the rules.
    pub combined: Score,
    /// Share of messages the model decided in the combination.
    pub by_model: f64,
    /// Messages the combination routes right and the rules wrong.
    pub gained: u32,
    /// Messages the rules route right and the combination wrong.
    pub lost: u32,
    /// Exact McNemar test of the two on the same messages: the two-sided
    /// probability of a split of the changed messages at least this
    /// uneven if the combination were no better nor worse than the rules.
    pub mcnemar_p: f64,
    /// Confusion tables of the rules and of the combination (rows:
    /// category; columns: category decided).
    #[serde(skip)]
    pub tables: [Confusion; 2],
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct DispatchModelReport {
    /// Messages evaluated.
    pub messages: usize,
    /// Folds.
    pub folds: u32,
    /// The combination's policy.
    pub policy: Policy,
    /// Training settings.
    pub training: TrainingOptions,
    /// The demo catalogue as it is: tuned on every message, the held-out
    /// fold included.
    pub tuned: Leg,
    /// Per fold, the catalogue without the keywords only the held-out
    /// fold could have taught (see [`unseen`]).
    pub unseen: Leg,
    /// Keywords the unseen-fold catalogue dropped, per fold, beyond those
    /// no message at all contains (dropped in every fold, and changing
    /// nothing).
    pub unseen_keywords_dropped: Vec<usize>,
    /// Rules the unseen-fold catalogue dropped whole, per fold, beyond
    /// those no message at all could have taught.
    pub unseen_rules_dropped: Vec<usize>,
    /// Keywords and rules no message at all could have taught.
    pub untaught: (usize, usize),
    /// The model alone (its top unit, whatever its probability).
    pub model: Score,
    /// The model's confusion table.
    #[serde(skip)]
    pub model_table: Confusion,
    /// The combination (tuned catalogue) at other thresholds.
    pub sweep: Vec<SweepPoint>,
    /// Mean training time of a fold's model, ms.
    pub train_ms: f64,
    /// Mean features per fold's model.
    pub features: f64,
    /// The penalty each fold's training chose on its own tickets.
    pub regularization: Vec<f32>,
    /// The threshold each fold's training set on its own tickets.
    pub thresholds: Vec<f32>,
    /// One model inference (top unit and probability).
    pub model_cost: Cost,
    /// One rules decision.
    pub rules_cost: Cost,
    /// One combined decision (rules and model).
    pub combined_cost: Cost,
}

/// Runs the evaluation and prints it.
pub fn main(opts: &DispatchModelOptions) -> anyhow::Result<()> {
    let report = run(opts)?;
    print!("{}", render(&report));
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// A message's category under a decision (`None`: triage, or a unit
/// without a category).
fn category_of<'a>(city: &'a City, unit: Option<&str>) -> Option<&'a str> {
    unit.and_then(|u| city.category.get(u)).map(String::as_str)
}

fn labels() -> Vec<String> {
    CATEGORIES.iter().map(|c| (*c).to_owned()).collect()
}

/// A [`Leg`] being counted, message by message.
struct Tally {
    tables: [Confusion; 2],
    by_model: u32,
    gained: u32,
    lost: u32,
}

impl Tally {
    fn new() -> Self {
        Self {
            tables: [Confusion::new(labels()), Confusion::new(labels())],
            by_model: 0,
            gained: 0,
            lost: 0,
        }
    }

    /// Routes one message by `router` alone and combined with `model`.
    fn add(
        &mut self,
        city: &City,
        router: &Router,
        model: &DispatchModel,
        policy: Policy,
        input: &RoutingInput<'_>,
        truth: &str,
    ) {
        let ruled = router.decide(input);
        let ruled = category_of(city, ruled.as_ref().map(|d| d.unit.as_str()));
        let combined = decide(router, Some(model), policy, input);
        let chosen = category_of(city, combined.as_ref().map(|d| d.unit.as_str()));
        self.tables[0].add(truth, ruled);
        self.tables[1].add(truth, chosen);
        let right = |c: Option<&str>| c == Some(truth);
        self.gained += u32::from(right(chosen) && !right(ruled));
        self.lost += u32::from(right(ruled) && !right(chosen));
        self.by_model += u32::from(combined.as_ref().is_some_and(|d| d.model_version.is_some()));
    }

    fn finish(self, messages: usize) -> Leg {
        Leg {
            rules: Score::of(&self.tables[0]),
            combined: Score::of(&self.tables[1]),
            by_model: f64::from(self.by_model) / messages as f64,
            gained: self.gained,
            lost: self.lost,
            mcnemar_p: mcnemar_exact_p(self.gained, self.lost),
            tables: self.tables,
        }
    }
}

/// The exact (binomial) McNemar test's two-sided p-value for `gained`
/// against `lost` discordant messages: under "neither is better" each
/// changed message is a fair coin. Exact rather than the chi-squared
/// approximation because the counts are small (tens).
pub fn mcnemar_exact_p(gained: u32, lost: u32) -> f64 {
    let n = gained + lost;
    let mut pmf = 0.5_f64.powi(i32::try_from(n).unwrap_or(i32::MAX));
    let mut tail = 0.0;
    for k in 0..=gained.min(lost) {
        tail += pmf;
        pmf *= f64::from(n - k) / f64::from(k + 1);
    }
    (2.0 * tail).min(1.0)
}

/// Cross-validates and times; prints nothing.
pub fn run(opts: &DispatchModelOptions) -> anyhow::Result<DispatchModelReport> {
    anyhow::ensure!(opts.folds >= 2, "--folds must be at least 2");
    let policy = opts.policy();
    let training = opts.training()?;
    let demo = hotline::demo::load()?;
    let city = City::new(&demo)?;
    let messages: Vec<Labelled> = corpus::load(opts.messages.as_deref())?
        .into_iter()
        .filter(|m| city.lead.contains_key(&m.category))
        .collect();
    anyhow::ensure!(!messages.is_empty(), "no message of a known category");
    let tickets: Vec<(TrainingTicket, &Labelled)> = messages
        .iter()
        .filter_map(|m| Some((city.ticket(m)?, m)))
        .collect();
    let (mut tuned, mut unseen) = (Tally::new(), Tally::new());
    let mut model_table = Confusion::new(labels());
    let sweep_at = [0.3f32, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
    let mut sweep: Vec<(Confusion, u32)> = sweep_at
        .iter()
        .map(|_| (Confusion::new(labels()), 0))
        .collect();
    let seen = |ms: &mut dyn Iterator<Item = &Labelled>| {
        SeenMessages::new(ms.map(|m| (m.title.as_str(), m.description.as_str())))
    };
    let untaught = unseen::without_unseen_keywords(&demo.rules, &seen(&mut messages.iter()));
    let untaught = (untaught.keywords_dropped, untaught.rules_dropped.len());
    let (mut keywords_dropped, mut rules_dropped) = (Vec::new(), Vec::new());
    let (mut train_ms, mut features) = (0.0, 0.0);
    let (mut regularization, mut thresholds) = (Vec::new(), Vec::new());
    let resolve = |unit: &str| hotline::domain::UnitId::parse(unit).ok();
    // The last fold's model, timed below: the cost of an inference does
    // not depend on which fold it learnt from, and a sixth training would
    // cost CI as much as a fold.
    let mut timed = None;
    for fold in 0..opts.folds {
        let (test, learn): (Vec<_>, Vec<_>) = tickets
            .iter()
            .partition(|(t, _)| fold_of(&t.id, opts.folds) == fold);
        let reduced =
            unseen::without_unseen_keywords(&demo.rules, &seen(&mut learn.iter().map(|(_, m)| *m)));
        keywords_dropped.push(reduced.keywords_dropped - untaught.0);
        rules_dropped.push(reduced.rules_dropped.len() - untaught.1);
        let unseen_router = city.router_with(reduced.rules);
        let learn: Vec<TrainingTicket> = learn.into_iter().map(|(t, _)| t.clone()).collect();
        let started = Instant::now();
        let params = train(&learn, &training)?;
        train_ms += started.elapsed().as_secs_f64() * 1e3;
        regularization.push(params.regularization);
        thresholds.push(params.threshold);
        let model = DispatchModel::compile(i64::from(fold) + 1, &params, &resolve)?;
        features += model.feature_count() as f64;
        for (ticket, message) in &test {
            let input = ticket.input();
            let truth = message.category.as_str();
            tuned.add(&city, &city.router, &model, policy, &input, truth);
            unseen.add(&city, &unseen_router, &model, policy, &input, truth);
            let suggested = model.suggest(&input);
            model_table.add(
                truth,
                category_of(&city, suggested.as_ref().map(|s| s.unit.as_str())),
            );
            for ((table, n), t) in sweep.iter_mut().zip(sweep_at) {
                let at = Policy {
                    min_probability: Some(t),
                    ..policy
                };
                let d = decide(&city.router, Some(&model), at, &input);
                table.add(
                    truth,
                    category_of(&city, d.as_ref().map(|d| d.unit.as_str())),
                );
                *n += u32::from(d.as_ref().is_some_and(|d| d.model_version.is_some()));
            }
        }
        timed = Some(model);
    }
    let n = tickets.len();
    let all: Vec<TrainingTicket> = tickets.iter().map(|(t, _)| t.clone()).collect();
    let model = timed.context("no fold")?;
    let costs = time(&city, &model, policy, &all, opts.bench_rounds.max(1));
    Ok(DispatchModelReport {
        messages: n,
        folds: opts.folds,
        policy,
        training,
        tuned: tuned.finish(n),
        unseen: unseen.finish(n),
        unseen_keywords_dropped: keywords_dropped,
        unseen_rules_dropped: rules_dropped,
        untaught,
        model: Score::of(&model_table),
        model_table,
        sweep: sweep
            .iter()
            .zip(sweep_at)
            .map(|((table, k), t)| SweepPoint {
                min_probability: t,
                score: Score::of(table),
                by_model: f64::from(*k) / n as f64,
            })
            .collect(),
        train_ms: train_ms / f64::from(opts.folds),
        features: features / f64::from(opts.folds),
        regularization,
        thresholds,
        model_cost: costs[0],
        rules_cost: costs[1],
        combined_cost: costs[2],
    })
}

/// Times model, rules and combination over every message, `rounds` times.
fn time(
    city: &City,
    model: &DispatchModel,
    policy: Policy,
    tickets: &[TrainingTicket],
    rounds: u32,
) -> [Cost; 3] {
    let mut samples: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        for ticket in tickets {
            let input = ticket.input();
            let t = Instant::now();
            std::hint::black_box(model.suggest(&input));
            samples[0].push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            std::hint::black_box(city.router.decide(&input));
            samples[1].push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            std::hint::black_box(decide(&city.router, Some(model), policy, &input));
            samples[2].push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    samples.map(|mut s| {
        s.sort_by(f64::total_cmp);
        let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
        Cost {
            p50_us: at(0.5),
            p99_us: at(0.99),
        }
    })
}
