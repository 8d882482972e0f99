//! The check pass of an import: counts by state, bad rows with every
//! problem (row, column, reason), and each value the mapping does not list
//! with how often it occurs and the first rows holding it — what an
//! operator needs to complete the mapping before the real run.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
};

use super::{
    mapping::ImportState,
    row::{LegacyRow, Problem},
};

/// Problem lines kept for the report; the rest are counted.
const PROBLEMS_SHOWN: usize = 1000;

/// Rows seen so far.
#[derive(Debug)]
pub(crate) struct Scan {
    examples: usize,
    good: u64,
    bad: u64,
    by_state: BTreeMap<ImportState, u64>,
    /// Each retired-hotline number and the first row holding it.
    firsts: HashMap<String, u64>,
    /// (table, value) → rows holding it, and the first of them.
    unmapped: BTreeMap<(&'static str, String), (u64, Vec<u64>)>,
    problems: Vec<Problem>,
    problem_count: u64,
}

impl Scan {
    /// An empty scan keeping `examples` rows per unmapped value.
    pub(crate) fn new(examples: usize) -> Self {
        Self {
            examples,
            good: 0,
            bad: 0,
            by_state: BTreeMap::new(),
            firsts: HashMap::new(),
            unmapped: BTreeMap::new(),
            problems: Vec::new(),
            problem_count: 0,
        }
    }

    /// Counts one checked row; a number already seen makes it bad.
    pub(crate) fn add(&mut self, line: u64, checked: Result<LegacyRow, Vec<Problem>>) {
        let problems = match checked {
            Ok(row) => match self.firsts.get(&row.number) {
                Some(first) => vec![Problem {
                    line,
                    column: String::new(),
                    reason: format!("number {:?} repeats row {first}", row.number),
                    unmapped: None,
                }],
                None => {
                    self.firsts.insert(row.number, line);
                    *self.by_state.entry(row.state).or_insert(0) += 1;
                    self.good += 1;
                    return;
                }
            },
            Err(problems) => problems,
        };
        self.bad += 1;
        for p in problems {
            if let Some(key) = p.unmapped.clone() {
                let (count, rows) = self.unmapped.entry(key).or_default();
                *count += 1;
                if rows.len() < self.examples {
                    rows.push(p.line);
                }
            }
            self.problem_count += 1;
            if self.problems.len() < PROBLEMS_SHOWN {
                self.problems.push(p);
            }
        }
    }

    /// Rows that can be imported.
    pub(crate) fn good_rows(&self) -> u64 {
        self.good
    }

    /// Rows skipped (or refused with `--strict`).
    pub(crate) fn bad_rows(&self) -> u64 {
        self.bad
    }

    /// The importable rows' numbers.
    pub(crate) fn numbers(&self) -> Vec<String> {
        self.firsts.keys().cloned().collect()
    }

    /// Each number's first row: later rows with it are repeats.
    pub(crate) fn first_lines(&self) -> &HashMap<String, u64> {
        &self.firsts
    }

    /// Every problem, one line each (up to [`PROBLEMS_SHOWN`]).
    pub(crate) fn problems_text(&self) -> String {
        let mut out = String::new();
        for p in &self.problems {
            let _ = writeln!(out, "{p}");
        }
        let hidden = self.problem_count - self.problems.len() as u64;
        if hidden > 0 {
            let _ = writeln!(out, "… and {hidden} more problems");
        }
        out
    }

    /// The dry run's report.
    pub(crate) fn report(&self, source: &str, already: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "source: {source}");
        let _ = writeln!(out, "rows: {}", self.good + self.bad);
        let states: Vec<String> = self
            .by_state
            .iter()
            .map(|(state, n)| format!("{} {n}", state.label()))
            .collect();
        let _ = writeln!(
            out,
            "importable: {} ({})",
            self.good,
            if states.is_empty() {
                "none".into()
            } else {
                states.join(", ")
            }
        );
        let _ = writeln!(out, "already imported: {already}");
        let _ = writeln!(out, "bad rows: {}", self.bad);
        if !self.unmapped.is_empty() {
            let _ = writeln!(out, "unmapped values:");
            for ((table, value), (count, rows)) in &self.unmapped {
                let rows: Vec<String> = rows.iter().map(u64::to_string).collect();
                let _ = writeln!(
                    out,
                    "  [{table}] {value:?}: {count} row(s), e.g. rows {}",
                    rows.join(", ")
                );
            }
        }
        if !self.problems.is_empty() {
            let _ = writeln!(out, "problems:");
            for line in self.problems_text().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unmapped(line: u64, value: &str) -> Problem {
        Problem {
            line,
            column: "单位".into(),
            reason: format!("{value:?} is not in the mapping's [units]"),
            unmapped: Some(("units", value.into())),
        }
    }

    fn good(line: u64, number: &str) -> LegacyRow {
        use chrono::{TimeZone, Utc};
        use hotline::domain::{Caller, UnitId};
        let at = Utc.with_ymd_and_hms(2025, 9, 1, 1, 0, 0).unwrap();
        LegacyRow {
            line,
            number: number.into(),
            created: at,
            dispatched: at,
            caller: Caller::parse("", "", true).unwrap(),
            title: "路灯不亮".into(),
            text: "路灯不亮".into(),
            subject: None,
            unit: UnitId::parse("urban-management").unwrap(),
            state: ImportState::Dispatched,
            reply: None,
            rating: None,
            address: String::new(),
        }
    }

    #[test]
    fn a_repeated_number_is_a_bad_row_naming_the_first() {
        let mut scan = Scan::new(5);
        scan.add(2, Ok(good(2, "A-1")));
        scan.add(3, Ok(good(3, "A-2")));
        scan.add(4, Ok(good(4, "A-1")));
        assert_eq!((scan.good_rows(), scan.bad_rows()), (2, 1));
        assert_eq!(scan.first_lines()["A-1"], 2);
        assert_eq!(
            scan.problems_text(),
            "row 4: number \"A-1\" repeats row 2\n"
        );
        let report = scan.report("12319", 1);
        assert!(report.contains("importable: 2 (dispatched 2)"), "{report}");
        assert!(report.contains("already imported: 1"), "{report}");
    }

    #[test]
    fn unmapped_values_are_counted_with_their_first_rows() {
        let mut scan = Scan::new(2);
        for line in [3, 5, 8] {
            scan.add(line, Err(vec![unmapped(line, "区城管局")]));
        }
        scan.add(9, Err(vec![unmapped(9, "区水务局")]));
        let report = scan.report("12315", 0);
        assert!(report.contains("bad rows: 4"), "{report}");
        assert!(
            report.contains("[units] \"区城管局\": 3 row(s), e.g. rows 3, 5"),
            "{report}"
        );
        assert!(report.contains("[units] \"区水务局\": 1 row(s), e.g. rows 9"));
        assert!(report.contains("row 8, column 单位"), "{report}");
        assert_eq!(scan.good_rows(), 0);
    }
}
