#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! Decision time of the compiled dispatch catalogue with 10, 1,000 and
//! 10,000 rules, over the 286 real citizen messages of
//! `tests/data/messages-train.csv`.
//!
//! Rule sets are generated deterministically (fixed-seed SplitMix64) from
//! realistic material: keywords are Chinese words of 2–4 characters taken
//! from the subject taxonomy and from the messages themselves (n-grams that
//! occur in a few messages, not in most), targets are the demo city's units.
//! Most rules are keyword rules (any-of, some with all-of / none-of); the
//! rest match on subject or region prefixes, request types, retired
//! hotlines or urgency, alone or combined.
//!
//! Three groups, one benchmark per rule-set size each:
//!
//! - `routing_decide/<rules>` (the acceptance figure): the messages are
//!   decided in turn (a counter rotates through them), every iteration ONE
//!   decision timed on its own; each criterion sample reports the median of
//!   its decisions, so criterion's estimates (mean, median, slope) are the
//!   median decision time over the messages, with the caches a stream of
//!   different tickets leaves. Includes the clock read (printed at start).
//! - `routing_decide_all/<rules>`: the messages decided in turn, one per
//!   iteration, timed in bulk: the mean decision time over all messages.
//! - `routing_decide_hot/<rules>`: each sample decides ONE message over and
//!   over (the next sample the next message, one sample per message): the
//!   sample median is the median over the messages with hot caches, a lower
//!   bound.
//!
//! `cargo bench --bench routing` takes about a minute;
//! `-- --output-format bencher` prints each benchmark's median.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    hint::black_box,
    time::{Duration, Instant},
};

use chrono::DateTime;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use hotline::{
    demo,
    domain::{
        directory::UnitKind,
        routing::{Router, RouterOptions, RoutingInput, RuleSpec, Territorial, TerritoryMap},
        ticket::{RequestType, Urgency},
    },
};

/// Rule-set sizes benchmarked.
const SIZES: [usize; 3] = [10, 1_000, 10_000];
const SEED: u64 = 0x1234_5678_9abc_def0;

/// SplitMix64: tiny, fixed-seed, good enough to draw test material.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

struct Message {
    title: String,
    description: String,
}

