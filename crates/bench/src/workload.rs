//! Realistic, varied requests: real citizen messages for titles and
//! descriptions, random streets of the demo city, a plausible mix of
//! request types and channels, random callers. Seeded, so two runs send the
//! same sequence.

use std::{path::Path, sync::Arc};

use anyhow::Context;
use rand::{Rng, SeedableRng, rngs::StdRng};

use hotline::{demo::DemoCity, proto::v1 as pb};

/// Longest title and description sent, in characters (the API's limits are
/// 100 and 4,000).
const MAX_TITLE: usize = 100;
const MAX_DESCRIPTION: usize = 4000;

/// The 286 real citizen messages (`tests/data/messages-train.csv`, see the
/// README there), built into the binary so that `hotline bench` uses real
/// text from any working directory without a file beside it.
const BUILT_IN_MESSAGES: &str = include_str!("../../../tests/data/messages-train.csv");

/// One message: a title and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// 留言主题.
    pub title: String,
    /// 留言详情.
    pub description: String,
}

/// Reads a messages CSV (`留言主题`, `留言详情` columns): the file given, or
/// the built-in real messages when `path` is `None`.
pub fn load_messages(path: Option<&Path>) -> anyhow::Result<Vec<Message>> {
    match path {
        None => parse_messages(BUILT_IN_MESSAGES.as_bytes(), "built-in messages"),
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
            parse_messages(file, &path.display().to_string())
        }
    }
}

/// The position of the column `name` in a messages CSV's header (a UTF-8
/// byte-order mark before the first name is ignored).
pub fn column(headers: &csv::StringRecord, name: &str, source: &str) -> anyhow::Result<usize> {
    headers
        .iter()
        .position(|h| h.trim_start_matches('\u{feff}') == name)
        .with_context(|| format!("{source}: no column {name}"))
}

fn parse_messages(input: impl std::io::Read, source: &str) -> anyhow::Result<Vec<Message>> {
    let mut reader = csv::Reader::from_reader(input);
    let headers = reader.headers()?.clone();
    let column = |name: &str| column(&headers, name, source);
    let (title, description) = (column("留言主题")?, column("留言详情")?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {source}"))?;
        let cut = |i: usize, max: usize| -> String {
            record
                .get(i)
                .unwrap_or_default()
                .trim()
                .chars()
                .take(max)
                .collect()
        };
        let m = Message {
            title: cut(title, MAX_TITLE),
            description: cut(description, MAX_DESCRIPTION),
        };
        if !m.title.is_empty() && !m.description.is_empty() {
            out.push(m);
        }
    }
    anyhow::ensure!(!out.is_empty(), "{source}: no messages");
    Ok(out)
}

/// Request types with their share of a day's intake, in per mille (roughly
/// the published mix of a city hotline: complaints and help requests lead).
const TYPE_MIX: [(pb::RequestType, u32); 6] = [
    (pb::RequestType::Complaint, 350),
    (pb::RequestType::Help, 250),
    (pb::RequestType::Enquiry, 200),
    (pb::RequestType::Suggestion, 100),
    (pb::RequestType::Report, 50),
    (pb::RequestType::Praise, 50),
];

const CHANNEL_MIX: [(pb::Channel, u32); 4] = [
    (pb::Channel::Phone, 700),
    (pb::Channel::Web, 120),
    (pb::Channel::App, 100),
    (pb::Channel::Wechat, 80),
];

const SURNAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
];
const GIVEN: [&str; 10] = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "军"];

/// Picks from a weighted table (weights sum to 1,000).
fn weighted<T: Copy>(rng: &mut StdRng, table: &[(T, u32)]) -> Option<T> {
    let mut roll = rng.random_range(0..table.iter().map(|(_, w)| w).sum::<u32>().max(1));
    for (value, weight) in table {
        if roll < *weight {
            return Some(*value);
        }
        roll -= weight;
    }
    table.last().map(|(v, _)| *v)
}

/// The varied intakes a worker sends.
#[derive(Debug, Clone)]
pub struct Generator {
    messages: Arc<Vec<Message>>,
    regions: Arc<Vec<String>>,
    rng: StdRng,
}

