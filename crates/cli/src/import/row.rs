//! One export row checked against the mapping: the fields of a ticket, or
//! every problem found with it (row, column, reason), so an operator fixes
//! a file in one pass rather than one error per run. Pure: no database.

use std::collections::HashMap;

use anyhow::bail;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use super::{
    mapping::{ImportState, Mapping},
    source::{CELL_TIME_FORMAT, RawRow},
};
use hotline::domain::{
    Caller, DomainError, SubjectCode, UnitId,
    ticket::{Satisfaction, parse_text},
};

/// Longest retired-hotline number kept.
const MAX_NUMBER: usize = 64;
/// Longest title, description and reply: what the live API accepts
/// (`CreateTicket`'s title and description, `ReplyTicket`'s reply).
const MAX_TITLE: usize = 100;
const MAX_TEXT: usize = 4000;
const MAX_REPLY: usize = 4000;
/// Longest address, as `CreateTicket` takes it.
const MAX_ADDRESS: usize = 200;
/// Characters of the text taken as title when the file has no title.
const TITLE_FROM_TEXT: usize = 30;

/// Where each mapped column sits in the file's header.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    number: usize,
    created: usize,
    dispatched: Option<usize>,
    caller_name: Option<usize>,
    caller_phone: Option<usize>,
    title: Option<usize>,
    text: usize,
    category: Option<usize>,
    unit: usize,
    state: usize,
    reply: Option<usize>,
    replied: Option<usize>,
    rating: Option<usize>,
    address: Option<usize>,
}

impl Layout {
    /// Finds the mapping's columns in `header`; a column the mapping names
    /// but the file lacks is an error naming it.
    pub(crate) fn resolve(mapping: &Mapping, header: &[String]) -> anyhow::Result<Self> {
        let index: HashMap<&str, usize> = header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim(), i))
            .collect();
        let mut missing = Vec::new();
        let mut find = |name: &str| -> usize {
            index.get(name).copied().unwrap_or_else(|| {
                missing.push(name.to_owned());
                usize::MAX
            })
        };
        let c = &mapping.columns;
        let mut optional = |name: &Option<String>| name.as_deref().map(&mut find);
        let layout = Self {
            dispatched: optional(&c.dispatched),
            caller_name: optional(&c.caller_name),
            caller_phone: optional(&c.caller_phone),
            title: optional(&c.title),
            category: optional(&c.category),
            reply: optional(&c.reply),
            replied: optional(&c.replied),
            rating: optional(&c.rating),
            address: optional(&c.address),
            number: find(&c.number),
            created: find(&c.created),
            text: find(&c.text),
            unit: find(&c.unit),
            state: find(&c.state),
        };
        if !missing.is_empty() {
            bail!(
                "the file has no column {} (named in the mapping's [columns]); its columns: {}",
                missing.join(", "),
                header.join(", ")
            );
        }
        Ok(layout)
    }
}

/// A row that can become a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LegacyRow {
    /// The row's number in the file.
    pub line: u64,
    /// Its number in the retired hotline.
    pub number: String,
    /// When the call was taken.
    pub created: DateTime<Utc>,
    /// When it was dispatched (not before `created`).
    pub dispatched: DateTime<Utc>,
    /// Who called (anonymous without a phone).
    pub caller: Caller,
    /// Short title.
    pub title: String,
    /// The request.
    pub text: String,
    /// Mapped category.
    pub subject: Option<SubjectCode>,
    /// Mapped handling unit.
    pub unit: UnitId,
    /// Where it enters the lifecycle.
    pub state: ImportState,
    /// The unit's reply and when (replied and closed rows).
    pub reply: Option<(String, DateTime<Utc>)>,
    /// The citizen's rating (closed rows).
    pub rating: Option<Satisfaction>,
    /// Address of the matter.
    pub address: String,
}

/// What is wrong with one cell of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Row number in the file.
    pub line: u64,
    /// The file's column name.
    pub column: String,
    /// Why, in plain words.
    pub reason: String,
    /// Set when the value is one the mapping's tables do not list: the
    /// table and the value, which `--dry-run` gathers with examples.
    pub unmapped: Option<(&'static str, String)>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            // About the whole row (a repeat, a refused transition).
            write!(f, "row {}: {}", self.line, self.reason)
        } else {
            write!(
                f,
                "row {}, column {}: {}",
                self.line, self.column, self.reason
            )
        }
    }
}

