//! `hotline bench dispatch-model`: the learned dispatch suggestion on the
//! real messages, by cross-validation with folds fixed by message id
//! (`id mod folds`): rules alone, model alone, and the combination the
//! server routes with, as accuracy, macro-F1 and confusion tables over the
//! seven first-level categories; and the in-process cost of one decision
//! next to the rules' (see docs/dispatch-model.md).
//!
//! Honest by construction: each fold's model is trained on the other
//! folds only, the policy (threshold, rule floor) and training settings
//! are the server's defaults unless given, and the threshold sweep printed
//! after the figures is information, not a choice made on the test folds.

pub mod corpus;
#[cfg(test)]
mod tests;

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use hotline::demo::CATEGORIES;
use hotline_model::{
    Confusion, DispatchModel, Policy, TrainingOptions, TrainingTicket, decide, fold_of, train,
};

use self::corpus::{City, Labelled};

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
    /// The catalogue alone (no fallback: unplaced is wrong).
    pub rules: Score,
    /// The model alone (its top unit, whatever its probability).
    pub model: Score,
    /// Rules of high priority, then the confident model, then the rules.
    pub combined: Score,
    /// Share of messages the model decided in the combination.
    pub by_model: f64,
    /// Messages the combination routes right and the rules wrong.
    pub gained: u32,
    /// Messages the rules route right and the combination wrong.
    pub lost: u32,
    /// The combination at other thresholds.
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
    /// Confusion tables (rows: category; columns: category decided).
    #[serde(skip)]
    pub tables: [Confusion; 3],
}

const NONE: &str = "triage/none";

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

/// Cross-validates and times; prints nothing.
pub fn run(opts: &DispatchModelOptions) -> anyhow::Result<DispatchModelReport> {
    anyhow::ensure!(opts.folds >= 2, "--folds must be at least 2");
    let policy = opts.policy();
    let training = opts.training()?;
    let city = City::new(&hotline::demo::load()?)?;
    let messages: Vec<Labelled> = corpus::load(opts.messages.as_deref())?
        .into_iter()
        .filter(|m| city.lead.contains_key(&m.category))
        .collect();
    anyhow::ensure!(!messages.is_empty(), "no message of a known category");
    let tickets: Vec<(TrainingTicket, &Labelled)> = messages
        .iter()
        .filter_map(|m| Some((city.ticket(m)?, m)))
        .collect();
    let labels = || CATEGORIES.iter().map(|c| (*c).to_owned()).collect();
    let mut tables = [
        Confusion::new(labels()),
        Confusion::new(labels()),
        Confusion::new(labels()),
    ];
    let sweep_at = [0.3f32, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
    let mut sweep: Vec<(Confusion, u32)> = sweep_at
        .iter()
        .map(|_| (Confusion::new(labels()), 0))
        .collect();
    let (mut by_model, mut gained, mut lost) = (0u32, 0u32, 0u32);
    let (mut train_ms, mut features) = (0.0, 0.0);
    let (mut regularization, mut thresholds) = (Vec::new(), Vec::new());
    let resolve = |unit: &str| hotline::domain::UnitId::parse(unit).ok();
    for fold in 0..opts.folds {
        let (test, learn): (Vec<_>, Vec<_>) = tickets
            .iter()
            .partition(|(t, _)| fold_of(&t.id, opts.folds) == fold);
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
            let truth = &message.category;
            let ruled = city.router.decide(&input);
            let ruled = category_of(&city, ruled.as_ref().map(|d| d.unit.as_str()));
            tables[0].add(truth, ruled);
            let suggested = model.suggest(&input);
            tables[1].add(
                truth,
                category_of(&city, suggested.as_ref().map(|s| s.unit.as_str())),
            );
            let combined = decide(&city.router, Some(&model), policy, &input);
            let chosen = category_of(&city, combined.as_ref().map(|d| d.unit.as_str()));
            tables[2].add(truth, chosen);
            let right = |c: Option<&str>| c == Some(truth.as_str());
            gained += u32::from(right(chosen) && !right(ruled));
            lost += u32::from(right(ruled) && !right(chosen));
            by_model += u32::from(combined.as_ref().is_some_and(|d| d.model_version.is_some()));
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
    }
    let n = tickets.len();
    let share = |k: u32| f64::from(k) / n as f64;
    let all: Vec<TrainingTicket> = tickets.iter().map(|(t, _)| t.clone()).collect();
    let model = DispatchModel::compile(0, &train(&all, &training)?, &resolve)?;
    let costs = time(&city, &model, policy, &all, opts.bench_rounds.max(1));
    Ok(DispatchModelReport {
        messages: n,
        folds: opts.folds,
        policy,
        training,
        rules: Score::of(&tables[0]),
        model: Score::of(&tables[1]),
        combined: Score::of(&tables[2]),
        by_model: share(by_model),
        gained,
        lost,
        sweep: sweep
            .iter()
            .zip(sweep_at)
            .map(|((table, k), t)| SweepPoint {
                min_probability: t,
                score: Score::of(table),
                by_model: share(*k),
            })
            .collect(),
        train_ms: train_ms / f64::from(opts.folds),
        features: features / f64::from(opts.folds),
        regularization,
        thresholds,
        model_cost: costs[0],
        rules_cost: costs[1],
        combined_cost: costs[2],
        tables,
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

/// The report as text.
pub fn render(r: &DispatchModelReport) -> String {
    let score = |name: &str, s: &Score| {
        format!(
            "  {name:<12} accuracy {:>5.1} % ({}/{})   macro-F1 {:.3}\n",
            s.accuracy * 100.0,
            s.correct,
            s.total,
            s.macro_f1
        )
    };
    let mut out = format!(
        "dispatch model: {} messages, {}-fold cross-validation by message id (fold = id mod {})\n\
         policy: rules of priority >= {} win; else the model at probability >= {}; else the rules\n",
        r.messages,
        r.folds,
        r.folds,
        r.policy.rule_priority_floor,
        match r.policy.min_probability {
            Some(p) => format!("{p}"),
            None => format!("its own threshold (per fold {:?})", r.thresholds),
        }
    );
    out.push_str(&score("rules", &r.rules));
    out.push_str(&score("model", &r.model));
    out.push_str(&score("combined", &r.combined));
    out.push_str(&format!(
        "  combined: the model decided {:.1} % of the messages; against the rules it gains {} and loses {}\n\
         training: {:.0} ms per fold, {:.0} features per model, penalty chosen per fold {:?}\n\
         cost per ticket (µs, p50 / p99): model {:.1} / {:.1}, rules {:.1} / {:.1}, combined {:.1} / {:.1}\n",
        r.by_model * 100.0,
        r.gained,
        r.lost,
        r.train_ms,
        r.features,
        r.regularization,
        r.model_cost.p50_us,
        r.model_cost.p99_us,
        r.rules_cost.p50_us,
        r.rules_cost.p99_us,
        r.combined_cost.p50_us,
        r.combined_cost.p99_us,
    ));
    for (name, table) in ["rules", "model", "combined"].iter().zip(&r.tables) {
        out.push_str(&format!(
            "\n{name}: rows the labelled category, columns the category decided\n"
        ));
        out.push_str(&table.render(NONE));
    }
    out.push_str("\nthreshold sweep (information only; the figures above use the policy):\n");
    for p in &r.sweep {
        out.push_str(&format!(
            "  min_probability {:.1}: accuracy {:>5.1} %, macro-F1 {:.3}, by model {:>5.1} %\n",
            p.min_probability,
            p.score.accuracy * 100.0,
            p.score.macro_f1,
            p.by_model * 100.0
        ));
    }
    out
}
