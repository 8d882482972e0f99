//! The dispatch model as stored ([`ModelParams`]) and as applied
//! ([`DispatchModel`]).
//!
//! Why inference is ours and not linfa's: linfa predicts from a dense
//! `ndarray` row, which for one ticket would mean a vector of every known
//! feature (thousands, almost all zero) times a dense weight matrix
//! (thousands × units) — hundreds of microseconds and megabytes per model.
//! A ticket has a few hundred distinct features, so the model keeps, per
//! feature, only the units it weighs (compressed sparse rows) and a
//! decision is a sparse dot product over the features present: tens of
//! microseconds (see `hotline bench dispatch-model`). The arithmetic is
//! the same softmax of `x·W + b` that linfa fitted; the equivalence is a
//! test (`sparse_inference_matches_linfa`).

use std::{
    cell::RefCell,
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
};

use serde::{Deserialize, Serialize};

use hotline_domain::{UnitId, routing::RoutingInput};

use crate::features::{FeatureSpec, feature_key, for_each_feature, parse_feature_name, values};

/// Version of the stored format.
pub const FORMAT: u32 = 1;

/// A trained model, serializable: what the store keeps per version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelParams {
    /// [`FORMAT`].
    pub format: u32,
    /// The features it reads.
    pub features: FeatureSpec,
    /// The L2 penalty it was fitted with (chosen at training).
    pub regularization: f32,
    /// The lowest probability at which it decides: where its predictions
    /// on tickets held out of training were precise enough (see
    /// `TrainingOptions::min_precision`); above 1, never.
    pub threshold: f32,
    /// The units it can suggest (its classes), in class order.
    pub units: Vec<String>,
    /// The intercept of each class.
    pub intercepts: Vec<f32>,
    /// Each known feature with its non-negligible weights.
    pub weights: Vec<FeatureWeights>,
}

/// One feature's weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureWeights {
    /// The feature's name, e.g. `w:噪音` (see [`crate::features::feature_name`]).
    pub feature: String,
    /// `(class, weight)`, classes ascending; weights pruned at training
    /// are absent (zero).
    pub weights: Vec<(u32, f32)>,
}

/// Why stored parameters cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The parameters are inconsistent or of an unknown format.
    #[error("invalid dispatch model: {0}")]
    Invalid(String),
    /// Not enough data to learn from.
    #[error("{0}")]
    NotEnoughData(String),
    /// The solver failed.
    #[error("training failed: {0}")]
    Training(String),
}

impl ModelError {
    fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

/// The keys are already FNV-1a hashes: hashing them again would only cost.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Columns = HashMap<u64, u32, BuildHasherDefault<KeyHasher>>;

/// The unit a model suggests, with its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The unit.
    pub unit: UnitId,
    /// The model's probability that the unit is the right one.
    pub probability: f32,
}

/// Why the model suggests what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelExplanation {
    /// Units best first with their probabilities (at most the limit asked).
    pub units: Vec<Suggestion>,
    /// The features that weighed most for the first unit: name and
    /// weight × value, largest first (positive only).
    pub decisive: Vec<(String, f32)>,
}

/// A compiled model version: features to columns, sparse weights, and the
/// units of the directory its classes stand for now.
#[derive(Debug)]
pub struct DispatchModel {
    version: i64,
    threshold: f32,
    spec: FeatureSpec,
    intercepts: Vec<f32>,
    /// Class → index in `live`; `None` for a unit retired without successor.
    targets: Vec<Option<u32>>,
    /// The distinct units the model can suggest now.
    live: Vec<UnitId>,
    columns: Columns,
    names: Vec<String>,
    text: Vec<bool>,
    /// Weights of column `c`: `entries[offsets[c]..offsets[c + 1]]`.
    offsets: Vec<u32>,
    entries: Vec<(u32, f32)>,
}