fn data_path(file: &str) -> String {
    format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn messages() -> Vec<Message> {
    let path = data_path("messages-train.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .unwrap()
    };
    let (title, description) = (column("留言主题"), column("留言详情"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Message {
                title: r[title].to_owned(),
                description: r[description].to_owned(),
            }
        })
        .collect()
}

/// Second- and third-level taxonomy names of 2–4 characters.
fn taxonomy_words() -> Vec<String> {
    let path = data_path("taxonomy.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut words = BTreeSet::new();
    for record in reader.records() {
        let record = record.unwrap();
        for name in record.iter().skip(1) {
            if (2..=4).contains(&name.chars().count()) && name != "其他" {
                words.insert(name.to_owned());
            }
        }
    }
    words.into_iter().collect()
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Chinese n-grams (2–4 characters) that occur in 2–15 of the messages:
/// specific enough to be a catalogue keyword, common enough to recur.
/// Function characters are excluded so the words look like vocabulary.
fn message_words(messages: &[Message]) -> Vec<String> {
    const FUNCTION: &str =
        "的了是我你他她它们在有和就不也都这那与及或把被之其为以而吗呢啊吧么个一上下中";
    let mut document_frequency: HashMap<String, usize> = HashMap::new();
    for m in messages {
        let text: Vec<char> = m.title.chars().chain(m.description.chars()).collect();
        let mut seen = HashSet::new();
        for n in 2..=4 {
            for w in text.windows(n) {
                if w.iter().all(|&c| is_han(c) && !FUNCTION.contains(c)) {
                    seen.insert(w.iter().collect::<String>());
                }
            }
        }
        for w in seen {
            *document_frequency.entry(w).or_default() += 1;
        }
    }
    let mut words: Vec<String> = document_frequency
        .into_iter()
        .filter(|(_, df)| (2..=15).contains(df))
        .map(|(w, _)| w)
        .collect();
    words.sort();
    words
}

/// Material the generated rules draw from.
struct Material {
    words: Vec<String>,
    units: Vec<String>,
    subjects: Vec<String>,
    regions: Vec<String>,
}

fn keywords(rng: &mut Rng, words: &[String], min: usize, max: usize) -> Vec<String> {
    let n = min + rng.below(max - min + 1);
    (0..n).map(|_| rng.pick(words).clone()).collect()
}

/// A rule set of `size` rules: ~80 % keyword rules, the rest on codes.
fn rules(size: usize, material: &Material, rng: &mut Rng) -> Vec<RuleSpec> {
    const TYPES: [RequestType; 5] = [
        RequestType::Enquiry,
        RequestType::Help,
        RequestType::Complaint,
        RequestType::Report,
        RequestType::Suggestion,
    ];
    const HOTLINES: [&str; 6] = ["12315", "12333", "12328", "12319", "12320", "12369"];
    let words = &material.words;
    (0..size)
        .map(|i| {
            let mut rule = RuleSpec {
                id: format!("rule-{i:05}"),
                name: String::new(),
                priority: i32::try_from(rng.below(100)).unwrap(),
                subject_prefixes: Vec::new(),
                request_types: Vec::new(),
                region_prefixes: Vec::new(),
                keywords_any: Vec::new(),
                keywords_all: Vec::new(),
                keywords_none: Vec::new(),
                legacy_hotlines: Vec::new(),
                urgencies: Vec::new(),
                target_unit: None,
                territorial: None,
                co_units: Vec::new(),
            };
            match rng.below(100) {
                // Keyword rules, any-of, sometimes narrowed.
                0..80 => {
                    rule.keywords_any = keywords(rng, words, 1, 5);
                    if rng.chance(15) {
                        rule.keywords_all = keywords(rng, words, 1, 2);
                    }
                    if rng.chance(15) {
                        rule.keywords_none = keywords(rng, words, 1, 2);
                    }
                    if rng.chance(10) {
                        rule.request_types = vec![*rng.pick(&TYPES)];
                    }
                    if rng.chance(10) {
                        rule.region_prefixes = vec![rng.pick(&material.regions).clone()];
                    }
                }
                // Subject classification, sometimes with keywords.
                80..90 => {
                    rule.subject_prefixes = vec![rng.pick(&material.subjects).clone()];
                    if rng.chance(30) {
                        rule.keywords_any = keywords(rng, words, 1, 3);
                    }
                }
                // Region scoped, with a request type or keywords.
                90..95 => {
                    rule.region_prefixes = vec![rng.pick(&material.regions).clone()];
                    if rng.chance(50) {
                        rule.request_types = vec![*rng.pick(&TYPES)];
                    } else {
                        rule.keywords_any = keywords(rng, words, 1, 3);
                    }
                }
                // Retired hotline.
                95..98 => rule.legacy_hotlines = vec![rng.pick(&HOTLINES).to_string()],
                // Urgency with keywords.
                _ => {
                    rule.urgencies = vec![if rng.chance(50) {
                        Urgency::Urgent
                    } else {
                        Urgency::UtilityOutage
                    }];
                    rule.keywords_any = keywords(rng, words, 1, 3);
                }
            }
            if rng.chance(10) {
                rule.territorial = Some(if rng.chance(50) {
                    Territorial::Street
                } else {
                    Territorial::District
                });
            } else {
                rule.target_unit = Some(rng.pick(&material.units).clone());
            }
            rule
        })
        .collect()
}

fn bench_decide(c: &mut Criterion) {
    let messages = messages();
    let city = demo::load().unwrap();
    let units = city
        .domain_units(DateTime::from_timestamp(1_795_000_000, 0).unwrap())
        .unwrap();

    let mut words = taxonomy_words();
    words.extend(message_words(&messages));
    let streets: Vec<String> = city
        .units
        .iter()
        .filter(|u| u.kind == UnitKind::Street)
        .map(|u| u.region.clone())
        .collect();
    let mut regions: Vec<String> = streets.iter().map(|r| r[..6].to_owned()).collect();
    regions.extend(streets.iter().cloned());
    regions.push("4301".to_owned());
    regions.sort();
    regions.dedup();
    let mut subjects = Vec::new();
    for first in 1..=15 {
        subjects.push(format!("{first:02}"));
        for second in 1..=8 {
            subjects.push(format!("{first:02}.{second:02}"));
        }
    }
    let material = Material {
        words,
        units: city
            .units
            .iter()
            .filter(|u| matches!(u.kind, UnitKind::Department | UnitKind::Company))
            .map(|u| u.id.clone())
            .collect(),
        subjects,
        regions,
    };

    // Inputs: every message, with a street region, a subject for most and
    // a mix of request types, as tickets arrive at intake.
    let mut rng = Rng(SEED ^ 1);
    let types = [
        RequestType::Complaint,
        RequestType::Enquiry,
        RequestType::Help,
        RequestType::Report,
    ];
    let inputs: Vec<RoutingInput<'_>> = messages
        .iter()
        .map(|m| RoutingInput {
            subject_code: rng
                .chance(70)
                .then(|| rng.pick(&material.subjects).as_str()),
            request_type: *rng.pick(&types),
            region_code: rng.pick(&streets).as_str(),
            title: &m.title,
            description: &m.description,
            legacy_hotline: None,
            urgency: Urgency::Normal,
        })
        .collect();

    let territory = TerritoryMap::from_units(&units);
    let options = RouterOptions {
        fallback_to_district: true,
    };
    let routers: Vec<(usize, Router)> = SIZES
        .iter()
        .map(|&size| {
            let mut rng = Rng(SEED);
            let rules = rules(size, &material, &mut rng);
            let keywords: HashSet<String> = rules
                .iter()
                .flat_map(|r| r.keywords_any.iter().chain(&r.keywords_all))
                .chain(rules.iter().flat_map(|r| &r.keywords_none))
                .map(|k| k.trim().to_ascii_lowercase())
                .filter(|k| !k.is_empty())
                .collect();
            let router = Router::compile(1, rules, territory.clone(), options);
            let routed = inputs.iter().filter(|i| router.decide(i).is_some()).count();
            let matching: usize = inputs
                .iter()
                .map(|i| router.explain(i, usize::MAX).matches.len())
                .sum();
            println!(
                "{size} rules: {} distinct keywords (of {} words), {routed}/{} messages routed, \
                 {:.1} matching rules per message",
                keywords.len(),
                material.words.len(),
                inputs.len(),
                matching as f64 / inputs.len() as f64
            );
            (size, router)
        })
        .collect();

    let timer = clock_read_ns();
    println!("clock read (included in routing_decide): {timer:.0} ns");

    // The acceptance figure: messages in turn, each decision timed alone,
    // each sample the median of its decisions.
    let mut group = c.benchmark_group("routing_decide");
    group
        .throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .nresamples(10_000);
    for (size, router) in &routers {
        group.bench_with_input(BenchmarkId::from_parameter(size), router, |b, router| {
            let mut next = 0usize;
            let mut times: Vec<Duration> = Vec::new();
            b.iter_custom(|iters| {
                times.clear();
                for _ in 0..iters {
                    let input = &inputs[next % inputs.len()];
                    next = next.wrapping_add(1);
                    let start = Instant::now();
                    black_box(router.decide(black_box(input)));
                    times.push(start.elapsed());
                }
                let mid = times.len() / 2;
                let median = times.select_nth_unstable(mid).1;
                *median * u32::try_from(iters).unwrap()
            });
        });
    }
    group.finish();

    // Mean over all messages: messages in turn, timed in bulk.
    let mut group = c.benchmark_group("routing_decide_all");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .nresamples(10_000);
    for (size, router) in &routers {
        group.bench_with_input(BenchmarkId::from_parameter(size), router, |b, router| {
            let mut next = 0usize;
            b.iter(|| {
                let input = &inputs[next % inputs.len()];
                next = next.wrapping_add(1);
                black_box(router.decide(black_box(input)))
            });
        });
    }
    group.finish();

    // Hot caches: one message per sample, decided over and over.
    let mut group = c.benchmark_group("routing_decide_hot");
    group
        .throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(inputs.len())
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .nresamples(10_000);
    for (size, router) in &routers {
        group.bench_with_input(BenchmarkId::from_parameter(size), router, |b, router| {
            let mut sample = 0usize;
            b.iter_custom(|iters| {
                let input = &inputs[sample % inputs.len()];
                sample = sample.wrapping_add(1);
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(router.decide(black_box(input)));
                }
                start.elapsed()
            });
        });
    }
    group.finish();
}

/// Median cost of an empty `Instant::now()` / `elapsed()` pair.
fn clock_read_ns() -> f64 {
    let mut times: Vec<Duration> = (0..10_001)
        .map(|_| {
            let start = Instant::now();
            black_box(());
            start.elapsed()
        })
        .collect();
    let mid = times.len() / 2;
    times.select_nth_unstable(mid).1.as_nanos() as f64
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);
