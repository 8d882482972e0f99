//! Training: closed tickets and their final lead unit → [`ModelParams`].
//!
//! The vocabulary is the `max_features` features found in the most
//! tickets (at least `min_count` of them); each ticket becomes a dense row
//! of their values and linfa's multinomial logistic regression (L-BFGS,
//! L2 penalty `regularization`) is fitted on the matrix. Dense is fine at
//! training: a few thousand tickets × a few thousand features of `f32`
//! is tens of megabytes, bounded by the settings. The fitted weights are
//! then pruned (|w| < `prune_below` dropped) into the sparse form that
//! inference reads.
//!
//! The penalty is chosen by the training data alone: with
//! `regularization_candidates`, each candidate is fitted on three quarters
//! of the tickets (fixed by id) and scored by the log-likelihood of the
//! fourth; the best is refitted on all. So an evaluation that trains on
//! some folds never picks a setting by looking at the others.
//!
//! The same held-out quarter calibrates the model: its decision
//! threshold is the lowest probability at which its predictions there were
//! right at least `min_precision` of the time, so that "the model decides
//! when it is sure enough" means the same on every centre's data.
//!
//! Deterministic: the same tickets in any order give the same model
//! (tickets are sorted by id, features by name, and nothing iterates a
//! hash map in its own order).

use std::collections::{BTreeMap, HashMap};

use linfa::{Dataset, traits::Fit};
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

use hotline_domain::{
    routing::RoutingInput,
    ticket::{RequestType, Urgency},
};

use crate::{
    evaluate::fold_of,
    features::{Family, FeatureSpec, feature_key, feature_name, for_each_feature, values},
    model::{FORMAT, FeatureWeights, ModelError, ModelParams},
};

/// One closed ticket to learn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingTicket {
    /// A stable id (the ticket id): orders the tickets and splits off the
    /// held-out share.
    pub id: String,
    /// Taxonomy subject code.
    pub subject_code: Option<String>,
    /// Request type.
    pub request_type: RequestType,
    /// Region code.
    pub region_code: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Legacy hotline the call came through.
    pub legacy_hotline: Option<String>,
    /// Urgency.
    pub urgency: Urgency,
    /// The lead unit that finally answered for it (after returns and
    /// arbitration), mapped to the unit answering for it now.
    pub unit: String,
}

impl TrainingTicket {
    /// The ticket as routing sees it.
    pub fn input(&self) -> RoutingInput<'_> {
        RoutingInput {
            subject_code: self.subject_code.as_deref(),
            request_type: self.request_type,
            region_code: &self.region_code,
            title: &self.title,
            description: &self.description,
            legacy_hotline: self.legacy_hotline.as_deref(),
            urgency: self.urgency,
        }
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingOptions {
    /// Feature families.
    pub features: FeatureSpec,
    /// Most features kept (those in the most tickets).
    pub max_features: usize,
    /// A feature must occur in at least this many tickets.
    pub min_count: u32,
    /// L2 penalty `alpha` of the loss `Σ −log p(unit) + alpha/2 ‖W‖²`,
    /// when no candidates are given.
    pub regularization: f32,
    /// Penalties to choose from on a quarter of the training tickets held
    /// out (empty: use `regularization`).
    pub regularization_candidates: Vec<f32>,
    /// L-BFGS iterations at most.
    pub max_iterations: u64,
    /// Quarters of the tickets (fixed by id) held out in turn to choose
    /// the penalty and set the threshold, each predicted by a fit on the
    /// other three (1–4): with 4 every ticket is predicted once, so the
    /// threshold rests on all of them rather than on a quarter (each
    /// candidate costs this many fits).
    pub calibration_folds: u32,
    /// Weigh every unit about alike in the fit: each ticket of a unit is
    /// fitted `round(n_max / n_unit)` times, `n_max` the tickets of the
    /// largest unit, so a unit with few tickets is not outvoted by a large
    /// one whose vocabulary overlaps. Off by default: on the real messages
    /// it lifts the model alone (macro-F1 0.640 → 0.693) but the
    /// combination with the rules loses (docs/dispatch-model.md).
    pub balance_units: bool,
    /// Weights smaller than this in magnitude are dropped from the model.
    pub prune_below: f32,
    /// The precision the model's decisions must have had on the held-out
    /// quarter: sets the model's threshold.
    pub min_precision: f32,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        Self {
            features: FeatureSpec::default(),
            max_features: 4096,
            min_count: 2,
            regularization: 0.1,
            // A decade in half-steps around the usual 0.1-1, fixed before
            // any evaluation.
            regularization_candidates: vec![1.0, 0.3, 0.1, 0.03],
            max_iterations: 100,
            calibration_folds: 4,
            balance_units: false,
            prune_below: 1e-3,
            // Fixed before any evaluation: a model that decides must be
            // right nine times in ten.
            min_precision: 0.9,
        }
    }
}

