//! The learned dispatch suggestion (issue #18): a model trained on the
//! centre's closed tickets — what they said (title and description), where
//! (region), what about (subject), through which retired hotline — and the
//! lead unit that finally answered for them after returns and arbitration.
//!
//! One module a job: [`features`] (what the model reads of a ticket),
//! [`train`] (linfa's multinomial logistic regression on closed tickets),
//! [`model`] (the stored parameters and sparse in-process inference),
//! [`successions`] (retired and renamed units, at training and at
//! inference), [`combine`] (rules first, then the model, then the
//! fallback), [`evaluate`] (accuracy, macro-F1, confusion, folds).
//!
//! Pure: no I/O, no clock. The server stores the parameters per version
//! and compiles the active one; `hotline bench dispatch-model` evaluates
//! it on the real messages.

pub mod combine;
pub mod evaluate;
pub mod features;
pub mod model;
pub mod successions;
pub mod train;

#[cfg(test)]
mod tests;

pub use combine::{Policy, decide};
pub use evaluate::{Confusion, HeldOutMetrics, fold_of, held_out, held_out_metrics};
pub use features::FeatureSpec;
pub use model::{DispatchModel, ModelError, ModelExplanation, ModelParams, Suggestion};
pub use successions::{Relabelled, Successions};
pub use train::{TrainingOptions, TrainingTicket, train};
