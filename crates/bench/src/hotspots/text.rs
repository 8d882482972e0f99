//! Varied texts from the real messages: background requests that recombine
//! clauses of several messages, and paraphrases of one matter for a surge.
//!
//! Why recombine: the corpus holds a few hundred messages, a city receives
//! tens of thousands of distinct matters a day; replaying the messages
//! verbatim would fill every street with literal repeats, clusters the real
//! stream does not have. A background request takes some clauses of one
//! message (and maybe one of another), frames them as a caller would and
//! renames its places; the stream ([`super::stream`]) also lets a street
//! reuse a message only after it has used all others, since one matter
//! recurring in one street within hours is what a hotspot is. A surge keeps
//! one matter (one message, one set of place names) and varies the wording
//! the way callers do: openers, closers, which details they give, in what
//! order, a few synonyms.

use rand::{Rng, rngs::StdRng};

use crate::workload::Message;

/// Suffixes after which a message names a place; the two characters before
/// one are renamed.
const PLACE_SUFFIXES: [&str; 16] = [
    "小区", "花园", "大厦", "公司", "物业", "学校", "医院", "社区", "广场", "市场", "大道", "路",
    "街", "村", "镇", "乡",
];

/// Syllables of generated place names.
const SYLLABLES: [&str; 40] = [
    "金", "银", "华", "新", "东", "西", "南", "北", "春", "秋", "枫", "桂", "松", "竹", "梅", "兰",
    "星", "月", "阳", "明", "丰", "泰", "安", "康", "宁", "德", "福", "瑞", "祥", "和", "龙", "凤",
    "江", "湖", "山", "海", "林", "泉", "景", "苑",
];

const OPENERS: [&str; 10] = [
    "",
    "您好，",
    "我是附近的居民，",
    "我要反映一个问题，",
    "今天发现",
    "再次反映，",
    "你好，我住在这边，",
    "打扰了，",
    "紧急情况，",
    "我是路过的市民，",
];

const CLOSERS: [&str; 8] = [
    "",
    "希望尽快处理。",
    "请相关部门管一管。",
    "请尽快派人来看看。",
    "谢谢。",
    "已经影响到很多人了。",
    "请给个答复。",
    "麻烦尽快解决。",
];

const TITLE_PREFIXES: [&str; 5] = ["", "关于", "反映", "投诉", "请求处理"];

/// Pairs of words callers use for one another.
const SYNONYMS: [(&str, &str); 8] = [
    ("反映", "投诉"),
    ("希望", "请求"),
    ("尽快", "马上"),
    ("严重", "非常"),
    ("居民", "业主"),
    ("问题", "情况"),
    ("相关部门", "有关部门"),
    ("处理", "解决"),
];

/// A message split into clauses, with its category's subject code.
#[derive(Debug, Clone)]
pub struct Source {
    /// The title.
    pub title: String,
    /// The description's clauses, without their punctuation.
    pub clauses: Vec<String>,
    /// Subject code of its category (`NN`).
    pub subject: String,
}

impl Source {
    /// Splits a message into clauses at Chinese and ASCII punctuation.
    pub fn of(message: &Message, subject: String) -> Self {
        let clauses = message
            .description
            .split(['，', '。', '！', '？', '；', ',', '!', '?', ';', '\n'])
            .map(str::trim)
            .filter(|c| c.chars().count() >= 2)
            .map(str::to_owned)
            .collect();
        Self {
            title: message.title.clone(),
            clauses,
            subject,
        }
    }
}

/// Renames of place names, chosen once per request (background) or per
/// matter (surge): names before place suffixes, and the corpus's
/// anonymised codes of cities and counties (`K8县`, `C4市`).
#[derive(Debug, Clone)]
pub struct Places {
    names: Vec<String>,
    codes: Vec<String>,
}

impl Places {
    /// Random names, one per place a text may mention.
    pub fn random(rng: &mut StdRng) -> Self {
        let names = (0..8)
            .map(|_| {
                let mut name = String::new();
                for _ in 0..2 {
                    name.push_str(SYLLABLES[rng.random_range(0..SYLLABLES.len())]);
                }
                name
            })
            .collect();
        let codes = (0..4)
            .map(|_| {
                let letter = char::from(b'A' + rng.random_range(0..26_u8));
                format!("{letter}{}", rng.random_range(1..20))
            })
            .collect();
        Self { names, codes }
    }

