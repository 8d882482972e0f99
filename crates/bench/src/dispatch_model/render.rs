//! The report of `hotline bench dispatch-model` as text.

use std::fmt::Write as _;

use hotline_model::Confusion;

use super::{DispatchModelReport, Leg, Score};

/// The column of messages no category was decided for.
const NONE: &str = "triage/none";

fn score(out: &mut String, name: &str, s: &Score) {
    let _ = writeln!(
        out,
        "  {name:<12} accuracy {:>5.1} % ({}/{})   macro-F1 {:.3}",
        s.accuracy * 100.0,
        s.correct,
        s.total,
        s.macro_f1
    );
}

fn leg(out: &mut String, title: &str, leg: &Leg) {
    let _ = writeln!(out, "{title}");
    score(out, "rules", &leg.rules);
    score(out, "combined", &leg.combined);
    let _ = writeln!(
        out,
        "  combined: the model decided {:.1} % of the messages; against the rules it gains {} and loses {} \
         (exact McNemar p = {:.3})",
        leg.by_model * 100.0,
        leg.gained,
        leg.lost,
        leg.mcnemar_p,
    );
}

fn table(out: &mut String, name: &str, table: &Confusion) {
    let _ = writeln!(
        out,
        "\n{name}: rows the labelled category, columns the category decided"
    );
    out.push_str(&table.render(NONE));
}

/// The report as text.
pub fn render(r: &DispatchModelReport) -> String {
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
    score(&mut out, "model", &r.model);
    leg(
        &mut out,
        "tuned rules (the demo catalogue, written while reading every message):",
        &r.tuned,
    );
    leg(
        &mut out,
        "unseen-fold rules (per fold, without the keywords only the held-out messages contain):",
        &r.unseen,
    );
    let _ = write!(
        out,
        "  dropped per fold: keywords {:?}, whole rules {:?} (beyond the {} keywords and {} rules no message contains)\n\
         training: {:.0} ms per fold, {:.0} features per model, penalty chosen per fold {:?}\n\
         cost per ticket (µs, p50 / p99): model {:.1} / {:.1}, rules {:.1} / {:.1}, combined {:.1} / {:.1}\n",
        r.unseen_keywords_dropped,
        r.unseen_rules_dropped,
        r.untaught.0,
        r.untaught.1,
        r.train_ms,
        r.features,
        r.regularization,
        r.model_cost.p50_us,
        r.model_cost.p99_us,
        r.rules_cost.p50_us,
        r.rules_cost.p99_us,
        r.combined_cost.p50_us,
        r.combined_cost.p99_us,
    );
    table(&mut out, "model", &r.model_table);
    table(&mut out, "tuned rules", &r.tuned.tables[0]);
    table(&mut out, "tuned rules + model", &r.tuned.tables[1]);
    table(&mut out, "unseen-fold rules", &r.unseen.tables[0]);
    table(&mut out, "unseen-fold rules + model", &r.unseen.tables[1]);
    out.push_str(
        "\nthreshold sweep, tuned rules + model (information only; the figures above use the policy):\n",
    );
    for p in &r.sweep {
        let _ = writeln!(
            out,
            "  min_probability {:.1}: accuracy {:>5.1} %, macro-F1 {:.3}, by model {:>5.1} %",
            p.min_probability,
            p.score.accuracy * 100.0,
            p.score.macro_f1,
            p.by_model * 100.0
        );
    }
    out
}