/// The distinct features of one ticket: key → (family, text, count).
type Bag = BTreeMap<u64, (Family, String, u32)>;

fn bag(spec: &FeatureSpec, ticket: &TrainingTicket, scratch: &mut String) -> Bag {
    let mut bag = Bag::new();
    for_each_feature(spec, &ticket.input(), scratch, |family, text| {
        bag.entry(feature_key(family, text))
            .or_insert_with(|| (family, text.to_owned(), 0))
            .2 += 1;
    });
    bag
}

/// Trains a model on `tickets`, which must name at least two units.
pub fn train(
    tickets: &[TrainingTicket],
    options: &TrainingOptions,
) -> Result<ModelParams, ModelError> {
    let mut tickets: Vec<&TrainingTicket> = tickets.iter().collect();
    tickets.sort_by(|a, b| a.id.cmp(&b.id));
    let mut units: Vec<&str> = tickets.iter().map(|t| t.unit.as_str()).collect();
    units.sort_unstable();
    units.dedup();
    if units.len() < 2 {
        return Err(ModelError::NotEnoughData(format!(
            "closed tickets of at least two units are needed; found {} ticket(s) of {} unit(s)",
            tickets.len(),
            units.len()
        )));
    }
    let mut scratch = String::new();
    let bags: Vec<Bag> = tickets
        .iter()
        .map(|t| bag(&options.features, t, &mut scratch))
        .collect();
    let vocabulary = vocabulary(&bags, options);
    let x = matrix(&bags, &vocabulary);
    let y: Array1<usize> = tickets
        .iter()
        .map(|t| units.binary_search(&t.unit.as_str()).unwrap_or(0))
        .collect();
    let quarter: Vec<u32> = tickets.iter().map(|t| fold_of(&t.id, 4)).collect();
    let (alpha, threshold) = select_regularization(&x, &y, &quarter, options)?;
    let all: Vec<usize> = (0..y.len()).collect();
    let fitted = fit_on(&x, &y, &all, alpha, options)?;
    let classes = fitted.classes();
    let w = fitted.params();
    let weights = vocabulary
        .iter()
        .enumerate()
        .map(|(row, (_, family, text))| FeatureWeights {
            feature: feature_name(*family, text),
            weights: (0..classes.len())
                .filter_map(|k| {
                    let weight = w[(row, k)];
                    (weight.abs() >= options.prune_below).then_some((k as u32, weight))
                })
                .collect(),
        })
        .filter(|f| !f.weights.is_empty())
        .collect();
    Ok(ModelParams {
        format: FORMAT,
        features: options.features,
        regularization: alpha,
        threshold,
        units: classes.iter().map(|&k| units[k].to_owned()).collect(),
        intercepts: fitted.intercept().to_vec(),
        weights,
    })
}

