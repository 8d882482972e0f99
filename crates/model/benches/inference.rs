#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! Time of one dispatch-model inference (features, sparse dot product,
//! softmax) over the 286 real citizen messages of
//! `tests/data/messages-train.csv`, with a model trained on all of them
//! (their first-level category as the unit), in the release profile.
//!
//! `model_suggest`: the messages in turn, one per iteration — the mean
//! inference time over the messages. `cargo bench -p hotline-model`; the
//! p50/p99 next to the rules' cost are printed by `hotline bench
//! dispatch-model` (docs/dispatch-model.md).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hotline_domain::{
    UnitId,
    ticket::{RequestType, Urgency},
};
use hotline_model::{DispatchModel, TrainingOptions, TrainingTicket, train};

const MESSAGES: &str = include_str!("../../../tests/data/messages-train.csv");

fn tickets() -> Vec<TrainingTicket> {
    let mut reader = csv::Reader::from_reader(MESSAGES.as_bytes());
    let mut categories: Vec<String> = Vec::new();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let category = r[5].trim().to_owned();
            let k = categories
                .iter()
                .position(|c| *c == category)
                .unwrap_or_else(|| {
                    categories.push(category);
                    categories.len() - 1
                });
            TrainingTicket {
                id: r[0].to_owned(),
                subject_code: None,
                request_type: RequestType::Complaint,
                region_code: "430100".into(),
                title: r[2].to_owned(),
                description: r[4].to_owned(),
                legacy_hotline: None,
                urgency: Urgency::Normal,
                unit: format!("category-{k}"),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let tickets = tickets();
    let params = train(&tickets, &TrainingOptions::default()).unwrap();
    let model = DispatchModel::compile(1, &params, &|u| UnitId::parse(u).ok()).unwrap();
    let mut i = 0;
    c.bench_function("model_suggest", |b| {
        b.iter(|| {
            i = (i + 1) % tickets.len();
            black_box(model.suggest(&tickets[i].input()))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
