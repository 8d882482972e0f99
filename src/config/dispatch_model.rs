//! The learned dispatch suggestion (docs/dispatch-model.md): when the
//! model may decide, and how much history a training reads.

use serde::{Deserialize, Serialize};

use super::Invalid;
use hotline_model::{Policy, TrainingOptions};

/// `[dispatch_model]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchModelSettings {
    /// Route with the active model at intake (and show it in
    /// ExplainRouting); off, only the rules decide even when a model is
    /// active.
    pub enabled: bool,
    /// Rules of at least this priority win over the model.
    pub rule_priority_floor: i32,
    /// The model decides at or above this probability; 0, at the
    /// threshold each model version set at training (see `min_precision`).
    /// (A number rather than an option: the environment layer cannot
    /// parse a number inside an option.)
    pub min_probability: f64,
    /// The precision a model's decisions must have had on the tickets held
    /// out of its training; sets the version's threshold.
    pub min_precision: f64,
    /// The newest closed tickets a training reads at most.
    pub max_training_tickets: u32,
    /// Features a model keeps at most (those in the most tickets).
    pub max_features: usize,
    /// Iterations of the solver at most.
    pub max_iterations: u64,
}

impl Default for DispatchModelSettings {
    fn default() -> Self {
        let policy = Policy::default();
        let training = TrainingOptions::default();
        Self {
            enabled: true,
            rule_priority_floor: policy.rule_priority_floor,
            min_probability: policy.min_probability.map_or(0.0, f64::from),
            // The f32 default widened would print as 0.8999999761581421.
            min_precision: 0.9,
            max_training_tickets: 5000,
            max_features: training.max_features,
            max_iterations: training.max_iterations,
        }
    }
}

impl DispatchModelSettings {
    /// When the model decides.
    pub fn policy(&self) -> Policy {
        Policy {
            rule_priority_floor: self.rule_priority_floor,
            min_probability: (self.min_probability > 0.0).then_some(self.min_probability as f32),
        }
    }

    /// How a model is trained.
    pub fn training(&self) -> TrainingOptions {
        TrainingOptions {
            max_features: self.max_features,
            max_iterations: self.max_iterations,
            min_precision: self.min_precision as f32,
            ..TrainingOptions::default()
        }
    }

    pub(super) fn check(&self) -> Result<(), Invalid> {
        let probability = |p: f64| p > 0.0 && p <= 1.0;
        if self.min_probability != 0.0 && !probability(self.min_probability) {
            return Err(Invalid::new(
                "dispatch_model.min_probability",
                "must be 0 (the version's own threshold), or above 0 and at most 1",
            ));
        }
        if !probability(self.min_precision) {
            return Err(Invalid::new(
                "dispatch_model.min_precision",
                "must be above 0 and at most 1",
            ));
        }
        if !(10..=1_000_000).contains(&self.max_training_tickets) {
            return Err(Invalid::new(
                "dispatch_model.max_training_tickets",
                "must be between 10 and 1000000",
            ));
        }
        if !(16..=65_536).contains(&self.max_features) {
            return Err(Invalid::new(
                "dispatch_model.max_features",
                "must be between 16 and 65536",
            ));
        }
        if !(1..=10_000).contains(&self.max_iterations) {
            return Err(Invalid::new(
                "dispatch_model.max_iterations",
                "must be between 1 and 10000",
            ));
        }
        Ok(())
    }
}