/// One row of feature values per ticket.
fn matrix(bags: &[Bag], vocabulary: &[(u64, Family, String)]) -> Array2<f32> {
    let column: HashMap<u64, u32> = vocabulary
        .iter()
        .enumerate()
        .map(|(i, (key, ..))| (*key, i as u32))
        .collect();
    let mut x = Array2::<f32>::zeros((bags.len(), vocabulary.len()));
    let mut entries = Vec::new();
    let mut row = Vec::new();
    for (i, bag) in bags.iter().enumerate() {
        entries.clear();
        entries.extend(bag.iter().filter_map(|(key, (family, _, count))| {
            column.get(key).map(|&c| (c, family.is_text(), *count))
        }));
        values(&entries, &mut row);
        for &(c, value) in &row {
            x[(i, c as usize)] = value;
        }
    }
    x
}

type Fitted = MultiFittedLogisticRegression<f32, usize>;

/// Fits on the tickets `rows` of `x` and `y`, balanced if asked.
fn fit_on(
    x: &Array2<f32>,
    y: &Array1<usize>,
    rows: &[usize],
    alpha: f32,
    options: &TrainingOptions,
) -> Result<Fitted, ModelError> {
    let rows = if options.balance_units {
        balanced(rows, y)
    } else {
        rows.to_vec()
    };
    fit(
        x.select(Axis(0), &rows),
        y.select(Axis(0), &rows),
        alpha,
        options,
    )
}

/// `rows` with each row of unit `k` repeated `round(n_max / n_k)` times
/// (at least once), `n_k` the rows of unit `k` and `n_max` the most of any
/// unit: integer class weights, as linfa's logistic regression takes no
/// sample weights. Order is kept (a row's copies are adjacent).
pub fn balanced(rows: &[usize], y: &Array1<usize>) -> Vec<usize> {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for &i in rows {
        *counts.entry(y[i]).or_default() += 1;
    }
    let most = counts.values().copied().max().unwrap_or(1);
    rows.iter()
        .flat_map(|&i| {
            let n = counts.get(&y[i]).copied().unwrap_or(1).max(1);
            let times = ((most as f64 / n as f64).round() as usize).max(1);
            std::iter::repeat_n(i, times)
        })
        .collect()
}

fn fit(
    x: Array2<f32>,
    y: Array1<usize>,
    alpha: f32,
    options: &TrainingOptions,
) -> Result<Fitted, ModelError> {
    MultiLogisticRegression::<f32>::default()
        .alpha(alpha)
        .max_iterations(options.max_iterations)
        .fit(&Dataset::new(x, y))
        .map_err(|e| ModelError::Training(e.to_string()))
}

/// The candidate penalty whose fits give the tickets held out of them the
/// highest log-likelihood (`regularization` without candidates), and the
/// threshold those held-out predictions set ([`threshold`]). `quarter[i]`
/// is ticket `i`'s quarter; each of the first `calibration_folds`
/// quarters is held out in turn and predicted by a fit on the other
/// three, so with four every ticket is predicted once. A quarter that is
/// empty, or whose complement names fewer than two units, is skipped;
/// with none left: `regularization`, and a threshold above 1 (the model
/// never decides: nothing says when it is right).
fn select_regularization(
    x: &Array2<f32>,
    y: &Array1<usize>,
    quarter: &[u32],
    options: &TrainingOptions,
) -> Result<(f32, f32), ModelError> {
    let splits = calibration_splits(quarter, y, options.calibration_folds);
    if splits.is_empty() {
        return Ok((options.regularization, NEVER));
    }
    let candidates = match options.regularization_candidates.as_slice() {
        [] => std::slice::from_ref(&options.regularization),
        some => some,
    };
    // (penalty, held-out log-likelihood, its held-out predictions)
    type Candidate = (f32, f32, Vec<(f32, bool)>);
    let mut best: Option<Candidate> = None;
    for &alpha in candidates {
        let mut likelihood = 0.0;
        let mut predictions = Vec::with_capacity(y.len());
        for (fit_rows, check_rows) in &splits {
            let fitted = fit_on(x, y, fit_rows, alpha, options)?;
            likelihood += held_out(&fitted, x, y, check_rows, &mut predictions);
        }
        if best.as_ref().is_none_or(|(_, l, _)| likelihood > *l) {
            best = Some((alpha, likelihood, predictions));
        }
    }
    Ok(best.map_or(
        (options.regularization, NEVER),
        |(alpha, _, predictions)| (alpha, threshold(predictions, options.min_precision)),
    ))
}