/// Per-thread buffers of one inference, so a decision allocates nothing.
#[derive(Debug, Default)]
struct Scratch {
    text: String,
    counts: Vec<u32>,
    touched: Vec<u32>,
    entries: Vec<(u32, bool, u32)>,
    values: Vec<(u32, f32)>,
    scores: Vec<f32>,
    live: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl DispatchModel {
    /// Compiles stored parameters. `resolve` maps each unit the model was
    /// trained on to the unit that answers for its matters now: itself,
    /// its successor (a renamed or merged unit), or `None` (abolished), so
    /// a model never suggests a unit that no longer exists.
    pub fn compile(
        version: i64,
        params: &ModelParams,
        resolve: &dyn Fn(&str) -> Option<UnitId>,
    ) -> Result<Self, ModelError> {
        if params.format != FORMAT {
            return Err(ModelError::invalid(format!(
                "format {} (this build reads {FORMAT})",
                params.format
            )));
        }
        let classes = params.units.len();
        if params.intercepts.len() != classes || classes < 2 {
            return Err(ModelError::invalid(format!(
                "{classes} units and {} intercepts",
                params.intercepts.len()
            )));
        }
        let mut live: Vec<UnitId> = Vec::new();
        let mut targets = Vec::with_capacity(classes);
        for unit in &params.units {
            UnitId::parse(unit).map_err(|_| ModelError::invalid(format!("unit {unit:?}")))?;
            targets.push(
                resolve(unit).map(|now| match live.iter().position(|u| *u == now) {
                    Some(i) => i as u32,
                    None => {
                        live.push(now);
                        (live.len() - 1) as u32
                    }
                }),
            );
        }
        let mut model = Self {
            version,
            threshold: params.threshold,
            spec: params.features,
            intercepts: params.intercepts.clone(),
            targets,
            live,
            columns: Columns::default(),
            names: Vec::with_capacity(params.weights.len()),
            text: Vec::with_capacity(params.weights.len()),
            offsets: vec![0],
            entries: Vec::new(),
        };
        for (column, feature) in params.weights.iter().enumerate() {
            let (family, text) = parse_feature_name(&feature.feature)
                .ok_or_else(|| ModelError::invalid(format!("feature {:?}", feature.feature)))?;
            if model
                .columns
                .insert(feature_key(family, text), column as u32)
                .is_some()
            {
                return Err(ModelError::invalid(format!(
                    "feature {:?} twice",
                    feature.feature
                )));
            }
            if let Some((class, _)) = feature.weights.iter().find(|w| w.0 as usize >= classes) {
                return Err(ModelError::invalid(format!(
                    "feature {:?} weighs class {class} of {classes}",
                    feature.feature
                )));
            }
            model.names.push(feature.feature.clone());
            model.text.push(family.is_text());
            model.entries.extend(&feature.weights);
            model.offsets.push(model.entries.len() as u32);
        }
        Ok(model)
    }

    /// The stored version.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The probability from which it decides, set at training.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The units it can suggest now (after retirements).
    pub fn live_units(&self) -> &[UnitId] {
        &self.live
    }

    /// How many features it knows.
    pub fn feature_count(&self) -> usize {
        self.names.len()
    }

    /// The most probable existing unit, with its probability; `None` when
    /// every unit the model knows has been retired without successor.
    pub fn suggest(&self, input: &RoutingInput<'_>) -> Option<Suggestion> {
        self.with_probabilities(input, |probabilities, _| {
            let (best, p) = probabilities
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
            Some(Suggestion {
                unit: self.live[best].clone(),
                probability: *p,
            })
        })
    }

    /// The `top` most probable units and the `decisive` features that
    /// weighed most for the first.
    pub fn explain(
        &self,
        input: &RoutingInput<'_>,
        top: usize,
        decisive: usize,
    ) -> ModelExplanation {
        self.with_probabilities(input, |probabilities, vector| {
            let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut features: Vec<(String, f32)> = match ranked.first() {
                Some(&(best, _)) => vector
                    .iter()
                    .map(|&(column, value)| {
                        let weight: f32 = self
                            .weights(column)
                            .iter()
                            .filter(|(class, _)| self.targets[*class as usize] == Some(best as u32))
                            .map(|(_, w)| w)
                            .sum();
                        (self.names[column as usize].clone(), weight * value)
                    })
                    .filter(|(_, contribution)| *contribution > 0.0)
                    .collect(),
                None => Vec::new(),
            };
            features.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            features.truncate(decisive);
            ModelExplanation {
                units: ranked
                    .into_iter()
                    .take(top)
                    .map(|(i, p)| Suggestion {
                        unit: self.live[i].clone(),
                        probability: p,
                    })
                    .collect(),
                decisive: features,
            }
        })
    }

    fn weights(&self, column: u32) -> &[(u32, f32)] {
        let c = column as usize;
        &self.entries[self.offsets[c] as usize..self.offsets[c + 1] as usize]
    }

    /// Runs `f` with the probability of each live unit and the ticket's
    /// feature vector `(column, value)`.
    fn with_probabilities<T>(
        &self,
        input: &RoutingInput<'_>,
        f: impl FnOnce(&[f32], &[(u32, f32)]) -> T,
    ) -> T {
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let s = &mut *guard;
            self.vector(input, s);
            s.scores.clear();
            s.scores.extend_from_slice(&self.intercepts);
            for &(column, value) in &s.values {
                for &(class, weight) in self.weights(column) {
                    s.scores[class as usize] += weight * value;
                }
            }
            softmax(&mut s.scores);
            s.live.clear();
            s.live.resize(self.live.len(), 0.0);
            for (class, p) in s.scores.iter().enumerate() {
                if let Some(target) = self.targets[class] {
                    s.live[target as usize] += p;
                }
            }
            f(&s.live, &s.values)
        })
    }

    /// The ticket's feature vector into `s.values`.
    fn vector(&self, input: &RoutingInput<'_>, s: &mut Scratch) {
        if s.counts.len() < self.names.len() {
            s.counts.resize(self.names.len(), 0);
        }
        let Scratch {
            text,
            counts,
            touched,
            entries,
            values: out,
            ..
        } = s;
        touched.clear();
        for_each_feature(&self.spec, input, text, |family, feature| {
            if let Some(&column) = self.columns.get(&feature_key(family, feature)) {
                let count = &mut counts[column as usize];
                if *count == 0 {
                    touched.push(column);
                }
                *count += 1;
            }
        });
        entries.clear();
        for &column in touched.iter() {
            let c = column as usize;
            entries.push((column, self.text[c], counts[c]));
            counts[c] = 0;
        }
        values(entries, out);
    }
}

/// In place, numerically stable.
pub(crate) fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 {
        for s in scores.iter_mut() {
            *s /= sum;
        }
    }
}
