//! The mapping file of `hotline import legacy`: how a retired hotline's
//! export reads as tickets — which column holds which field, how its times
//! are written, and what its categories, units, states and ratings are here.
//!
//! Parsed strictly (`deny_unknown_fields`: a misspelt key is an error, not
//! a silently ignored column) and checked whole before any row is read, so
//! a wrong mapping stops the import before anything is written.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::Deserialize;

use hotline::domain::{
    SubjectCode, UnitId,
    text_enum::TextEnum,
    ticket::{Channel, RequestType, Satisfaction, parse_legacy_hotline},
};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    source: String,
    #[serde(default = "default_time_formats")]
    time_formats: Vec<String>,
    #[serde(default = "default_request_type")]
    request_type: String,
    #[serde(default = "default_channel")]
    channel: String,
    columns: Columns,
    #[serde(default)]
    categories: BTreeMap<String, String>,
    units: BTreeMap<String, String>,
    states: BTreeMap<String, ImportState>,
    #[serde(default)]
    ratings: BTreeMap<String, String>,
}

fn default_time_formats() -> Vec<String> {
    vec!["%Y-%m-%d %H:%M:%S".into(), "%Y-%m-%d %H:%M".into()]
}

fn default_request_type() -> String {
    RequestType::Complaint.code().into()
}

fn default_channel() -> String {
    Channel::Phone.code().into()
}

/// The file's column (header) name of each field; optional fields may be
/// left out when the export has no such column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Columns {
    /// The ticket's number in the retired hotline (required).
    pub number: String,
    /// When the call was taken (required).
    pub created: String,
    /// When it was dispatched to the unit; the creation time when absent.
    pub dispatched: Option<String>,
    /// Caller's name.
    pub caller_name: Option<String>,
    /// Caller's phone; a row without one is imported as anonymous.
    pub caller_phone: Option<String>,
    /// Short title; the first characters of the text when absent.
    pub title: Option<String>,
    /// The request in the caller's words (required).
    pub text: String,
    /// The hotline's category, mapped through `[categories]`.
    pub category: Option<String>,
    /// The handling unit, mapped through `[units]` (required).
    pub unit: String,
    /// The state, mapped through `[states]` (required).
    pub state: String,
    /// The unit's reply (required for replied and closed rows).
    pub reply: Option<String>,
    /// When the unit replied (required for replied and closed rows).
    pub replied: Option<String>,
    /// The citizen's rating, mapped through `[ratings]`.
    pub rating: Option<String>,
    /// Address of the matter.
    pub address: Option<String>,
}

/// Where an imported ticket enters the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ImportState {
    /// Open: dispatched to the unit, not signed for.
    Dispatched,
    /// Open: signed for and being handled.
    InProgress,
    /// Replied, waiting for the centre's callback.
    Replied,
    /// Finished in the retired hotline.
    Closed,
}

impl ImportState {
    /// Still being handled: it enters the workflow (deadlines, sweeper).
    pub(crate) fn is_open(self) -> bool {
        !matches!(self, Self::Closed)
    }

    /// The unit has replied.
    pub(crate) fn has_reply(self) -> bool {
        matches!(self, Self::Replied | Self::Closed)
    }

    /// Its label in reports.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Dispatched => "dispatched",
            Self::InProgress => "in_progress",
            Self::Replied => "replied",
            Self::Closed => "closed",
        }
    }
}

/// A checked mapping: every value parsed into the type it maps to.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    /// The retired hotline's number, e.g. `12315`.
    pub source: String,
    /// `chrono` formats of the file's times, tried in order.
    pub time_formats: Vec<String>,
    /// Request type of every imported ticket.
    pub request_type: RequestType,
    /// Channel of every imported ticket.
    pub channel: Channel,
    /// Column names.
    pub columns: Columns,
    /// Category → subject code.
    pub categories: BTreeMap<String, SubjectCode>,
    /// Unit name or code → directory unit.
    pub units: BTreeMap<String, UnitId>,
    /// State value → lifecycle entry.
    pub states: BTreeMap<String, ImportState>,
    /// Rating value → satisfaction.
    pub ratings: BTreeMap<String, Satisfaction>,
}