/// `(fit rows, held rows)` for each of the first `folds` quarters (1–4)
/// held out in turn; a quarter that is empty, or whose complement names
/// fewer than two units, is left out.
pub fn calibration_splits(
    quarter: &[u32],
    y: &Array1<usize>,
    folds: u32,
) -> Vec<(Vec<usize>, Vec<usize>)> {
    (0..folds.clamp(1, 4))
        .map(|q| {
            let rows = |held: bool| -> Vec<usize> {
                (0..quarter.len())
                    .filter(|&i| (quarter[i] == q) == held)
                    .collect()
            };
            (rows(false), rows(true))
        })
        .filter(|(fit_rows, check_rows)| {
            let mut units: Vec<usize> = fit_rows.iter().map(|&i| y[i]).collect();
            units.sort_unstable();
            units.dedup();
            !check_rows.is_empty() && units.len() >= 2
        })
        .collect()
}

/// The log-likelihood `fitted` gives the tickets `rows`; their top
/// probability and whether it was right into `predictions`.
fn held_out(
    fitted: &Fitted,
    x: &Array2<f32>,
    y: &Array1<usize>,
    rows: &[usize],
    predictions: &mut Vec<(f32, bool)>,
) -> f32 {
    let p = fitted.predict_probabilities(&x.select(Axis(0), rows));
    let classes = fitted.classes();
    let mut likelihood = 0.0;
    for (r, &i) in rows.iter().enumerate() {
        // A unit absent from the fitting part costs every candidate alike.
        let q = classes
            .iter()
            .position(|&k| k == y[i])
            .map_or(0.0, |k| p[(r, k)]);
        likelihood += q.max(1e-6).ln();
        let (top, top_p) = p
            .row(r)
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::MIN), |b, (k, v)| if v > b.1 { (k, v) } else { b });
        predictions.push((top_p, classes[top] == y[i]));
    }
    likelihood
}

/// A threshold no probability reaches.
pub const NEVER: f32 = 1.5;

/// Fewest held-out decisions a threshold is set from: one lucky
/// prediction must not open the door.
const MIN_DECISIONS: usize = 5;

/// The lowest probability `t` such that the predictions at or above `t`
/// (at least [`MIN_DECISIONS`] of them) were right at least `min_precision`
/// of the time; [`NEVER`] when there is none.
pub fn threshold(mut predictions: Vec<(f32, bool)>, min_precision: f32) -> f32 {
    predictions.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut right = 0usize;
    let mut best = NEVER;
    for (n, (p, ok)) in predictions.iter().enumerate() {
        right += usize::from(*ok);
        let decided = n + 1;
        let tied_next = predictions.get(decided).is_some_and(|next| next.0 == *p);
        if !tied_next && decided >= MIN_DECISIONS && right as f32 >= min_precision * decided as f32
        {
            best = *p;
        }
    }
    best
}

/// The features kept: in at least `min_count` tickets, the
/// `max_features` most frequent, ordered by name.
fn vocabulary(bags: &[Bag], options: &TrainingOptions) -> Vec<(u64, Family, String)> {
    let mut counts: BTreeMap<u64, (Family, &str, u32)> = BTreeMap::new();
    for bag in bags {
        for (key, (family, text, _)) in bag {
            counts.entry(*key).or_insert((*family, text, 0)).2 += 1;
        }
    }
    let mut kept: Vec<(u64, Family, String, u32)> = counts
        .into_iter()
        .filter(|(_, (_, _, n))| *n >= options.min_count.max(1))
        .map(|(key, (family, text, n))| (key, family, text.to_owned(), n))
        .collect();
    kept.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| name(a).cmp(&name(b))));
    kept.truncate(options.max_features);
    kept.sort_by_key(name);
    kept.into_iter()
        .map(|(key, family, text, _)| (key, family, text))
        .collect()
}

fn name(entry: &(u64, Family, String, u32)) -> String {
    feature_name(entry.1, &entry.2)
}