/// Checks rows against a mapping; times are local to `offset`, and none
/// may be after `now`.
#[derive(Debug)]
pub(crate) struct RowChecker<'m> {
    /// The mapping.
    pub mapping: &'m Mapping,
    /// Column positions.
    pub layout: Layout,
    /// The centre's UTC offset, for the file's local times.
    pub offset: FixedOffset,
    /// Nothing may have happened after this.
    pub now: DateTime<Utc>,
}

impl RowChecker<'_> {
    /// The row as ticket fields, or all of its problems.
    pub(crate) fn check(&self, raw: &RawRow) -> Result<LegacyRow, Vec<Problem>> {
        let mut cx = Cx {
            raw,
            problems: Vec::new(),
        };
        let c = &self.mapping.columns;
        let m = self.mapping;
        let number = cx
            .required(self.layout.number, &c.number)
            .and_then(|n| cx.text(&c.number, n, true, MAX_NUMBER));
        let created = cx
            .required(self.layout.created, &c.created)
            .and_then(|t| self.time(&mut cx, &c.created, t));
        let dispatched = match (self.layout.dispatched, &c.dispatched) {
            (Some(i), Some(name)) if !cx.cell(i).is_empty() => {
                let raw = cx.cell(i);
                self.time(&mut cx, name, raw)
            }
            _ => created,
        };
        if let (Some(a), Some(b), Some(name)) = (created, dispatched, &c.dispatched)
            && b < a
        {
            cx.problem(name, "before the creation time".into(), None);
        }
        let caller = {
            let name = self.layout.caller_name.map_or("", |i| cx.cell(i));
            let phone = self.layout.caller_phone.map_or("", |i| cx.cell(i));
            let column = c.caller_phone.as_deref().unwrap_or("caller_phone");
            match Caller::parse(name, phone, phone.is_empty()) {
                Ok(caller) => Some(caller),
                Err(e) => {
                    cx.problem(column, e.to_string(), None);
                    None
                }
            }
        };
        let text = cx
            .required(self.layout.text, &c.text)
            .and_then(|t| cx.text(&c.text, t, true, MAX_TEXT));
        let title = match self.layout.title.map(|i| cx.cell(i)) {
            Some(t) if !t.is_empty() => {
                let column = c.title.as_deref().unwrap_or("title");
                cx.text(column, t, true, MAX_TITLE)
            }
            _ => text
                .as_deref()
                .map(|t| t.chars().take(TITLE_FROM_TEXT).collect()),
        };
        let subject = match (self.layout.category, &c.category) {
            (Some(i), Some(column)) if !cx.cell(i).is_empty() => {
                Some(cx.lookup(column, i, "categories", &m.categories))
            }
            _ => None,
        };
        let unit = cx
            .required(self.layout.unit, &c.unit)
            .map(|_| cx.lookup(&c.unit, self.layout.unit, "units", &m.units));
        let state = cx
            .required(self.layout.state, &c.state)
            .map(|_| cx.lookup(&c.state, self.layout.state, "states", &m.states));
        let state = state.flatten();
        let mut reply = None;
        if state.is_some_and(ImportState::has_reply) {
            let text = match (self.layout.reply, &c.reply) {
                (Some(i), Some(name)) => cx
                    .required(i, name)
                    .and_then(|t| cx.text(name, t, true, MAX_REPLY)),
                _ => cx.missing_column("reply"),
            };
            let at = match (self.layout.replied, &c.replied) {
                (Some(i), Some(name)) => cx
                    .required(i, name)
                    .and_then(|t| self.time(&mut cx, name, t)),
                _ => cx.missing_column("replied"),
            };
            if let (Some(at), Some(from), Some(name)) = (at, dispatched, &c.replied)
                && at < from
            {
                cx.problem(name, "before the dispatch time".into(), None);
            }
            reply = text.zip(at);
        }
        let rating = match (self.layout.rating, &c.rating) {
            (Some(i), Some(column))
                if state == Some(ImportState::Closed) && !cx.cell(i).is_empty() =>
            {
                cx.lookup(column, i, "ratings", &m.ratings)
            }
            _ => None,
        };
        let address = self.layout.address.map_or("", |i| cx.cell(i));
        let address = cx
            .text(
                c.address.as_deref().unwrap_or("address"),
                address,
                false,
                MAX_ADDRESS,
            )
            .unwrap_or_default();
        if !cx.problems.is_empty() {
            return Err(cx.problems);
        }
        match (
            number, created, dispatched, caller, title, text, unit, state,
        ) {
            (
                Some(number),
                Some(created),
                Some(dispatched),
                Some(caller),
                Some(title),
                Some(text),
                Some(Some(unit)),
                Some(state),
            ) => Ok(LegacyRow {
                line: raw.line,
                number,
                created,
                dispatched,
                caller,
                title,
                text,
                subject: subject.flatten(),
                unit,
                state,
                reply,
                rating,
                address,
            }),
            // Every `None` above recorded a problem.
            _ => Err(vec![Problem {
                line: raw.line,
                column: String::new(),
                reason: "incomplete row".into(),
                unmapped: None,
            }]),
        }
    }

    /// A local time in one of the mapping's formats, not in the future.
    fn time(&self, cx: &mut Cx<'_>, column: &str, raw: &str) -> Option<DateTime<Utc>> {
        let parsed = self
            .mapping
            .time_formats
            .iter()
            .map(String::as_str)
            .chain([CELL_TIME_FORMAT])
            .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
            .and_then(|t| self.offset.from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc));
        match parsed {
            None => {
                let formats = self.mapping.time_formats.join(" or ");
                cx.problem(column, format!("{raw:?} is not a time ({formats})"), None);
                None
            }
            Some(t) if t > self.now => {
                cx.problem(column, format!("{raw:?} is in the future"), None);
                None
            }
            Some(t) => Some(t),
        }
    }
}