impl Mapping {
    /// Parses and checks a mapping file's text; errors name the key.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let file: MappingFile = toml::from_str(text)?;
        let source = parse_legacy_hotline(&file.source)
            .ok()
            .flatten()
            .with_context(|| {
                format!(
                    "source = {:?}: must be a 5-digit 123xx hotline number, e.g. 12315",
                    file.source
                )
            })?;
        if file.time_formats.is_empty() {
            bail!("time_formats: give at least one format, e.g. \"%Y-%m-%d %H:%M:%S\"");
        }
        let request_type = RequestType::from_code(&file.request_type).with_context(|| {
            format!("request_type = {:?}: not a request type", file.request_type)
        })?;
        let channel = Channel::from_code(&file.channel)
            .with_context(|| format!("channel = {:?}: not a channel", file.channel))?;
        if file.units.is_empty() {
            bail!("[units]: map at least one unit of the file to a directory unit");
        }
        if file.states.is_empty() {
            bail!("[states]: map at least one state value");
        }
        Ok(Self {
            source,
            time_formats: file.time_formats,
            request_type,
            channel,
            columns: file.columns,
            categories: table(&file.categories, "categories", |v| {
                SubjectCode::parse(v).ok()
            })?,
            units: table(&file.units, "units", |v| UnitId::parse(v).ok())?,
            states: file.states,
            ratings: table(&file.ratings, "ratings", Satisfaction::from_code)?,
        })
    }

    /// The directory units the mapping names, each once.
    pub(crate) fn unit_ids(&self) -> Vec<&UnitId> {
        let mut ids: Vec<&UnitId> = self.units.values().collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// Parses every value of a `[name]` table, naming the first bad entry.
fn table<T>(
    raw: &BTreeMap<String, String>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<BTreeMap<String, T>> {
    raw.iter()
        .map(|(key, value)| match parse(value) {
            Some(parsed) => Ok((key.clone(), parsed)),
            None => bail!(
                "[{name}] {key:?} = {value:?}: not a valid {}",
                singular(name)
            ),
        })
        .collect()
}

fn singular(table: &str) -> &'static str {
    match table {
        "categories" => "subject code",
        "units" => "unit id",
        _ => {
            "rating (very_satisfied, satisfied, basically_satisfied, dissatisfied, very_dissatisfied)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
source = "12315"
time_formats = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M"]

[columns]
number = "投诉编号"
created = "登记时间"
dispatched = "派单时间"
caller_name = "来电人"
caller_phone = "联系电话"
text = "诉求内容"
category = "问题分类"
unit = "承办单位"
state = "办理状态"
reply = "答复内容"
replied = "答复时间"
rating = "满意度"

[categories]
"食品安全" = "05.01"

[units]
"市市场监管局" = "market-bureau"

[states]
"已派单" = "dispatched"
"已办结" = "closed"

[ratings]
"满意" = "satisfied"
"#;

    #[test]
    fn the_example_parses_into_typed_tables() {
        let m = Mapping::parse(EXAMPLE).expect("valid");
        assert_eq!(m.source, "12315");
        assert_eq!(m.units["市市场监管局"].as_str(), "market-bureau");
        assert_eq!(m.states["已办结"], ImportState::Closed);
        assert_eq!(m.ratings["满意"], Satisfaction::Satisfied);
        assert_eq!(m.request_type, RequestType::Complaint);
        assert_eq!(m.unit_ids().len(), 1);
    }

    #[test]
    fn an_unknown_key_is_an_error_not_ignored() {
        let text = EXAMPLE.replace("[columns]", "[columns]\nhandler = \"经办人\"");
        let err = Mapping::parse(&text).expect_err("unknown column key");
        assert!(format!("{err:#}").contains("handler"), "{err:#}");
    }

    #[test]
    fn a_bad_source_is_named() {
        let text = EXAMPLE.replace("source = \"12315\"", "source = \"315\"");
        let err = Mapping::parse(&text).expect_err("bad source");
        assert!(format!("{err:#}").contains("source = \"315\""), "{err:#}");
    }

    #[test]
    fn a_bad_value_names_its_table_and_key() {
        let text = EXAMPLE.replace("\"满意\" = \"satisfied\"", "\"满意\" = \"happy\"");
        let err = Mapping::parse(&text).expect_err("bad rating");
        assert!(format!("{err:#}").contains("[ratings] \"满意\""), "{err:#}");
        let text = EXAMPLE.replace("= \"market-bureau\"", "= \"Market Bureau\"");
        let err = Mapping::parse(&text).expect_err("bad unit id");
        assert!(format!("{err:#}").contains("[units]"), "{err:#}");
    }

    #[test]
    fn an_unknown_state_target_is_an_error() {
        let text = EXAMPLE.replace("= \"dispatched\"", "= \"archived\"");
        assert!(Mapping::parse(&text).is_err());
    }
}
