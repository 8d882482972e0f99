//! The labelled real messages and what the demo city makes of them: each
//! message's first-level category (一级分类) stands for the unit that
//! finally answered for it, the category's lead department.

use std::{collections::HashMap, path::Path};

use anyhow::Context;
use chrono::DateTime;

use hotline::{
    demo::{CATEGORIES, DemoCity},
    domain::{
        directory::UnitKind,
        routing::{Router, RouterOptions, RuleSpec, TerritoryMap},
        ticket::{RequestType, Urgency},
    },
};
use hotline_model::TrainingTicket;

/// The real messages, built in (see `workload.rs`).
const BUILT_IN: &str = include_str!("../../../../tests/data/messages-train.csv");

/// Region of every message: the city (the messages name no street).
pub const CITY_REGION: &str = "430100";

/// One labelled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// 留言编号: fixes the message's fold.
    pub id: String,
    /// 留言主题.
    pub title: String,
    /// 留言详情.
    pub description: String,
    /// 一级分类.
    pub category: String,
}

/// Reads `path` (the built-in messages when `None`): a CSV with the
/// columns 留言编号, 留言主题, 留言详情 and 一级分类.
pub fn load(path: Option<&Path>) -> anyhow::Result<Vec<Labelled>> {
    let (text, source) = match path {
        None => (BUILT_IN.to_owned(), "built-in messages".to_owned()),
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        ),
    };
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let column = |name: &str| crate::workload::column(&headers, name, &source);
    let (id, title, description, category) = (
        column("留言编号")?,
        column("留言主题")?,
        column("留言详情")?,
        column("一级分类")?,
    );
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {source}"))?;
        let cell = |i: usize| record.get(i).unwrap_or_default().trim().to_owned();
        out.push(Labelled {
            id: cell(id),
            title: cell(title),
            description: cell(description),
            category: cell(category),
        });
    }
    Ok(out)
}

/// The demo city's side of the evaluation.
#[derive(Debug)]
pub struct City {
    /// The catalogue, without the district fallback (a message the rules
    /// do not place counts as wrong, as in `tests/routing_accuracy.rs`).
    pub router: Router,
    /// Category of each unit that has one.
    pub category: HashMap<String, String>,
    /// Each category's lead department: the first department of that
    /// category in `deploy/demo/city.toml`.
    pub lead: HashMap<String, String>,
    /// Every unit id.
    pub units: Vec<String>,
}

impl City {
    /// From the demo city.
    pub fn new(city: &DemoCity) -> anyhow::Result<Self> {
        let units = city.domain_units(DateTime::UNIX_EPOCH)?;
        let router = Router::compile(
            1,
            city.rules.clone(),
            TerritoryMap::from_units(&units),
            RouterOptions {
                fallback_to_district: false,
            },
        );
        let category: HashMap<String, String> = city
            .units
            .iter()
            .filter_map(|u| Some((u.id.clone(), u.category.clone()?)))
            .collect();
        let mut lead = HashMap::new();
        for c in CATEGORIES {
            let unit = city
                .units
                .iter()
                .find(|u| u.kind == UnitKind::Department && u.category.as_deref() == Some(c))
                .with_context(|| format!("the demo city has no department for {c}"))?;
            lead.insert(c.to_owned(), unit.id.clone());
        }
        Ok(Self {
            router,
            category,
            lead,
            units: city.units.iter().map(|u| u.id.clone()).collect(),
        })
    }

    /// A router over another catalogue, with the same territory and
    /// options (no district fallback).
    pub fn router_with(&self, rules: Vec<RuleSpec>) -> Router {
        Router::compile(
            1,
            rules,
            self.router.territory().clone(),
            self.router.options(),
        )
    }

    /// A message as a closed ticket of its category's lead department;
    /// `None` for a category the city does not know.
    pub fn ticket(&self, m: &Labelled) -> Option<TrainingTicket> {
        Some(TrainingTicket {
            id: m.id.clone(),
            subject_code: None,
            request_type: RequestType::Complaint,
            region_code: CITY_REGION.to_owned(),
            title: m.title.clone(),
            description: m.description.clone(),
            legacy_hotline: None,
            urgency: Urgency::Normal,
            unit: self.lead.get(&m.category)?.clone(),
        })
    }
}