/// One row being checked: its cells and the problems found so far.
struct Cx<'a> {
    raw: &'a RawRow,
    problems: Vec<Problem>,
}

impl<'a> Cx<'a> {
    fn cell(&self, index: usize) -> &'a str {
        self.raw.cells.get(index).map_or("", |c| c.trim())
    }

    fn problem(&mut self, column: &str, reason: String, unmapped: Option<(&'static str, String)>) {
        self.problems.push(Problem {
            line: self.raw.line,
            column: column.to_owned(),
            reason,
            unmapped,
        });
    }

    fn required(&mut self, index: usize, column: &str) -> Option<&'a str> {
        let value = self.cell(index);
        if value.is_empty() {
            self.problem(column, "empty".into(), None);
            None
        } else {
            Some(value)
        }
    }

    /// `raw` as a ticket's text of at most `max` characters (trimmed, no
    /// NUL, not empty if `required`: what the live API accepts, so
    /// PostgreSQL's COPY never meets a byte it refuses halfway through an
    /// import), or a problem of `column` saying why not.
    fn text(&mut self, column: &str, raw: &str, required: bool, max: usize) -> Option<String> {
        match parse_text(raw, required, max) {
            Ok(text) => Some(text),
            Err(DomainError::InvalidField { message, .. }) => {
                self.problem(column, message, None);
                None
            }
            Err(other) => {
                self.problem(column, other.to_string(), None);
                None
            }
        }
    }

    fn missing_column<T>(&mut self, field: &str) -> Option<T> {
        self.problem(
            field,
            format!("a replied or closed row needs a {field} column ([columns] {field} = …)"),
            None,
        );
        None
    }

    fn lookup<T: Clone>(
        &mut self,
        column: &str,
        index: usize,
        table: &'static str,
        values: &std::collections::BTreeMap<String, T>,
    ) -> Option<T> {
        let value = self.cell(index);
        let found = values.get(value).cloned();
        if found.is_none() {
            self.problem(
                column,
                format!("{value:?} is not in the mapping's [{table}]"),
                Some((table, value.to_owned())),
            );
        }
        found
    }
}

#[cfg(test)]
#[path = "row_tests.rs"]
mod tests;
