//! Model-alone cross-validation on a labelled messages CSV, for
//! development: `cargo run --release -p hotline-model --example cv -- FILE [JSON]`.
#![allow(clippy::unwrap_used)]
use std::time::Instant;

use hotline_model::{DispatchModel, TrainingOptions, TrainingTicket, fold_of, train};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap();
    let options: TrainingOptions = args
        .next()
        .map(|j| serde_json::from_str(&j).unwrap())
        .unwrap_or_default();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let mut tickets = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for r in reader.records() {
        let r = r.unwrap();
        let label = r[5].trim().to_owned();
        let k = labels.iter().position(|l| *l == label).unwrap_or_else(|| {
            labels.push(label.clone());
            labels.len() - 1
        });
        tickets.push(TrainingTicket {
            id: r[0].to_owned(),
            subject_code: None,
            request_type: hotline_domain::ticket::RequestType::Complaint,
            region_code: "430100".into(),
            title: r[2].to_owned(),
            description: r[4].to_owned(),
            legacy_hotline: None,
            urgency: hotline_domain::ticket::Urgency::Normal,
            unit: format!("unit-{k}"),
        });
    }
    let (mut right, mut total, mut train_s, mut infer_s) = (0, 0, 0.0, 0.0);
    for fold in 0..5 {
        let (test, learn): (Vec<_>, Vec<_>) = tickets
            .iter()
            .cloned()
            .partition(|t| fold_of(&t.id, 5) == fold);
        let t = Instant::now();
        let params = train(&learn, &options).unwrap();
        train_s += t.elapsed().as_secs_f64();
        let model =
            DispatchModel::compile(1, &params, &|u| hotline_domain::UnitId::parse(u).ok()).unwrap();
        let t = Instant::now();
        for x in &test {
            let s = model.suggest(&x.input()).unwrap();
            right += u32::from(s.unit.as_str() == x.unit);
            total += 1;
        }
        infer_s += t.elapsed().as_secs_f64();
    }
    println!(
        "accuracy {:.1} % ({right}/{total}), train {:.2} s/fold, inference {:.1} µs/ticket",
        f64::from(right) / f64::from(total) * 100.0,
        train_s / 5.0,
        infer_s / f64::from(total) * 1e6
    );
}