impl Generator {
    /// A generator over `messages` and the streets (and districts) of `city`;
    /// workers pass different `seed`s.
    pub fn new(messages: Arc<Vec<Message>>, city: &DemoCity, seed: u64) -> Self {
        let mut regions: Vec<String> = city
            .regions
            .iter()
            .filter(|r| r.code.len() == 9)
            .map(|r| r.code.clone())
            .collect();
        if regions.is_empty() {
            regions = city.regions.iter().map(|r| r.code.clone()).collect();
        }
        Self {
            messages,
            regions: Arc::new(regions),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A random region code of the city.
    pub fn region(&mut self) -> String {
        let i = self.rng.random_range(0..self.regions.len().max(1));
        self.regions.get(i).cloned().unwrap_or_default()
    }

    /// A random mobile number (11 digits, 13x–19x).
    pub fn phone(&mut self) -> String {
        format!(
            "1{}{:09}",
            self.rng.random_range(3..=9),
            self.rng.random_range(0..1_000_000_000u32)
        )
    }

    /// Chooses uniformly from a slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.rng.random_range(0..items.len())])
    }

    /// A random number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n.max(1))
    }

    /// A fresh intake as an agent would type it.
    pub fn ticket(&mut self) -> pb::Ticket {
        // Never empty: `load_messages` refuses a file without messages.
        let message = self.messages[self.rng.random_range(0..self.messages.len())].clone();
        let anonymous = self.rng.random_range(0..20) == 0;
        let name = format!(
            "{}{}",
            self.pick(&SURNAMES).copied().unwrap_or("王"),
            self.pick(&GIVEN).copied().unwrap_or("伟")
        );
        let region = self.region();
        pb::Ticket {
            channel: weighted(&mut self.rng, &CHANNEL_MIX).unwrap_or(pb::Channel::Phone) as i32,
            caller: Some(pb::Caller {
                name: if anonymous { String::new() } else { name },
                phone: self.phone(),
                anonymous,
            }),
            request_type: weighted(&mut self.rng, &TYPE_MIX).unwrap_or(pb::RequestType::Help)
                as i32,
            urgency: pb::Urgency::Normal as i32,
            address: format!("{}号", self.rng.random_range(1..400)),
            region_code: region,
            title: message.title,
            description: message.description,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn city() -> DemoCity {
        hotline::demo::load().unwrap()
    }

    #[test]
    fn generated_intakes_pass_the_api_checks() {
        let messages = Arc::new(load_messages(None).unwrap());
        let mut g = Generator::new(messages, &city(), 7);
        for _ in 0..200 {
            let t = g.ticket();
            hotline::proto::convert::intake_from_proto(&t, "ticket").unwrap();
        }
    }

    #[test]
    fn same_seed_same_requests() {
        let messages = Arc::new(vec![Message {
            title: "a".into(),
            description: "b".into(),
        }]);
        let (mut a, mut b) = (
            Generator::new(messages.clone(), &city(), 1),
            Generator::new(messages, &city(), 1),
        );
        assert_eq!(a.ticket(), b.ticket());
    }

    #[test]
    fn weighted_choice_follows_the_weights() {
        let mut rng = StdRng::seed_from_u64(3);
        let table = [("a", 900), ("b", 100)];
        let a = (0..10_000)
            .filter(|_| weighted(&mut rng, &table) == Some("a"))
            .count();
        assert!((8_700..9_300).contains(&a), "{a}");
    }

    #[test]
    fn the_built_in_messages_are_the_real_ones() {
        let messages = load_messages(None).unwrap();
        assert_eq!(messages.len(), 286);
        assert!(
            messages
                .iter()
                .all(|m| m.title.chars().count() <= MAX_TITLE)
        );
    }

    #[test]
    fn a_missing_messages_file_is_an_error_not_a_fallback() {
        let err = load_messages(Some(Path::new("no/such/messages.csv"))).unwrap_err();
        assert!(
            format!("{err:#}").contains("no/such/messages.csv"),
            "{err:#}"
        );
    }
}