    /// The text with the two characters before each place suffix replaced
    /// by a generated name (the n-th place named gets the n-th name, so a
    /// matter keeps its names across paraphrases).
    pub fn apply(&self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        let (mut place, mut code) = (0, 0);
        while i < chars.len() {
            if chars[i].is_ascii_uppercase() && !self.codes.is_empty() {
                let digits = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                if digits > 0 {
                    out.push_str(&self.codes[code % self.codes.len()]);
                    code += 1;
                    i += 1 + digits;
                    continue;
                }
            }
            let rest: String = chars[i..chars.len().min(i + 4)].iter().collect();
            let suffix = PLACE_SUFFIXES.iter().find(|s| rest.starts_with(**s));
            let named_before = i >= 2 && chars[i - 2..i].iter().all(|c| is_cjk(*c));
            match suffix {
                Some(s) if named_before && !self.names.is_empty() => {
                    for _ in 0..2 {
                        out.pop();
                    }
                    out.push_str(&self.names[place % self.names.len()]);
                    out.push_str(s);
                    place += 1;
                    i += s.chars().count();
                }
                _ => {
                    out.push(chars[i]);
                    i += 1;
                }
            }
        }
        out
    }
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Some of the clauses, in order: each kept with probability `keep`, at
/// least `min` (the first ones) when there are that many.
fn some_clauses(rng: &mut StdRng, clauses: &[String], keep: f64, min: usize) -> Vec<String> {
    let mut picked: Vec<String> = clauses
        .iter()
        .filter(|_| rng.random_bool(keep))
        .cloned()
        .collect();
    if picked.len() < min {
        picked = clauses.iter().take(min).cloned().collect();
    }
    picked
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A background request: some clauses of `main` in a caller's framing,
/// maybe a clause of `aside` (callers digress), its own place names; as
/// title `main`'s or its first clause (a caller's own summary).
pub fn background(rng: &mut StdRng, main: &Source, aside: &Source) -> (String, String) {
    let places = Places::random(rng);
    let mut clauses = some_clauses(rng, &main.clauses, 0.6, 1);
    clauses.truncate(6);
    if rng.random_bool(0.5) {
        clauses.extend(
            some_clauses(rng, &aside.clauses, 0.1, 1)
                .into_iter()
                .take(1),
        );
    }
    let title = match clauses.first() {
        Some(first) if rng.random_bool(0.4) => first.chars().take(20).collect(),
        _ => format!("{}{}", pick(rng, &TITLE_PREFIXES), main.title),
    };
    let description = format!(
        "{}{}。{}",
        pick(rng, &OPENERS),
        clauses.join("，"),
        pick(rng, &CLOSERS)
    );
    (places.apply(&title), places.apply(&description))
}

/// One caller's account of a surge's matter (`places` fixed per matter).
pub fn paraphrase(rng: &mut StdRng, matter: &Source, places: &Places) -> (String, String) {
    let mut clauses = some_clauses(rng, &matter.clauses, 0.5, 2);
    clauses.truncate(6);
    for i in 1..clauses.len() {
        if rng.random_bool(0.2) {
            clauses.swap(i - 1, i);
        }
    }
    let mut description = format!(
        "{}{}。{}",
        pick(rng, &OPENERS),
        clauses.join("，"),
        pick(rng, &CLOSERS)
    );
    for (a, b) in SYNONYMS {
        if rng.random_bool(0.5) {
            description = description.replace(a, b);
        }
    }
    let title = match rng.random_range(0..3) {
        0 => matter.title.clone(),
        1 => format!("{}{}", pick(rng, &TITLE_PREFIXES), matter.title),
        _ => clauses
            .first()
            .map(|c| c.chars().take(20).collect())
            .unwrap_or_else(|| matter.title.clone()),
    };
    (places.apply(&title), places.apply(&description))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn source() -> Source {
        Source::of(
            &Message {
                title: "桂花小区门口水管爆裂".into(),
                description: "桂花小区门口的水管爆了，水漫到文华路上，车都过不去，已经两个小时了。请自来水公司尽快处理！".into(),
            },
            "01".into(),
        )
    }

    #[test]
    fn places_are_renamed_consistently() {
        let mut rng = StdRng::seed_from_u64(1);
        let places = Places::random(&mut rng);
        let renamed = places.apply("桂花小区门口，文华路上");
        assert!(
            !renamed.contains("桂花") && !renamed.contains("文华"),
            "{renamed}"
        );
        assert!(renamed.contains("小区门口，") && renamed.ends_with("路上"));
        assert_eq!(renamed, places.apply("桂花小区门口，文华路上"));
        assert_eq!(
            places.apply("路口，3号路"),
            "路口，3号路",
            "no name before 路"
        );
        let coded = places.apply("K8县和C14市");
        assert!(!coded.contains("K8") && !coded.contains("C14"), "{coded}");
        assert_eq!(coded, places.apply("K8县和C14市"));
    }

    #[test]
    fn paraphrases_vary_but_keep_the_matter() {
        let mut rng = StdRng::seed_from_u64(2);
        let places = Places::random(&mut rng);
        let texts: Vec<(String, String)> = (0..10)
            .map(|_| paraphrase(&mut rng, &source(), &places))
            .collect();
        let distinct: std::collections::BTreeSet<&String> = texts.iter().map(|t| &t.1).collect();
        assert!(distinct.len() >= 5, "{texts:?}");
        assert!(texts.iter().all(|(_, d)| d.chars().count() > 8));
    }
}
