//! A cluster of similar recent tickets, and its heat.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};

use super::{HotspotConfig, Sighting, sketch::Sketch};

/// Titles a cluster keeps for its top words and examples.
const KEPT_TITLES: usize = 16;
/// Example tickets a heat report names.
const EXAMPLES: usize = 3;
/// Top words a heat report names.
const TOP_WORDS: usize = 5;

/// One member as the count needs it.
#[derive(Debug, Clone, Copy)]
struct Member {
    at: DateTime<Utc>,
    caller: u64,
}

/// Similar recent tickets of one area.
#[derive(Debug, Clone)]
pub(super) struct Cluster<Id> {
    /// The area (street, or district when a ticket names no street) it
    /// started in.
    pub(super) area: String,
    /// The district it started in.
    pub(super) district: String,
    /// The first ticket's subject: its baseline.
    pub(super) subject: String,
    /// Sketches of its first members: what a new ticket is compared with.
    pub(super) exemplars: Vec<Sketch>,
    members: VecDeque<Member>,
    total: u32,
    callers: BTreeSet<u64>,
    areas: BTreeSet<String>,
    first: DateTime<Utc>,
    pub(super) last: DateTime<Utc>,
    examples: Vec<Id>,
    titles: Vec<String>,
    /// When it became a hotspot.
    pub(super) hot_since: Option<DateTime<Utc>>,
}

/// How hot a hotspot is: what a supervisor reads first.
#[derive(Debug, Clone, PartialEq)]
pub struct Heat<Id> {
    /// Tickets in all.
    pub count: u32,
    /// Tickets within the window.
    pub recent: u32,
    /// Tickets in the latter half of the window minus those in the former
    /// half: positive while it grows.
    pub growth: i64,
    /// Distinct callers in all (a blind index each).
    pub callers: u32,
    /// The first and the latest ticket.
    pub first: DateTime<Utc>,
    /// The latest ticket.
    pub last: DateTime<Utc>,
    /// The areas (street codes, or district codes) its tickets came from.
    pub areas: Vec<String>,
    /// The character bigrams most of its titles share, most shared first.
    pub top_words: Vec<String>,
    /// Its first tickets.
    pub examples: Vec<Id>,
}

impl<Id: Copy> Cluster<Id> {
    /// A cluster of one ticket.
    pub(super) fn start(sighting: &Sighting<'_, Id>, sketch: Sketch, caller: u64) -> Self {
        Self {
            area: sighting.area().to_owned(),
            district: sighting.district.to_owned(),
            subject: sighting.subject.to_owned(),
            exemplars: vec![sketch],
            members: VecDeque::from([Member {
                at: sighting.at,
                caller,
            }]),
            total: 1,
            callers: BTreeSet::from([caller]),
            areas: BTreeSet::from([sighting.area().to_owned()]),
            first: sighting.at,
            last: sighting.at,
            examples: vec![sighting.id],
            titles: vec![sighting.title.to_owned()],
            hot_since: None,
        }
    }

    /// Mean similarity of a sketch to the exemplars.
    pub(super) fn similarity(&self, sketch: &Sketch) -> f64 {
        let sum: f64 = self.exemplars.iter().map(|e| e.similarity(sketch)).sum();
        sum / self.exemplars.len().max(1) as f64
    }

    /// Adds a ticket; keeps at most `max_members` recent members and
    /// `exemplars` sketches.
    pub(super) fn join(
        &mut self,
        sighting: &Sighting<'_, Id>,
        sketch: Sketch,
        caller: u64,
        config: &HotspotConfig,
    ) {
        let max_members = config.max_members;
        if self.exemplars.len() < config.exemplars {
            self.exemplars.push(sketch);
        }
        self.members.push_back(Member {
            at: sighting.at,
            caller,
        });
        while self.members.len() > max_members.max(1) {
            self.members.pop_front();
        }
        self.total = self.total.saturating_add(1);
        if self.callers.len() < max_members.max(1) {
            self.callers.insert(caller);
        }
        if !self.areas.contains(sighting.area()) && self.areas.len() < max_members.max(1) {
            self.areas.insert(sighting.area().to_owned());
        }
        self.last = self.last.max(sighting.at);
        if self.examples.len() < EXAMPLES {
            self.examples.push(sighting.id);
        }
        if self.titles.len() < KEPT_TITLES {
            self.titles.push(sighting.title.to_owned());
        }
    }

    /// Members since `since`, and their distinct callers.
    pub(super) fn recent(&self, since: DateTime<Utc>) -> (u32, u32) {
        let recent = self.members.iter().filter(|m| m.at >= since);
        let callers: BTreeSet<u64> = recent.clone().map(|m| m.caller).collect();
        let count = u32::try_from(recent.count()).unwrap_or(u32::MAX);
        (count, u32::try_from(callers.len()).unwrap_or(u32::MAX))
    }

    /// The heat at `now` over a window of `window`.
    pub(super) fn heat(&self, now: DateTime<Utc>, window: Duration) -> Heat<Id> {
        let (recent, _) = self.recent(now - window);
        let (latter, _) = self.recent(now - window / 2);
        Heat {
            count: self.total,
            recent,
            growth: i64::from(latter) - i64::from(recent - latter),
            callers: u32::try_from(self.callers.len()).unwrap_or(u32::MAX),
            first: self.first,
            last: self.last,
            areas: self.areas.iter().cloned().collect(),
            top_words: top_words(&self.titles),
            examples: self.examples.clone(),
        }
    }
}

/// Character bigrams (letters and digits only) found in at least two of the
/// titles, by how many titles hold them, then first appearance.
fn top_words(titles: &[String]) -> Vec<String> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut order = 0;
    for title in titles {
        let chars: Vec<char> = title.chars().filter(|c| c.is_alphanumeric()).collect();
        let grams: BTreeSet<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
        for gram in grams {
            let entry = counts.entry(gram).or_insert((0, order));
            entry.0 += 1;
            order += 1;
        }
    }
    let mut ranked: Vec<(String, (usize, usize))> =
        counts.into_iter().filter(|(_, (n, _))| *n >= 2).collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
    ranked
        .into_iter()
        .take(TOP_WORDS)
        .map(|(gram, _)| gram)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_words_are_the_bigrams_most_titles_share() {
        let titles = ["小区停水三天", "停水了！小区", "今天停水", "路灯坏了"].map(String::from);
        let words = top_words(&titles);
        assert_eq!(words.first().map(String::as_str), Some("停水"));
        assert!(words.contains(&"小区".to_owned()));
        assert!(!words.contains(&"路灯".to_owned()), "one title only");
        assert!(top_words(&[]).is_empty());
    }
}
