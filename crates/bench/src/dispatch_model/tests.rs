#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use super::{DispatchModelOptions, render, run};

/// The cross-validation on the repository's 286 real messages with the
/// server's defaults, pinned just below what it reaches (docs/dispatch-model.md:
/// rules 250/286 = 87.4 %, macro-F1 0.871; model alone 196/286 = 68.5 %;
/// combined 253/286 = 88.5 %, macro-F1 0.884): a change that makes the
/// model or its combination worse fails here. One message of slack for
/// floating-point differences between machines.
#[test]
fn the_combination_beats_the_rules_on_the_real_messages() {
    let report = run(&DispatchModelOptions {
        bench_rounds: 1,
        ..DispatchModelOptions::defaults()
    })
    .unwrap();
    println!("{}", render(&report));
    assert_eq!(report.messages, 286);
    assert_eq!(
        report.tuned.rules.correct, 250,
        "the catalogue is not under test here"
    );
    assert!(
        report.model.correct >= 195,
        "model alone: {:?}",
        report.model
    );
    assert!(
        report.model.macro_f1 >= 0.62,
        "model alone: {:?}",
        report.model
    );
    assert!(
        report.tuned.combined.correct >= 252,
        "combined: {:?}",
        report.tuned.combined
    );
    assert!(
        report.tuned.combined.macro_f1 >= 0.877,
        "combined: {:?}",
        report.tuned.combined
    );
    assert!(
        report.tuned.combined.correct > report.tuned.rules.correct
            && report.tuned.combined.macro_f1 > report.tuned.rules.macro_f1,
        "the combination beats the rules: {:?} vs {:?}",
        report.tuned.combined,
        report.tuned.rules
    );
}
