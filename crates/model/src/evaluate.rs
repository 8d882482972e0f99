//! Measures of a dispatch: accuracy, macro-F1 and the confusion table,
//! and the split of tickets into folds and a held-out share.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::{
    features::{Family, feature_key},
    model::DispatchModel,
    train::TrainingTicket,
};

/// The fold of a ticket among `folds`, fixed by its id: numeric ids (the
/// messages' 留言编号) by `id mod folds`, others by a hash of the id.
pub fn fold_of(id: &str, folds: u32) -> u32 {
    let folds = u64::from(folds.max(1));
    let n = id
        .parse::<u64>()
        .unwrap_or_else(|_| feature_key(Family::Word, id));
    (n % folds) as u32
}

/// Whether a ticket is held out of training to measure the model: one in
/// five, fixed by its id.
pub fn held_out(id: &str) -> bool {
    fold_of(id, 5) == 0
}

/// Truth against decision, over a fixed list of labels; a decision
/// outside the labels (or none: triage) is its own column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    labels: Vec<String>,
    /// `counts[truth][decided]`, the last column for "none of the labels".
    counts: Vec<Vec<u32>>,
}

impl Confusion {
    /// An empty table over `labels`.
    pub fn new(labels: Vec<String>) -> Self {
        let n = labels.len();
        Self {
            labels,
            counts: vec![vec![0; n + 1]; n],
        }
    }

    /// Counts one decision; a truth outside the labels is ignored.
    pub fn add(&mut self, truth: &str, decided: Option<&str>) {
        let Some(row) = self.labels.iter().position(|l| l == truth) else {
            return;
        };
        let col = decided
            .and_then(|d| self.labels.iter().position(|l| l == d))
            .unwrap_or(self.labels.len());
        self.counts[row][col] += 1;
    }

    /// Decisions counted.
    pub fn total(&self) -> u32 {
        self.counts.iter().flatten().sum()
    }

    /// Right decisions.
    pub fn correct(&self) -> u32 {
        (0..self.labels.len()).map(|i| self.counts[i][i]).sum()
    }

    /// Share of right decisions (0 when empty).
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// The mean over labels that occur (as truth or decision) of F1 =
    /// 2·precision·recall / (precision + recall); a decision of none
    /// counts against recall only.
    pub fn macro_f1(&self) -> f64 {
        let n = self.labels.len();
        let mut sum = 0.0;
        let mut labels = 0;
        for i in 0..n {
            let truth: u32 = self.counts[i].iter().sum();
            let decided: u32 = (0..n).map(|r| self.counts[r][i]).sum();
            if truth == 0 && decided == 0 {
                continue;
            }
            labels += 1;
            let tp = f64::from(self.counts[i][i]);
            if tp > 0.0 {
                let precision = tp / f64::from(decided);
                let recall = tp / f64::from(truth);
                sum += 2.0 * precision * recall / (precision + recall);
            }
        }
        if labels == 0 {
            0.0
        } else {
            sum / f64::from(labels)
        }
    }

    /// The table as text: a row per truth, a column per decision, recall.
    pub fn render(&self, none: &str) -> String {
        let cell = |s: &str, width: usize| {
            let shown: usize = s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
            format!("{}{s}", " ".repeat(width.saturating_sub(shown)))
        };
        let mut out = cell("truth \\ decided", 16);
        for label in self.labels.iter().map(String::as_str).chain([none]) {
            out.push_str(&cell(label, 16));
        }
        let _ = writeln!(out, "{}", cell("recall", 9));
        for (i, label) in self.labels.iter().enumerate() {
            out.push_str(&cell(label, 16));
            for n in &self.counts[i] {
                out.push_str(&cell(&n.to_string(), 16));
            }
            let total: u32 = self.counts[i].iter().sum();
            let recall = ratio(self.counts[i][i], total) * 100.0;
            let _ = writeln!(out, "{}", cell(&format!("{recall:.1} %"), 9));
        }
        out
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

/// How a stored model did on the tickets held out of its training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeldOutMetrics {
    /// Tickets held out.
    pub tickets: u32,
    /// Share whose top unit was right.
    pub accuracy: f64,
    /// Macro-F1 over units.
    pub macro_f1: f64,
    /// The probability threshold in force at training.
    pub min_probability: f32,
    /// Share at or above the threshold (the model would decide them).
    pub coverage: f64,
    /// Share right among those.
    pub confident_accuracy: f64,
}

/// Measures `model` on `tickets` (labelled with the unit answering now).
pub fn held_out_metrics(
    model: &DispatchModel,
    tickets: &[TrainingTicket],
    min_probability: f32,
) -> HeldOutMetrics {
    let mut labels: Vec<String> = tickets.iter().map(|t| t.unit.clone()).collect();
    labels.sort();
    labels.dedup();
    let mut all = Confusion::new(labels);
    let (mut confident, mut confident_right) = (0u32, 0u32);
    for ticket in tickets {
        let suggestion = model.suggest(&ticket.input());
        let unit = suggestion.as_ref().map(|s| s.unit.as_str());
        all.add(&ticket.unit, unit);
        if let Some(s) = &suggestion
            && s.probability >= min_probability
        {
            confident += 1;
            confident_right += u32::from(s.unit.as_str() == ticket.unit);
        }
    }
    HeldOutMetrics {
        tickets: all.total(),
        accuracy: all.accuracy(),
        macro_f1: all.macro_f1(),
        min_probability,
        coverage: ratio(confident, all.total()),
        confident_accuracy: ratio(confident_right, confident),
    }
}
